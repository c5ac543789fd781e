//! What the LLM engine tests share: the small model, and generation settings.

#![allow(dead_code)] // each test file uses a part

use goassist_engines::llm::{GenerationParams, LlmEngine, LlmEngineConfig, Sampling};
use goassist_engines::test_models_dir;

/// The system prompt the tests run with.
pub const SYSTEM: &str = "You are a helpful voice assistant. Answer in one short sentence.";

/// SmolLM2-135M: the Q8_0 rewrite when present (faster), else the Q4_1 original.
pub fn smollm_path() -> std::path::PathBuf {
    let dir = test_models_dir().join("llm");
    let q8 = dir.join("smollm2-135m-instruct-q8.gguf");
    if q8.exists() {
        q8
    } else {
        dir.join("smollm2-135m-instruct-q4_1.gguf")
    }
}

/// SmolLM2 with prefix caching on and `slots` slots.
pub fn engine_with_slots(slots: usize) -> LlmEngine {
    let mut config = LlmEngineConfig::new(smollm_path(), SYSTEM);
    config.slots = slots;
    LlmEngine::load(config).expect("load SmolLM2")
}

/// SmolLM2 with prefix caching off (nothing reused: a cold reference).
pub fn cold_engine() -> LlmEngine {
    let mut config = LlmEngineConfig::new(smollm_path(), SYSTEM);
    config.prefix_caching = false;
    config.slots = 1;
    LlmEngine::load(config).expect("load SmolLM2")
}

/// Greedy, at most `max_new_tokens`.
pub fn greedy(max_new_tokens: usize) -> GenerationParams {
    GenerationParams {
        max_new_tokens,
        sampling: Sampling::Greedy,
        no_echo_ngram: 0,
    }
}

/// Sampled at temperature 0.9 with `seed`, at most `max_new_tokens`.
pub fn seeded(max_new_tokens: usize, seed: u64) -> GenerationParams {
    GenerationParams {
        max_new_tokens,
        sampling: Sampling::Temperature {
            temperature: 0.9,
            top_p: 0.95,
            seed,
        },
        no_echo_ngram: 0,
    }
}
