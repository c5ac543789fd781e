//! Bad input never hurts: malformed SDP is a typed error, garbage datagrams at a live peer's
//! port are dropped while its media keeps flowing, and a peer that never connects times out
//! with a reason.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;
use goassist_inference::webrtc::{PeerEvent, WebRtcEndpoint, WebRtcError};
use str0m::Rtc;
use str0m::change::SdpOffer;
use str0m::media::{Direction, MediaKind};

/// A real offer with Opus audio and a data channel, made by a str0m peer that never connects.
fn real_offer(with_audio: bool) -> String {
    let mut rtc = Rtc::builder().build(Instant::now());
    let mut change = rtc.sdp_api();
    if with_audio {
        change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    }
    change.add_channel("events".into());
    let (offer, _pending) = change.apply().expect("an offer");
    offer.to_sdp_string()
}

#[tokio::test]
async fn malformed_sdp_is_a_typed_error() {
    // Prefixes that are still complete offers start peers; give them room.
    let endpoint = WebRtcEndpoint::new(loopback_settings(60));
    let offer = real_offer(true);
    let mut cases: Vec<String> = vec![
        String::new(),
        "hello".into(),
        "v=0\r\n".into(),
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n".into(),
        "\u{0}\u{ffff}garbage\r\nm=audio x y z\r\n".into(),
        offer.replace("a=fingerprint", "a=fingerprunt"),
        offer.replace("a=ice-ufrag", "a=ice-xfrag"),
        offer.replace("m=audio 9", "m=audio notaport"),
    ];
    // Every prefix of a valid offer cut at a line boundary.
    let lines: Vec<&str> = offer.split_inclusive("\r\n").collect();
    for n in 0..lines.len() - 1 {
        cases.push(lines[..n].concat());
    }
    for case in &cases {
        match endpoint.accept_offer(case).await {
            Err(WebRtcError::InvalidSdp(_) | WebRtcError::NoAudioInOffer) => {}
            Ok(_) => {
                // Some prefixes are still complete offers (trailing attributes are optional);
                // those are fine as long as nothing panicked.
            }
            Err(other) => panic!("unexpected error kind {other:?} for {case:?}"),
        }
        // Let dropped peers end and free their ports.
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        endpoint.accept_offer(&real_offer(false)).await,
        Err(WebRtcError::NoAudioInOffer)
    ));
    // The endpoint still accepts a good offer afterwards.
    assert!(endpoint.accept_offer(&offer).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_datagrams_do_not_disturb_a_live_peer() {
    let endpoint = WebRtcEndpoint::new(loopback_settings(10));
    let (client, mut peer) = connect(&endpoint).await;
    wait_connected(&mut peer).await;
    // Find the server's port from the client's view of ICE: the endpoint's range on loopback.
    let (min, max) = (
        endpoint.settings().udp_port_min,
        endpoint.settings().udp_port_max,
    );
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed = 0x1234_5678u32;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut sent = 0;
    for round in 0..400 {
        let len = 1 + (rand() % 300) as usize;
        let mut packet: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
        // Make the first byte look like each protocol str0m demultiplexes on.
        packet[0] = match round % 5 {
            0 => 0x80 | (packet[0] & 0x3f), // RTP/RTCP
            1 => 0x00,                      // STUN
            2 => 0x16,                      // DTLS handshake
            3 => 0x17,                      // DTLS application data
            _ => packet[0],
        };
        if round % 5 == 1 && len >= 20 {
            packet[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes()); // STUN magic cookie
        }
        for port in min..=max {
            let _ = attacker.send_to(&packet, ("127.0.0.1", port));
        }
        sent += 1;
    }
    assert_eq!(sent, 400);

    // Media still flows both ways and the peer is still up.
    let (paced, _sent) = pace(&peer, 5);
    let start = paced.push_audio(0, 0, tone(700.0, 0.5, 24_000, 0));
    let (_, mic_end) = client.send_audio_48k(tone(350.0, 0.5, 24_000, 0));
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while heard.len() < 36_000 {
        match tokio::time::timeout_at(deadline, peer.events.recv()).await {
            Ok(Some(PeerEvent::AudioIn { samples_48k, .. })) => heard.extend(samples_48k),
            Ok(Some(PeerEvent::Disconnected { reason })) => {
                panic!("garbage took the peer down: {reason}")
            }
            Ok(Some(_)) => {}
            other => panic!("no audio after the garbage: {other:?}"),
        }
    }
    let (a, b) = loud_span(&heard, 0.1).expect("server still hears the client");
    assert!((zero_crossing_freq(&heard[a + 1200..b - 1200]) - 350.0).abs() < 6.0);
    assert!(client.wait_sent(mic_end, Duration::from_secs(2)).await);
    assert!(
        client
            .wait_for(Duration::from_secs(3), |r| r
                .audio
                .iter()
                .any(|p| u64::from(p.rtp_timestamp) >= start + 23_040))
            .await
    );
    let (base, timeline) = client.snapshot().audio_timeline();
    let offset = (start - u64::from(base)) as usize;
    assert!((zero_crossing_freq(&timeline[offset + 1200..offset + 22_800]) - 700.0).abs() < 6.0);
    assert!(!peer.handle.is_closed());
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_peer_that_never_connects_times_out() {
    let mut settings = loopback_settings(5);
    settings.connect_timeout = Duration::from_millis(800);
    let endpoint = WebRtcEndpoint::new(settings);
    let (_answer, mut peer) = endpoint.accept_offer(&real_offer(true)).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match peer.events.recv().await {
                Some(PeerEvent::Disconnected { reason }) => return reason,
                Some(_) => {}
                None => return "channel closed without Disconnected".into(),
            }
        }
    })
    .await
    .expect("the peer gives up");
    assert!(event.contains("not established"), "{event}");
    // The port is free again once the peer is gone.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(peer.handle.is_closed());
}

#[test]
fn sdp_parser_sweep_never_panics() {
    // str0m's parser on its own, with byte-level corruption of a real offer.
    let offer = real_offer(true);
    let bytes = offer.as_bytes();
    for i in (0..bytes.len()).step_by(3) {
        let mut bad = bytes.to_vec();
        bad[i] = b"\0 :=\r\n9x"[i % 8];
        if let Ok(text) = String::from_utf8(bad) {
            let _ = SdpOffer::from_sdp_string(&text);
        }
    }
}
