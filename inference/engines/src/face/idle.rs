//! A living idle face for while the assistant listens: blinks at natural, irregular intervals,
//! slow small head drift and small eye saccades. Deterministic for a given seed and sequence of
//! positions, so tests can pin it down.

use goassist_protocol::CurveIndex as C;

use super::{AUDIO_CLOCK_HZ, FaceValues, NEUTRAL, sanitize};

/// SplitMix64: tiny, seedable, good enough for animation jitter (no crate needed).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

/// Blink timing: people blink every 2–10 s (median about 4 s) while listening; a blink closes
/// in about 70 ms and reopens in about 150 ms.
const BLINK_MIN_GAP_S: f32 = 1.8;
const BLINK_MAX_GAP_S: f32 = 7.0;
const BLINK_CLOSE_S: f32 = 0.07;
const BLINK_OPEN_S: f32 = 0.15;
/// Head drift amplitude: about ±3° yaw, ±2° pitch, ±1.5° roll, in degrees/180.
const HEAD_YAW: f32 = 3.0 / 180.0;
const HEAD_PITCH: f32 = 2.0 / 180.0;
const HEAD_ROLL: f32 = 1.5 / 180.0;
/// Saccades: the gaze jumps every 0.6–3 s to within ±4° of centre.
const SACCADE_MIN_GAP_S: f32 = 0.6;
const SACCADE_MAX_GAP_S: f32 = 3.0;
const GAZE_RANGE: f32 = 4.0 / 180.0;

/// The idle face generator.
#[derive(Debug, Clone)]
pub struct IdleFace {
    rng: SplitMix64,
    /// Start time (s) of the next blink.
    next_blink_s: f32,
    next_saccade_s: f32,
    gaze: (f32, f32),
    gaze_target: (f32, f32),
    /// Random phases of the head drift sinusoids.
    phases: [f32; 6],
    last_s: Option<f32>,
}

impl IdleFace {
    /// An idle face whose randomness comes from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut phases = [0.0; 6];
        for p in &mut phases {
            *p = rng.uniform(0.0, std::f32::consts::TAU);
        }
        let next_blink_s = rng.uniform(0.5, BLINK_MAX_GAP_S / 2.0);
        IdleFace {
            rng,
            next_blink_s,
            next_saccade_s: 0.3,
            gaze: (0.0, 0.0),
            gaze_target: (0.0, 0.0),
            phases,
            last_s: None,
        }
    }

    /// The pose at `sample_pos` (48 kHz clock). Call with increasing positions; a jump back in
    /// time is treated as continuing from the last call.
    pub fn pose_at(&mut self, sample_pos: u64) -> FaceValues {
        let t = sample_pos as f32 / AUDIO_CLOCK_HZ as f32;
        let t = self.last_s.map_or(t, |last| t.max(last));
        let dt = self.last_s.map_or(0.0, |last| t - last);
        self.last_s = Some(t);

        // A blink that is over schedules the next one.
        while t > self.next_blink_s + BLINK_CLOSE_S + BLINK_OPEN_S {
            self.next_blink_s +=
                BLINK_CLOSE_S + BLINK_OPEN_S + self.rng.uniform(BLINK_MIN_GAP_S, BLINK_MAX_GAP_S);
        }
        let into = t - self.next_blink_s;
        let blink = if into < 0.0 {
            0.0
        } else if into < BLINK_CLOSE_S {
            into / BLINK_CLOSE_S
        } else {
            1.0 - (into - BLINK_CLOSE_S) / BLINK_OPEN_S
        }
        .clamp(0.0, 1.0);

        while t > self.next_saccade_s {
            self.gaze_target = (
                self.rng.uniform(-GAZE_RANGE, GAZE_RANGE),
                self.rng.uniform(-GAZE_RANGE / 2.0, GAZE_RANGE / 2.0),
            );
            self.next_saccade_s += self.rng.uniform(SACCADE_MIN_GAP_S, SACCADE_MAX_GAP_S);
        }
        // Saccades are fast (about 40 ms to land).
        let follow = 1.0 - (-dt / 0.04).exp();
        self.gaze.0 += (self.gaze_target.0 - self.gaze.0) * follow;
        self.gaze.1 += (self.gaze_target.1 - self.gaze.1) * follow;

        // Head drift: two incommensurate slow sinusoids per axis.
        let p = &self.phases;
        let drift = |f1: f32, f2: f32, a: f32, b: f32| {
            0.6 * (std::f32::consts::TAU * f1 * t + a).sin()
                + 0.4 * (std::f32::consts::TAU * f2 * t + b).sin()
        };
        let mut pose = NEUTRAL;
        pose[C::EYE_BLINK_LEFT] = blink;
        pose[C::EYE_BLINK_RIGHT] = blink;
        pose[C::HEAD_YAW] = HEAD_YAW * drift(0.07, 0.19, p[0], p[1]);
        pose[C::HEAD_PITCH] = HEAD_PITCH * drift(0.05, 0.13, p[2], p[3]);
        pose[C::HEAD_ROLL] = HEAD_ROLL * drift(0.04, 0.11, p[4], p[5]);
        for (yaw, pitch) in [
            (C::LEFT_EYE_YAW, C::LEFT_EYE_PITCH),
            (C::RIGHT_EYE_YAW, C::RIGHT_EYE_PITCH),
        ] {
            pose[yaw] = self.gaze.0;
            pose[pitch] = self.gaze.1;
        }
        // Looking sideways shows on the eye-look shapes too, for rigs without eye bones.
        let look = (self.gaze.0 / GAZE_RANGE).clamp(-1.0, 1.0) * 0.25;
        if look > 0.0 {
            pose[C::EYE_LOOK_OUT_LEFT] = look;
            pose[C::EYE_LOOK_IN_RIGHT] = look;
        } else {
            pose[C::EYE_LOOK_IN_LEFT] = -look;
            pose[C::EYE_LOOK_OUT_RIGHT] = -look;
        }
        sanitize(&mut pose);
        pose
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, seconds: u64, fps: u64) -> Vec<FaceValues> {
        let mut idle = IdleFace::new(seed);
        (0..seconds * fps)
            .map(|i| idle.pose_at(i * AUDIO_CLOCK_HZ / fps))
            .collect()
    }

    /// Blink onsets: frames where the lid crosses half-closed going down.
    fn blink_onsets(frames: &[FaceValues], fps: f32) -> Vec<f32> {
        frames
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0][C::EYE_BLINK_LEFT] < 0.5 && w[1][C::EYE_BLINK_LEFT] >= 0.5)
            .map(|(i, _)| (i + 1) as f32 / fps)
            .collect()
    }

    #[test]
    fn blinks_at_natural_irregular_intervals() {
        let frames = run(7, 120, 60);
        let onsets = blink_onsets(&frames, 60.0);
        // 2 minutes at 1.8–7.2 s per blink: between 16 and 67 blinks.
        assert!((16..=67).contains(&onsets.len()), "{} blinks", onsets.len());
        let gaps: Vec<f32> = onsets.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| *g > 1.7 && *g < 7.5), "{gaps:?}");
        let mean = gaps.iter().sum::<f32>() / gaps.len() as f32;
        let spread = gaps.iter().map(|g| (g - mean).abs()).sum::<f32>() / gaps.len() as f32;
        assert!(spread > 0.3, "intervals too regular: {gaps:?}");
        // Fully closed at some point, open most of the time.
        assert!(frames.iter().any(|f| f[C::EYE_BLINK_LEFT] > 0.9));
        let open = frames
            .iter()
            .filter(|f| f[C::EYE_BLINK_LEFT] < 0.05)
            .count();
        assert!(open as f32 > 0.85 * frames.len() as f32);
    }

    #[test]
    fn head_and_eyes_move_a_little() {
        let frames = run(3, 30, 30);
        let range = |i: usize| {
            let (lo, hi) = frames.iter().fold((f32::MAX, f32::MIN), |(lo, hi), f| {
                (lo.min(f[i]), hi.max(f[i]))
            });
            hi - lo
        };
        for (curve, min, max) in [
            (C::HEAD_YAW, 1.0 / 180.0, 7.0 / 180.0),
            (C::HEAD_PITCH, 0.5 / 180.0, 5.0 / 180.0),
            (C::LEFT_EYE_YAW, 1.0 / 180.0, 9.0 / 180.0),
        ] {
            let r = range(curve);
            assert!(r > min && r < max, "curve {curve}: range {r}");
        }
        // Smooth head: no frame-to-frame jump above 0.2°.
        for w in frames.windows(2) {
            assert!((w[1][C::HEAD_YAW] - w[0][C::HEAD_YAW]).abs() < 0.2 / 180.0);
        }
        // The mouth stays at rest.
        assert!(frames.iter().all(|f| f[C::JAW_OPEN] == 0.0));
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(run(11, 10, 30), run(11, 10, 30));
        assert_ne!(run(11, 10, 30), run(12, 10, 30));
    }
}
