//! Joins between queued chunks over real WebRTC: with AUDIO_OVERLAP_MS the join is smooth
//! after Opus; with no overlap the same join is an audible step (so the check can fail).

mod common;

use std::time::Duration;

use common::*;
use goassist_inference::webrtc::WebRtcEndpoint;

/// Largest sample-to-sample step of what the client heard around the join at `join`.
async fn step_at_join(overlap_ms: u32) -> (f32, f32) {
    let endpoint = WebRtcEndpoint::new(loopback_settings(10));
    let (client, mut peer) = connect(&endpoint).await;
    wait_connected(&mut peer).await;
    // Chunk B is chunk A's tone phase-inverted: the worst join, a full-scale jump if cut hard.
    // Chunk A ends on a positive peak (a 200 Hz period is 240 samples; a quarter-period phase
    // shift puts sample 12 000 on a peak); chunk B starts on the negative peak.
    let a = tone(200.0, 0.5, 12_001, 60);
    let b: Vec<f32> = tone(200.0, 0.5, 12_000, 60).iter().map(|s| -s).collect();
    let (paced, _sent) = pace(&peer, overlap_ms);
    let start_a = paced.push_audio(0, 1, a.clone());
    let start_b = paced.push_audio(0, 2, b);
    let join = start_b + (overlap_ms as u64 * 48) / 2;
    assert!(
        client
            .wait_for(Duration::from_secs(5), |r| r
                .audio
                .iter()
                .any(|p| u64::from(p.rtp_timestamp) > start_b + 9_600))
            .await
    );
    let (base, timeline) = client.snapshot().audio_timeline();
    let at = |pos: u64| (pos - u64::from(base)) as usize;
    let around = &timeline[at(join) - 480..at(join) + 480];
    let steady = &timeline[at(start_a) + 4800..at(start_a) + 9600];
    let max_step = |x: &[f32]| {
        x.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max)
    };
    client.close().await.unwrap();
    (max_step(around), max_step(steady))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossfaded_join_has_no_click_and_a_hard_cut_does() {
    let (join_step, steady_step) = step_at_join(5).await;
    // A 200 Hz, 0.5 tone moves at most ~0.013 per sample; Opus adds a little.
    assert!(steady_step < 0.05, "steady tone step {steady_step}");
    assert!(
        join_step < 2.0 * steady_step.max(0.02),
        "crossfaded join step {join_step} vs steady {steady_step}"
    );

    let (hard_step, _) = step_at_join(0).await;
    assert!(
        hard_step > 0.15,
        "a hard cut should click: step {hard_step}"
    );
}
