//! Our Whisper log-mel features against the reference Smart Turn ships with: pipecat's numpy
//! feature extractor (`_whisper_features.py` from the same wheel as the model, unpacked by
//! scripts/download_models.sh), run here with python3 + numpy on real recordings.
//!
//! Tolerance: the reference works in f64 and rounds to f32 at the end; so do we, except that the
//! waveform statistics are summed in another order. The features span about 2 units; we accept
//! 1e-4 at any single value and 1e-6 on average (measured: at most 1.3e-5 and 5e-8), and the
//! model's P(complete) on our features within 0.001 of its value on the reference's (measured:
//! equal to 4 decimals).

mod speech_fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;

use goassist_engines::turn::{LogMelExtractor, N_FRAMES, N_MELS, SmartTurnModel, WINDOW_SAMPLES};
use speech_fixtures::{RATE, models_dir};

const MAX_ABS_DIFF: f32 = 1e-4;
const MEAN_ABS_DIFF: f64 = 1e-6;
const PROBABILITY_DIFF: f32 = 0.001;

/// The reference's input contract is exactly 8 s (it pads at the end, pipecat's caller pads at
/// the front); this harness does the caller's part, then calls the reference function.
const HARNESS: &str = r#"
import importlib.util, sys
import numpy as np
reference, audio_path, out_path, window = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = importlib.util.spec_from_file_location("whisper_features", reference)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
audio = np.fromfile(audio_path, dtype="<f4")
audio = audio[-window:] if audio.size > window else np.pad(audio, (window - audio.size, 0))
features = module.compute_whisper_log_mel_features(audio, do_normalize=True)
assert features.shape == (80, 800), features.shape
features.astype("<f4").tofile(out_path)
"#;

fn reference_script(models: &Path) -> PathBuf {
    let path = models.join("turn/reference/whisper_features.py");
    assert!(
        path.exists(),
        "{} is missing: run scripts/download_models.sh",
        path.display()
    );
    path
}

/// Runs the reference on `audio` and returns its `[80, 800]` features.
fn reference_features(script: &Path, audio: &[f32], tag: &str) -> Vec<f32> {
    let dir = std::env::temp_dir().join(format!(
        "goassist-turn-features-{}-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("audio.f32");
    let output = dir.join("features.f32");
    let bytes: Vec<u8> = audio.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(&input, bytes).unwrap();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let run = Command::new(&python)
        .arg("-c")
        .arg(HARNESS)
        .arg(script)
        .arg(&input)
        .arg(&output)
        .arg(WINDOW_SAMPLES.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (scripts/setup.sh installs it): {e}"));
    assert!(
        run.status.success(),
        "the reference feature code failed (numpy comes from scripts/requirements-runtime.txt):\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let features: Vec<f32> = std::fs::read(&output)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(features.len(), N_MELS * N_FRAMES);
    features
}

#[test]
fn features_match_the_reference_on_real_speech() {
    let models = models_dir();
    let script = reference_script(&models);
    let extractor = LogMelExtractor::new();
    let model = SmartTurnModel::load(&models).expect("Smart Turn loads");
    let jfk = speech_fixtures::jfk();
    let librivox = speech_fixtures::librivox();
    let seconds = |s: f64| (s * RATE as f64) as usize;
    // Longer than the window (the last 8 s count), shorter (front padding), a cut inside a
    // pause, and a whole short utterance.
    let cases: Vec<(&str, &[f32])> = vec![
        ("jfk-whole", &jfk.samples),
        ("jfk-first-2.6s", &jfk.samples[..seconds(2.6)]),
        ("jfk-first-4.8s", &jfk.samples[..seconds(4.8)]),
        ("librivox-0880", &librivox[1].samples),
        ("librivox-0870", &librivox[0].samples),
    ];
    for (tag, audio) in cases {
        let ours = extractor.compute(audio);
        let theirs = reference_features(&script, audio, tag);
        let mut max_diff = 0.0f32;
        let mut sum_diff = 0.0f64;
        for (a, b) in ours.iter().zip(&theirs) {
            let d = (a - b).abs();
            max_diff = max_diff.max(d);
            sum_diff += f64::from(d);
        }
        let mean_diff = sum_diff / ours.len() as f64;
        let p_ours = model.run(&ours).unwrap();
        let p_theirs = model.run(&theirs).unwrap();
        println!(
            "{tag}: max |diff| {max_diff:.2e}, mean {mean_diff:.2e}; P(complete) ours {p_ours:.4}, \
             reference features {p_theirs:.4}"
        );
        assert!(
            max_diff <= MAX_ABS_DIFF,
            "{tag}: max feature difference {max_diff}"
        );
        assert!(
            mean_diff <= MEAN_ABS_DIFF,
            "{tag}: mean feature difference {mean_diff}"
        );
        assert!(
            (p_ours - p_theirs).abs() <= PROBABILITY_DIFF,
            "{tag}: P(complete) {p_ours} on our features, {p_theirs} on the reference's"
        );
    }
}
