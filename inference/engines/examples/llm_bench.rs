//! LLM engine benchmark: prefill and decode speed, and time to first token with and without
//! prefix caching, for each GGUF model present. Prints a table and writes
//! `docs/benchmarks/llm.md`.
//!
//! Run: `cargo run --release -p goassist-engines --example llm_bench` (or without `--release`:
//! the dev profile already builds candle at opt-level 3, and the model code here is thin glue
//! around its kernels). `LLM_BENCH_RUNS` sets the repetitions (default 5).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use goassist_engines::llm::{
    ChatMessage, GenerationParams, KvCache, LlmEngine, LlmEngineConfig, Sampling,
};

const SYSTEM: &str = "You are GoAssist, a friendly voice assistant. Your answers are spoken \
aloud, so reply in one to three short, plain sentences, without lists, markdown, code or emoji.";

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::user("Hi there, can you help me plan a short trip to Paris next spring?"),
        ChatMessage::assistant(
            "Of course. Spring is a lovely time for Paris. How many days will you have, and \
             what do you enjoy most: museums, food, or walking around the old streets?",
        ),
        ChatMessage::user("Three days. I like food and walking, not so much museums."),
        ChatMessage::assistant(
            "Then spend a day in the Marais and around the islands, a day in Montmartre with \
             its cafes and markets, and a day along the canal Saint-Martin and the left bank.",
        ),
        ChatMessage::user("Which market would you pick for a Saturday morning?"),
    ]
}

struct Summary {
    median: f64,
    p95: f64,
}

fn summarize(mut values: Vec<f64>) -> Summary {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Summary {
        median: at(0.5),
        p95: at(0.95),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct ModelResult {
    name: String,
    file: String,
    load_s: f64,
    prompt_tokens: usize,
    prefill_tps: Summary,
    decode_tps: Summary,
    ttft_first_no_cache: Summary,
    ttft_first_cache: Summary,
    ttft_followup_no_cache: Summary,
    ttft_followup_cache: Summary,
    reused_followup: usize,
}

fn first_token_ms(engine: &mut LlmEngine, messages: &[ChatMessage]) -> (f64, usize) {
    let params = GenerationParams {
        max_new_tokens: 1,
        sampling: Sampling::Greedy,
    };
    let stats = engine
        .generate(messages, &params, &mut |_: &str| ControlFlow::Continue(()))
        .expect("generate");
    (ms(stats.time_to_first_token), stats.reused_prompt_tokens)
}

fn bench_model(path: &Path, runs: usize) -> ModelResult {
    let started = Instant::now();
    let mut engine = LlmEngine::load(LlmEngineConfig::new(path, SYSTEM)).expect("load");
    let load_s = started.elapsed().as_secs_f64();
    let history = conversation();

    // Prefill: the whole multi-turn prompt from an empty cache.
    let prompt = engine.prompt_tokens(&history, 64).unwrap();
    let prefill: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let mut kv = KvCache::default();
            engine.decoder().forward(&prompt, &mut kv).unwrap();
            prompt.len() as f64 / t.elapsed().as_secs_f64()
        })
        .collect();

    // Decode: 64 greedy tokens of a longer answer.
    let decode: Vec<f64> = (0..runs)
        .map(|_| {
            let params = GenerationParams {
                max_new_tokens: 64,
                sampling: Sampling::Greedy,
            };
            let ask = [ChatMessage::user(
                "Describe a walk through Paris in detail.",
            )];
            let stats = engine
                .generate(&ask, &params, &mut |_: &str| ControlFlow::Continue(()))
                .unwrap();
            stats.decode_tokens_per_second()
        })
        .collect();

    // TTFT, first turn (system prompt + one question) and follow-up (the multi-turn history
    // after the previous turn was answered), with the cache off and on.
    let first = [history[0].clone()];
    let previous_turn = &history[..history.len() - 2];
    let mut measure = |caching: bool, messages: &[ChatMessage], warm: Option<&[ChatMessage]>| {
        engine.set_prefix_caching(caching).unwrap();
        let mut times = Vec::new();
        let mut reused = 0;
        for _ in 0..runs {
            if let Some(warm) = warm {
                // The previous turn ran just before, as in a live conversation.
                first_token_ms(&mut engine, warm);
            }
            let (t, r) = first_token_ms(&mut engine, messages);
            times.push(t);
            reused = r;
        }
        (summarize(times), reused)
    };
    let (ttft_first_no_cache, _) = measure(false, &first, None);
    let (ttft_first_cache, _) = measure(true, &first, None);
    let (ttft_followup_no_cache, _) = measure(false, &history, Some(previous_turn));
    let (ttft_followup_cache, reused_followup) = measure(true, &history, Some(previous_turn));

    ModelResult {
        name: engine.model_name().to_string(),
        file: path.file_name().unwrap().to_string_lossy().into_owned(),
        load_s,
        prompt_tokens: prompt.len(),
        prefill_tps: summarize(prefill),
        decode_tps: summarize(decode),
        ttft_first_no_cache,
        ttft_first_cache,
        ttft_followup_no_cache,
        ttft_followup_cache,
        reused_followup,
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpu}, {threads} hardware threads; load average at the end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() {
    let runs: usize = std::env::var("LLM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = std::env::var_os("MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
        .join("llm");
    let default_files = "smollm2-135m-instruct-q8.gguf,qwen2.5-0.5b-instruct-q8.gguf,\
                         smollm2-135m-instruct-q4_1.gguf,qwen2.5-0.5b-instruct-q4_k_m.gguf";
    let files = std::env::var("LLM_BENCH_MODELS").unwrap_or_else(|_| default_files.to_string());
    let mut results = Vec::new();
    for file in files.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let path = dir.join(file);
        if !path.exists() {
            eprintln!("skipping {file}: not found under {}", dir.display());
            continue;
        }
        eprintln!("benchmarking {file} ({runs} runs)...");
        let r = bench_model(&path, runs);
        eprintln!(
            "  prefill {:.0} tok/s, decode {:.1} tok/s, TTFT follow-up {:.0} ms -> {:.0} ms with cache",
            r.prefill_tps.median,
            r.decode_tps.median,
            r.ttft_followup_no_cache.median,
            r.ttft_followup_cache.median
        );
        results.push(r);
        write_report(&results, runs);
    }
}

/// Writes the table for the models measured so far (after each model, so a run that is
/// stopped early still leaves its numbers).
fn write_report(results: &[ModelResult], runs: usize) {
    let mut md = String::new();
    md.push_str("# LLM engine benchmark\n\n");
    md.push_str(&format!(
        "Machine: {}.\nRuns per number: {runs}; median (p95). {} build, candle CPU.\n\
         Reproduce: `cargo run --release -p goassist-engines --example llm_bench` (`LLM_BENCH_RUNS=n`).\n\n",
        machine(),
        if cfg!(debug_assertions) { "Dev-profile (dependencies at opt-level 3)" } else { "Release" }
    ));
    md.push_str("Prefill: the multi-turn prompt below from an empty cache. Decode: 64 greedy tokens after the first. \
                 TTFT (time to first token): a first turn (system prompt + one question) and a follow-up turn of a \
                 5-message conversation right after the previous turn was answered; \"cache\" is LLM_PREFIX_CACHING=true \
                 (the system prompt's KV, and the previous turn's, are reused).\n\n");
    md.push_str("| model file | load s | prompt tokens | prefill tok/s | decode tok/s | TTFT first turn, no cache ms | TTFT first turn, cache ms | TTFT follow-up, no cache ms | TTFT follow-up, cache ms | follow-up tokens reused |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        let s =
            |x: &Summary, digits: usize| format!("{:.*} ({:.*})", digits, x.median, digits, x.p95);
        md.push_str(&format!(
            "| `{}` ({}) | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.file,
            r.name,
            r.load_s,
            r.prompt_tokens,
            s(&r.prefill_tps, 0),
            s(&r.decode_tps, 1),
            s(&r.ttft_first_no_cache, 0),
            s(&r.ttft_first_cache, 0),
            s(&r.ttft_followup_no_cache, 0),
            s(&r.ttft_followup_cache, 0),
            r.reused_followup,
        ));
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks");
    std::fs::create_dir_all(&out).expect("create docs/benchmarks");
    std::fs::write(out.join("llm.md"), &md).expect("write llm.md");
    println!("{md}");
}
