//! The real-time voice loop: shared engines, per-session listener and session driver.

pub mod bridge_audio;
pub mod bridge_feed;
pub mod face_timeline;
pub mod listener;
pub mod session;
pub mod workers;

use std::sync::Arc;

use goassist_engines::asr::{Asr, MoonshineAsr};
use goassist_engines::audio::resample_all;
use goassist_engines::tts::{PiperTts, Tts};
use goassist_engines::vad::{CaptureConfig, SegmenterConfig, VadEngine, VadModel};

use crate::config::{AsrEngineKind, Config, VadEngineKind};
use crate::face::FaceService;
use crate::llm::LlmService;
use crate::render_link::RenderLink;
use crate::webrtc::WebRtcEndpoint;
use session::SynthesizedClause;
use workers::Worker;

/// Everything sessions share: loaded once, used by all.
pub struct VoiceEngines {
    /// The VAD model (per-session detectors are made from it).
    pub vad: VadModel,
    /// Speech segmentation thresholds.
    pub segmenter: SegmenterConfig,
    /// Utterance capture (partials pacing, padding).
    pub capture: CaptureConfig,
    /// The recognizer (ASR_ENGINE) on its worker thread.
    pub asr: Worker<Vec<f32>, String>,
    /// Piper on its worker thread; returns 48 kHz audio.
    pub tts: Worker<String, SynthesizedClause>,
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

/// Loads the configured recognizer and warms it with a second of silence.
pub fn load_asr(config: &Config, threads: usize) -> Result<Worker<Vec<f32>, String>, String> {
    let mut asr = open_asr(config, threads)?;
    asr.transcribe(&vec![0.0; 16_000])
        .map_err(|e| format!("ASR warm-up failed: {e}"))?;
    Ok(Worker::spawn("asr", asr, |asr, audio: Vec<f32>| {
        asr.transcribe(&audio).map_err(|e| e.to_string())
    }))
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

/// Loads Piper (it warms itself up); synthesized audio is resampled to the 48 kHz clock.
pub fn load_tts(
    config: &Config,
    threads: usize,
) -> Result<Worker<String, SynthesizedClause>, String> {
    let tts = PiperTts::load_with_models_dir(&config.models_dir, &config.tts_model_path, threads)
        .map_err(|e| e.to_string())?;
    Ok(Worker::spawn("tts", tts, |tts, text: String| {
        let audio = tts.synthesize(&text).map_err(|e| e.to_string())?;
        let samples_48k =
            resample_all(&audio.samples, audio.sample_rate, 48_000).map_err(|e| e.to_string())?;
        Ok(SynthesizedClause {
            samples_48k,
            phonemes: audio.phonemes,
        })
    }))
}
