//! The UDP port range: one port per peer, a typed error when exhausted, ports reused after a
//! peer ends, and one peer's end leaves the others untouched.

mod common;

use std::time::Duration;

use common::*;
use goassist_inference::webrtc::{PeerEvent, WebRtcEndpoint, WebRtcError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_range_is_a_typed_error_and_ports_come_back() {
    let endpoint = WebRtcEndpoint::new(loopback_settings(2));
    let (client_a, mut peer_a) = connect(&endpoint).await;
    let (client_b, mut peer_b) = connect(&endpoint).await;
    wait_connected(&mut peer_a).await;
    wait_connected(&mut peer_b).await;

    // A third offer finds no port.
    let third = goassist_client::VoiceClient::connect_with({
        let ep = endpoint.clone();
        move |offer| async move {
            ep.accept_offer(&offer)
                .await
                .map(|(answer, _)| answer)
                .map_err(|e| match e {
                    WebRtcError::PortsExhausted { min, max } => {
                        goassist_client::ClientError::Rejected {
                            status: 503,
                            body: format!("{min}..={max}"),
                        }
                    }
                    other => panic!("expected PortsExhausted, got {other:?}"),
                })
        }
    })
    .await;
    assert!(matches!(
        third,
        Err(goassist_client::ClientError::Rejected { status: 503, .. })
    ));

    // Closing peer A ends only A; B keeps streaming.
    peer_a.handle.close();
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(5), peer_a.events.recv()).await {
            Ok(Some(PeerEvent::Disconnected { reason })) => break reason,
            Ok(Some(_)) => {}
            other => panic!("peer A did not end: {other:?}"),
        }
    };
    assert!(reason.contains("closed"), "{reason}");
    let (paced, _sent) = pace(&peer_b, 5);
    let start = paced.push_audio(0, 0, tone(520.0, 0.5, 9_600, 0));
    assert!(
        client_b
            .wait_for(Duration::from_secs(5), |r| r
                .audio
                .iter()
                .any(|p| u64::from(p.rtp_timestamp) >= start + 8_640))
            .await
    );
    let (base, timeline) = client_b.snapshot().audio_timeline();
    let offset = (start - u64::from(base)) as usize;
    assert!((zero_crossing_freq(&timeline[offset + 960..offset + 8_640]) - 520.0).abs() < 10.0);

    // A's port is free again: a new client connects.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (client_c, mut peer_c) = connect(&endpoint).await;
    wait_connected(&mut peer_c).await;
    drop(client_a);
    client_b.close().await.unwrap();
    client_c.close().await.unwrap();
}
