//! Keeps the face on the audio it animates when a possible barge-in pauses the assistant.
//!
//! A voice onset while the assistant speaks pauses its audio: silence goes out and the queued
//! speech moves later on the timeline, until the voice is confirmed as speech (barge-in: the
//! queue is dropped) or dismissed (a cough: the speech resumes, later by the pause's length).
//! Face frames carry the position their audio had when it was queued, and the engine computes
//! them ahead, so most are already at the client when a pause ends. Without correction the face
//! would run ahead of the voice by the pause's length for the rest of the queued speech. Here:
//!
//! - frames that pass after a pause are re-stamped onto their audio ([`FaceTimeline::outgoing`]);
//! - when the pause begins, a resting frame (mouth closed) goes out at its start
//!   ([`FaceTimeline::paused`]). Being newer, it supersedes the frames the client holds at or
//!   after its position (the rule of docs/events.md and face.js), so the mouth closes while the
//!   inserted silence plays, whether the pause ends in a barge-in or not;
//! - frames for the paused audio that arrive during the pause wait for its end; when it ends,
//!   they and the frames already sent whose audio had not gone out are sent, re-stamped onto
//!   their audio ([`FaceTimeline::resumed`]);
//! - the sequence numbers on the way out are this module's, in send order, so that "newer" means
//!   "sent later" also for the frames it adds.
//!
//! Clauses must not be queued while paused (the session holds them), so every queued position
//! moves by the same amount.

use std::collections::VecDeque;

use goassist_protocol::{CurveIndex, FaceFrame};

/// Frames remembered for re-sending at most (34 s at 60 fps); the oldest are forgotten first.
const MAX_AHEAD: usize = 2048;

/// Queued audio of `epoch` in `from..until` (positions as queued) now plays `by` samples later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// The turn whose audio moved.
    pub epoch: u32,
    /// First position that moved (the send position when the pause began).
    pub from: u64,
    /// End of the audio queued then.
    pub until: u64,
    /// Samples of silence the pause inserted.
    pub by: u64,
}

impl Shift {
    /// Where audio of `epoch` queued at `pos` plays after this shift.
    pub fn apply(&self, epoch: u32, pos: u64) -> u64 {
        if epoch == self.epoch && (self.from..self.until).contains(&pos) {
            pos + self.by
        } else {
            pos
        }
    }
}

/// What to send when a pause ends.
#[derive(Debug, Default)]
pub struct Resumed {
    /// What moved, for the other consumers of queued positions (the render-bridge feed).
    pub shift: Option<Shift>,
    /// The mouth still at rest one frame before the speech resumes (for every consumer), so
    /// the face opens with the voice rather than across the whole pause.
    pub rest: Option<FaceFrame>,
    /// Frames the client already had, moved onto their audio: for the client only.
    pub moved: Vec<FaceFrame>,
    /// Frames that came during the pause, moved onto their audio: for every consumer.
    pub deferred: Vec<FaceFrame>,
}

/// One session's face frames on the outgoing audio timeline.
pub struct FaceTimeline {
    frame_interval: u64,
    next_seq: u32,
    /// Frames sent whose audio has not gone out yet, in send order.
    ahead: VecDeque<FaceFrame>,
    /// Queued audio when the current pause began: (epoch, from, until).
    pause: Option<(u32, u64, u64)>,
    /// Frames for the paused audio that came during the pause (not sent yet).
    deferred: Vec<FaceFrame>,
    /// Moves since the current turn's audio was queued, oldest first.
    shifts: Vec<Shift>,
}

impl FaceTimeline {
    /// A timeline for frames `frame_interval` samples apart.
    pub fn new(frame_interval: u64) -> Self {
        FaceTimeline {
            frame_interval: frame_interval.max(1),
            next_seq: 0,
            ahead: VecDeque::new(),
            pause: None,
            deferred: Vec::new(),
            shifts: Vec::new(),
        }
    }

    /// Whether the assistant's audio is paused (clauses must wait).
    pub fn is_paused(&self) -> bool {
        self.pause.is_some()
    }

    /// The audio of `epoch` was paused at send position `from` with audio queued until `until`.
    /// Returns the resting frame to send at `from` when frames for that audio were sent.
    pub fn paused(&mut self, epoch: u32, from: u64, until: u64) -> Option<FaceFrame> {
        self.pause = Some((epoch, from, until));
        let next = self
            .ahead
            .iter()
            .find(|f| f.epoch == epoch && f.sample_pos >= from)?;
        let rest = resting(next, from);
        Some(self.number(rest))
    }

    /// The pause ended with the queue now ending at `until_now`.
    pub fn resumed(&mut self, until_now: u64) -> Resumed {
        let Some((epoch, from, until)) = self.pause.take() else {
            return Resumed::default();
        };
        let by = until_now.saturating_sub(until);
        if by == 0 || until <= from {
            // Nothing was queued, or no silence went out: nothing moved.
            let deferred = std::mem::take(&mut self.deferred);
            return Resumed {
                deferred: deferred.into_iter().map(|f| self.send(f)).collect(),
                ..Resumed::default()
            };
        }
        let shift = Shift {
            epoch,
            from,
            until,
            by,
        };
        self.shifts.push(shift);
        let moves = |f: &FaceFrame| f.epoch == epoch && f.sample_pos >= from;
        let stale: Vec<FaceFrame> = self.ahead.iter().filter(|f| moves(f)).cloned().collect();
        self.ahead.retain(|f| !moves(f));
        let rest_at = from + by.saturating_sub(self.frame_interval);
        let rest = match stale.first() {
            Some(next) if rest_at > from => Some(self.number(resting(next, rest_at))),
            _ => None,
        };
        let deferred = std::mem::take(&mut self.deferred);
        let mut moved_on = |frames: Vec<FaceFrame>| -> Vec<FaceFrame> {
            frames
                .into_iter()
                .map(|mut f| {
                    f.sample_pos = shift.apply(epoch, f.sample_pos);
                    self.send(f)
                })
                .collect()
        };
        let moved = moved_on(stale);
        let deferred = moved_on(deferred);
        Resumed {
            shift: Some(shift),
            rest,
            moved,
            deferred,
        }
    }

    /// A barge-in ended the turn: its pause, moves and remembered frames are void.
    pub fn interrupted(&mut self) {
        self.pause = None;
        self.deferred.clear();
        self.shifts.clear();
        self.ahead.clear();
    }

    /// A frame on its way out: re-stamped for the pauses since its audio was queued, numbered,
    /// and remembered until its audio goes out. `None` while its audio is paused: where it
    /// will play is known when the pause ends ([`FaceTimeline::resumed`] sends it then).
    pub fn outgoing(&mut self, mut frame: FaceFrame) -> Option<FaceFrame> {
        frame.sample_pos = self.restamp(frame.epoch, frame.sample_pos);
        if let Some((epoch, from, _)) = self.pause
            && frame.epoch == epoch
            && frame.sample_pos >= from
        {
            self.deferred.push(frame);
            return None;
        }
        Some(self.send(frame))
    }

    /// Audio before `pos` has gone out: its frames can no longer move.
    pub fn audio_sent(&mut self, pos: u64) {
        while self.ahead.front().is_some_and(|f| f.sample_pos < pos) {
            self.ahead.pop_front();
        }
    }

    /// Where audio of `epoch` queued at `pos` plays now.
    pub fn restamp(&self, epoch: u32, pos: u64) -> u64 {
        self.shifts.iter().fold(pos, |p, s| s.apply(epoch, p))
    }

    /// Numbers a frame about to be sent and remembers it until its audio goes out.
    fn send(&mut self, frame: FaceFrame) -> FaceFrame {
        let frame = self.number(frame);
        if self.ahead.len() == MAX_AHEAD {
            self.ahead.pop_front();
        }
        self.ahead.push_back(frame.clone());
        frame
    }

    /// Gives `frame` the next sequence number. (Resting frames are not remembered: they stay
    /// where they are when a pause moves the speech.)
    fn number(&mut self, mut frame: FaceFrame) -> FaceFrame {
        frame.seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        frame
    }
}

/// The pose of `like` (head and eyes as they were) with the mouth closed, at `pos`.
fn resting(like: &FaceFrame, pos: u64) -> FaceFrame {
    let mut frame = like.clone();
    frame.sample_pos = pos;
    let mouth = (CurveIndex::JAW_FORWARD..=CurveIndex::MOUTH_UPPER_UP_RIGHT)
        .chain([CurveIndex::CHEEK_PUFF, CurveIndex::TONGUE_OUT]);
    for i in mouth {
        frame.values[i] = 0.0;
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u32 = 3;
    /// 30 fps at 48 kHz.
    const STEP: u64 = 1600;

    fn speaking(pos: u64) -> FaceFrame {
        let mut f = FaceFrame::neutral(7, EPOCH, 999, pos);
        f.values[CurveIndex::JAW_OPEN] = 0.5;
        f.values[CurveIndex::HEAD_YAW] = 0.1;
        f
    }

    /// Frames for audio queued at 0..48_000, all sent ahead; audio sent up to `sent`.
    fn timeline_with_a_clause_sent_up_to(sent: u64) -> FaceTimeline {
        let mut t = FaceTimeline::new(STEP);
        for k in 0..30 {
            t.outgoing(speaking(k * STEP)).unwrap();
        }
        t.audio_sent(sent);
        t
    }

    #[test]
    fn frames_are_numbered_in_send_order() {
        let mut t = FaceTimeline::new(STEP);
        let seqs: Vec<u32> = (0..3)
            .map(|k| t.outgoing(speaking(k * STEP)).unwrap().seq)
            .collect();
        assert_eq!(seqs, [0, 1, 2]);
    }

    #[test]
    fn a_pause_closes_the_mouth_and_its_end_moves_the_unsent_frames_onto_their_audio() {
        let mut t = timeline_with_a_clause_sent_up_to(16_000);
        // The rest goes out at once, newer than every frame sent, head kept where it was.
        let rest = t.paused(EPOCH, 16_000, 48_000).expect("frames were ahead");
        assert!(t.is_paused());
        assert_eq!((rest.sample_pos, rest.seq), (16_000, 30));
        assert_eq!(rest.values[CurveIndex::JAW_OPEN], 0.0);
        assert_eq!(rest.values[CurveIndex::HEAD_YAW], 0.1);

        // 12 silent packets of 20 ms went out: the queue now ends 11_520 samples later.
        let r = t.resumed(48_000 + 11_520);
        assert!(!t.is_paused());
        let shift = r.shift.unwrap();
        assert_eq!(
            (shift.from, shift.until, shift.by),
            (16_000, 48_000, 11_520)
        );
        // Still at rest one frame before the speech resumes...
        let rest = r.rest.expect("a pause longer than a frame");
        assert_eq!(rest.sample_pos, 16_000 + 11_520 - STEP);
        assert_eq!(rest.values[CurveIndex::JAW_OPEN], 0.0);
        // ...then frames 10..30 (audio at 16_000 and later) again, 11_520 samples later,
        // numbered after everything before.
        let moved: Vec<u64> = r.moved.iter().map(|f| f.sample_pos).collect();
        let expected: Vec<u64> = (10..30).map(|k| k * STEP + 11_520).collect();
        assert_eq!(moved, expected);
        let seqs: Vec<u32> = r.moved.iter().map(|f| f.seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs[0] == 32);
        assert!(
            r.moved
                .iter()
                .all(|f| f.values[CurveIndex::JAW_OPEN] == 0.5)
        );
    }

    #[test]
    fn frames_for_the_paused_audio_wait_for_the_pause_to_end() {
        let mut t = timeline_with_a_clause_sent_up_to(16_000);
        t.paused(EPOCH, 16_000, 48_000);
        // The engine delivers a late frame of the paused clause, and one of audio already sent.
        assert!(
            t.outgoing(speaking(46_400)).is_none(),
            "held: where it plays is not known yet"
        );
        assert_eq!(t.outgoing(speaking(14_400)).unwrap().sample_pos, 14_400);
        let r = t.resumed(48_000 + 4_800);
        let deferred: Vec<u64> = r.deferred.iter().map(|f| f.sample_pos).collect();
        assert_eq!(deferred, [46_400 + 4_800]);
        assert!(r.deferred[0].seq > r.moved.last().unwrap().seq);
    }

    #[test]
    fn frames_passing_after_a_pause_are_restamped_only_if_their_audio_was_queued_then() {
        let mut t = timeline_with_a_clause_sent_up_to(16_000);
        t.paused(EPOCH, 16_000, 48_000);
        t.resumed(48_000 + 9_600);
        // A late frame of the old clause moves; one of a clause queued after the pause
        // (queued at 57_600 or later) and one of another turn do not.
        let pos = |f: Option<FaceFrame>| f.unwrap().sample_pos;
        assert_eq!(pos(t.outgoing(speaking(40_000))), 49_600);
        assert_eq!(pos(t.outgoing(speaking(57_600))), 57_600);
        let mut other = speaking(40_000);
        other.epoch = EPOCH + 1;
        assert_eq!(pos(t.outgoing(other)), 40_000);
        assert_eq!(t.restamp(EPOCH, 20_000), 29_600);
    }

    #[test]
    fn two_pauses_add_up() {
        let mut t = timeline_with_a_clause_sent_up_to(8_000);
        t.paused(EPOCH, 8_000, 48_000);
        t.resumed(48_000 + 4_800); // audio queued at 8_000.. now at 12_800..52_800
        t.audio_sent(20_000);
        t.paused(EPOCH, 20_000, 52_800);
        let r = t.resumed(52_800 + 4_800);
        // Queued at 40_000: +4_800 (first pause), then +4_800 again (still unsent).
        assert_eq!(t.restamp(EPOCH, 40_000), 49_600);
        // Queued at 9_600: moved to 14_400 by the first pause, sent before the second.
        assert_eq!(t.restamp(EPOCH, 9_600), 14_400);
        assert!(r.moved.iter().all(|f| f.sample_pos >= 20_000 + 4_800));
    }

    #[test]
    fn a_barge_in_or_an_empty_queue_moves_nothing() {
        let mut t = timeline_with_a_clause_sent_up_to(16_000);
        t.paused(EPOCH, 16_000, 48_000);
        t.interrupted();
        assert!(!t.is_paused());
        assert!(t.resumed(60_000).shift.is_none());
        assert_eq!(t.restamp(EPOCH, 20_000), 20_000);

        let mut idle = FaceTimeline::new(STEP);
        assert!(
            idle.paused(EPOCH, 5_000, 5_000).is_none(),
            "no frames: nothing to rest"
        );
        let r = idle.resumed(9_800);
        assert!(r.shift.is_none() && r.rest.is_none() && r.moved.is_empty());
    }

    #[test]
    fn remembering_is_bounded() {
        let mut t = FaceTimeline::new(STEP);
        for k in 0..(MAX_AHEAD as u64 + 100) {
            t.outgoing(speaking(k * STEP)).unwrap();
        }
        assert_eq!(t.ahead.len(), MAX_AHEAD);
        assert_eq!(t.ahead.front().unwrap().sample_pos, 100 * STEP);
    }
}
