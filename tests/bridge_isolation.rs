//! Profile C isolation with real processes: the real inference server holds a live voice
//! session (real models, a WebRTC client speaking recorded speech) and sends the session's face
//! frames, with their audio (RENDER_BRIDGE_SEND_AUDIO), to the real render-bridge. The bridge is
//! SIGKILLed as the user finishes the second question and restarted once the answer plays.
//!
//! Checked: the server sent the answer's audio packets with no gap beyond 2 × the packet time
//! (its `goassist_audio_send_interval_seconds`; the client's arrival gaps are printed too); the answer's
//! time to first audio with the bridge dead is in line with the first answer's (bridge alive);
//! the bridge emits Live Link again within 1 s of its restart; the plugin stream carries the
//! assistant's voice. Both sides share a key (RENDER_BRIDGE_KEY = BRIDGE_KEY): every datagram is
//! sealed, and the restarted bridge, which remembers no counters, accepts the running server's
//! stream at once.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goassist_client::{Recording, VoiceClient};
use goassist_e2e::{
    Server, first_voiced_after, free_port, http_get, models_dir, read_wav, rms, workspace_binary,
};
use goassist_protocol::bridge_stream::BridgeDatagram;

const PACKET: Duration = Duration::from_millis(20);
/// The key both processes share (`openssl rand -hex 32`).
const BRIDGE_KEY: &str = "d86f0b3a51c2e4978a0f6b1c2d3e4f5061728394a5b6c7d8e9f0011223344556";

fn start_bridge(ingest: SocketAddr, livelink: SocketAddr, plugin: SocketAddr) -> Child {
    Command::new(workspace_binary("goassist-render-bridge"))
        .env("BRIDGE_INGEST_ADDR", ingest.to_string())
        .env("BRIDGE_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("BRIDGE_LIVELINK_ADDRS", livelink.to_string())
        .env("BRIDGE_PLUGIN_ADDR", plugin.to_string())
        .env("BRIDGE_KEY", BRIDGE_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start goassist-render-bridge")
}

/// Datagrams with their arrival times, shared with the thread that records them.
type Arrivals = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// Every datagram arriving on `socket`, with its arrival time, until the test ends.
fn record_datagrams(socket: UdpSocket) -> Arrivals {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 16_384];
        // The test process exits when the test ends; until then, keep listening.
        while Arc::strong_count(&out) > 1 {
            if let Ok(n) = socket.recv(&mut buf) {
                out.lock()
                    .unwrap()
                    .push((Instant::now(), buf[..n].to_vec()));
            }
        }
    });
    seen
}

fn done_count(r: &Recording) -> usize {
    r.events
        .iter()
        .filter(|e| e.data.contains("\"assistant_done\""))
        .count()
}

/// The largest interval between consecutive received audio packets within `[from, to]`.
fn max_gap(r: &Recording, from: Instant, to: Instant) -> Duration {
    let times: Vec<Instant> = r
        .audio
        .iter()
        .map(|a| a.at)
        .filter(|t| *t >= from && *t <= to)
        .collect();
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// (observations, observations above 2 × the packet time) of the server's speech-packet
/// pacing histogram.
fn send_intervals(server: &Server) -> (u64, u64) {
    let (_, text) = http_get(server.port, "/metrics").expect("metrics");
    let value = |line_start: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{line_start} missing from /metrics")) as u64
    };
    let total = value("goassist_audio_send_interval_seconds_count");
    let within = value("goassist_audio_send_interval_seconds_bucket{le=\"0.04\"}");
    (total, total - within)
}

/// Asks the question; returns (when its last sample went out, time to first answer audio).
async fn ask(client: &VoiceClient, question: &[f32], rate: u32) -> (Instant, Duration) {
    let (_, end) = client
        .send_audio(question, rate)
        .expect("queue the question");
    client.send_audio_48k(vec![0.0; 48_000 * 2]);
    assert!(client.wait_sent(end, Duration::from_secs(60)).await);
    let asked_at = Instant::now();
    assert!(
        client
            .wait_for(Duration::from_secs(60), |r| first_voiced_after(r, asked_at)
                .is_some())
            .await,
        "no spoken answer within 60 s"
    );
    let answered_at = client.inspect(|r| first_voiced_after(r, asked_at)).unwrap();
    (asked_at, answered_at - asked_at)
}

async fn wait_done(client: &VoiceClient, before: usize) {
    assert!(
        client
            .wait_for(Duration::from_secs(90), |r| done_count(r) > before)
            .await,
        "the answer did not finish within 90 s"
    );
}

#[test]
fn killing_the_render_bridge_mid_answer_leaves_the_voice_untouched() {
    let (question, rate) = read_wav(&models_dir().join("speech/jfk.wav"));
    let livelink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let plugin = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (livelink_addr, plugin_addr) =
        (livelink.local_addr().unwrap(), plugin.local_addr().unwrap());
    let ingest: SocketAddr = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap();
    let livelink_seen = record_datagrams(livelink);
    let plugin_seen = record_datagrams(plugin);

    let mut bridge = start_bridge(ingest, livelink_addr, plugin_addr);
    let mut server = Server::start(&[
        ("RENDER_BRIDGE_ADDR", ingest.to_string()),
        ("RENDER_BRIDGE_SEND_AUDIO", "true".into()),
        ("RENDER_BRIDGE_KEY", BRIDGE_KEY.into()),
        ("ANIMATION_ENABLED", "true".into()),
        ("ANIMATION_ENGINE", "lam".into()),
        ("LLM_MAX_NEW_TOKENS", "60".into()),
        (
            "LLM_SYSTEM_PROMPT",
            "You are a voice assistant. Answer in three or four full sentences.".into(),
        ),
    ]);
    server.wait_ready(Duration::from_secs(180));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let whip = format!("{}/v1/sessions", server.url());
        let client = VoiceClient::connect(&whip).await.expect("WebRTC session");

        // Turn 1, bridge alive: the baseline.
        let (_, ttfa_alive) = ask(&client, &question, rate).await;
        wait_done(&client, 0).await;
        let faces_before = livelink_seen.lock().unwrap().len();
        assert!(faces_before > 30, "Live Link flowed with the bridge up ({faces_before})");

        // Turn 2: the bridge dies as the question ends, comes back while the answer plays.
        let (_, end) = client.send_audio(&question, rate).unwrap();
        client.send_audio_48k(vec![0.0; 48_000 * 2]);
        assert!(client.wait_sent(end, Duration::from_secs(60)).await);
        let intervals_alive = send_intervals(&server);
        bridge.kill().expect("SIGKILL the bridge"); // Child::kill is SIGKILL on Unix
        let _ = bridge.wait();
        let killed_at = Instant::now();
        assert!(
            client
                .wait_for(Duration::from_secs(60), |r| first_voiced_after(r, killed_at)
                    .is_some())
                .await,
            "no spoken answer with the bridge dead"
        );
        let answered_at = client.inspect(|r| first_voiced_after(r, killed_at)).unwrap();
        let ttfa_dead = answered_at - killed_at;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let restarted_at = Instant::now();
        bridge = start_bridge(ingest, livelink_addr, plugin_addr);
        wait_done(&client, 1).await;
        let done_at = Instant::now();
        let intervals_all = send_intervals(&server);
        let turn2 = (
            intervals_all.0 - intervals_alive.0,
            intervals_all.1 - intervals_alive.1,
        );

        let recording = client.snapshot();
        let gap_alive = max_gap(&recording, recording.connected_at.unwrap(), killed_at);
        let gap_during = max_gap(&recording, killed_at, done_at);
        let livelink = livelink_seen.lock().unwrap().clone();
        let outage = livelink
            .iter()
            .filter(|(t, _)| *t > killed_at + Duration::from_millis(50) && *t < restarted_at)
            .count();
        let resumed = livelink
            .iter()
            .find(|(t, _)| *t > restarted_at)
            .map(|(t, _)| *t - restarted_at);
        // Frames are released on the audio clock, not in the burst the engine computes them in.
        let paced = resumed.map(|r| {
            let from = restarted_at + r;
            livelink
                .iter()
                .filter(|(t, _)| *t >= from && *t < from + Duration::from_secs(1))
                .count()
        });
        let voiced_chunks = plugin_seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, bytes)| BridgeDatagram::decode(bytes).ok())
            .filter_map(|d| d.audio)
            .filter(|a| {
                let pcm: Vec<f32> = a.iter().map(|s| f32::from(*s) / 32768.0).collect();
                rms(&pcm) > 0.01
            })
            .count();
        eprintln!(
            "TTFA (client: question sent → first voiced packet): bridge alive {ttfa_alive:?}, \
             bridge dead {ttfa_dead:?}; server speech packets over 2 × {PACKET:?} apart: \
             {} of {} with the bridge alive, {} of {} across kill and restart; client-side max \
             arrival gap: alive {gap_alive:?}, across kill and restart {gap_during:?}; Live Link datagrams during the outage {outage}, resumed \
             {resumed:?} after restart ({paced:?} in the second after); voiced audio chunks on the plugin stream {voiced_chunks}",
            intervals_alive.1, intervals_alive.0, turn2.1, turn2.0
        );

        assert!(turn2.0 > 100, "the answer's packets were timed ({turn2:?})");
        assert_eq!(
            turn2.1, 0,
            "the server's speech packets had {} gaps over {:?} while the bridge was killed and \
             restarted",
            turn2.1,
            2 * PACKET
        );
        assert!(
            ttfa_dead < ttfa_alive * 2,
            "TTFA with the bridge dead ({ttfa_dead:?}) is far from the baseline ({ttfa_alive:?})"
        );
        assert_eq!(outage, 0, "the bridge was really dead");
        let resumed = resumed.expect("Live Link resumed after the restart");
        assert!(resumed < Duration::from_secs(1), "Live Link resumed after {resumed:?}");
        let paced = paced.unwrap();
        assert!(
            (10..=45).contains(&paced),
            "{paced} Live Link frames in one second at 30 fps: not paced by the audio"
        );
        assert!(
            voiced_chunks > 30,
            "the plugin stream carried the assistant's voice ({voiced_chunks} voiced chunks)"
        );
        let logs = server.logs();
        assert!(!logs.contains("panicked"), "the server panicked:\n{logs}");
    });
    let _ = bridge.kill();
    let _ = bridge.wait();
}
