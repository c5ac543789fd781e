//! Render-bridge benchmark. On a quiet machine: `scripts/bench_bridge.sh` (builds the bridge
//! of the commit before the ECS rewrite and runs this with `BRIDGE_BASELINE_BIN` set), or
//! `cargo bench --workspace --bench bridge` for this commit alone.
//!
//! 1. **World only**: the sans-IO world (decode, route, filter, encode for one Live Link
//!    target) on one thread, no sockets, with 1 and 64 avatars: frames per CPU-second.
//! 2. **Process flood**: each bridge binary (this commit's; the baseline's when given) as its
//!    own process; one sender floods it over loopback with 1 or 64 avatars; frames it emitted
//!    as Live Link (its own `goassist_bridge_frames_out_total` counter) divided by the CPU time
//!    of its ingest thread (from /proc): frames per CPU-second, what one dedicated core does.
//!    Binaries alternate (A B A B …) `BENCH_REPEATS` times; medians are reported.
//! 3. **Paced latency**: 64 avatars × 60 fps through each binary; a receiver maps each Live
//!    Link frame number back to its send instant: end-to-end p50/p95/p99.
//! 4. **Sealed datagrams** (`BRIDGE_KEY`): the ingest check alone ([`Unsealer::open`]: the
//!    HMAC-SHA256 tag, the time window and the sender's counter) on one thread, face-only and
//!    with 20 ms of audio: CPU-nanoseconds per datagram. `BENCH_ONLY=sealing` runs only this
//!    (a second or two, no sockets, no baseline).
//!
//! The 1-minute load average is recorded before and after. The report goes to
//! docs/benchmarks/bridge.md only when the machine was quiet (1-minute load before the run ≤
//! `BENCH_MAX_LOAD`, default half the logical cores, and other processes' CPU during the run ≤
//! `BENCH_MAX_OTHER_CPU` cores, default 0.25) — otherwise to target/bench-bridge.md, and it says
//! so. `BENCH_OUT` names another path, relative to the workspace root (always written).
//! `BENCH_SECONDS` sets each measurement's length (default 5).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goassist_protocol::FaceFrame;
use goassist_protocol::bridge_auth::{BridgeKey, Sealer};
use goassist_protocol::bridge_stream;
use goassist_protocol::livelink::LiveLinkPacket;
use goassist_render_bridge::BridgeConfig;
use goassist_render_bridge::config::IngestKeys;
use goassist_render_bridge::replay::synthetic_frame;
use goassist_render_bridge::sealing::{Unsealer, unix_ms_now};
use goassist_render_bridge::world::BridgeWorld;

/// The figure docs/benchmarks/bridge.md published for the pre-ECS bridge (800 avatars, shared
/// 2-core machine at load ≈ 8), quoted for context only: compare the same-run columns.
const PUBLISHED_BEFORE: &str = "225,607 frames per CPU-second (800 avatars, 2-core Xeon, load ≈ 8)";

fn main() {
    let seconds = env_f64("BENCH_SECONDS", 5.0);
    let repeats = env_f64("BENCH_REPEATS", 3.0).max(1.0) as usize;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_load = env_f64("BENCH_MAX_LOAD", cores as f64 / 2.0);
    let max_others = env_f64("BENCH_MAX_OTHER_CPU", 0.25);
    let load_before = load_average();
    let cpu_before = CpuTimes::now();
    let sealing: Vec<(&str, usize, f64)> = [("face only", false), ("face + 20 ms audio", true)]
        .into_iter()
        .map(|(what, audio)| {
            let (len, ns) = bench_unseal(audio, seconds.min(2.0));
            println!("sealed datagrams, {what} ({len} bytes): {ns:.0} CPU-ns per datagram");
            (what, len, ns)
        })
        .collect();
    if std::env::var("BENCH_ONLY").as_deref() == Ok("sealing") {
        return;
    }
    let current = PathBuf::from(env!("CARGO_BIN_EXE_goassist-render-bridge"));
    let baseline = std::env::var_os("BRIDGE_BASELINE_BIN").map(PathBuf::from);
    if let Some(b) = &baseline {
        assert!(
            b.exists(),
            "BRIDGE_BASELINE_BIN {} does not exist",
            b.display()
        );
    }
    let mut binaries = vec![("this commit", current)];
    if let Some(b) = baseline {
        binaries.insert(0, ("baseline", b));
    }

    let world: Vec<(u32, f64)> = [1, 64]
        .into_iter()
        .map(|n| (n, bench_world(n, seconds)))
        .collect();
    println!("world only: {world:?}");

    // (binary, avatars) → per-CPU-second figures of each repeat.
    let mut flood: Vec<(usize, u32, Vec<Flood>)> = Vec::new();
    for avatars in [1, 64] {
        for (b, _) in binaries.iter().enumerate() {
            flood.push((b, avatars, Vec::new()));
        }
    }
    for _ in 0..repeats {
        for entry in &mut flood {
            let (name, bin) = &binaries[entry.0];
            let f = bench_flood(bin, entry.1, seconds);
            println!("flood {name} {} avatars: {f:?}", entry.1);
            entry.2.push(f);
        }
    }
    let paced: Vec<Paced> = binaries
        .iter()
        .map(|(name, bin)| {
            let p = bench_paced(bin, 64, seconds);
            println!("paced {name}: {p:?}");
            p
        })
        .collect();
    let load_after = load_average();
    let others = CpuTimes::now().others_cores_since(&cpu_before);

    // The load average after the run counts the benchmark's own floods (most of a core), so
    // the run is judged by the load before it and by what other processes used during it.
    let quiet = load_before.0 <= max_load && others <= max_others;
    let report = render(
        &binaries,
        &world,
        &flood,
        &paced,
        seconds,
        repeats,
        load_before,
        load_after,
        (others, max_others),
        quiet,
        max_load,
        &sealing,
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = root.join("docs/benchmarks/bridge.md");
    let fallback = root.join("target/bench-bridge.md");
    let out = match std::env::var_os("BENCH_OUT") {
        // Relative to the workspace root (cargo runs benches in the package directory).
        Some(p) => root.join(p),
        None if quiet => docs,
        None => {
            println!(
                "the machine was busy (load {:.2} before, limit {max_load:.2}; other processes \
                 used {others:.2} cores during the run, limit {max_others:.2}): not writing \
                 docs/benchmarks/bridge.md",
                load_before.0
            );
            fallback
        }
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("create the report's directory");
    }
    std::fs::write(&out, report).expect("write the report");
    println!("wrote {}", out.display());
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// 1-, 5- and 15-minute load averages.
fn load_average() -> (f64, f64, f64) {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN));
    (
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    )
}

/// Busy CPU time of the whole machine and of this process with its waited-for children (the
/// bridges it ran), in clock ticks, from /proc/stat and /proc/self/stat.
struct CpuTimes {
    machine_busy: u64,
    machine_total: u64,
    own: u64,
}

impl CpuTimes {
    fn now() -> CpuTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // cpu  user nice system idle iowait irq softirq steal ...
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or(0);
        let idle = field(3) + field(4);
        let total: u64 = fields.iter().sum();
        let own_stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // After the command name's closing parenthesis: utime, stime, cutime, cstime are the
        // 12th to 15th fields.
        let own: u64 = own_stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(4)
                    .map(|v| v.parse::<u64>().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        CpuTimes {
            machine_busy: total - idle,
            machine_total: total,
            own,
        }
    }

    /// Cores' worth of CPU that other processes used since `before`.
    fn others_cores_since(&self, before: &CpuTimes) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let total = self.machine_total.saturating_sub(before.machine_total) as f64;
        let busy = self.machine_busy.saturating_sub(before.machine_busy);
        let others = busy.saturating_sub(self.own.saturating_sub(before.own)) as f64;
        if total == 0.0 {
            return f64::NAN;
        }
        others / total * cores
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// CPU seconds (user + system) of this thread, from /proc.
fn thread_cpu_seconds(stat_path: &Path) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the parenthesised command: utime is the 14th field, stime the 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0) // USER_HZ
}

/// The /proc stat file of the main thread of process `pid`: the binary runs its ingest loop
/// there (this commit's and the baseline's alike; HTTP and signals have threads of their own).
fn main_thread_stat(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/task/{pid}/stat"))
}

/// The world alone: frames per CPU-second of this thread. Datagrams are encoded up front
/// (two seconds of each avatar); each pass over them patches in a new epoch, so every frame is
/// admitted again. Virtual time follows the frames' audio clock.
fn bench_world(avatars: u32, seconds: f64) -> f64 {
    let config = BridgeConfig::from_lookup(|k| match k {
        "BRIDGE_LIVELINK_ADDRS" => Some("127.0.0.1:9".into()),
        "ANIMATION_DROP_IF_LAG_MS" => Some("10000".into()),
        "BRIDGE_STALL_MS" => Some("10000".into()),
        "BRIDGE_MAX_AVATARS" | "BRIDGE_MAX_AVATARS_PER_SENDER" => Some("4096".into()),
        _ => None,
    })
    .unwrap();
    let mut datagrams: Vec<Vec<u8>> = (0..120u32)
        .flat_map(|seq| {
            (0..avatars).map(move |a| {
                let f = synthetic_frame(a, 0x6A00 + u64::from(a), 1, seq, 60);
                bridge_stream::encode(a, &f, None).unwrap()
            })
        })
        .collect();
    // Where the epoch sits: 8-byte header, then the frame's epoch at offset 12.
    let epoch_at = bridge_stream::HEADER_LEN + 12;
    let from: SocketAddr = ([127, 0, 0, 1], 40_000).into();
    let start = Instant::now();
    let mut world = BridgeWorld::new(&config, start);
    let frame_time = Duration::from_secs(1) / (60 * avatars);
    let self_stat = PathBuf::from("/proc/thread-self/stat");
    let cpu0 = thread_cpu_seconds(&self_stat).unwrap_or(f64::NAN);
    let (mut frames, mut sent, mut epoch) = (0u64, 0u64, 1u32);
    let mut now = start;
    while start.elapsed().as_secs_f64() < seconds {
        for batch in datagrams.chunks(64) {
            for d in batch {
                world.receive(now, from, d);
                now += frame_time;
            }
            sent += world.run(now).len() as u64;
            frames += batch.len() as u64;
        }
        epoch += 1;
        for d in &mut datagrams {
            d[epoch_at..epoch_at + 4].copy_from_slice(&epoch.to_le_bytes());
        }
    }
    let cpu = thread_cpu_seconds(&self_stat).unwrap_or(f64::NAN) - cpu0;
    assert_eq!(sent, frames, "every frame admitted and sent once");
    frames as f64 / cpu
}

/// The key check of the ingest loop alone: datagrams sealed up front by one sender (a run of
/// consecutive counters), opened in order as they would arrive; each pass re-seals them with
/// new counters, outside the timed part. Returns (datagram bytes, CPU-ns per datagram).
fn bench_unseal(audio: bool, seconds: f64) -> (usize, f64) {
    let key = BridgeKey::from_bytes(&[0x5A; 32]).unwrap();
    let keys = IngestKeys {
        current: key.clone(),
        previous: None,
        window: Duration::from_secs(30),
    };
    let tone: Vec<i16> = (0..960).map(|i| (i * 37 % 2000) as i16).collect();
    let plain: Vec<Vec<u8>> = (0..4096u32)
        .map(|seq| {
            let f = synthetic_frame(0, 0x6A00, 1, seq, 60);
            bridge_stream::encode(0, &f, audio.then_some(&tone[..])).unwrap()
        })
        .collect();
    let mut sealer = Sealer::new(key, 0xBE_4C4);
    let from: std::net::IpAddr = [127, 0, 0, 1].into();
    let mut unsealer = Unsealer::new(&keys, Instant::now());
    let self_stat = PathBuf::from("/proc/thread-self/stat");
    let (mut cpu, mut wall, mut opened, mut len) = (0.0, Duration::ZERO, 0u64, 0);
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        let now_ms = unix_ms_now();
        let sealed: Vec<Vec<u8>> = plain
            .iter()
            .map(|d| {
                let mut d = d.clone();
                sealer.seal(&mut d, now_ms);
                d
            })
            .collect();
        len = sealed[0].len();
        let now = Instant::now();
        let cpu0 = thread_cpu_seconds(&self_stat).unwrap_or(f64::NAN);
        for d in &sealed {
            let payload = unsealer
                .open(from, d, now, now_ms)
                .expect("sealed with the key");
            std::hint::black_box(payload);
        }
        cpu += thread_cpu_seconds(&self_stat).unwrap_or(f64::NAN) - cpu0;
        wall += now.elapsed();
        opened += sealed.len() as u64;
    }
    println!(
        "  ({opened} datagrams; wall {:.0} ns each, CPU from /proc ticks of 10 ms)",
        wall.as_nanos() as f64 / opened as f64
    );
    (len, cpu * 1e9 / opened as f64)
}

/// A bridge binary running as its own process.
struct Process {
    child: Child,
    ingest: SocketAddr,
    http: SocketAddr,
}

impl Process {
    fn start(bin: &Path, livelink: SocketAddr) -> Process {
        let ingest = free_port();
        let http = free_tcp_port();
        let child = Command::new(bin)
            .env_clear()
            .env("RUST_LOG", "error")
            .env("BRIDGE_INGEST_ADDR", ingest.to_string())
            .env("BRIDGE_HTTP_ADDR", http.to_string())
            .env("BRIDGE_LIVELINK_ADDRS", livelink.to_string())
            .env("ANIMATION_DROP_IF_LAG_MS", "10000")
            .env("BRIDGE_STALL_MS", "10000")
            // Unknown to the baseline (it ignores them); raise this commit's caps (one sender
            // drives every avatar).
            .env("BRIDGE_MAX_AVATARS", "4096")
            .env("BRIDGE_MAX_AVATARS_PER_SENDER", "4096")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let p = Process {
            child,
            ingest,
            http,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while http_get(p.http, "/readyz").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "{} never became ready",
                bin.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    fn livelink_out(&self) -> f64 {
        let text = http_get(self.http, "/metrics").1;
        text.lines()
            .find_map(|l| {
                l.strip_prefix("goassist_bridge_frames_out_total{output=\"livelink\"}")
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(f64::NAN)
    }

    fn ingest_cpu(&self) -> f64 {
        thread_cpu_seconds(&main_thread_stat(self.child.id())).unwrap_or(f64::NAN)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
}

fn free_tcp_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
}

fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A thread that reads and discards datagrams until stopped.
fn drain(socket: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            if socket.recv(&mut buf).is_ok() {
                n += 1;
            }
        }
        n
    })
}

#[derive(Debug, Clone, Copy)]
struct Flood {
    /// Live Link frames emitted per CPU-second of the ingest thread.
    per_cpu_second: f64,
    /// Share of the wall time the ingest thread was on a CPU.
    cpu_share: f64,
    /// Live Link frames emitted per wall second.
    emitted: f64,
}

fn bench_flood(bin: &Path, avatars: u32, seconds: f64) -> Flood {
    let livelink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let bridge = Process::start(bin, livelink.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let drainer = drain(livelink, stop.clone());
    let sender = {
        let stop = stop.clone();
        let to = bridge.ingest;
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut out = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let avatar = (i % u64::from(avatars)) as u32;
                let seq = (i / u64::from(avatars)) as u32;
                let mut f =
                    FaceFrame::neutral(0x6A00 + u64::from(avatar), 1, seq, u64::from(seq) * 800);
                f.values[17] = 0.3;
                bridge_stream::encode_into(avatar, &f, None, &mut out).unwrap();
                let _ = socket.send_to(&out, to);
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500)); // warm up
    let (cpu0, out0, t0) = (bridge.ingest_cpu(), bridge.livelink_out(), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (cpu1, out1, t1) = (bridge.ingest_cpu(), bridge.livelink_out(), Instant::now());
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let _ = drainer.join();
    drop(bridge);
    let wall = (t1 - t0).as_secs_f64();
    Flood {
        per_cpu_second: (out1 - out0) / (cpu1 - cpu0),
        cpu_share: (cpu1 - cpu0) / wall,
        emitted: (out1 - out0) / wall,
    }
}

#[derive(Debug)]
struct Paced {
    sent: u64,
    received: u64,
    /// p50, p95, p99 in µs.
    e2e: [f64; 3],
}

fn bench_paced(bin: &Path, avatars: u32, seconds: f64) -> Paced {
    let livelink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let bridge = Process::start(bin, livelink.local_addr().unwrap());
    let rate = 60 * avatars as usize;
    let total = (rate as f64 * seconds) as usize;
    // The Live Link frame number (60 fps) is the global send index: sample_pos = i × 800.
    let send_times: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let epoch = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let send_times = send_times.clone();
        let done = done.clone();
        livelink
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            let mut latencies = Vec::with_capacity(total);
            while !done.load(Ordering::Relaxed) {
                let Ok(n) = livelink.recv(&mut buf) else {
                    continue;
                };
                let at = epoch.elapsed().as_nanos() as u64;
                if let Ok(p) = LiveLinkPacket::decode(&buf[..n])
                    && let Some(sent) = send_times.get(p.time.frame as usize)
                {
                    latencies.push(at.saturating_sub(sent.load(Ordering::Relaxed)));
                }
            }
            latencies
        })
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut out = Vec::new();
    let start = Instant::now();
    let per_frame = Duration::from_secs(1) / rate as u32;
    let mut sent = 0u64;
    for i in 0..total {
        // One tick of all avatars at a time, as sessions release their frames.
        if i % avatars as usize == 0 {
            let due = start + per_frame * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let avatar = (i as u32) % avatars;
        let seq = (i as u32) / avatars;
        let mut f = FaceFrame::neutral(0x6A00 + u64::from(avatar), 1, seq, i as u64 * 800);
        f.values[17] = 0.3;
        bridge_stream::encode_into(avatar, &f, None, &mut out).unwrap();
        send_times[i].store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if socket.send_to(&out, bridge.ingest).is_ok() {
            sent += 1;
        }
    }
    // Wait for the tail: until nothing more arrives for 300 ms (bounded by the receiver).
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::Relaxed);
    let mut latencies = receiver.join().unwrap();
    drop(bridge);
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .map_or(f64::NAN, |ns| *ns as f64 / 1000.0)
    };
    Paced {
        sent,
        received: latencies.len() as u64,
        e2e: [pct(0.5), pct(0.95), pct(0.99)],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[allow(clippy::too_many_arguments)] // one report, every figure it prints
fn render(
    binaries: &[(&str, PathBuf)],
    world: &[(u32, f64)],
    flood: &[(usize, u32, Vec<Flood>)],
    paced: &[Paced],
    seconds: f64,
    repeats: usize,
    before: (f64, f64, f64),
    after: (f64, f64, f64),
    (others, max_others): (f64, f64),
    quiet: bool,
    max_load: f64,
    sealing: &[(&str, usize, f64)],
) -> String {
    let mut r = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let w = &mut r;
    writeln!(w, "# Render-bridge benchmark\n").unwrap();
    writeln!(
        w,
        "Release builds of both bridges. Reproduce on a quiet machine: `scripts/bench_bridge.sh` (builds the pre-ECS bridge as \
         the baseline, then `cargo bench --workspace --bench bridge`). Each measurement ran \
         {seconds} s; floods were repeated {repeats}× alternating binaries (medians shown).\n"
    )
    .unwrap();
    writeln!(
        w,
        "Machine: {}, {cores} logical cores. Load average before {:.2} {:.2} {:.2}, after \
         {:.2} {:.2} {:.2} (the benchmark's own floods included); other processes used \
         {others:.2} cores during the run{}.\n",
        cpu_model(),
        before.0,
        before.1,
        before.2,
        after.0,
        after.1,
        after.2,
        if quiet {
            String::new()
        } else {
            format!(
                " — **busy machine (limits: load {max_load:.2} before, {max_others:.2} cores of \
                 others): not publishable**"
            )
        }
    )
    .unwrap();
    writeln!(
        w,
        "## Frames per CPU-second of the ingest thread (process flood over loopback)\n"
    )
    .unwrap();
    write!(w, "| avatars |").unwrap();
    for (name, _) in binaries {
        write!(w, " {name} |").unwrap();
    }
    if binaries.len() == 2 {
        write!(w, " this commit ÷ baseline |").unwrap();
    }
    writeln!(w).unwrap();
    writeln!(
        w,
        "|---|{}",
        "---|".repeat(binaries.len() + usize::from(binaries.len() == 2))
    )
    .unwrap();
    for avatars in [1, 64] {
        write!(w, "| {avatars} |").unwrap();
        let mut figures = Vec::new();
        for (b, _) in binaries.iter().enumerate() {
            let runs = flood
                .iter()
                .find(|(bb, a, _)| *bb == b && *a == avatars)
                .map(|(_, _, r)| r.clone())
                .unwrap_or_default();
            let per_cpu = median(runs.iter().map(|f| f.per_cpu_second).collect());
            let share = median(runs.iter().map(|f| f.cpu_share).collect());
            let emitted = median(runs.iter().map(|f| f.emitted).collect());
            write!(
                w,
                " **{per_cpu:.0}** ({emitted:.0}/s wall, thread on CPU {:.0} %) |",
                share * 100.0
            )
            .unwrap();
            figures.push(per_cpu);
        }
        if figures.len() == 2 {
            write!(w, " {:.2} |", figures[1] / figures[0]).unwrap();
        }
        writeln!(w).unwrap();
    }
    writeln!(
        w,
        "\nBefore the rewrite this page published {PUBLISHED_BEFORE}; compare only figures \
         from the same run (the table above).\n"
    )
    .unwrap();
    writeln!(
        w,
        "## The world alone (this commit, no sockets, one thread)\n"
    )
    .unwrap();
    writeln!(w, "| avatars | frames per CPU-second |\n|---|---|").unwrap();
    for (avatars, f) in world {
        writeln!(w, "| {avatars} | {f:.0} |").unwrap();
    }
    writeln!(
        w,
        "\nDecode, routing, the filter rules and the Live Link encode for one target, in \
         batches of 64 datagrams as the I/O loop feeds them.\n"
    )
    .unwrap();
    writeln!(
        w,
        "## Paced: 64 avatars × 60 fps = 3,840 frames/s, send → Live Link received\n"
    )
    .unwrap();
    writeln!(
        w,
        "| binary | sent | received | p50 | p95 | p99 |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    for ((name, _), p) in binaries.iter().zip(paced) {
        writeln!(
            w,
            "| {name} | {} | {} | {:.0} µs | {:.0} µs | {:.0} µs |",
            p.sent, p.received, p.e2e[0], p.e2e[1], p.e2e[2]
        )
        .unwrap();
    }
    writeln!(
        w,
        "\n## Sealed datagrams (BRIDGE_KEY): the ingest check per datagram (this commit)\n"
    )
    .unwrap();
    writeln!(
        w,
        "| datagram | bytes | CPU-ns per datagram |\n|---|---|---|"
    )
    .unwrap();
    for (what, len, ns) in sealing {
        writeln!(w, "| {what} | {len} | {ns:.0} |").unwrap();
    }
    writeln!(
        w,
        "\nThe truncated HMAC-SHA256 over the whole datagram, the time window and the sender's \
         counter window, before any decoding; the floods above run without a key.\n"
    )
    .unwrap();
    writeln!(
        w,
        "\nReading the numbers: per frame the bridge does one `recvfrom`, the decode, the \
         rules, the Live Link encode and one `sendto` per target; this commit reads up to 64 \
         queued datagrams per schedule run, the baseline one at a time. \"Per CPU-second\" \
         divides the Live Link frames a bridge process counted as sent by the CPU time its \
         ingest thread got (from /proc): what one dedicated core sustains, independent of how \
         much CPU the machine gave it. Wall rates and latencies depend on the machine's other \
         load (see the load averages). Targets (issue 5): ≥ 50,000 frames/s on one core, p99 \
         ingest→emit ≤ 1 ms."
    )
    .unwrap();
    r
}
