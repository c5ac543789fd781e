//! LLM engine benchmark, for each GGUF model present: prefill and decode speed, time to first
//! token with and without prefix caching, prefill speed by chunk size (what
//! `PREFILL_CHUNK_TOKENS` is chosen from), and aggregate decode tokens/s of 1, 2, 4, 8
//! sequences decoded in one batch vs one at a time. Prints the tables; writes
//! `docs/benchmarks/llm-engine.md` only when the machine was quiet (load average at the start
//! below half the cores, at the end below 1.5x the cores, this run included), else says so.
//!
//! Run: `cargo run --release --example llm_bench`. `LLM_BENCH_RUNS` sets the repetitions
//! (default 5), `LLM_BENCH_MODELS` the files (comma-separated, under `MODELS_DIR/llm`),
//! `LLM_BENCH_BATCH` the batch sizes (default `1,2,4,8`), `LLM_BENCH_STEPS` the decode steps
//! per batch measurement (default 32), `LLM_BENCH_ONLY=batching` skips everything else.

mod llm_common;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use goassist_engines::llm::{
    ChatMessage, GenerationParams, KvCache, LlmEngine, LlmEngineConfig, PREFILL_CHUNK_TOKENS,
    Sampling,
};
use llm_common::{SYSTEM, Summary, argmax, conversation, load1, machine, summarize};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Single-sequence speed: the figures of the first table.
struct Speed {
    prompt_tokens: usize,
    prefill_tps: Summary,
    decode_tps: Summary,
    ttft_first_no_cache: Summary,
    ttft_first_cache: Summary,
    ttft_followup_no_cache: Summary,
    ttft_followup_cache: Summary,
    reused_followup: usize,
}

/// Prefill by chunk size: throughput, and how long one chunk stalls everyone else.
struct ChunkRow {
    chunk: usize,
    prefill_tps: Summary,
    chunk_ms: Summary,
}

/// Aggregate decode speed of `sequences` answering at once.
struct BatchRow {
    sequences: usize,
    batched_tps: Summary,
    one_at_a_time_tps: Summary,
    step_ms: Summary,
}

struct ModelResult {
    name: String,
    file: String,
    load_s: f64,
    speed: Option<Speed>,
    chunks: Vec<ChunkRow>,
    batching: Vec<BatchRow>,
}

fn first_token_ms(engine: &mut LlmEngine, messages: &[ChatMessage]) -> (f64, usize) {
    let params = GenerationParams {
        max_new_tokens: 1,
        sampling: Sampling::Greedy,
        no_echo_ngram: 0,
    };
    let stats = engine
        .generate(messages, &params, &mut |_: &str| ControlFlow::Continue(()))
        .expect("generate");
    (ms(stats.time_to_first_token), stats.reused_prompt_tokens)
}

fn bench_speed(engine: &mut LlmEngine, runs: usize) -> Speed {
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
                no_echo_ngram: 0,
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
                first_token_ms(engine, warm);
            }
            let (t, r) = first_token_ms(engine, messages);
            times.push(t);
            reused = r;
        }
        (summarize(times), reused)
    };
    let (ttft_first_no_cache, _) = measure(false, &first, None);
    let (ttft_first_cache, _) = measure(true, &first, None);
    let (ttft_followup_no_cache, _) = measure(false, &history, Some(previous_turn));
    let (ttft_followup_cache, reused_followup) = measure(true, &history, Some(previous_turn));

    Speed {
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

fn bench_model(path: &Path, settings: &Settings) -> ModelResult {
    let started = Instant::now();
    let mut engine = LlmEngine::load(LlmEngineConfig::new(path, SYSTEM)).expect("load");
    let load_s = started.elapsed().as_secs_f64();
    let speed = (!settings.batching_only).then(|| bench_speed(&mut engine, settings.runs));
    let prompt = engine.prompt_tokens(&conversation(), 64).unwrap();
    let chunks = if settings.batching_only {
        Vec::new()
    } else {
        bench_chunks(&engine, &prompt, settings.runs)
    };
    let batching = bench_batching(&engine, &prompt, settings);
    ModelResult {
        name: engine.model_name().to_string(),
        file: path.file_name().unwrap().to_string_lossy().into_owned(),
        load_s,
        speed,
        chunks,
        batching,
    }
}

/// Prefill of the multi-turn prompt from an empty cache, `chunk` tokens per forward pass.
fn bench_chunks(engine: &LlmEngine, prompt: &[u32], runs: usize) -> Vec<ChunkRow> {
    [8, 16, 32, 64, 128]
        .into_iter()
        .map(|chunk| {
            let mut tps = Vec::new();
            let mut per_chunk = Vec::new();
            for _ in 0..runs {
                let mut kv = KvCache::default();
                let started = Instant::now();
                for part in prompt.chunks(chunk) {
                    let t = Instant::now();
                    engine.decoder().forward(part, &mut kv).unwrap();
                    if part.len() == chunk {
                        per_chunk.push(ms(t.elapsed()));
                    }
                }
                tps.push(prompt.len() as f64 / started.elapsed().as_secs_f64());
            }
            ChunkRow {
                chunk,
                prefill_tps: summarize(tps),
                chunk_ms: summarize(per_chunk),
            }
        })
        .collect()
}

/// `n` sequences (each after the same prompt) decode `steps` greedy tokens each: all in one
/// batched forward pass per step, or one sequence per pass in turn (what serving them one
/// at a time costs). Aggregate tokens per second over all sequences.
fn bench_batching(engine: &LlmEngine, prompt: &[u32], settings: &Settings) -> Vec<BatchRow> {
    let decoder = engine.decoder();
    let mut base = KvCache::default();
    let logits = decoder.forward(prompt, &mut base).unwrap();
    let first = argmax(&logits.to_vec1::<f32>().unwrap());
    let steps = settings.steps;
    settings
        .batch_sizes
        .iter()
        .map(|&n| {
            let mut batched = Vec::new();
            let mut one_at_a_time = Vec::new();
            let mut step_ms = Vec::new();
            for _ in 0..settings.runs {
                let mut caches = vec![base.clone(); n];
                let mut tokens = vec![first; n];
                let started = Instant::now();
                for _ in 0..steps {
                    let t = Instant::now();
                    let mut refs: Vec<&mut KvCache> = caches.iter_mut().collect();
                    let logits = decoder.forward_batch(&tokens, &mut refs).unwrap();
                    let rows: Vec<Vec<f32>> = logits.to_vec2().unwrap();
                    tokens = rows.iter().map(|r| argmax(r)).collect();
                    step_ms.push(ms(t.elapsed()));
                }
                batched.push((n * steps) as f64 / started.elapsed().as_secs_f64());

                let mut caches = vec![base.clone(); n];
                let mut tokens = vec![first; n];
                let started = Instant::now();
                for _ in 0..steps {
                    for (cache, token) in caches.iter_mut().zip(tokens.iter_mut()) {
                        let logits = decoder.forward_batch(&[*token], &mut [cache]).unwrap();
                        let rows: Vec<Vec<f32>> = logits.to_vec2().unwrap();
                        *token = argmax(&rows[0]);
                    }
                }
                one_at_a_time.push((n * steps) as f64 / started.elapsed().as_secs_f64());
            }
            let row = BatchRow {
                sequences: n,
                batched_tps: summarize(batched),
                one_at_a_time_tps: summarize(one_at_a_time),
                step_ms: summarize(step_ms),
            };
            eprintln!(
                "  {n} sequences: {:.1} tok/s batched, {:.1} one at a time",
                row.batched_tps.median, row.one_at_a_time_tps.median
            );
            row
        })
        .collect()
}

struct Settings {
    runs: usize,
    batch_sizes: Vec<usize>,
    steps: usize,
    batching_only: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let settings = Settings {
        runs: env_or("LLM_BENCH_RUNS", 5usize).max(1),
        batch_sizes: std::env::var("LLM_BENCH_BATCH")
            .unwrap_or_else(|_| "1,2,4,8".into())
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .filter(|&n| n > 0)
            .collect(),
        steps: env_or("LLM_BENCH_STEPS", 32usize).max(1),
        batching_only: std::env::var("LLM_BENCH_ONLY").as_deref() == Ok("batching"),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let load_before = load1();
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
        eprintln!("benchmarking {file} ({} runs)...", settings.runs);
        let r = bench_model(&path, &settings);
        if let Some(speed) = &r.speed {
            eprintln!(
                "  prefill {:.0} tok/s, decode {:.1} tok/s, TTFT follow-up {:.0} ms -> {:.0} ms with cache",
                speed.prefill_tps.median,
                speed.decode_tps.median,
                speed.ttft_followup_no_cache.median,
                speed.ttft_followup_cache.median
            );
        }
        results.push(r);
    }
    let load_after = load1();
    let md = report(&results, &settings, (load_before, load_after));
    println!("{md}");
    // This run itself keeps the cores busy: the end allows for that, the start does not.
    let quiet = load_before < cores * 0.5 && load_after < cores * 1.5;
    if quiet {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks");
        std::fs::create_dir_all(&out).expect("create docs/benchmarks");
        std::fs::write(out.join("llm-engine.md"), &md).expect("write llm-engine.md");
        eprintln!("written to docs/benchmarks/llm-engine.md");
    } else {
        eprintln!(
            "the machine was busy (load average {load_before:.2} at the start, {load_after:.2} at \
             the end, {cores} cores): figures printed above, docs/benchmarks/llm-engine.md not \
             written. Run again on a quiet machine."
        );
    }
}

fn report(results: &[ModelResult], settings: &Settings, load: (f64, f64)) -> String {
    let runs = settings.runs;
    let s = |x: &Summary, digits: usize| format!("{:.*} ({:.*})", digits, x.median, digits, x.p95);
    let mut md = String::new();
    md.push_str("# LLM engine benchmark\n\n");
    md.push_str(&format!(
        "Machine: {}; load average (1 min) {:.2} at the start, {:.2} at the end.\n\
         Runs per number: {runs}; median (p95). {} build, candle CPU.\n\
         Reproduce: `cargo run --release --example llm_bench` (`LLM_BENCH_RUNS=n`).\n\n",
        machine(),
        load.0,
        load.1,
        if cfg!(debug_assertions) {
            "Dev-profile (dependencies at opt-level 3)"
        } else {
            "Release"
        }
    ));
    if results.iter().any(|r| r.speed.is_some()) {
        md.push_str("Prefill: the multi-turn prompt below from an empty cache. Decode: 64 greedy tokens after the first. \
                     TTFT (time to first token): a first turn (system prompt + one question) and a follow-up turn of a \
                     5-message conversation right after the previous turn was answered; \"cache\" is LLM_PREFIX_CACHING=true \
                     (the system prompt's KV, and the previous turn's, are reused).\n\n");
        md.push_str("| model file | load s | prompt tokens | prefill tok/s | decode tok/s | TTFT first turn, no cache ms | TTFT first turn, cache ms | TTFT follow-up, no cache ms | TTFT follow-up, cache ms | follow-up tokens reused |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
        for r in results {
            let Some(speed) = &r.speed else { continue };
            md.push_str(&format!(
                "| `{}` ({}) | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.file,
                r.name,
                r.load_s,
                speed.prompt_tokens,
                s(&speed.prefill_tps, 0),
                s(&speed.decode_tps, 1),
                s(&speed.ttft_first_no_cache, 0),
                s(&speed.ttft_first_cache, 0),
                s(&speed.ttft_followup_no_cache, 0),
                s(&speed.ttft_followup_cache, 0),
                speed.reused_followup,
            ));
        }
    }
    if results.iter().any(|r| !r.chunks.is_empty()) {
        md.push_str(&format!(
            "\n## Prefill chunk size\n\nThe same prompt prefilled `chunk` tokens per forward pass. \
             \"Chunk ms\" is how long one chunk holds the engine: what a newcomer's prompt costs the \
             sequences answering meanwhile (they wait one chunk between two decode steps). The engine \
             uses {PREFILL_CHUNK_TOKENS}.\n\n"
        ));
        md.push_str("| model file | chunk | prefill tok/s | chunk ms |\n|---|---|---|---|\n");
        for r in results {
            for c in &r.chunks {
                md.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    r.file,
                    c.chunk,
                    s(&c.prefill_tps, 0),
                    s(&c.chunk_ms, 0)
                ));
            }
        }
    }
    md.push_str(&format!(
        "\n## Batched decoding\n\nN sequences after the same prompt each decode {} greedy tokens: \
         batched = one forward pass per step for all N (what the server does), one at a time = one \
         pass per sequence in turn (serving them one by one). Aggregate tokens/s over all N; \
         \"vs 1\" divides the batched figure by the single-sequence one.\n\n",
        settings.steps
    ));
    md.push_str("| model file | sequences | batched tok/s | one at a time tok/s | batched / one at a time | vs 1 | step ms |\n|---|---|---|---|---|---|---|\n");
    for r in results {
        let single = r
            .batching
            .iter()
            .find(|b| b.sequences == 1)
            .map(|b| b.batched_tps.median);
        for b in &r.batching {
            md.push_str(&format!(
                "| `{}` | {} | {} | {} | {:.2} | {} | {} |\n",
                r.file,
                b.sequences,
                s(&b.batched_tps, 1),
                s(&b.one_at_a_time_tps, 1),
                b.batched_tps.median / b.one_at_a_time_tps.median,
                single.map_or("-".into(), |one| format!(
                    "{:.2}",
                    b.batched_tps.median / one
                )),
                s(&b.step_ms, 0),
            ));
        }
    }
    md
}
