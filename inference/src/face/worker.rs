//! A session's face worker: turns queued segments into speech frames through the primary
//! engine (or the fallback once the primary failed), and fills the time between with idle
//! frames while listening and slow eases to neutral when frames stop.
//!
//! Loop: wait for a command at most half a frame period, handle it, then `tick` (emit the idle
//! and ease frames whose time has come on the estimated audio clock).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use goassist_engines::face::freeze::SlowFreeze;
use goassist_engines::face::idle::IdleFace;
use goassist_engines::face::{FaceValues, NEUTRAL, sanitize};
use goassist_protocol::FaceFrame;

use super::engine_runner::{EngineRunner, SegmentFrames};
use super::lag_gate::{LagGate, LagVerdict};
use super::metrics::{FailureKind, FrameDrop};
use super::service::{ServiceShared, SessionShared};
use crate::config::{AnimationEngineKind, AnimationFallback};

/// What the control handle asks of the worker.
pub(crate) enum Command {
    Segment {
        epoch: u32,
        audio: Arc<[f32]>,
        start_pos: u64,
        phonemes: Arc<[String]>,
    },
    Interrupt,
    Listening(bool),
    Close,
}

/// Which engine animates speech for this session.
enum Stage {
    /// Not started yet (engines are built on the first segment).
    Unstarted,
    Primary(EngineRunner),
    Fallback(EngineRunner),
    /// Neither engine is usable: speech gets no frames, the face rests. Retried from the
    /// primary once `FaceSettings::engine_retry_after` has passed.
    NoEngine {
        since: Instant,
    },
}

pub(crate) struct Worker {
    session_id: u64,
    service: Arc<ServiceShared>,
    session: Arc<SessionShared>,
    out: tokio::sync::mpsc::Sender<FaceFrame>,
    stage: Stage,
    interval: u64,
    gate: LagGate,
    seq: u32,
    idle: IdleFace,
    listening: bool,
    was_enabled: bool,
    /// The last pose sent and its position.
    last_pose: FaceValues,
    last_pos: Option<u64>,
    /// End of the last animated segment, when an ease should follow once it has played.
    speech_end: Option<u64>,
    freeze: Option<SlowFreeze>,
    /// Next position for an idle or ease frame.
    ambient_next: Option<u64>,
}

impl Worker {
    pub fn new(
        session_id: u64,
        service: Arc<ServiceShared>,
        session: Arc<SessionShared>,
        out: tokio::sync::mpsc::Sender<FaceFrame>,
    ) -> Self {
        let settings = &service.settings;
        Worker {
            session_id,
            interval: settings.frame_interval(),
            gate: LagGate::new(settings.drop_if_lag_ms),
            idle: IdleFace::new(session_id ^ 0x5EED_F00D),
            was_enabled: service.enabled.load(Ordering::SeqCst),
            service,
            session,
            out,
            stage: Stage::Unstarted,
            seq: 0,
            listening: false,
            last_pose: NEUTRAL,
            last_pos: None,
            speech_end: None,
            freeze: None,
            ambient_next: None,
        }
    }

    pub fn run(mut self, commands: Receiver<Command>) {
        crate::priority::lower_current_thread(crate::priority::FACE_THREAD_NICE);
        let tick = Duration::from_micros(self.interval * 1_000_000 / 48_000 / 2);
        loop {
            match commands.recv_timeout(tick) {
                Ok(Command::Close) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.out.is_closed() {
                break;
            }
            self.tick(Instant::now());
        }
        tracing::debug!(session = self.session_id, "face worker ended");
    }

    fn enabled(&self) -> bool {
        self.service.enabled.load(Ordering::SeqCst)
    }

    fn epoch(&self) -> u32 {
        self.session.epoch.load(Ordering::SeqCst)
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Segment {
                epoch,
                audio,
                start_pos,
                phonemes,
            } => {
                self.session.queued_segments.fetch_sub(1, Ordering::SeqCst);
                if epoch < self.epoch() {
                    self.service.metrics.segment_dropped("stale_epoch");
                } else if !self.enabled() {
                    self.service.metrics.segment_dropped("disabled");
                } else {
                    self.animate(epoch, audio, start_pos, phonemes);
                }
            }
            Command::Interrupt => {
                if let Stage::Primary(r) | Stage::Fallback(r) = &mut self.stage {
                    r.reset();
                }
                self.speech_end = None;
                let now = self.session.clock.estimate(Instant::now());
                self.start_freeze(now.or(self.last_pos.map(|p| p + self.interval)));
            }
            Command::Listening(on) => self.listening = on,
            Command::Close => {}
        }
    }

    /// Builds the engines on first use.
    fn ensure_started(&mut self) {
        if !matches!(self.stage, Stage::Unstarted) {
            return;
        }
        let kind = self.service.settings.engine;
        self.stage = match self.build(kind) {
            Ok(runner) => Stage::Primary(runner),
            Err(reason) => {
                self.service
                    .metrics
                    .engine_failed(engine_name(kind), FailureKind::Error);
                self.service
                    .record_failure(format!("{} failed to start: {reason}", engine_name(kind)));
                self.fallback_stage()
            }
        };
    }

    fn build(&self, kind: AnimationEngineKind) -> Result<EngineRunner, String> {
        let engine = (self.service.factory)(kind).map_err(|e| e.to_string())?;
        EngineRunner::spawn(engine_name(kind), engine).map_err(|e| e.to_string())
    }

    /// The stage after the primary failed: the fallback engine, or none.
    fn fallback_stage(&mut self) -> Stage {
        match self.service.settings.fallback {
            AnimationFallback::None => Stage::NoEngine {
                since: Instant::now(),
            },
            AnimationFallback::Lam => match self.build(AnimationEngineKind::Lam) {
                Ok(runner) => {
                    self.service.metrics.fallback_switched();
                    tracing::warn!(
                        session = self.session_id,
                        "face switched to the lam fallback"
                    );
                    Stage::Fallback(runner)
                }
                Err(reason) => {
                    self.service
                        .metrics
                        .engine_failed("lam", FailureKind::Error);
                    self.service
                        .record_failure(format!("lam fallback failed to start: {reason}"));
                    Stage::NoEngine {
                        since: Instant::now(),
                    }
                }
            },
        }
    }

    fn animate(&mut self, epoch: u32, audio: Arc<[f32]>, start_pos: u64, phonemes: Arc<[String]>) {
        if let Stage::NoEngine { since } = self.stage
            && since.elapsed() >= self.service.settings.engine_retry_after
        {
            tracing::info!(session = self.session_id, "face engines retried");
            self.stage = Stage::Unstarted;
        }
        self.ensure_started();
        let now = Instant::now();
        let end = start_pos + audio.len() as u64;
        if self.speech_end != Some(start_pos) {
            // A new stretch of speech: unless the voice loop reports positions, assume its
            // first sample goes out now.
            self.session.clock.anchor_if_unreported(start_pos, now);
        }
        // An engine slower than twice real time is stalled; short of that, frames that come
        // too late for their audio are dropped one by one by the lag gate. (The engine threads
        // run at low priority, so a busy machine slows them first: visuals go before audio.)
        let deadline = self.service.settings.deadline
            + Duration::from_secs_f64(audio.len() as f64 / 48_000.0 / 2.0);
        let mut frames: Option<SegmentFrames> = None;
        // At most two tries: the current engine, then (if it was the primary) the fallback.
        for _ in 0..2 {
            let (runner, is_primary) = match &mut self.stage {
                Stage::Primary(r) => (r, true),
                Stage::Fallback(r) => (r, false),
                Stage::Unstarted | Stage::NoEngine { .. } => break,
            };
            match runner.animate(audio.clone(), start_pos, phonemes.clone(), deadline) {
                Ok(f) => {
                    frames = Some(f);
                    break;
                }
                Err(failure) => {
                    let name = runner.name();
                    self.service.metrics.engine_failed(name, failure.kind());
                    self.service.record_failure(format!("{name} {failure}"));
                    self.stage = if is_primary {
                        self.fallback_stage()
                    } else {
                        Stage::NoEngine {
                            since: Instant::now(),
                        }
                    };
                }
            }
        }
        match frames {
            Some(frames) if !frames.is_empty() => {
                self.freeze = None;
                for (pos, values) in frames {
                    self.emit(epoch, pos, values);
                }
                self.speech_end = Some(end);
                self.ambient_next = None;
            }
            Some(_) => {}
            None => {
                // No engine could animate it: the face eases to neutral and voice goes on. If
                // earlier speech frames are still to play, the ease follows them (see `tick`).
                if self.speech_end.is_none() {
                    let at = self.session.clock.estimate(now).unwrap_or(start_pos);
                    self.start_freeze(Some(at));
                }
            }
        }
    }

    /// Sends one frame unless it is stale, late or the queue is full.
    fn emit(&mut self, epoch: u32, pos: u64, mut values: FaceValues) {
        let metrics = &self.service.metrics;
        if epoch < self.epoch() {
            metrics.frame_dropped(FrameDrop::StaleEpoch);
            return;
        }
        if !self.enabled() {
            metrics.frame_dropped(FrameDrop::Disabled);
            return;
        }
        sanitize(&mut values);
        self.last_pose = values;
        self.last_pos = Some(pos);
        if let Some(send_pos) = self.session.clock.estimate(Instant::now())
            && let LagVerdict::Drop { .. } = self.gate.decide(pos, send_pos)
        {
            metrics.frame_dropped(FrameDrop::Late);
            return;
        }
        let frame = FaceFrame {
            session_id: self.session_id,
            epoch,
            seq: self.seq,
            sample_pos: pos,
            values,
        };
        self.seq = self.seq.wrapping_add(1);
        match self.out.try_send(frame) {
            Ok(()) => metrics.frame_produced(),
            Err(_) => metrics.frame_dropped(FrameDrop::QueueFull),
        }
    }

    /// Starts easing the last pose to neutral at `at` (if the face is not already at rest).
    fn start_freeze(&mut self, at: Option<u64>) {
        let Some(at) = at else { return };
        if self.last_pose.iter().all(|v| v.abs() < 1e-4) {
            self.freeze = None;
            return;
        }
        self.service.metrics.slow_freeze();
        self.freeze = Some(SlowFreeze::new(
            self.last_pose,
            at,
            self.service.settings.slow_freeze_ms,
        ));
        self.ambient_next = Some(at);
    }

    /// Emits the idle and ease frames due by now.
    fn tick(&mut self, now: Instant) {
        let enabled = self.enabled();
        let Some(clock) = self.session.clock.estimate(now) else {
            if self.listening && enabled {
                // Nothing sent yet: idle frames start on a clock anchored now at 0.
                self.session.clock.anchor_if_unreported(0, now);
            }
            return;
        };
        if self.was_enabled && !enabled {
            // Kill-switch: ease whatever the client shows to neutral. These frames bypass the
            // disabled check below so the face does not freeze mid-word.
            self.speech_end = None;
            self.start_freeze(Some(clock));
        }
        self.was_enabled = enabled;
        if let Some(end) = self.speech_end
            && clock >= end
        {
            // The last speech frame has played and nothing followed: ease to neutral.
            self.speech_end = None;
            let at = self.last_pos.map_or(end, |p| p + self.interval);
            self.start_freeze(Some(at));
        }
        if self.speech_end.is_some() {
            return; // speech frames cover the present
        }
        let mut next = self.ambient_next.unwrap_or(clock);
        if next + 4 * self.interval < clock {
            next = clock; // after a stall, do not burst a backlog of idle frames
        }
        while next <= clock + self.interval {
            let mut pose = NEUTRAL;
            let mut any = false;
            if let Some(freeze) = &self.freeze {
                match freeze.pose_at(next) {
                    Some(p) => {
                        pose = p;
                        any = true;
                    }
                    None => {
                        self.freeze = None;
                        self.last_pose = NEUTRAL;
                        if !self.listening || !enabled {
                            // One last neutral frame so every renderer lands exactly at rest.
                            self.emit_ambient(next, NEUTRAL);
                            next += self.interval;
                        }
                    }
                }
            }
            if self.listening && enabled {
                for (p, idle) in pose.iter_mut().zip(self.idle.pose_at(next)) {
                    *p += idle;
                }
                any = true;
            }
            if !any {
                self.ambient_next = None;
                return;
            }
            self.emit_ambient(next, pose);
            next += self.interval;
        }
        self.ambient_next = Some(next);
    }

    /// Idle and ease frames: current epoch; allowed while disabled only as the ease to rest.
    fn emit_ambient(&mut self, pos: u64, values: FaceValues) {
        if self.enabled() {
            self.emit(self.epoch(), pos, values);
            return;
        }
        let frame = FaceFrame {
            session_id: self.session_id,
            epoch: self.epoch(),
            seq: self.seq,
            sample_pos: pos,
            values,
        };
        self.seq = self.seq.wrapping_add(1);
        self.last_pose = values;
        self.last_pos = Some(pos);
        match self.out.try_send(frame) {
            Ok(()) => self.service.metrics.frame_produced(),
            Err(_) => self.service.metrics.frame_dropped(FrameDrop::QueueFull),
        }
    }
}

fn engine_name(kind: AnimationEngineKind) -> &'static str {
    match kind {
        AnimationEngineKind::Lam => "lam",
        AnimationEngineKind::Audio2Face => "audio2face",
    }
}
