//! The bridge over real loopback UDP and HTTP: frames in, Live Link Face v6 / native stream /
//! VMC out on arrival, epochs, malformed packets, slow-freeze, health and metrics.

mod common;

use std::time::{Duration, Instant};

use common::*;
use goassist_protocol::arkit::CurveIndex;
use goassist_protocol::bridge_stream::{self, BridgeDatagram};
use goassist_protocol::livelink::LiveLinkPacket;
use goassist_protocol::{FaceFrame, vmc};
use goassist_render_bridge::Bridge;

#[test]
fn frames_fan_out_to_every_output_and_bad_input_is_counted() {
    let livelink_a = listener(Duration::from_secs(2));
    let livelink_b = listener(Duration::from_secs(2));
    let plugin = listener(Duration::from_secs(2));
    let vmc_rx = listener(Duration::from_secs(2));
    let cfg = config(&[
        (
            "BRIDGE_LIVELINK_ADDRS",
            format!(
                "{},{}",
                livelink_a.local_addr().unwrap(),
                livelink_b.local_addr().unwrap()
            ),
        ),
        (
            "BRIDGE_PLUGIN_ADDR",
            plugin.local_addr().unwrap().to_string(),
        ),
        ("BRIDGE_VMC_ADDR", vmc_rx.local_addr().unwrap().to_string()),
        ("BRIDGE_DEVICE_ID", "GA-test".into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    assert!(wait_for(Duration::from_secs(5), || http_get(
        bridge.http_addr,
        "/readyz"
    )
    .0 == 200));
    let sender = listener(Duration::from_secs(1));

    // Garbage first: counted, and the bridge keeps serving.
    for junk in [&b""[..], b"hello", &[0xB5; 158], &[0xB5; 9000]] {
        sender.send_to(junk, bridge.ingest_addr).unwrap();
    }

    let audio: Vec<i16> = (0..800).map(|i| (i * 7) as i16).collect();
    let f = frame(0xABCD, 3, 1, 0.5);
    send(&sender, bridge.ingest_addr, 7, &f, Some(&audio));
    let expected = FaceFrame::decode(&f.encode()).unwrap().values;

    for rx in [&livelink_a, &livelink_b] {
        let bytes = recv(rx).expect("live link packet");
        let p = LiveLinkPacket::decode(&bytes).unwrap();
        assert_eq!((p.device_id, p.subject), ("GA-test", "GoAssist_7"));
        assert_eq!(p.values, expected);
        assert_eq!(p.time.frame, 1, "sample 800 at 60 fps");
    }
    let native = BridgeDatagram::decode(&recv(&plugin).expect("plugin datagram")).unwrap();
    assert_eq!((native.avatar_id, native.frame.epoch), (7, 3));
    assert_eq!(native.frame.session_id, 0xABCD);
    assert_eq!(native.audio.as_deref(), Some(&audio[..]));
    assert_eq!(native.frame.values, expected);
    let v = vmc::decode(&recv(&vmc_rx).expect("vmc bundle")).unwrap();
    assert!(v.applied);
    assert!(
        v.blend
            .contains(&(CurveIndex::JAW_OPEN, expected[CurveIndex::JAW_OPEN]))
    );

    // An older epoch is dropped; a newer one flows.
    send(
        &sender,
        bridge.ingest_addr,
        7,
        &frame(0xABCD, 2, 2, 0.9),
        None,
    );
    send(
        &sender,
        bridge.ingest_addr,
        7,
        &frame(0xABCD, 4, 3, 0.9),
        None,
    );
    let p_bytes = recv(&livelink_a).unwrap();
    let p = LiveLinkPacket::decode(&p_bytes).unwrap();
    assert!((p.values[CurveIndex::JAW_OPEN] - 0.9).abs() < 1e-4);

    let (status, text) = http_get(bridge.http_addr, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(
        metric(&text, "goassist_bridge_malformed_packets_total"),
        Some(4.0)
    );
    assert_eq!(metric(&text, "goassist_bridge_frames_in_total"), Some(7.0));
    assert_eq!(
        metric(
            &text,
            "goassist_bridge_frames_dropped_total{reason=\"stale_epoch\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "goassist_bridge_frames_out_total{output=\"livelink\"}"
        ),
        Some(4.0),
        "two frames to two targets"
    );
    assert_eq!(
        metric(&text, "goassist_bridge_ingest_to_emit_seconds_count"),
        Some(2.0)
    );
    assert_eq!(http_get(bridge.http_addr, "/healthz").0, 200);
    assert_eq!(http_get(bridge.http_addr, "/nope").0, 404);
    bridge.stop().unwrap();
}

#[test]
fn a_silent_subject_eases_to_neutral_on_the_wire_then_goes_quiet() {
    let livelink = listener(Duration::from_millis(100));
    let cfg = config(&[
        (
            "BRIDGE_LIVELINK_ADDRS",
            livelink.local_addr().unwrap().to_string(),
        ),
        ("ANIMATION_SLOW_FREEZE_MS", "200".into()),
        ("BRIDGE_STALL_MS", "50".into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    let sender = listener(Duration::from_secs(1));
    send(&sender, bridge.ingest_addr, 1, &frame(9, 1, 0, 0.8), None);
    // Event-driven: read until the final neutral frame, for at most 3 s.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut jaws: Vec<f32> = Vec::new();
    while jaws.last() != Some(&0.0) && Instant::now() < deadline {
        if let Some(bytes) = recv(&livelink) {
            jaws.push(LiveLinkPacket::decode(&bytes).unwrap().values[CurveIndex::JAW_OPEN]);
        }
    }
    assert_eq!(jaws.last(), Some(&0.0), "ends neutral: {jaws:?}");
    assert!(jaws[0] > 0.79, "the live frame first: {jaws:?}");
    assert!(jaws.len() >= 6, "several eased frames: {jaws:?}");
    assert!(jaws.windows(2).all(|w| w[1] <= w[0]), "monotone: {jaws:?}");
    assert!(
        jaws[1..jaws.len() - 1].iter().any(|&j| j > 0.1 && j < 0.7),
        "eases: {jaws:?}"
    );
    // Then quiet: nothing more in the next 200 ms (an absence needs a window).
    assert!(recv_until(&livelink, Instant::now() + Duration::from_millis(200)).is_empty());
    let text = http_get(bridge.http_addr, "/metrics").1;
    assert_eq!(
        metric(&text, "goassist_animation_slow_freeze_total"),
        Some(1.0)
    );
    assert!(
        wait_for(Duration::from_secs(2), || {
            let text = http_get(bridge.http_addr, "/metrics").1;
            metric(&text, "goassist_bridge_active_subjects") == Some(0.0)
                && metric(&text, "goassist_bridge_avatars") == Some(1.0)
        }),
        "quiet, but still remembered"
    );
    bridge.stop().unwrap();
}

#[test]
fn many_pods_many_subjects() {
    let livelink = listener(Duration::from_millis(300));
    let cfg = config(&[
        (
            "BRIDGE_LIVELINK_ADDRS",
            livelink.local_addr().unwrap().to_string(),
        ),
        ("BRIDGE_SUBJECT_PATTERN", "Pod_{avatar}_{session}".into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    // Three "pods", each its own socket, two sessions each.
    let pods: Vec<_> = (0..3).map(|_| listener(Duration::from_secs(1))).collect();
    for (p, pod) in pods.iter().enumerate() {
        for s in 0..2u64 {
            send(
                pod,
                bridge.ingest_addr,
                p as u32,
                &frame(0x100 + s, 1, 0, 0.3),
                None,
            );
        }
    }
    let mut subjects: Vec<String> =
        recv_until(&livelink, Instant::now() + Duration::from_millis(500))
            .iter()
            .map(|b| LiveLinkPacket::decode(b).unwrap().subject.to_string())
            .collect();
    subjects.sort();
    subjects.dedup(); // each also eases to neutral after the stall
    assert_eq!(
        subjects,
        [
            "Pod_0_100",
            "Pod_0_101",
            "Pod_1_100",
            "Pod_1_101",
            "Pod_2_100",
            "Pod_2_101"
        ]
    );
    bridge.stop().unwrap();
}

/// Two real senders on loopback, 127.0.0.1 and 127.0.0.2 (Linux routes all of 127/8 to `lo`),
/// only the first allowed: the other's datagrams are dropped undecoded and counted, while the
/// allowed one's frames reach Live Link.
#[test]
fn a_sender_not_on_the_allow_list_is_refused_and_counted() {
    let livelink = listener(Duration::from_secs(2));
    let cfg = config(&[
        (
            "BRIDGE_LIVELINK_ADDRS",
            livelink.local_addr().unwrap().to_string(),
        ),
        ("BRIDGE_ALLOWED_SENDERS", "127.0.0.1".into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    let allowed = listener(Duration::from_secs(1));
    let stranger = std::net::UdpSocket::bind("127.0.0.2:0")
        .expect("bind 127.0.0.2 (Linux routes all of 127.0.0.0/8 to lo)");
    // The stranger first, as a new avatar (2) and as the allowed pod's avatar (1): neither may
    // create an avatar or move a face.
    for seq in 0..5 {
        send(
            &stranger,
            bridge.ingest_addr,
            2,
            &frame(0xBAD, 1, seq, 0.9),
            None,
        );
        send(
            &stranger,
            bridge.ingest_addr,
            1,
            &frame(0xA, 1, seq, 0.9),
            None,
        );
    }
    send(
        &allowed,
        bridge.ingest_addr,
        1,
        &frame(0xA, 1, 0, 0.4),
        None,
    );
    // The loop handles datagrams in arrival order, so had any of the stranger's been accepted
    // its packets would come first.
    let first = recv(&livelink).expect("the allowed sender's frame reaches Live Link");
    let p = LiveLinkPacket::decode(&first).unwrap();
    assert_eq!(p.subject, "GoAssist_1");
    assert!(
        (p.values[CurveIndex::JAW_OPEN] - 0.4).abs() < 1e-3,
        "the allowed sender's pose, not the stranger's: {}",
        p.values[CurveIndex::JAW_OPEN]
    );
    let (_, text) = http_get(bridge.http_addr, "/metrics");
    assert_eq!(
        metric(
            &text,
            "goassist_bridge_datagrams_refused_total{reason=\"sender_not_allowed\"}"
        ),
        Some(10.0),
        "{text}"
    );
    assert_eq!(metric(&text, "goassist_bridge_frames_in_total"), Some(1.0));
    assert_eq!(
        metric(&text, "goassist_bridge_avatars_created_total"),
        Some(1.0)
    );
    bridge.stop().unwrap();
}

/// With BRIDGE_KEY, an allowed address is not enough: over real UDP from 127.0.0.1 (allowed),
/// an unsealed datagram, one sealed with another key and a sealed one altered in flight are
/// refused as `bad_mac`, a resent one as `replayed`, one sealed a minute ago as `stale`; none
/// creates an avatar or moves a face, and the correctly sealed frames reach Live Link.
#[test]
fn a_forged_or_replayed_datagram_from_an_allowed_sender_is_refused_and_counted() {
    use goassist_protocol::bridge_auth::{BridgeKey, Sealer};
    let key_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let key = BridgeKey::parse(key_hex).unwrap();
    let livelink = listener(Duration::from_secs(2));
    let cfg = config(&[
        (
            "BRIDGE_LIVELINK_ADDRS",
            livelink.local_addr().unwrap().to_string(),
        ),
        ("BRIDGE_ALLOWED_SENDERS", "127.0.0.1".into()),
        ("BRIDGE_KEY", key_hex.into()),
    ]);
    let bridge = Bridge::bind(cfg).unwrap().spawn().unwrap();
    let pod = listener(Duration::from_secs(1));
    let to = bridge.ingest_addr;

    // Unsealed, as an inference server without RENDER_BRIDGE_KEY sends it.
    send(&pod, to, 1, &frame(0xA, 1, 0, 0.9), None);
    // Sealed with another key.
    let mut stranger = Sealer::new(BridgeKey::from_bytes(&[9; 32]).unwrap(), 0xBAD);
    send_sealed(
        &pod,
        to,
        &mut stranger,
        unix_ms(),
        2,
        &frame(0xBAD, 1, 0, 0.9),
    );
    // Sealed with the key, then altered: the jaw raised after sealing.
    let mut real = Sealer::new(key.clone(), 0x600D);
    let mut altered = bridge_stream::encode(1, &frame(0xA, 1, 0, 0.4), None).unwrap();
    real.seal(&mut altered, unix_ms());
    let frame_bytes = frame(0xA, 1, 0, 0.9).encode();
    altered[bridge_stream::HEADER_LEN..bridge_stream::FACE_ONLY_LEN].copy_from_slice(&frame_bytes);
    pod.send_to(&altered, to).unwrap();
    // The real one.
    let first = send_sealed(&pod, to, &mut real, unix_ms(), 1, &frame(0xA, 1, 1, 0.4));
    let bytes = recv(&livelink).expect("the sealed frame reaches Live Link");
    let p = LiveLinkPacket::decode(&bytes).unwrap();
    assert_eq!(p.subject, "GoAssist_1");
    assert!(
        (p.values[CurveIndex::JAW_OPEN] - 0.4).abs() < 1e-3,
        "the sealed pose, not a forged one: {}",
        p.values[CurveIndex::JAW_OPEN]
    );

    // Replayed: the same bytes again. Stale: a new counter, sealed a minute ago.
    pod.send_to(&first, to).unwrap();
    send_sealed(
        &pod,
        to,
        &mut real,
        unix_ms() - 60_000,
        1,
        &frame(0xA, 1, 2, 0.9),
    );
    // The next real frame goes through, after both (the loop keeps arrival order).
    send_sealed(&pod, to, &mut real, unix_ms(), 1, &frame(0xA, 1, 3, 0.6));
    let bytes = recv(&livelink).expect("the next sealed frame");
    let p = LiveLinkPacket::decode(&bytes).unwrap();
    assert!((p.values[CurveIndex::JAW_OPEN] - 0.6).abs() < 1e-3);

    let (_, text) = http_get(bridge.http_addr, "/metrics");
    let refused = |reason: &str| {
        metric(
            &text,
            &format!("goassist_bridge_datagrams_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(refused("bad_mac"), Some(3.0), "{text}");
    assert_eq!(refused("replayed"), Some(1.0), "{text}");
    assert_eq!(refused("stale"), Some(1.0), "{text}");
    assert_eq!(refused("sender_not_allowed"), Some(0.0), "{text}");
    assert_eq!(metric(&text, "goassist_bridge_frames_in_total"), Some(2.0));
    assert_eq!(
        metric(&text, "goassist_bridge_malformed_packets_total"),
        Some(0.0)
    );
    assert_eq!(
        metric(&text, "goassist_bridge_avatars_created_total"),
        Some(1.0),
        "no avatar for the stranger's avatar id 2"
    );
    bridge.stop().unwrap();
}
