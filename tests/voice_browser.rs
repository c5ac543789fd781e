//! The voice loop end to end with a WebRTC client nobody here wrote: headless Chromium, its fake
//! microphone playing real recorded speech, opens the server's voice page and talks.
//!
//! Checked: the final user transcript matches the recording (WER ≤ 10 %); the assistant audio
//! the browser received is real speech that says what the data channel reported; a second
//! utterance spoken while the assistant talks interrupts it (`interrupted`, audio stops); the
//! face the page renders opens its jaw with the loudness of the audio it plays (correlation
//! ≥ 0.5 at the best lag, and that lag within ±1 frame) and closes it once the answer is over.
//!
//! Needs Debian's chromium (scripts/setup.sh) and playwright-core (scripts/setup_browser_tests.sh).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use goassist_e2e::{
    Server, browser_test_dir, lip_sync, models_dir, read_wav, rms, tail, write_wav,
};
use goassist_engines::asr::{Asr, MoonshineAsr, word_error_rate};
use serde_json::Value;

const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
/// Seconds between the end of the question and the interrupting utterance: the answer (asked
/// to be long, about a minute of speech) has started by then even on a busy 2-core machine
/// (time to first audio there: 2–10 s) and is still playing.
const BARGE_IN_AFTER_S: f32 = 20.0;

/// The microphone: silence, the JFK question, a pause while the assistant answers, then a
/// LibriVox sentence that interrupts it, then silence.
fn microphone_wav() -> PathBuf {
    let models = models_dir();
    let (jfk, jfk_rate) = read_wav(&models.join("speech/jfk.wav"));
    let (barge, barge_rate) =
        read_wav(&models.join("speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"));
    assert_eq!((jfk_rate, barge_rate), (16_000, 16_000));
    let silence = |s: f32| vec![0.0f32; (s * 16_000.0) as usize];
    let mut mic = silence(1.0);
    mic.extend(&jfk);
    mic.extend(silence(BARGE_IN_AFTER_S));
    mic.extend(&barge);
    mic.extend(silence(20.0));
    let path = std::env::temp_dir().join(format!("goassist-mic-{}.wav", std::process::id()));
    write_wav(&path, &mic, 16_000);
    path
}

fn events_of<'a>(seen: &'a [Value], kind: &str) -> Vec<&'a Value> {
    seen.iter().filter(|e| e["event"]["type"] == kind).collect()
}

#[test]
fn chromium_talks_to_the_assistant_and_interrupts_it() {
    let browser = browser_test_dir();
    let mic = microphone_wav();
    let mut server = Server::start(&[
        // A long answer whatever the model makes of the quote, so the barge-in lands mid-answer.
        ("LLM_SYSTEM_PROMPT", "You are a history teacher speaking to a student. When the student quotes a famous speech, tell the full story of that speech: who gave it, when, where, why, and what it meant, in at least eight long spoken sentences, without lists or markdown.".into()),
        ("LLM_MAX_NEW_TOKENS", "220".into()),
        // JFK pauses ~0.8 s mid-sentence: the default turn detector (Smart Turn with the
        // LLM's end-of-turn probability) keeps the sentence one turn (docs/turn-taking.md).
        ("ANIMATION_ENABLED", "true".into()),
        ("ANIMATION_ENGINE", "lam".into()),
    ]);
    server.wait_ready(Duration::from_secs(240));

    let out = std::env::temp_dir().join(format!("goassist-voice-e2e-{}.json", std::process::id()));
    let status = Command::new("node")
        .current_dir(&browser)
        .args([
            "voice_e2e.mjs",
            &format!("{}/", server.url()),
            mic.to_str().unwrap(),
            out.to_str().unwrap(),
            "150",
        ])
        .status()
        .expect("run node (install nodejs)");
    assert!(
        status.success(),
        "browser driver failed; server log tail:\n{}",
        tail(&server.logs(), 60)
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("driver output")).expect("JSON");
    let seen = result["events"].as_array().expect("events").clone();
    let logs = server.logs();
    let context = || {
        format!(
            "events: {}\nserver log tail:\n{}",
            serde_json::to_string(&seen).unwrap_or_default(),
            tail(&logs, 40)
        )
    };

    // 1. What the user said was understood.
    let finals: Vec<String> = events_of(&seen, "user_transcript")
        .into_iter()
        .filter(|e| e["event"]["final"] == true)
        .map(|e| e["event"]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(!finals.is_empty(), "no final transcript; {}", context());
    let wer = word_error_rate(JFK, &finals[0]);
    println!(
        "user transcript: {:?} (WER {:.1} %)",
        finals[0],
        wer * 100.0
    );
    assert!(
        wer <= 0.10,
        "WER {wer:.3} for {:?}; {}",
        finals[0],
        context()
    );

    // 2. The assistant was interrupted by the second utterance.
    let interrupted = events_of(&seen, "interrupted");
    assert!(!interrupted.is_empty(), "no interruption; {}", context());
    let cut = interrupted[0];
    let cut_epoch = cut["event"]["epoch"].as_u64().unwrap();
    let heard = cut["event"]["heard_text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let cut_ms = cut["at_ms"].as_f64().unwrap();
    assert!(
        !heard.is_empty(),
        "the interruption came before any audio; {}",
        context()
    );
    println!("assistant was cut after: {heard:?}");
    let texts: Vec<&Value> = events_of(&seen, "assistant_text")
        .into_iter()
        .filter(|e| e["event"]["epoch"].as_u64() == Some(cut_epoch))
        .collect();
    assert!(
        !texts.is_empty(),
        "no assistant_text before the cut; {}",
        context()
    );
    assert!(
        result["completed"] == true,
        "the interruption was never answered; {}",
        context()
    );

    // 3. The audio the browser received is real speech saying the reported text.
    let audio: Vec<f32> = result["audio_16k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap_or(0.0) as f32)
        .collect();
    let audio_start_ms = result["audio_started_ms"]
        .as_f64()
        .expect("audio was recorded");
    let index =
        |ms: f64| (((ms - audio_start_ms) / 1000.0 * 16_000.0).max(0.0) as usize).min(audio.len());
    let first_text_ms = texts[0]["at_ms"].as_f64().unwrap();
    let spoken = &audio[index(first_text_ms - 500.0)..index(cut_ms + 300.0)];
    let mut asr = MoonshineAsr::load(&models_dir(), 2).expect("load ASR");
    let mut transcript = String::new();
    for chunk in spoken.chunks(16_000 * 20) {
        transcript.push_str(&asr.transcribe(chunk).expect("transcribe"));
        transcript.push(' ');
    }
    // The data channel carries the LLM's digits ("1949"), the ASR spells them out ("nineteen
    // hundred forty nine"): compare the words that are not numbers.
    let echo_wer = word_error_rate(&without_numbers(&heard), &without_numbers(&transcript));
    println!(
        "received assistant audio transcribes as {transcript:?} (WER vs reported {:.1} %)",
        echo_wer * 100.0
    );
    assert!(rms(spoken) > 0.01, "the received assistant audio is silent");
    assert!(
        echo_wer <= 0.35,
        "received audio says {transcript:?}, the data channel said {heard:?}"
    );

    // 4. After the cut the assistant is silent until it answers the interruption.
    let next_text_ms = events_of(&seen, "assistant_text")
        .into_iter()
        .filter(|e| e["event"]["epoch"].as_u64() > Some(cut_epoch))
        .map(|e| e["at_ms"].as_f64().unwrap())
        .next()
        .unwrap_or(f64::MAX);
    let quiet_end = (cut_ms + 1500.0).min(next_text_ms - 300.0);
    let after = &audio[index(cut_ms + 300.0)..index(quiet_end)];
    println!(
        "level before the cut {:.4}, after {:.4}",
        rms(spoken),
        rms(after)
    );
    assert!(
        after.len() > 4_000,
        "no audio window after the cut to check"
    );
    assert!(
        rms(after) < rms(spoken) * 0.1,
        "assistant audio went on after the interruption"
    );

    // 5. Lip sync in the page: the rendered jawOpen follows the received audio's loudness.
    let jaw: Vec<(f64, f32)> = result["jaw"]
        .as_array()
        .expect("jaw samples")
        .iter()
        .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()? as f32)))
        .collect();
    let (correlation, lag) = lip_sync(&audio, audio_start_ms, &jaw, None);
    println!(
        "rendered jawOpen vs received loudness: correlation {correlation:.2} at a lag of {lag} frames"
    );
    assert!(
        correlation >= 0.5 && lag.abs() <= 1,
        "jawOpen does not follow the audio: correlation {correlation:.2} at lag {lag} frames"
    );

    // 6. After the last answer the face comes to rest: from 0.5 s after the last audible audio
    // to the end of the recording (the driver keeps sampling 1.5 s after the answer is done),
    // the mouth stays closed.
    let frame_samples = 320; // 20 ms at 16 kHz
    let last_loud = audio
        .chunks(frame_samples)
        .rposition(|c| rms(c) > 0.01)
        .expect("the assistant spoke");
    let last_loud_ms = audio_start_ms + (last_loud + 1) as f64 * 20.0;
    let resting: Vec<f32> = jaw
        .iter()
        .filter(|&&(t, _)| t > last_loud_ms + 500.0)
        .map(|&(_, v)| v)
        .collect();
    let most_open = resting.iter().copied().fold(0.0f32, f32::max);
    println!(
        "after the last answer: jawOpen at most {most_open:.3} over {} samples",
        resting.len()
    );
    assert!(
        resting.len() >= 50,
        "too little face sampled after the answer"
    );
    assert!(
        most_open <= 0.05,
        "the face did not come to rest after the answer: jawOpen up to {most_open:.3}"
    );
}

/// The text without numbers, written in digits or spelled out.
fn without_numbers(text: &str) -> String {
    const NUMBER_WORDS: &str = "zero one two three four five six seven eight nine ten eleven \
        twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty \
        fifty sixty seventy eighty ninety hundred thousand million";
    text.split_whitespace()
        .filter(|word| {
            let bare: String = word
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_lowercase();
            !bare.chars().any(|c| c.is_ascii_digit())
                && !bare
                    .split('-')
                    .any(|part| NUMBER_WORDS.split_whitespace().any(|n| n == part))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
