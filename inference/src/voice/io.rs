//! The session's connections to the world, for the loop in `session.rs`: the peer, the
//! listener thread, the shared engines, the face engine and the render-bridge link. It carries
//! out the core's outputs and turns what comes back into the core's inputs; it decides nothing.

use std::future::Future;
use std::pin::Pin;

use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::VoiceEngines;
use super::core::{EngineRequest, FaceCommand, Input, Output, SessionCore, SynthesizedClause};
use super::listener::AudioChunk;
use super::observe;
use super::workers::Reply;
use crate::conversation::{ChatTurn, Speaker};
use crate::face::FaceSession;
use crate::http::AppState;
use crate::llm::{ChatMessage, ChatRequest, LlmEvent, Role};
use crate::sessions::{EndReason, SessionTicket};
use crate::webrtc::{PeerEvent, PeerHandle};

pub(super) type Synthesis =
    Pin<Box<dyn Future<Output = (u32, usize, Result<SynthesizedClause, String>)> + Send>>;

/// The session's connections to the world.
pub(super) struct Io<'a> {
    pub(super) state: &'a AppState,
    pub(super) engines: &'a VoiceEngines,
    pub(super) ticket: &'a SessionTicket,
    pub(super) peer: PeerHandle,
    pub(super) audio_in: std::sync::mpsc::Sender<AudioChunk>,
    pub(super) partial: Option<Reply<String>>,
    pub(super) final_asr: Option<Reply<String>>,
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
            EngineRequest::Transcribe {
                audio,
                is_final: true,
            } => {
                self.final_asr = Some(self.engines.asr.submit(audio, true));
            }
            // One partial at a time: a newer one replaces one still queued.
            EngineRequest::Transcribe {
                audio,
                is_final: false,
            } => {
                self.partial = Some(self.engines.asr.submit(audio, false));
            }
            EngineRequest::StartLlm { epoch, history } => {
                self.cancel_llm();
                let cancel = CancellationToken::new();
                let messages = history.iter().map(to_message).collect();
                let events = self
                    .engines
                    .llm
                    .generate(ChatRequest { messages }, cancel.clone());
                self.llm = Some((epoch, events, cancel));
            }
            EngineRequest::CancelLlm => self.cancel_llm(),
            EngineRequest::Synthesize {
                epoch,
                clause,
                text,
                first,
            } => {
                let reply = self.engines.tts.submit(text, first);
                self.syntheses.push(Box::pin(async move {
                    let result = reply.await.unwrap_or_else(|_| Err("worker stopped".into()));
                    (epoch, clause, result)
                }));
            }
            // Dropping the replies makes the worker skip them.
            EngineRequest::CancelSynthesis => self.syntheses = FuturesUnordered::new(),
        }
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
                let _ = self.audio_in.send(AudioChunk { samples_48k, at });
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

/// A worker's reply, when one is awaited; a dropped worker counts as an error.
pub(super) async fn reply<T>(slot: &mut Option<Reply<T>>) -> Result<T, String> {
    let Some(reply) = slot.as_mut() else {
        return std::future::pending().await;
    };
    let result = reply.await.unwrap_or_else(|_| Err("worker stopped".into()));
    *slot = None;
    result
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
