//! A user-supplied ONNX audio → ARKit model, as an [`Animator`] (the optional part of `lam`).
//!
//! No package we can install ships such a model (docs/models.md), so GoAssist defines a small
//! contract any exported model can meet, described by a JSON sidecar next to the model
//! (`model.onnx` → `model.onnx.json`):
//!
//! ```json
//! { "sample_rate": 16000, "fps": 25, "outputs": ["jawOpen", "mouthFunnel", "..."] }
//! ```
//!
//! - input: the model's first input, float32 `[1, samples]`, mono audio at `sample_rate`,
//!   zero-padded to a whole number of frames (`sample_rate / fps` must be an integer);
//! - output: the model's first output, float32 `[frames, K]` or `[1, frames, K]`, frame `i`
//!   at `i / fps` seconds from the segment start, column `k` is the curve named `outputs[k]`
//!   (ARKit names in any spelling; unknown names are ignored).
//!
//! Frames are interpolated onto GoAssist's steady grid. The model sees one segment at a time
//! (no state across segments beyond the frame grid).

use std::path::{Path, PathBuf};

use ort::value::Tensor;

use super::dsp::Decimator3;
use super::{Animator, FaceValues, FrameGrid, NEUTRAL, sanitize};
use crate::EngineError;
use crate::onnx::{load_session, runtime_error};

const ENGINE: &str = "lam-onnx";

/// The sidecar describing a model's contract.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct OnnxFaceSpec {
    /// Input sample rate (Hz); 16000 or 48000.
    pub sample_rate: u32,
    /// Output frames per second.
    pub fps: u32,
    /// Curve name of each output column.
    pub outputs: Vec<String>,
}

/// The adapter.
pub struct OnnxAnimator {
    session: ort::session::Session,
    spec: OnnxFaceSpec,
    /// ARKit index of each output column.
    columns: Vec<Option<usize>>,
    grid: FrameGrid,
}

impl OnnxAnimator {
    /// Loads `model` and its `model.json` sidecar; output frames at `fps`.
    pub fn load(models_dir: &Path, model: &Path, fps: u32) -> Result<Self, EngineError> {
        let sidecar = PathBuf::from(format!("{}.json", model.display()));
        let text = std::fs::read_to_string(&sidecar).map_err(|e| EngineError::ModelNotFound {
            path: sidecar.display().to_string(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: String| EngineError::InvalidModel {
            path: sidecar.display().to_string(),
            reason,
        };
        let spec: OnnxFaceSpec = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if spec.sample_rate != 16_000 && spec.sample_rate != 48_000 {
            return Err(invalid(format!(
                "sample_rate {} (16000 or 48000)",
                spec.sample_rate
            )));
        }
        if spec.fps == 0 || !spec.sample_rate.is_multiple_of(spec.fps) {
            return Err(invalid(format!("fps {} must divide sample_rate", spec.fps)));
        }
        let columns: Vec<Option<usize>> = spec
            .outputs
            .iter()
            .map(|n| goassist_protocol::arkit::index_of(n))
            .collect();
        if columns.iter().all(Option::is_none) {
            return Err(invalid("no output name is an ARKit curve".into()));
        }
        let session = load_session(models_dir, model, 1)?;
        Ok(OnnxAnimator {
            session,
            spec,
            columns,
            grid: FrameGrid::new(fps),
        })
    }

    fn infer(&mut self, audio_48k: &[f32]) -> Result<Vec<FaceValues>, EngineError> {
        let clean: Vec<f32> = audio_48k
            .iter()
            .map(|x| {
                if x.is_finite() {
                    x.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let mut input = if self.spec.sample_rate == 48_000 {
            clean
        } else {
            let mut out = Vec::with_capacity(clean.len() / 3 + 1);
            Decimator3::new().process(&clean, &mut out);
            out
        };
        let per_frame = (self.spec.sample_rate / self.spec.fps) as usize;
        input.resize(input.len().div_ceil(per_frame).max(1) * per_frame, 0.0);
        let err = runtime_error(ENGINE);
        let tensor = Tensor::from_array(([1usize, input.len()], input)).map_err(&err)?;
        let input_name = self.session.inputs()[0].name().to_string();
        let outputs = self
            .session
            .run(ort::inputs![input_name => tensor])
            .map_err(&err)?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(&err)?;
        let k = self.columns.len();
        let dims: Vec<i64> = shape.iter().copied().collect();
        let ok_shape = matches!(dims.as_slice(), [_, c] if *c as usize == k)
            || matches!(dims.as_slice(), [1, _, c] if *c as usize == k);
        if !ok_shape || !data.len().is_multiple_of(k) {
            return Err(EngineError::Runtime {
                engine: ENGINE,
                reason: format!(
                    "output shape {dims:?}, expected [frames, {k}] or [1, frames, {k}]"
                ),
            });
        }
        Ok(data
            .chunks_exact(k)
            .map(|row| {
                let mut v = NEUTRAL;
                for (col, w) in self.columns.iter().zip(row) {
                    if let Some(i) = col {
                        v[*i] = *w;
                    }
                }
                sanitize(&mut v);
                v
            })
            .collect())
    }
}

impl Animator for OnnxAnimator {
    fn animate(
        &mut self,
        audio_48k: &[f32],
        start_pos: u64,
        _phonemes: &[String],
    ) -> Result<Vec<(u64, FaceValues)>, EngineError> {
        let positions = self
            .grid
            .positions(start_pos, start_pos + audio_48k.len() as u64);
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.infer(audio_48k)?;
        if keys.is_empty() {
            return Err(EngineError::Runtime {
                engine: ENGINE,
                reason: "the model returned no frames".into(),
            });
        }
        let frame_samples = 48_000.0 / f64::from(self.spec.fps);
        Ok(positions
            .into_iter()
            .map(|p| {
                let x = (p - start_pos) as f64 / frame_samples;
                let i = (x.floor() as usize).min(keys.len() - 1);
                let j = (i + 1).min(keys.len() - 1);
                let f = (x - i as f64).clamp(0.0, 1.0) as f32;
                let mut v = NEUTRAL;
                for c in 0..v.len() {
                    v[c] = keys[i][c] + (keys[j][c] - keys[i][c]) * f;
                }
                (p, v)
            })
            .collect())
    }

    fn reset(&mut self) {
        self.grid.reset();
    }
}
