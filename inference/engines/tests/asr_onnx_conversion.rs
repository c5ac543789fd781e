//! `scripts/ort_to_onnx.py` converts the shipped ORT-format Moonshine models to plain ONNX
//! losslessly: the converted models decode exactly the same tokens as the originals.
//!
//! Spawns `python3` with the PyPI packages `onnx` and `flatbuffers` (scripts/setup.sh).

mod speech_fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;

use goassist_engines::asr::MoonshineAsr;
use speech_fixtures::models_dir;

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

const MODELS: [&str; 2] = ["encoder_model", "decoder_model_merged"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A throwaway model tree holding the runtime library, the tokenizer and the given model files.
fn model_tree(name: &str, files: &[(PathBuf, String)]) -> PathBuf {
    let models = models_dir();
    let root = std::env::temp_dir().join(format!("goassist-{name}-{}", std::process::id()));
    let asr = root.join("asr/moonshine-base-en");
    std::fs::create_dir_all(&asr).unwrap();
    std::fs::create_dir_all(root.join("onnxruntime")).unwrap();
    let link = |from: &Path, to: &Path| {
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(from.canonicalize().unwrap(), to).unwrap();
    };
    link(
        &models.join("onnxruntime/libonnxruntime.so"),
        &root.join("onnxruntime/libonnxruntime.so"),
    );
    link(
        &models.join("asr/moonshine-base-en/tokenizer.bin"),
        &asr.join("tokenizer.bin"),
    );
    for (from, to) in files {
        link(from, &asr.join(to));
    }
    root
}

fn python_with_packages() {
    let probe = Command::new(python())
        .args(["-c", "import onnx, flatbuffers"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is missing ({e}): install it (scripts/setup.sh)"));
    assert!(
        probe.status.success(),
        "python3 lacks onnx/flatbuffers: pip install onnx==1.23.2 flatbuffers==25.12.19 \
         (scripts/setup.sh)\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
}

/// The onnxruntime wheel kept by the download script, for its FlatBuffers readers.
fn onnxruntime_wheel(models: &Path) -> Option<PathBuf> {
    std::fs::read_dir(models.join(".cache"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("onnxruntime-") && n.ends_with(".whl"))
        })
}

#[test]
fn converted_models_decode_the_same_tokens_as_the_originals() {
    python_with_packages();
    let models = models_dir();
    let shipped = models.join("asr/moonshine-base-en");
    let out = std::env::temp_dir().join(format!("goassist-onnx-out-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    for model in MODELS {
        let mut command = Command::new(python());
        command
            .arg(workspace_root().join("scripts/ort_to_onnx.py"))
            .arg(shipped.join(format!("{model}.ort")))
            .arg(out.join(format!("{model}.onnx")));
        if let Some(wheel) = onnxruntime_wheel(&models) {
            command.arg("--ort-tools").arg(wheel);
        }
        let result = command.output().expect("python3 runs");
        assert!(
            result.status.success(),
            "ort_to_onnx.py failed on {model}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    let ort_tree = model_tree(
        "ort",
        &MODELS.map(|m| (shipped.join(format!("{m}.ort")), format!("{m}.ort"))),
    );
    let onnx_tree = model_tree(
        "onnx",
        &MODELS.map(|m| (out.join(format!("{m}.onnx")), format!("{m}.onnx"))),
    );

    let mut original = MoonshineAsr::load(&ort_tree, 1).expect("ORT-format models load");
    let mut converted = MoonshineAsr::load(&onnx_tree, 1).expect("converted models load");
    for utterance in [
        speech_fixtures::jfk(),
        speech_fixtures::librivox().remove(1),
    ] {
        let expected = original.transcribe_tokens(&utterance.samples).unwrap();
        let got = converted.transcribe_tokens(&utterance.samples).unwrap();
        assert!(!expected.is_empty());
        assert_eq!(got, expected, "{}", utterance.name);
    }
    for dir in [out, ort_tree, onnx_tree] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
