//! Speech recognition: 16 kHz mono audio in, text out.
//!
//! # Engines
//!
//! - [`MoonshineAsr`] (the default): Moonshine base-en through ONNX Runtime. English only;
//!   cheap on short audio (its cost follows the audio length).
//! - `WhisperAsr` (cargo feature `whisper`): multilingual Whisper through whisper.cpp, for
//!   speech in any of its 99 languages, fixed or detected per utterance ([`AsrLanguage`]).
//!   Each call encodes a 30 s window, so short partials cost as much as long finals.
//!
//! Both implement [`Asr`] with the same contract, so the server streams with either the same
//! way (below).
//!
//! # Streaming partial transcripts
//!
//! Moonshine is not a streaming model, but it is cheap on short audio (its encoder takes the
//! exact audio length, no 30 s window) so streaming is done by re-running it:
//! - while the user speaks, the server calls [`Asr::transcribe`] on the whole utterance so far
//!   (from the VAD's `SpeechStart`) every 0.5–1 s and sends the result as a partial transcript;
//!   each call replaces the previous partial, so early mistakes correct themselves;
//! - at end of turn (the VAD's `SpeechEnd`) it transcribes the complete utterance once more and
//!   that is the final transcript the LLM receives.
//!
//! A call costs about 0.14 s of CPU per second of audio with one intra-op thread and the
//! converted `.onnx` models (`docs/benchmarks/asr.md`; the shipped `.ort` files cost ~4x more,
//! see [`MoonshineAsr`]), so on an idle core a 3 s utterance takes ~0.4 s and re-running a
//! growing utterance every 0.5-1 s keeps about half a core busy while the user speaks. Hence:
//! - load with one thread (`MoonshineAsr::load(dir, 1)`): on two shared cores a second
//!   intra-op thread doubles CPU time (spin-waiting) without cutting latency;
//! - run recognition on its own worker thread, skip a partial while the previous call is still
//!   running (never queue them), and always run the final one.
//!
//! Audio shorter than [`MIN_AUDIO_SAMPLES`] gives `""` without running the model; audio longer
//! than [`MAX_AUDIO_SAMPLES`] is an error (segment long turns first).

mod language;
mod moonshine;
mod tokenizer;
mod wer;
#[cfg(feature = "whisper")]
mod whisper;

pub use language::{AsrLanguage, WHISPER_LANGUAGES};
pub use moonshine::{MAX_AUDIO_SAMPLES, MIN_AUDIO_SAMPLES, MOONSHINE_SAMPLE_RATE, MoonshineAsr};
pub use tokenizer::Tokenizer;
pub use wer::{normalized_words, word_edit_distance, word_error_rate};
#[cfg(feature = "whisper")]
pub use whisper::{WHISPER_CPP_VERSION, WHISPER_SAMPLE_RATE, WhisperAsr, WhisperTranscript};

use crate::EngineError;

/// A speech recognizer.
pub trait Asr: Send {
    /// The text spoken in `audio_16k` (16 kHz mono, nominally in `[-1, 1]`): words separated
    /// by single spaces, no leading or trailing space, `""` for silence or very short audio.
    /// Audio with non-finite samples, or too long for the model, is an
    /// [`EngineError::InvalidInput`].
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<String, EngineError>;

    /// The language (a [`WHISPER_LANGUAGES`] code) the last [`Asr::transcribe`] that ran the
    /// model transcribed in: always `en` for Moonshine; for Whisper the configured one, or with
    /// [`AsrLanguage::Auto`] the detected one. `None` when not known (yet).
    fn last_language(&self) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recognizer_moves_to_a_worker_thread() {
        fn movable<T: Send>() {}
        movable::<super::MoonshineAsr>();
        movable::<Box<dyn super::Asr>>();
    }
}
