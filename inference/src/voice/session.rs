//! One voice session's I/O shell: a thin loop that moves data between the [`SessionCore`] and
//! the world (`io.rs`: the WebRTC peer, the listener thread, the shared engines, the face engine
//! and the render-bridge link). Every decision is the core's (see `core.rs`); this loop only
//! waits for the next thing to happen, hands it to the core, and has the outputs carried out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tracing::Instrument;

use super::VoiceEngines;
use super::core::TranscriptKind;
use super::core::{CoreSettings, Input, SessionCore};
use super::io::{Io, next_face_frame, next_llm_event, pause_reply, reply};
use super::listener;
use crate::http::AppState;
use crate::llm::LlmEvent;
use crate::media::{PacketizerConfig, WEBRTC_RATE};
use crate::sessions::{EndReason, SessionTicket};
use crate::webrtc::{Peer, PeerEvent};

/// Runs a session until the client leaves, it idles out, or it is cancelled.
pub async fn run(state: AppState, engines: Arc<VoiceEngines>, ticket: SessionTicket, peer: Peer) {
    let span = tracing::info_span!("session", session = %ticket.public_id());
    async move {
        tracing::info!("session started");
        let reason = ticket.set_end_reason(drive(&state, &engines, &ticket, peer).await);
        tracing::info!(reason = reason.as_str(), "session closed");
    }
    .instrument(span)
    .await
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
            .open_session(ticket.bridge_id())
            .inspect_err(|e| tracing::warn!(error = %e, "no face for this session"))
            .ok()
    });
    let settings = CoreSettings {
        session_id: ticket.public_id().to_string(),
        packetizer: PacketizerConfig {
            sample_rate: WEBRTC_RATE,
            packet_ms: config.audio_packet_ms,
            overlap_ms: config.audio_overlap_ms,
        },
        barge_in_min_speech: Duration::from_millis(u64::from(config.barge_in_min_speech_ms)),
        idle_timeout: Duration::from_secs(config.session_idle_timeout_s),
        max_duration: (config.session_max_duration_s > 0)
            .then(|| Duration::from_secs(config.session_max_duration_s)),
        face_fps: config.animation_fps,
        face_configured: config.animation_enabled,
        face_engine: face.is_some(),
        bridge: engines
            .render_link
            .as_ref()
            .map(|_| config.render_bridge_send_audio),
        turn: engines.turn_rule,
        preemptive_answer: config.turn_preemptive_answer,
    };
    let mut core = match SessionCore::new(settings, Instant::now()) {
        Ok(core) => core,
        Err(e) => {
            tracing::error!(error = %e, "invalid audio settings");
            return EndReason::Error;
        }
    };
    let detector = engines.vad.new_detector(engines.segmenter);
    let probe = engines
        .turn
        .is_some()
        .then_some(engines.turn_rule.probe_after);
    let (audio_in, mut heard) = listener::spawn(
        detector,
        engines.capture,
        probe,
        ticket.public_id().to_string(),
    );
    let Peer { mut events, handle } = peer;
    let mut io = Io {
        state,
        engines,
        ticket,
        peer: handle,
        audio_in,
        partial: None,
        partial_waiting: None,
        final_asr: None,
        pause_asr: None,
        judge_audio: None,
        judge_text: None,
        llm_session: engines.llm.open_session(),
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
            result = reply(&mut io.partial) => {
                io.partial_answered();
                Input::Transcript { kind: TranscriptKind::Partial, result }
            }
            result = reply(&mut io.final_asr) => {
                Input::Transcript { kind: TranscriptKind::Final, result }
            }
            (pause, result) = pause_reply(&mut io.pause_asr) => {
                Input::Transcript { kind: TranscriptKind::Pause(pause), result }
            }
            (pause, result) = pause_reply(&mut io.judge_audio) => Input::TurnAudio { pause, result },
            (pause, probability) = pause_reply(&mut io.judge_text) => {
                Input::TurnText { pause, probability }
            }
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
