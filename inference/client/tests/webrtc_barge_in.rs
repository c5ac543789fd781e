//! Barge-in over real WebRTC: `interrupt` stops the assistant audio within one packet and
//! nothing of the old epoch is sent afterwards; the new epoch then plays.

mod common;

use std::time::Duration;

use common::*;
use goassist_inference::webrtc::WebRtcEndpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_within_one_packet_and_fences_the_old_epoch() {
    let endpoint = WebRtcEndpoint::new(loopback_settings(10));
    let (client, mut peer) = connect(&endpoint).await;
    wait_connected(&mut peer).await;

    // Three seconds of epoch 1, queued in sentence-sized chunks like TTS output.
    let (paced, mut sent) = pace(&peer, 5);
    let mut start = None;
    for k in 0..6 {
        let s = paced.push_audio(1, k, tone(660.0, 0.5, 24_000, k as usize * 24_000));
        start.get_or_insert(s);
    }
    let start = start.unwrap();

    // Let ~0.5 s play, then barge in.
    let mut sent_before = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sent_before < 24_000 {
        match tokio::time::timeout_at(deadline, sent.recv()).await {
            Ok(Some(span)) => sent_before += span.samples,
            other => panic!("audio never went out: {other:?}"),
        }
    }
    let cut = paced.send_position();
    paced.interrupt(2);
    // A late TTS chunk of the old epoch is refused.
    paced.push_audio(1, 99, tone(660.0, 0.5, 9_600, 0));
    let packet = 960u64;

    // The server reports nothing of epoch 1 beyond the packet in flight.
    let resume = paced.push_audio(2, 7, tone(440.0, 0.5, 24_000, 0));
    assert!(
        resume >= cut && resume <= cut + 2 * packet,
        "epoch 2 starts right away: {resume} vs {cut}"
    );
    let mut epoch2_sent = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while epoch2_sent < 24_000 {
        match tokio::time::timeout_at(deadline, sent.recv()).await {
            Ok(Some(span)) if span.epoch == 1 => {
                assert!(
                    span.sample_pos < cut + packet,
                    "epoch 1 audio at {} after the cut at {cut}",
                    span.sample_pos
                );
            }
            Ok(Some(span)) if span.epoch == 2 => epoch2_sent += span.samples,
            Ok(Some(span)) => panic!("unexpected epoch {}", span.epoch),
            other => panic!("epoch 2 never went out: {other:?}"),
        }
    }

    // What the client heard: 660 Hz up to the cut (+ at most the packet in flight), silence,
    // then 440 Hz from the promised position; never 660 Hz after the cut.
    assert!(
        client
            .wait_for(Duration::from_secs(3), |r| r
                .audio
                .iter()
                .any(|p| u64::from(p.rtp_timestamp) >= resume + 24_000 - packet))
            .await
    );
    let (base, timeline) = client.snapshot().audio_timeline();
    let at = |pos: u64| (pos - u64::from(base)) as usize;
    let before = &timeline[at(start) + 2400..at(cut) - 480];
    assert!((zero_crossing_freq(before) - 660.0).abs() < 6.0);
    let after_flight = at(cut + packet);
    let gap = &timeline[after_flight..at(resume).max(after_flight)];
    assert!(
        gap.is_empty() || rms(gap) < 0.02,
        "old epoch leaked into the gap: rms {}",
        rms(gap)
    );
    let new_turn = &timeline[at(resume) + 2400..at(resume) + 21_600];
    let f = zero_crossing_freq(new_turn);
    assert!(
        (f - 440.0).abs() < 6.0,
        "after the barge-in the client hears {f} Hz"
    );
    client.close().await.unwrap();
}
