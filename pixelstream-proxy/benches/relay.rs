//! Relay benchmark: one streamer and N signalling-only players (a load client on loopback)
//! against an in-process proxy. Measures end-to-end relay latency (client send to client
//! receive, through two WebSockets and the hub) in both directions at a paced rate, and
//! relay throughput (messages/s) with every sender going flat out.
//!
//! Run: `cargo bench -p goassist-pixelstream-proxy --bench relay` (add `-- 10 100` to choose
//! player counts). Prints a table and writes docs/benchmarks/proxy.md.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use goassist_pixelstream_proxy::{Config, Frontend, Listeners, serve};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, Message>;
type Stream = SplitStream<Ws>;

/// Messages per direction in the paced latency phase.
const LATENCY_MESSAGES: usize = 3000;
/// Pace of the latency phase (total messages per second across all players).
const LATENCY_RATE_PER_S: u64 = 1000;
/// Messages in the throughput phase, per direction.
const THROUGHPUT_MESSAGES: usize = 20_000;

#[derive(Debug, Default, Clone)]
struct Summary {
    players: usize,
    up: Percentiles,
    down: Percentiles,
    fan_in_per_s: f64,
    fan_out_per_s: f64,
    server_p50_us: f64,
    server_p99_us: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Percentiles {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut micros: Vec<f64>) -> Percentiles {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() as f64 - 1.0) * q).round() as usize];
    Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: *micros.last().unwrap_or(&0.0),
    }
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![10, 100, 500]
    } else {
        counts
    };

    // The proxy gets its own runtime (one worker) so the load client does not share its
    // scheduler; on this 2-core machine that is one core each.
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("proxy")
        .enable_all()
        .build()
        .expect("proxy runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load-client")
        .enable_all()
        .build()
        .expect("client runtime");

    let vars: HashMap<&str, &str> = HashMap::from([
        ("PS_MAX_PLAYERS_PER_STREAMER", "1000"),
        ("PS_PLAYER_RATE", "100000"),
        ("PS_PLAYER_BURST", "100000"),
        ("PS_STREAMER_RATE", "1000000"),
        ("PS_STREAMER_BURST", "1000000"),
        ("PS_SEND_QUEUE", "65536"),
        ("PS_IDLE_TIMEOUT_S", "3600"),
    ]);
    let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).expect("config");
    let listeners = proxy_rt.block_on(Listeners::loopback()).expect("bind");
    let (player_addr, streamer_addr, admin_addr) = listeners.addrs().expect("addrs");
    proxy_rt.spawn(serve(
        config,
        Frontend::empty(),
        listeners,
        std::future::pending(),
    ));

    let mut results = Vec::new();
    for (round, &n) in counts.iter().enumerate() {
        let streamer_id = format!("Bench{round}");
        let summary = client_rt.block_on(run_round(
            n,
            &streamer_id,
            player_addr,
            streamer_addr,
            admin_addr,
        ));
        println!(
            "{n:>4} players | up p50 {:>7.1} p95 {:>7.1} p99 {:>7.1} max {:>8.1} us | down p50 {:>7.1} p95 {:>7.1} p99 {:>7.1} max {:>8.1} us | fan-in {:>8.0} msg/s | fan-out {:>8.0} msg/s | in-proxy p50 {:.0} p99 {:.0} us",
            summary.up.p50,
            summary.up.p95,
            summary.up.p99,
            summary.up.max,
            summary.down.p50,
            summary.down.p95,
            summary.down.p99,
            summary.down.max,
            summary.fan_in_per_s,
            summary.fan_out_per_s,
            summary.server_p50_us,
            summary.server_p99_us,
        );
        results.push(summary);
    }
    write_report(&results);
}

async fn connect(url: String) -> (Sink, Stream) {
    // TCP_NODELAY, as browsers and Unreal's WebSocket client set it.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .expect("connect");
    ws.split()
}

async fn next_json(stream: &mut Stream) -> Value {
    loop {
        match stream.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("json"),
            _ => continue,
        }
    }
}

async fn expect(stream: &mut Stream, kind: &str) -> Value {
    loop {
        let m = next_json(stream).await;
        if m["type"] == kind {
            return m;
        }
    }
}

fn seq_of(m: &Value) -> Option<usize> {
    m["candidate"]["candidate"]
        .as_str()?
        .strip_prefix("seq:")?
        .parse()
        .ok()
}

fn candidate(seq: usize, player_id: Option<&str>) -> Message {
    let mut m = json!({"type": "iceCandidate", "candidate": {"candidate": format!("seq:{seq}"), "sdpMid": "0", "sdpMLineIndex": 0}});
    if let Some(id) = player_id {
        m["playerId"] = json!(id);
    }
    Message::Text(m.to_string().into())
}

async fn run_round(
    n: usize,
    streamer_id: &str,
    player_addr: SocketAddr,
    streamer_addr: SocketAddr,
    admin_addr: SocketAddr,
) -> Summary {
    let (mut s_sink, mut s_stream) = connect(format!("ws://{streamer_addr}/")).await;
    expect(&mut s_stream, "identify").await;
    s_sink
        .send(Message::Text(
            json!({"type": "endpointId", "id": streamer_id})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    expect(&mut s_stream, "endpointIdConfirm").await;

    let mut player_sinks = Vec::with_capacity(n);
    let mut player_streams = Vec::with_capacity(n);
    let mut player_ids = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut sink, mut stream) = connect(format!("ws://{player_addr}/")).await;
        expect(&mut stream, "config").await;
        sink.send(Message::Text(
            json!({"type": "subscribe", "streamerId": streamer_id})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let connected = expect(&mut s_stream, "playerConnected").await;
        player_ids.push(connected["playerId"].as_str().unwrap().to_owned());
        player_sinks.push(sink);
        player_streams.push(stream);
    }
    let before = scrape_histogram(admin_addr).await;

    // Latency, players -> streamer: paced round-robin sends, streamer records arrival.
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; LATENCY_MESSAGES]));
    let receiver = {
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(LATENCY_MESSAGES);
            while latencies.len() < LATENCY_MESSAGES {
                let m = next_json(&mut s_stream).await;
                if let Some(seq) = seq_of(&m)
                    && let Some(t) = sent_at.lock().unwrap()[seq]
                {
                    latencies.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            (latencies, s_stream)
        })
    };
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / LATENCY_RATE_PER_S));
    for seq in 0..LATENCY_MESSAGES {
        pace.tick().await;
        sent_at.lock().unwrap()[seq] = Some(Instant::now());
        player_sinks[seq % n]
            .send(candidate(seq, None))
            .await
            .unwrap();
    }
    let (up, mut s_stream) = receiver.await.unwrap();

    // Latency, streamer -> players: each player's reader records arrivals.
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; LATENCY_MESSAGES]));
    let down_latencies = Arc::new(Mutex::new(Vec::with_capacity(LATENCY_MESSAGES)));
    let mut readers = Vec::new();
    for (index, mut stream) in player_streams.into_iter().enumerate() {
        let expected = (0..LATENCY_MESSAGES).filter(|s| s % n == index).count();
        let sent_at = sent_at.clone();
        let sink = down_latencies.clone();
        readers.push(tokio::spawn(async move {
            let mut got = 0;
            while got < expected {
                let m = next_json(&mut stream).await;
                if let Some(seq) = seq_of(&m)
                    && let Some(t) = sent_at.lock().unwrap()[seq]
                {
                    sink.lock().unwrap().push(t.elapsed().as_secs_f64() * 1e6);
                    got += 1;
                }
            }
            stream
        }));
    }
    for seq in 0..LATENCY_MESSAGES {
        pace.tick().await;
        sent_at.lock().unwrap()[seq] = Some(Instant::now());
        s_sink
            .send(candidate(seq, Some(&player_ids[seq % n])))
            .await
            .unwrap();
    }
    let mut player_streams = Vec::new();
    for r in readers {
        player_streams.push(r.await.unwrap());
    }
    let down = std::mem::take(&mut *down_latencies.lock().unwrap());
    let after = scrape_histogram(admin_addr).await;

    // Throughput, fan-in: every player sends its share flat out.
    let per_player = THROUGHPUT_MESSAGES.div_ceil(n);
    let total = per_player * n;
    let start = Instant::now();
    let counter = tokio::spawn(async move {
        let mut got = 0;
        while got < total {
            let m = next_json(&mut s_stream).await;
            if m["type"] == "iceCandidate" {
                got += 1;
            }
        }
        s_stream
    });
    let mut senders = Vec::new();
    for mut sink in player_sinks.drain(..) {
        senders.push(tokio::spawn(async move {
            for seq in 0..per_player {
                sink.feed(candidate(seq, None)).await.unwrap();
            }
            sink.flush().await.unwrap();
            sink
        }));
    }
    for s in senders {
        player_sinks.push(s.await.unwrap());
    }
    let _s_stream = counter.await.unwrap();
    let fan_in_per_s = total as f64 / start.elapsed().as_secs_f64();

    // Throughput, fan-out: the streamer sends round-robin to all players flat out.
    let start = Instant::now();
    let mut readers = Vec::new();
    for mut stream in player_streams {
        readers.push(tokio::spawn(async move {
            let mut got = 0;
            while got < per_player {
                if next_json(&mut stream).await["type"] == "iceCandidate" {
                    got += 1;
                }
            }
        }));
    }
    for seq in 0..total {
        s_sink
            .feed(candidate(seq, Some(&player_ids[seq % n])))
            .await
            .unwrap();
    }
    s_sink.flush().await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    let fan_out_per_s = total as f64 / start.elapsed().as_secs_f64();

    // Close everything so the next round starts clean.
    for mut sink in player_sinks {
        let _ = sink.close().await;
    }
    let _ = s_sink.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (server_p50_us, server_p99_us) = histogram_quantiles(&before, &after);
    Summary {
        players: n,
        up: percentiles(up),
        down: percentiles(down),
        fan_in_per_s,
        fan_out_per_s,
        server_p50_us,
        server_p99_us,
    }
}

/// Cumulative bucket counts of the in-proxy relay latency histogram: (upper bound s, count).
async fn scrape_histogram(admin: SocketAddr) -> Vec<(f64, f64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(admin).await.expect("admin");
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("goassist_pixelstream_relay_latency_seconds_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect()
}

/// p50 and p99 (bucket upper bounds, microseconds) of the observations between two scrapes.
fn histogram_quantiles(before: &[(f64, f64)], after: &[(f64, f64)]) -> (f64, f64) {
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .zip(before)
        .map(|((le, a), (_, b))| (*le, a - b))
        .collect();
    let total = deltas.last().map(|d| d.1).unwrap_or(0.0);
    let q = |q: f64| {
        deltas
            .iter()
            .find(|(_, c)| *c >= q * total)
            .map(|(le, _)| le * 1e6)
            .unwrap_or(f64::NAN)
    };
    (q(0.5), q(0.99))
}

fn write_report(results: &[Summary]) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    // The machine is shared: record how loaded it was and at what priority we ran.
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let nice = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.to_owned()))
        .and_then(|rest| rest.split_whitespace().nth(16).map(str::to_owned))
        .unwrap_or_default();
    let mut md = String::new();
    let _ = writeln!(md, "# Pixel Streaming proxy relay benchmark\n");
    let _ = writeln!(
        md,
        "Machine: {cpu}, {cores} cores, shared with other engineers' builds while measured \
         (load average {load} at the end of the run; benchmark process nice {nice}). \
         Command: `cargo bench -p goassist-pixelstream-proxy --bench relay`.\n"
    );
    let _ = writeln!(
        md,
        "Setup: one in-process proxy (tokio runtime with 1 worker thread) and a load client on \
         loopback in a second runtime (1 worker): one streamer, N players subscribed to it, all \
         signalling-only WebSockets. **Latency** is end to end, client send to client receive \
         through two WebSockets and the hub, {LATENCY_MESSAGES} `iceCandidate` messages per \
         direction paced at {LATENCY_RATE_PER_S} msg/s round-robin over the players \
         (up = player to streamer, down = streamer to player). **In-proxy** is the server's own \
         `goassist_pixelstream_relay_latency_seconds` histogram (read off to queued for the destination; \
         values are bucket upper bounds). **Throughput** relays {THROUGHPUT_MESSAGES} messages \
         flat out: fan-in (all players to the streamer) and fan-out (streamer to all players).\n"
    );
    let _ = writeln!(
        md,
        "| players | up p50 (µs) | up p95 | up p99 | up max | down p50 (µs) | down p95 | down p99 | down max | in-proxy p50 (µs) | in-proxy p99 | fan-in msg/s | fan-out msg/s |"
    );
    let _ = writeln!(
        md,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | ≤{:.0} | ≤{:.0} | {:.0} | {:.0} |",
            r.players,
            r.up.p50,
            r.up.p95,
            r.up.p99,
            r.up.max,
            r.down.p50,
            r.down.p95,
            r.down.p99,
            r.down.max,
            r.server_p50_us,
            r.server_p99_us,
            r.fan_in_per_s,
            r.fan_out_per_s
        );
    }
    let target = results.iter().find(|r| r.players == 100).map(|r| {
        let p99 = r.up.p99.max(r.down.p99);
        format!(
            "\nTarget (p99 relay ≤ 1 ms at 100 players): end-to-end p99 {:.0} µs — **{}**; in-proxy p99 ≤ {:.0} µs.\n",
            p99,
            if p99 <= 1000.0 { "met" } else { "not met on this shared machine" },
            r.server_p99_us
        )
    });
    md.push_str(&target.unwrap_or_default());
    let path = std::env::var_os("PROXY_BENCH_REPORT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks/proxy.md")
        });
    match std::fs::write(&path, md) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}
