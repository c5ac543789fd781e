//! Routing over real loopback UDP and HTTP: eight sessions, each from its own socket, drive
//! eight subjects on two "Unreal instances" (two Live Link receivers) and the plugin stream.
//! Four routes come from `BRIDGE_ROUTES`, four are set through the authenticated admin API
//! while the bridge runs; every packet must land on its own subject, on its own instance, and
//! nowhere else.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use goassist_protocol::arkit::CurveIndex;
use goassist_protocol::bridge_stream::BridgeDatagram;
use goassist_protocol::livelink::LiveLinkPacket;
use goassist_render_bridge::Bridge;

const TOKEN: &str = "routing-test-token-6f1c";
const SESSIONS: u64 = 8;
const FRAMES: u32 = 30;

fn session_id(i: u64) -> u64 {
    0x5E55_0000_0000_0000 + i
}

/// The jaw value that identifies session `i` in every frame it sends.
fn jaw_of(i: u64) -> f32 {
    (i as f32 + 1.0) / 10.0
}

/// Which session a received jaw value belongs to (values go through 16-bit quantization).
fn session_of(jaw: f32) -> u64 {
    (jaw * 10.0 - 1.0).round() as u64
}

#[test]
fn eight_sessions_drive_eight_subjects_over_real_udp() {
    let ue1 = listener(Duration::from_millis(200));
    let ue2 = listener(Duration::from_millis(200));
    let plugin = listener(Duration::from_millis(200));
    // Sessions 0..4 by configuration; session i drives Face{i} on ue1 (even) or ue2 (odd),
    // and sessions 0 and 1 also on the plugin stream.
    let configured: Vec<String> = (0..4)
        .map(|i| {
            let extra = if i < 2 { "+plugin0" } else { "" };
            format!("session:{:x}=Face{i}@ue{}{extra}", session_id(i), 1 + i % 2)
        })
        .collect();
    let cfg = config(&[
        (
            "BRIDGE_LIVELINK_ADDRS",
            format!(
                "ue1={},ue2={}",
                ue1.local_addr().unwrap(),
                ue2.local_addr().unwrap()
            ),
        ),
        (
            "BRIDGE_PLUGIN_ADDR",
            plugin.local_addr().unwrap().to_string(),
        ),
        ("BRIDGE_ROUTES", configured.join(",")),
        ("BRIDGE_ADMIN_TOKEN", TOKEN.into()),
        ("BRIDGE_MAX_AVATARS", "8".into()),
        // No easing during the test: every packet out is a frame that came in.
        ("BRIDGE_STALL_MS", "10000".into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    assert!(wait_for(Duration::from_secs(5), || http_get(
        bridge.http_addr,
        "/readyz"
    )
    .0 == 200));

    // Sessions 4..8 through the admin API; a wrong token changes nothing.
    let body = r#"{"subject":"Intruder","targets":["ue1"]}"#;
    let path = format!("/admin/routes/sessions/{:016x}", session_id(4));
    assert_eq!(
        http(bridge.http_addr, "PUT", &path, Some("wrong-token"), body).0,
        401
    );
    for i in 4..SESSIONS {
        let body = format!(r#"{{"subject":"Face{i}","targets":["ue{}"]}}"#, 1 + i % 2);
        let path = format!("/admin/routes/sessions/{:016x}", session_id(i));
        let (status, answer) = http(bridge.http_addr, "PUT", &path, Some(TOKEN), &body);
        assert_eq!(status, 200, "{answer}");
    }
    let (status, view) = http(bridge.http_addr, "GET", "/admin/routes", Some(TOKEN), "");
    assert_eq!(status, 200);
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["routes"].as_array().unwrap().len(), 8, "{view}");
    assert!(!view.to_string().contains("Intruder"));

    // Eight senders, interleaved, each frame tagged with its session (jaw) and seq (blink).
    let senders: Vec<_> = (0..SESSIONS)
        .map(|_| listener(Duration::from_secs(1)))
        .collect();
    for seq in 0..FRAMES {
        for (i, sender) in senders.iter().enumerate() {
            let mut f = frame(session_id(i as u64), 1, seq, jaw_of(i as u64));
            f.values[CurveIndex::EYE_BLINK_LEFT] = seq as f32 / 100.0;
            send(sender, bridge.ingest_addr, 0, &f, None);
        }
    }

    // Event-driven: receive until every expected packet is in, for at most 10 s.
    let expected_livelink = (SESSIONS * u64::from(FRAMES)) as usize;
    let expected_plugin = 2 * FRAMES as usize;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut by_subject: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut on_plugin: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut livelink_count = 0;
    let mut plugin_count = 0;
    while (livelink_count < expected_livelink || plugin_count < expected_plugin)
        && Instant::now() < deadline
    {
        for (instance, socket) in [(1u64, &ue1), (2, &ue2)] {
            while let Some(bytes) = recv_nowait(socket) {
                let p = LiveLinkPacket::decode(&bytes).unwrap();
                let i = session_of(p.values[CurveIndex::JAW_OPEN]);
                assert_eq!(
                    p.subject,
                    format!("Face{i}"),
                    "session {i} on its own subject"
                );
                assert_eq!(instance, 1 + i % 2, "Face{i} on its own instance");
                let seq = (p.values[CurveIndex::EYE_BLINK_LEFT] * 100.0).round() as u32;
                by_subject
                    .entry(p.subject.to_string())
                    .or_default()
                    .push(seq);
                livelink_count += 1;
            }
        }
        while let Some(bytes) = recv_nowait(&plugin) {
            let d = BridgeDatagram::decode(&bytes).unwrap();
            let subject = d
                .subject
                .expect("routed subjects are named on the plugin stream");
            let i = d.frame.session_id - session_id(0);
            assert!(i < 2, "only sessions 0 and 1 are routed to the plugin");
            assert_eq!(subject, format!("Face{i}"));
            let seq = (d.frame.values[CurveIndex::EYE_BLINK_LEFT] * 100.0).round() as u32;
            on_plugin.entry(subject).or_default().push(seq);
            plugin_count += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let all: Vec<u32> = (0..FRAMES).collect();
    assert_eq!(by_subject.len(), 8, "{by_subject:?}");
    for (subject, seqs) in &by_subject {
        assert_eq!(seqs, &all, "{subject}: every frame, once, in order");
    }
    for (subject, seqs) in &on_plugin {
        assert_eq!(seqs, &all, "plugin {subject}");
    }
    assert_eq!(on_plugin.len(), 2);

    // A ninth session is over BRIDGE_MAX_AVATARS: refused and counted, the others unharmed.
    let ninth = listener(Duration::from_secs(1));
    for seq in 0..3 {
        send(
            &ninth,
            bridge.ingest_addr,
            0,
            &frame(0x99, 1, seq, 0.9),
            None,
        );
    }
    assert!(wait_for(Duration::from_secs(5), || {
        let text = http_get(bridge.http_addr, "/metrics").1;
        metric(
            &text,
            "goassist_bridge_frames_dropped_total{reason=\"subject_limit\"}",
        ) == Some(3.0)
    }));
    let text = http_get(bridge.http_addr, "/metrics").1;
    assert_eq!(
        metric(&text, "goassist_bridge_avatars_created_total"),
        Some(8.0)
    );
    bridge.stop().unwrap();
}

/// Receives one datagram if one is queued.
fn recv_nowait(socket: &std::net::UdpSocket) -> Option<Vec<u8>> {
    socket.set_nonblocking(true).ok()?;
    let got = recv(socket);
    socket.set_nonblocking(false).ok()?;
    got
}
