//! The session's connections to the world, for the loop in `session.rs`: the peer, the
//! listener thread, the shared engines, the face engine and the render-bridge link. It carries
//! out the core's outputs and turns what comes back into the core's inputs; it decides nothing.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::VoiceEngines;
use super::core::{EngineRequest, FaceCommand, Input, Output, SessionCore, TranscriptKind};
use super::listener::{AudioChunk, ListenerInput};
use super::observe;
use crate::conversation::{ChatTurn, Speaker};
use crate::engine_pool::{Priority, SynthesizedClause};
use crate::face::FaceSession;
use crate::http::AppState;
use crate::llm::{ChatMessage, ChatRequest, LlmEvent, LlmSession, Role};
use crate::sessions::{EndReason, SessionTicket};
use crate::webrtc::{PeerEvent, PeerHandle};

pub(super) type Synthesis =
    Pin<Box<dyn Future<Output = (u32, usize, Result<SynthesizedClause, String>)> + Send>>;

/// A transcript on its way: the ASR pool's reply, or its refusal.
pub(super) type Transcription = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// A model's answer about the pause that began at the instant.
pub(super) type PauseReply<T> = Option<(Instant, Pin<Box<dyn Future<Output = T> + Send>>)>;

/// The session's connections to the world.
pub(super) struct Io<'a> {
    pub(super) state: &'a AppState,
    pub(super) engines: &'a VoiceEngines,
    pub(super) ticket: &'a SessionTicket,
    pub(super) peer: PeerHandle,
    pub(super) audio_in: std::sync::mpsc::Sender<ListenerInput>,
    pub(super) partial: Option<Transcription>,
    /// The newest partial's audio, held while an older one is being transcribed.
    pub(super) partial_waiting: Option<Vec<f32>>,
    pub(super) final_asr: Option<Transcription>,
    /// The transcript of the pause being judged (a newer pause replaces it).
    pub(super) pause_asr: PauseReply<Result<String, String>>,
    /// Smart Turn's verdict on the pause being judged.
    pub(super) judge_audio: PauseReply<Result<f32, String>>,
    /// The LLM's end-of-turn probability for the pause being judged.
    pub(super) judge_text: PauseReply<Option<f32>>,
    /// This conversation on the LLM: what it computed stays cached between turns.
    pub(super) llm_session: LlmSession,
    pub(super) llm: Option<(u32, mpsc::Receiver<LlmEvent>, CancellationToken)>,
    pub(super) syntheses: FuturesUnordered<Synthesis>,
    pub(super) face: Option<FaceSession>,
}

impl Io<'_> {
    /// Carries out everything the core asked for; the end of the session when it asked that.
    pub(super) fn carry_out(&mut self, core: &mut SessionCore) -> Option<EndReason> {
        while let Some(output) = core.poll_output() {
            match output {
                Output::Packet {
                    sample_pos,
                    samples,
                } => self.peer.send_audio(sample_pos, samples),
                Output::End(reason) => return Some(reason),
                Output::Engine(request) => self.engine(request),
                Output::Face(command) => self.face(command),
                Output::Event(event) => self.peer.send_event(event.to_json()),
                Output::FaceFrame(frame) => self.peer.send_face(frame.encode().to_vec()),
                Output::Bridge(out) => {
                    let link = self.engines.render_link.as_ref();
                    let sent =
                        link.is_some_and(|l| l.try_send(&out.frame, out.audio.as_deref()).is_ok());
                    observe::bridge_frame(&self.state.metrics, sent);
                }
                Output::Observe(observation) => observe::observe(&self.state.metrics, &observation),
                Output::State(name) => self.ticket.set_state(name),
            }
        }
        None
    }

    fn engine(&mut self, request: EngineRequest) {
        match request {
            // A refused final transcript reaches the core as an error, which ends the turn
            // without an answer.
            EngineRequest::Transcribe {
                audio,
                kind: TranscriptKind::Final,
            } => {
                let priority = Priority::user_waiting(Instant::now());
                self.final_asr = Some(self.transcribe(audio, priority));
                self.partial_waiting = None;
            }
            // If the turn ends at this pause, the user waits on this transcript.
            EngineRequest::Transcribe {
                audio,
                kind: TranscriptKind::Pause(pause),
            } => {
                let priority = Priority::user_waiting(Instant::now());
                self.pause_asr = Some((pause, self.transcribe(audio, priority)));
                self.partial_waiting = None;
            }
            // One partial in flight; the newest waits for it. Replacing the one in flight
            // would starve partials whenever the recognizer is slower than they come (Whisper
            // always, Moonshine on a busy host).
            EngineRequest::Transcribe {
                audio,
                kind: TranscriptKind::Partial,
            } => {
                if self.partial.is_some() {
                    self.partial_waiting = Some(audio);
                } else {
                    self.start_partial(audio);
                }
            }
            EngineRequest::StartLlm { epoch, history } => {
                self.cancel_llm();
                let cancel = CancellationToken::new();
                let messages = history.iter().map(to_message).collect();
                let events = self
                    .llm_session
                    .generate(ChatRequest { messages }, cancel.clone());
                self.llm = Some((epoch, events, cancel));
            }
            EngineRequest::CancelLlm => self.cancel_llm(),
            EngineRequest::JudgeAudio { pause, audio } => {
                let reply = self
                    .engines
                    .turn
                    .as_ref()
                    .ok_or_else(|| "no Smart Turn".to_string())
                    .and_then(|pool| {
                        pool.submit(audio, Priority::user_waiting(Instant::now()))
                            .map_err(|e| e.to_string())
                    });
                self.judge_audio = Some((
                    pause,
                    Box::pin(async move { reply?.await.map_err(|e| e.to_string()) }),
                ));
            }
            EngineRequest::JudgeText { pause, history } => {
                let messages = history.iter().map(to_message).collect();
                self.judge_text = Some((pause, Box::pin(self.llm_session.prefill(messages))));
            }
            EngineRequest::EndSegment { segment } => {
                let _ = self.audio_in.send(ListenerInput::EndTurn { segment });
            }
            EngineRequest::Synthesize {
                epoch,
                clause,
                text,
                first,
            } => {
                // The first clause is what the user is waiting for; later ones play after it.
                let now = Instant::now();
                let priority = if first {
                    Priority::user_waiting(now)
                } else {
                    Priority::ahead_of_playback(now)
                };
                // A refused clause comes back as an error in its place, so the order holds.
                let reply = self.engines.tts.submit(text, priority);
                self.syntheses.push(Box::pin(async move {
                    let result = match reply {
                        Ok(reply) => reply.await.map_err(|e| e.to_string()),
                        Err(refused) => Err(refused.to_string()),
                    };
                    (epoch, clause, result)
                }));
            }
            // Dropping the replies takes them out of the pool.
            EngineRequest::CancelSynthesis => self.syntheses = FuturesUnordered::new(),
        }
    }

    /// Starts the partial that waited for the one just answered, if any.
    pub(super) fn partial_answered(&mut self) {
        if let Some(audio) = self.partial_waiting.take() {
            self.start_partial(audio);
        }
    }

    fn start_partial(&mut self, audio: Vec<f32>) {
        let priority = Priority::ahead_of_playback(Instant::now());
        self.partial = Some(self.transcribe(audio, priority));
    }

    fn transcribe(&self, audio: Vec<f32>, priority: Priority) -> Transcription {
        let reply = self.engines.asr.submit(audio, priority);
        Box::pin(async move {
            match reply {
                Ok(reply) => reply.await.map_err(|e| e.to_string()),
                Err(refused) => Err(refused.to_string()),
            }
        })
    }

    fn cancel_llm(&mut self) {
        if let Some((_, _, cancel)) = self.llm.take() {
            cancel.cancel();
        }
    }

    fn face(&self, command: FaceCommand) {
        let Some(face) = &self.face else { return };
        match command {
            // Never waits: a full face queue drops (and counts) the segment.
            FaceCommand::Segment {
                epoch,
                audio,
                start_pos,
                phonemes,
            } => {
                face.push_segment(epoch, audio, start_pos, phonemes);
            }
            FaceCommand::Interrupt(epoch) => face.interrupt(epoch),
            FaceCommand::Listening(listening) => face.set_listening(listening),
            FaceCommand::SendPosition(pos) => face.report_send_position(pos),
        }
    }

    /// What the core needs to hear of a peer event; the rest is handled here.
    pub(super) fn peer_event(&mut self, event: PeerEvent) -> Option<Input> {
        match event {
            PeerEvent::Connected => Some(Input::Connected),
            PeerEvent::AudioIn {
                samples_48k, at, ..
            } => {
                let _ = self
                    .audio_in
                    .send(ListenerInput::Audio(AudioChunk { samples_48k, at }));
                None
            }
            PeerEvent::DataText { text, .. } => Some(Input::ClientText(text)),
            PeerEvent::DataBinary { channel, data } => {
                self.state
                    .metrics
                    .malformed_input_total
                    .with_label_values(&["data_channel"])
                    .inc();
                tracing::debug!(%channel, bytes = data.len(), "unexpected binary message ignored");
                None
            }
            PeerEvent::Stats {
                direction,
                loss_ratio,
                jitter_seconds,
            } => {
                observe::webrtc_stats(&self.state.metrics, direction, loss_ratio, jitter_seconds);
                None
            }
            PeerEvent::Disconnected { .. } => None,
        }
    }
}

fn to_message(turn: &ChatTurn) -> ChatMessage {
    let role = match turn.speaker {
        Speaker::User => Role::User,
        Speaker::Assistant => Role::Assistant,
    };
    ChatMessage {
        role,
        content: turn.text.clone(),
    }
}

/// A transcript, when one is awaited.
pub(super) async fn reply(slot: &mut Option<Transcription>) -> Result<String, String> {
    let Some(transcription) = slot.as_mut() else {
        return std::future::pending().await;
    };
    let result = transcription.await;
    *slot = None;
    result
}

/// A model's answer about a pause, when one is awaited.
pub(super) async fn pause_reply<T>(slot: &mut PauseReply<T>) -> (Instant, T) {
    let Some((pause, reply)) = slot.as_mut() else {
        return std::future::pending().await;
    };
    let result = reply.await;
    let pause = *pause;
    *slot = None;
    (pause, result)
}

/// The next event of the LLM request in flight, with its epoch; `None` when the stream ended.
pub(super) async fn next_llm_event(
    llm: &mut Option<(u32, mpsc::Receiver<LlmEvent>, CancellationToken)>,
) -> (u32, Option<LlmEvent>) {
    let Some((epoch, events, _)) = llm.as_mut() else {
        return std::future::pending().await;
    };
    let event = events.recv().await;
    (*epoch, event)
}

pub(super) async fn next_face_frame(
    face: &mut Option<FaceSession>,
) -> Option<goassist_protocol::FaceFrame> {
    match face.as_mut() {
        Some(face) => face.frames.recv().await,
        None => std::future::pending().await,
    }
}
