//! The GoAssist inference server: WebRTC voice loop, face frames, and the operator's API.
//!
//! Layout: `config` (environment → typed config), `http` (the API router), `sessions` (admission
//! and drain), `readiness`, `metrics`, `logging`, `server` (listeners and signals), `services`
//! (engines behind the API). Model compute lives in the `goassist-engines` crate.

pub mod admin_tokens;
pub mod client;
pub mod config;
pub mod conversation;
pub mod face;
pub mod http;
pub mod llm;
pub mod logging;
pub mod metrics;
pub mod readiness;
pub mod render_link;
pub mod server;
pub mod services;
pub mod sessions;
pub mod voice;
pub mod webrtc;
