//! Silero VAD v6 through ONNX Runtime.
//!
//! The model is stateful (an LSTM state `[2, 1, 128]`) and also expects the last 64 samples of
//! the previous frame prepended to each new 512-sample frame, so each call feeds `[1, 576]`.
//! Both are per stream; the weights are not. One [`SileroModel`] (one ort session behind a
//! mutex) therefore serves every session's [`SileroVad`]: a frame costs ~0.1 ms, so the lock is
//! never held long enough to matter.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::{Tensor, TensorRef};

use super::Vad;
use crate::EngineError;
use crate::onnx::{load_session, runtime_error};

const ENGINE: &str = "silero-vad";
/// New samples per frame at 16 kHz (32 ms).
pub const SILERO_FRAME_LEN: usize = 512;
/// Samples of the previous frame the model sees again (its receptive-field overlap).
const CONTEXT_LEN: usize = 64;
/// Elements of the recurrent state `[2, 1, 128]`.
const STATE_LEN: usize = 2 * 128;
const SAMPLE_RATE: i64 = 16_000;

/// The loaded Silero model, shared by all streams.
pub struct SileroModel {
    session: Mutex<Session>,
}

impl std::fmt::Debug for SileroModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroModel").finish_non_exhaustive()
    }
}

impl SileroModel {
    /// Loads `vad/silero_vad.onnx` from `models_dir` (one intra-op thread: a frame is tiny).
    pub fn load(models_dir: &Path) -> Result<Arc<Self>, EngineError> {
        let path = models_dir.join("vad").join("silero_vad.onnx");
        let session = load_session(models_dir, &path, 1)?;
        for expected in ["input", "state", "sr"] {
            if !session.inputs().iter().any(|i| i.name() == expected) {
                return Err(EngineError::InvalidModel {
                    path: path.display().to_string(),
                    reason: format!("no input named {expected:?}: not a Silero v5/v6 model"),
                });
            }
        }
        Ok(Arc::new(Self {
            session: Mutex::new(session),
        }))
    }

    /// Runs one step: `input` is context + frame (576 samples), `state` is read and replaced.
    fn step(&self, input: &[f32], state: &mut [f32; STATE_LEN]) -> Result<f32, EngineError> {
        let err = runtime_error(ENGINE);
        let input = TensorRef::from_array_view(([1usize, input.len()], input)).map_err(&err)?;
        let state_in = TensorRef::from_array_view(([2usize, 1, 128], &state[..])).map_err(&err)?;
        let sr = Tensor::from_array(((), vec![SAMPLE_RATE])).map_err(&err)?;
        // A poisoned lock only means another stream panicked mid-run; the session itself holds
        // no per-stream state, so it is still safe to use.
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outputs = session
            .run(ort::inputs![
                "input" => input,
                "state" => state_in,
                "sr" => sr,
            ])
            .map_err(&err)?;
        let output = |name: &str| {
            outputs.get(name).ok_or_else(|| EngineError::Runtime {
                engine: ENGINE,
                reason: format!("model produced no {name:?} output"),
            })
        };
        let (_, probability) = output("output")?
            .try_extract_tensor::<f32>()
            .map_err(&err)?;
        let (_, new_state) = output("stateN")?
            .try_extract_tensor::<f32>()
            .map_err(&err)?;
        let probability = *probability.first().ok_or_else(|| EngineError::Runtime {
            engine: ENGINE,
            reason: "empty output".into(),
        })?;
        if new_state.len() != STATE_LEN {
            return Err(EngineError::Runtime {
                engine: ENGINE,
                reason: format!(
                    "state has {} elements, expected {STATE_LEN}",
                    new_state.len()
                ),
            });
        }
        state.copy_from_slice(new_state);
        Ok(probability)
    }
}

/// One stream's Silero VAD: the shared model plus this stream's recurrent state and context.
#[derive(Debug)]
pub struct SileroVad {
    model: Arc<SileroModel>,
    state: Box<[f32; STATE_LEN]>,
    /// Context (64 samples) followed by the current frame (512 samples).
    input: Vec<f32>,
}

impl SileroVad {
    /// A fresh stream on a shared model.
    pub fn new(model: Arc<SileroModel>) -> Self {
        Self {
            model,
            state: Box::new([0.0; STATE_LEN]),
            input: vec![0.0; CONTEXT_LEN + SILERO_FRAME_LEN],
        }
    }
}

impl Vad for SileroVad {
    fn frame_len(&self) -> usize {
        SILERO_FRAME_LEN
    }

    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, EngineError> {
        super::check_frame(frame, SILERO_FRAME_LEN)?;
        // Keep the tail of the previous frame as context, then append the new frame.
        self.input.copy_within(SILERO_FRAME_LEN.., 0);
        self.input[CONTEXT_LEN..].copy_from_slice(frame);
        let mut state = *self.state;
        let probability = self.model.step(&self.input, &mut state)?;
        *self.state = state;
        Ok(probability)
    }

    fn reset(&mut self) {
        self.state.fill(0.0);
        self.input.fill(0.0);
    }
}
