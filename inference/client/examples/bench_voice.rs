//! Voice-loop benchmark: drives a running `goassist-inference` over real WebRTC with recorded
//! speech and reports latency percentiles, memory per session and a concurrency sweep.
//!
//! ```text
//! cargo run --release -p goassist-client --example bench_voice -- \
//!     --url http://127.0.0.1:8081 --pid <server pid> --turns 10 --sweep 1,2,4,8 --out docs/benchmarks/voice.md
//! ```
//! `scripts/bench_voice.sh` starts the server and runs this.
//!
//! Client-side measures (what a user experiences, on loopback): voice-to-voice = the last packet
//! of the user's utterance sent → the first assistant audio packet received; barge-in = the
//! first packet of an interrupting utterance sent → the first silent packet received. Server-side
//! TTFA and stage latencies come from its Prometheus histograms (deltas over the run).
//!
//! The sweep (`--sweep 1,2,4,8`, titled by `--sweep-title`) also reports per level the
//! server's TTFA p95, the LLM queue depth p95, the aggregate decode speed and every stage's p50
//! and p95. Every session of a level asks [`SWEEP_QUESTION`] at once. `--turns 0` skips
//! the one-session table (a sweep-only run: `scripts/bench_voice.sh` runs the sweep again with
//! batching off and with llama.cpp's server as the LLM). A level written `N+` (`--sweep 8,8+`)
//! runs N sessions while one more person tries to connect every [`KNOCK_EVERY`] for the whole
//! level: on a server capped at N sessions that shows whether refusing the extra one slows the N.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use goassist_client::{ClientError, VoiceClient};
use support::machine::cpu_model;
use support::turns::{ask, interrupt};
use support::{histogram_quantile, percentile, scrape, utterance};

/// How long one turn may take before it counts as unanswered.
const TURN_TIMEOUT: Duration = Duration::from_secs(60);

struct Args {
    url: String,
    pid: Option<u32>,
    /// Processes whose CPU time the sweep divides among the answers (`--cpu-pids`).
    cpu_pids: Vec<u32>,
    turns: usize,
    sweep: Vec<Level>,
    sweep_title: String,
    out: Option<PathBuf>,
    models: PathBuf,
}

/// One level of the sweep: how many sessions ask at once, and whether one more keeps knocking.
#[derive(Clone, Copy, Debug)]
struct Level {
    sessions: usize,
    knock: bool,
}

impl Level {
    /// `8` or `8+` (8 sessions and one more knocking).
    fn parse(text: &str) -> Option<Level> {
        let (number, knock) = match text.trim().strip_suffix('+') {
            Some(number) => (number, true),
            None => (text.trim(), false),
        };
        Some(Level {
            sessions: number.parse().ok()?,
            knock,
        })
    }
}

/// How often the extra person of an `N+` level tries to connect.
const KNOCK_EVERY: Duration = Duration::from_millis(250);

fn parse_args() -> Args {
    let mut args = Args {
        url: "http://127.0.0.1:8081".into(),
        pid: None,
        cpu_pids: Vec::new(),
        turns: 8,
        sweep: [1, 2, 4, 8]
            .map(|sessions| Level {
                sessions,
                knock: false,
            })
            .to_vec(),
        sweep_title: "Concurrency sweep (all sessions ask at once)".into(),
        out: None,
        models: PathBuf::from(std::env::var("MODELS_DIR").unwrap_or_else(|_| "models".into())),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => args.url = value,
            "--pid" => args.pid = value.parse().ok(),
            "--cpu-pids" => {
                args.cpu_pids = value.split(',').filter_map(|p| p.parse().ok()).collect()
            }
            "--turns" => args.turns = value.parse().unwrap_or(args.turns),
            "--sweep" => args.sweep = value.split(',').filter_map(Level::parse).collect(),
            "--sweep-title" => args.sweep_title = value,
            "--out" => args.out = Some(PathBuf::from(value)),
            "--models" => args.models = PathBuf::from(value),
            other => {
                eprintln!("bench_voice: unknown flag {other}");
                std::process::exit(64);
            }
        }
    }
    args
}

/// CPU time (user + system) the processes `pids` have used so far, in seconds: the server, and
/// the LLM server when it is a separate process.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // /proc/PID/stat counts in clock ticks of USER_HZ, 100 per second on Linux.
    const TICKS_PER_SECOND: f64 = 100.0;
    pids.iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After the command name in parentheses: state is field 3, utime 14, stime 15.
            let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / TICKS_PER_SECOND)
        })
        .sum()
}

/// The resident memory of process `pid`, in KiB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let whip = format!("{}/v1/sessions", args.url.trim_end_matches('/'));
    let questions: Vec<Question> = QUESTIONS
        .iter()
        .map(|&(file, words)| Question {
            words,
            audio: utterance(&args.models, file),
        })
        .collect();
    let interruption = utterance(
        &args.models,
        "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
    );
    let mut report = String::new();
    let machine = cpu_model();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let build = std::env::var("BENCH_BUILD").unwrap_or_else(|_| "build not stated".into());
    report.push_str(&format!("# Voice loop benchmark\n\nMachine: {cores} cores, {machine}. Server: `goassist-inference` ({build}) on the embedded models (Silero, Moonshine base-en, Qwen2.5-0.5B Q8_0 via candle, Piper joe), client: the Rust str0m WebRTC client on loopback.\n\n"));

    // 1. Sequential turns on one session.
    if args.turns > 0 {
        one_session(&args, &whip, &questions, &interruption, &mut report).await;
    }

    // 2. Memory per idle session.
    if let Some(pid) = args.pid {
        let base = rss_kb(pid).unwrap_or(0);
        let mut clients = Vec::new();
        for _ in 0..4 {
            if let Ok(c) = VoiceClient::connect(&whip).await {
                clients.push(c);
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let with = rss_kb(pid).unwrap_or(0);
        let per = (with.saturating_sub(base)) as f64 / clients.len().max(1) as f64 / 1024.0;
        report.push_str(&format!("## Memory\n\nServer RSS {:.0} MB with no session, {:.0} MB with {} connected sessions: **{per:.1} MB per extra session**.\n\n", base as f64 / 1024.0, with as f64 / 1024.0, clients.len()));
        for c in clients {
            let _ = c.close().await;
        }
    }

    // 3. Concurrency sweep: N sessions ask at the same time.
    if !args.sweep.is_empty() {
        // A sentence both end-of-turn signals call finished in a fresh session (Smart Turn
        // 0.987, text 0.296 in docs/benchmarks/turn.md): the turn ends on the detector's first
        // verdict, not on the longest pause, so the sweep measures the answering.
        let question = utterance(&args.models, SWEEP_QUESTION);
        sweep(&args, &whip, &question, &mut report).await;
    }
    println!("{report}");
    if let Some(out) = args.out {
        std::fs::write(&out, &report).expect("write report");
        eprintln!("bench_voice: wrote {}", out.display());
    }
}

/// The recordings spoken in turn (under `MODELS_DIR/speech`) and their words as the book
/// punctuates them: each a whole clause, none the end of the book's sentence.
const QUESTIONS: [(&str, &str); 3] = [
    (
        "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
        "He was not an ill-disposed young man,",
    ),
    (
        "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
        "he might even have been made amiable himself;",
    ),
    (
        "librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
        "unless to be rather cold-hearted and rather selfish is to be ill-disposed:",
    ),
];

/// What every session of the sweep asks at once: "Had he married a more amiable woman, he
/// might have been made still more respectable than he was."
const SWEEP_QUESTION: &str = "librivox/sense_and_sensibility_01_austen_64kb-0920.wav";

/// A recording the client speaks.
struct Question {
    words: &'static str,
    audio: Vec<f32>,
}

/// The server's stage histogram: one series per stage of a turn (docs/runbook.md).
const STAGE_METRIC: &str = "goassist_stage_seconds";

/// The stages from the end of the user's speech to the first packet, in order: what the report
/// calls each, and its `stage` label in [`STAGE_METRIC`].
const STAGES: [(&str, &str); 8] = [
    (
        "stage endpoint (last voiced audio → end of turn decided)",
        "endpoint",
    ),
    ("stage turn_audio (Smart Turn on a pause)", "turn_audio"),
    ("stage turn_asr (transcript up to a pause)", "turn_asr"),
    ("stage turn_text (LLM end-of-turn probability)", "turn_text"),
    ("stage asr (final transcript)", "asr"),
    ("stage llm_ttft", "llm_ttft"),
    (
        "stage tts_first (end-of-turn → first clause synthesized)",
        "tts_first",
    ),
    (
        "stage send_first (first clause queued → first packet sent: output-side overhead)",
        "send_first",
    ),
];

/// The label selecting one stage's series of [`STAGE_METRIC`].
fn stage_label(stage: &str) -> String {
    format!("stage=\"{stage}\"")
}

/// One session asking in turn, every other question interrupted: the latency table.
async fn one_session(
    args: &Args,
    whip: &str,
    questions: &[Question],
    interruption: &[f32],
    report: &mut String,
) {
    let before = scrape(&args.url).await;
    let client = VoiceClient::connect(whip).await.expect("connect");
    let mut v2v = Vec::new();
    let mut barge = Vec::new();
    let mut v2v_by_question: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for turn in 0..args.turns {
        let q = &questions[turn % questions.len()];
        if turn % 2 == 1 {
            if let Some(b) = interrupt(&client, &q.audio, interruption, TURN_TIMEOUT).await {
                barge.push(b);
            }
        } else if let Some(v) = ask(&client, &q.audio, TURN_TIMEOUT).await {
            v2v.push(v);
            v2v_by_question.entry(q.words).or_default().push(v);
        }
        eprintln!(
            "turn {turn}: v2v {:?} barge-in {:?}",
            v2v.last(),
            barge.last()
        );
    }
    let _ = client.close().await;
    let after = scrape(&args.url).await;
    report.push_str(&format!(
        "## One session, {} turns\n\n| measure | n | p50 | p95 |\n|---|---|---|---|\n",
        args.turns
    ));
    let row = |name: &str, v: &[f64]| {
        format!(
            "| {name} | {} | {:.0} ms | {:.0} ms |\n",
            v.len(),
            percentile(v, 0.5) * 1000.0,
            percentile(v, 0.95) * 1000.0
        )
    };
    report.push_str(&row(
        "voice-to-voice (client: last speech packet sent → first answer packet received)",
        &v2v,
    ));
    report.push_str(&row(
        "barge-in (client: interrupting speech sent → assistant audio silent)",
        &barge,
    ));
    let stages = STAGES
        .iter()
        .map(|&(name, stage)| (name, STAGE_METRIC, stage_label(stage)));
    for (name, metric, label) in [
        (
            "TTFA (server: end-of-turn → first packet sent)",
            "goassist_ttfa_seconds",
        ),
        ("voice-to-voice (server)", "goassist_voice_to_voice_seconds"),
        (
            "barge-in (server: speech onset → audio paused)",
            "goassist_barge_in_seconds",
        ),
    ]
    .map(|(name, metric)| (name, metric, String::new()))
    .into_iter()
    .chain(stages)
    {
        let label = label.as_str();
        let count_key = if label.is_empty() {
            format!("{metric}_count")
        } else {
            format!("{metric}_count{{{label}}}")
        };
        let n = after.get(&count_key).copied().unwrap_or(0.0)
            - before.get(&count_key).copied().unwrap_or(0.0);
        let p50 = histogram_quantile(&before, &after, metric, label, 0.5);
        let p95 = histogram_quantile(&before, &after, metric, label, 0.95);
        report.push_str(&format!(
            "| {name} | {n:.0} | {} | {} |\n",
            p50.map_or("–".into(), |v| format!("{:.0} ms", v * 1000.0)),
            p95.map_or("–".into(), |v| format!("{:.0} ms", v * 1000.0))
        ));
    }
    report.push_str(
        "\nServer-side percentiles are interpolated inside Prometheus buckets (10 ms – 5 s).\n\n",
    );
    // Per recording: a turn the detector hears as unfinished waits for the longest pause
    // (TURN_MAX_SILENCE_MS), one it hears as finished shows what the models and the answer cost.
    report.push_str("Voice-to-voice (client) by recording, as the book punctuates it:\n\n");
    for (words, v) in &v2v_by_question {
        report.push_str(&format!(
            "- \"{words}\": median {:.0} ms over {}\n",
            percentile(v, 0.5) * 1000.0,
            v.len()
        ));
    }
    report.push('\n');
    // What ended the turns, and what came of the answers started at open pauses.
    let delta = |key: &str| {
        after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
    };
    let ends: Vec<String> = ["complete", "audio_only", "max_silence", "silence"]
        .iter()
        .map(|r| {
            let n = delta(&format!("goassist_turn_ends_total{{reason=\"{r}\"}}"));
            format!("{r} {n:.0}")
        })
        .collect();
    report.push_str(&format!(
        "Turn ends: {}. Preemptive answers: used {:.0}, discarded {:.0} ({:.0} tokens thrown away).\n\n",
        ends.join(", "),
        delta("goassist_preemptive_answers_total{outcome=\"used\"}"),
        delta("goassist_preemptive_answers_total{outcome=\"discarded\"}"),
        delta("goassist_preemptive_discarded_tokens_total"),
    ));
}

/// N sessions ask at once, for each N of `--sweep`: voice-to-voice at the client, and from the
/// server's metrics over the level TTFA p95, the LLM queue depth p95 (sampled every 100 ms),
/// the aggregate decode speed (tokens of the finished answers ÷ the time the LLM had a request
/// in hand), and the CPU time of `--cpu-pids` over the level ÷ the answers.
async fn sweep(args: &Args, whip: &str, question: &[f32], report: &mut String) {
    report.push_str(&format!(
        "## {}\n\n| sessions | answered | voice-to-voice p50 | p95 | TTFA p95 (server) | LLM queue depth p95 | aggregate tokens/s | CPU s per answer |\n|---|---|---|---|---|---|---|---|\n",
        args.sweep_title
    ));
    // Where each level's time went: every stage's p50 / p95 over the level, in a second table.
    let mut stage_rows = String::new();
    for &level in &args.sweep {
        let n = level.sessions;
        let mut clients = Vec::new();
        for _ in 0..n {
            match VoiceClient::connect(whip).await {
                Ok(c) => clients.push(c),
                Err(e) => eprintln!("sweep {n}: connect failed: {e}"),
            }
        }
        let before = scrape(&args.url).await;
        let cpu_before = cpu_seconds(&args.cpu_pids);
        let depths = Arc::new(Mutex::new(Vec::new()));
        let sampler = tokio::spawn(sample_queue_depth(args.url.clone(), depths.clone()));
        let knocks = Arc::new(Mutex::new(Knocks::default()));
        let knocker = level
            .knock
            .then(|| tokio::spawn(knock(whip.to_owned(), knocks.clone())));
        let results = futures_join(
            clients
                .iter()
                .map(|c| ask(c, question, TURN_TIMEOUT))
                .collect(),
        )
        .await;
        sampler.abort();
        if let Some(knocker) = knocker {
            knocker.abort();
        }
        let after = scrape(&args.url).await;
        let cpu = cpu_seconds(&args.cpu_pids) - cpu_before;
        let v: Vec<f64> = results.into_iter().flatten().collect();
        let depths = depths.lock().expect("samples").clone();
        let busy_s =
            depths.iter().filter(|d| **d > 0.0).count() as f64 * SAMPLE_EVERY.as_secs_f64();
        let tokens = after
            .get("goassist_llm_generated_tokens_total")
            .copied()
            .unwrap_or(0.0)
            - before
                .get("goassist_llm_generated_tokens_total")
                .copied()
                .unwrap_or(0.0);
        let ttfa = histogram_quantile(&before, &after, "goassist_ttfa_seconds", "", 0.95);
        let label = if level.knock {
            let k = knocks.lock().expect("knocks").clone();
            format!("{n} + 1 knocking (refused {} of {})", k.refused, k.tried)
        } else {
            n.to_string()
        };
        let cpu_per_answer = if args.cpu_pids.is_empty() || v.is_empty() {
            "–".into()
        } else {
            format!("{:.2}", cpu / v.len() as f64)
        };
        report.push_str(&format!(
            "| {label} | {}/{n} | {:.0} ms | {:.0} ms | {} | {:.0} | {} | {cpu_per_answer} |\n",
            v.len(),
            percentile(&v, 0.5) * 1000.0,
            percentile(&v, 0.95) * 1000.0,
            ttfa.map_or("–".into(), |t| format!("{:.0} ms", t * 1000.0)),
            percentile(&depths, 0.95),
            if busy_s > 0.0 {
                format!("{:.1}", tokens / busy_s)
            } else {
                "–".into()
            },
        ));
        let stage_cells: Vec<String> = STAGES
            .iter()
            .map(|&(_, stage)| {
                let at = |q| {
                    histogram_quantile(&before, &after, STAGE_METRIC, &stage_label(stage), q)
                        .map_or("–".into(), |v| format!("{:.0}", v * 1000.0))
                };
                format!("{} / {}", at(0.5), at(0.95))
            })
            .collect();
        stage_rows.push_str(&format!("| {label} | {} |\n", stage_cells.join(" | ")));
        for c in clients {
            let _ = c.close().await;
        }
        eprintln!("sweep {label}: {v:?}");
    }
    let names: Vec<&str> = STAGES.iter().map(|&(_, stage)| stage).collect();
    report.push_str(&format!(
        "\nStages, p50 / p95 in ms (server histograms over each level; the stages are those of the one-session table):\n\n| sessions | {} |\n|---|{}\n{stage_rows}\n",
        names.join(" | "),
        "---|".repeat(names.len())
    ));
}

/// What the extra person of an `N+` level met.
#[derive(Clone, Debug, Default)]
struct Knocks {
    tried: u32,
    refused: u32,
}

/// Tries to connect every [`KNOCK_EVERY`] until aborted. A refusal for capacity is counted; an
/// admitted session (the server was not full) is closed at once; anything else is reported.
async fn knock(whip: String, knocks: Arc<Mutex<Knocks>>) {
    let mut tick = tokio::time::interval(KNOCK_EVERY);
    loop {
        tick.tick().await;
        let outcome = VoiceClient::connect(&whip).await;
        let refused = matches!(
            &outcome,
            Err(ClientError::Rejected { status: 503, body }) if body.contains("capacity")
        );
        {
            let mut k = knocks.lock().expect("knocks");
            k.tried += 1;
            k.refused += u32::from(refused);
        }
        match outcome {
            _ if refused => {}
            Ok(client) => {
                eprintln!("sweep: the extra session was admitted (the server is not full)");
                let _ = client.close().await;
            }
            Err(e) => eprintln!("sweep: the extra session failed otherwise: {e}"),
        }
    }
}

/// How often the sweep samples the server's LLM queue depth.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Appends `goassist_llm_queue_depth` every [`SAMPLE_EVERY`] until aborted.
async fn sample_queue_depth(url: String, depths: Arc<Mutex<Vec<f64>>>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        if let Some(depth) = scrape(&url).await.get("goassist_llm_queue_depth") {
            depths.lock().expect("samples").push(*depth);
        }
    }
}

/// Runs futures concurrently on this task.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("completed")).collect()
}
