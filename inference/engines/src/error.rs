//! The one error type engines return.

/// Why an engine could not load or run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A model file or directory is missing or unreadable.
    #[error("model not found: {path}: {reason}")]
    ModelNotFound {
        /// The path that was tried.
        path: String,
        /// What went wrong opening it.
        reason: String,
    },
    /// The model file exists but is not what the engine expects.
    #[error("invalid model {path}: {reason}")]
    InvalidModel {
        /// The model file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The runtime (ONNX Runtime, candle, espeak-ng) failed while running.
    #[error("{engine} failed: {reason}")]
    Runtime {
        /// Which engine failed, e.g. `"silero-vad"`.
        engine: &'static str,
        /// The runtime's message.
        reason: String,
    },
    /// Input the engine cannot work on (wrong sample rate, empty text...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Generation was cancelled by the caller (barge-in).
    #[error("cancelled")]
    Cancelled,
}
