//! Moonshine transcribes real recorded speech with a word error rate of at most 10 % on each
//! utterance (LibriVox, read English; jfk.wav, a 1961 speech recording).

mod speech_fixtures;

use goassist_engines::asr::{Asr, MoonshineAsr, word_error_rate};
use speech_fixtures::models_dir;

const MAX_WER: f64 = 0.10;

#[test]
fn every_real_utterance_is_transcribed_within_10_percent_wer() {
    let mut asr = MoonshineAsr::load(&models_dir(), 1).expect("Moonshine loads");
    let mut failures = Vec::new();
    for utterance in speech_fixtures::all() {
        let text = asr.transcribe(&utterance.samples).expect("transcribes");
        let wer = word_error_rate(&utterance.transcript, &text);
        eprintln!("{}: WER {:.1} %: {text:?}", utterance.name, wer * 100.0);
        assert_eq!(text.trim(), text, "no outer spaces");
        assert!(!text.contains("  "), "single spaces: {text:?}");
        if wer > MAX_WER {
            failures.push(format!(
                "{}: WER {:.1} %\n  reference:  {}\n  hypothesis: {text}",
                utterance.name,
                wer * 100.0,
                utterance.transcript
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_prefix_of_an_utterance_gives_a_partial_transcript_of_its_start() {
    // What streaming partials do: transcribe the audio so far.
    let mut asr = MoonshineAsr::load(&models_dir(), 1).expect("Moonshine loads");
    let jfk = speech_fixtures::jfk();
    // The first phrase, "And so my fellow Americans", ends before 2.3 s.
    let partial = asr
        .transcribe(&jfk.samples[..speech_fixtures::RATE * 23 / 10])
        .unwrap();
    assert!(
        word_error_rate("and so my fellow americans", &partial) <= 0.2,
        "partial: {partial:?}"
    );
}
