//! One voice session's I/O shell: a thin loop that moves data between the [`SessionCore`] and
//! the world — the WebRTC peer, the listener thread, the shared engines, the face engine and the
//! render-bridge link. Every decision is the core's (see `core.rs`); this file only waits for
//! the next thing to happen, hands it to the core, and carries out what the core asks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::VoiceEngines;
use super::core::{
    CoreSettings, EngineRequest, FaceCommand, Input, Output, SessionCore, SynthesizedClause,
};
use super::listener::{self, AudioChunk};
use super::observe;
use super::workers::Reply;
use crate::conversation::{ChatTurn, Speaker};
use crate::face::FaceSession;
use crate::http::AppState;
use crate::llm::{ChatMessage, ChatRequest, LlmEvent, Role};
use crate::media::{PacketizerConfig, WEBRTC_RATE};
use crate::sessions::{EndReason, SessionTicket, format_id};
use crate::webrtc::{Peer, PeerEvent, PeerHandle};

type Synthesis =
    Pin<Box<dyn Future<Output = (u32, usize, Result<SynthesizedClause, String>)> + Send>>;

/// Runs a session until the client leaves, it idles out, or it is cancelled.
pub async fn run(state: AppState, engines: Arc<VoiceEngines>, ticket: SessionTicket, peer: Peer) {
    let span = tracing::info_span!("session", session = %format_id(ticket.id()));
    async move {
        tracing::info!("session started");
        let reason = drive(&state, &engines, &ticket, peer).await;
        ticket.set_end_reason(reason);
        tracing::info!(reason = reason.as_str(), "session closed");
    }
    .instrument(span)
    .await
}

/// The session's connections to the world.
struct Io<'a> {
    state: &'a AppState,
    engines: &'a VoiceEngines,
    ticket: &'a SessionTicket,
    peer: PeerHandle,
    audio_in: std::sync::mpsc::Sender<AudioChunk>,
    partial: Option<Reply<String>>,
    final_asr: Option<Reply<String>>,
    llm: Option<(u32, mpsc::Receiver<LlmEvent>, CancellationToken)>,
    syntheses: FuturesUnordered<Synthesis>,
    face: Option<FaceSession>,
}

async fn drive(
    state: &AppState,
    engines: &VoiceEngines,
    ticket: &SessionTicket,
    peer: Peer,
) -> EndReason {
    let config = &state.config;
    let face = engines.face.as_ref().and_then(|service| {
        // Voice never depends on the face: the session goes on without one.
        service
            .open_session(ticket.id())
            .inspect_err(|e| tracing::warn!(error = %e, "no face for this session"))
            .ok()
    });
    let settings = CoreSettings {
        session_id: format_id(ticket.id()),
        packetizer: PacketizerConfig {
            sample_rate: WEBRTC_RATE,
            packet_ms: config.audio_packet_ms,
            overlap_ms: config.audio_overlap_ms,
        },
        barge_in_min_speech: Duration::from_millis(u64::from(config.barge_in_min_speech_ms)),
        idle_timeout: Duration::from_secs(config.session_idle_timeout_s),
        face_fps: config.animation_fps,
        face_configured: config.animation_enabled,
        face_engine: face.is_some(),
        bridge: engines
            .render_link
            .as_ref()
            .map(|_| config.render_bridge_send_audio),
    };
    let mut core = match SessionCore::new(settings, Instant::now()) {
        Ok(core) => core,
        Err(e) => {
            tracing::error!(error = %e, "invalid audio settings");
            return EndReason::Error;
        }
    };
    let detector = engines.vad.new_detector(engines.segmenter);
    let (audio_in, mut heard) = listener::spawn(detector, engines.capture, format_id(ticket.id()));
    let Peer { mut events, handle } = peer;
    let mut io = Io {
        state,
        engines,
        ticket,
        peer: handle,
        audio_in,
        partial: None,
        final_asr: None,
        llm: None,
        syntheses: FuturesUnordered::new(),
        face,
    };
    ticket.set_state("connecting");
    let cancelled = ticket.cancelled();
    let reason = loop {
        if let Some(reason) = io.carry_out(&mut core) {
            break reason;
        }
        core.set_animation(state.animation.enabled());
        // The core ends a session with an `End` output; until then it always has a deadline.
        let deadline = core
            .poll_timeout(Instant::now())
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let input = tokio::select! {
            biased;
            _ = cancelled.cancelled() => break EndReason::Admin,
            _ = tokio::time::sleep_until(deadline.into()) => {
                core.handle_timeout(Instant::now());
                continue;
            }
            event = events.recv() => match event {
                None | Some(PeerEvent::Disconnected { .. }) => break EndReason::Client,
                Some(event) => match io.peer_event(event) {
                    Some(input) => input,
                    None => continue,
                },
            },
            heard = heard.recv() => match heard {
                Some(heard) => Input::Heard(heard),
                None => {
                    tracing::error!("listener thread ended");
                    break EndReason::Error;
                }
            },
            result = reply(&mut io.partial) => Input::Transcript { is_final: false, result },
            result = reply(&mut io.final_asr) => Input::Transcript { is_final: true, result },
            (epoch, event) = next_llm_event(&mut io.llm) => {
                if !matches!(event, Some(LlmEvent::Token(_))) {
                    io.llm = None; // done, failed or gone: nothing more will come
                }
                Input::Llm { epoch, event }
            }
            Some((epoch, clause, result)) = io.syntheses.next(), if !io.syntheses.is_empty() => {
                Input::Synthesized { epoch, clause, result }
            }
            frame = next_face_frame(&mut io.face) => match frame {
                Some(frame) => Input::FaceFrame(frame),
                None => {
                    io.face = None;
                    continue;
                }
            },
        };
        core.handle(Instant::now(), input);
    };
    io.peer.close();
    reason
}

impl Io<'_> {
    /// Carries out everything the core asked for; the end of the session when it asked that.
    fn carry_out(&mut self, core: &mut SessionCore) -> Option<EndReason> {
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
    fn peer_event(&mut self, event: PeerEvent) -> Option<Input> {
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
async fn reply<T>(slot: &mut Option<Reply<T>>) -> Result<T, String> {
    let Some(reply) = slot.as_mut() else {
        return std::future::pending().await;
    };
    let result = reply.await.unwrap_or_else(|_| Err("worker stopped".into()));
    *slot = None;
    result
}

/// The next event of the LLM request in flight, with its epoch; `None` when the stream ended.
async fn next_llm_event(
    llm: &mut Option<(u32, mpsc::Receiver<LlmEvent>, CancellationToken)>,
) -> (u32, Option<LlmEvent>) {
    let Some((epoch, events, _)) = llm.as_mut() else {
        return std::future::pending().await;
    };
    let event = events.recv().await;
    (*epoch, event)
}

async fn next_face_frame(face: &mut Option<FaceSession>) -> Option<goassist_protocol::FaceFrame> {
    match face.as_mut() {
        Some(face) => face.frames.recv().await,
        None => std::future::pending().await,
    }
}
