//! The real binary: configuration errors stop it before any socket opens, `--check-config`
//! redacts secrets, SIGTERM drains and exits 0 with its last log lines written.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_goassist-inference");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn model_files() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("goassist-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.gguf"), b"GGUF").unwrap();
    dir
}

fn base_command(port: u16) -> Command {
    let dir = model_files();
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("API_HOST", "127.0.0.1")
        .env("API_PORT", port.to_string())
        .env("METRICS_PORT", "0")
        .env("MAX_CONCURRENT_SESSIONS", "2")
        .env("LLM_MODEL_PATH", dir.join("m.gguf"))
        .env("ASR_MODEL_PATH", &dir)
        .env("TTS_ENGINE", "piper")
        .env("TTS_MODEL_PATH", &dir)
        // Nothing loads in this test: the paths are placeholders and the models never warm.
        .env("GOASSIST_SKIP_MODEL_LOADING", "1");
    cmd
}

#[test]
fn broken_environment_exits_before_binding_with_one_line_per_problem() {
    let port = free_port();
    let out = base_command(port)
        .env_remove("MAX_CONCURRENT_SESSIONS")
        .env("LLM_MODEL_PATH", "/nonexistent.gguf")
        .env_remove("TTS_ENGINE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("config error"))
        .collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(stderr.contains("MAX_CONCURRENT_SESSIONS is required"));
    assert!(stderr.contains("LLM model not found"));
    assert!(stderr.contains("TTS engine not specified"));
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "nothing was bound"
    );
}

#[test]
fn check_config_prints_the_effective_configuration_without_secrets() {
    let out = base_command(free_port())
        .arg("--check-config")
        .env("ADMIN_TOKEN", "super-secret-admin-token-1234")
        .env("API_PORT", "80")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("API_PORT=8081"), "{stdout}");
    assert!(stdout.contains("ADMIN_TOKEN=<redacted>"));
    assert!(stdout.contains("MAX_CONCURRENT_SESSIONS=2"));
    assert!(!stdout.contains("super-secret") && !stderr.contains("super-secret"));
    assert!(
        stderr.contains(
            "config warning: API_PORT='80' is invalid (valid: 1024–65535); using default 8081"
        ),
        "{stderr}"
    );
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let port = free_port();
    let log_dir = model_files().join("logs");
    let mut child = base_command(port)
        .env("ADMIN_TOKEN", "lifecycle-token-0123456789")
        .env("LOG_DIR", &log_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "drain with no sessions exits 0");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    let line = logs
        .lines()
        .find(|l| l.contains("draining before exit"))
        .unwrap_or_else(|| panic!("no drain log in {logs}"));
    let parsed: serde_json::Value = serde_json::from_str(line).expect("log lines are JSON");
    assert_eq!(parsed["level"], "WARN");
    assert!(!logs.contains("lifecycle-token"), "secret in logs");
    // LOG_DIR holds the same lines, the last ones included (written out before the exit), in
    // today's file behind the stable name.
    let file = std::fs::read_to_string(log_dir.join("goassist-inference.log"))
        .expect("LOG_DIR/goassist-inference.log");
    assert_eq!(file, logs, "the log file differs from stdout");
    let dated = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("goassist-inference.2") && name.ends_with(".log"))
        .count();
    assert_eq!(dated, 1, "one dated file in {}", log_dir.display());
}

/// `GET path` on the API port, the whole response as text.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn without_a_gpu_the_server_starts_says_no_gpu_once_and_exports_no_vram() {
    if std::path::Path::new("/proc/driver/nvidia/version").exists() {
        eprintln!("SKIPPED: this host has an NVIDIA driver; the no-GPU start is not checked here");
        return;
    }
    let port = free_port();
    let mut child = base_command(port)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The real CUDA loader runs at start; wait (bounded) for its one log line.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut logs = Vec::new();
    while !logs.iter().any(|l: &String| l.contains("no GPU")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => logs.push(line),
            Err(_) => panic!("no 'no GPU' line within 20 s: {logs:#?}"),
        }
    }
    let line = logs.iter().find(|l| l.contains("no GPU")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(line).expect("log lines are JSON");
    assert_eq!(parsed["level"], "INFO");
    assert!(
        parsed["fields"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no NVIDIA driver")),
        "{line}"
    );
    let metrics = http_get(port, "/metrics");
    assert!(metrics.contains("goassist_sessions_active"), "{metrics}");
    assert!(
        !metrics.contains("goassist_vram"),
        "VRAM exported without a GPU"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    logs.extend(rx.try_iter());
    let said = logs.iter().filter(|l| l.contains("no GPU")).count();
    assert_eq!(said, 1, "'no GPU' is logged once: {logs:#?}");
}
