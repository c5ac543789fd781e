//! Late-frame gate (sans-IO): a face frame whose audio went out more than
//! `ANIMATION_DROP_IF_LAG_MS` ago would reach the client after its audio has played, so it is
//! dropped rather than sent. Visuals go first: audio never waits for a face.

/// Whether to send a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagVerdict {
    /// Send it: its audio has not gone out yet, or only just.
    Send,
    /// Drop it: its audio went out `late_by` samples (48 kHz) beyond the allowed lag.
    Drop {
        /// How far past the allowed lag the frame is, in 48 kHz samples.
        late_by: u64,
    },
}

/// Decides send vs drop from a frame's sample position and the current audio send position.
#[derive(Debug, Clone, Copy)]
pub struct LagGate {
    max_lag_samples: u64,
}

impl LagGate {
    /// A gate allowing frames up to `drop_if_lag_ms` behind their audio.
    pub fn new(drop_if_lag_ms: u32) -> Self {
        LagGate {
            max_lag_samples: u64::from(drop_if_lag_ms) * 48,
        }
    }

    /// `frame_pos`: the sample position the frame animates; `send_pos`: the position of the
    /// audio being sent now (48 kHz).
    pub fn decide(&self, frame_pos: u64, send_pos: u64) -> LagVerdict {
        let deadline = frame_pos.saturating_add(self.max_lag_samples);
        if send_pos > deadline {
            LagVerdict::Drop {
                late_by: send_pos - deadline,
            }
        } else {
            LagVerdict::Send
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_ahead_or_slightly_behind_go_late_ones_drop() {
        let gate = LagGate::new(100); // 4800 samples
        assert_eq!(gate.decide(48_000, 0), LagVerdict::Send, "ahead of audio");
        assert_eq!(gate.decide(48_000, 48_000), LagVerdict::Send, "on time");
        assert_eq!(
            gate.decide(48_000, 52_800),
            LagVerdict::Send,
            "exactly at the limit"
        );
        assert_eq!(
            gate.decide(48_000, 52_801),
            LagVerdict::Drop { late_by: 1 },
            "one sample past"
        );
        assert_eq!(gate.decide(u64::MAX, u64::MAX), LagVerdict::Send);
        assert_eq!(
            LagGate::new(0).decide(10, 11),
            LagVerdict::Drop { late_by: 1 }
        );
    }
}
