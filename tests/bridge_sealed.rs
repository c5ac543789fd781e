//! The inference server's render link and the real render-bridge process with one shared key
//! (`RENDER_BRIDGE_KEY` = `BRIDGE_KEY`): sealed frames flow to Live Link; a link with another key
//! and a link with none are refused (`bad_mac`) while the keyed one keeps flowing. No models.
//!
//! Needs the bridge binary built (`cargo build --workspace`; `cargo test --workspace` builds it).

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use goassist_e2e::{free_port, http_get, workspace_binary};
use goassist_inference::render_link::RenderLink;
use goassist_protocol::FaceFrame;
use goassist_protocol::arkit::CurveIndex;
use goassist_protocol::bridge_auth::BridgeKey;
use goassist_protocol::livelink::LiveLinkPacket;

const KEY: &str = "4f2a9c1e7b3d5f6081a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708";

/// The bridge, killed on drop.
struct BridgeProcess(Child);

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn frame(session: u64, seq: u32, jaw: f32) -> FaceFrame {
    let mut f = FaceFrame::neutral(session, 1, seq, u64::from(seq) * 800);
    f.values[CurveIndex::JAW_OPEN] = jaw;
    f
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// Waits (bounded) until `cond` holds on the bridge's metrics text; returns the last text.
fn wait_metrics(port: u16, limit: Duration, cond: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = http_get(port, "/metrics")
            .map(|(_, t)| t)
            .unwrap_or_default();
        if cond(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sealed_frames_flow_from_the_render_link_to_the_keyed_bridge_and_others_are_refused() {
    let livelink = UdpSocket::bind("127.0.0.1:0").unwrap();
    livelink
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let ingest: SocketAddr = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap();
    let http = free_port();
    let _bridge = BridgeProcess(
        Command::new(workspace_binary("goassist-render-bridge"))
            .env("BRIDGE_INGEST_ADDR", ingest.to_string())
            .env("BRIDGE_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env(
                "BRIDGE_LIVELINK_ADDRS",
                livelink.local_addr().unwrap().to_string(),
            )
            .env("BRIDGE_KEY", KEY)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("start goassist-render-bridge"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(http, "/readyz").map(|(s, _)| s) != Some(200) {
        assert!(Instant::now() < deadline, "the bridge did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The inference side, as services.rs builds it from RENDER_BRIDGE_KEY.
    let keyed = RenderLink::new_with_key(ingest, 64, Some(BridgeKey::parse(KEY).unwrap()));
    let wrong_key = BridgeKey::from_bytes(&[0x11; 32]).unwrap();
    let forger = RenderLink::new_with_key(ingest, 64, Some(wrong_key)).with_avatar(2);
    let unkeyed = RenderLink::new(ingest, 64).with_avatar(3);
    for seq in 0..10 {
        forger.try_send(&frame(0xF0, seq, 0.9), None).unwrap();
        unkeyed.try_send(&frame(0xF1, seq, 0.9), None).unwrap();
    }
    // Every refused datagram is counted before the keyed link starts, so whatever reaches Live
    // Link afterwards can only be the keyed link's.
    let text = wait_metrics(http, Duration::from_secs(10), |t| {
        metric(
            t,
            "goassist_bridge_datagrams_refused_total{reason=\"bad_mac\"}",
        ) >= 20.0
    });
    assert_eq!(
        metric(
            &text,
            "goassist_bridge_datagrams_refused_total{reason=\"bad_mac\"}"
        ),
        20.0,
        "{text}"
    );
    assert_eq!(metric(&text, "goassist_bridge_frames_in_total"), 0.0);

    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    for seq in 0..30u32 {
        let jaw = 0.02 * seq as f32;
        keyed.try_send(&frame(0xAB, seq, jaw), None).unwrap();
        let n = livelink
            .recv(&mut buf)
            .expect("a sealed frame reaches Live Link");
        let p = LiveLinkPacket::decode(&buf[..n]).unwrap();
        assert_eq!(p.subject, "GoAssist_0");
        // Each frame is sent once the previous one came out, ahead of its audio clock: early
        // frames re-anchor the bridge's lag clock, none is dropped.
        seen.push(p.values[CurveIndex::JAW_OPEN]);
    }
    for (seq, jaw) in seen.iter().enumerate() {
        assert!((jaw - 0.02 * seq as f32).abs() < 1e-3, "frame {seq}: {jaw}");
    }
    let text = wait_metrics(http, Duration::from_secs(5), |t| {
        metric(t, "goassist_bridge_frames_in_total") >= 30.0
    });
    assert_eq!(
        metric(&text, "goassist_bridge_frames_in_total"),
        30.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "goassist_bridge_avatars_created_total"),
        1.0,
        "neither the forger nor the unkeyed link created an avatar"
    );
    for reason in ["replayed", "stale"] {
        let series = format!("goassist_bridge_datagrams_refused_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&text, &series), 0.0, "{reason}: {text}");
    }
    assert_eq!(keyed.dropped(), 0);
}
