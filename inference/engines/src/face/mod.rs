//! Face animation: audio (and optionally phonemes) in, ARKit-52 frames on the 48 kHz clock out.
//!
//! Everything here is pure compute and sans-IO: no threads, no clocks, no sockets. Time is the
//! sample position on the outgoing 48 kHz audio clock, passed in by the caller. The server runs
//! an [`Animator`] on its own thread and owns deadlines, fallbacks and delivery.
//!
//! - [`lam::LamAnimator`]: the local CPU engine (HeadAudio MFCC viseme classifier + envelope jaw).
//! - [`idle::IdleFace`]: a living face while the assistant listens (blinks, head and eye motion).
//! - [`freeze::SlowFreeze`]: eases the last pose to neutral when frames stop.
//! - [`onnx_model::OnnxAnimator`]: a user-supplied ONNX audio→ARKit model (optional `lam`).

pub mod dsp;
pub mod freeze;
pub mod headaudio;
pub mod idle;
pub mod lam;
pub mod lipsync;
pub mod onnx_model;
pub mod visemes;
pub mod wav;

use goassist_protocol::ARKIT_COUNT;

use crate::EngineError;

/// The outgoing audio clock: every face frame is stamped with a position on it.
pub const AUDIO_CLOCK_HZ: u64 = 48_000;

/// One face pose: the 52 ARKit weights (0..1) then head and eye rotations (degrees/180), in
/// Unreal's order ([`goassist_protocol::arkit::UNREAL_NAMES`]).
pub type FaceValues = [f32; ARKIT_COUNT];

/// A neutral pose (all curves zero).
pub const NEUTRAL: FaceValues = [0.0; ARKIT_COUNT];

/// An engine that turns a stretch of assistant audio into face frames.
///
/// Consecutive calls form one stream: smoothing and analysis state carry over, so a segment
/// that starts where the previous one ended continues the motion without a jump. A segment
/// that starts later than the previous one ended (a pause) starts a fresh frame grid.
pub trait Animator: Send {
    /// Animates `audio_48k` (mono, 48 kHz, −1..1) whose first sample sits at `start_pos` on the
    /// outgoing audio clock. `phonemes` are the TTS phonemes of the segment (IPA, may be empty).
    /// Returns `(sample_pos, values)` frames at the engine's steady frame rate covering
    /// `[start_pos, start_pos + audio_48k.len())`, in increasing position order.
    fn animate(
        &mut self,
        audio_48k: &[f32],
        start_pos: u64,
        phonemes: &[String],
    ) -> Result<Vec<(u64, FaceValues)>, EngineError>;

    /// Forgets all carried state (a barge-in: the next segment starts a new stream).
    fn reset(&mut self);
}

/// Samples between frames at `fps` on the 48 kHz clock (30 → 1600, 60 → 800).
pub fn frame_interval(fps: u32) -> u64 {
    AUDIO_CLOCK_HZ / u64::from(fps.max(1))
}

/// The frame grid of a stream: which positions get a frame. Keeps a steady rate across
/// consecutive segments and restarts on the first segment after a pause or reset.
#[derive(Debug, Clone)]
pub struct FrameGrid {
    interval: u64,
    next: Option<u64>,
}

impl FrameGrid {
    /// A grid at `fps` frames per second.
    pub fn new(fps: u32) -> Self {
        FrameGrid {
            interval: frame_interval(fps),
            next: None,
        }
    }

    /// Samples between frames.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// The frame positions inside `[start, end)`, continuing the previous segment's grid when
    /// this segment follows it without a pause.
    pub fn positions(&mut self, start: u64, end: u64) -> Vec<u64> {
        // Continuing when the previous segment's next grid point falls in this segment's first
        // frame period; anything else (a pause, a jump, a reset) starts a new grid.
        let mut next = match self.next {
            Some(n) if n >= start && n < start + self.interval => n,
            _ => start,
        };
        let mut out = Vec::new();
        while next < end {
            out.push(next);
            next += self.interval;
        }
        self.next = Some(next);
        out
    }

    /// Forgets the grid; the next segment starts a new one at its own start.
    pub fn reset(&mut self) {
        self.next = None;
    }
}

/// Clamps the 52 weights to 0..1 and rotations to −1..1, and turns NaN into rest.
pub fn sanitize(values: &mut FaceValues) {
    for (i, v) in values.iter_mut().enumerate() {
        if !v.is_finite() {
            *v = 0.0;
        }
        *v = if i < goassist_protocol::BLENDSHAPE_COUNT {
            v.clamp(0.0, 1.0)
        } else {
            v.clamp(-1.0, 1.0)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_steady_across_adjacent_segments_and_restarts_after_a_pause() {
        let mut grid = FrameGrid::new(30);
        assert_eq!(grid.positions(0, 4000), vec![0, 1600, 3200]);
        // Adjacent segment: continues at 4800, not at 4000.
        assert_eq!(grid.positions(4000, 8000), vec![4800, 6400]);
        // A pause: a new grid at the new start.
        assert_eq!(grid.positions(20_000, 22_000), vec![20_000, 21_600]);
        grid.reset();
        assert_eq!(grid.positions(22_000, 23_000), vec![22_000]);
        let mut fast = FrameGrid::new(60);
        assert_eq!(fast.positions(100, 2000), vec![100, 900, 1700]);
    }

    #[test]
    fn sanitize_clamps_and_removes_nan() {
        let mut v = NEUTRAL;
        v[0] = 2.0;
        v[1] = f32::NAN;
        v[52] = -3.0;
        sanitize(&mut v);
        assert_eq!((v[0], v[1], v[52]), (1.0, 0.0, -1.0));
    }
}
