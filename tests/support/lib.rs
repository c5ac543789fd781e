//! Helpers for the cross-process tests: find the built binaries and the models, start the
//! inference server on free ports and wait for it, read and write WAV files.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The model tree (`MODELS_DIR`, else `models/`); fails with a pointer to the download script.
pub fn models_dir() -> PathBuf {
    goassist_engines::test_models_dir()
}

/// A binary of the workspace built next to this test (`target/<profile>/<name>`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(name);
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

/// A TCP port free on loopback right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `goassist-inference`, killed on drop; its logs go to a file.
pub struct Server {
    child: Child,
    /// The API port.
    pub port: u16,
    /// Where its stdout/stderr went.
    pub log_path: PathBuf,
}

impl Server {
    /// Starts the server on the embedded models with `extra` environment on top of the defaults.
    pub fn start(extra: &[(&str, String)]) -> Server {
        let models = models_dir();
        let port = free_port();
        let udp_base = 20_000 + (port % 20_000);
        let log_path = std::env::temp_dir().join(format!("goassist-e2e-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(workspace_binary("goassist-inference"));
        cmd.env("MODELS_DIR", &models)
            .env("API_HOST", "127.0.0.1")
            .env("API_PORT", port.to_string())
            .env("METRICS_PORT", "0")
            .env("MAX_CONCURRENT_SESSIONS", "4")
            .env(
                "LLM_MODEL_PATH",
                models.join("llm/qwen2.5-0.5b-instruct-q8.gguf"),
            )
            .env("ASR_MODEL_PATH", models.join("asr/moonshine-base-en"))
            .env("TTS_ENGINE", "piper")
            .env(
                "TTS_MODEL_PATH",
                models.join("tts/piper/en_US-joe-medium.onnx"),
            )
            .env("WEBRTC_UDP_PORT_MIN", udp_base.to_string())
            .env("WEBRTC_UDP_PORT_MAX", (udp_base + 20).to_string())
            .env("ANIMATION_ENABLED", "false")
            .env("LOG_LEVEL", "DEBUG");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start goassist-inference");
        Server {
            child,
            port,
            log_path,
        }
    }

    /// Base URL of the API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("server status") {
                panic!("server exited with {status}; log:\n{}", self.logs());
            }
            if http_get(self.port, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready after {timeout:?}; log tail:\n{}",
                tail(&self.logs(), 40)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A minimal HTTP/1.1 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Reads a mono WAV as f32 samples and its sample rate.
pub fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1u32 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.unwrap_or(0) as f32 / scale)
                .collect()
        }
        hound::SampleFormat::Float => reader.samples::<f32>().map(|s| s.unwrap_or(0.0)).collect(),
    };
    let channels = usize::from(spec.channels);
    let mono = samples
        .chunks(channels)
        .map(|c| c.iter().sum::<f32>() / channels as f32)
        .collect();
    (mono, spec.sample_rate)
}

/// Writes 16-bit mono PCM.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("create wav");
    for s in samples {
        writer
            .write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .expect("write wav");
    }
    writer.finalize().expect("finalize wav");
}

/// Root-mean-square level.
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

/// How well jawOpen follows loudness, both per face frame (`None`: no jaw sample there): the
/// Pearson correlation over the frames `over`, at the best lag in `-max_lag..=max_lag` frames
/// (positive: the jaw moves after the audio). Returns (correlation, lag).
pub fn best_lag(
    loudness: &[f32],
    jaw: &[Option<f32>],
    over: std::ops::Range<usize>,
    max_lag: i32,
) -> (f32, i32) {
    let mut best = (f32::MIN, 0);
    for lag in -max_lag..=max_lag {
        let pairs: Vec<(f32, f32)> = over
            .clone()
            .filter_map(|k| {
                let j = usize::try_from(k as i64 + i64::from(lag)).ok()?;
                Some((*loudness.get(k)?, (*jaw.get(j)?)?))
            })
            .collect();
        let r = pearson(&pairs);
        if r > best.0 {
            best = (r, lag);
        }
    }
    best
}

/// Pearson correlation; 0 for fewer than 10 pairs or a constant side.
pub fn pearson(pairs: &[(f32, f32)]) -> f32 {
    let n = pairs.len() as f32;
    if n < 10.0 {
        return 0.0;
    }
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// The first assistant packet with speech in it that arrived after `after`.
pub fn first_voiced_after(
    r: &goassist_client::Recording,
    after: std::time::Instant,
) -> Option<std::time::Instant> {
    r.audio
        .iter()
        .find(|a| a.at > after && rms(&a.samples_48k) > 0.01)
        .map(|a| a.at)
}
