//! Slow freeze: when frames stop (engine failure, kill-switch, end of a turn) the face eases
//! from its last pose to neutral over `ANIMATION_SLOW_FREEZE_MS` instead of snapping. Sans-IO:
//! the caller passes positions on the 48 kHz clock.

use super::{AUDIO_CLOCK_HZ, FaceValues, NEUTRAL};

/// An ease from a pose to neutral.
#[derive(Debug, Clone)]
pub struct SlowFreeze {
    from: FaceValues,
    start: u64,
    duration: u64,
}

impl SlowFreeze {
    /// Starts easing `from` to neutral at `start_pos`, taking `duration_ms`.
    pub fn new(from: FaceValues, start_pos: u64, duration_ms: u32) -> Self {
        SlowFreeze {
            from,
            start: start_pos,
            duration: (u64::from(duration_ms) * AUDIO_CLOCK_HZ / 1000).max(1),
        }
    }

    /// The pose at `pos`, or `None` once neutral has been reached.
    pub fn pose_at(&self, pos: u64) -> Option<FaceValues> {
        let elapsed = pos.saturating_sub(self.start);
        if elapsed >= self.duration {
            return None;
        }
        let x = elapsed as f32 / self.duration as f32;
        // Smoothstep: starts and ends with zero velocity, so neither end looks like a snap.
        let remaining = 1.0 - x * x * (3.0 - 2.0 * x);
        let mut pose = NEUTRAL;
        for (p, f) in pose.iter_mut().zip(self.from) {
            *p = f * remaining;
        }
        Some(pose)
    }

    /// The position at which the face is neutral.
    pub fn end_pos(&self) -> u64 {
        self.start + self.duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goassist_protocol::CurveIndex as C;

    #[test]
    fn eases_monotonically_to_neutral_without_a_snap() {
        let mut from = NEUTRAL;
        from[C::JAW_OPEN] = 0.6;
        from[C::HEAD_YAW] = -0.02;
        let freeze = SlowFreeze::new(from, 48_000, 500);
        assert_eq!(freeze.end_pos(), 48_000 + 24_000);
        let first = freeze.pose_at(48_000).unwrap();
        assert_eq!(first[C::JAW_OPEN], 0.6);
        let mut last = 0.6;
        for i in 1..15 {
            let pos = 48_000 + i * 1600;
            let jaw = freeze.pose_at(pos).unwrap()[C::JAW_OPEN];
            assert!(jaw <= last, "not monotonic");
            // No single 30 fps step moves more than a fifth of the way.
            assert!(last - jaw < 0.6 * 0.2, "snap at frame {i}");
            last = jaw;
        }
        let mid = freeze.pose_at(48_000 + 12_000).unwrap();
        assert!((mid[C::JAW_OPEN] - 0.3).abs() < 1e-3);
        assert!(mid[C::HEAD_YAW] < 0.0);
        assert!(freeze.pose_at(72_000).is_none());
    }
}
