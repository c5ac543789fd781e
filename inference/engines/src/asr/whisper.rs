//! Whisper (OpenAI, multilingual) through whisper.cpp, via the `whisper-rs` bindings.
//!
//! - The model is a GGML file (`scripts/whisper_ct2_to_ggml.py` makes one from the CTranslate2
//!   Whisper base that `scripts/download_models.sh --with-whisper` fetches; any whisper.cpp
//!   `ggml-*.bin` works too).
//! - Each call is independent: no text from earlier calls conditions the next one
//!   (`no_context`), because every call here is a whole utterance or a prefix of one.
//! - Greedy decoding at temperature 0 with no temperature fallback: the same audio always gives
//!   the same text, and a call's cost is bounded (a fallback would re-decode up to five times).
//!   A runaway repetition is stopped by a token cap proportional to the audio length.
//! - Segments whisper.cpp judges to be no speech (no-speech probability > 0.6 with a low
//!   average log-probability, Whisper's own rule) are dropped, so silence gives `""` rather than
//!   Whisper's well-known "Thank you." hallucinations; audio too quiet to hold speech (below
//!   about -54 dBFS RMS: digital silence, a quiet room) is not transcribed at all.
//! - With [`AsrLanguage::Auto`] whisper.cpp first identifies the language from the audio (one
//!   extra encoder pass), then transcribes in it; [`Asr::last_language`] tells which.
//! - Whisper always encodes a 30 s window, however short the audio: a call costs about the same
//!   for 1 s as for 20 s (`docs/benchmarks/asr.md`).

use std::path::Path;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

/// RMS level below which audio is too quiet to hold speech (about -54 dBFS; speech the VAD
/// passes is tens of dB louder). Whisper's no-speech rule does not always catch such input: on
/// digital silence and on quiet room noise it sometimes "hears" a word ("you"), so it is not
/// asked.
const SPEECH_FLOOR_RMS: f32 = 0.002;

fn is_too_quiet(audio: &[f32]) -> bool {
    let energy: f32 = audio.iter().map(|s| s * s).sum();
    (energy / audio.len().max(1) as f32).sqrt() < SPEECH_FLOOR_RMS
}

/// The whisper.cpp release built in (vendored by whisper-rs-sys).
pub use whisper_rs::WHISPER_CPP_VERSION;

use super::language::AsrLanguage;
use super::{Asr, MAX_AUDIO_SAMPLES, MIN_AUDIO_SAMPLES, MOONSHINE_SAMPLE_RATE};
use crate::EngineError;

const ENGINE: &str = "whisper-asr";
/// Input sample rate (Whisper's, the same as Moonshine's).
pub const WHISPER_SAMPLE_RATE: usize = MOONSHINE_SAMPLE_RATE;
/// Most tokens decoded per second of audio, plus [`TOKEN_CAP_BASE`]. Whisper's byte-level BPE
/// spends more tokens on words outside English (Russian runs at ~6 tokens/s of read speech);
/// the margin lets fast speakers through while still stopping a runaway loop.
const MAX_TOKENS_PER_SECOND: f64 = 12.0;
/// Tokens allowed on top of the per-second cap, for very short utterances.
const TOKEN_CAP_BASE: f64 = 8.0;

/// A transcription and the language it was made in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperTranscript {
    /// Words separated by single spaces, no outer spaces; `""` when nothing was said.
    pub text: String,
    /// The language code whisper.cpp transcribed in: the configured one, or the detected one
    /// with [`AsrLanguage::Auto`]. `None` when the model did not run (audio too short).
    pub language: Option<&'static str>,
}

/// Whisper speech recognition, one model instance with its decoding state. Not shared between
/// threads at once: a server keeps one per ASR worker.
pub struct WhisperAsr {
    // The state holds its own reference to the model; the context is kept for model facts.
    context: WhisperContext,
    state: whisper_rs::WhisperState,
    language: AsrLanguage,
    threads: usize,
    last_language: Option<&'static str>,
}

impl std::fmt::Debug for WhisperAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperAsr")
            .field("language", &self.language)
            .field("threads", &self.threads)
            .field("multilingual", &self.context.is_multilingual())
            .finish_non_exhaustive()
    }
}

impl WhisperAsr {
    /// Loads the GGML model file `model` (ASR_MODEL_PATH) to transcribe `language`
    /// (ASR_LANGUAGE), computing with `threads` threads per call.
    ///
    /// An English-only model (`*.en`) with any language but English is an
    /// [`EngineError::InvalidModel`]: it cannot honour the setting.
    pub fn load(model: &Path, language: AsrLanguage, threads: usize) -> Result<Self, EngineError> {
        // whisper.cpp prints its load report on stderr unless its log hooks are installed;
        // with them it goes to `tracing` (target whisper_rs::...), filtered like every log.
        whisper_rs::install_logging_hooks();
        let path = model.display().to_string();
        if !model.is_file() {
            return Err(EngineError::ModelNotFound {
                path,
                reason: "no such file (a whisper.cpp GGML model, see docs/models.md)".into(),
            });
        }
        let context = WhisperContext::new_with_params(model, WhisperContextParameters::default())
            .map_err(|e| EngineError::InvalidModel {
            path: path.clone(),
            reason: format!(
                "whisper.cpp could not load it ({e}): not a Whisper GGML file, or truncated"
            ),
        })?;
        if !context.is_multilingual() && language != AsrLanguage::ENGLISH {
            return Err(EngineError::InvalidModel {
                path,
                reason: format!(
                    "this Whisper model is English-only; ASR_LANGUAGE={language} needs a \
                     multilingual model (or set ASR_LANGUAGE=en)"
                ),
            });
        }
        let state = context.create_state().map_err(runtime_error)?;
        Ok(Self {
            context,
            state,
            language,
            threads: threads.max(1),
            last_language: None,
        })
    }

    /// The configured language.
    pub fn language(&self) -> AsrLanguage {
        self.language
    }

    /// Transcribes `audio` (16 kHz mono) and says in which language.
    pub fn transcribe_with_language(
        &mut self,
        audio: &[f32],
    ) -> Result<WhisperTranscript, EngineError> {
        check_audio(audio)?;
        if audio.len() < MIN_AUDIO_SAMPLES || is_too_quiet(audio) {
            return Ok(WhisperTranscript {
                text: String::new(),
                language: None,
            });
        }
        let seconds = audio.len() as f64 / WHISPER_SAMPLE_RATE as f64;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads as i32);
        params.set_language(Some(self.language.as_str()));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_no_timestamps(true);
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        params.set_max_tokens((TOKEN_CAP_BASE + seconds * MAX_TOKENS_PER_SECOND).ceil() as i32);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        self.state.full(params, audio).map_err(runtime_error)?;

        let mut text = String::new();
        for segment in self.state.as_iter() {
            let piece = segment.to_str_lossy().map_err(runtime_error)?;
            for word in piece.split_whitespace() {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(word);
            }
        }
        let language = whisper_rs::get_lang_str(self.state.full_lang_id_from_state());
        self.last_language = language;
        tracing::debug!(
            language = language.unwrap_or("?"),
            audio_s = seconds,
            chars = text.len(),
            "whisper transcription"
        );
        Ok(WhisperTranscript { text, language })
    }
}

impl Asr for WhisperAsr {
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<String, EngineError> {
        self.transcribe_with_language(audio_16k).map(|t| t.text)
    }

    fn last_language(&self) -> Option<&'static str> {
        self.last_language
    }
}

/// The input contract of [`Asr::transcribe`]: finite samples, at most [`MAX_AUDIO_SAMPLES`].
fn check_audio(audio: &[f32]) -> Result<(), EngineError> {
    if let Some(position) = audio.iter().position(|s| !s.is_finite()) {
        return Err(EngineError::InvalidInput(format!(
            "audio has a non-finite sample at {position}"
        )));
    }
    if audio.len() > MAX_AUDIO_SAMPLES {
        return Err(EngineError::InvalidInput(format!(
            "{:.1} s of audio is over the {} s accepted in one call",
            audio.len() as f64 / WHISPER_SAMPLE_RATE as f64,
            MAX_AUDIO_SAMPLES / WHISPER_SAMPLE_RATE
        )));
    }
    Ok(())
}

fn runtime_error(e: whisper_rs::WhisperError) -> EngineError {
    EngineError::Runtime {
        engine: ENGINE,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_match_whisper_cpp() {
        // The configuration checks ASR_LANGUAGE against our own list (it must work in builds
        // without whisper.cpp); it has to be whisper.cpp's list, in whisper.cpp's order.
        for (id, code) in super::super::language::WHISPER_LANGUAGES.iter().enumerate() {
            assert_eq!(whisper_rs::get_lang_str(id as i32), Some(*code), "id {id}");
            assert_eq!(whisper_rs::get_lang_id(code), Some(id as i32));
        }
    }

    #[test]
    fn missing_and_invalid_model_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("goassist-whisper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        match WhisperAsr::load(&dir.join("absent.bin"), AsrLanguage::Auto, 1) {
            Err(EngineError::ModelNotFound { path, .. }) => assert!(path.ends_with("absent.bin")),
            other => panic!("expected ModelNotFound, got {other:?}"),
        }
        let junk = dir.join("junk.bin");
        std::fs::write(&junk, b"not a ggml file at all").unwrap();
        match WhisperAsr::load(&junk, AsrLanguage::Auto, 1) {
            Err(EngineError::InvalidModel { reason, .. }) => {
                assert!(reason.contains("not a Whisper GGML file"), "{reason}")
            }
            other => panic!("expected InvalidModel, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn recognizer_moves_to_a_worker_thread() {
        fn movable<T: Send>() {}
        movable::<WhisperAsr>();
    }
}
