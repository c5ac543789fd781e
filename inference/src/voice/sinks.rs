//! What consumes the assistant's output: the WebRTC audio track, the face data channel, the
//! face engine and the render-bridge feed, behind one trait.
//!
//! LiveKit Agents' `AudioOutput` is the model: a sink captures queued audio, is cleared on an
//! interruption and learns the playback position. The session core tells every sink the same
//! things in one loop ([`Sinks::each`]), so a barge-in or a send-position update is not four
//! copies of the same call. All sinks are sans-IO: what they want sent goes to the core's
//! [`Outputs`] lanes.

use std::sync::Arc;
use std::time::Instant;

use goassist_protocol::FaceFrame;

use super::core::{FaceCommand, Outputs};
use crate::face::FaceTimeline;
use crate::media::PacedAudio;
use crate::render_link::BridgeFeed;

/// A clause's audio as queued on the outgoing clock.
#[derive(Debug, Clone)]
pub struct QueuedClause {
    /// The turn.
    pub epoch: u32,
    /// Where its first sample plays on the outgoing 48 kHz clock.
    pub start_pos: u64,
    /// Mono 48 kHz samples.
    pub audio: Arc<[f32]>,
    /// IPA phonemes spoken, for text-side visemes.
    pub phonemes: Vec<String>,
}

/// A consumer of the assistant's output.
pub trait OutputSink {
    /// A clause's audio was queued at `clause.start_pos`.
    fn capture(&mut self, clause: &QueuedClause, out: &mut Outputs);
    /// Audio before `end` has gone out (`now`): the playback position.
    fn played(&mut self, end: u64, now: Instant, out: &mut Outputs);
    /// A barge-in: nothing older than `new_epoch` may be output any more.
    fn clear(&mut self, new_epoch: u32, out: &mut Outputs);
}

/// The WebRTC audio track: queued clauses become packets on the outgoing clock (the core
/// queues the samples itself, since the position they get is what every other sink needs).
impl OutputSink for PacedAudio {
    fn capture(&mut self, _clause: &QueuedClause, _out: &mut Outputs) {}

    fn played(&mut self, _end: u64, _now: Instant, _out: &mut Outputs) {}

    fn clear(&mut self, new_epoch: u32, _out: &mut Outputs) {
        self.interrupt(new_epoch);
    }
}

/// The face data channel: frames go out numbered and re-stamped across pauses.
impl OutputSink for FaceTimeline {
    fn capture(&mut self, _clause: &QueuedClause, _out: &mut Outputs) {}

    fn played(&mut self, end: u64, _now: Instant, _out: &mut Outputs) {
        self.audio_sent(end);
    }

    fn clear(&mut self, _new_epoch: u32, _out: &mut Outputs) {
        self.interrupted();
    }
}

/// The render-bridge feed (Profile C): frames released as their audio goes out.
impl OutputSink for BridgeFeed {
    fn capture(&mut self, clause: &QueuedClause, _out: &mut Outputs) {
        self.clause_queued(clause.epoch, clause.start_pos, &clause.audio);
    }

    fn played(&mut self, end: u64, now: Instant, _out: &mut Outputs) {
        self.audio_sent(end, now);
    }

    fn clear(&mut self, _new_epoch: u32, _out: &mut Outputs) {
        self.interrupt();
    }
}

/// The face engine: animates queued audio, follows the playback position.
#[derive(Debug, Default)]
pub struct FaceEngine;

impl OutputSink for FaceEngine {
    fn capture(&mut self, clause: &QueuedClause, out: &mut Outputs) {
        out.face(FaceCommand::Segment {
            epoch: clause.epoch,
            audio: clause.audio.clone(),
            start_pos: clause.start_pos,
            phonemes: clause.phonemes.clone(),
        });
    }

    fn played(&mut self, end: u64, _now: Instant, out: &mut Outputs) {
        out.face(FaceCommand::SendPosition(end));
    }

    fn clear(&mut self, new_epoch: u32, out: &mut Outputs) {
        out.face(FaceCommand::Interrupt(new_epoch));
    }
}

/// Every sink of one session.
pub struct Sinks {
    /// The WebRTC audio track and the outgoing clock.
    pub audio: PacedAudio,
    /// The face data channel.
    pub face: FaceTimeline,
    /// The face engine, when the session has one.
    pub engine: Option<FaceEngine>,
    /// The render-bridge feed, when one is configured.
    pub bridge: Option<BridgeFeed>,
}

impl Sinks {
    /// Every sink, for a step they all take.
    pub fn each(&mut self) -> impl Iterator<Item = &mut dyn OutputSink> {
        let audio: &mut dyn OutputSink = &mut self.audio;
        let face: &mut dyn OutputSink = &mut self.face;
        let engine = self.engine.as_mut().map(|s| s as &mut dyn OutputSink);
        let bridge = self.bridge.as_mut().map(|s| s as &mut dyn OutputSink);
        [Some(audio), Some(face), engine, bridge]
            .into_iter()
            .flatten()
    }

    /// A face frame for the client and, held until its audio goes out, for the bridge.
    pub fn face_frame(&mut self, frame: FaceFrame, out: &mut Outputs) {
        out.face_frame(frame.clone());
        if let Some(bridge) = &mut self.bridge {
            bridge.offer(frame);
        }
    }
}
