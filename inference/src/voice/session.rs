//! One voice session: drives the conversation machine with the peer, the listener and the
//! shared engines.
//!
//! The session task only moves messages: audio packets go to the listener thread, model work to
//! the shared workers and the LLM service, and every decision is the [`Conversation`]'s. All
//! waiting is in one `select!`, so a slow engine never delays the peer's events or the pacing of
//! audio (which the peer task owns).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goassist_protocol::events::{ClientMessage, ServerEvent, TurnState};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::VoiceEngines;
use super::bridge_feed::BridgeFeed;
use super::face_timeline::FaceTimeline;
use super::listener::{self, AudioChunk, Heard};
use super::workers::Reply;
use crate::conversation::{ChatTurn, Command, Conversation, Input, Metric, Settings, Speaker};
use crate::face::FaceSession;
use crate::http::AppState;
use crate::llm::{ChatMessage, ChatRequest, LlmEvent, Role};
use crate::sessions::{EndReason, SessionTicket, format_id};
use crate::webrtc::{Peer, PeerEvent, PeerHandle, StatsDirection};

/// Audio synthesized for one clause, ready to queue.
pub struct SynthesizedClause {
    /// Mono 48 kHz samples.
    pub samples_48k: Vec<f32>,
    /// IPA phonemes spoken, for text-side visemes.
    pub phonemes: Vec<String>,
}

struct PendingClause {
    epoch: u32,
    clause: usize,
    reply: Reply<SynthesizedClause>,
}

struct LlmRequest {
    epoch: u32,
    events: mpsc::Receiver<LlmEvent>,
    cancel: CancellationToken,
    started: Instant,
    first_token: bool,
}

/// Runs a session until the client leaves, it idles out, or it is cancelled.
pub async fn run(state: AppState, engines: Arc<VoiceEngines>, ticket: SessionTicket, peer: Peer) {
    let id = format_id(ticket.id());
    let span = tracing::info_span!("session", session = %id);
    let _enter = span.enter();
    drop(_enter);
    let reason = {
        let mut session = Session::new(state.clone(), engines, &ticket, peer.handle.clone());
        tracing::info!(parent: &span, "session started");
        session.run(peer.events, ticket.cancelled()).await
    };
    ticket.set_end_reason(reason);
    peer.handle.close();
    tracing::info!(parent: &span, reason = reason.as_str(), "session closed");
}

struct Session<'t> {
    state: AppState,
    engines: Arc<VoiceEngines>,
    ticket: &'t SessionTicket,
    peer: PeerHandle,
    conversation: Conversation,
    audio_in: std::sync::mpsc::Sender<AudioChunk>,
    heard: mpsc::UnboundedReceiver<Heard>,
    utterance: Option<Vec<f32>>,
    partial: Option<Reply<String>>,
    final_asr: Option<Reply<String>>,
    llm: Option<LlmRequest>,
    clauses: VecDeque<PendingClause>,
    turn_started: Option<Instant>,
    first_clause_pending: bool,
    /// When this turn's first clause was queued, until its first packet goes out.
    first_clause_queued: Option<Instant>,
    last_activity: Instant,
    face: Option<FaceSession>,
    /// Face frames (and audio) to the render-bridge, when one is configured.
    bridge: Option<BridgeFeed>,
    /// Keeps face frames on their audio across pauses (numbering, re-stamping, re-sending).
    face_timeline: FaceTimeline,
    /// Clauses synthesized while the audio is paused: queued when it resumes, so that a pause
    /// moves everything queued by the same amount.
    held_clauses: VecDeque<(PendingClause, Result<SynthesizedClause, String>)>,
    /// End position and send time of the last speech packet.
    last_speech_packet: Option<(u64, Instant)>,
}

impl<'t> Session<'t> {
    fn new(
        state: AppState,
        engines: Arc<VoiceEngines>,
        ticket: &'t SessionTicket,
        peer: PeerHandle,
    ) -> Self {
        let detector = engines.vad.new_detector(engines.segmenter);
        let (audio_in, heard) = listener::spawn(detector, engines.capture, format_id(ticket.id()));
        let settings = Settings::new(Duration::from_millis(u64::from(
            state.config.barge_in_min_speech_ms,
        )));
        let face =
            engines
                .face
                .as_ref()
                .and_then(|service| match service.open_session(ticket.id()) {
                    Ok(face) => {
                        face.set_listening(true);
                        Some(face)
                    }
                    Err(e) => {
                        // Voice never depends on the face: the session goes on without one.
                        tracing::warn!(error = %e, "no face for this session");
                        None
                    }
                });
        let bridge = engines.render_link.clone().map(|link| {
            let audio_fps = state
                .config
                .render_bridge_send_audio
                .then_some(state.config.animation_fps);
            BridgeFeed::new(link, audio_fps)
        });
        let state_fps = state.config.animation_fps;
        Session {
            conversation: Conversation::new(settings),
            state,
            engines,
            ticket,
            peer,
            audio_in,
            heard,
            utterance: None,
            partial: None,
            final_asr: None,
            llm: None,
            clauses: VecDeque::new(),
            turn_started: None,
            first_clause_pending: false,
            first_clause_queued: None,
            last_activity: Instant::now(),
            face,
            bridge,
            face_timeline: FaceTimeline::new(goassist_engines::face::frame_interval(state_fps)),
            held_clauses: VecDeque::new(),
            last_speech_packet: None,
        }
    }

    async fn run(
        &mut self,
        mut events: mpsc::Receiver<PeerEvent>,
        cancelled: CancellationToken,
    ) -> EndReason {
        let idle = Duration::from_secs(self.state.config.session_idle_timeout_s);
        self.ticket.set_state("connecting");
        loop {
            self.execute_commands();
            let timeout = self.conversation.poll_timeout();
            let idle_deadline = self.last_activity + idle;
            let bridge_due = self
                .bridge
                .as_ref()
                .and_then(|b| b.next_due(Instant::now()));
            tokio::select! {
                _ = cancelled.cancelled() => return EndReason::Admin,
                event = events.recv() => match event {
                    None => return EndReason::Client,
                    Some(PeerEvent::Disconnected { reason }) => {
                        tracing::info!(%reason, "peer disconnected");
                        return EndReason::Client;
                    }
                    Some(event) => self.on_peer_event(event),
                },
                heard = self.heard.recv() => match heard {
                    Some(heard) => self.on_heard(heard),
                    None => {
                        tracing::error!("listener thread ended");
                        return EndReason::Error;
                    }
                },
                result = reply_of(&mut self.partial), if self.partial.is_some() => {
                    self.partial = None;
                    if let Ok(text) = result {
                        self.conversation.handle(Instant::now(), Input::PartialTranscript(text));
                    }
                }
                result = reply_of(&mut self.final_asr), if self.final_asr.is_some() => {
                    self.final_asr = None;
                    let text = result.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "final transcription failed");
                        String::new()
                    });
                    if let Some(started) = self.turn_started {
                        self.observe_stage("asr", started.elapsed());
                    }
                    self.conversation.handle(Instant::now(), Input::FinalTranscript(text));
                }
                event = next_llm_event(&mut self.llm), if self.llm.is_some() => self.on_llm_event(event),
                frame = next_face_frame(&mut self.face), if self.face.is_some() => match frame {
                    Some(frame) => self.send_face(frame),
                    None => self.face = None,
                },
                result = front_clause(&mut self.clauses), if !self.clauses.is_empty() => {
                    if let Some(pending) = self.clauses.pop_front() {
                        self.on_clause(pending, result);
                    }
                }
                _ = sleep_until(timeout), if timeout.is_some() => self.conversation.handle_timeout(Instant::now()),
                _ = sleep_until(bridge_due), if bridge_due.is_some() => self.release_bridge_frames(),
                _ = tokio::time::sleep_until(idle_deadline.into()) => {
                    tracing::info!(idle_s = idle.as_secs(), "session idle timeout");
                    return EndReason::IdleTimeout;
                }
            }
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        let now = Instant::now();
        match event {
            PeerEvent::Connected => {
                self.send(ServerEvent::Session {
                    session_id: format_id(self.ticket.id()),
                    audio_clock_hz: 48_000,
                    face_fps: if self.state.config.animation_enabled {
                        self.state.config.animation_fps
                    } else {
                        0
                    },
                });
                self.send(ServerEvent::State {
                    state: TurnState::Listening,
                    epoch: self.conversation.epoch(),
                });
                self.ticket.set_state("listening");
            }
            PeerEvent::AudioIn {
                samples_48k, at, ..
            } => {
                if self.conversation.state() != TurnState::Speaking
                    || samples_48k.iter().any(|s| s.abs() > 1e-4)
                {
                    self.last_activity = now;
                }
                let _ = self.audio_in.send(AudioChunk { samples_48k, at });
            }
            PeerEvent::AudioSent {
                epoch,
                marker,
                samples,
                at,
                sample_pos,
            } => {
                self.state.metrics.audio_packets_sent_total.inc();
                self.observe_send_interval(sample_pos, samples, at);
                self.face_timeline.audio_sent(sample_pos + samples as u64);
                if let Some(face) = &self.face {
                    face.report_send_position(sample_pos + samples as u64);
                }
                if let Some(bridge) = &self.bridge {
                    bridge.audio_sent(sample_pos + samples as u64, at);
                }
                self.conversation.handle(
                    now,
                    Input::AudioSent {
                        epoch,
                        clause: marker as usize,
                        samples,
                        at,
                    },
                );
            }
            PeerEvent::DataText { channel, text } => self.on_client_message(&channel, &text),
            PeerEvent::DataBinary { channel, data } => {
                self.state
                    .metrics
                    .malformed_input_total
                    .with_label_values(&["data_channel"])
                    .inc();
                tracing::debug!(%channel, bytes = data.len(), "unexpected binary message ignored");
            }
            PeerEvent::Stats {
                direction,
                loss_ratio,
                jitter_seconds,
            } => {
                if direction == StatsDirection::Ingress {
                    self.state
                        .metrics
                        .webrtc_packet_loss_ratio
                        .observe(loss_ratio);
                    self.state
                        .metrics
                        .webrtc_jitter_seconds
                        .observe(jitter_seconds);
                }
            }
            PeerEvent::Disconnected { .. } => {}
        }
    }

    fn on_client_message(&mut self, channel: &str, text: &str) {
        match ClientMessage::parse(text) {
            Ok(ClientMessage::Ping) => self.last_activity = Instant::now(),
            Ok(ClientMessage::UserText { text }) => {
                self.last_activity = Instant::now();
                self.turn_started = Some(Instant::now());
                self.conversation
                    .handle(Instant::now(), Input::UserText(text));
            }
            Err(e) => {
                self.state
                    .metrics
                    .malformed_input_total
                    .with_label_values(&["data_channel"])
                    .inc();
                tracing::debug!(%channel, error = %e, "bad client message");
                self.send(ServerEvent::Error {
                    code: "bad_message".into(),
                    message: e.to_string(),
                });
            }
        }
    }

    fn on_heard(&mut self, heard: Heard) {
        let now = Instant::now();
        match heard {
            Heard::VoiceOnset { at } => self.conversation.handle(now, Input::VoiceOnset { at }),
            Heard::SpeechStart { onset_at } => {
                self.last_activity = now;
                self.conversation
                    .handle(now, Input::SpeechStart { onset_at });
            }
            Heard::Partial(audio) => {
                // One partial at a time per session: a newer one replaces a queued one.
                self.partial = Some(self.engines.asr.submit(audio, false));
            }
            Heard::SpeechEnd {
                last_speech_at,
                utterance,
            } => {
                self.last_activity = now;
                self.partial = None;
                self.utterance = Some(utterance);
                self.turn_started = Some(now);
                self.conversation
                    .handle(now, Input::SpeechEnd { last_speech_at });
            }
            Heard::Failed(reason) => {
                tracing::error!(%reason, "speech detection failed");
                self.send(ServerEvent::Error {
                    code: "vad_failed".into(),
                    message: reason,
                });
            }
        }
    }

    fn on_llm_event(&mut self, event: Option<LlmEvent>) {
        let Some(request) = self.llm.as_mut() else {
            return;
        };
        let epoch = request.epoch;
        let now = Instant::now();
        match event {
            Some(LlmEvent::Token(text)) => {
                if !request.first_token {
                    request.first_token = true;
                    let ttft = request.started.elapsed();
                    self.observe_stage("llm_ttft", ttft);
                }
                self.conversation
                    .handle(now, Input::LlmToken { epoch, text });
            }
            Some(LlmEvent::Done(stats)) => {
                tracing::debug!(epoch, tokens = stats.generated_tokens, "answer generated");
                self.observe_stage("llm_total", stats.total);
                self.llm = None;
                self.conversation.handle(now, Input::LlmDone { epoch });
            }
            Some(LlmEvent::Error(reason)) => {
                tracing::warn!(%reason, "LLM request failed");
                self.llm = None;
                self.conversation
                    .handle(now, Input::LlmFailed { epoch, reason });
            }
            None => {
                self.llm = None;
                self.conversation.handle(
                    now,
                    Input::LlmFailed {
                        epoch,
                        reason: "LLM stream ended".into(),
                    },
                );
            }
        }
    }

    fn on_clause(&mut self, pending: PendingClause, result: Result<SynthesizedClause, String>) {
        if self.face_timeline.is_paused() {
            self.held_clauses.push_back((pending, result));
            return;
        }
        let now = Instant::now();
        let PendingClause { epoch, clause, .. } = pending;
        match result {
            Ok(synth) => {
                if self.first_clause_pending {
                    self.first_clause_pending = false;
                    self.first_clause_queued = Some(now);
                    if let Some(started) = self.turn_started {
                        self.observe_stage("tts_first", started.elapsed());
                    }
                }
                let samples = synth.samples_48k.len();
                tracing::debug!(epoch, clause, samples, "clause synthesized");
                let audio: Arc<[f32]> = synth.samples_48k.into();
                let start_pos = self.peer.push_audio(epoch, clause as u64, audio.to_vec());
                if let Some(bridge) = &mut self.bridge {
                    bridge.clause_queued(epoch, start_pos, &audio);
                }
                if let Some(face) = &self.face {
                    // Never waits: a full face queue drops (and counts) the segment.
                    face.push_segment(epoch, audio, start_pos, synth.phonemes);
                }
                self.conversation.handle(
                    now,
                    Input::ClauseQueued {
                        epoch,
                        clause,
                        samples,
                        start_pos,
                    },
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, clause, "synthesis failed; clause skipped");
                self.conversation
                    .handle(now, Input::ClauseFailed { epoch, clause });
            }
        }
    }

    fn execute_commands(&mut self) {
        while let Some(command) = self.conversation.poll() {
            match command {
                Command::Event(event) => {
                    if let ServerEvent::State { state, .. } = &event {
                        self.ticket.set_state(state_name(*state));
                        if let Some(face) = &self.face {
                            face.set_listening(*state != TurnState::Speaking);
                        }
                    }
                    self.send(event);
                }
                Command::PauseAudio => self.pause_audio(),
                Command::ResumeAudio => self.resume_audio(),
                Command::Interrupt { new_epoch } => {
                    self.peer.interrupt(new_epoch);
                    self.face_timeline.interrupted();
                    self.held_clauses.clear();
                    if let Some(face) = &self.face {
                        face.interrupt(new_epoch);
                    }
                    self.clauses.clear();
                    if let Some(bridge) = &mut self.bridge {
                        bridge.interrupt();
                    }
                    self.state.metrics.barge_ins_total.inc();
                }
                Command::RunFinalAsr => match self.utterance.take() {
                    Some(audio) => self.final_asr = Some(self.engines.asr.submit(audio, true)),
                    None => self
                        .conversation
                        .handle(Instant::now(), Input::FinalTranscript(String::new())),
                },
                Command::StartLlm { epoch, history } => {
                    tracing::debug!(epoch, turns = history.len(), "answering");
                    if let Some(old) = self.llm.take() {
                        old.cancel.cancel();
                    }
                    let cancel = CancellationToken::new();
                    let request = ChatRequest {
                        messages: history.iter().map(to_message).collect(),
                    };
                    let events = self.engines.llm.generate(request, cancel.clone());
                    self.llm = Some(LlmRequest {
                        epoch,
                        events,
                        cancel,
                        started: Instant::now(),
                        first_token: false,
                    });
                    self.first_clause_pending = true;
                }
                Command::CancelLlm => {
                    if let Some(old) = self.llm.take() {
                        old.cancel.cancel();
                    }
                }
                Command::Synthesize {
                    epoch,
                    clause,
                    text,
                } => {
                    let reply = self.engines.tts.submit(text, false);
                    self.clauses.push_back(PendingClause {
                        epoch,
                        clause,
                        reply,
                    });
                }
                Command::Observe { metric, seconds } => {
                    let histogram = match metric {
                        Metric::Ttfa => &self.state.metrics.ttfa_seconds,
                        Metric::VoiceToVoice => &self.state.metrics.voice_to_voice_seconds,
                        Metric::BargeIn => &self.state.metrics.barge_in_seconds,
                    };
                    histogram.observe(seconds);
                    tracing::debug!(metric = ?metric, ms = (seconds * 1000.0).round(), "latency");
                    if metric == Metric::Ttfa
                        && let Some(queued) = self.first_clause_queued.take()
                    {
                        // The output side of the server's own overhead: the first clause
                        // waits for the next packet slot of the paced audio clock.
                        self.observe_stage("send_first", queued.elapsed());
                    }
                }
            }
        }
    }

    /// A voice while the assistant speaks (maybe a barge-in): silence goes out instead of the
    /// queued speech, and the face rests (see face_timeline).
    fn pause_audio(&mut self) {
        let (from, until) = self.peer.pause();
        let rest = self
            .face_timeline
            .paused(self.conversation.epoch(), from, until);
        if let Some(rest) = rest
            && self.state.animation.enabled()
        {
            self.peer.send_face(rest.encode().to_vec());
            if let Some(bridge) = &mut self.bridge {
                bridge.pause(rest);
            }
        }
    }

    /// A dismissed voice (a cough) ends the pause: the queued speech plays later by the
    /// silence sent meanwhile, and the face follows it (see face_timeline).
    fn resume_audio(&mut self) {
        let queued_until = self.peer.resume();
        let resumed = self.face_timeline.resumed(queued_until);
        if let Some(shift) = &resumed.shift {
            tracing::debug!(
                by_ms = shift.by / 48,
                "audio resumed later; face re-stamped"
            );
        }
        if let Some(bridge) = &mut self.bridge {
            bridge.resume(resumed.shift.as_ref());
        }
        if self.state.animation.enabled() {
            if let Some(rest) = resumed.rest {
                self.peer.send_face(rest.encode().to_vec());
                if let Some(bridge) = &mut self.bridge {
                    bridge.offer(rest);
                }
            }
            // The bridge still holds these (it releases frames as their audio goes out).
            for frame in &resumed.moved {
                self.peer.send_face(frame.encode().to_vec());
            }
            for frame in resumed.deferred {
                self.peer.send_face(frame.encode().to_vec());
                if let Some(bridge) = &mut self.bridge {
                    bridge.offer(frame);
                }
            }
        }
        while let Some((pending, result)) = self.held_clauses.pop_front() {
            self.on_clause(pending, result);
        }
    }

    /// A face frame to the client (unordered, no retransmit) and, for Profile C, the render-bridge.
    fn send_face(&mut self, frame: goassist_protocol::FaceFrame) {
        if !self.state.animation.enabled() {
            return;
        }
        let Some(frame) = self.face_timeline.outgoing(frame) else {
            return; // its audio is paused: sent when the pause ends
        };
        self.peer.send_face(frame.encode().to_vec());
        self.state.metrics.animation_frames_sent_total.inc();
        if let Some(bridge) = &mut self.bridge {
            bridge.offer(frame);
            self.release_bridge_frames();
        }
    }

    /// Times consecutive packets of speech (a packet carrying two clauses reports twice, with
    /// one send time; a jump in position means silence went out between).
    fn observe_send_interval(&mut self, sample_pos: u64, samples: usize, at: Instant) {
        if let Some((end, sent_at)) = self.last_speech_packet
            && end == sample_pos
            && at > sent_at
        {
            self.state
                .metrics
                .audio_send_interval_seconds
                .observe((at - sent_at).as_secs_f64());
        }
        self.last_speech_packet = Some((sample_pos + samples as u64, at));
    }

    /// Sends the render-bridge the frames whose audio has gone out.
    fn release_bridge_frames(&mut self) {
        let Some(bridge) = &mut self.bridge else {
            return;
        };
        let released = bridge.release_due(Instant::now());
        let frames = &self.state.metrics.render_bridge_frames_total;
        frames.with_label_values(&["sent"]).inc_by(released.sent);
        frames
            .with_label_values(&["dropped"])
            .inc_by(released.dropped);
    }

    fn send(&self, mut event: ServerEvent) {
        // A clause announced after a pause plays later than where it was queued.
        if let ServerEvent::AssistantText {
            epoch, sample_pos, ..
        } = &mut event
        {
            *sample_pos = self.face_timeline.restamp(*epoch, *sample_pos);
        }
        self.peer.send_event(event.to_json());
    }

    fn observe_stage(&self, stage: &str, elapsed: Duration) {
        self.state
            .metrics
            .stage_seconds
            .with_label_values(&[stage])
            .observe(elapsed.as_secs_f64());
    }
}

fn to_message(turn: &ChatTurn) -> ChatMessage {
    ChatMessage {
        role: match turn.speaker {
            Speaker::User => Role::User,
            Speaker::Assistant => Role::Assistant,
        },
        content: turn.text.clone(),
    }
}

fn state_name(state: TurnState) -> &'static str {
    match state {
        TurnState::Listening => "listening",
        TurnState::UserSpeaking => "user_speaking",
        TurnState::Thinking => "thinking",
        TurnState::Speaking => "speaking",
    }
}

/// Awaits an optional worker reply; a dropped worker counts as an error.
async fn reply_of<T>(reply: &mut Option<Reply<T>>) -> Result<T, String> {
    match reply {
        Some(r) => r.await.unwrap_or_else(|_| Err("worker stopped".into())),
        None => std::future::pending().await,
    }
}

/// Awaits the oldest clause in synthesis: clauses are queued in the order they are spoken.
async fn front_clause(clauses: &mut VecDeque<PendingClause>) -> Result<SynthesizedClause, String> {
    match clauses.front_mut() {
        Some(c) => (&mut c.reply)
            .await
            .unwrap_or_else(|_| Err("worker stopped".into())),
        None => std::future::pending().await,
    }
}

async fn next_llm_event(llm: &mut Option<LlmRequest>) -> Option<LlmEvent> {
    match llm.as_mut() {
        Some(request) => request.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_face_frame(face: &mut Option<FaceSession>) -> Option<goassist_protocol::FaceFrame> {
    match face.as_mut() {
        Some(face) => face.frames.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
