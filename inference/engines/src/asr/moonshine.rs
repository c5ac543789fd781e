//! Moonshine base-en (UsefulSensors) through ONNX Runtime: encoder + merged decoder with a
//! key/value cache, greedy decoding.
//!
//! - The encoder takes raw 16 kHz samples of any length (no 30 s padding as in Whisper) and
//!   returns `[1, T, 416]`, T ≈ samples / 384.
//! - The merged decoder has two branches selected by `use_cache_branch`: at step 0 (no cache)
//!   it reads the BOS token and the encoder states and returns self-attention and
//!   cross-attention caches; every later step feeds one token and the caches back. The
//!   cross-attention cache depends only on the audio, so it is computed once (step 0) and
//!   passed by reference afterwards; only the small self-attention cache changes per token.
//! - Greedy: the most likely token each step, until EOS or a cap proportional to the audio
//!   length (a hallucinating decoder can otherwise repeat a phrase forever).
//! - Model files: `{encoder_model,decoder_model_merged}.onnx` when present, else the shipped
//!   `.ort` files. ONNX Runtime applies no graph optimization to ORT-format models, and these
//!   keep their weights as int8 with a Cast/Mul/Add dequantization per weight, so the `.ort`
//!   decoder re-dequantizes ~41 M weights on every token. `scripts/ort_to_onnx.py` rewrites the
//!   same graph as `.onnx`, which ONNX Runtime constant-folds at load: same tokens, ~4x less
//!   CPU per transcription (slower load, ~5-10 s).

use std::borrow::Cow;
use std::path::Path;

use ort::session::{Session, SessionInputValue, SessionOutputs};
use ort::value::{DynValue, Tensor};

use super::Asr;
use super::tokenizer::{BOS, EOS, Tokenizer};
use crate::EngineError;
use crate::onnx::{load_session, runtime_error};

const ENGINE: &str = "moonshine-asr";
/// Input sample rate.
pub const MOONSHINE_SAMPLE_RATE: usize = 16_000;
/// Audio shorter than this (100 ms) holds no word: it transcribes to "" without running the
/// model (the encoder also needs ~900 samples to produce a single frame).
pub const MIN_AUDIO_SAMPLES: usize = MOONSHINE_SAMPLE_RATE / 10;
/// Longest audio accepted in one call (64 s, the model's documented limit). Longer turns
/// should be cut by the VAD into segments first.
pub const MAX_AUDIO_SAMPLES: usize = 64 * MOONSHINE_SAMPLE_RATE;
/// Most tokens decoded per second of audio. Speech runs at ~3-4 tokens/s; the margin lets fast
/// speakers through while still stopping a runaway loop quickly.
const MAX_TOKENS_PER_SECOND: f64 = 6.5;

/// The cache layout read from the decoder's declared inputs.
#[derive(Debug, Clone)]
struct CacheLayout {
    heads: usize,
    head_dim: usize,
    /// `past_key_values.{layer}.{decoder|encoder}.{key|value}`, in a fixed order; the matching
    /// output is the same name with `present` for `past_key_values`.
    decoder_inputs: Vec<String>,
    encoder_inputs: Vec<String>,
}

impl CacheLayout {
    fn read(decoder: &Session, path: &Path) -> Result<Self, EngineError> {
        let invalid = |reason: String| EngineError::InvalidModel {
            path: path.display().to_string(),
            reason,
        };
        let names: Vec<&str> = decoder.inputs().iter().map(|i| i.name()).collect();
        for required in ["input_ids", "encoder_hidden_states", "use_cache_branch"] {
            if !names.contains(&required) {
                return Err(invalid(format!(
                    "no input {required:?}: not a merged Moonshine decoder"
                )));
            }
        }
        let layers = (0..)
            .take_while(|l| names.contains(&format!("past_key_values.{l}.decoder.key").as_str()))
            .count();
        if layers == 0 {
            return Err(invalid("no past_key_values inputs".into()));
        }
        let first = decoder
            .inputs()
            .iter()
            .find(|i| i.name() == "past_key_values.0.decoder.key")
            .and_then(|i| i.dtype().tensor_shape().map(|s| s.to_vec()));
        let (heads, head_dim) = match first.as_deref() {
            Some([_, heads, _, dim]) if *heads > 0 && *dim > 0 => (*heads as usize, *dim as usize),
            other => {
                return Err(invalid(format!(
                    "unexpected cache shape {other:?}, expected [batch, heads, seq, dim]"
                )));
            }
        };
        let names_for = |kind: &str| {
            (0..layers)
                .flat_map(|l| ["key", "value"].map(|kv| format!("past_key_values.{l}.{kind}.{kv}")))
                .collect::<Vec<_>>()
        };
        Ok(Self {
            heads,
            head_dim,
            decoder_inputs: names_for("decoder"),
            encoder_inputs: names_for("encoder"),
        })
    }
}

fn present_name(past_name: &str) -> String {
    past_name.replacen("past_key_values", "present", 1)
}

/// Moonshine speech recognition (English), one model instance. Not shared between threads at
/// once: a server keeps one per ASR worker.
pub struct MoonshineAsr {
    encoder: Session,
    decoder: Session,
    tokenizer: Tokenizer,
    layout: CacheLayout,
}

impl std::fmt::Debug for MoonshineAsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoonshineAsr")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl MoonshineAsr {
    /// Loads `asr/moonshine-base-en/{encoder_model.ort, decoder_model_merged.ort,
    /// tokenizer.bin}` under `models_dir`, each session with `threads` intra-op threads.
    pub fn load(models_dir: &Path, threads: usize) -> Result<Self, EngineError> {
        Self::load_dir(
            models_dir,
            &models_dir.join("asr").join("moonshine-base-en"),
            threads,
        )
    }

    /// Loads the model files from `dir` (ASR_MODEL_PATH), with ONNX Runtime found under
    /// `models_dir` as [`crate::onnx`] describes.
    pub fn load_dir(models_dir: &Path, dir: &Path, threads: usize) -> Result<Self, EngineError> {
        let threads = threads.max(1);
        let encoder = load_session(models_dir, &model_file(dir, "encoder_model"), threads)?;
        let decoder_path = model_file(dir, "decoder_model_merged");
        let decoder = load_session(models_dir, &decoder_path, threads)?;
        let layout = CacheLayout::read(&decoder, &decoder_path)?;
        let tokenizer = Tokenizer::load(&dir.join("tokenizer.bin"))?;
        Ok(Self {
            encoder,
            decoder,
            tokenizer,
            layout,
        })
    }

    /// The greedy token sequence for `audio` (without BOS and EOS), after input checks.
    pub fn transcribe_tokens(&mut self, audio: &[f32]) -> Result<Vec<u32>, EngineError> {
        if let Some(position) = audio.iter().position(|s| !s.is_finite()) {
            return Err(EngineError::InvalidInput(format!(
                "audio has a non-finite sample at {position}"
            )));
        }
        if audio.len() > MAX_AUDIO_SAMPLES {
            return Err(EngineError::InvalidInput(format!(
                "{:.1} s of audio is over the {} s Moonshine accepts in one call",
                audio.len() as f64 / MOONSHINE_SAMPLE_RATE as f64,
                MAX_AUDIO_SAMPLES / MOONSHINE_SAMPLE_RATE
            )));
        }
        if audio.len() < MIN_AUDIO_SAMPLES {
            return Ok(Vec::new());
        }
        let err = runtime_error(ENGINE);
        let input = Tensor::from_array(([1usize, audio.len()], audio.to_vec())).map_err(&err)?;
        let mut encoded = self
            .encoder
            .run(ort::inputs!["input_values" => input])
            .map_err(&err)?;
        let hidden = take_output(&mut encoded, "last_hidden_state")?;
        drop(encoded);

        let seconds = audio.len() as f64 / MOONSHINE_SAMPLE_RATE as f64;
        let max_tokens = (seconds * MAX_TOKENS_PER_SECOND).ceil() as usize;
        self.decode_greedy(&hidden, max_tokens)
    }

    fn decode_greedy(
        &mut self,
        hidden: &DynValue,
        max_tokens: usize,
    ) -> Result<Vec<u32>, EngineError> {
        let err = runtime_error(ENGINE);
        let layout = &self.layout;
        // Step 0 runs the no-cache branch, which ignores the past inputs: they only need the
        // right rank, so zero-length sequences do.
        let empty = || {
            Tensor::from_array((
                [1usize, layout.heads, 0, layout.head_dim],
                Vec::<f32>::new(),
            ))
            .map(Tensor::into_dyn)
            .map_err(&err)
        };
        let mut decoder_cache: Vec<DynValue> = (0..layout.decoder_inputs.len())
            .map(|_| empty())
            .collect::<Result<_, _>>()?;
        let mut encoder_cache: Vec<DynValue> = (0..layout.encoder_inputs.len())
            .map(|_| empty())
            .collect::<Result<_, _>>()?;

        let mut tokens = Vec::new();
        let mut previous = BOS;
        for step in 0..max_tokens {
            let use_cache = step > 0;
            let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
                Vec::with_capacity(3 + decoder_cache.len() + encoder_cache.len());
            let ids = Tensor::from_array(([1usize, 1], vec![i64::from(previous)])).map_err(&err)?;
            let branch = Tensor::from_array(([1usize], vec![use_cache])).map_err(&err)?;
            inputs.push(("input_ids".into(), ids.into()));
            inputs.push(("encoder_hidden_states".into(), hidden.into()));
            inputs.push(("use_cache_branch".into(), branch.into()));
            for (name, value) in layout.decoder_inputs.iter().zip(&decoder_cache) {
                inputs.push((name.as_str().into(), value.into()));
            }
            for (name, value) in layout.encoder_inputs.iter().zip(&encoder_cache) {
                inputs.push((name.as_str().into(), value.into()));
            }
            let mut outputs = self.decoder.run(inputs).map_err(&err)?;
            let next = argmax_last(&outputs)?;
            let new_decoder_cache = layout
                .decoder_inputs
                .iter()
                .map(|name| take_output(&mut outputs, &present_name(name)))
                .collect::<Result<Vec<_>, _>>()?;
            if !use_cache {
                encoder_cache = layout
                    .encoder_inputs
                    .iter()
                    .map(|name| take_output(&mut outputs, &present_name(name)))
                    .collect::<Result<Vec<_>, _>>()?;
            }
            drop(outputs);
            decoder_cache = new_decoder_cache;
            if next == EOS {
                break;
            }
            tokens.push(next);
            previous = next;
        }
        Ok(tokens)
    }

    /// The text for a token sequence from [`MoonshineAsr::transcribe_tokens`].
    pub fn decode_text(&self, tokens: &[u32]) -> String {
        self.tokenizer.decode(tokens)
    }
}

impl Asr for MoonshineAsr {
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<String, EngineError> {
        let tokens = self.transcribe_tokens(audio_16k)?;
        Ok(self.tokenizer.decode(&tokens))
    }

    fn last_language(&self) -> Option<&'static str> {
        // base-en knows one language.
        Some("en")
    }
}

/// `{stem}.onnx` if present (converted by `scripts/ort_to_onnx.py`), else the shipped
/// `{stem}.ort`. ONNX Runtime optimizes only the former: the `.ort` decoder re-dequantizes its
/// int8 weights on every step and runs several times slower.
fn model_file(dir: &Path, stem: &str) -> std::path::PathBuf {
    let onnx = dir.join(format!("{stem}.onnx"));
    if onnx.exists() {
        return onnx;
    }
    let ort = dir.join(format!("{stem}.ort"));
    tracing::warn!(
        model = %ort.display(),
        "no {stem}.onnx: using the unoptimizable ORT-format model (run scripts/ort_to_onnx.py)"
    );
    ort
}

fn take_output(outputs: &mut SessionOutputs<'_>, name: &str) -> Result<DynValue, EngineError> {
    outputs.remove(name).ok_or_else(|| EngineError::Runtime {
        engine: ENGINE,
        reason: format!("model produced no {name:?} output"),
    })
}

/// The most likely token at the last position of `logits` `[1, seq, vocab]`.
fn argmax_last(outputs: &SessionOutputs<'_>) -> Result<u32, EngineError> {
    let logits = outputs.get("logits").ok_or_else(|| EngineError::Runtime {
        engine: ENGINE,
        reason: "model produced no logits".into(),
    })?;
    let (shape, values) = logits
        .try_extract_tensor::<f32>()
        .map_err(runtime_error(ENGINE))?;
    let vocab = shape.last().copied().unwrap_or(0).max(0) as usize;
    if vocab == 0 || values.len() < vocab {
        return Err(EngineError::Runtime {
            engine: ENGINE,
            reason: format!("logits have shape {shape:?}"),
        });
    }
    let last = &values[values.len() - vocab..];
    let (best, _) =
        last.iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |(best, best_value), (i, &v)| {
                if v > best_value {
                    (i, v)
                } else {
                    (best, best_value)
                }
            });
    Ok(best as u32)
}
