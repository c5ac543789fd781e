//! The assistant's face: ARKit-52 frames locked to the outgoing audio clock.
//!
//! - [`service::FaceService`]: one per server; settings, kill-switch, health, counters.
//! - [`service::FaceSession`]: one per WebRTC session; push audio segments, interrupt, listen,
//!   receive stamped [`goassist_protocol::FaceFrame`]s.
//! - Engines: `lam` (local, [`goassist_engines::face::lam`]) and `audio2face`
//!   ([`audio2face::Audio2FaceAnimator`], NVIDIA Audio2Face-3D over gRPC).
//! - [`lag_gate::LagGate`]: drops frames that would arrive too long after their audio.
//! - [`timeline::FaceTimeline`]: part of the session core; keeps frames on the audio they
//!   animate when a possible barge-in pauses the assistant.
//!
//! The model compute (audio features, visemes, the `lam` engine) lives in the engines crate
//! (`goassist_engines::face`); the browser's renderer in `inference/web/face/`.
//!
//! Isolation: engines run on their own threads behind a deadline and `catch_unwind`; the voice
//! loop never waits on them. See docs/face.md.

pub mod a2f_proto;
pub mod audio2face;
pub mod clock;
pub mod engine_runner;
pub mod lag_gate;
pub mod metrics;
pub mod service;
pub mod settings;
pub mod timeline;
mod worker;

pub use crate::config::{AnimationEngineKind, AnimationFallback};
pub use lag_gate::{LagGate, LagVerdict};
pub use metrics::{FaceCounters, FaceMetrics};
pub use service::{FaceControl, FaceService, FaceSession, FaceStatus, FrameReceiver};
pub use settings::FaceSettings;
pub use timeline::FaceTimeline;
