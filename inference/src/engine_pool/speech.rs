//! Speech recognition and synthesis as pool engines, through the engines crate's traits.

use goassist_engines::EngineError;
use goassist_engines::asr::Asr;
use goassist_engines::tts::Tts;

use super::{Engine, Pool, PoolSize};
use crate::media::resample_all;

/// The ASR pool: 16 kHz mono audio in, text out.
pub type AsrPool = Pool<AsrEngine>;
/// The TTS pool: text in, 48 kHz audio and phonemes out.
pub type TtsPool = Pool<TtsEngine>;

/// Any [`Asr`] (Moonshine, Whisper...) as a pool engine.
pub struct AsrEngine(pub Box<dyn Asr>);

impl Engine for AsrEngine {
    type Input = Vec<f32>;
    type Output = String;

    fn run(&mut self, audio_16k: Vec<f32>) -> Result<String, EngineError> {
        self.0.transcribe(&audio_16k)
    }
}

/// Audio synthesized for one clause, on the 48 kHz output clock.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthesizedClause {
    /// Mono 48 kHz samples.
    pub samples_48k: Vec<f32>,
    /// IPA phonemes spoken, for text-side visemes.
    pub phonemes: Vec<String>,
}

/// Any [`Tts`] (Piper) as a pool engine; its audio is resampled to 48 kHz.
pub struct TtsEngine(pub Box<dyn Tts>);

impl Engine for TtsEngine {
    type Input = String;
    type Output = SynthesizedClause;

    fn run(&mut self, text: String) -> Result<SynthesizedClause, EngineError> {
        let audio = self.0.synthesize(&text)?;
        let samples_48k = resample_all(&audio.samples, audio.sample_rate, 48_000)
            .map_err(|e| EngineError::InvalidInput(format!("TTS audio: {e}")))?;
        Ok(SynthesizedClause {
            samples_48k,
            phonemes: audio.phonemes,
        })
    }
}

/// Slots and queue of the ASR pool for `sessions` concurrent sessions: a session has at most a
/// partial and a final transcript in flight.
pub fn asr_size(sessions: usize) -> PoolSize {
    PoolSize {
        slots: 2 * sessions.max(1),
        queue: 2 * sessions.max(1),
    }
}

/// Slots and queue of the TTS pool for `sessions` concurrent sessions: an answer's clauses are
/// submitted as the LLM writes them, so a long answer has many in flight (160 tokens make
/// about 15–30 clauses). A clause refused for lack of room is skipped, so this is generous.
pub fn tts_size(sessions: usize) -> PoolSize {
    PoolSize {
        slots: 4 * sessions.max(1),
        queue: 44 * sessions.max(1),
    }
}
