//! Profile C from a browser, with the render pod killed mid-answer. Real processes on loopback:
//! the inference server (embedded models, face frames on, fed to the render-bridge), the real
//! render-bridge (Live Link out), the real Pixel Streaming proxy serving the talk page, and a
//! STAND-IN for Unreal (tests/browser/standin_streamer.mjs: a Live Link receiver plus a headless
//! Chromium streamer page sending a real WebRTC video of a face driven by those Live Link
//! frames; Unreal cannot run here). Headless Chromium, its fake microphone playing recorded
//! speech, opens the talk page from the proxy (one origin) and talks to the inference server
//! (another origin: CORS and the WHIP preflight for real).
//!
//! Checked: the conversation happened (the question understood, an answer heard); when the
//! stand-in is SIGKILLed mid-answer the page switches to its own face within a second and says
//! the video is reconnecting; the voice went on while the render pod was away (no loss and no
//! more than 2 packets missing in the browser; the server's speech packets more than 40, 100
//! and 250 ms after the previous one from kill to video back are printed, not judged, since the
//! stand-in restarts on the server's own two cores here; the same pacing with the video
//! alive is printed beside it for comparison); the standby face moved with the voice
//! (jawOpen follows the played loudness); the video came back after the stand-in restarted.
//! Measured and printed: the lip-sync offset of the video against the voice the person hears
//! (the mouth seen in the decoded video vs the face locked to the played audio).
//!
//! Needs Debian's chromium, playwright-core (scripts/setup_browser_tests.sh), the pages
//! (scripts/setup_pixelstream_frontend.sh) and the workspace binaries (`cargo build
//! --workspace`). SCREENSHOT_DIR=dir saves the page with the video and standing by.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use goassist_e2e::{
    PixelStreamProxy, Server, at_lowest_priority, browser_test_dir, delay_ms, free_port, lip_sync,
    models_dir, read_wav, rms, speech_packet_intervals_in, speech_packet_intervals_over, tail,
    workspace_binary, write_wav,
};
use goassist_engines::asr::word_error_rate;
use serde_json::Value;

const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
const STREAMER_ID: &str = "Avatar-1";
/// 20 ms speech packets.
const PACKET_MS: f64 = 20.0;

/// A free UDP port on loopback (for the stand-in's Live Link socket and the bridge's ingest).
fn free_udp_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free UDP port")
}

/// The real render-bridge: face frames in from the inference server, Live Link out to the
/// stand-in's Live Link port. Killed on drop.
struct Bridge(Child);

impl Bridge {
    fn start(ingest: SocketAddr, livelink: SocketAddr) -> Bridge {
        let child = Command::new(workspace_binary("goassist-render-bridge"))
            .env("BRIDGE_INGEST_ADDR", ingest.to_string())
            .env("BRIDGE_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("BRIDGE_LIVELINK_ADDRS", livelink.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start goassist-render-bridge");
        Bridge(child)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The microphone: a second of silence, the JFK question, then silence while the assistant
/// answers (no interruption: the answer must outlive the render pod's outage).
fn microphone_wav() -> PathBuf {
    let (jfk, rate) = read_wav(&models_dir().join("speech/jfk.wav"));
    assert_eq!(rate, 16_000);
    let mut mic = vec![0.0f32; 16_000];
    mic.extend(&jfk);
    mic.extend(vec![0.0f32; 16_000 * 150]);
    let path = std::env::temp_dir().join(format!("goassist-mic-c-{}.wav", std::process::id()));
    write_wav(&path, &mic, 16_000);
    path
}

/// `(ms, value)` pairs of a JSON array of pairs.
fn samples(v: &Value) -> Vec<(f64, f32)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()? as f32)))
                .collect()
        })
        .unwrap_or_default()
}

fn ms(result: &Value, key: &str) -> f64 {
    result[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing from the driver's result"))
}

/// The inbound RTP snapshot of the voice taken closest after `at_ms`.
fn rtp_at(rtp: &[Value], at_ms: f64) -> &Value {
    rtp.iter()
        .find(|s| s["at_ms"].as_f64().unwrap_or(f64::MIN) >= at_ms)
        .or_else(|| rtp.last())
        .expect("RTP statistics were sampled")
}

#[test]
fn the_talk_page_keeps_the_conversation_when_the_render_pod_dies() {
    let browser = browser_test_dir();
    let mic = microphone_wav();

    let ingest = free_udp_addr();
    let livelink = free_udp_addr();
    let _bridge = Bridge::start(ingest, livelink);
    let token_secret = "profile-c-e2e-token-secret-0123";
    let streamer_secret = "profile-c-e2e-streamer-secret-01";
    let proxy = PixelStreamProxy::start(&[
        ("PS_PLAYER_TOKEN_SECRET", token_secret.into()),
        ("PS_STREAMER_SECRET", streamer_secret.into()),
    ]);
    let token = Command::new(workspace_binary("goassist-pixelstream-proxy"))
        .args(["issue-token", STREAMER_ID, "900"])
        .env("PS_PLAYER_TOKEN_SECRET", token_secret)
        .output()
        .expect("issue a player token");
    assert!(token.status.success(), "issue-token failed: {token:?}");
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();

    let mut server = Server::start(&[
        ("RENDER_BRIDGE_ADDR", ingest.to_string()),
        ("ANIMATION_ENABLED", "true".into()),
        ("ANIMATION_ENGINE", "lam".into()),
        // A long answer, so the render pod dies and comes back while it plays.
        ("LLM_SYSTEM_PROMPT", "You are a history teacher speaking to a student. When the student quotes a famous speech, tell the full story of that speech: who gave it, when, where, why, and what it meant, in at least eight long spoken sentences, without lists or markdown.".into()),
        ("LLM_MAX_NEW_TOKENS", "160".into()),
        // JFK pauses ~0.8 s mid-sentence; this test is about the render path, so the turn
        // ends on a fixed silence longer than those pauses.
        ("TURN_DETECTOR", "silence".into()),
        ("VAD_END_OF_TURN_SILENCE_MS", "1200".into()),
    ]);
    server.wait_ready(Duration::from_secs(240));

    // Two origins: the page from the proxy, the voice session on the inference server.
    let page = format!(
        "{}/talk/?token={token}&voice={}&face=2d",
        proxy.url(),
        server.url()
    );
    let signalling = format!(
        "ws://127.0.0.1:{}/?secret={streamer_secret}",
        proxy.streamer_port
    );
    let standin_args =
        serde_json::to_string(&[signalling, STREAMER_ID.into(), livelink.port().to_string()])
            .unwrap();
    let out = std::env::temp_dir().join(format!("goassist-profile-c-{}.json", std::process::id()));
    // The browsers and the stand-in run at the lowest priority, unable to raise it: in a
    // deployment they are other machines, here they share two cores with the server whose audio
    // pacing is measured. Each Chromium still has an equal share against the server unless
    // TEST_BROWSERS_BELOW_SERVER=1 (see `at_lowest_priority`).
    let status = at_lowest_priority("node")
        .current_dir(&browser)
        .args([
            "profile_c_e2e.mjs",
            &page,
            mic.to_str().unwrap(),
            out.to_str().unwrap(),
            "420",
            &standin_args,
        ])
        .status()
        .expect("run node (install nodejs)");
    let result: Value = std::fs::read_to_string(&out)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    assert!(
        status.success() && result["ok"] == true,
        "browser driver failed: {}\nserver log tail:\n{}\nproxy log tail:\n{}",
        result["error"],
        tail(&server.logs(), 40),
        tail(&proxy.logs(), 20)
    );
    let events = result["events"].as_array().cloned().unwrap_or_default();
    let of = |kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["event"]["type"] == kind)
            .collect()
    };
    // Everything is measured and printed first, then judged, so one run shows every figure.

    // The conversation: the question understood, an answer spoken and heard.
    let question = of("user_transcript")
        .into_iter()
        .find(|e| e["event"]["final"] == true)
        .and_then(|e| e["event"]["text"].as_str())
        .unwrap_or_else(|| panic!("no final transcript; events: {events:?}"))
        .to_string();
    let wer = word_error_rate(JFK, &question);
    println!("question heard as {question:?} (WER {:.1} %)", wer * 100.0);
    let answered = !of("assistant_text").is_empty();
    let audio: Vec<f32> = result["audio_16k"]
        .as_array()
        .expect("played audio")
        .iter()
        .map(|v| v.as_f64().unwrap_or(0.0) as f32)
        .collect();
    let audio_start_ms = ms(&result, "audio_started_ms");
    let at =
        |t: f64| (((t - audio_start_ms) / 1000.0 * 16_000.0).max(0.0) as usize).min(audio.len());

    // The kill, the standby, the restart.
    let (answer_ms, kill_ms) = (ms(&result, "answer_ms"), ms(&result, "kill_ms"));
    let (restart_ms, back_ms) = (ms(&result, "restart_ms"), ms(&result, "video_back_ms"));
    let transitions = result["video_transitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let standby_ms = transitions
        .iter()
        .find(|t| t["state"] == "standby" && t["at"].as_f64().unwrap_or(0.0) >= kill_ms)
        .and_then(|t| t["at"].as_f64())
        .expect("the page went to standby");
    println!(
        "video states: {}",
        transitions
            .iter()
            .map(|t| format!(
                "{}@{:.0}ms ({})",
                t["state"],
                t["at"].as_f64().unwrap_or(0.0),
                t["why"]
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "stand-in killed at {kill_ms:.0} ms, page on standby {:.0} ms later; restarted at \
         {restart_ms:.0} ms, video back at {back_ms:.0} ms",
        standby_ms - kill_ms
    );
    let note = result["standby_note"].as_str().unwrap_or("").to_string();
    let level_at_kill = rms(&audio[at(kill_ms - 600.0)..at(kill_ms)]);
    let video_back = transitions
        .iter()
        .any(|t| t["state"] == "live" && t["at"].as_f64().unwrap_or(0.0) > restart_ms);
    println!(
        "video back {:.1} s after the restart ({:.1} s after the stand-in was ready)",
        (back_ms - restart_ms) / 1000.0,
        (back_ms - ms(&result, "standin_ready_ms")) / 1000.0
    );

    // The voice across the outage: the server's pacing of speech packets with the video alive
    // (from the first audible answer to the kill) and while the render pod was away (kill to
    // video back); the browser's receive counts over the outage.
    let pacing = |key: &str| {
        speech_packet_intervals_in(result[key].as_str().unwrap_or(""))
            .unwrap_or_else(|| panic!("{key}: no pacing histogram"))
    };
    let (at_answer, at_kill, at_back) = (
        pacing("pacing_at_answer"),
        pacing("pacing_at_kill"),
        pacing("pacing_at_back"),
    );
    let alive = (at_kill.0 - at_answer.0, at_kill.1 - at_answer.1);
    let outage = (at_back.0 - at_kill.0, at_back.1 - at_kill.1);
    let rtp = result["rtp"].as_array().cloned().unwrap_or_default();
    let (from, to) = (rtp_at(&rtp, kill_ms), rtp_at(&rtp, back_ms));
    let count = |s: &Value, k: &str| s[k].as_f64().unwrap_or(0.0);
    let span_ms = count(to, "at_ms") - count(from, "at_ms");
    let received = count(to, "packetsReceived") - count(from, "packetsReceived");
    let lost = count(to, "packetsLost") - count(from, "packetsLost");
    let concealed = count(to, "concealedSamples") - count(from, "concealedSamples");
    println!(
        "server speech packets over 2 × 20 ms apart: {} of {} with the video alive, {} of {} \
         while the render pod was away; browser over the outage ({span_ms:.0} ms): {received} \
         packets received ({:.0} expected), {lost} lost, {concealed} samples concealed",
        alive.1,
        alive.0,
        outage.1,
        outage.0,
        span_ms / PACKET_MS
    );

    // The standby face against the voice it stood in for.
    let jaw = samples(&result["jaw"]);
    let (face_corr, face_lag) = lip_sync(&audio, audio_start_ms, &jaw, Some((standby_ms, back_ms)));
    let opened = jaw
        .iter()
        .filter(|(t, _)| *t >= standby_ms && *t < back_ms)
        .map(|&(_, v)| v)
        .fold(0.0f32, f32::max);
    println!(
        "standby face: jawOpen up to {opened:.2}, follows the played loudness with correlation \
         {face_corr:.2} at a lag of {face_lag} frames"
    );

    // Lip sync of the video against what the person hears: the mouth in the decoded video
    // frames vs the page's face, which is locked to the played audio.
    let mouth = samples(&result["mouth"]);
    let (video_corr, offset) = delay_ms(&jaw, &mouth, (answer_ms, kill_ms - 200.0), 800.0);
    println!(
        "lip-sync offset (video mouth after the heard voice): {offset:+.0} ms (correlation \
         {video_corr:.2}, {} video frames sampled)",
        mouth.len()
    );
    let end_ms = jaw.last().map_or(back_ms, |&(t, _)| t);
    let mut video_corr_after = None;
    if end_ms > back_ms + 3000.0 {
        let (corr, offset) = delay_ms(&jaw, &mouth, (back_ms + 500.0, end_ms), 800.0);
        println!(
            "lip-sync offset after the video came back: {offset:+.0} ms (correlation {corr:.2})"
        );
        video_corr_after = Some(corr);
    }

    // Judged.
    assert!(wer <= 0.2, "the question was not understood: {question:?}");
    assert!(answered, "no answer; events: {events:?}");
    assert_eq!(
        result["video_before_kill"], "live",
        "the video played before the kill"
    );
    assert!(
        level_at_kill > 0.01,
        "the stand-in was not killed mid-answer (level {level_at_kill:.4} before the kill)"
    );
    assert!(
        standby_ms - kill_ms <= 1000.0,
        "the page took {:.0} ms to stand by",
        standby_ms - kill_ms
    );
    assert!(
        note.contains("reconnecting") && result["standby_visible"] == true,
        "the page did not say the video is reconnecting: {note:?}"
    );
    assert!(
        outage.0 > 50,
        "the outage's speech packets were timed ({outage:?})"
    );
    // The server's pacing through the outage is printed, not judged: it is a timing figure
    // (scripts/bench_profile_c.sh collects it), and the stand-in restarts on the server's own two
    // cores, where in a deployment it is another machine. The starting Chromium has an equal
    // share of the CPU against the whole server (its own scheduling group, see
    // `at_lowest_priority`), and in about half the runs the server then holds a speech packet
    // 100 ms or more; with TEST_BROWSERS_BELOW_SERVER=1 none was held over 40 ms. What this test
    // judges is what the person hears: every packet arrived, none lost (below).
    let outage_over = |le: &str| {
        let over = |key: &str| {
            speech_packet_intervals_over(result[key].as_str().unwrap_or(""), le)
                .unwrap_or_else(|| panic!("{key}: no pacing histogram"))
                .1
        };
        over("pacing_at_back") - over("pacing_at_kill")
    };
    println!(
        "server speech packets during the outage more than 100 ms after the one before: {}, \
         more than 250 ms: {}",
        outage_over("0.1"),
        outage_over("0.25")
    );
    assert!(span_ms > 3000.0, "too short an outage ({span_ms} ms)");
    assert_eq!(lost, 0.0, "voice packets were lost during the outage");
    assert!(
        received >= span_ms / PACKET_MS - 2.0,
        "the browser received {received} voice packets in {span_ms:.0} ms: more than 2 missing"
    );
    assert!(opened > 0.2, "the standby face did not open its mouth");
    // Within 3 frames: precise lip sync is tests/voice_browser.rs's; here two browsers, video
    // and the whole assistant share the machine.
    assert!(
        face_corr >= 0.5 && face_lag.abs() <= 3,
        "the standby face does not follow the voice: correlation {face_corr:.2} at lag {face_lag}"
    );
    assert!(video_back, "the video did not come back");
    // Judged on the better of the two windows: the one before the kill is only the few seconds
    // from the answer's start to the kill, on two cores shared with two browsers (seen: 0.34 at
    // +120 ms, and 0.96 after the video came back, in one run); a broken Live Link path
    // correlates in neither.
    let best = video_corr.max(video_corr_after.unwrap_or(f32::MIN));
    assert!(
        best >= 0.5,
        "the video's mouth does not follow the session's face (correlation {video_corr:.2} \
         before the kill, {video_corr_after:?} after): the Live Link path to the stand-in is broken"
    );
    let logs = server.logs();
    assert!(
        !logs.contains("panicked"),
        "the server panicked:\n{}",
        tail(&logs, 40)
    );
}
