//! Starts the engines behind the API and keeps readiness up to date.
//!
//! The HTTP API is up first (so `/healthz` answers during loading); the models load on threads
//! of their own (below the audio path's priority, `crate::priority`), each warmed with a first
//! inference, and `/readyz` turns 200 once every required component is ready. The LLM's health
//! is followed for as long as the process runs: when it fails `/readyz` turns 503 (new sessions
//! are refused) until the service has restarted it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goassist_engines::asr::AsrLanguage;
use goassist_engines::vad::CaptureConfig;

use crate::config::{Config, LlmBackendConfig, TurnDetectorKind, TurnRuleConfig};
use crate::face::{FaceService, FaceSettings, FaceStatus};
use crate::http::AppState;
use crate::llm::{BackendKind, LlmHealth, LlmService, LlmSettings, RemoteSettings, Secret};
use crate::priority::on_lowered_thread;
use crate::readiness::ComponentState;
use crate::render_link::RenderLink;
use crate::voice::{self, VoiceEngines};
use crate::webrtc::{WebRtcEndpoint, WebRtcSettings};

/// Loads and warms the models in the background; readiness follows each component.
///
/// `GOASSIST_SKIP_MODEL_LOADING=1` leaves every model component `loading` (never ready): for
/// tests of the operations API that run without models.
pub fn start(state: AppState) {
    if std::env::var_os("GOASSIST_SKIP_MODEL_LOADING").is_some() {
        tracing::warn!(
            "GOASSIST_SKIP_MODEL_LOADING is set: models are not loaded, /readyz stays 503"
        );
        return;
    }
    tokio::spawn(load(state));
}

async fn load(state: AppState) {
    let started = Instant::now();
    let config = Arc::clone(&state.config);
    let llm = LlmService::start_with_metrics(llm_settings(&config), state.metrics.llm());
    tokio::spawn(follow_llm(state.clone(), Arc::clone(&llm)));

    let load_component = |name: &'static str, state: &AppState| {
        state.readiness.set(name, ComponentState::Loading);
        tracing::info!(component = name, "loading");
    };
    load_component("vad", &state);
    load_component("asr", &state);
    load_component("tts", &state);
    let (vad, asr, tts, turn) = {
        let (c1, c2, c3, c4) = (
            Arc::clone(&config),
            Arc::clone(&config),
            Arc::clone(&config),
            Arc::clone(&config),
        );
        let (m2, m3, m4) = (
            state.metrics.engines.clone(),
            state.metrics.engines.clone(),
            state.metrics.engines.clone(),
        );
        // The engines load on threads below the audio path's priority: the threads they start
        // (each pool's serving thread, ONNX Runtime's intra-op pool, which keeps the loader's
        // name: `engine-asr` in `top -H`) inherit it. The VAD runs on
        // each session's listener thread, where a barge-in is heard, so it keeps the process's.
        let nice = config.engine_thread_nice;
        tokio::join!(
            on_lowered_thread("engine-vad", 0, move || voice::load_vad(&c1)),
            on_lowered_thread("engine-asr", nice, move || voice::load_asr(&c2, 2, &m2)),
            on_lowered_thread("engine-tts", nice, move || voice::load_tts(&c3, 1, &m3)),
            on_lowered_thread("engine-turn", nice, move || voice::load_turn(&c4, &m4)),
        )
    };
    let (Some(vad), Some(asr), Some(tts)) = (
        loaded(&state, "vad", vad),
        loaded(&state, "asr", asr),
        loaded(&state, "tts", tts),
    ) else {
        tracing::error!("a required model failed to load; the server stays unready (see /readyz)");
        return;
    };
    // Without Smart Turn the conversation still works, on the fixed-silence rule.
    let turn = turn.unwrap_or_else(|e| Err(e.to_string())).unwrap_or_else(|reason| {
        tracing::error!(%reason, "Smart Turn failed to load; turns end on VAD_END_OF_TURN_SILENCE_MS of silence (set TURN_DETECTOR=silence to silence this)");
        None
    });
    let turn_rule = match turn {
        Some(_) => config.turn,
        None => TurnRuleConfig::silence(config.turn.silence),
    };
    let webrtc = WebRtcEndpoint::new(webrtc_settings(&config));
    let face = start_face(&state).await;
    let render_link = config.render_bridge_addr.map(|addr| {
        let avatar = config.render_bridge_avatar_id;
        let key = config.render_bridge_key.clone();
        tracing::info!(%addr, avatar, sealed = key.is_some(), "sending face frames to the render-bridge");
        RenderLink::new_with_key(addr, RENDER_LINK_QUEUE, key).with_avatar(avatar)
    });
    let engines = VoiceEngines {
        vad,
        segmenter: segmenter_settings(&config, &turn_rule),
        capture: capture_settings(&config),
        asr,
        tts,
        turn_rule,
        turn,
        llm,
        webrtc,
        face,
        render_link,
    };
    if state.voice.set(Arc::new(engines)).is_err() {
        tracing::error!("voice engines were already set");
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "speech models loaded and warmed"
    );
}

/// Records a component's loading outcome in readiness; the loaded engine when it worked.
fn loaded<T>(
    state: &AppState,
    name: &'static str,
    result: Result<Result<T, String>, String>,
) -> Option<T> {
    match result {
        Ok(Ok(engine)) => {
            state.readiness.set(name, ComponentState::Ready);
            Some(engine)
        }
        Ok(Err(reason)) => {
            tracing::error!(component = name, %reason, "failed to load");
            state.readiness.set(name, ComponentState::Failed(reason));
            None
        }
        Err(e) => {
            state
                .readiness
                .set(name, ComponentState::Failed(format!("loader failed: {e}")));
            None
        }
    }
}

/// Frames waiting for the render-bridge sender; beyond this they are dropped (and counted).
const RENDER_LINK_QUEUE: usize = 1024;

/// Starts the face service (never fatal: without it voice goes on) and follows its health and
/// the operator's kill-switch.
async fn start_face(state: &AppState) -> Option<Arc<FaceService>> {
    let config = &state.config;
    let settings = FaceSettings::from(&**config);
    let metrics = state.metrics.face.clone();
    let face = match tokio::task::spawn_blocking(move || {
        FaceService::start_with_metrics(settings, metrics)
    })
    .await
    {
        Ok(Ok(face)) => face,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "animation unavailable; voice goes on without a face");
            state.readiness.set(
                "animation",
                ComponentState::Degraded(format!("not started: {e}")),
            );
            return None;
        }
        Err(e) => {
            state.readiness.set(
                "animation",
                ComponentState::Degraded(format!("not started: {e}")),
            );
            return None;
        }
    };
    tokio::spawn(follow_face(state.clone(), Arc::clone(&face)));
    Some(face)
}

/// Applies the admin kill-switch to the face service and mirrors its health into readiness.
async fn follow_face(state: AppState, face: Arc<FaceService>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let enabled = state.animation.enabled();
        if face.is_enabled() != enabled {
            face.set_enabled(enabled);
        }
        let component = match (enabled, face.status()) {
            (false, _) => ComponentState::Disabled,
            (true, FaceStatus::Healthy) => ComponentState::Ready,
            (true, FaceStatus::Degraded { reason }) => ComponentState::Degraded(reason),
        };
        state.readiness.set("animation", component);
    }
}

/// Mirrors the LLM's health into readiness and its restarts into metrics for the life of the
/// process (the service keeps its queue gauges itself).
async fn follow_llm(state: AppState, llm: Arc<LlmService>) {
    let mut health = llm.subscribe_health();
    let mut restarts_seen = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let component = match &*health.borrow_and_update() {
            LlmHealth::Loading => ComponentState::Loading,
            LlmHealth::Ready => ComponentState::Ready,
            LlmHealth::Unavailable { reason } => ComponentState::Failed(reason.clone()),
        };
        state.readiness.set("llm", component);
        tokio::select! {
            changed = health.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let restarts = llm.restarts();
        if restarts > restarts_seen {
            state
                .metrics
                .restarts_total
                .with_label_values(&["llm"])
                .inc_by(restarts - restarts_seen);
            restarts_seen = restarts;
        }
    }
}

fn llm_settings(config: &Config) -> LlmSettings {
    let mut settings = LlmSettings {
        max_context_tokens: config.llm_max_context_tokens,
        prefix_caching: config.llm_prefix_caching,
        max_batch_size: config.llm_max_batch_size,
        max_queue: config.llm_max_queue,
        system_prompt: config.llm_system_prompt.clone(),
        max_new_tokens: config.llm_max_new_tokens,
        no_echo_ngram: config.llm_no_echo_ngram,
        engine_thread_nice: config.engine_thread_nice,
        ..LlmSettings::default()
    };
    match &config.llm {
        LlmBackendConfig::Local { model_path } => {
            settings.model_path = model_path.clone();
            settings.backend = BackendKind::Local;
        }
        LlmBackendConfig::Remote {
            base_url,
            api_key,
            model,
            timeout_s,
        } => {
            settings.backend = BackendKind::Remote(RemoteSettings {
                base_url: base_url.clone(),
                api_key: api_key.as_ref().map(|k| Secret::new(k.expose())),
                model: model.clone(),
                timeout: Duration::from_secs(*timeout_s),
            });
        }
    }
    settings
}

fn webrtc_settings(config: &Config) -> WebRtcSettings {
    WebRtcSettings {
        udp_port_min: config.webrtc_udp_ports.0,
        udp_port_max: config.webrtc_udp_ports.1,
        bind_ip: config.api_host,
        advertised_ips: config.webrtc_public_ips.clone(),
        packet_ms: config.audio_packet_ms,
        overlap_ms: config.audio_overlap_ms,
        ..WebRtcSettings::default()
    }
}

/// Audio before an utterance's first partial transcript when Whisper identifies the language
/// (`ASR_LANGUAGE=auto`). On half a second it can pick the wrong one: the start of Russian
/// "Сначала…" came back as English "Snatch up.". Two seconds is a few words.
const AUTO_LANGUAGE_FIRST_PARTIAL_MS: u32 = 2_000;

/// How the utterance is captured for the recognizer: partials start later when the
/// recognizer has to identify the language from them.
fn capture_settings(config: &Config) -> CaptureConfig {
    let defaults = CaptureConfig::default();
    if config.asr_language == AsrLanguage::Auto {
        CaptureConfig {
            first_partial_ms: AUTO_LANGUAGE_FIRST_PARTIAL_MS,
            ..defaults
        }
    } else {
        defaults
    }
}

/// The VAD segmenter: with Smart Turn, its own end of speech is only the backstop at the
/// longest pause (the session's turn detector normally ends the turn first).
fn segmenter_settings(
    config: &Config,
    turn: &TurnRuleConfig,
) -> goassist_engines::vad::SegmenterConfig {
    let silence = match turn.detector {
        TurnDetectorKind::SmartTurn => turn.max_silence + Duration::from_millis(500),
        TurnDetectorKind::Silence => turn.silence,
    };
    goassist_engines::vad::SegmenterConfig {
        min_speech_ms: config.barge_in_min_speech_ms,
        end_of_turn_silence_ms: u32::try_from(silence.as_millis()).unwrap_or(u32::MAX),
        ..Default::default()
    }
}
