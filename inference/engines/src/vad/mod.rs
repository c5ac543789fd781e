//! Voice activity detection: per-frame speech probabilities, and the segmentation that turns
//! them into speech start / end-of-turn events.
//!
//! Layers, each usable alone:
//! - [`Vad`]: one stream's detector, fed fixed-size frames of 16 kHz mono `f32` audio.
//!   [`SileroVad`] (ONNX, the default) and [`WebRtcVad`] (pure Rust, no model file).
//! - [`Segmenter`]: sans-IO hysteresis over probabilities (see its module docs for the rules).
//! - [`SpeechDetector`]: both together behind a `push(any-length audio)` call, which is what a
//!   session feeds with its decoded, resampled audio.
//! - [`UtteranceCapture`]: keeps the current utterance's audio (from just before the onset the
//!   segmenter reports), says when a streaming partial is due and returns the final utterance
//!   at end of turn, ready for the ASR.
//!
//! [`VadModel`] is what the server loads once at start-up (`VAD_ENGINE`) and asks for a
//! detector per session.

mod capture;
mod detector;
mod segmenter;
mod silero;
mod webrtc;

use std::path::Path;
use std::sync::Arc;

pub use capture::{CaptureConfig, UtteranceCapture};
pub use detector::SpeechDetector;
pub use segmenter::{SAMPLE_RATE, SegmentEvent, Segmenter, SegmenterConfig};
pub use silero::{SILERO_FRAME_LEN, SileroModel, SileroVad};
pub use webrtc::{WEBRTC_FRAME_LEN, WebRtcVad};

use crate::EngineError;

/// A voice activity detector for one audio stream (16 kHz mono `f32`, nominally in `[-1, 1]`).
pub trait Vad: Send {
    /// Samples per frame this detector takes.
    fn frame_len(&self) -> usize;
    /// The probability (`0..=1`) that `frame` (exactly [`Vad::frame_len`] samples, following
    /// the previous frame) contains speech. A wrong length or a non-finite sample is an
    /// [`EngineError::InvalidInput`], and the stream's state is left as it was.
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, EngineError>;
    /// Forgets the stream's history (a new stream, or after a discontinuity).
    fn reset(&mut self);
}

/// Rejects frames the models cannot take, before they touch any state.
fn check_frame(frame: &[f32], expected_len: usize) -> Result<(), EngineError> {
    if frame.len() != expected_len {
        return Err(EngineError::InvalidInput(format!(
            "VAD frame has {} samples, expected {expected_len}",
            frame.len()
        )));
    }
    if let Some(position) = frame.iter().position(|s| !s.is_finite()) {
        return Err(EngineError::InvalidInput(format!(
            "VAD frame has a non-finite sample at {position}"
        )));
    }
    Ok(())
}

/// Which VAD implementation to run (`VAD_ENGINE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VadEngine {
    /// Silero VAD v6 via ONNX Runtime (`vad/silero_vad.onnx`).
    #[default]
    Silero,
    /// The pure-Rust earshot detector: no model file, no ONNX Runtime.
    Webrtc,
}

impl VadEngine {
    /// The configuration spelling: `"silero"` or `"webrtc"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Silero => "silero",
            Self::Webrtc => "webrtc",
        }
    }
}

impl std::fmt::Display for VadEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VadEngine {
    type Err = String;

    /// Parses `silero` or `webrtc` (case-insensitive, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "silero" => Ok(Self::Silero),
            "webrtc" => Ok(Self::Webrtc),
            other => Err(format!(
                "unknown VAD engine {other:?}: expected \"silero\" or \"webrtc\""
            )),
        }
    }
}

/// A VAD engine loaded once and shared by every session; hands out per-stream detectors.
#[derive(Debug, Clone)]
pub enum VadModel {
    /// The shared Silero session.
    Silero(Arc<SileroModel>),
    /// earshot: nothing to load, each stream owns its small state.
    Webrtc,
}

impl VadModel {
    /// Loads `engine` (Silero reads `vad/silero_vad.onnx` under `models_dir`).
    pub fn load(engine: VadEngine, models_dir: &Path) -> Result<Self, EngineError> {
        match engine {
            VadEngine::Silero => Ok(Self::Silero(SileroModel::load(models_dir)?)),
            VadEngine::Webrtc => Ok(Self::Webrtc),
        }
    }

    /// Which engine this is.
    pub fn engine(&self) -> VadEngine {
        match self {
            Self::Silero(_) => VadEngine::Silero,
            Self::Webrtc => VadEngine::Webrtc,
        }
    }

    /// A fresh detector for one stream.
    pub fn new_stream(&self) -> Box<dyn Vad> {
        match self {
            Self::Silero(model) => Box::new(SileroVad::new(Arc::clone(model))),
            Self::Webrtc => Box::new(WebRtcVad::new()),
        }
    }

    /// A fresh [`SpeechDetector`] (detector + segmenter) for one stream.
    pub fn new_detector(&self, config: SegmenterConfig) -> SpeechDetector {
        SpeechDetector::new(self.new_stream(), config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_model_is_sync_and_streams_move_between_threads() {
        fn shared<T: Send + Sync>() {}
        fn movable<T: Send>() {}
        shared::<SileroModel>();
        shared::<VadModel>();
        movable::<SileroVad>();
        movable::<WebRtcVad>();
        movable::<SpeechDetector>();
    }

    #[test]
    fn engine_names_round_trip_and_bad_names_are_errors() {
        for engine in [VadEngine::Silero, VadEngine::Webrtc] {
            assert_eq!(engine.to_string().parse::<VadEngine>(), Ok(engine));
        }
        assert_eq!(" WebRTC ".parse::<VadEngine>(), Ok(VadEngine::Webrtc));
        let err = "cobra".parse::<VadEngine>().unwrap_err();
        assert!(err.contains("cobra") && err.contains("silero"), "{err}");
        assert!("".parse::<VadEngine>().is_err());
    }

    #[test]
    fn frame_check_rejects_wrong_length_and_non_finite_samples() {
        assert!(check_frame(&[0.0; 4], 4).is_ok());
        assert!(matches!(
            check_frame(&[0.0; 3], 4),
            Err(EngineError::InvalidInput(_))
        ));
        assert!(check_frame(&[0.0, f32::NAN, 0.0, 0.0], 4).is_err());
        assert!(check_frame(&[0.0, 0.0, f32::INFINITY, 0.0], 4).is_err());
    }
}
