//! Model compute for the inference server: VAD, ASR, LLM, TTS and face animation.
//!
//! This crate has no async runtime, HTTP or sockets (the moshi-core split): each engine is plain
//! synchronous code that the server runs on dedicated threads, never on the async reactor. That
//! keeps the engines testable alone and keeps a slow model step from stalling network I/O.

pub mod error;

pub use error::EngineError;
