//! The default model (Qwen2.5-0.5B-Instruct) answers a simple question sensibly.

use std::ops::ControlFlow;

use goassist_engines::llm::{ChatMessage, GenerationParams, LlmEngine, LlmEngineConfig, Sampling};
use goassist_engines::test_models_dir;

#[test]
fn qwen_knows_the_capital_of_france() {
    let dir = test_models_dir().join("llm");
    let q8 = dir.join("qwen2.5-0.5b-instruct-q8.gguf");
    let model = if q8.exists() {
        q8
    } else {
        eprintln!(
            "{} missing (scripts/download_models.sh makes it); using the Q4_K_M original",
            q8.display()
        );
        dir.join("qwen2.5-0.5b-instruct-q4_k_m.gguf")
    };
    let mut engine = LlmEngine::load(LlmEngineConfig::new(
        model,
        "You are a helpful assistant. Answer briefly.",
    ))
    .expect("load Qwen");
    let mut text = String::new();
    let stats = engine
        .generate(
            &[ChatMessage::user("What is the capital of France?")],
            &GenerationParams {
                max_new_tokens: 24,
                sampling: Sampling::Greedy,
            },
            &mut |piece: &str| {
                text.push_str(piece);
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    println!("{text:?} {stats:?}");
    assert!(text.contains("Paris"), "{text:?}");
}
