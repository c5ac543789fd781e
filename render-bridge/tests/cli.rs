//! The binary's command line: configuration checking with clear errors, replay and record.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Every interface without an allow-list stops start-up (exit 78, before binding) with a
/// message naming the way out; an allow-list or the explicit, warned opt-out starts.
#[test]
fn an_open_ingest_address_needs_an_allow_list() {
    let refused = bridge()
        .env("BRIDGE_INGEST_ADDR", "0.0.0.0:0")
        .env("BRIDGE_HTTP_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(78), "EX_CONFIG");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(
            "config error: BRIDGE_INGEST_ADDR=0.0.0.0:0 is neither a loopback nor a private address"
        ),
        "{err}"
    );
    assert!(
        err.contains("BRIDGE_ALLOWED_SENDERS") && err.contains("BRIDGE_ALLOW_ANY_SENDER=true"),
        "{err}"
    );

    let listed = bridge()
        .arg("--check-config")
        .env("BRIDGE_INGEST_ADDR", "0.0.0.0:11112")
        .env("BRIDGE_ALLOWED_SENDERS", "10.244.0.0/16")
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("10.244.0.0/16"));

    let any = bridge()
        .arg("--check-config")
        .env("BRIDGE_INGEST_ADDR", "0.0.0.0:11112")
        .env("BRIDGE_ALLOW_ANY_SENDER", "true")
        .output()
        .unwrap();
    assert!(any.status.success(), "{any:?}");
    let err = String::from_utf8_lossy(&any.stderr);
    assert!(
        err.contains("config warning: BRIDGE_ALLOW_ANY_SENDER=true"),
        "the opt-out is warned about: {err}"
    );
}

const KEY_HEX: &str = "a3f1c2d4e5b6978800112233445566778899aabbccddeeff0123456789abcdef";

/// The keys never reach --check-config or an error message; a short key stops start-up with a
/// message naming the variable; a key lets an open address start without an allow-list.
#[test]
fn the_key_is_never_printed_and_a_short_one_stops_start_up() {
    let previous = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let ok = bridge()
        .arg("--check-config")
        .env("BRIDGE_INGEST_ADDR", "0.0.0.0:11112")
        .env("BRIDGE_KEY", KEY_HEX)
        .env("BRIDGE_KEY_PREVIOUS", previous)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr),
    );
    assert!(ok.status.success(), "{stderr}");
    assert!(stdout.contains("BRIDGE_KEY=<redacted>"), "{stdout}");
    assert!(
        stdout.contains("BRIDGE_KEY_PREVIOUS=<redacted>"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("config warning"),
        "a keyed open bind is not warned: {stderr}"
    );
    for short in ["0123456789abcdef0123456789abcdef", "c2hvcnQ="] {
        let bad = bridge()
            .env("BRIDGE_HTTP_ADDR", "127.0.0.1:0")
            .env("BRIDGE_KEY", short)
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(78), "EX_CONFIG, before binding");
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(
            err.contains("BRIDGE_KEY=<redacted> is invalid (valid: 64 or more hex digits"),
            "{err}"
        );
        for output in [&stdout, &stderr, &err] {
            for secret in [KEY_HEX, previous, short] {
                assert!(!output.contains(secret), "{secret} leaked:\n{output}");
            }
        }
    }
}

/// `replay --sealed` and `record --sealed` use BRIDGE_KEY from the environment: a sealed
/// recorder ignores an unsealed replay and records the sealed one.
#[test]
fn sealed_replay_and_record_round_trip() {
    let dir = std::env::temp_dir().join(format!("goassist-record-sealed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rec.jsonl");
    let mut recorder = bridge()
        .env("BRIDGE_KEY", KEY_HEX)
        .args([
            "record",
            "--sealed",
            "--listen",
            "127.0.0.1:0",
            "--seconds",
            "20",
        ])
        .args(["--frames", "6", "--out", file.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(recorder.stderr.take().unwrap()).lines();
    let listening = stderr.next().expect("where it listens").unwrap();
    let addr = listening.strip_prefix("listening on ").unwrap().to_string();
    // Unsealed (epoch 7): not recorded.
    let plain = bridge()
        .args([
            "replay",
            "--synthetic",
            "--seconds",
            "0.1",
            "--epoch",
            "7",
            "--to",
            &addr,
        ])
        .output()
        .unwrap();
    assert!(plain.status.success());
    // Sealed (epoch 1): recorded; the recorder stops at its 6th frame.
    let sealed = bridge()
        .env("BRIDGE_KEY", KEY_HEX)
        .args([
            "replay",
            "--sealed",
            "--synthetic",
            "--seconds",
            "0.1",
            "--to",
            &addr,
        ])
        .output()
        .unwrap();
    assert!(sealed.status.success(), "{sealed:?}");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = recorder.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the recorder did not stop after 6 sealed frames"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    let frames = goassist_render_bridge::replay::parse_recording(text.as_bytes()).unwrap();
    assert_eq!(frames.len(), 6);
    assert!(
        frames.iter().all(|f| f.frame.epoch == 1),
        "only the sealed run was recorded"
    );
    // --sealed without a key is a configuration error.
    let missing = bridge()
        .args([
            "replay",
            "--sealed",
            "--synthetic",
            "--seconds",
            "0",
            "--to",
            &addr,
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("BRIDGE_KEY"));
    let _ = std::fs::remove_dir_all(&dir);
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

/// Event-driven: the recorder says where it listens once bound, stops after the 12 frames it
/// expects, and every wait is bounded.
#[test]
fn record_then_replay_round_trips() {
    let dir = std::env::temp_dir().join(format!("goassist-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rec.jsonl");
    let mut recorder = bridge()
        .args(["record", "--listen", "127.0.0.1:0", "--seconds", "20"])
        .args(["--frames", "12", "--out", file.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(recorder.stderr.take().unwrap()).lines();
    let listening = stderr
        .next()
        .expect("the recorder says where it listens")
        .unwrap();
    let addr = listening
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {listening:?}"))
        .to_string();
    let sent = bridge()
        .args(["replay", "--synthetic", "--seconds", "0.2", "--to", &addr])
        .output()
        .unwrap();
    assert!(sent.status.success());
    // The recorder exits on its 12th frame, well before its 20 s limit.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = recorder.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the recorder did not stop after 12 frames"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    let rest: Vec<String> = stderr.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "recorded 12 frames"), "{rest:?}");
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

/// The running binary: a new avatar beyond BRIDGE_MAX_AVATARS is refused with one warning per
/// sender, however many frames it sends, while the admitted avatar keeps flowing.
#[test]
fn refused_avatars_are_logged_once_per_sender() {
    let livelink = UdpSocket::bind("127.0.0.1:0").unwrap();
    livelink
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut child = bridge()
        .env("RUST_LOG", "warn,goassist_render_bridge=info")
        .env("BRIDGE_INGEST_ADDR", "127.0.0.1:0")
        .env("BRIDGE_HTTP_ADDR", "127.0.0.1:0")
        .env(
            "BRIDGE_LIVELINK_ADDRS",
            livelink.local_addr().unwrap().to_string(),
        )
        .env("BRIDGE_SUBJECT_PATTERN", "S{session}")
        .env("BRIDGE_MAX_AVATARS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    // Event-driven: the start line names the bound addresses.
    let started: serde_json::Value = logs
        .by_ref()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .find(|v| v["fields"]["message"] == "render-bridge running")
        .expect("the bridge logs its start");
    let ingest: std::net::SocketAddr = started["fields"]["ingest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let http: std::net::SocketAddr = started["fields"]["http"].as_str().unwrap().parse().unwrap();
    let send = |from: &UdpSocket, session: u64, seq: u32| {
        let f = goassist_protocol::FaceFrame::neutral(session, 1, seq, u64::from(seq) * 800);
        let bytes = goassist_protocol::bridge_stream::encode(0, &f, None).unwrap();
        from.send_to(&bytes, ingest).unwrap();
    };
    let pod_a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pod_b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pod_c = UdpSocket::bind("127.0.0.1:0").unwrap();
    send(&pod_a, 0xA, 0);
    let mut buf = [0u8; 1024];
    livelink
        .recv(&mut buf)
        .expect("the first avatar is admitted");
    for seq in 0..5 {
        send(&pod_b, 0xB, seq);
        send(&pod_c, 0xC, seq);
    }
    send(&pod_a, 0xA, 1);
    let n = livelink
        .recv(&mut buf)
        .expect("the admitted avatar keeps flowing");
    let p = goassist_protocol::livelink::LiveLinkPacket::decode(&buf[..n]).unwrap();
    assert_eq!(p.subject, "Sa");
    // The refusals are counted before the admitted frame's packet goes out; read them back.
    let metrics = http_get(http, "/metrics");
    assert!(
        metrics.contains("goassist_bridge_frames_dropped_total{reason=\"subject_limit\"} 10"),
        "{metrics}"
    );
    // SIGTERM: the bridge stops, writing out its last log lines, and the pipe closes.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(
        child.wait().unwrap().success(),
        "SIGTERM stops the bridge cleanly"
    );
    let refusals: Vec<serde_json::Value> = logs
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("new avatar refused"))
        })
        .collect();
    let mut senders: Vec<&str> = refusals
        .iter()
        .map(|v| v["fields"]["sender"].as_str().unwrap())
        .collect();
    senders.sort();
    let mut expected = vec![
        pod_b.local_addr().unwrap().to_string(),
        pod_c.local_addr().unwrap().to_string(),
    ];
    expected.sort();
    assert_eq!(
        senders, expected,
        "one warning per refused sender: {refusals:?}"
    );
    assert_eq!(refusals[0]["level"], "WARN");
    assert_eq!(refusals[0]["fields"]["reason"], "subject_limit");
}

/// GET over a plain TCP connection; the body.
fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
