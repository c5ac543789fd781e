//! Smart Turn v3.2 on real recordings, through our features and ONNX Runtime: the completion
//! probabilities at the pauses of jfk.wav and at the ends of the LibriVox utterances are the
//! ones measured with pipecat's own pipeline (docs/models.md lists them).
//!
//! The pauses are found by the real VAD (Silero + segmenter), and the model sees what a session
//! gives it: the audio from the start of the recording up to 200 ms into the pause.

mod speech_fixtures;

use goassist_engines::turn::SmartTurnModel;
use goassist_engines::vad::{SegmentEvent, SegmenterConfig, VadEngine, VadModel};
use speech_fixtures::{RATE, models_dir};

/// Whether this CPU can reproduce the reference figures. They were measured on Intel Xeon hosts;
/// on an AMD EPYC (Zen 3: AVX2, no VNNI) the same model file, features and ONNX Runtime 1.31.1
/// gave 0.59 instead of 0.86 at the end of jfk.wav and 0.89 instead of >= 0.94 for LibriVox 0890,
/// likely ONNX Runtime's int8 kernels, which differ between CPUs with and without VNNI. There
/// only the verdicts are checked (complete above 0.5, unfinished below), and the reference
/// comparison is skipped, saying so.
fn reference_cpu() -> bool {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let vnni = cpuinfo.lines().filter(|l| l.starts_with("flags")).any(|l| {
        l.split_whitespace()
            .any(|f| f == "avx512_vnni" || f == "avx_vnni")
    });
    if !vnni {
        println!(
            "SKIP the reference figures (checking only the verdicts): this CPU has no VNNI, \
             where ONNX Runtime's int8 kernels give Smart Turn other probabilities"
        );
    }
    vnni
}

/// Silence after the last voiced sample that the model is asked at.
const PROBE_SAMPLES: usize = RATE / 5;

/// `(first silent sample, length in samples)` of each pause of at least 300 ms inside `audio`.
fn pauses(vad: &VadModel, audio: &[f32]) -> Vec<(usize, usize)> {
    let config = SegmenterConfig {
        end_of_turn_silence_ms: 60_000,
        ..SegmenterConfig::default()
    };
    let mut detector = vad.new_detector(config);
    let mut found = Vec::new();
    let mut open: Option<u64> = None;
    for packet in audio.chunks(RATE / 50) {
        let events = detector.push(packet).expect("valid audio");
        assert!(
            events
                .iter()
                .all(|e| matches!(e, SegmentEvent::SpeechStart { .. })),
            "the segmenter never ends the turn here: {events:?}"
        );
        match (detector.trailing_silence_start(), open) {
            (Some(start), None) => open = Some(start),
            (None, Some(start)) => {
                let length = detector.samples_processed() - start;
                if length >= 300 * RATE as u64 / 1000 {
                    found.push((start as usize, length as usize));
                }
                open = None;
            }
            _ => {}
        }
    }
    found
}

#[test]
fn jfk_pauses_and_end_match_the_reference_figures() {
    let models = models_dir();
    let model = SmartTurnModel::load(&models).expect("Smart Turn loads");
    let vad = VadModel::load(VadEngine::Silero, &models).expect("Silero loads");
    let jfk = speech_fixtures::jfk();

    let found = pauses(&vad, &jfk.samples);
    let described: Vec<String> = found
        .iter()
        .map(|(s, l)| {
            format!(
                "{:.2} s for {} ms",
                *s as f64 / RATE as f64,
                l * 1000 / RATE
            )
        })
        .collect();
    println!("pauses: {described:?}");
    // "And so my fellow Americans, | ask not | what your country can do for you, | ask what..."
    assert!(
        found.len() >= 2,
        "expected the pauses after 'Americans' and 'ask not', found {described:?}"
    );
    let at_pause = |(start, _): (usize, usize)| {
        model
            .predict(&jfk.samples[..start + PROBE_SAMPLES])
            .expect("runs")
            .probability
    };
    let americans = at_pause(found[0]);
    let ask_not = at_pause(found[1]);
    let end = model.predict(&jfk.samples).expect("runs").probability;
    println!("after 'Americans' {americans:.3}, after 'ask not' {ask_not:.3}, end {end:.3}");
    // Reference: 0.97 (0.87-0.98 depending on where in the pause the audio is cut), 0.015
    // (0.013-0.08 likewise), 0.86 (the whole file: no cut to vary).
    assert!(
        americans >= 0.85,
        "after 'Americans': {americans} (reference ~0.97)"
    );
    assert!(
        ask_not <= 0.1,
        "after 'ask not': {ask_not} (reference ~0.015)"
    );
    if reference_cpu() {
        assert!((end - 0.86).abs() <= 0.03, "end: {end} (reference 0.86)");
    } else {
        assert!(
            end > 0.5,
            "end: {end}: the finished sentence judged unfinished"
        );
    }
}

#[test]
fn librivox_ends_match_the_reference_figures() {
    let model = SmartTurnModel::load(&models_dir()).expect("Smart Turn loads");
    let reference = reference_cpu();
    // Reference figures at each recording's end (docs/models.md): 0870, 0890, 0920 >= 0.94;
    // 0880 ends in a comma ("He was not an ill-disposed young man,"): 0.10; 0930 is a whole
    // sentence that sounds unfinished to the model: 0.12 on the whole file (0.22 measured on a
    // cut).
    let expected = [
        ("0870", 0.94, 1.0),
        ("0880", 0.0, 0.15),
        ("0890", 0.94, 1.0),
        ("0920", 0.94, 1.0),
        ("0930", 0.05, 0.35),
    ];
    for utterance in speech_fixtures::librivox() {
        let p = model.predict(&utterance.samples).expect("runs").probability;
        println!("{}: P(complete) {p:.3}", utterance.name);
        let (_, low, high) = expected
            .iter()
            .find(|(id, _, _)| utterance.name.ends_with(id))
            .unwrap_or_else(|| panic!("unexpected recording {}", utterance.name));
        if reference {
            assert!(
                (*low..=*high).contains(&p),
                "{}: P(complete) {p}, expected {low}..={high}",
                utterance.name
            );
        } else {
            // The verdict: the reference's finished endings above 0.5, the others below.
            assert_eq!(
                p > 0.5,
                *low > 0.5,
                "{}: P(complete) {p}, reference {low}..={high}",
                utterance.name
            );
        }
    }
}

#[test]
fn wrong_feature_sizes_are_rejected() {
    let model = SmartTurnModel::load(&models_dir()).expect("Smart Turn loads");
    let err = model.run(&[0.0; 10]).unwrap_err();
    assert!(err.to_string().contains("80 x 800"), "{err}");
    // Empty or silent input still gives a probability (the features of zeros are defined).
    let p = model.predict(&[]).expect("runs").probability;
    assert!((0.0..=1.0).contains(&p));
}
