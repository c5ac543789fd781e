//! What one session sends to the render-bridge (Profile C): its face frames, each released when
//! the audio it animates goes out to the client, with that audio attached when
//! RENDER_BRIDGE_SEND_AUDIO is on.
//!
//! The face engine computes a clause's frames in one burst, ahead of its audio. A browser
//! schedules them by sample position, but the bridge forwards to Unreal on arrival, so the
//! frames are held here and released on the outgoing audio clock. Holding is bounded.
//!
//! Sans-IO: released frames come back as [`BridgeOut`]s; the session's I/O loop hands them to
//! the non-blocking [`crate::render_link::RenderLink`], which drops rather than waits.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goassist_protocol::FaceFrame;

use super::audio::BridgeAudio;
use crate::face::clock::SendClock;
use crate::face::timeline::Shift;

/// Frames held at most (10 s at 60 fps); beyond that the oldest are dropped.
const MAX_HELD: usize = 600;

/// A frame whose audio has gone out, for the render-bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeOut {
    /// The frame.
    pub frame: FaceFrame,
    /// Its mono 48 kHz audio from `frame.sample_pos`, with RENDER_BRIDGE_SEND_AUDIO.
    pub audio: Option<Vec<i16>>,
}

/// What one release hands out.
#[derive(Debug, Default, PartialEq)]
pub struct Released {
    /// Frames due, in position order.
    pub frames: Vec<BridgeOut>,
    /// Frames dropped because too many were held.
    pub dropped: u64,
}

/// A session's feed to the render-bridge.
pub struct BridgeFeed {
    audio: Option<BridgeAudio>,
    held: VecDeque<FaceFrame>,
    clock: SendClock,
    overflowed: u64,
    /// While the audio is paused: its start. Frames after it wait for the pause to end (the
    /// silence going out is not their audio).
    paused_at: Option<u64>,
}

impl BridgeFeed {
    /// A feed; with `audio_fps` given, each frame carries its audio.
    pub fn new(audio_fps: Option<u32>) -> Self {
        BridgeFeed {
            audio: audio_fps.map(BridgeAudio::new),
            held: VecDeque::new(),
            clock: SendClock::new(),
            overflowed: 0,
            paused_at: None,
        }
    }

    /// A clause was queued for sending at `start` on the outgoing clock.
    pub fn clause_queued(&mut self, epoch: u32, start: u64, audio: &Arc<[f32]>) {
        if let Some(clauses) = &mut self.audio {
            clauses.push(epoch, start, audio.clone());
        }
    }

    /// The client was sent audio up to `end` (exclusive) at `at`.
    pub fn audio_sent(&self, end: u64, at: Instant) {
        self.clock.report(end, at);
    }

    /// Holds a frame until its audio goes out (in position order: frames sent again after a
    /// pause may come behind later ones).
    pub fn offer(&mut self, frame: FaceFrame) {
        if self.held.len() == MAX_HELD {
            self.held.pop_front();
            self.overflowed += 1;
        }
        let at = self.held.len()
            - self
                .held
                .iter()
                .rev()
                .take_while(|f| f.sample_pos > frame.sample_pos)
                .count();
        self.held.insert(at, frame);
    }

    /// The audio paused at `rest.sample_pos`: `rest` (the mouth closed) goes out when the
    /// silence starts, and the frames after it wait.
    pub fn pause(&mut self, rest: FaceFrame) {
        self.paused_at = Some(rest.sample_pos);
        self.offer(rest);
    }

    /// The pause ended; with `shift`, the audio it held plays that much later, and so do the
    /// frames and samples held for it.
    pub fn resume(&mut self, shift: Option<&Shift>) {
        self.paused_at = None;
        let Some(shift) = shift else { return };
        for frame in &mut self.held {
            frame.sample_pos = shift.apply(frame.epoch, frame.sample_pos);
        }
        if let Some(clauses) = &mut self.audio {
            clauses.shift(shift);
        }
    }

    /// Barge-in: nothing held or queued will be played.
    pub fn interrupt(&mut self) {
        self.paused_at = None;
        self.held.clear();
        if let Some(clauses) = &mut self.audio {
            clauses.clear();
        }
    }

    /// When the next held frame is due, if one is held (and not waiting for a pause to end).
    pub fn next_due(&self, now: Instant) -> Option<Instant> {
        let front = self.held.front()?;
        if self.waits_for_resume(front) {
            return None;
        }
        let Some(sent) = self.clock.estimate(now) else {
            return Some(now); // no audio out yet (the idle face): nothing to wait for
        };
        let ahead = front.sample_pos.saturating_sub(sent);
        Some(now + Duration::from_micros(ahead * 1_000 / 48))
    }

    /// Hands out every held frame whose audio has gone out by `now`.
    pub fn release_due(&mut self, now: Instant) -> Released {
        let mut released = Released {
            dropped: std::mem::take(&mut self.overflowed),
            ..Released::default()
        };
        let sent_pos = self.clock.estimate(now);
        while let Some(front) = self.held.front() {
            if sent_pos.is_some_and(|sent| front.sample_pos > sent) || self.waits_for_resume(front)
            {
                break;
            }
            let frame = self.held.pop_front().expect("front exists");
            let audio = self
                .audio
                .as_mut()
                .and_then(|a| a.chunk_for(frame.epoch, frame.sample_pos));
            released.frames.push(BridgeOut { frame, audio });
        }
        released
    }

    fn waits_for_resume(&self, frame: &FaceFrame) -> bool {
        self.paused_at.is_some_and(|at| frame.sample_pos > at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(epoch: u32, sample_pos: u64) -> FaceFrame {
        FaceFrame {
            session_id: 7,
            epoch,
            seq: 0,
            sample_pos,
            values: [0.0; goassist_protocol::ARKIT_COUNT],
        }
    }

    fn positions(released: &Released) -> Vec<u64> {
        released.frames.iter().map(|f| f.frame.sample_pos).collect()
    }

    #[test]
    fn frames_wait_for_their_audio_to_go_out() {
        let mut feed = BridgeFeed::new(Some(30));
        let t0 = Instant::now();
        feed.clause_queued(1, 48_000, &Arc::from(vec![0.5f32; 48_000]));
        feed.audio_sent(48_000, t0);
        for k in 0..30 {
            feed.offer(frame(1, 48_000 + k * 1_600));
        }
        let first = feed.release_due(t0);
        assert_eq!(
            positions(&first),
            [48_000],
            "only the frame at the send position"
        );
        assert_eq!(
            feed.next_due(t0),
            Some(t0 + Duration::from_micros(1_600 * 1_000 / 48))
        );
        let half_second = t0 + Duration::from_millis(500);
        assert_eq!(feed.release_due(half_second).frames.len(), 15);
        let audio = first.frames[0].audio.as_ref().expect("audio attached");
        assert_eq!(audio.len(), 1_600);
        assert_eq!(audio[0], 16_384);
    }

    #[test]
    fn before_any_audio_frames_pass_at_once_without_audio() {
        let mut feed = BridgeFeed::new(Some(30));
        let now = Instant::now();
        feed.offer(frame(0, 0));
        assert_eq!(feed.next_due(now), Some(now));
        let released = feed.release_due(now);
        assert_eq!(positions(&released), [0]);
        assert_eq!(released.frames[0].audio, None);
        assert_eq!(feed.next_due(now), None);
    }

    #[test]
    fn a_pause_sends_the_rest_and_holds_the_rest_until_it_ends_later() {
        let mut feed = BridgeFeed::new(None);
        let t0 = Instant::now();
        feed.audio_sent(16_000, t0);
        for k in 0..20 {
            feed.offer(frame(1, 16_000 + k * 1_600));
        }
        // Paused at 16_000: the resting frame is due as the silence starts, nothing after it,
        // however much silence goes out.
        let mut rest = frame(1, 16_000);
        rest.seq = 99;
        feed.pause(rest);
        let released = feed.release_due(t0);
        let seqs: Vec<u32> = released.frames.iter().map(|f| f.frame.seq).collect();
        assert_eq!(seqs, [0, 99], "the frame at 16_000 and the rest");
        feed.audio_sent(16_000 + 19_200, t0 + Duration::from_millis(400));
        assert!(
            feed.release_due(t0 + Duration::from_millis(400))
                .frames
                .is_empty()
        );
        assert_eq!(feed.next_due(t0 + Duration::from_millis(400)), None);
        // Resumed 19_200 samples later: the frame queued at 17_600 is due at 36_800.
        feed.resume(Some(&Shift {
            epoch: 1,
            from: 16_000,
            until: 48_000,
            by: 19_200,
        }));
        assert!(
            feed.release_due(t0 + Duration::from_millis(400))
                .frames
                .is_empty()
        );
        feed.audio_sent(36_800, t0 + Duration::from_millis(430));
        let released = feed.release_due(t0 + Duration::from_millis(430));
        assert_eq!(positions(&released), [36_800]);
    }

    #[test]
    fn frames_offered_out_of_order_go_out_in_position_order() {
        let mut feed = BridgeFeed::new(None);
        let t0 = Instant::now();
        feed.audio_sent(0, t0);
        feed.offer(frame(1, 3_200));
        feed.offer(frame(1, 4_800));
        feed.offer(frame(1, 1_600)); // a resting frame sent after a pause
        feed.audio_sent(4_800, t0);
        assert_eq!(positions(&feed.release_due(t0)), [1_600, 3_200, 4_800]);
    }

    #[test]
    fn a_barge_in_discards_what_is_held() {
        let mut feed = BridgeFeed::new(None);
        let t0 = Instant::now();
        feed.audio_sent(0, t0);
        feed.offer(frame(1, 10_000));
        feed.interrupt();
        assert_eq!(
            feed.release_due(t0 + Duration::from_secs(1)),
            Released::default()
        );
    }

    #[test]
    fn holding_is_bounded_and_overflow_is_counted() {
        let mut feed = BridgeFeed::new(None);
        let t0 = Instant::now();
        feed.audio_sent(0, t0);
        for k in 0..(MAX_HELD as u64 + 5) {
            feed.offer(frame(1, 1_000_000 + k));
        }
        let released = feed.release_due(t0);
        assert_eq!((released.frames.len(), released.dropped), (0, 5));
    }
}
