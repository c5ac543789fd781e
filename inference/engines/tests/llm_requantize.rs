//! Re-quantizing Q4_1/Q5_0/Q5_1 tensors to Q8_0 keeps the model's behaviour.

use std::fs::File;

use candle_core::quantized::{GgmlDType, gguf_file};
use goassist_engines::llm::{ChatMessage, KvCache, LlmEngine, LlmEngineConfig, requantize_gguf};
use goassist_engines::test_models_dir;

fn tensor_types(path: &std::path::Path) -> Vec<GgmlDType> {
    let mut file = File::open(path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    content
        .tensor_infos
        .values()
        .map(|t| t.ggml_dtype)
        .collect()
}

#[test]
fn smollm_q4_1_becomes_q8_0_with_nearly_identical_logits() {
    let original = test_models_dir().join("llm/smollm2-135m-instruct-q4_1.gguf");
    let out_dir = std::env::temp_dir().join(format!("goassist-requant-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let output = out_dir.join("smollm2-q8.gguf");

    let report = requantize_gguf(&original, &output).unwrap();
    let before = tensor_types(&original);
    let after = tensor_types(&output);
    assert_eq!(before.len(), after.len());
    assert_eq!(report.tensors, before.len());
    assert_eq!(
        report.converted,
        before.iter().filter(|t| **t == GgmlDType::Q4_1).count()
    );
    assert!(report.converted > 100);
    assert!(
        !after
            .iter()
            .any(|t| matches!(t, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1))
    );

    let load = |path: &std::path::Path| {
        LlmEngine::load(LlmEngineConfig::new(path, "You are helpful.")).unwrap()
    };
    let (a, b) = (load(&original), load(&output));
    assert_eq!(a.model_name(), b.model_name(), "metadata copied");
    let prompt = a
        .prompt_tokens(&[ChatMessage::user("Name a colour of the sky.")], 16)
        .unwrap();
    assert_eq!(
        prompt,
        b.prompt_tokens(&[ChatMessage::user("Name a colour of the sky.")], 16)
            .unwrap()
    );
    let logits = |engine: &LlmEngine| -> Vec<f32> {
        let mut kv = KvCache::default();
        engine
            .decoder()
            .forward(&prompt, &mut kv)
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let (la, lb) = (logits(&a), logits(&b));
    let dot: f32 = la.iter().zip(&lb).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cosine = dot / (norm(&la) * norm(&lb));
    assert!(cosine > 0.99, "cosine similarity {cosine}");
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .unwrap()
            .0
    };
    assert_eq!(argmax(&la), argmax(&lb));

    // A file that is not GGUF is refused, and nothing is left behind.
    let bad = requantize_gguf(
        &test_models_dir().join("speech/jfk.wav"),
        &out_dir.join("bad.gguf"),
    );
    assert!(bad.is_err());
    assert!(!out_dir.join("bad.gguf").exists());
    std::fs::remove_dir_all(&out_dir).unwrap();
}
