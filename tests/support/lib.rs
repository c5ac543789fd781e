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

/// The browser tests' driver folder (`tests/browser`), checked: playwright-core installed and
/// Chromium present, else a panic naming the set-up script.
pub fn browser_test_dir() -> PathBuf {
    let dir = workspace_root().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing in {}: run scripts/setup_browser_tests.sh",
        dir.display()
    );
    let chromium = chromium_path();
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} not found: run scripts/setup.sh (apt chromium)"
    );
    dir
}

/// The Chromium the browser tests start: `CHROMIUM`, else Debian's.
fn chromium_path() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// A command that runs `program` at the lowest CPU priority, for the peers of a test that in a
/// deployment are other machines (browsers, the render pod's stand-in) but here share the cores
/// of the server whose timing is checked: `nice -n 19`, and as root (CI) without CAP_SYS_NICE
/// in the bounding set (util-linux `setpriv`), since Chromium raises the priority of some of its
/// processes (renderer and GPU at nice -8, the rest back to 0) when it may.
///
/// That ranks the program below the server only inside one scheduling group. Playwright starts
/// each Chromium in a session of its own, and with the kernel's autogroups
/// (`kernel.sched_autogroup_enabled=1`, no CPU cgroup of its own) a session is a group that gets
/// an equal share of the CPU whatever its nice value: a starting Chromium takes half the cores
/// from the server. `TEST_BROWSERS_BELOW_SERVER=1` lowers the Chromiums' groups as well
/// (`tests/browser/chromium_at_lowest_weight.sh`, through `CHROMIUM`), for the server's timing
/// figures; it is not the default because the browsers then starve while the server answers,
/// and the video the test checks stops following the voice.
pub fn at_lowest_priority(program: &str) -> Command {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    });
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-sys_nice", "nice", "-n", "19"]);
        c
    } else {
        let mut c = Command::new("nice");
        c.args(["-n", "19"]);
        c
    };
    if std::env::var_os("TEST_BROWSERS_BELOW_SERVER").is_some() {
        command.env("GOASSIST_TEST_CHROMIUM", chromium_path()).env(
            "CHROMIUM",
            workspace_root().join("tests/browser/chromium_at_lowest_weight.sh"),
        );
    }
    command.arg(program);
    command
}

/// One face frame at 30 fps, in ms.
pub const FACE_FRAME_MS: f64 = 1000.0 / 30.0;

/// Lip sync as a page renders it: the Pearson correlation of the played audio's loudness (RMS
/// per 30 fps frame; `audio_16k` started playing at `audio_start_ms`) with the face's jawOpen
/// samples `(ms, value)` (mean per frame), over the voiced frames within `window_ms` (all of
/// them when `None`), at the best lag in −6..=6 frames (positive: the jaw moves after the
/// audio). Returns (correlation, lag in frames).
pub fn lip_sync(
    audio_16k: &[f32],
    audio_start_ms: f64,
    jaw: &[(f64, f32)],
    window_ms: Option<(f64, f64)>,
) -> (f32, i32) {
    let frame_samples = (16_000.0 * FACE_FRAME_MS / 1000.0) as usize;
    let loudness: Vec<f32> = audio_16k.chunks(frame_samples).map(rms).collect();
    let mut jaw_sum = vec![(0.0f32, 0u32); loudness.len()];
    for &(t, v) in jaw {
        let k = ((t - audio_start_ms) / FACE_FRAME_MS).floor();
        if k >= 0.0 && (k as usize) < jaw_sum.len() {
            jaw_sum[k as usize].0 += v;
            jaw_sum[k as usize].1 += 1;
        }
    }
    let jaw_mean: Vec<Option<f32>> = jaw_sum
        .iter()
        .map(|&(s, n)| (n > 0).then(|| s / n as f32))
        .collect();
    let (from_ms, to_ms) = window_ms.unwrap_or((f64::MIN, f64::MAX));
    let in_window = |k: usize| {
        let t = audio_start_ms + k as f64 * FACE_FRAME_MS;
        t >= from_ms && t < to_ms
    };
    let voiced: Vec<usize> = (0..loudness.len())
        .filter(|&k| loudness[k] > 0.01 && in_window(k))
        .collect();
    let (Some(&first), Some(&last)) = (voiced.first(), voiced.last()) else {
        return (0.0, 0);
    };
    best_lag(&loudness, &jaw_mean, first..last + 1, 6)
}

/// `(observations, observations over 2 × 20 ms)` of the server's speech-packet pacing
/// histogram (`goassist_audio_send_interval_seconds`): how evenly it sent the answers' audio.
pub fn speech_packet_intervals(port: u16) -> (u64, u64) {
    let (_, text) = http_get(port, "/metrics").expect("metrics");
    speech_packet_intervals_in(&text).expect("goassist_audio_send_interval_seconds in /metrics")
}

/// [`speech_packet_intervals`] from a Prometheus text already fetched; `None` when the
/// histogram is missing.
pub fn speech_packet_intervals_in(metrics: &str) -> Option<(u64, u64)> {
    speech_packet_intervals_over(metrics, "0.04")
}

/// `(observations, observations over the bucket bound `le`)` of the server's speech-packet
/// pacing, from a Prometheus text already fetched; `None` when the histogram is missing.
pub fn speech_packet_intervals_over(metrics: &str, le: &str) -> Option<(u64, u64)> {
    let value = |line_start: &str| -> Option<u64> {
        metrics
            .lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
    };
    let total = value("goassist_audio_send_interval_seconds_count")?;
    let within = value(&format!(
        "goassist_audio_send_interval_seconds_bucket{{le=\"{le}\"}}"
    ))?;
    Some((total, total - within))
}

/// A running `goassist-pixelstream-proxy` serving the built pages (`scripts/setup_pixelstream_frontend.sh`)
/// on loopback, killed on drop; its logs go to a file.
pub struct PixelStreamProxy {
    child: Child,
    /// Page + player WebSocket port.
    pub player_port: u16,
    /// Streamer WebSocket port (where Unreal, or the stand-in, connects).
    pub streamer_port: u16,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_port: u16,
    /// Where its logs went.
    pub log_path: PathBuf,
}

impl PixelStreamProxy {
    /// Starts the proxy with `extra` environment and waits until it is ready (10 s).
    pub fn start(extra: &[(&str, String)]) -> PixelStreamProxy {
        let dist = workspace_root().join("pixelstream-proxy/frontend/dist");
        assert!(
            dist.join("talk/index.html").exists(),
            "{} is not built: run scripts/setup_pixelstream_frontend.sh",
            dist.display()
        );
        let (player_port, streamer_port, admin_port) = (free_port(), free_port(), free_port());
        let log_path = std::env::temp_dir().join(format!("goassist-e2e-proxy-{player_port}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(workspace_binary("goassist-pixelstream-proxy"));
        cmd.env("PS_PLAYER_BIND", "127.0.0.1")
            .env("PS_PLAYER_PORT", player_port.to_string())
            .env("PS_STREAMER_PORT", streamer_port.to_string())
            .env("PS_ADMIN_PORT", admin_port.to_string())
            .env("PS_FRONTEND_DIR", &dist);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start goassist-pixelstream-proxy");
        let mut proxy = PixelStreamProxy {
            child,
            player_port,
            streamer_port,
            admin_port,
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while http_get(admin_port, "/readyz").is_none_or(|(code, _)| code != 200) {
            if let Some(status) = proxy.child.try_wait().expect("proxy status") {
                panic!("proxy exited with {status}; log:\n{}", proxy.logs());
            }
            assert!(
                Instant::now() < deadline,
                "proxy not ready; log:\n{}",
                proxy.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        proxy
    }

    /// Base URL of the pages.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.player_port)
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for PixelStreamProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How late `delayed` follows `reference` (two signals sampled as `(ms, value)`, e.g. the mouth
/// seen in a video and the face locked to the audio): both are held from sample to sample on a
/// 10 ms grid over `window_ms`; returns the Pearson correlation at the best lag in
/// −`max_lag_ms`..=`max_lag_ms` and that lag in ms (positive: `delayed` comes later).
pub fn delay_ms(
    reference: &[(f64, f32)],
    delayed: &[(f64, f32)],
    window_ms: (f64, f64),
    max_lag_ms: f64,
) -> (f32, f64) {
    const STEP_MS: f64 = 10.0;
    let lag_steps = (max_lag_ms / STEP_MS).round() as i32;
    // The grid reaches past the window by the largest lag so every lag has the same span.
    let start = window_ms.0 - max_lag_ms;
    let steps = ((window_ms.1 - start + max_lag_ms) / STEP_MS)
        .ceil()
        .max(0.0) as usize;
    let held = |samples: &[(f64, f32)]| -> Vec<Option<f32>> {
        let mut out = Vec::with_capacity(steps);
        let mut next = 0;
        let mut last = None;
        for k in 0..steps {
            let t = start + k as f64 * STEP_MS;
            while next < samples.len() && samples[next].0 <= t {
                last = Some(samples[next].1);
                next += 1;
            }
            out.push(last);
        }
        out
    };
    let reference = held(reference);
    let delayed = held(delayed);
    let first = lag_steps as usize;
    let last = first + ((window_ms.1 - window_ms.0) / STEP_MS).floor().max(0.0) as usize;
    let reference: Vec<f32> = reference.iter().map(|v| v.unwrap_or(f32::NAN)).collect();
    let mut best = (f32::MIN, 0);
    for lag in -lag_steps..=lag_steps {
        let pairs: Vec<(f32, f32)> = (first..last)
            .filter_map(|k| {
                let j = usize::try_from(k as i64 + i64::from(lag)).ok()?;
                let r = *reference.get(k)?;
                Some((r, (*delayed.get(j)?)?)).filter(|(r, _)| !r.is_nan())
            })
            .collect();
        let r = pearson(&pairs);
        if r > best.0 {
            best = (r, lag);
        }
    }
    (best.0, f64::from(best.1) * STEP_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A jaw-like signal: a few syllables a second.
    fn syllables(t_ms: f64) -> f32 {
        let s = t_ms / 1000.0;
        ((s * 2.0 * std::f64::consts::PI * 3.1).sin()
            * (s * 2.0 * std::f64::consts::PI * 0.7).sin())
        .max(0.0) as f32
    }

    #[test]
    fn delay_ms_finds_a_video_lag_from_sparse_frames() {
        // Reference sampled every 10 ms; the "video" shows it 120 ms late at 30 fps.
        let reference: Vec<(f64, f32)> = (0..1000)
            .map(|k| (k as f64 * 10.0, syllables(k as f64 * 10.0)))
            .collect();
        let video: Vec<(f64, f32)> = (0..300)
            .map(|k| {
                let shown = k as f64 * 1000.0 / 30.0;
                (shown, syllables(shown - 120.0))
            })
            .collect();
        let (corr, lag) = delay_ms(&reference, &video, (1000.0, 9000.0), 500.0);
        assert!(corr > 0.9, "correlation {corr}");
        assert!((lag - 120.0).abs() <= 30.0, "lag {lag} ms");
        // Early video (negative lag) is found as such.
        let early: Vec<(f64, f32)> = video
            .iter()
            .map(|&(t, _)| (t, syllables(t + 80.0)))
            .collect();
        let (_, lag) = delay_ms(&reference, &early, (1000.0, 9000.0), 500.0);
        assert!((lag + 80.0).abs() <= 30.0, "lag {lag} ms");
    }

    #[test]
    fn delay_ms_of_unrelated_signals_is_weak() {
        let reference: Vec<(f64, f32)> = (0..1000)
            .map(|k| (k as f64 * 10.0, syllables(k as f64 * 10.0)))
            .collect();
        let flat: Vec<(f64, f32)> = (0..300).map(|k| (k as f64 * 33.3, 0.5)).collect();
        let (corr, _) = delay_ms(&reference, &flat, (1000.0, 9000.0), 500.0);
        assert!(corr.abs() < 0.1, "a flat video correlates {corr}");
    }
}
