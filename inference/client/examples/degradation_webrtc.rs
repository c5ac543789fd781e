//! Avatar degradation drill over real WebRTC (runbook pre-launch check 14.1, part 2): drives a
//! running `goassist-inference` with the avatar on, turns animation off through the admin
//! kill-switch in the middle of an answer, and checks what a user would notice.
//!
//! PASS needs: no gap between the server's speech packets longer than 2 × the packet time
//! during the answers with the kill (its `goassist_audio_send_interval_seconds`); TTFA p95 of
//! the turns with animation killed within 10 % of the animation-on turns (server histogram,
//! one observation per turn); no face frame on the data channel later than one frame period
//! after the kill (the page then eases to neutral itself, see face.js); the answer completes.
//!
//! ```text
//! cargo run -p goassist-client --example degradation_webrtc -- --url http://127.0.0.1:8081 --token T --turns 4
//! ```
//! `scripts/test_avatar_degradation.sh` starts the server and runs this.

mod support;

use std::time::{Duration, Instant};

use goassist_client::{Recording, VoiceClient};
use support::{http_request, percentile, scrape, utterance};

const PACKET_MS: f64 = 20.0;

fn voiced(r: &Recording, after: Instant) -> bool {
    r.audio.iter().any(|a| {
        a.at > after
            && (a.samples_48k.iter().map(|s| s * s).sum::<f32>()
                / a.samples_48k.len().max(1) as f32)
                .sqrt()
                > 0.01
    })
}

fn answers_done(r: &Recording) -> usize {
    r.events
        .iter()
        .filter(|e| e.data.contains("\"assistant_done\""))
        .count()
}

/// One turn; with `kill_after`, animation is switched off that long into the answer. Returns
/// the server's TTFA for the turn and, with a kill, when the kill took effect.
async fn turn(
    client: &VoiceClient,
    url: &str,
    token: &str,
    question: &[f32],
    kill_after: Option<Duration>,
) -> (Option<f64>, Option<Instant>) {
    let before = scrape(url).await;
    let done = client.inspect(answers_done);
    let (_, end) = client.send_audio_48k(question.to_vec());
    client.send_audio_48k(vec![0.0; 48_000 * 2]);
    client.wait_sent(end, Duration::from_secs(60)).await;
    let asked = Instant::now();
    let mut killed_at = None;
    if let Some(delay) = kill_after {
        client
            .wait_for(Duration::from_secs(60), |r| voiced(r, asked))
            .await;
        tokio::time::sleep(delay).await;
        let reply = http_request(
            "POST",
            url,
            "/admin/animation",
            Some(token),
            r#"{"enabled":false}"#,
        )
        .await;
        assert_eq!(reply.map(|r| r.0), Some(200), "the kill-switch answered");
        killed_at = Some(Instant::now());
    }
    client
        .wait_for(Duration::from_secs(90), |r| answers_done(r) > done)
        .await;
    let after = scrape(url).await;
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let ttfa =
        (delta("goassist_ttfa_seconds_count") == 1.0).then(|| delta("goassist_ttfa_seconds_sum"));
    (ttfa, killed_at)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut url, mut token, mut turns) = ("http://127.0.0.1:8081".to_string(), String::new(), 4);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => url = value,
            "--token" => token = value,
            "--turns" => turns = value.parse().unwrap_or(turns),
            other => panic!("unknown flag {other}"),
        }
    }
    let models =
        std::path::PathBuf::from(std::env::var("MODELS_DIR").unwrap_or_else(|_| "models".into()));
    let question = utterance(
        &models,
        "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
    );
    let client = VoiceClient::connect(&format!("{url}/v1/sessions"))
        .await
        .expect("WebRTC session");

    let mut on = Vec::new();
    for _ in 0..turns {
        on.extend(turn(&client, &url, &token, &question, None).await.0);
    }
    let frames_on = client.inspect(|r| r.face.len());

    let intervals = |m: &std::collections::BTreeMap<String, f64>| {
        let total = m
            .get("goassist_audio_send_interval_seconds_count")
            .copied()
            .unwrap_or(0.0);
        let within = m
            .get("goassist_audio_send_interval_seconds_bucket{le=\"0.04\"}")
            .copied()
            .unwrap_or(0.0);
        (total, total - within)
    };
    let before = intervals(&scrape(&url).await);
    let mut off = Vec::new();
    let (ttfa, killed_at) = turn(
        &client,
        &url,
        &token,
        &question,
        Some(Duration::from_millis(1500)),
    )
    .await;
    off.extend(ttfa);
    for _ in 1..turns {
        off.extend(turn(&client, &url, &token, &question, None).await.0);
    }
    let after = intervals(&scrape(&url).await);
    let (packets, gaps) = (after.0 - before.0, after.1 - before.1);
    let killed_at = killed_at.expect("the kill happened");
    let late_frames = client.inspect(|r| {
        r.face
            .iter()
            .filter(|f| f.at > killed_at + Duration::from_millis(1000 / 30 + 5))
            .count()
    });
    let _ = http_request(
        "POST",
        &url,
        "/admin/animation",
        Some(&token),
        r#"{"enabled":true}"#,
    )
    .await;
    let _ = client.close().await;

    let (p95_on, p95_off) = (percentile(&on, 0.95), percentile(&off, 0.95));
    let change = (p95_off - p95_on) / p95_on;
    println!(
        "animation on : {} turns, TTFA p50 {:.0} ms, p95 {:.0} ms, {frames_on} face frames received",
        on.len(),
        percentile(&on, 0.5) * 1e3,
        p95_on * 1e3
    );
    println!(
        "animation killed mid-answer, then off: {} turns, TTFA p50 {:.0} ms, p95 {:.0} ms ({:+.1} %)",
        off.len(),
        percentile(&off, 0.5) * 1e3,
        p95_off * 1e3,
        change * 100.0
    );
    println!(
        "speech packets after the kill: {packets:.0}, gaps over {:.0} ms: {gaps:.0}; face frames after the kill: {late_frames}",
        2.0 * PACKET_MS
    );
    let mut failures = Vec::new();
    if on.len() < turns || off.len() < turns {
        failures.push(format!(
            "answers missing: {} + {} of {}",
            on.len(),
            off.len(),
            2 * turns
        ));
    }
    if gaps > 0.0 || packets < 100.0 {
        failures.push(format!("voice gaps: {gaps:.0} of {packets:.0} packets"));
    }
    if change > 0.10 {
        failures.push(format!(
            "TTFA p95 rose {:.1} % (limit 10 %)",
            change * 100.0
        ));
    }
    if late_frames > 0 {
        failures.push(format!("{late_frames} face frames after the kill"));
    }
    if failures.is_empty() {
        println!("PASS: voice continued through the animation kill");
    } else {
        println!("FAIL: {}", failures.join("; "));
        std::process::exit(1);
    }
}
