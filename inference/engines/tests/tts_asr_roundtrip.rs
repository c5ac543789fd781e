//! The strong check on the voice: what Piper says, transcribed back by the Moonshine ASR, is
//! the text it was given.

use std::sync::{Mutex, MutexGuard, OnceLock};

use goassist_engines::asr::{Asr, MoonshineAsr, word_error_rate};
use goassist_engines::tts::{PiperTts, Tts, TtsAudio};

const ASR_RATE: u32 = 16_000;

/// Sentences an assistant says, without digits (the ASR may write "9:30" for "nine thirty").
const SENTENCES: [&str; 5] = [
    "The quick brown fox jumps over the lazy dog.",
    "Sure, I can help you with that.",
    "The capital of France is Paris, which is also its largest city.",
    "Please remember to water the plants before you leave the house.",
    "I'm sorry, I didn't catch that. Could you say it again?",
];

struct Models {
    tts: PiperTts,
    asr: MoonshineAsr,
}

/// Loading both models takes a while on a busy machine; the tests share them.
fn models() -> MutexGuard<'static, Models> {
    static MODELS: OnceLock<Mutex<Models>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            let dir = goassist_engines::test_models_dir();
            let tts = PiperTts::load(&dir.join("tts/piper/en_US-joe-medium.onnx"), 1)
                .expect("load the Piper voice");
            let asr = MoonshineAsr::load(&dir, 1).expect("load Moonshine");
            Mutex::new(Models { tts, asr })
        })
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Band-limited resampling for the test (windowed sinc, Hann window, 32 zero crossings each
/// side): the voice loop's own resampler lives in the audio module, this only has to hand the
/// ASR clean 16 kHz audio.
fn resample(audio: &TtsAudio, to_rate: u32) -> Vec<f32> {
    let from = f64::from(audio.sample_rate);
    let to = f64::from(to_rate);
    let step = from / to;
    let cutoff = (to / from).min(1.0);
    const HALF_TAPS: i64 = 32;
    let out_len = (audio.samples.len() as f64 / step) as usize;
    (0..out_len)
        .map(|n| {
            let center = n as f64 * step;
            let first = center.floor() as i64 - HALF_TAPS;
            let mut acc = 0.0;
            for i in first..=first + 2 * HALF_TAPS {
                let Some(sample) = usize::try_from(i).ok().and_then(|i| audio.samples.get(i))
                else {
                    continue;
                };
                let x = i as f64 - center;
                let sinc = if x == 0.0 {
                    1.0
                } else {
                    let a = std::f64::consts::PI * x * cutoff;
                    a.sin() / a
                };
                let window =
                    0.5 + 0.5 * (std::f64::consts::PI * x / (HALF_TAPS as f64 + 1.0)).cos();
                acc += f64::from(*sample) * cutoff * sinc * window;
            }
            acc as f32
        })
        .collect()
}

fn transcribe(asr: &mut MoonshineAsr, audio: &TtsAudio) -> String {
    asr.transcribe(&resample(audio, ASR_RATE))
        .expect("transcribe")
}

#[test]
fn what_piper_says_transcribes_back_to_the_text() {
    let Models { tts, asr } = &mut *models();
    let mut errors = 0.0;
    let mut words = 0.0;
    for text in SENTENCES {
        let audio = tts.synthesize(text).unwrap();
        let heard = transcribe(asr, &audio);
        let wer = word_error_rate(text, &heard);
        eprintln!("WER {wer:.2}: {text:?} -> {heard:?}");
        assert!(
            wer <= 0.25,
            "{text:?} was heard as {heard:?} (WER {wer:.2})"
        );
        let n = text.split_whitespace().count() as f64;
        errors += wer * n;
        words += n;
    }
    let total = errors / words;
    assert!(total <= 0.10, "overall WER {total:.3}");
}

#[test]
fn a_streamed_answer_spoken_clause_by_clause_is_understood() {
    let Models { tts, asr } = &mut *models();
    // Clauses as the voice loop's splitter cuts this answer (the server's conversation code).
    let clauses = [
        "Good question!",
        "Water boils at a lower temperature on a high mountain,",
        "because the air pressure there is lower,",
        "so pasta takes longer to cook.",
    ];
    let answer = clauses.join(" ");

    let mut joined = TtsAudio {
        sample_rate: tts.sample_rate(),
        ..TtsAudio::default()
    };
    for clause in clauses {
        joined
            .samples
            .extend(tts.synthesize(clause).unwrap().samples);
    }
    let heard = transcribe(asr, &joined);
    let wer = word_error_rate(&answer, &heard);
    eprintln!("WER {wer:.2}: {clauses:?} -> {heard:?}");
    assert!(wer <= 0.10, "heard {heard:?} (WER {wer:.2})");
}
