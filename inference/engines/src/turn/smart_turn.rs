//! Smart Turn v3.2 (pipecat-ai, BSD-2): an ~8 M-parameter audio model that says whether the
//! speaker has finished their turn, from the sound of the last 8 s alone (intonation, the way
//! a phrase trails off) rather than from silence length.
//!
//! Input `input_features` `[1, 80, 800]` ([`LogMelExtractor`]), output `logits` `[1, 1]`, which
//! the exported graph already passes through a sigmoid: P(complete). One intra-op thread: on a
//! 2-core machine a second thread made it slower (it competes with the other engines).
//!
//! Like Silero, one [`SmartTurnModel`] (an ort session behind a mutex) serves every session. It
//! is meant to run once or twice per pause, never per audio frame.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::TensorRef;

use super::features::{LogMelExtractor, N_FRAMES, N_MELS};
use crate::EngineError;
use crate::onnx::{load_session, runtime_error};

const ENGINE: &str = "smart-turn";
/// Where `scripts/download_models.sh` puts the model, relative to `MODELS_DIR`.
pub const SMART_TURN_MODEL_FILE: &str = "turn/smart-turn-v3.2-cpu.onnx";

/// One prediction and what it cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmartTurnPrediction {
    /// P(the turn is complete), `0..=1`.
    pub probability: f32,
    /// Time spent computing the features.
    pub features_time: Duration,
    /// Time spent in the model (waiting for the shared session included).
    pub model_time: Duration,
}

/// The loaded Smart Turn model, shared by all sessions.
pub struct SmartTurnModel {
    session: Mutex<Session>,
    features: LogMelExtractor,
    path: PathBuf,
}

impl std::fmt::Debug for SmartTurnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartTurnModel")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SmartTurnModel {
    /// Loads [`SMART_TURN_MODEL_FILE`] from `models_dir`.
    pub fn load(models_dir: &Path) -> Result<Self, EngineError> {
        Self::load_file(models_dir, &models_dir.join(SMART_TURN_MODEL_FILE))
    }

    /// Loads a Smart Turn v3 ONNX file (`models_dir` locates ONNX Runtime).
    pub fn load_file(models_dir: &Path, model: &Path) -> Result<Self, EngineError> {
        let session = load_session(models_dir, model, 1)?;
        let invalid = |reason: String| EngineError::InvalidModel {
            path: model.display().to_string(),
            reason,
        };
        if !session
            .inputs()
            .iter()
            .any(|i| i.name() == "input_features")
        {
            return Err(invalid(
                "no input named \"input_features\": not a Smart Turn v3 model".into(),
            ));
        }
        if session.outputs().len() != 1 {
            return Err(invalid(format!(
                "{} outputs, expected 1 (the completion probability)",
                session.outputs().len()
            )));
        }
        Ok(Self {
            session: Mutex::new(session),
            features: LogMelExtractor::new(),
            path: model.to_path_buf(),
        })
    }

    /// P(complete) for a turn whose audio (16 kHz mono, nominally `[-1, 1]`) ends with
    /// `audio`: pass the turn from its start (or at least its last 8 s) up to now, trailing
    /// silence included. Only the last 8 s are used; shorter audio is zero-padded at the front.
    pub fn predict(&self, audio: &[f32]) -> Result<SmartTurnPrediction, EngineError> {
        let started = Instant::now();
        let features = self.features.compute(audio);
        let features_time = started.elapsed();
        let probability = self.run(&features)?;
        Ok(SmartTurnPrediction {
            probability,
            features_time,
            model_time: started.elapsed() - features_time,
        })
    }

    /// Runs the model on precomputed features (`N_MELS × N_FRAMES`, mel-major).
    pub fn run(&self, features: &[f32]) -> Result<f32, EngineError> {
        if features.len() != N_MELS * N_FRAMES {
            return Err(EngineError::InvalidInput(format!(
                "Smart Turn features have {} values, expected {N_MELS} x {N_FRAMES}",
                features.len()
            )));
        }
        let err = runtime_error(ENGINE);
        let input =
            TensorRef::from_array_view(([1usize, N_MELS, N_FRAMES], features)).map_err(&err)?;
        // A poisoned lock only means another session panicked mid-run; the session holds no
        // per-stream state, so it is still safe to use.
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outputs = session
            .run(ort::inputs!["input_features" => input])
            .map_err(&err)?;
        let (_, values) = outputs[0].try_extract_tensor::<f32>().map_err(&err)?;
        let probability = values
            .first()
            .copied()
            .ok_or_else(|| EngineError::Runtime {
                engine: ENGINE,
                reason: "empty output".into(),
            })?;
        if !(0.0..=1.0).contains(&probability) {
            return Err(EngineError::Runtime {
                engine: ENGINE,
                reason: format!("output {probability} is not a probability"),
            });
        }
        Ok(probability)
    }
}
