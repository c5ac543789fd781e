//! The real-time voice loop: shared engines, the per-session listener thread, the sans-IO
//! session core and its thin I/O shell.
//!
//! - `core.rs`: every per-session decision (turns, barge-in, the outgoing clock, clause order,
//!   the face across pauses, the bridge feed, idle, stage timing), driven in virtual time by
//!   its tests; `sinks.rs` (what consumes the output) and `stages.rs` are its parts, with the
//!   face timeline (`crate::face::timeline`) and the render-bridge feed
//!   (`crate::render_link::feed`).
//! - `session.rs`: the async loop that moves data between the core and the world; `io.rs`:
//!   its connections (peer, listener, engines, face, render-bridge); `observe.rs`: metrics.
//! - `listener.rs`: the user's audio → VAD and utterance capture, on its own thread;
//!   `turns.rs`: when a pause ends the user's turn (the core's part of `TURN_DETECTOR`);
//!   `preemptive.rs`: the answer started while a pause is still being judged.
//!
//! The shared model engines are served by `crate::engine_pool` and `crate::llm`.

pub mod core;
mod io;
pub mod listener;
mod observe;
pub mod preemptive;
pub mod session;
pub mod sinks;
pub mod stages;
pub mod turns;

use std::sync::Arc;

use goassist_engines::asr::{Asr, MoonshineAsr};
use goassist_engines::tts::PiperTts;
use goassist_engines::turn::{SmartTurnModel, TurnDetectorKind, TurnRuleConfig};
use goassist_engines::vad::{CaptureConfig, SegmenterConfig, VadEngine, VadModel};

use crate::config::{AsrEngineKind, Config, VadEngineKind};
use crate::engine_pool::turn::turn_size;
use crate::engine_pool::{
    AsrEngine, AsrPool, Pool, TtsEngine, TtsPool, TurnEngine, TurnPool, speech,
};
use crate::face::FaceService;
use crate::llm::LlmService;
use crate::metrics::EngineMetrics;
use crate::render_link::RenderLink;
use crate::webrtc::WebRtcEndpoint;

/// Everything sessions share: loaded once, used by all.
pub struct VoiceEngines {
    /// The VAD model (per-session detectors are made from it).
    pub vad: VadModel,
    /// Speech segmentation thresholds.
    pub segmenter: SegmenterConfig,
    /// Utterance capture (partials pacing, padding).
    pub capture: CaptureConfig,
    /// Speech recognition (ASR_ENGINE) on its pool: `asr.submit(audio_16k, priority)`.
    pub asr: AsrPool,
    /// Speech synthesis (Piper) on its pool, 48 kHz out: `tts.submit(text, priority)`.
    pub tts: TtsPool,
    /// What ends the user's turn (`TURN_*`); the `silence` rule when Smart Turn is off or
    /// could not load.
    pub turn_rule: TurnRuleConfig,
    /// Smart Turn on its pool, with the `smart_turn` rule: `turn.submit(audio_16k, priority)`.
    pub turn: Option<TurnPool>,
    /// The shared LLM.
    pub llm: Arc<LlmService>,
    /// WebRTC media.
    pub webrtc: WebRtcEndpoint,
    /// Face animation, when ANIMATION_ENABLED (or switched on later by the operator).
    pub face: Option<Arc<FaceService>>,
    /// Face frames to a render-bridge (Profile C), when RENDER_BRIDGE_ADDR is set.
    pub render_link: Option<RenderLink>,
}

/// Loads the VAD, checked with one frame of silence.
pub fn load_vad(config: &Config) -> Result<VadModel, String> {
    let engine = match config.vad_engine {
        VadEngineKind::Silero => VadEngine::Silero,
        VadEngineKind::Webrtc => VadEngine::Webrtc,
    };
    let model = VadModel::load(engine, &config.models_dir).map_err(|e| e.to_string())?;
    let mut detector = model.new_detector(SegmenterConfig::default());
    detector
        .push(&[0.0; 1024])
        .map_err(|e| format!("VAD warm-up failed: {e}"))?;
    Ok(model)
}

/// Loads the configured recognizer, warms it with a second of a tone and starts its pool
/// (sized for `MAX_CONCURRENT_SESSIONS`, metrics under `engine="asr"`).
pub fn load_asr(
    config: &Config,
    threads: usize,
    metrics: &EngineMetrics,
) -> Result<AsrPool, String> {
    let mut asr = open_asr(config, threads)?;
    asr.transcribe(&warm_up_audio())
        .map_err(|e| format!("ASR warm-up failed: {e}"))?;
    let size = speech::asr_size(config.max_concurrent_sessions);
    Pool::spawn("asr", AsrEngine(asr), size, metrics.for_engine("asr"))
        .map_err(|e| format!("cannot start the ASR thread: {e}"))
}

/// Loads the recognizer ASR_ENGINE names (not warmed), computing with `threads` threads.
pub fn open_asr(config: &Config, threads: usize) -> Result<Box<dyn Asr>, String> {
    match config.asr_engine {
        AsrEngineKind::Moonshine => {
            MoonshineAsr::load_dir(&config.models_dir, &config.asr_model_path, threads)
                .map(|asr| Box::new(asr) as Box<dyn Asr>)
                .map_err(|e| e.to_string())
        }
        #[cfg(feature = "whisper")]
        AsrEngineKind::Whisper => goassist_engines::asr::WhisperAsr::load(
            &config.asr_model_path,
            config.asr_language,
            threads,
        )
        .map(|asr| Box::new(asr) as Box<dyn Asr>)
        .map_err(|e| e.to_string()),
        // Configuration refuses ASR_ENGINE=whisper in such a build; kept for completeness.
        #[cfg(not(feature = "whisper"))]
        AsrEngineKind::Whisper => {
            Err("this build has no Whisper (built without the `whisper` feature)".into())
        }
    }
}

/// Loads Piper (it warms itself up) and starts its pool (sized for `MAX_CONCURRENT_SESSIONS`,
/// metrics under `engine="tts"`); clauses come back resampled to the 48 kHz clock.
pub fn load_tts(
    config: &Config,
    threads: usize,
    metrics: &EngineMetrics,
) -> Result<TtsPool, String> {
    let tts = PiperTts::load_with_models_dir(&config.models_dir, &config.tts_model_path, threads)
        .map_err(|e| e.to_string())?;
    let size = speech::tts_size(config.max_concurrent_sessions);
    Pool::spawn(
        "tts",
        TtsEngine(Box::new(tts)),
        size,
        metrics.for_engine("tts"),
    )
    .map_err(|e| format!("cannot start the TTS thread: {e}"))
}

/// Loads Smart Turn for the `smart_turn` rule (warmed with a second of a tone) and starts its
/// pool (metrics under `engine="turn"`); `None` with the `silence` rule.
pub fn load_turn(config: &Config, metrics: &EngineMetrics) -> Result<Option<TurnPool>, String> {
    if config.turn.detector != TurnDetectorKind::SmartTurn {
        return Ok(None);
    }
    let model = SmartTurnModel::load(&config.models_dir).map_err(|e| e.to_string())?;
    model
        .predict(&warm_up_audio())
        .map_err(|e| format!("Smart Turn warm-up failed: {e}"))?;
    let size = turn_size(config.max_concurrent_sessions);
    Pool::spawn(
        "turn",
        TurnEngine(std::sync::Arc::new(model)),
        size,
        metrics.for_engine("turn"),
    )
    .map(Some)
    .map_err(|e| format!("cannot start the Smart Turn thread: {e}"))
}

/// One second of a 220 Hz tone at 16 kHz for the ASR warm-up: silence would not do, because a
/// recognizer may skip audio too quiet to hold speech without running its model (Whisper does).
fn warm_up_audio() -> Vec<f32> {
    (0..16_000)
        .map(|i| 0.1 * (std::f32::consts::TAU * 220.0 * i as f32 / 16_000.0).sin())
        .collect()
}
