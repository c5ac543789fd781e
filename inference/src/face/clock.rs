//! The session's estimate of the outgoing audio clock: the last known send position, moved
//! forward with wall time since it was learned. The voice loop reports positions as it sends
//! packets ([`SendClock::report`]); until it does, the face worker anchors the clock itself
//! when a new stretch of speech starts (assuming it starts playing out now).

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Anchor {
    pos: u64,
    at: Instant,
}

/// Shared send-position estimate (48 kHz samples).
#[derive(Debug)]
pub struct SendClock {
    anchor: Mutex<Option<Anchor>>,
    reported: std::sync::atomic::AtomicBool,
}

impl Default for SendClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SendClock {
    /// A clock that knows nothing yet.
    pub fn new() -> Self {
        SendClock {
            anchor: Mutex::new(None),
            reported: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The voice loop sent audio up to `pos` at `now`.
    pub fn report(&self, pos: u64, now: Instant) {
        self.reported
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.set(pos, now);
    }

    /// Anchors the clock from the face side, unless the voice loop reports positions itself.
    pub fn anchor_if_unreported(&self, pos: u64, now: Instant) {
        if !self.reported.load(std::sync::atomic::Ordering::Relaxed) {
            self.set(pos, now);
        }
    }

    fn set(&self, pos: u64, at: Instant) {
        if let Ok(mut a) = self.anchor.lock() {
            *a = Some(Anchor { pos, at });
        }
    }

    /// The estimated send position at `now`, if anything is known.
    pub fn estimate(&self, now: Instant) -> Option<u64> {
        let a = (*self.anchor.lock().ok()?)?;
        let elapsed = now.saturating_duration_since(a.at);
        Some(a.pos + (elapsed.as_micros() as u64 * 48 / 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn extrapolates_with_wall_time_and_prefers_reports() {
        let clock = SendClock::new();
        let t0 = Instant::now();
        assert_eq!(clock.estimate(t0), None);
        clock.anchor_if_unreported(1000, t0);
        assert_eq!(clock.estimate(t0 + Duration::from_millis(10)), Some(1480));
        clock.report(5000, t0);
        clock.anchor_if_unreported(0, t0);
        assert_eq!(
            clock.estimate(t0),
            Some(5000),
            "a report wins over face anchors"
        );
    }
}
