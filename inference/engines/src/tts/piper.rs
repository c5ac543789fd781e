//! Piper VITS voices through ONNX Runtime.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::voice::PiperVoiceConfig;
use super::{Tts, TtsAudio, cleanup, espeak, phonemes};
use crate::EngineError;
use crate::onnx::{load_session, runtime_error};

const ENGINE: &str = "piper";

/// Silence Piper puts between the sentences of one text (its CLI default).
const SENTENCE_SILENCE_S: f32 = 0.2;

/// Peak level of each synthesized sentence: Piper normalizes to full scale; we leave 1 dB of
/// headroom for the crossfades and the Opus encoder downstream.
const PEAK_LEVEL: f32 = 0.9;

/// A loaded Piper voice: the ONNX model plus its `.onnx.json` configuration.
///
/// One instance synthesizes one text at a time (`Session::run` needs `&mut`) and holds the
/// model (about 65 MB), so the server shares a few instances among all sessions (a TTS worker
/// thread each, or a `Mutex`), never one per session.
pub struct PiperTts {
    session: Session,
    config: PiperVoiceConfig,
    /// Whether the model takes a speaker id (multi-speaker voices).
    takes_speaker_id: bool,
}

impl std::fmt::Debug for PiperTts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperTts")
            .field("sample_rate", &self.config.sample_rate)
            .field("espeak_voice", &self.config.espeak_voice)
            .finish_non_exhaustive()
    }
}

impl PiperTts {
    /// Loads `model_onnx` and the `<model_onnx>.json` beside it, running the model with
    /// `threads` intra-op threads, and synthesizes one word to warm up. ONNX Runtime itself is found as [`crate::onnx`] describes:
    /// `ORT_DYLIB_PATH`, else under `MODELS_DIR`, else under the model tree this model sits in
    /// (`<models>/tts/piper/<voice>.onnx`).
    pub fn load(model_onnx: &Path, threads: usize) -> Result<Self, EngineError> {
        let models_dir = models_dir_for(model_onnx);
        Self::load_with_models_dir(&models_dir, model_onnx, threads)
    }

    /// Like [`PiperTts::load`], with the model tree that holds ONNX Runtime given explicitly.
    pub fn load_with_models_dir(
        models_dir: &Path,
        model_onnx: &Path,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let config = PiperVoiceConfig::load_beside(model_onnx)?;
        let session = load_session(models_dir, model_onnx, threads.max(1))?;
        let input_names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for required in ["input", "input_lengths", "scales"] {
            if !input_names.contains(&required) {
                return Err(EngineError::InvalidModel {
                    path: model_onnx.display().to_string(),
                    reason: format!("no {required:?} input (inputs: {input_names:?})"),
                });
            }
        }
        let takes_speaker_id = input_names.contains(&"sid");
        let mut tts = Self {
            session,
            config,
            takes_speaker_id,
        };
        // Warm up: checks espeak-ng and the voice, and lets ONNX Runtime allocate its buffers
        // now rather than during the first answer of a conversation.
        tts.synthesize("Ready.")?;
        Ok(tts)
    }

    /// The voice's configuration.
    pub fn config(&self) -> &PiperVoiceConfig {
        &self.config
    }

    /// Runs the model on one sentence's phoneme ids.
    fn synthesize_ids(&mut self, ids: Vec<i64>) -> Result<Vec<f32>, EngineError> {
        let err = runtime_error(ENGINE);
        let n = ids.len();
        let input = Tensor::from_array(([1usize, n], ids)).map_err(&err)?;
        let lengths = Tensor::from_array(([1usize], vec![n as i64])).map_err(&err)?;
        let scales = Tensor::from_array((
            [3usize],
            vec![
                self.config.noise_scale,
                self.config.length_scale,
                self.config.noise_w,
            ],
        ))
        .map_err(&err)?;
        let outputs = if self.takes_speaker_id {
            let sid = Tensor::from_array(([1usize], vec![0i64])).map_err(&err)?;
            self.session.run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
                "sid" => sid,
            ])
        } else {
            self.session.run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
            ])
        }
        .map_err(&err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(&err)?;
        Ok(normalize_peak(audio))
    }
}

impl Tts for PiperTts {
    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn synthesize(&mut self, text: &str) -> Result<TtsAudio, EngineError> {
        let text = cleanup::clean_for_speech(text);
        let clauses = espeak::phonemize(&text, &self.config.espeak_voice)?;
        let sentences = phonemes::sentences_from_clauses(&clauses);
        let silence = (SENTENCE_SILENCE_S * self.config.sample_rate as f32) as usize;
        let mut samples = Vec::new();
        let mut spoken = Vec::new();
        for (i, sentence) in sentences.iter().enumerate() {
            let (ids, missing) = self.config.phoneme_ids(sentence);
            if !missing.is_empty() {
                tracing::debug!(?missing, "phonemes unknown to the voice were skipped");
            }
            if i > 0 {
                samples.resize(samples.len() + silence, 0.0);
            }
            samples.extend(self.synthesize_ids(ids)?);
            spoken.extend(phonemes::spoken_phonemes(sentence));
        }
        Ok(TtsAudio {
            samples,
            sample_rate: self.config.sample_rate,
            phonemes: spoken,
        })
    }
}

/// Scales one sentence so its peak sits at [`PEAK_LEVEL`], as Piper does (its raw output peaks
/// anywhere from 0.3 to 1). A near-silent sentence is amplified at most 1/0.01 times, Piper's
/// limit, so noise is never blown up to full scale.
fn normalize_peak(audio: &[f32]) -> Vec<f32> {
    let peak = audio
        .iter()
        .filter(|s| s.is_finite())
        .fold(0.01f32, |m, s| m.max(s.abs()));
    let gain = PEAK_LEVEL / peak;
    audio
        .iter()
        .map(|s| {
            if s.is_finite() {
                (s * gain).clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// The model tree ONNX Runtime is looked for in when the caller names only the model.
fn models_dir_for(model_onnx: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("MODELS_DIR") {
        return PathBuf::from(dir);
    }
    // <models>/tts/piper/<voice>.onnx
    model_onnx
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("models"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_normalized_to_the_same_peak() {
        let quiet = normalize_peak(&[0.0, 0.1, -0.2, 0.05]);
        assert!((quiet[2] + PEAK_LEVEL).abs() < 1e-6, "{quiet:?}");
        let loud = normalize_peak(&[0.0, 1.5, -0.5]);
        assert!((loud[1] - PEAK_LEVEL).abs() < 1e-6, "{loud:?}");
    }

    #[test]
    fn silence_and_garbage_stay_bounded() {
        let hiss = normalize_peak(&[0.001, -0.001]);
        assert!(hiss.iter().all(|s| s.abs() <= 0.1), "{hiss:?}");
        let broken = normalize_peak(&[f32::NAN, f32::INFINITY, 0.5]);
        assert_eq!(broken[..2], [0.0, 0.0]);
        assert!((broken[2] - PEAK_LEVEL).abs() < 1e-6);
        assert!(normalize_peak(&[]).is_empty());
    }
}
