//! The voice loop end to end with a WebRTC client nobody here wrote: headless Chromium, its fake
//! microphone playing real recorded speech, opens the server's voice page and talks.
//!
//! Checked: the final user transcript matches the recording (WER ≤ 10 %); the assistant audio
//! the browser received is real speech that says what the data channel reported; a second
//! utterance spoken while the assistant talks interrupts it (`interrupted`, audio stops).
//!
//! Needs Debian's chromium (scripts/setup.sh) and playwright-core (scripts/setup_browser_tests.sh).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use goassist_e2e::{Server, models_dir, read_wav, rms, tail, workspace_root, write_wav};
use goassist_engines::asr::{Asr, MoonshineAsr, word_error_rate};
use serde_json::Value;

const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
/// Seconds between the end of the question and the interrupting utterance: the answer (asked
/// to be long) has started by then on this machine and is still playing.
const BARGE_IN_AFTER_S: f32 = 9.0;

fn browser_dir() -> PathBuf {
    let dir = workspace_root().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing in {}: run scripts/setup_browser_tests.sh",
        dir.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} not found: run scripts/setup.sh (apt chromium)"
    );
    dir
}

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
#[ignore = "new: passed its steps by hand (see the issue note) but has not had a green run under CI timing yet; run with `cargo test -p goassist-e2e -- --ignored`"]
fn chromium_talks_to_the_assistant_and_interrupts_it() {
    let browser = browser_dir();
    let mic = microphone_wav();
    let mut server = Server::start(&[
        ("LLM_SYSTEM_PROMPT", "You are a thoughtful voice assistant. Answer every message in five or six full spoken sentences, without lists or markdown.".into()),
        ("LLM_MAX_NEW_TOKENS", "220".into()),
        // JFK pauses ~0.8 s mid-sentence; wait longer before ending the turn.
        ("VAD_END_OF_TURN_SILENCE_MS", "1200".into()),
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
    let echo_wer = word_error_rate(&heard, &transcript);
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
}
