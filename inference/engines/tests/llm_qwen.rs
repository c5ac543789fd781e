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
                no_echo_ngram: 0,
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

/// The shipped voice settings: the default prompt, and the echo guard on or off.
fn voice_answer(said: &str, no_echo_ngram: usize) -> String {
    let dir = test_models_dir().join("llm");
    let q8 = dir.join("qwen2.5-0.5b-instruct-q8.gguf");
    let model = if q8.exists() {
        q8
    } else {
        dir.join("qwen2.5-0.5b-instruct-q4_k_m.gguf")
    };
    let mut engine = LlmEngine::load(LlmEngineConfig::new(
        model,
        goassist_engines::llm::DEFAULT_VOICE_PROMPT,
    ))
    .expect("load Qwen");
    let mut text = String::new();
    engine
        .generate(
            &[ChatMessage::user(said)],
            &GenerationParams {
                max_new_tokens: 40,
                sampling: Sampling::Greedy,
                no_echo_ngram,
            },
            &mut |piece: &str| {
                text.push_str(piece);
                ControlFlow::Continue(())
            },
        )
        .expect("generate");
    text
}

/// Lower-case words of `text`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The longest run of the answer's words that the user said in the same order.
fn longest_copy(said: &str, answer: &str) -> usize {
    let (said, answer) = (words(said), words(answer));
    let mut longest = 0;
    for i in 0..answer.len() {
        for j in 0..said.len() {
            let run = (0..)
                .take_while(|&k| {
                    i + k < answer.len() && j + k < said.len() && answer[i + k] == said[j + k]
                })
                .count();
            longest = longest.max(run);
        }
    }
    longest
}

#[test]
fn the_echo_guard_stops_a_statement_being_read_back() {
    // A LibriVox line as the recognizer gives it: Qwen answers it by repeating it.
    let said = "he was not an ill disposed young man";
    let unguarded = voice_answer(said, 0);
    eprintln!("without the guard: {unguarded:?}");
    assert!(
        longest_copy(said, &unguarded) >= 6,
        "the control reads the statement back: {unguarded:?}"
    );
    let guarded = voice_answer(said, goassist_engines::llm::DEFAULT_NO_ECHO_NGRAM);
    eprintln!("with the guard: {guarded:?}");
    assert!(
        longest_copy(said, &guarded) < 4,
        "no four words in a row read back: {guarded:?}"
    );
    assert!(!words(&guarded).is_empty(), "it still answers");
}
