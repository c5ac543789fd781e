//! Piper synthesis on the real `en_US-joe-medium` voice with real espeak-ng phonemes.
//!
//! Without an ASR these check what speech must look like: a speaking rate in the human range, a
//! male voice's pitch in voiced frames, speech energy with pauses where the text has them. The
//! transcription round trip lives in `tts_asr_roundtrip.rs`.

use std::sync::{Mutex, OnceLock};

use goassist_engines::EngineError;
use goassist_engines::tts::{PiperTts, Tts, TtsAudio};

const FOX: &str = "The quick brown fox jumps over the lazy dog.";

/// Loading the voice takes seconds; the tests share one.
fn voice() -> std::sync::MutexGuard<'static, PiperTts> {
    static VOICE: OnceLock<Mutex<PiperTts>> = OnceLock::new();
    VOICE
        .get_or_init(|| {
            let models = goassist_engines::test_models_dir();
            let model = models.join("tts/piper/en_US-joe-medium.onnx");
            Mutex::new(PiperTts::load(&model, 1).expect("load the Piper voice"))
        })
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn speak(text: &str) -> TtsAudio {
    voice().synthesize(text).expect("synthesize")
}

fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

/// RMS of consecutive 20 ms frames.
fn frame_rms(audio: &TtsAudio) -> Vec<f32> {
    let frame = audio.sample_rate as usize / 50;
    audio.samples.chunks_exact(frame).map(rms).collect()
}

/// Fundamental frequency of a frame by autocorrelation, if it is clearly periodic.
fn pitch_hz(frame: &[f32], sample_rate: u32) -> Option<f32> {
    let min_lag = (sample_rate / 400) as usize;
    let max_lag = (sample_rate / 60) as usize;
    let energy: f32 = frame.iter().map(|s| s * s).sum();
    if energy <= 0.0 || frame.len() <= max_lag * 2 {
        return None;
    }
    let (lag, corr) = (min_lag..=max_lag)
        .map(|lag| {
            let c: f32 = frame.iter().zip(&frame[lag..]).map(|(a, b)| a * b).sum();
            (lag, c / energy)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (corr > 0.5).then(|| sample_rate as f32 / lag as f32)
}

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

#[test]
fn a_voice_can_move_to_a_worker_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<PiperTts>();
    assert_send::<Box<dyn Tts>>();
}

#[test]
fn speaks_a_sentence_as_speech() {
    let audio = speak(FOX);
    assert_eq!(audio.sample_rate, 22050);
    let duration = audio.duration_s();
    // About 2.8 s; a person says this in 2 to 4 seconds.
    assert!((1.8..4.5).contains(&duration), "duration {duration:.2} s");
    assert!(
        audio
            .samples
            .iter()
            .all(|s| s.is_finite() && s.abs() <= 1.0)
    );
    // Peak-normalized like Piper's own output, with headroom.
    let peak = audio.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!((0.85..=0.901).contains(&peak), "peak {peak}");
    let level = rms(&audio.samples);
    assert!((0.05..0.35).contains(&level), "rms {level}");
    // Most 20 ms frames carry sound; the edges and short pauses do not.
    let frames = frame_rms(&audio);
    let loud = frames.iter().filter(|r| **r > 0.01).count() as f32 / frames.len() as f32;
    assert!(
        (0.5..0.98).contains(&loud),
        "share of frames with sound {loud:.2}"
    );
}

#[test]
fn the_voice_is_pitched_like_a_male_speaker() {
    let audio = speak(FOX);
    let frame = audio.sample_rate as usize * 40 / 1000;
    let pitches: Vec<f32> = audio
        .samples
        .chunks_exact(frame)
        .filter(|f| rms(f) > 0.03)
        .filter_map(|f| pitch_hz(f, audio.sample_rate))
        .collect();
    assert!(pitches.len() >= 10, "only {} voiced frames", pitches.len());
    let f0 = median(pitches);
    // Noise or a broken vocoder has no stable pitch; "joe" speaks at a typical male F0.
    assert!((70.0..200.0).contains(&f0), "median F0 {f0:.0} Hz");
}

#[test]
fn reports_the_phonemes_it_spoke() {
    let audio = speak(FOX);
    let phonemes: Vec<&str> = audio.phonemes.iter().map(String::as_str).collect();
    assert_eq!(&phonemes[..5], ["ð", "ə", "k", "w", "ɪ"], "{phonemes:?}");
    assert_eq!(phonemes.last(), Some(&"ɡ"), "ends with 'dog': {phonemes:?}");
    assert!(phonemes.iter().all(|p| !p.contains([' ', 'ˈ', 'ˌ', '.'])));
    // A speaking rate in the human range: roughly 8 to 20 phonemes a second.
    let rate = phonemes.len() as f64 / audio.duration_s();
    assert!((8.0..20.0).contains(&rate), "{rate:.1} phonemes/s");
}

#[test]
fn longer_text_gives_proportionally_longer_audio() {
    let short = speak("Yes.");
    let long = speak(
        "Yes. I checked the schedule this morning, and the train to Boston leaves at \
         half past nine from platform four.",
    );
    assert!(short.duration_s() > 0.2, "{}", short.duration_s());
    assert!(
        long.duration_s() > 6.0 * short.duration_s(),
        "{} vs {}",
        long.duration_s(),
        short.duration_s()
    );
    let per_phoneme_short = short.duration_s() / short.phonemes.len() as f64;
    let per_phoneme_long = long.duration_s() / long.phonemes.len() as f64;
    assert!(
        (0.3..3.0).contains(&(per_phoneme_long / per_phoneme_short)),
        "{per_phoneme_short} vs {per_phoneme_long}"
    );
}

#[test]
fn sentences_are_separated_by_a_pause() {
    let audio = speak("Hello there. How are you today?");
    // Piper's 0.2 s of silence between the two sentences: a run of exact zeros.
    let mut longest = 0;
    let mut run = 0;
    for s in &audio.samples {
        run = if *s == 0.0 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    assert!(longest >= 4410, "longest silent run {longest} samples");
    let one = speak("Hello there.");
    assert!(audio.duration_s() > one.duration_s() + 0.8);
}

#[test]
fn loudness_is_consistent_from_clause_to_clause() {
    let levels: Vec<f32> = [
        "Sure, I can help with that.",
        "The meeting starts at ten.",
        "Really?",
        "Thanks a lot for asking!",
    ]
    .iter()
    .map(|t| rms(&speak(t).samples))
    .collect();
    let (min, max) = levels
        .iter()
        .fold((f32::MAX, 0f32), |(lo, hi), l| (lo.min(*l), hi.max(*l)));
    assert!(max / min < 2.5, "clause levels {levels:?}");
}

#[test]
fn markdown_is_not_read_aloud() {
    let plain = speak("Note: this is important.");
    let marked = speak("**Note:** this is *important*. 🎉");
    assert_eq!(plain.phonemes, marked.phonemes);
}

#[test]
fn nothing_to_say_is_empty_audio_not_an_error() {
    for text in ["", "   ", "🎉🎉", "```\nlet x = 1;\n```", "...", "* * *"] {
        let audio = speak(text);
        assert!(
            audio.samples.is_empty(),
            "{text:?} gave {} samples",
            audio.samples.len()
        );
        assert!(audio.phonemes.is_empty());
        assert_eq!(audio.sample_rate, 22050);
    }
}

#[test]
fn odd_text_never_panics() {
    let long = "word ".repeat(120);
    let texts = [
        "\0",
        "a\0b",
        "ʃʃʃ ŋŋŋ",
        "ÇÃÕ façade São Paulo",
        "1.2.3.4.5.6.7.8.9",
        "?!?!?!",
        "<speak>hi</speak>",
        "[[h@'loU]]",
        "\u{202E}reversed\u{202C}",
        "日本語のテキスト",
        "Ω≈ç√∫˜µ≤≥÷",
        long.as_str(),
    ];
    for text in texts {
        let audio = speak(text);
        assert!(audio.samples.iter().all(|s| s.is_finite()), "{text:?}");
    }
}

#[test]
fn missing_model_files_are_errors() {
    let err = PiperTts::load(std::path::Path::new("/nonexistent/voice.onnx"), 1).unwrap_err();
    assert!(matches!(err, EngineError::ModelNotFound { .. }), "{err}");
    // A model without its .onnx.json beside it.
    let dir = std::env::temp_dir().join(format!("goassist-tts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lonely = dir.join("voice.onnx");
    std::fs::write(&lonely, b"not a model").unwrap();
    let err = PiperTts::load(&lonely, 1).unwrap_err();
    assert!(err.to_string().contains("voice.onnx.json"), "{err}");
    // A config beside something that is not an ONNX model.
    let models = goassist_engines::test_models_dir();
    std::fs::copy(
        models.join("tts/piper/en_US-joe-medium.onnx.json"),
        dir.join("voice.onnx.json"),
    )
    .unwrap();
    let err = PiperTts::load_with_models_dir(&models, &lonely, 1).unwrap_err();
    assert!(matches!(err, EngineError::InvalidModel { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
