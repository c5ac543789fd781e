//! Model compute for the inference server: VAD, ASR, end of turn, LLM, TTS and face animation.
//!
//! This crate has no async runtime, HTTP or sockets (the moshi-core split): each engine is plain
//! synchronous code that the server runs on dedicated threads, never on the async reactor. That
//! keeps the engines testable alone and keeps a slow model step from stalling network I/O.

pub mod asr;
pub mod error;
pub mod face;
pub mod llm;
pub mod onnx;
pub mod tts;
pub mod turn;
pub mod vad;

pub use error::EngineError;

/// The model tree tests run against: `MODELS_DIR`, else `models/` at the workspace root.
/// Tests that need models fail with a pointer to the download script rather than skipping.
#[doc(hidden)]
pub fn test_models_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    assert!(
        dir.join("vad/silero_vad.onnx").exists(),
        "models are missing under {}: run scripts/download_models.sh (or set MODELS_DIR)",
        dir.display()
    );
    dir
}
