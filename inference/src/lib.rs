//! The GoAssist inference server: WebRTC voice loop, face frames, and the operator's API.
//!
//! Layout (the map with the data flow: docs/architecture.md):
//! - A session: `voice` (the sans-IO session core, its thin async loop, the listener thread),
//!   `conversation` (the turn state machine, the clause splitter), `media` (packets and the
//!   outgoing audio clock), `webrtc` (str0m peers), `face` (face engines and the face timeline),
//!   `render_link` (the UDP feed to the render-bridge).
//! - Shared engines: `engine_pool` (owner threads with slot tables for ASR and TTS), `llm` (the
//!   LLM service over its local or remote backend), `services` (loading them behind the API).
//!   Model compute itself lives in the `goassist-engines` crate.
//! - The process: `config` (the environment table), `http` (the API router), `sessions`
//!   (admission and drain), `admin_tokens`, `readiness`, `metrics`, `server` (listeners and
//!   signals); logging is `goassist-telemetry`'s, shared with the other binaries.

pub mod admin_tokens;
pub mod config;
pub mod conversation;
pub mod engine_pool;
pub mod face;
pub mod gpu;
pub mod http;
pub mod llm;
pub mod media;
pub mod metrics;
pub mod priority;
pub mod readiness;
pub mod render_link;
pub mod server;
pub mod services;
pub mod sessions;
pub mod voice;
pub mod webrtc;
