//! Avatar degradation drill over real WebRTC (runbook §14.1, part 2): drives a running
//! `goassist-inference` with the avatar on and answers two questions.
//!
//! 1. **Does the voice survive the kill?** `--kills` answers (3), each with animation turned
//!    off by the admin kill-switch 1.5 s into the answer (and back on after it). PASS needs, for
//!    each: the answer finishes; no speech packet the server sent more than 2 × 20 ms after the
//!    one before (its `goassist_audio_send_interval_seconds`: no audio interruption); at the
//!    client, no silence in the packet stream longer than 150 ms around the kill (the voice
//!    continues within 150 ms); no face frame later than one frame period after the kill (the
//!    face freezes and the page eases it to neutral itself, see face.js).
//! 2. **Does losing the animation slow the voice?** `--pairs` pairs of turns (8), one with
//!    animation on and one with it off, each on a new session asking the same question, so the
//!    two turns differ only in the animation (no conversation history that grows from turn to
//!    turn); ABBA order, so a drift of the machine's speed falls on both sides alike. Reports
//!    the server's TTFA p50/p95 on each side and the median of the paired differences (off − on),
//!    with the machine's load. A measurement, not a gate: timings judged on a busy runner would
//!    fail at random, so read them from a release build on a quiet machine
//!    (docs/benchmarks/face.md).
//!
//! ```text
//! cargo run -p goassist-client --example degradation_webrtc -- --url http://127.0.0.1:8081 --token T
//! ```
//! `scripts/test_avatar_degradation.sh` starts the server and runs this.

mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use goassist_client::VoiceClient;
use support::turns::{answers_done, voiced_after};
use support::{http_request, percentile, scrape, utterance};

#[derive(Parser)]
#[command(about = "Avatar degradation drill over WebRTC (runbook §14.1)")]
struct Args {
    /// The server's API base URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    url: String,
    /// An admin token (oncall scope at least) for the animation kill-switch.
    #[arg(long)]
    token: String,
    /// Answers killed mid-way (part 1).
    #[arg(long, default_value_t = 3)]
    kills: usize,
    /// Pairs of turns, animation on and off (part 2; 0 skips it).
    #[arg(long, default_value_t = 8)]
    pairs: usize,
    /// The model tree holding the recorded speech (`speech/`).
    #[arg(long, env = "MODELS_DIR", default_value = "models")]
    models: std::path::PathBuf,
}

/// How long into an answer the kill-switch is thrown.
const KILL_AFTER: Duration = Duration::from_millis(1500);
/// The longest silence in the received packet stream that still counts as the voice going on.
const VOICE_CONTINUES_WITHIN: Duration = Duration::from_millis(150);
/// One face frame period at 30 fps, plus scheduling slack.
const FRAME_GRACE: Duration = Duration::from_millis(1000 / 30 + 5);
/// A speech packet sent later than this after the one before is an audible gap (2 × 20 ms).
const GAP_BUCKET: &str = "goassist_audio_send_interval_seconds_bucket{le=\"0.04\"}";
/// How long one answer may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

async fn set_animation(args: &Args, enabled: bool) {
    let reply = http_request(
        "POST",
        &args.url,
        "/admin/animation",
        Some(&args.token),
        &format!("{{\"enabled\":{enabled}}}"),
    )
    .await;
    assert_eq!(
        reply.map(|r| r.0),
        Some(200),
        "the kill-switch answered (is --token an oncall token?)"
    );
}

/// Asks `question` on `client` and waits for the answer to finish; with `kill`, turns the
/// animation off that long into the answer. Returns the server's TTFA for the turn (when the
/// turn was the only one in the window) and when the kill took effect.
async fn turn(
    args: &Args,
    client: &VoiceClient,
    question: &[f32],
    kill: Option<Duration>,
) -> (Option<f64>, Option<Instant>, bool) {
    let before = scrape(&args.url).await;
    let done = client.inspect(answers_done);
    let (_, end) = client.send_audio_48k(question.to_vec());
    client.send_audio_48k(vec![0.0; 48_000 * 2]);
    client.wait_sent(end, ANSWER_TIMEOUT).await;
    let asked = Instant::now();
    let mut killed_at = None;
    if let Some(delay) = kill {
        let speaking = client
            .wait_for(ANSWER_TIMEOUT, |r| voiced_after(r, asked))
            .await;
        if speaking {
            tokio::time::sleep(delay).await;
            set_animation(args, false).await;
            killed_at = Some(Instant::now());
        }
    }
    let finished = client
        .wait_for(ANSWER_TIMEOUT, |r| answers_done(r) > done)
        .await;
    let after = scrape(&args.url).await;
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let ttfa =
        (delta("goassist_ttfa_seconds_count") == 1.0).then(|| delta("goassist_ttfa_seconds_sum"));
    (ttfa, killed_at, finished)
}

/// Part 1: one answer killed mid-way. Returns its failures (empty: passed).
async fn kill_drill(args: &Args, question: &[f32], round: usize) -> Vec<String> {
    set_animation(args, true).await;
    let client = VoiceClient::connect(&format!("{}/v1/sessions", args.url))
        .await
        .expect("WebRTC session");
    let before = scrape(&args.url).await;
    let (_, killed_at, finished) = turn(args, &client, question, Some(KILL_AFTER)).await;
    let after = scrape(&args.url).await;
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let packets = delta("goassist_audio_send_interval_seconds_count");
    let late = packets - delta(GAP_BUCKET);
    let rec = client.close().await.unwrap_or_default();
    let mut failures = Vec::new();
    let Some(killed_at) = killed_at else {
        return vec![format!("kill {round}: the answer never started playing")];
    };
    // The packet stream around the kill: one second before it to two after.
    let arrivals: Vec<Instant> = rec
        .audio
        .iter()
        .map(|a| a.at)
        .filter(|at| *at + Duration::from_secs(1) > killed_at)
        .filter(|at| *at < killed_at + Duration::from_secs(2))
        .collect();
    let longest_silence = arrivals
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or(Duration::MAX);
    let frames_on = rec.face.iter().filter(|f| f.at <= killed_at).count();
    let late_frames = rec
        .face
        .iter()
        .filter(|f| f.at > killed_at + FRAME_GRACE)
        .count();
    println!(
        "kill {round}: {frames_on} face frames before the kill, {late_frames} after it; {late:.0} of {packets:.0} speech packets late by over 40 ms; longest pause in the received audio around the kill {:.0} ms; answer finished: {finished}",
        longest_silence.as_secs_f64() * 1e3
    );
    if !finished {
        failures.push(format!("kill {round}: the answer did not finish"));
    }
    if frames_on == 0 {
        failures.push(format!(
            "kill {round}: no face frames before the kill (was the avatar on?)"
        ));
    }
    if late > 0.0 || packets < 50.0 {
        failures.push(format!(
            "kill {round}: audio interrupted ({late:.0} of {packets:.0} speech packets late)"
        ));
    }
    if longest_silence > VOICE_CONTINUES_WITHIN {
        failures.push(format!(
            "kill {round}: the voice stopped for {:.0} ms around the kill (limit 150 ms)",
            longest_silence.as_secs_f64() * 1e3
        ));
    }
    if late_frames > 0 {
        failures.push(format!(
            "kill {round}: {late_frames} face frames after the kill"
        ));
    }
    failures
}

/// Part 2: TTFA of a turn on a fresh session with the animation on or off.
async fn fresh_turn(args: &Args, question: &[f32], animation: bool) -> Option<f64> {
    set_animation(args, animation).await;
    let client = VoiceClient::connect(&format!("{}/v1/sessions", args.url))
        .await
        .expect("WebRTC session");
    let (ttfa, _, finished) = turn(args, &client, question, None).await;
    let _ = client.close().await;
    ttfa.filter(|_| finished)
}

/// Part 2: pairs of turns on fresh sessions with the animation on and off, in ABBA order; prints
/// the TTFA of each side and the paired difference. Returns the turns that went unanswered.
async fn ttfa_pairs(args: &Args, question: &[f32]) -> Vec<String> {
    println!(
        "the cost: {} pairs of turns on fresh sessions, animation on and off (ABBA)",
        args.pairs
    );
    let (mut on, mut off, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    let mut failures = Vec::new();
    for pair in 0..args.pairs {
        let order = if pair % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let mut ttfa = [None, None];
        for animation in order {
            ttfa[usize::from(animation)] = fresh_turn(args, question, animation).await;
        }
        match ttfa {
            [Some(without), Some(with)] => {
                println!(
                    "pair {}: TTFA {:.0} ms with animation, {:.0} ms without",
                    pair + 1,
                    with * 1e3,
                    without * 1e3
                );
                on.push(with);
                off.push(without);
                diffs.push(without - with);
            }
            _ => failures.push(format!("pair {}: a turn was not answered", pair + 1)),
        }
    }
    set_animation(args, true).await;

    let median_on = percentile(&on, 0.5);
    let median_diff = percentile(&diffs, 0.5);
    println!(
        "animation on : TTFA p50 {:.0} ms, p95 {:.0} ms ({} turns)",
        median_on * 1e3,
        percentile(&on, 0.95) * 1e3,
        on.len()
    );
    println!(
        "animation off: TTFA p50 {:.0} ms, p95 {:.0} ms ({} turns)",
        percentile(&off, 0.5) * 1e3,
        percentile(&off, 0.95) * 1e3,
        off.len()
    );
    println!(
        "paired difference (off − on): median {:+.0} ms ({:+.1} % of the animation-on median)",
        median_diff * 1e3,
        median_diff / median_on * 100.0
    );
    failures
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let question = utterance(
        &args.models,
        "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
    );
    let load_before = load1();
    let mut failures = Vec::new();

    println!(
        "the kill: {} answers with animation killed {} ms in",
        args.kills,
        KILL_AFTER.as_millis()
    );
    for round in 1..=args.kills {
        failures.extend(kill_drill(&args, &question, round).await);
    }

    if args.pairs > 0 {
        failures.extend(ttfa_pairs(&args, &question).await);
    }
    println!(
        "machine load (1-minute average): {load_before} before, {} after",
        load1()
    );
    if failures.is_empty() {
        println!("PASS: voice continued through every animation kill");
    } else {
        for f in &failures {
            println!("FAIL: {f}");
        }
        std::process::exit(1);
    }
}
