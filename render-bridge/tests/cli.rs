//! The binary's command line: configuration checking with clear errors, replay and record.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use goassist_protocol::bridge_stream::BridgeDatagram;

fn bridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_goassist-render-bridge"));
    c.env("RUST_LOG", "error");
    c
}

#[test]
fn check_config_accepts_defaults_and_names_bad_variables() {
    let ok = bridge().arg("--check-config").output().unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("11112"));

    let bad = bridge()
        .arg("--check-config")
        .env("ANIMATION_SLOW_FREEZE_MS", "forever")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(78), "EX_CONFIG");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("ANIMATION_SLOW_FREEZE_MS='forever' is invalid (valid: 0–10000)"),
        "{err}"
    );

    // The server refuses to start on bad configuration, before binding anything.
    let bad = bridge()
        .env("BRIDGE_LIVELINK_ADDRS", "unreal:11111")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("BRIDGE_LIVELINK_ADDRS"));
}

#[test]
fn usage_errors_exit_64_and_help_lists_every_variable() {
    let out = bridge().arg("replay").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to"));
    let out = bridge().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let help = bridge().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for var in goassist_render_bridge::config::table().vars() {
        assert!(
            text.contains(var.name()),
            "{} missing from --help",
            var.name()
        );
    }
}

#[test]
fn replay_sends_paced_synthetic_frames_with_audio() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let out = bridge()
        .args([
            "replay",
            "--synthetic",
            "--avatars",
            "2",
            "--seconds",
            "0.25",
            "--audio",
        ])
        .args(["--to", &rx.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sent"], 30, "2 avatars x 15 frames");
    let mut buf = [0u8; 4096];
    let mut avatars = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let n = rx.recv(&mut buf).unwrap();
        let d = BridgeDatagram::decode(&buf[..n]).unwrap();
        assert_eq!(d.audio.as_ref().map(Vec::len), Some(800));
        avatars.insert(d.avatar_id);
    }
    assert_eq!(avatars.into_iter().collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn record_then_replay_round_trips() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("goassist-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rec.jsonl");
    // Up to 60 s, but done as soon as the 12 frames are in: the test waits for events, not
    // for time to pass.
    let mut recorder = bridge()
        .args(["record", "--listen", &port.to_string(), "--seconds", "60"])
        .args(["--frames", "12", "--out", file.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(recorder.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.starts_with("recording on"), "{line}");
    let sent = bridge()
        .args([
            "replay",
            "--synthetic",
            "--seconds",
            "0.2",
            "--to",
            &port.to_string(),
        ])
        .output()
        .unwrap();
    assert!(sent.status.success());
    assert!(recorder.wait().unwrap().success());
    let text = std::fs::read_to_string(&file).unwrap();
    let frames = goassist_render_bridge::replay::parse_recording(text.as_bytes()).unwrap();
    assert_eq!(frames.len(), 12, "0.2 s at 60 fps");
    let sent = goassist_render_bridge::replay::synthetic_frame(0, 0x6A00, 1, 5, 60);
    assert_eq!(
        frames[5].frame,
        goassist_protocol::FaceFrame::decode(&sent.encode()).unwrap(),
        "what was recorded is what was sent (after 16-bit quantization)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
