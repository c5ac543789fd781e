//! A WebRTC-style VAD without ONNX Runtime: the pure-Rust `earshot` detector (a small network
//! over log-mel features, weights compiled into the crate), 256-sample frames at 16 kHz.
//!
//! It needs no model file, so it is the fallback when the Silero model or the runtime library
//! is unavailable (`VAD_ENGINE=webrtc`).

use earshot::Detector;

use super::Vad;
use crate::EngineError;

/// Samples per frame at 16 kHz (16 ms).
pub const WEBRTC_FRAME_LEN: usize = 256;

/// One stream's earshot detector (about 8 KiB of state, kept on the heap).
pub struct WebRtcVad {
    detector: Box<Detector>,
    /// The frame clamped to `[-1, 1]` (earshot asserts that range in debug builds).
    clamped: [f32; WEBRTC_FRAME_LEN],
}

impl std::fmt::Debug for WebRtcVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcVad").finish_non_exhaustive()
    }
}

impl Default for WebRtcVad {
    fn default() -> Self {
        Self::new()
    }
}

impl WebRtcVad {
    /// A fresh detector.
    pub fn new() -> Self {
        Self {
            detector: Detector::default_boxed(),
            clamped: [0.0; WEBRTC_FRAME_LEN],
        }
    }
}

impl Vad for WebRtcVad {
    fn frame_len(&self) -> usize {
        WEBRTC_FRAME_LEN
    }

    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, EngineError> {
        super::check_frame(frame, WEBRTC_FRAME_LEN)?;
        for (out, &sample) in self.clamped.iter_mut().zip(frame) {
            *out = sample.clamp(-1.0, 1.0);
        }
        let score = self.detector.predict_f32(&self.clamped);
        // earshot returns -1 only for a wrong frame length, which check_frame rules out.
        Ok(score.clamp(0.0, 1.0))
    }

    fn reset(&mut self) {
        self.detector.reset();
    }
}
