//! The GoAssist inference server: WebRTC voice loop, face frames, and the operator's API.
//!
//! Layout: `config` (environment → typed config), `http` (the API router), `sessions` (admission
//! and drain), `readiness`, `metrics`, `logging`, `server` (listeners and signals), `services`
//! (engines behind the API), `engine_pool` (the owner threads and slot tables that serve ASR and
//! TTS to every session). Model compute lives in the `goassist-engines` crate.

pub mod admin_tokens;
pub mod config;
pub mod conversation;
pub mod engine_pool;
pub mod face;
pub mod http;
pub mod llm;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod readiness;
pub mod render_link;
pub mod server;
pub mod services;
pub mod sessions;
pub mod voice;
pub mod webrtc;
