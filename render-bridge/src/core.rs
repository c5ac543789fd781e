//! The bridge's sans-IO core: per-subject state and the rules that decide, for each arriving
//! face frame, whether it is emitted now, and for each subject that has gone silent, which
//! eased frames bring it to neutral.
//!
//! It takes `now` as an argument and never touches a socket or a clock, so tests drive it in
//! virtual time. The I/O loop ([`crate::ingest`]) calls [`BridgeCore::ingest`]
//! for every datagram and emits what comes back at once (no added tick latency), and calls
//! [`BridgeCore::poll`] every [`BridgeCore::poll_interval`] for the slow-freeze frames.
//!
//! Rules, per subject:
//! - **Epochs.** A frame of an older epoch than the subject's is dropped; a newer epoch is
//!   adopted at once. Within an epoch, a sequence number not after the last one is dropped (UDP
//!   reordering would otherwise jerk the face backwards). A frame of another session on the
//!   same subject starts the subject afresh.
//! - **Lag.** The audio clock is the only face clock: the first frame of an epoch anchors
//!   "sample position P arrived at instant T". A later frame's lateness is how much later it
//!   arrived than the audio clock says it should; beyond `drop_if_lag` it is dropped (after a
//!   network stall, the backlog is stale). A frame that arrives early re-anchors. If frames
//!   stay late for [`REANCHOR_AFTER_LATE`], the path has changed for good and the anchor moves.
//! - **Slow-freeze.** After `stall` without frames the subject eases from its last pose to
//!   neutral over `slow_freeze`, then emits nothing more; after `subject_idle` it is forgotten.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use goassist_protocol::FaceFrame;
use goassist_protocol::arkit::ARKIT_COUNT;

use crate::config::{BridgeConfig, subject_name};

/// How long frames may stay late before the lag anchor follows them.
pub const REANCHOR_AFTER_LATE: Duration = Duration::from_millis(500);
/// Most subjects held at once; frames for more are dropped (a garbage sender must not grow
/// memory without bound).
pub const MAX_SUBJECTS: usize = 4_096;

/// The audio clock's rate.
const SAMPLE_RATE: f64 = 48_000.0;

/// The part of the configuration the core uses.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Subject name pattern ({avatar}, {session}).
    pub subject_pattern: String,
    /// Ease-to-neutral time.
    pub slow_freeze: Duration,
    /// Lateness beyond which frames are dropped.
    pub drop_if_lag: Duration,
    /// Silence that starts the freeze.
    pub stall: Duration,
    /// Silence after which a quiet subject is forgotten.
    pub subject_idle: Duration,
    /// Rate of freeze frames.
    pub fps: u32,
}

impl From<&BridgeConfig> for CoreSettings {
    fn from(c: &BridgeConfig) -> Self {
        CoreSettings {
            subject_pattern: c.subject_pattern.clone(),
            slow_freeze: c.slow_freeze,
            drop_if_lag: c.drop_if_lag,
            stall: c.stall,
            subject_idle: c.subject_idle,
            fps: c.livelink_fps,
        }
    }
}

/// Why a frame was not emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its epoch is older than the subject's.
    StaleEpoch,
    /// Its sequence number is not after the last emitted one.
    OutOfOrder,
    /// It arrived later than `drop_if_lag` behind its audio clock.
    Lag,
    /// [`MAX_SUBJECTS`] subjects exist already.
    SubjectLimit,
}

impl DropReason {
    /// All reasons, for metric label pre-registration.
    pub const ALL: [DropReason; 4] = [
        DropReason::StaleEpoch,
        DropReason::OutOfOrder,
        DropReason::Lag,
        DropReason::SubjectLimit,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::StaleEpoch => "stale_epoch",
            DropReason::OutOfOrder => "out_of_order",
            DropReason::Lag => "lag",
            DropReason::SubjectLimit => "subject_limit",
        }
    }
}

/// What produced an emission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmissionKind {
    /// An arriving frame, passed through.
    Live,
    /// An eased frame on the way to neutral.
    Freeze,
    /// The final neutral frame; the subject goes quiet after it.
    Neutral,
}

/// A frame to send to every output now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Emission<'a> {
    /// Live Link subject name.
    pub subject: &'a str,
    /// Avatar id of the stream.
    pub avatar_id: u32,
    /// Session id of the stream.
    pub session_id: u64,
    /// Turn epoch.
    pub epoch: u32,
    /// The bridge's own per-subject counter of emissions (freeze frames included), so that a
    /// receiver's reorder check accepts them.
    pub out_seq: u32,
    /// Audio clock position of the pose.
    pub sample_pos: u64,
    /// The 61 values, Unreal order.
    pub values: &'a [f32; ARKIT_COUNT],
    /// Live, easing or final neutral.
    pub kind: EmissionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SubjectKey {
    avatar: u32,
    /// The session when the pattern names sessions, else 0 (sessions share the avatar).
    session: u64,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    arrival: Instant,
    sample_pos: u64,
}

// One per subject, stored inline and never moved in bulk: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Phase {
    Live,
    Freezing {
        started: Instant,
        from: [f32; ARKIT_COUNT],
    },
    Quiet,
}

#[derive(Debug, Clone)]
struct Subject {
    name: String,
    session: u64,
    avatar: u32,
    epoch: u32,
    last_seq: u32,
    out_seq: u32,
    values: [f32; ARKIT_COUNT],
    last_sample_pos: u64,
    last_arrival: Instant,
    anchor: Anchor,
    late_since: Option<Instant>,
    phase: Phase,
}

/// Counters the core keeps for the metrics layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Slow-freezes started.
    pub freezes: u64,
    /// Subjects forgotten after idling.
    pub evicted: u64,
    /// Subjects created.
    pub created: u64,
}

/// Per-subject state and rules. See the module docs.
#[derive(Debug)]
pub struct BridgeCore {
    settings: CoreSettings,
    per_session: bool,
    subjects: HashMap<SubjectKey, Subject>,
    stats: CoreStats,
}

impl BridgeCore {
    /// A core with no subjects.
    pub fn new(settings: CoreSettings) -> Self {
        BridgeCore {
            per_session: settings.subject_pattern.contains("{session}"),
            settings,
            subjects: HashMap::new(),
            stats: CoreStats::default(),
        }
    }

    /// How often [`BridgeCore::poll`] should run: one freeze frame per output frame.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(1) / self.settings.fps.max(1)
    }

    /// Subjects that are live or easing (not quiet).
    pub fn active_subjects(&self) -> usize {
        self.subjects
            .values()
            .filter(|s| !matches!(s.phase, Phase::Quiet))
            .count()
    }

    /// Subjects held, quiet ones included.
    pub fn known_subjects(&self) -> usize {
        self.subjects.len()
    }

    /// Counters since start.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// Decides about one arriving frame for `avatar_id`; an `Ok` is to be emitted now.
    pub fn ingest(
        &mut self,
        now: Instant,
        avatar_id: u32,
        frame: &FaceFrame,
    ) -> Result<Emission<'_>, DropReason> {
        let key = SubjectKey {
            avatar: avatar_id,
            session: if self.per_session {
                frame.session_id
            } else {
                0
            },
        };
        if !self.subjects.contains_key(&key) {
            if self.subjects.len() >= MAX_SUBJECTS {
                return Err(DropReason::SubjectLimit);
            }
            let name = subject_name(&self.settings.subject_pattern, avatar_id, frame.session_id);
            self.subjects
                .insert(key, Subject::new(name, avatar_id, now, frame));
            self.stats.created += 1;
        }
        let drop_if_lag = self.settings.drop_if_lag;
        // Present: inserted above if it was missing.
        let Some(subject) = self.subjects.get_mut(&key) else {
            return Err(DropReason::SubjectLimit);
        };
        subject.accept(now, frame, drop_if_lag)?;
        Ok(subject.emission(EmissionKind::Live))
    }

    /// Advances slow-freezes and forgets idle subjects; calls `emit` for each eased frame.
    pub fn poll(&mut self, now: Instant, mut emit: impl FnMut(Emission<'_>)) {
        let s = &self.settings;
        let mut evict = Vec::new();
        for (key, subject) in &mut self.subjects {
            let silent_for = now.saturating_duration_since(subject.last_arrival);
            match subject.phase {
                Phase::Live if silent_for >= s.stall => {
                    self.stats.freezes += 1;
                    subject.phase = Phase::Freezing {
                        started: now,
                        from: subject.values,
                    };
                    subject.ease(now, s.slow_freeze, &mut emit);
                }
                Phase::Freezing { .. } => subject.ease(now, s.slow_freeze, &mut emit),
                Phase::Quiet if silent_for >= s.subject_idle => evict.push(*key),
                _ => {}
            }
        }
        for key in evict {
            self.subjects.remove(&key);
            self.stats.evicted += 1;
        }
    }
}

impl Subject {
    fn new(name: String, avatar: u32, now: Instant, frame: &FaceFrame) -> Self {
        Subject {
            name,
            session: frame.session_id,
            avatar,
            epoch: frame.epoch,
            // So that the first frame's sequence number counts as "after".
            last_seq: frame.seq.wrapping_sub(1),
            out_seq: 0,
            values: [0.0; ARKIT_COUNT],
            last_sample_pos: frame.sample_pos,
            last_arrival: now,
            anchor: Anchor {
                arrival: now,
                sample_pos: frame.sample_pos,
            },
            late_since: None,
            phase: Phase::Live,
        }
    }

    /// Applies the epoch, order and lag rules; on success the frame is the subject's pose.
    fn accept(
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
        self.values = frame.values;
        self.last_sample_pos = frame.sample_pos;
        self.last_arrival = now;
        self.phase = Phase::Live;
        self.out_seq = self.out_seq.wrapping_add(1);
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

    /// Emits the next eased pose (or the final neutral one).
    fn ease(&mut self, now: Instant, over: Duration, emit: &mut impl FnMut(Emission<'_>)) {
        let Phase::Freezing { started, from } = self.phase else {
            return;
        };
        let elapsed = now.saturating_duration_since(started);
        // The audio clock keeps running while the face settles.
        let silent = now.saturating_duration_since(self.last_arrival);
        let sample_pos = self.last_sample_pos + (silent.as_secs_f64() * SAMPLE_RATE) as u64;
        let t = if over.is_zero() {
            1.0
        } else {
            (elapsed.as_secs_f64() / over.as_secs_f64()).min(1.0)
        };
        let keep = 1.0 - smoothstep(t) as f32;
        for (v, f) in self.values.iter_mut().zip(from.iter()) {
            *v = f * keep;
        }
        let kind = if t >= 1.0 {
            self.values = [0.0; ARKIT_COUNT];
            self.phase = Phase::Quiet;
            EmissionKind::Neutral
        } else {
            EmissionKind::Freeze
        };
        self.out_seq = self.out_seq.wrapping_add(1);
        let mut e = self.emission(kind);
        e.sample_pos = sample_pos;
        emit(e);
    }

    fn emission(&self, kind: EmissionKind) -> Emission<'_> {
        Emission {
            subject: &self.name,
            avatar_id: self.avatar,
            session_id: self.session,
            epoch: self.epoch,
            out_seq: self.out_seq,
            sample_pos: self.last_sample_pos,
            values: &self.values,
            kind,
        }
    }
}

/// Ease-in-out: starts and ends gently so the face neither snaps nor stops abruptly.
fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CoreSettings {
        CoreSettings {
            subject_pattern: "GoAssist_{avatar}".into(),
            slow_freeze: Duration::from_millis(300),
            drop_if_lag: Duration::from_millis(150),
            stall: Duration::from_millis(100),
            subject_idle: Duration::from_secs(60),
            fps: 60,
        }
    }

    fn frame(epoch: u32, seq: u32, jaw: f32) -> FaceFrame {
        let mut f = FaceFrame::neutral(5, epoch, seq, u64::from(seq) * 800);
        f.values[17] = jaw;
        f
    }

    const FRAME: Duration = Duration::from_micros(16_667);

    #[test]
    fn frames_pass_through_on_arrival() {
        let mut core = BridgeCore::new(settings());
        let t0 = Instant::now();
        let e = core.ingest(t0, 2, &frame(1, 0, 0.5)).unwrap();
        assert_eq!(e.subject, "GoAssist_2");
        assert_eq!(e.values[17], 0.5);
        assert_eq!((e.kind, e.out_seq), (EmissionKind::Live, 1));
        let e = core.ingest(t0 + FRAME, 2, &frame(1, 1, 0.6)).unwrap();
        assert_eq!((e.values[17], e.out_seq, e.sample_pos), (0.6, 2, 800));
        assert_eq!(core.active_subjects(), 1);
    }

    #[test]
    fn old_epochs_and_reordered_frames_are_dropped() {
        let mut core = BridgeCore::new(settings());
        let t0 = Instant::now();
        core.ingest(t0, 0, &frame(3, 10, 0.1)).unwrap();
        assert_eq!(
            core.ingest(t0, 0, &frame(2, 11, 0.1)).unwrap_err(),
            DropReason::StaleEpoch
        );
        assert_eq!(
            core.ingest(t0, 0, &frame(3, 10, 0.1)).unwrap_err(),
            DropReason::OutOfOrder
        );
        assert_eq!(
            core.ingest(t0, 0, &frame(3, 9, 0.1)).unwrap_err(),
            DropReason::OutOfOrder
        );
        // A new epoch is adopted even with a lower sequence number and clock position.
        let e = core.ingest(t0 + FRAME, 0, &frame(4, 0, 0.9)).unwrap();
        assert_eq!((e.epoch, e.values[17]), (4, 0.9));
        // A new session on the same avatar starts afresh, whatever its epoch.
        let mut other = frame(1, 0, 0.2);
        other.session_id = 6;
        assert_eq!(core.ingest(t0 + FRAME * 2, 0, &other).unwrap().epoch, 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut core = BridgeCore::new(settings());
        let t0 = Instant::now();
        core.ingest(t0, 0, &frame(1, u32::MAX, 0.1)).unwrap();
        let mut f = frame(1, 0, 0.1);
        f.sample_pos = u64::from(u32::MAX) * 800 + 800;
        assert!(core.ingest(t0 + FRAME, 0, &f).is_ok());
    }

    #[test]
    fn a_stale_backlog_after_a_stall_is_dropped_then_fresh_frames_flow() {
        let mut core = BridgeCore::new(settings());
        let t0 = Instant::now();
        for seq in 0..10 {
            core.ingest(t0 + FRAME * seq, 0, &frame(1, seq, 0.1))
                .unwrap();
        }
        // The network stalls 400 ms; frames 10..34 then arrive in a burst.
        let burst_at = t0 + FRAME * 10 + Duration::from_millis(400);
        let mut passed = 0;
        for seq in 10..35 {
            if core.ingest(burst_at, 0, &frame(1, seq, 0.1)).is_ok() {
                passed += 1;
            }
        }
        // Frames whose audio time is within 150 ms of now pass; older ones are dropped.
        assert!((8..=10).contains(&passed), "{passed} passed");
        assert_eq!(
            core.ingest(burst_at, 0, &frame(1, 35, 0.1)).map(|_| ()),
            Ok(()),
            "on-time frames flow"
        );
    }

    #[test]
    fn a_persistent_delay_is_adopted_after_half_a_second() {
        let mut s = settings();
        s.stall = Duration::from_secs(10);
        let mut core = BridgeCore::new(s);
        let t0 = Instant::now();
        core.ingest(t0, 0, &frame(1, 0, 0.1)).unwrap();
        // From now on every frame arrives 300 ms late.
        let delay = Duration::from_millis(300);
        let mut first_ok = None;
        for seq in 1..120 {
            let at = t0 + FRAME * seq + delay;
            if core.ingest(at, 0, &frame(1, seq, 0.1)).is_ok() && first_ok.is_none() {
                first_ok = Some(seq);
            }
        }
        let seq = first_ok.expect("stream resumed");
        let resumed_after = FRAME * seq + delay;
        assert!(
            resumed_after >= REANCHOR_AFTER_LATE && resumed_after < Duration::from_secs(1),
            "{resumed_after:?}"
        );
    }

    #[test]
    fn silence_eases_to_neutral_then_goes_quiet() {
        let mut core = BridgeCore::new(settings());
        let t0 = Instant::now();
        core.ingest(t0, 0, &frame(1, 0, 0.8)).unwrap();
        let mut emitted: Vec<(Duration, EmissionKind, f32)> = Vec::new();
        let mut now = t0;
        while now < t0 + Duration::from_secs(1) {
            now += core.poll_interval();
            core.poll(now, |e| emitted.push((now - t0, e.kind, e.values[17])));
        }
        assert_eq!(core.stats().freezes, 1);
        let first = emitted.first().unwrap();
        assert!(
            first.0 >= Duration::from_millis(100),
            "freeze starts after the stall"
        );
        assert!(first.2 > 0.79, "eases, does not snap: {}", first.2);
        let last = emitted.last().unwrap();
        assert_eq!((last.1, last.2), (EmissionKind::Neutral, 0.0));
        assert!(
            last.0 <= Duration::from_millis(100 + 300 + 40),
            "{:?}",
            last.0
        );
        let jaws: Vec<f32> = emitted.iter().map(|e| e.2).collect();
        assert!(jaws.windows(2).all(|w| w[1] <= w[0]), "monotone: {jaws:?}");
        assert_eq!(core.active_subjects(), 0);
        assert_eq!(core.known_subjects(), 1);
        // A frame brings it back to life.
        let e = core.ingest(now, 0, &frame(1, 60, 0.3)).unwrap();
        assert_eq!(e.kind, EmissionKind::Live);
        assert_eq!(core.active_subjects(), 1);
    }

    #[test]
    fn zero_freeze_time_snaps_to_neutral() {
        let mut s = settings();
        s.slow_freeze = Duration::ZERO;
        let mut core = BridgeCore::new(s);
        let t0 = Instant::now();
        core.ingest(t0, 0, &frame(1, 0, 0.8)).unwrap();
        let mut kinds = Vec::new();
        core.poll(t0 + Duration::from_millis(150), |e| kinds.push(e.kind));
        assert_eq!(kinds, vec![EmissionKind::Neutral]);
    }

    #[test]
    fn idle_subjects_are_forgotten() {
        let mut s = settings();
        s.subject_idle = Duration::from_secs(2);
        let mut core = BridgeCore::new(s);
        let t0 = Instant::now();
        core.ingest(t0, 0, &frame(1, 0, 0.8)).unwrap();
        core.poll(t0 + Duration::from_millis(500), |_| {});
        core.poll(t0 + Duration::from_millis(900), |_| {});
        core.poll(t0 + Duration::from_secs(3), |_| {});
        assert_eq!(core.known_subjects(), 0);
        assert_eq!(core.stats().evicted, 1);
    }

    #[test]
    fn subjects_per_session_when_the_pattern_says_so() {
        let mut s = settings();
        s.subject_pattern = "A{avatar}_S{session}".into();
        let mut core = BridgeCore::new(s);
        let t0 = Instant::now();
        let mut a = frame(1, 0, 0.1);
        a.session_id = 0x10;
        let mut b = frame(1, 0, 0.1);
        b.session_id = 0x11;
        assert_eq!(core.ingest(t0, 1, &a).unwrap().subject, "A1_S10");
        assert_eq!(core.ingest(t0, 1, &b).unwrap().subject, "A1_S11");
        assert_eq!(core.active_subjects(), 2);
    }

    #[test]
    fn the_subject_table_is_bounded() {
        let mut core = BridgeCore::new(settings());
        let t0 = Instant::now();
        for avatar in 0..MAX_SUBJECTS as u32 {
            core.ingest(t0, avatar, &frame(1, 0, 0.1)).unwrap();
        }
        assert_eq!(
            core.ingest(t0, u32::MAX, &frame(1, 0, 0.1)).unwrap_err(),
            DropReason::SubjectLimit
        );
    }
}
