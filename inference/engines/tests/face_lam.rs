//! The local animator on real recorded speech (JFK, 16 kHz, resampled to 48 kHz).

use goassist_engines::face::lam::{LamAnimator, LamConfig};
use goassist_engines::face::lipsync::{best_lag, loudness_at};
use goassist_engines::face::wav::{read_wav, to_48k};
use goassist_engines::face::{Animator, FaceValues};
use goassist_protocol::CurveIndex as C;

fn jfk_48k() -> Vec<f32> {
    let wav = read_wav(&goassist_engines::test_models_dir().join("speech/jfk.wav")).unwrap();
    to_48k(&wav.samples, wav.sample_rate)
}

fn lam(fps: u32) -> LamAnimator {
    let model = goassist_engines::test_models_dir().join("face/headaudio-model-en-mixed.bin");
    LamAnimator::load(
        &model,
        LamConfig {
            fps,
            ..LamConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn frames_cover_the_segment_at_a_steady_rate() {
    let audio = jfk_48k();
    for fps in [30u32, 60] {
        let mut a = lam(fps);
        let start = 96_000;
        let frames = a.animate(&audio, start, &[]).unwrap();
        let step = 48_000 / u64::from(fps);
        assert_eq!(frames.len() as u64, (audio.len() as u64).div_ceil(step));
        assert_eq!(frames[0].0, start);
        assert!(frames.windows(2).all(|w| w[1].0 - w[0].0 == step));
        assert!(frames.last().unwrap().0 < start + audio.len() as u64);
        for (_, v) in &frames {
            assert!(v[..52].iter().all(|w| (0.0..=1.0).contains(w)));
        }
    }
}

#[test]
fn jaw_follows_the_speech_envelope_within_one_frame() {
    let audio = jfk_48k();
    let mut a = lam(30);
    let frames = a.animate(&audio, 0, &[]).unwrap();
    let positions: Vec<u64> = frames.iter().map(|f| f.0).collect();
    let jaw: Vec<f32> = frames.iter().map(|f| f.1[C::JAW_OPEN]).collect();
    let loud = loudness_at(&audio, 0, &positions, 800);
    let (lag, r) = best_lag(&jaw, &loud, 5);
    eprintln!("jaw vs loudness: best lag {lag} frames, r = {r:.3}");
    assert!(r >= 0.6, "correlation {r}");
    assert!(lag.abs() <= 1, "lag {lag}");
    // The jaw really travels: open on syllables, near closed in pauses.
    let max = jaw.iter().cloned().fold(0.0, f32::max);
    assert!(max > 0.35, "max jaw {max}");
    assert!(jaw.iter().filter(|j| **j < 0.05).count() > jaw.len() / 10);
}

#[test]
fn speech_produces_varied_mouth_shapes_and_silence_rests() {
    let audio = jfk_48k();
    let mut a = lam(30);
    let frames = a.animate(&audio, 0, &[]).unwrap();
    let used = |curve: usize| frames.iter().filter(|f| f.1[curve] > 0.1).count();
    let shapes = [
        C::MOUTH_FUNNEL,
        C::MOUTH_PUCKER,
        C::MOUTH_STRETCH_LEFT,
        C::MOUTH_PRESS_LEFT,
        C::MOUTH_LOWER_DOWN_LEFT,
        C::MOUTH_UPPER_UP_LEFT,
        C::MOUTH_ROLL_LOWER,
    ];
    let active = shapes.iter().filter(|s| used(**s) > 3).count();
    assert!(active >= 4, "only {active} mouth shapes used");

    let mut quiet = lam(30);
    let frames = quiet.animate(&vec![0.0; 48_000], 0, &[]).unwrap();
    let f: &FaceValues = &frames.last().unwrap().1;
    assert!(f[..52].iter().all(|w| *w < 1e-3), "silence moved the face");
}

#[test]
fn segments_continue_the_stream_like_the_whole() {
    let audio = jfk_48k();
    let mut whole = lam(30);
    let all = whole.animate(&audio, 0, &[]).unwrap();
    let mut parts = lam(30);
    let mut chunked = Vec::new();
    // TTS-like segments of uneven length, not multiples of the frame interval.
    let mut at = 0;
    for len in [37_000usize, 51_111, 120_000, 9_999].iter().cycle() {
        if at >= audio.len() {
            break;
        }
        let end = (at + len).min(audio.len());
        chunked.extend(parts.animate(&audio[at..end], at as u64, &[]).unwrap());
        at = end;
    }
    assert_eq!(all.len(), chunked.len());
    let mut max_diff: f32 = 0.0;
    for (a, b) in all.iter().zip(&chunked) {
        assert_eq!(a.0, b.0);
        max_diff = max_diff.max((a.1[C::JAW_OPEN] - b.1[C::JAW_OPEN]).abs());
    }
    assert!(max_diff < 0.15, "segmenting changed the jaw by {max_diff}");
}

#[test]
fn hostile_audio_and_reset_never_panic() {
    let mut a = lam(60);
    assert!(a.animate(&[], 0, &[]).unwrap().is_empty());
    let weird: Vec<f32> = (0..4800)
        .map(|i| match i % 4 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => 1e30,
            _ => -1e30,
        })
        .collect();
    let frames = a.animate(&weird, 10, &["☃".into(), "".into()]).unwrap();
    assert_eq!(frames.len(), 6);
    for (_, v) in &frames {
        assert!(v.iter().all(|x| x.is_finite()));
        assert!(v[..52].iter().all(|w| (0.0..=1.0).contains(w)));
    }
    a.reset();
    let frames = a.animate(&vec![0.0; 1600], u64::MAX / 2, &[]).unwrap();
    assert_eq!(frames[0].0, u64::MAX / 2);
}
