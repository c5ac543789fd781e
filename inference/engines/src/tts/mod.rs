//! Text to speech: Piper VITS voices via ONNX Runtime, phonemes from espeak-ng.
//!
//! The voice loop splits the LLM's streamed answer into clauses (the inference server's
//! conversation code) and hands each to [`Tts::synthesize`], so the first audio leaves while
//! the LLM is still writing the rest of the answer.
//!
//! ```text
//! clause ─► clean_for_speech ─► espeak-ng IPA ─► Piper ids ─► ONNX ─► f32 audio
//! ```
//!
//! The default voice, `en_US-joe-medium`, is MIT-licensed and was fine-tuned from Piper's
//! "lessac" voice (its model card says so). espeak-ng is GPL-3.0-or-later and is linked
//! dynamically.

mod cleanup;
pub mod espeak;
mod phonemes;
mod piper;
mod voice;

pub use cleanup::clean_for_speech;
pub use phonemes::spoken_phonemes;
pub use piper::PiperTts;
pub use voice::PiperVoiceConfig;

use crate::EngineError;

/// Speech for one text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TtsAudio {
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// Sample rate of `samples` in Hz.
    pub sample_rate: u32,
    /// The IPA phonemes spoken, in order (stress marks, spaces and pauses left out), for
    /// text-side visemes.
    pub phonemes: Vec<String>,
}

impl TtsAudio {
    /// Length of the audio in seconds.
    pub fn duration_s(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// A speech synthesizer. Blocking: run it on a dedicated thread, never on the async reactor.
pub trait Tts: Send {
    /// Sample rate of the audio [`Tts::synthesize`] returns.
    fn sample_rate(&self) -> u32;
    /// Speaks `text` (markdown, emojis and code are cleaned away first). Text with nothing to
    /// say gives empty audio, not an error.
    fn synthesize(&mut self, text: &str) -> Result<TtsAudio, EngineError>;
}
