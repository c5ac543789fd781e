//! Edge-case and malformed audio for the ASR: no audio or too little is "" (not an error),
//! unusable audio is `InvalidInput` (not a panic), and the recognizer keeps working after.

mod speech_fixtures;

use goassist_engines::EngineError;
use goassist_engines::asr::{
    Asr, MAX_AUDIO_SAMPLES, MIN_AUDIO_SAMPLES, MoonshineAsr, word_error_rate,
};
use speech_fixtures::{RATE, models_dir, room_noise};

#[test]
fn empty_short_and_bad_audio_then_a_real_utterance() {
    let mut asr = MoonshineAsr::load(&models_dir(), 1).expect("Moonshine loads");

    assert_eq!(asr.transcribe(&[]).unwrap(), "");
    assert_eq!(asr.transcribe(&[0.0; 1]).unwrap(), "");
    assert_eq!(
        asr.transcribe(&vec![0.3; MIN_AUDIO_SAMPLES - 1]).unwrap(),
        ""
    );
    // Just long enough for the model to run: must not fail, whatever it hears.
    asr.transcribe(&room_noise(MIN_AUDIO_SAMPLES, 3)).unwrap();

    let mut nan = speech_fixtures::jfk().samples;
    nan[RATE] = f32::NAN;
    for bad in [
        nan.clone(),
        vec![f32::INFINITY; RATE],
        vec![0.0; MAX_AUDIO_SAMPLES + 1],
    ] {
        match asr.transcribe(&bad) {
            Err(EngineError::InvalidInput(reason)) => assert!(!reason.is_empty()),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    // Still works.
    let utterance = &speech_fixtures::librivox()[1];
    let text = asr.transcribe(&utterance.samples).unwrap();
    assert!(
        word_error_rate(&utterance.transcript, &text) <= 0.1,
        "{text:?}"
    );
}

#[test]
fn loading_from_a_directory_without_the_model_is_a_clear_error() {
    let models = models_dir();
    // A models tree with the runtime library but no ASR folder.
    let empty = std::env::temp_dir().join(format!("goassist-asr-missing-{}", std::process::id()));
    std::fs::create_dir_all(empty.join("onnxruntime")).unwrap();
    let lib = models.join("onnxruntime/libonnxruntime.so");
    let _ = std::os::unix::fs::symlink(
        lib.canonicalize().unwrap_or(lib),
        empty.join("onnxruntime/libonnxruntime.so"),
    );
    let err = MoonshineAsr::load(&empty, 1).unwrap_err();
    let _ = std::fs::remove_dir_all(&empty);
    assert!(
        matches!(err, EngineError::ModelNotFound { ref path, .. } if path.contains("encoder_model.ort")),
        "{err}"
    );
}
