//! Audio and data flow both ways between the endpoint and the Rust client over real UDP on
//! 127.0.0.1: tones keep their frequency through Opus, packets follow the 48 kHz RTP clock,
//! and the data channels carry text and binary.

mod common;

use std::time::Duration;

use common::*;
use goassist_inference::webrtc::{PeerEvent, WebRtcEndpoint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tone_reaches_the_server_and_the_client() {
    let endpoint = WebRtcEndpoint::new(loopback_settings(10));
    let (client, mut peer) = connect(&endpoint).await;
    wait_connected(&mut peer).await;

    // Client → server: one second of 440 Hz as microphone audio.
    let (_, mic_end) = client.send_audio_48k(tone(440.0, 0.5, 48_000, 0));
    // Server → client: one second of 880 Hz as assistant audio.
    let (paced, mut sent) = pace(&peer, 5);
    let start = paced.push_audio(1, 42, tone(880.0, 0.5, 48_000, 0));
    assert!(
        start + 960 >= paced.send_position(),
        "starts at the next packet"
    );

    let mut heard = Vec::new();
    let mut sent_spans = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while heard.len() < 60_000 || sent_spans.iter().map(|(_, n)| n).sum::<usize>() < 48_000 {
        tokio::select! {
            event = tokio::time::timeout_at(deadline, peer.events.recv()) => match event {
                Ok(Some(PeerEvent::AudioIn { samples_48k, .. })) => heard.extend(samples_48k),
                Ok(Some(PeerEvent::Disconnected { reason })) => panic!("disconnected: {reason}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            },
            Some(span) = sent.recv() => {
                assert_eq!((span.epoch, span.marker), (1, 42));
                sent_spans.push((span.sample_pos, span.samples));
            }
        }
    }
    assert!(client.wait_sent(mic_end, Duration::from_secs(3)).await);

    // The server decoded the client's tone.
    let (a, b) = loud_span(&heard, 0.1).expect("server heard the tone");
    let f = zero_crossing_freq(&heard[a + 2400..b - 2400]);
    assert!((f - 440.0).abs() < 5.0, "server heard {f} Hz");

    // The sent spans tile the chunk exactly, starting where push_audio promised.
    assert_eq!(sent_spans.first().unwrap().0, start);
    let mut pos = start;
    for (p, n) in &sent_spans {
        assert_eq!(*p, pos, "spans are contiguous");
        pos += *n as u64;
    }
    assert_eq!(pos, start + 48_000);

    // The client heard the server's tone at the promised RTP position.
    assert!(
        client
            .wait_for(Duration::from_secs(3), |r| r
                .audio
                .iter()
                .any(|p| p.rtp_timestamp as u64 >= start + 48_000))
            .await
    );
    let rec = client.snapshot();
    let (base, timeline) = rec.audio_timeline();
    let offset = (start - u64::from(base)) as usize;
    let tone_part = &timeline[offset..offset + 48_000];
    let f = zero_crossing_freq(&tone_part[2400..45_600]);
    assert!((f - 880.0).abs() < 5.0, "client heard {f} Hz");
    assert!(rms(&tone_part[2400..45_600]) > 0.25, "tone level kept");
    // Before the promised start there was only silence.
    assert!(rms(&timeline[offset.saturating_sub(4800)..offset.saturating_sub(480)]) < 0.01);

    // Every packet advances the RTP clock by exactly one 20 ms packet.
    for pair in rec.audio.windows(2) {
        let step = pair[1].rtp_timestamp.wrapping_sub(pair[0].rtp_timestamp);
        assert!(
            step % 960 == 0 && step > 0 && step <= 960 * 5,
            "rtp step {step}"
        );
    }

    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_are_paced_on_the_real_time_clock() {
    let endpoint = WebRtcEndpoint::new(loopback_settings(10));
    let (client, mut peer) = connect(&endpoint).await;
    wait_connected(&mut peer).await;
    // 2 s of audio queued at once must take ~2 s to go out (paced), not arrive in a burst.
    let (paced, _sent) = pace(&peer, 5);
    let start = paced.push_audio(0, 0, tone(500.0, 0.3, 96_000, 0));
    let end = start + 96_000;
    assert!(
        client
            .wait_for(Duration::from_secs(5), |r| r
                .audio
                .iter()
                .any(|p| u64::from(p.rtp_timestamp) + 960 >= end))
            .await
    );
    let rec = client.snapshot();
    let in_chunk: Vec<_> = rec
        .audio
        .iter()
        .filter(|p| u64::from(p.rtp_timestamp) >= start && u64::from(p.rtp_timestamp) < end)
        .collect();
    assert!(in_chunk.len() >= 95, "{} of 100 packets", in_chunk.len());
    let spread = in_chunk.last().unwrap().at - in_chunk.first().unwrap().at;
    // 100 packets of 20 ms: ~1.98 s of sending. Generous bounds: a loaded machine may jitter,
    // but a burst (no pacing) would take milliseconds and a stalled clock far longer.
    assert!(
        spread > Duration::from_millis(1500) && spread < Duration::from_millis(3000),
        "{spread:?}"
    );
    // Each packet is exactly one AUDIO_PACKET_MS of samples.
    assert!(in_chunk.iter().all(|p| p.samples_48k.len() == 960));
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_channels_carry_events_and_face_frames() {
    let endpoint = WebRtcEndpoint::new(loopback_settings(10));
    let (client, mut peer) = connect(&endpoint).await;
    // Sent before the channels are open: held and delivered in order once they are.
    peer.handle.send_event(r#"{"type":"hello","n":1}"#.into());
    peer.handle.send_event(r#"{"type":"hello","n":2}"#.into());
    wait_connected(&mut peer).await;
    client.send_event(r#"{"type":"client_hello"}"#.into());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let text = loop {
        match tokio::time::timeout_at(deadline, peer.events.recv()).await {
            Ok(Some(PeerEvent::DataText { channel, text })) => {
                assert_eq!(channel, "events");
                break text;
            }
            Ok(Some(_)) => {}
            other => panic!("no data from the client: {other:?}"),
        }
    };
    assert_eq!(text, r#"{"type":"client_hello"}"#);

    let got = client
        .wait_for(Duration::from_secs(5), |r| r.events.len() >= 2)
        .await;
    assert!(got, "client received the events");
    let events: Vec<String> = client
        .snapshot()
        .events
        .into_iter()
        .map(|m| m.data)
        .collect();
    assert_eq!(
        events[..2],
        [
            r#"{"type":"hello","n":1}"#.to_string(),
            r#"{"type":"hello","n":2}"#.to_string()
        ]
    );

    // Face frames: binary, unordered channel without retransmits; on loopback nearly all arrive.
    // (Both channels opened together, and the events channel has already carried data.)
    for i in 0..20u8 {
        peer.handle.send_face(vec![i; 64]);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        client
            .wait_for(Duration::from_secs(5), |r| r.face.len() >= 15)
            .await,
        "face frames arrive"
    );
    let face = client.snapshot().face;
    assert!(
        face.iter()
            .all(|m| m.data.len() == 64 && m.data.iter().all(|b| *b == m.data[0]))
    );
    client.close().await.unwrap();
}
