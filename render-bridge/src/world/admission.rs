//! The filter rules one avatar applies to each arriving frame: epochs, order and lag. Plain
//! data and functions (no ECS), unit-tested in virtual time; the `admit` system calls them.
//!
//! - **Epochs.** A frame of an older epoch than the avatar's is dropped; a newer epoch is
//!   adopted at once. Within an epoch, a sequence number not after the last one is dropped (UDP
//!   reordering would otherwise jerk the face backwards). A frame of another session on the
//!   same avatar starts it afresh.
//! - **Lag.** The audio clock is the only face clock: the first frame of an epoch anchors
//!   "sample position P arrived at instant T". A later frame's lateness is how much later it
//!   arrived than the audio clock says it should; beyond `drop_if_lag` it is dropped (after a
//!   network stall, the backlog is stale). A frame that arrives early re-anchors. If frames
//!   stay late for [`REANCHOR_AFTER_LATE`], the path has changed for good and the anchor moves.

use std::time::{Duration, Instant};

use bevy_ecs::component::Component;
use goassist_protocol::FaceFrame;

/// How long frames may stay late before the lag anchor follows them.
pub const REANCHOR_AFTER_LATE: Duration = Duration::from_millis(500);

/// The audio clock's rate.
pub const SAMPLE_RATE: f64 = 48_000.0;

/// Why a frame was not emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Its epoch is older than the avatar's.
    StaleEpoch,
    /// Its sequence number is not after the last emitted one.
    OutOfOrder,
    /// It arrived later than `drop_if_lag` behind its audio clock.
    Lag,
    /// A new avatar while `BRIDGE_MAX_AVATARS` are held.
    SubjectLimit,
    /// A new session while every subject of the pool is held.
    NoFreeSubject,
    /// A new avatar from a sender that holds `BRIDGE_MAX_AVATARS_PER_SENDER` already.
    SenderLimit,
}

impl DropReason {
    /// All reasons, for metric label pre-registration.
    pub const ALL: [DropReason; 6] = [
        DropReason::StaleEpoch,
        DropReason::OutOfOrder,
        DropReason::Lag,
        DropReason::SubjectLimit,
        DropReason::NoFreeSubject,
        DropReason::SenderLimit,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::StaleEpoch => "stale_epoch",
            DropReason::OutOfOrder => "out_of_order",
            DropReason::Lag => "lag",
            DropReason::SubjectLimit => "subject_limit",
            DropReason::NoFreeSubject => "no_free_subject",
            DropReason::SenderLimit => "sender_limit",
        }
    }

    /// Position in [`DropReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    arrival: Instant,
    sample_pos: u64,
}

/// One avatar's admission state: the stream it follows and where its audio clock stands.
#[derive(Component, Debug, Clone)]
pub struct Track {
    /// The session whose frames it takes (a newer session on a shared subject takes over).
    pub session: u64,
    /// The turn epoch it follows.
    pub epoch: u32,
    last_seq: u32,
    anchor: Anchor,
    late_since: Option<Instant>,
}

impl Track {
    /// A track that will accept `first` (arriving at `now`).
    pub fn new(now: Instant, first: &FaceFrame) -> Track {
        Track {
            session: first.session_id,
            epoch: first.epoch,
            // So that the first frame's sequence number counts as "after".
            last_seq: first.seq.wrapping_sub(1),
            anchor: Anchor {
                arrival: now,
                sample_pos: first.sample_pos,
            },
            late_since: None,
        }
    }

    /// Applies the epoch, order and lag rules; on `Ok` the frame is the avatar's new pose.
    pub fn accept(
        &mut self,
        now: Instant,
        frame: &FaceFrame,
        drop_if_lag: Duration,
    ) -> Result<(), DropReason> {
        if frame.session_id != self.session || frame.epoch > self.epoch {
            // A new stream or a new turn: everything before it is history.
            self.session = frame.session_id;
            self.epoch = frame.epoch;
            self.last_seq = frame.seq.wrapping_sub(1);
            self.reanchor(now, frame.sample_pos);
        } else if frame.epoch < self.epoch {
            return Err(DropReason::StaleEpoch);
        }
        if (frame.seq.wrapping_sub(self.last_seq) as i32) <= 0 {
            return Err(DropReason::OutOfOrder);
        }
        self.check_lag(now, frame.sample_pos, drop_if_lag)?;
        self.last_seq = frame.seq;
        Ok(())
    }

    fn check_lag(
        &mut self,
        now: Instant,
        sample_pos: u64,
        drop_if_lag: Duration,
    ) -> Result<(), DropReason> {
        let wall = now
            .saturating_duration_since(self.anchor.arrival)
            .as_secs_f64();
        let audio = (sample_pos as f64 - self.anchor.sample_pos as f64) / SAMPLE_RATE;
        let lateness = wall - audio;
        if lateness < 0.0 {
            self.reanchor(now, sample_pos);
            return Ok(());
        }
        if lateness <= drop_if_lag.as_secs_f64() {
            self.late_since = None;
            return Ok(());
        }
        let since = *self.late_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= REANCHOR_AFTER_LATE {
            self.reanchor(now, sample_pos);
            return Ok(());
        }
        Err(DropReason::Lag)
    }

    fn reanchor(&mut self, now: Instant, sample_pos: u64) {
        self.anchor = Anchor {
            arrival: now,
            sample_pos,
        };
        self.late_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: Duration = Duration::from_millis(150);
    const FRAME: Duration = Duration::from_micros(16_667);

    fn frame(epoch: u32, seq: u32) -> FaceFrame {
        FaceFrame::neutral(5, epoch, seq, u64::from(seq) * 800)
    }

    #[test]
    fn old_epochs_and_reordered_frames_are_dropped() {
        let t0 = Instant::now();
        let first = frame(3, 10);
        let mut track = Track::new(t0, &first);
        track.accept(t0, &first, LAG).unwrap();
        assert_eq!(
            track.accept(t0, &frame(2, 11), LAG),
            Err(DropReason::StaleEpoch)
        );
        assert_eq!(
            track.accept(t0, &frame(3, 10), LAG),
            Err(DropReason::OutOfOrder)
        );
        assert_eq!(
            track.accept(t0, &frame(3, 9), LAG),
            Err(DropReason::OutOfOrder)
        );
        // A new epoch is adopted even with a lower sequence number and clock position.
        track.accept(t0 + FRAME, &frame(4, 0), LAG).unwrap();
        assert_eq!(track.epoch, 4);
        // A new session on the same avatar starts afresh, whatever its epoch.
        let mut other = frame(1, 0);
        other.session_id = 6;
        track.accept(t0 + FRAME * 2, &other, LAG).unwrap();
        assert_eq!((track.session, track.epoch), (6, 1));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t0 = Instant::now();
        let first = frame(1, u32::MAX);
        let mut track = Track::new(t0, &first);
        track.accept(t0, &first, LAG).unwrap();
        let mut f = frame(1, 0);
        f.sample_pos = u64::from(u32::MAX) * 800 + 800;
        assert!(track.accept(t0 + FRAME, &f, LAG).is_ok());
    }

    #[test]
    fn a_stale_backlog_after_a_stall_is_dropped_then_fresh_frames_flow() {
        let t0 = Instant::now();
        let mut track = Track::new(t0, &frame(1, 0));
        for seq in 0..10 {
            track.accept(t0 + FRAME * seq, &frame(1, seq), LAG).unwrap();
        }
        // The network stalls 400 ms; frames 10..34 then arrive in a burst.
        let burst_at = t0 + FRAME * 10 + Duration::from_millis(400);
        let passed = (10..35)
            .filter(|seq| track.accept(burst_at, &frame(1, *seq), LAG).is_ok())
            .count();
        // Frames whose audio time is within 150 ms of now pass; older ones are dropped.
        assert!((8..=10).contains(&passed), "{passed} passed");
        assert_eq!(
            track.accept(burst_at, &frame(1, 35), LAG),
            Ok(()),
            "on-time frames flow"
        );
    }

    #[test]
    fn a_persistent_delay_is_adopted_after_half_a_second() {
        let t0 = Instant::now();
        let mut track = Track::new(t0, &frame(1, 0));
        track.accept(t0, &frame(1, 0), LAG).unwrap();
        // From now on every frame arrives 300 ms late.
        let delay = Duration::from_millis(300);
        let first_ok = (1..120)
            .find(|seq| {
                track
                    .accept(t0 + FRAME * *seq + delay, &frame(1, *seq), LAG)
                    .is_ok()
            })
            .expect("stream resumed");
        let resumed_after = FRAME * first_ok + delay;
        assert!(
            resumed_after >= REANCHOR_AFTER_LATE && resumed_after < Duration::from_secs(1),
            "{resumed_after:?}"
        );
    }
}
