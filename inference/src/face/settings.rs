//! What the face service needs to start. The server builds it from the validated configuration
//! (`crate::config`, the one place that reads and checks the `ANIMATION_*`, `AUDIO2FACE_*` and
//! `LAM_ONNX_MODEL` variables; see `From<&Config>`); tests and examples fill it in directly.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{AnimationEngineKind, AnimationFallback, Config, Secret};

/// The default of [`FaceSettings::engine_retry_after`].
pub const ENGINE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Everything the face service needs to start.
#[derive(Debug, Clone)]
pub struct FaceSettings {
    /// Whether faces are produced at all (also switchable at run time by the admin endpoint).
    pub enabled: bool,
    /// Primary engine.
    pub engine: AnimationEngineKind,
    /// Engine used when the primary fails.
    pub fallback: AnimationFallback,
    /// Frames per second (30 or 60).
    pub fps: u32,
    /// Frames later than this behind their audio are dropped.
    pub drop_if_lag_ms: u32,
    /// How long the face takes to ease to neutral when frames stop.
    pub slow_freeze_ms: u32,
    /// Audio2Face-3D endpoint; `None` makes an `audio2face` primary fail over to the fallback
    /// from the start.
    pub audio2face_url: Option<String>,
    /// Sent to Audio2Face-3D as a bearer token when set.
    pub audio2face_api_key: Option<Secret>,
    /// Longest an engine may take for one segment before it counts as hung.
    pub deadline: Duration,
    /// How long a session stays without a face engine (both failed) before it tries its
    /// primary again: a stall is often passing (the machine was busy), and a session should
    /// not lose its face for good.
    pub engine_retry_after: Duration,
    /// Where `face/headaudio-model-en-mixed.bin` lives.
    pub models_dir: PathBuf,
    /// A user-supplied ONNX audio→ARKit model that replaces the HeadAudio classifier in `lam`.
    pub lam_onnx_model: Option<PathBuf>,
}

/// The defaults of deploy/config.yaml, except the engine: `lam` runs anywhere, Audio2Face needs
/// NVIDIA's service.
impl Default for FaceSettings {
    fn default() -> Self {
        FaceSettings {
            enabled: true,
            engine: AnimationEngineKind::Lam,
            fallback: AnimationFallback::Lam,
            fps: 30,
            drop_if_lag_ms: 120,
            slow_freeze_ms: 150,
            audio2face_url: None,
            audio2face_api_key: None,
            deadline: Duration::from_millis(500),
            engine_retry_after: ENGINE_RETRY_AFTER,
            models_dir: PathBuf::from("models"),
            lam_onnx_model: None,
        }
    }
}

impl From<&Config> for FaceSettings {
    fn from(config: &Config) -> Self {
        FaceSettings {
            enabled: config.animation_enabled,
            engine: config.animation_engine,
            fallback: config.animation_fallback,
            fps: config.animation_fps,
            drop_if_lag_ms: config.animation_drop_if_lag_ms,
            slow_freeze_ms: config.animation_slow_freeze_ms,
            audio2face_url: config.audio2face_url.clone(),
            audio2face_api_key: config.audio2face_api_key.clone(),
            deadline: Duration::from_millis(u64::from(config.animation_deadline_ms)),
            engine_retry_after: ENGINE_RETRY_AFTER,
            models_dir: config.models_dir.clone(),
            lam_onnx_model: config.lam_onnx_model.clone(),
        }
    }
}

impl FaceSettings {
    /// Samples between frames on the 48 kHz clock.
    pub fn frame_interval(&self) -> u64 {
        goassist_engines::face::frame_interval(self.fps)
    }
}
