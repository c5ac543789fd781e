//! The ONNX audio→ARKit adapter with a real ONNX model, built here by python3's `onnx` package
//! (a tiny graph: per-frame RMS → jawOpen). The adapter is generic; this model is a test
//! fixture, not a face model.

use std::process::Command;

use goassist_engines::face::Animator;
use goassist_engines::face::lipsync::{best_lag, loudness_at};
use goassist_engines::face::onnx_model::OnnxAnimator;
use goassist_engines::face::wav::{read_wav, to_48k};
use goassist_protocol::CurveIndex as C;

/// The Python the tests use: `GOASSIST_PYTHON`, else the workspace's `.venv` (scripts/setup.sh
/// installs the test packages there; PEP 668 keeps them out of the system Python), else
/// `python3` on PATH.
fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("GOASSIST_PYTHON") {
        return python.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

const BUILD_MODEL: &str = r#"
import sys, json, onnx
from onnx import helper, TensorProto
out = sys.argv[1]
shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 640])
axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
gain = helper.make_tensor("gain", TensorProto.FLOAT, [], [4.0])
lo = helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0])
hi = helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])
zeros = helper.make_tensor("zero_col", TensorProto.FLOAT, [1, 1], [0.25])
nodes = [
  helper.make_node("Reshape", ["audio", "shape"], ["frames"]),
  helper.make_node("Mul", ["frames", "frames"], ["sq"]),
  helper.make_node("ReduceMean", ["sq", "axes"], ["ms"], keepdims=1),
  helper.make_node("Sqrt", ["ms"], ["rms"]),
  helper.make_node("Mul", ["rms", "gain"], ["g"]),
  helper.make_node("Clip", ["g", "lo", "hi"], ["jaw"]),
  helper.make_node("Mul", ["jaw", "lo"], ["z"]),
  helper.make_node("Add", ["z", "zero_col"], ["brow"]),
  helper.make_node("Concat", ["brow", "jaw", "z"], ["weights"], axis=1),
]
graph = helper.make_graph(nodes, "rms_face",
  [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, None])],
  [helper.make_tensor_value_info("weights", TensorProto.FLOAT, [None, 3])],
  [shape, axes, gain, lo, hi, zeros])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, out)
json.dump({"sample_rate": 16000, "fps": 25, "outputs": ["browInnerUp", "jawOpen", "notAShape"]}, open(out + ".json", "w"))
"#;

fn build_model(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("rms_face.onnx");
    let status = Command::new(python())
        .arg("-c")
        .arg(BUILD_MODEL)
        .arg(&path)
        .status()
        .expect("python3 is missing: run scripts/setup.sh");
    assert!(
        status.success(),
        "building the test ONNX model failed: run scripts/setup.sh (pip install onnx)"
    );
    path
}

#[test]
fn a_user_onnx_model_drives_the_face_by_curve_name() {
    let models = goassist_engines::test_models_dir();
    let dir = std::env::temp_dir().join(format!("goassist-onnx-face-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = build_model(&dir);
    let mut animator = OnnxAnimator::load(&models, &model, 30).unwrap();
    let wav = read_wav(&models.join("speech/jfk.wav")).unwrap();
    let audio = to_48k(&wav.samples, wav.sample_rate);
    let frames = animator.animate(&audio, 48_000, &[]).unwrap();
    assert_eq!(frames.len() as u64, (audio.len() as u64).div_ceil(1600));
    assert!(
        frames
            .iter()
            .all(|f| (f.1[C::BROW_INNER_UP] - 0.25).abs() < 1e-5),
        "mapped by name"
    );
    let positions: Vec<u64> = frames.iter().map(|f| f.0).collect();
    let jaw: Vec<f32> = frames.iter().map(|f| f.1[C::JAW_OPEN]).collect();
    let loud = loudness_at(&audio, 48_000, &positions, 800);
    let (lag, r) = best_lag(&jaw, &loud, 3);
    assert!(r > 0.7 && lag.abs() <= 1, "lag {lag}, r {r}");

    // A broken sidecar is a clear error, not a panic.
    std::fs::write(
        format!("{}.json", model.display()),
        r#"{"sample_rate": 16000, "fps": 7, "outputs": ["jawOpen"]}"#,
    )
    .unwrap();
    let err = OnnxAnimator::load(&models, &model, 30)
        .err()
        .expect("fps 7 must be refused");
    assert!(err.to_string().contains("fps"), "{err}");
    std::fs::write(format!("{}.json", model.display()), "not json").unwrap();
    assert!(OnnxAnimator::load(&models, &model, 30).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
