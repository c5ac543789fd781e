//! One session's decisions, sans-IO: the conversation machine, the outgoing audio clock, the
//! face timeline, the render-bridge feed, clauses held while paused, the idle rule and the
//! latency bookkeeping.
//!
//! The str0m run loop, for a whole voice session: the I/O shell (`session.rs`) feeds
//! [`Input`]s with the current time ([`SessionCore::handle`]), calls
//! [`SessionCore::handle_timeout`] when [`SessionCore::poll_timeout`] says, and carries out every
//! [`Output`] from [`SessionCore::poll_output`]. The core never reads a clock, touches a socket
//! or runs a model, so tests drive whole conversations in virtual time.
//!
//! Outputs come in lanes, drained in this order: audio packets (the hard rule: nothing delays
//! the voice), the end of the session, engine requests, face-engine commands, data-channel
//! events, face frames, render-bridge frames, observations for the metrics, state changes.
//!
//! What the core decides beyond the [`Conversation`]:
//! - **the outgoing clock**: one packet per packet duration on a fixed grid
//!   ([`crate::media::PacedAudio`]); the first packet of an answer leaves at once;
//! - **clause order**: syntheses may finish in any order (the pool serves urgent work first);
//!   clauses are queued in the order they are spoken, and held while the audio is paused so
//!   that a pause moves everything queued by the same amount;
//! - **the face across pauses** (see `face/timeline.rs`) and the render-bridge feed (frames
//!   released as their audio goes out, see `render_link/feed.rs`);
//! - **the end of the user's turn** (`TURN_DETECTOR`, see `turns.rs`): at a pause the
//!   listener reports, the core asks for Smart Turn's verdict, a transcript of the speech so
//!   far and the LLM's end-of-turn probability for it, and ends the turn when the rule says so;
//!   that transcript is then the final one (no second recognition);
//! - **the preemptive answer** (`TURN_PREEMPTIVE_ANSWER`, see `preemptive.rs`): when the
//!   models leave a pause open, the answer to the words so far is asked for at once and held;
//!   it is used if the turn ends with those words, thrown away otherwise;
//! - **the idle rule**: a session with no user voice (speech or typed text) for the idle
//!   timeout ends; packets, silence and pings do not count; and no session outlives its length
//!   cap, however busy;
//! - **stage timing** of each answer (see `stages.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goassist_protocol::FaceFrame;
use goassist_protocol::events::{ClientMessage, ServerEvent, TurnState};

use super::listener::Heard;
use super::preemptive::{FirstClause, Held, PreemptiveAnswer};
use super::sinks::{FaceEngine, QueuedClause, Sinks};
use super::stages::{PauseClock, PauseModel, StageClock};
use super::turns::{PauseTranscript, Turns};
use crate::conversation::{
    ChatTurn, Command, Conversation, Input as Turn, Metric, Settings, Speaker,
};
pub use crate::engine_pool::SynthesizedClause;
use crate::face::FaceTimeline;
use crate::llm::{LlmError, LlmEvent};
use crate::media::{AudioError, PacedAudio, Packet, PacketizerConfig};
use crate::render_link::{BridgeFeed, BridgeOut};
use crate::sessions::EndReason;
use goassist_engines::turn::{EndReason as TurnEndReason, TurnAction, TurnInput, TurnRuleConfig};

/// What a session is configured with.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// The id the client is told (`session` event).
    pub session_id: String,
    /// Outgoing packets (48 kHz, `AUDIO_PACKET_MS`, `AUDIO_OVERLAP_MS`).
    pub packetizer: PacketizerConfig,
    /// `BARGE_IN_MIN_SPEECH_MS`.
    pub barge_in_min_speech: Duration,
    /// `SESSION_IDLE_TIMEOUT_S`.
    pub idle_timeout: Duration,
    /// `SESSION_MAX_DURATION_S`: the session ends this long after it started; `None` = no cap.
    pub max_duration: Option<Duration>,
    /// `ANIMATION_FPS`.
    pub face_fps: u32,
    /// Whether animation is configured at all (`ANIMATION_ENABLED`): the client is told the
    /// face rate, 0 without.
    pub face_configured: bool,
    /// The session has a face engine to feed.
    pub face_engine: bool,
    /// Feed a render-bridge; `Some(true)` attaches the audio to each frame.
    pub bridge: Option<bool>,
    /// What ends the user's turn (`TURN_*`).
    pub turn: TurnRuleConfig,
    /// `TURN_PREEMPTIVE_ANSWER`: answer a pause that is still being judged.
    pub preemptive_answer: bool,
}

/// Which transcript an ASR request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptKind {
    /// A streaming partial while the user speaks.
    Partial,
    /// The speech up to the pause that began at this instant: the final transcript if the
    /// turn ends there, and the text the LLM judges the pause by.
    Pause(Instant),
    /// The end-of-turn transcript.
    Final,
}

/// Something that happened to the session.
#[derive(Debug)]
pub enum Input {
    /// ICE and DTLS are up: media flows.
    Connected,
    /// What the listener heard in the user's audio.
    Heard(Heard),
    /// A transcript came back.
    Transcript {
        /// Which one.
        kind: TranscriptKind,
        /// The text, or why there is none.
        result: Result<String, String>,
    },
    /// The LLM request of `epoch` produced an event; `None`: its stream ended.
    Llm {
        /// The turn it was asked for.
        epoch: u32,
        /// The event.
        event: Option<LlmEvent>,
    },
    /// A clause's synthesis finished.
    Synthesized {
        /// The turn.
        epoch: u32,
        /// Index of the clause within the turn.
        clause: usize,
        /// The audio, or why there is none.
        result: Result<SynthesizedClause, String>,
    },
    /// Smart Turn's verdict on a pause ([`EngineRequest::JudgeAudio`]).
    TurnAudio {
        /// The pause.
        pause: Instant,
        /// P(complete), or why there is none.
        result: Result<f32, String>,
    },
    /// The LLM's end-of-turn probability ([`EngineRequest::JudgeText`]); `None`: it has none
    /// (a remote LLM, or it was busy).
    TurnText {
        /// The pause.
        pause: Instant,
        /// P(the user's message ends here).
        probability: Option<f32>,
    },
    /// The face engine produced a frame.
    FaceFrame(FaceFrame),
    /// A text message from the client's "events" channel.
    ClientText(String),
}

/// Model work the I/O shell must start.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineRequest {
    /// Transcribe 16 kHz audio; a partial replaces one still pending. Feed back
    /// [`Input::Transcript`].
    Transcribe {
        /// Mono 16 kHz samples.
        audio: Vec<f32>,
        /// Which transcript (a final or a pause's is urgent).
        kind: TranscriptKind,
    },
    /// Run Smart Turn on a turn's audio up to now; feed back [`Input::TurnAudio`].
    JudgeAudio {
        /// The pause.
        pause: Instant,
        /// The turn's last 8 s or less (16 kHz), the pause included.
        audio: Vec<f32>,
    },
    /// Compute the conversation up to the user's words so far into the LLM's cache and ask
    /// its probability that the message ends there; feed back [`Input::TurnText`].
    JudgeText {
        /// The pause.
        pause: Instant,
        /// The conversation, ending with the user's words so far.
        history: Vec<ChatTurn>,
    },
    /// The turn ended at a pause of this listener segment: the listener ends that speech.
    EndSegment {
        /// The segment.
        segment: u32,
    },
    /// Ask for an answer; feed back [`Input::Llm`] with this epoch. Replaces any request in
    /// flight.
    StartLlm {
        /// The turn.
        epoch: u32,
        /// The conversation so far, ending with the user's line.
        history: Vec<ChatTurn>,
    },
    /// Stop the LLM request in flight.
    CancelLlm,
    /// Synthesize a clause; feed back [`Input::Synthesized`].
    Synthesize {
        /// The turn.
        epoch: u32,
        /// Index of the clause within the turn.
        clause: usize,
        /// The text.
        text: String,
        /// The answer's first clause: the user is waiting for it.
        first: bool,
    },
    /// Drop every synthesis in flight (a barge-in).
    CancelSynthesis,
}

/// What the face engine must be told.
#[derive(Debug, Clone, PartialEq)]
pub enum FaceCommand {
    /// Animate a stretch of queued audio.
    Segment {
        /// The turn.
        epoch: u32,
        /// Mono 48 kHz samples.
        audio: Arc<[f32]>,
        /// Where it starts on the outgoing clock.
        start_pos: u64,
        /// IPA phonemes spoken.
        phonemes: Vec<String>,
    },
    /// A barge-in: nothing older than this epoch.
    Interrupt(u32),
    /// Show the idle face (the assistant is not speaking).
    Listening(bool),
    /// The outgoing audio reached this position.
    SendPosition(u64),
}

/// Something to count or time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    /// TTFA, voice-to-voice or barge-in latency.
    Latency {
        /// Which.
        metric: Metric,
        /// Seconds.
        seconds: f64,
    },
    /// A stage of the answer (`goassist_stage_seconds{stage}`).
    Stage {
        /// Its name.
        stage: &'static str,
        /// How long it took.
        elapsed: Duration,
    },
    /// A packet carrying speech went out; `interval` since the previous one when they joined.
    SpeechPacket {
        /// Time since the previous speech packet.
        interval: Option<Duration>,
    },
    /// A barge-in interrupted the assistant.
    BargeIn,
    /// A face frame went to the client.
    FaceFrameSent,
    /// Frames the render-bridge feed dropped (too many held).
    BridgeFramesDropped(u64),
    /// The client sent a message that does not parse.
    MalformedClientMessage,
    /// The turn detector ended the user's turn at a pause.
    TurnEnded(TurnEndReason),
    /// A preemptive answer was used, or thrown away with the tokens it had received.
    Preemptive {
        /// It answered the turn.
        used: bool,
        /// Tokens received when it was used or thrown away.
        tokens: usize,
    },
}

/// One thing for the I/O shell to do.
#[derive(Debug)]
pub enum Output {
    /// Encode and send this packet now (mono 48 kHz, first sample at `sample_pos`).
    Packet {
        /// Position on the outgoing clock (the RTP timestamp).
        sample_pos: u64,
        /// The samples.
        samples: Vec<f32>,
    },
    /// The session is over.
    End(EndReason),
    /// Start or stop model work.
    Engine(EngineRequest),
    /// Drive the face engine.
    Face(FaceCommand),
    /// Send on the "events" channel.
    Event(ServerEvent),
    /// Send on the "face" channel.
    FaceFrame(FaceFrame),
    /// Send to the render-bridge.
    Bridge(BridgeOut),
    /// Count or time something.
    Observe(Observation),
    /// The session's state changed (for the admin list).
    State(&'static str),
}

/// The output lanes.
#[derive(Debug, Default)]
pub struct Outputs {
    packets: VecDeque<(u64, Vec<f32>)>,
    end: Option<EndReason>,
    engine: VecDeque<EngineRequest>,
    face: VecDeque<FaceCommand>,
    events: VecDeque<ServerEvent>,
    face_frames: VecDeque<FaceFrame>,
    bridge: VecDeque<BridgeOut>,
    observations: VecDeque<Observation>,
    states: VecDeque<&'static str>,
}

impl Outputs {
    /// Queues a face-engine command.
    pub fn face(&mut self, command: FaceCommand) {
        self.face.push_back(command);
    }

    /// Queues a face frame for the client.
    pub fn face_frame(&mut self, frame: FaceFrame) {
        self.face_frames.push_back(frame);
    }

    fn pop(&mut self) -> Option<Output> {
        if let Some((sample_pos, samples)) = self.packets.pop_front() {
            return Some(Output::Packet {
                sample_pos,
                samples,
            });
        }
        if let Some(reason) = self.end.take() {
            return Some(Output::End(reason));
        }
        None.or_else(|| self.engine.pop_front().map(Output::Engine))
            .or_else(|| self.face.pop_front().map(Output::Face))
            .or_else(|| self.events.pop_front().map(Output::Event))
            .or_else(|| self.face_frames.pop_front().map(Output::FaceFrame))
            .or_else(|| self.bridge.pop_front().map(Output::Bridge))
            .or_else(|| self.observations.pop_front().map(Output::Observe))
            .or_else(|| self.states.pop_front().map(Output::State))
    }
}

/// One session's state.
pub struct SessionCore {
    settings: CoreSettings,
    conversation: Conversation,
    sinks: Sinks,
    out: Outputs,
    stages: StageClock,
    /// How long the models judging the latest pause took.
    pause_clock: PauseClock,
    /// The utterance that ended the user's turn, for the final transcript.
    utterance: Option<Vec<f32>>,
    /// The end-of-turn decision.
    turns: Turns,
    /// The turn ended at a pause: its transcript, the final one.
    final_from_pause: Option<PauseTranscript>,
    /// The turn whose LLM request is in flight.
    llm_epoch: Option<u32>,
    /// An answer asked for at a pause still being judged (the LLM request in flight then).
    preemptive: Option<PreemptiveAnswer>,
    /// The used preemptive answer's first clause, synthesized ahead, for its turn (epoch).
    prefetched: Option<(u32, FirstClause)>,
    /// The turn whose clauses are being synthesized, and the next clause to queue.
    synth: Option<(u32, usize)>,
    /// Synthesized clauses waiting for their turn (an earlier one is not back yet, or the
    /// audio is paused).
    ready: BTreeMap<usize, Result<SynthesizedClause, String>>,
    /// End and send time of the last packet carrying speech.
    last_speech_packet: Option<(u64, Instant)>,
    last_activity: Instant,
    /// When the length cap ends the session, if there is one.
    hard_end: Option<Instant>,
    animation: bool,
    ended: bool,
}

impl SessionCore {
    /// A new session, not connected yet, at `now`.
    pub fn new(settings: CoreSettings, now: Instant) -> Result<Self, AudioError> {
        let frame_interval = goassist_engines::face::frame_interval(settings.face_fps);
        let sinks = Sinks {
            audio: PacedAudio::new(settings.packetizer)?,
            face: FaceTimeline::new(frame_interval),
            engine: settings.face_engine.then_some(FaceEngine),
            bridge: settings
                .bridge
                .map(|with_audio| BridgeFeed::new(with_audio.then_some(settings.face_fps))),
        };
        let mut core = SessionCore {
            conversation: Conversation::new(Settings::new(settings.barge_in_min_speech)),
            sinks,
            out: Outputs::default(),
            stages: StageClock::default(),
            pause_clock: PauseClock::default(),
            utterance: None,
            turns: Turns::new(settings.turn),
            final_from_pause: None,
            llm_epoch: None,
            preemptive: None,
            prefetched: None,
            synth: None,
            ready: BTreeMap::new(),
            last_speech_packet: None,
            last_activity: now,
            hard_end: settings.max_duration.map(|cap| now + cap),
            animation: true,
            ended: false,
            settings,
        };
        if core.sinks.engine.is_some() {
            core.out.face(FaceCommand::Listening(true));
        }
        Ok(core)
    }

    /// The operator's animation kill-switch: while off, no face frames go out.
    pub fn set_animation(&mut self, enabled: bool) {
        self.animation = enabled;
    }

    /// The turn state.
    pub fn state(&self) -> TurnState {
        self.conversation.state()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u32 {
        self.conversation.epoch()
    }

    /// The conversation history as the LLM sees it.
    pub fn history(&self) -> &[ChatTurn] {
        self.conversation.history()
    }

    /// Position of the next outgoing packet on the 48 kHz clock.
    pub fn send_position(&self) -> u64 {
        self.sinks.audio.send_position()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// When [`SessionCore::handle_timeout`] is due next; `None` once the session has ended.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if self.ended {
            return None;
        }
        let idle = self.last_activity + self.settings.idle_timeout;
        let due = [
            self.hard_end,
            self.sinks.audio.next_due(),
            self.conversation.poll_timeout(),
            self.turns.poll_timeout(),
            self.sinks.bridge.as_ref().and_then(|b| b.next_due(now)),
        ]
        .into_iter()
        .flatten()
        .fold(idle, Instant::min);
        Some(due)
    }

    /// Feeds one input that happened at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Connected => self.connected(now),
            Input::Heard(heard) => self.heard(now, heard),
            Input::Transcript { kind, result } => self.transcript(now, kind, result),
            Input::TurnAudio { pause, result } => {
                tracing::debug!(?result, "Smart Turn's verdict on the pause");
                self.time_pause_reply(now, pause, PauseModel::Audio);
                match result {
                    Ok(probability) => self
                        .turns
                        .handle(now, TurnInput::AudioProbability { pause, probability }),
                    // The longest pause still ends the turn.
                    Err(e) => tracing::warn!(error = %e, "Smart Turn failed"),
                }
                self.judge_turn(now);
            }
            Input::TurnText { pause, probability } => {
                tracing::debug!(?probability, "the LLM's end-of-turn probability");
                self.time_pause_reply(now, pause, PauseModel::Text);
                let input = match probability {
                    Some(probability) => TurnInput::TextProbability { pause, probability },
                    None => TurnInput::NoText { pause },
                };
                self.turns.handle(now, input);
                self.judge_turn(now);
                self.answer_preemptively(pause);
            }
            Input::Llm { epoch, event } => self.llm_event(now, epoch, event),
            Input::Synthesized {
                epoch,
                clause,
                result,
            } => {
                if let Some((current, _)) = self.synth
                    && current == epoch
                {
                    self.ready.insert(clause, result);
                    self.queue_ready(now);
                } else if let Some(answer) = &mut self.preemptive
                    && answer.is_for(epoch)
                    && clause == 0
                {
                    answer.synthesized(result);
                }
            }
            Input::FaceFrame(frame) => self.face_frame(now, frame),
            Input::ClientText(text) => self.client_text(now, &text),
        }
        self.run_commands(now);
    }

    /// Time passed: packets due, the barge-in confirmation window, the pause being judged,
    /// bridge frames, the idle rule and the length cap.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.conversation.handle_timeout(now);
        self.judge_turn(now);
        self.run_commands(now);
        for packet in self.sinks.audio.poll_due(now) {
            self.packet_cut(now, packet);
        }
        self.release_bridge_frames(now);
        if self.ended {
            return;
        }
        if now >= self.last_activity + self.settings.idle_timeout {
            tracing::info!(
                idle_s = self.settings.idle_timeout.as_secs(),
                "session idle timeout"
            );
            self.ended = true;
            self.out.end = Some(EndReason::IdleTimeout);
        } else if self.hard_end.is_some_and(|end| now >= end) {
            tracing::info!(
                max_s = self.settings.max_duration.map_or(0, |d| d.as_secs()),
                "session reached its length cap"
            );
            self.ended = true;
            self.out.end = Some(EndReason::MaxDuration);
        }
    }

    fn connected(&mut self, now: Instant) {
        self.out.events.push_back(ServerEvent::Session {
            session_id: self.settings.session_id.clone(),
            audio_clock_hz: 48_000,
            face_fps: if self.settings.face_configured {
                self.settings.face_fps
            } else {
                0
            },
        });
        self.out.events.push_back(ServerEvent::State {
            state: TurnState::Listening,
            epoch: self.conversation.epoch(),
        });
        self.out.states.push_back("listening");
        self.sinks.audio.start(now);
    }

    fn heard(&mut self, now: Instant, heard: Heard) {
        match heard {
            Heard::VoiceOnset { at } => self.conversation.handle(now, Turn::VoiceOnset { at }),
            Heard::SpeechStart { segment, onset_at } => {
                self.last_activity = now;
                self.discard_preemptive();
                self.turns.speech_started(now, segment);
                self.conversation
                    .handle(now, Turn::SpeechStart { onset_at });
            }
            Heard::Partial(audio) => self.engine(EngineRequest::Transcribe {
                audio,
                kind: TranscriptKind::Partial,
            }),
            Heard::Pause {
                segment,
                since,
                audio,
                voiced_len,
            } => {
                if self.turns.paused(now, segment, since, audio, voiced_len) {
                    self.discard_preemptive(); // an answer to an earlier pause
                    let utterance = self.turns.utterance().unwrap_or_default().to_vec();
                    self.engine(EngineRequest::Transcribe {
                        audio: utterance,
                        kind: TranscriptKind::Pause(since),
                    });
                    self.pause_clock.asked(since, PauseModel::Transcript, now);
                    self.judge_turn(now);
                }
            }
            Heard::Resumed { segment } => {
                if self.turns.resumed(now, segment) {
                    self.discard_preemptive(); // the user goes on
                }
            }
            Heard::SpeechEnd {
                segment,
                last_speech_at,
                utterance,
            } => {
                // Already over if the turn detector ended it at a pause.
                if self.turns.vad_ended(segment) {
                    self.observe(Observation::TurnEnded(TurnEndReason::Silence));
                    self.end_user_turn(now, last_speech_at, utterance, None);
                }
            }
            Heard::Failed(reason) => {
                tracing::error!(%reason, "speech detection failed");
                self.out.events.push_back(ServerEvent::Error {
                    code: "vad_failed".into(),
                    message: "speech detection failed; typed messages still work".into(),
                });
            }
        }
    }

    /// The user's turn is over: the final transcript is asked for (or taken from the pause,
    /// see `run_commands`).
    fn end_user_turn(
        &mut self,
        now: Instant,
        last_speech_at: Instant,
        utterance: Vec<f32>,
        at_pause: Option<PauseTranscript>,
    ) {
        self.observe(Observation::Stage {
            stage: "endpoint",
            elapsed: now.saturating_duration_since(last_speech_at),
        });
        self.last_activity = now;
        self.utterance = Some(utterance);
        self.final_from_pause = at_pause;
        self.stages.turn_ended(now);
        self.conversation
            .handle(now, Turn::SpeechEnd { last_speech_at });
    }

    /// Runs the end-of-turn rule: what it asks for, and the end of the turn when it says so.
    fn judge_turn(&mut self, now: Instant) {
        while let Some(action) = self.turns.poll(now) {
            match action {
                TurnAction::RunAudioModel { pause } => {
                    let audio = self.turns.judged_audio().unwrap_or_default();
                    self.engine(EngineRequest::JudgeAudio { pause, audio });
                    self.pause_clock.asked(pause, PauseModel::Audio, now);
                }
                TurnAction::EndOfTurn { last_voice, reason } => {
                    let Some(ended) = self.turns.end() else {
                        continue;
                    };
                    tracing::debug!(reason = reason.as_str(), "end of turn at a pause");
                    self.observe(Observation::TurnEnded(reason));
                    self.engine(EngineRequest::EndSegment {
                        segment: ended.segment,
                    });
                    self.end_user_turn(now, last_voice, ended.utterance, Some(ended.transcript));
                }
            }
        }
    }

    fn transcript(&mut self, now: Instant, kind: TranscriptKind, result: Result<String, String>) {
        match kind {
            TranscriptKind::Partial => {
                if let Ok(text) = result {
                    self.conversation.handle(now, Turn::PartialTranscript(text));
                }
                return;
            }
            TranscriptKind::Pause(pause) => {
                self.time_pause_reply(now, pause, PauseModel::Transcript);
                if self.final_from_pause == Some(PauseTranscript::Pending(pause)) {
                    // The turn ended at this pause while its transcript was on its way.
                    self.final_from_pause = None;
                } else {
                    self.pause_transcript(now, pause, result);
                    return;
                }
            }
            TranscriptKind::Final => {}
        }
        let text = result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "final transcription failed");
            String::new()
        });
        if let Some(elapsed) = self.stages.transcribed(now) {
            self.observe(Observation::Stage {
                stage: "asr",
                elapsed,
            });
        }
        self.conversation.handle(now, Turn::FinalTranscript(text));
    }

    /// The words up to a pause still being judged: shown as a partial, and the LLM is asked
    /// whether the message ends there.
    fn pause_transcript(&mut self, now: Instant, pause: Instant, result: Result<String, String>) {
        let text = match result {
            Ok(text) => text,
            Err(e) => {
                tracing::debug!(error = %e, "the pause's transcript failed");
                String::new()
            }
        };
        tracing::debug!(%text, "the words up to the pause");
        if !self.turns.transcribed(pause, text.clone()) {
            return; // voice came back: that pause is no longer judged
        }
        // The LLM judges only while it is free: an answer in flight is this session's one job.
        if text.trim().is_empty() || self.llm_epoch.is_some() {
            self.turns.handle(now, TurnInput::NoText { pause });
        } else {
            self.conversation
                .handle(now, Turn::PartialTranscript(text.clone()));
            let mut history = self.conversation.history().to_vec();
            history.push(ChatTurn {
                speaker: Speaker::User,
                text,
            });
            self.engine(EngineRequest::JudgeText { pause, history });
            self.pause_clock.asked(pause, PauseModel::Text, now);
        }
        self.judge_turn(now);
    }

    /// A model's reply about `pause` came: its stage time, if it was asked about that pause.
    fn time_pause_reply(&mut self, now: Instant, pause: Instant, model: PauseModel) {
        if let Some(elapsed) = self.pause_clock.answered(pause, model, now) {
            self.observe(Observation::Stage {
                stage: model.stage(),
                elapsed,
            });
        }
    }

    /// The models left the pause that began at `pause` open: if the session is free, the
    /// answer to the words so far is asked for now and held (see `preemptive.rs`).
    fn answer_preemptively(&mut self, pause: Instant) {
        if !self.settings.preemptive_answer
            || self.llm_epoch.is_some()
            || self.preemptive.is_some()
            || self.conversation.state() != TurnState::UserSpeaking
        {
            return;
        }
        let Some(words) = self.turns.judged_transcript(pause) else {
            return; // the turn ended, or voice came back
        };
        if words.trim().is_empty() {
            return;
        }
        let (epoch, history) = self.conversation.next_turn(words);
        tracing::debug!(epoch, "answering a pause still being judged");
        let splitter = self.conversation.splitter_config();
        self.preemptive = Some(PreemptiveAnswer::new(epoch, history.clone(), splitter));
        self.engine(EngineRequest::StartLlm { epoch, history });
    }

    /// Throws the preemptive answer away, stopping its request and its first clause's
    /// synthesis, and counts the waste.
    fn discard_preemptive(&mut self) {
        if let Some(answer) = self.preemptive.take() {
            if answer.running() {
                self.engine(EngineRequest::CancelLlm);
            }
            // The session synthesizes nothing else while the user holds the floor.
            if answer.synthesizing() {
                self.engine(EngineRequest::CancelSynthesis);
            }
            self.preemptive_done(false, &answer);
        }
    }

    fn preemptive_done(&mut self, used: bool, answer: &PreemptiveAnswer) {
        tracing::debug!(used, tokens = answer.tokens(), "preemptive answer");
        self.observe(Observation::Preemptive {
            used,
            tokens: answer.tokens(),
        });
    }

    /// The conversation asks for an answer: the preemptive one if it answers exactly this,
    /// else a new request (which replaces the preemptive one's in the I/O shell).
    fn start_llm(&mut self, now: Instant, epoch: u32, history: Vec<ChatTurn>) {
        tracing::debug!(epoch, turns = history.len(), "answering");
        self.llm_epoch = Some(epoch);
        self.synth = Some((epoch, 0));
        self.ready.clear();
        self.stages.llm_started(now);
        self.prefetched = None;
        match self.preemptive.take() {
            Some(answer) if answer.answers(epoch, &history) => {
                self.preemptive_done(true, &answer);
                let (events, first_clause) = answer.into_parts();
                self.prefetched = first_clause.map(|first| (epoch, first));
                for event in events {
                    self.llm_event(now, epoch, Some(event));
                }
            }
            other => {
                self.preemptive = other;
                self.discard_preemptive();
                self.engine(EngineRequest::StartLlm { epoch, history });
            }
        }
    }

    /// The conversation asks for a clause's speech: for a used preemptive answer's first
    /// clause it is already there or on its way; otherwise it is asked for.
    fn synthesize(&mut self, now: Instant, epoch: u32, clause: usize, text: String) {
        if clause == 0
            && let Some((turn, first)) = self.prefetched.take()
            && turn == epoch
        {
            if first.text == text {
                // Back already: queued now. Still on its way: it arrives as this turn's
                // clause 0 (see `handle`).
                if let Some(audio) = first.audio {
                    self.ready.insert(0, audio);
                    self.queue_ready(now);
                }
                return;
            }
            // Cut differently (not expected): its audio must not pass for this clause.
            self.engine(EngineRequest::CancelSynthesis);
        }
        self.engine(EngineRequest::Synthesize {
            epoch,
            clause,
            text,
            first: clause == 0,
        });
    }

    fn llm_event(&mut self, now: Instant, epoch: u32, event: Option<LlmEvent>) {
        if self.llm_epoch != Some(epoch) {
            // A preemptive answer's, or a request that was cancelled or replaced.
            let Some(answer) = &mut self.preemptive else {
                return;
            };
            if !answer.is_for(epoch) {
                return;
            }
            match answer.hold(event) {
                Held::Kept => {}
                Held::FirstClause(text) => self.engine(EngineRequest::Synthesize {
                    epoch,
                    clause: 0,
                    text,
                    first: true,
                }),
                Held::Worthless => {
                    tracing::debug!("preemptive answer failed");
                    self.discard_preemptive();
                }
            }
            return;
        }
        let input = match event {
            Some(LlmEvent::Token(text)) => {
                if let Some(elapsed) = self.stages.token(now) {
                    self.observe(Observation::Stage {
                        stage: "llm_ttft",
                        elapsed,
                    });
                }
                Turn::LlmToken { epoch, text }
            }
            Some(LlmEvent::Done(stats)) => {
                tracing::debug!(epoch, tokens = stats.generated_tokens, "answer generated");
                self.observe(Observation::Stage {
                    stage: "llm_total",
                    elapsed: stats.total,
                });
                self.llm_epoch = None;
                Turn::LlmDone { epoch }
            }
            Some(LlmEvent::Error(error)) => self.llm_failed(epoch, error),
            None => self.llm_failed(
                epoch,
                LlmError::Failed("the answer's stream ended without Done".into()),
            ),
        };
        self.conversation.handle(now, input);
    }

    /// The log gets the whole story; the client only what `for_client` says.
    fn llm_failed(&mut self, epoch: u32, error: LlmError) -> Turn {
        tracing::warn!(epoch, %error, "LLM request failed");
        self.llm_epoch = None;
        Turn::LlmFailed {
            epoch,
            reason: error.for_client().into(),
        }
    }

    fn client_text(&mut self, now: Instant, text: &str) {
        match ClientMessage::parse(text) {
            Ok(ClientMessage::Ping) => {}
            Ok(ClientMessage::UserText { text }) => {
                self.last_activity = now;
                self.stages.turn_ended(now);
                self.conversation.handle(now, Turn::UserText(text));
            }
            Err(e) => {
                tracing::debug!(error = %e, "bad client message");
                self.observe(Observation::MalformedClientMessage);
                self.out.events.push_back(ServerEvent::Error {
                    code: "bad_message".into(),
                    message: e.to_string(),
                });
            }
        }
    }

    /// A frame from the face engine, on its way to the client and the bridge.
    fn face_frame(&mut self, now: Instant, frame: FaceFrame) {
        if !self.animation {
            return;
        }
        let Some(frame) = self.sinks.face.outgoing(frame) else {
            return; // its audio is paused: sent when the pause ends
        };
        self.sinks.face_frame(frame, &mut self.out);
        self.observe(Observation::FaceFrameSent);
        self.release_bridge_frames(now);
    }

    /// Carries out what the conversation decided.
    fn run_commands(&mut self, now: Instant) {
        while let Some(command) = self.conversation.poll() {
            match command {
                Command::Event(event) => self.event(now, event),
                Command::PauseAudio => self.pause_audio(),
                Command::ResumeAudio => self.resume_audio(now),
                Command::Interrupt { new_epoch } => {
                    self.discard_preemptive();
                    self.prefetched = None;
                    for sink in self.sinks.each() {
                        sink.clear(new_epoch, &mut self.out);
                    }
                    self.synth = None;
                    self.ready.clear();
                    self.engine(EngineRequest::CancelSynthesis);
                    self.observe(Observation::BargeIn);
                }
                Command::RunFinalAsr => match self.final_from_pause.take() {
                    // The pause's transcript is the final one: reused, not run again.
                    Some(PauseTranscript::Done(text)) => {
                        self.utterance = None;
                        self.transcript(now, TranscriptKind::Final, Ok(text));
                    }
                    // On its way: `transcript` takes it as the final.
                    pending @ Some(PauseTranscript::Pending(_)) => self.final_from_pause = pending,
                    None => match self.utterance.take() {
                        Some(audio) => self.engine(EngineRequest::Transcribe {
                            audio,
                            kind: TranscriptKind::Final,
                        }),
                        None => self
                            .conversation
                            .handle(now, Turn::FinalTranscript(String::new())),
                    },
                },
                Command::StartLlm { epoch, history } => self.start_llm(now, epoch, history),
                // Only a barge-in cancels, and its `Interrupt` came first and threw away any
                // preemptive answer.
                Command::CancelLlm => {
                    self.llm_epoch = None;
                    self.engine(EngineRequest::CancelLlm);
                }
                Command::Synthesize {
                    epoch,
                    clause,
                    text,
                } => self.synthesize(now, epoch, clause, text),
                Command::Observe { metric, seconds } => {
                    tracing::debug!(metric = ?metric, ms = (seconds * 1000.0).round(), "latency");
                    self.observe(Observation::Latency { metric, seconds });
                    if metric == Metric::Ttfa
                        && let Some(elapsed) = self.stages.first_packet_sent(now)
                    {
                        self.observe(Observation::Stage {
                            stage: "send_first",
                            elapsed,
                        });
                    }
                }
            }
        }
    }

    fn event(&mut self, now: Instant, mut event: ServerEvent) {
        match &mut event {
            ServerEvent::State { state, .. } => {
                self.out.states.push_back(state_name(*state));
                if self.sinks.engine.is_some() {
                    self.out
                        .face(FaceCommand::Listening(*state != TurnState::Speaking));
                }
                if *state == TurnState::Listening {
                    // The assistant finished: the user's silence counts from here.
                    self.last_activity = self.last_activity.max(now);
                }
            }
            // A clause announced after a pause plays later than where it was queued.
            ServerEvent::AssistantText {
                epoch, sample_pos, ..
            } => *sample_pos = self.sinks.face.restamp(*epoch, *sample_pos),
            _ => {}
        }
        self.out.events.push_back(event);
    }

    /// Queues the synthesized clauses that are next in speaking order, unless paused.
    fn queue_ready(&mut self, now: Instant) {
        while let Some((epoch, next)) = self.synth
            && !self.sinks.audio.is_paused()
            && let Some(result) = self.ready.remove(&next)
        {
            self.synth = Some((epoch, next + 1));
            self.queue_clause(now, epoch, next, result);
        }
    }

    fn queue_clause(
        &mut self,
        now: Instant,
        epoch: u32,
        clause: usize,
        result: Result<SynthesizedClause, String>,
    ) {
        let synth = match result {
            Ok(synth) => synth,
            Err(e) => {
                tracing::warn!(error = %e, clause, "synthesis failed; clause skipped");
                self.conversation
                    .handle(now, Turn::ClauseFailed { epoch, clause });
                return;
            }
        };
        if let Some(elapsed) = self.stages.clause_queued(now) {
            self.observe(Observation::Stage {
                stage: "tts_first",
                elapsed,
            });
        }
        let samples = synth.samples_48k.len();
        tracing::debug!(epoch, clause, samples, "clause synthesized");
        let audio: Arc<[f32]> = synth.samples_48k.into();
        let start_pos = self
            .sinks
            .audio
            .push(now, epoch, clause as u64, audio.to_vec());
        let queued = QueuedClause {
            epoch,
            start_pos,
            audio,
            phonemes: synth.phonemes,
        };
        for sink in self.sinks.each() {
            sink.capture(&queued, &mut self.out);
        }
        self.conversation.handle(
            now,
            Turn::ClauseQueued {
                epoch,
                clause,
                samples,
                start_pos,
            },
        );
    }

    /// A voice while the assistant speaks (maybe a barge-in): silence goes out instead of the
    /// queued speech, and the face rests (see face/timeline.rs).
    fn pause_audio(&mut self) {
        let audio = &mut self.sinks.audio;
        let (from, until) = (audio.send_position(), audio.queued_until());
        tracing::debug!(
            queued_ms = until.saturating_sub(from) / 48,
            "a voice: answer paused"
        );
        audio.pause();
        let rest = self
            .sinks
            .face
            .paused(self.conversation.epoch(), from, until);
        if let Some(rest) = rest
            && self.animation
        {
            self.out.face_frame(rest.clone());
            if let Some(bridge) = &mut self.sinks.bridge {
                bridge.pause(rest);
            }
        }
    }

    /// A dismissed voice (a cough) ends the pause: the queued speech plays later by the
    /// silence sent meanwhile, and the face follows it (see face/timeline.rs).
    fn resume_audio(&mut self, now: Instant) {
        tracing::debug!("the voice was not speech: answer resumed");
        self.sinks.audio.resume();
        let resumed = self.sinks.face.resumed(self.sinks.audio.queued_until());
        if let Some(shift) = &resumed.shift {
            tracing::debug!(
                by_ms = shift.by / 48,
                "audio resumed later; face re-stamped"
            );
        }
        if let Some(bridge) = &mut self.sinks.bridge {
            bridge.resume(resumed.shift.as_ref());
        }
        if self.animation {
            if let Some(rest) = resumed.rest {
                self.sinks.face_frame(rest, &mut self.out);
            }
            // The bridge still holds these (it releases frames as their audio goes out).
            for frame in resumed.moved {
                self.out.face_frame(frame);
            }
            for frame in resumed.deferred {
                self.sinks.face_frame(frame, &mut self.out);
            }
        }
        self.queue_ready(now);
    }

    /// A packet was cut: it goes out, and every sink learns how far the audio has gone.
    fn packet_cut(&mut self, now: Instant, packet: Packet) {
        let Packet {
            sample_pos,
            samples,
            spans,
        } = packet;
        self.out.packets.push_back((sample_pos, samples));
        let Some(end) = spans.iter().map(|s| s.sample_pos + s.samples as u64).max() else {
            return; // silence
        };
        let interval = match self.last_speech_packet {
            Some((previous_end, at)) if previous_end == sample_pos => Some(now - at),
            _ => None,
        };
        self.last_speech_packet = Some((end, now));
        self.observe(Observation::SpeechPacket { interval });
        for sink in self.sinks.each() {
            sink.played(end, now, &mut self.out);
        }
        for span in spans {
            self.conversation.handle(
                now,
                Turn::AudioSent {
                    epoch: span.epoch,
                    clause: span.marker as usize,
                    samples: span.samples,
                    at: now,
                },
            );
            self.run_commands(now);
        }
    }

    /// Hands the render-bridge the frames whose audio has gone out.
    fn release_bridge_frames(&mut self, now: Instant) {
        let Some(bridge) = &mut self.sinks.bridge else {
            return;
        };
        let released = bridge.release_due(now);
        self.out.bridge.extend(released.frames);
        if released.dropped > 0 {
            self.observe(Observation::BridgeFramesDropped(released.dropped));
        }
    }

    fn engine(&mut self, request: EngineRequest) {
        self.out.engine.push_back(request);
    }

    fn observe(&mut self, observation: Observation) {
        self.out.observations.push_back(observation);
    }
}

/// The admin list's name for a turn state.
pub fn state_name(state: TurnState) -> &'static str {
    match state {
        TurnState::Listening => "listening",
        TurnState::UserSpeaking => "user_speaking",
        TurnState::Thinking => "thinking",
        TurnState::Speaking => "speaking",
    }
}

#[cfg(test)]
mod tests;
