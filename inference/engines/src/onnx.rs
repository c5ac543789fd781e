//! ONNX Runtime set-up shared by the ONNX engines (Silero VAD, Moonshine ASR, Piper TTS).
//!
//! `ort` is built with `load-dynamic`: the runtime library comes from the PyPI `onnxruntime`
//! wheel that `scripts/download_models.sh` unpacks into `$MODELS_DIR/onnxruntime/` (the crate's
//! own binary download cannot work offline). `ORT_DYLIB_PATH` overrides the location.

use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use crate::EngineError;

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Where the runtime library is looked for: `ORT_DYLIB_PATH`, else under `models_dir`.
pub fn runtime_library_path(models_dir: &Path) -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| models_dir.join("onnxruntime").join("libonnxruntime.so"))
}

/// Loads ONNX Runtime once per process and returns its environment. Later calls return the
/// first call's outcome.
pub fn init_runtime(
    models_dir: &Path,
) -> Result<&'static ort::environment::Environment, EngineError> {
    let outcome = RUNTIME.get_or_init(|| {
        let lib = runtime_library_path(models_dir);
        if !lib.exists() {
            return Err(format!(
                "{} does not exist (run scripts/download_models.sh or set ORT_DYLIB_PATH)",
                lib.display()
            ));
        }
        ort::init_from(&lib)
            .map_err(|e| format!("{}: {e}", lib.display()))?
            .with_name("goassist")
            .build()
            .map_err(|e| format!("{}: {e}", lib.display()))
    });
    match outcome {
        Ok(env) => Ok(env),
        Err(reason) => Err(EngineError::Runtime {
            engine: "onnxruntime",
            reason: reason.clone(),
        }),
    }
}

/// Opens a model file (`.onnx` or `.ort`) as a session with `threads` intra-op threads.
pub fn load_session(
    models_dir: &Path,
    model: &Path,
    threads: usize,
) -> Result<ort::session::Session, EngineError> {
    let env = init_runtime(models_dir)?;
    if !model.exists() {
        return Err(EngineError::ModelNotFound {
            path: model.display().to_string(),
            reason: "no such file".into(),
        });
    }
    let invalid = |e: ort::Error| EngineError::InvalidModel {
        path: model.display().to_string(),
        reason: e.to_string(),
    };
    ort::session::Session::builder(env)
        .map_err(invalid)?
        .with_intra_threads(threads)
        .map_err(|e| invalid(e.into()))?
        .commit_from_file(model)
        .map_err(invalid)
}

/// Maps an ort error (not `Send`/`Sync`) into ours.
pub fn runtime_error(engine: &'static str) -> impl Fn(ort::Error) -> EngineError {
    move |e| EngineError::Runtime {
        engine,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_runtime_and_a_model() {
        let models = crate::test_models_dir();
        let session = load_session(&models, &models.join("vad/silero_vad.onnx"), 1).unwrap();
        assert!(session.inputs().iter().any(|i| i.name() == "input"));
        let err = load_session(&models, &models.join("vad/nope.onnx"), 1).unwrap_err();
        assert!(err.to_string().contains("nope.onnx"), "{err}");
    }

    #[test]
    fn missing_runtime_library_is_a_clear_error() {
        let path = runtime_library_path(Path::new("/nonexistent-models"));
        if std::env::var_os("ORT_DYLIB_PATH").is_none() {
            assert!(path.ends_with("onnxruntime/libonnxruntime.so"));
        }
    }
}
