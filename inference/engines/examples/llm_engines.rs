//! The CPU reference side by side: our candle engine and llama.cpp's server, on the same GGUF
//! file, measured in one run, alternating run by run. Both get the same token ids (llama.cpp's
//! `/completion` takes a prompt as token ids), so both compute exactly the same prompts.
//!
//! Measures: prefill tok/s (the multi-turn prompt, nothing cached); decode tok/s (64 greedy
//! tokens); time to first token of a follow-up turn whose conversation so far is cached;
//! aggregate decode tok/s of 1 and 4 sequences decoding at once; and of 4 sequences each
//! after a long conversation (where attention over the cache weighs). llama.cpp's figures are its
//! own `timings` (server-side, no HTTP); for 4 sequences, all tokens ÷ the longest decode time.
//!
//! Run through `scripts/bench_llm_engines.sh`, which starts the server and writes the table into
//! docs/benchmarks/llm.md. By hand: `LLAMACPP_URL=http://127.0.0.1:PORT cargo run
//! --release -p goassist-engines --example llm_engines`. `LLM_ENGINES_MODEL` picks the file under
//! `MODELS_DIR/llm` (default `qwen2.5-0.5b-instruct-q8.gguf`), `LLM_ENGINES_RUNS` the runs
//! (default 5). The markdown table goes to stdout, progress to stderr.

mod llm_common;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use goassist_engines::llm::{
    ChatMessage, GenerationParams, KvCache, LlmEngine, LlmEngineConfig, Sampling, TokenId,
};
use llm_common::{SYSTEM, argmax, conversation, earlier_turns, load1, machine, summarize};
use serde_json::{Value, json};

/// Decode steps of the decode measurement, and of each sequence in the aggregate one.
const DECODE_TOKENS: usize = 64;
const AGGREGATE_TOKENS: usize = 32;
/// Sequences decoding at once in the aggregate measurement (the batching issue's 4 vs 1).
const SEQUENCES: usize = 4;

/// Follow-up questions, one per run, so no run finds its question cached (the warm-up round
/// asks the conversation's own last question). More runs than questions reuse them.
const FOLLOW_UPS: [&str; 5] = [
    "Where should we eat on the first evening?",
    "Is it easy to walk from the Marais to Montmartre?",
    "What should I pack for the weather in April?",
    "Which bakery near the canal do you like?",
    "How early should we get to the markets?",
];

fn follow_up(run: usize) -> Vec<ChatMessage> {
    let mut turns = earlier_turns();
    turns.push(ChatMessage::user(FOLLOW_UPS[run % FOLLOW_UPS.len()]));
    turns
}

/// The prompts both engines compute, as token ids.
struct Prompts {
    /// The whole conversation with a last question: the prefill measurement.
    conversation: Vec<TokenId>,
    /// A short request whose answer is long: the decode measurements.
    describe: Vec<TokenId>,
    /// The same request after a long conversation (the conversation four times over: 798
    /// tokens with the Qwen2.5 file, which with the answer fits llama.cpp's per-slot context
    /// of 1024).
    long: Vec<TokenId>,
}

/// One run's figures for one engine.
#[derive(Default)]
struct Run {
    prefill_tps: f64,
    decode_tps: f64,
    ttft_ms: f64,
    cached_tokens: usize,
    new_tokens: usize,
    aggregate_one: f64,
    aggregate_many: f64,
    aggregate_many_long: f64,
}

fn candle_run(engine: &mut LlmEngine, prompts: &Prompts, question: &[ChatMessage]) -> Run {
    let decoder = engine.decoder();
    let started = Instant::now();
    decoder
        .forward(&prompts.conversation, &mut KvCache::default())
        .expect("prefill");
    let prefill_tps = prompts.conversation.len() as f64 / started.elapsed().as_secs_f64();

    let decode = |prompt: &[TokenId], sequences: usize, steps: usize| -> f64 {
        let mut base = KvCache::default();
        let logits = decoder.forward(prompt, &mut base).expect("prefill");
        let first = argmax(&logits.to_vec1::<f32>().expect("logits"));
        let mut caches = vec![base; sequences];
        let mut tokens = vec![first; sequences];
        let started = Instant::now();
        for _ in 0..steps {
            let mut refs: Vec<&mut KvCache> = caches.iter_mut().collect();
            let logits = decoder.forward_batch(&tokens, &mut refs).expect("decode");
            let rows: Vec<Vec<f32>> = logits.to_vec2().expect("logits");
            tokens = rows.iter().map(|r| argmax(r)).collect();
        }
        (sequences * steps) as f64 / started.elapsed().as_secs_f64()
    };
    let decode_tps = decode(&prompts.describe, 1, DECODE_TOKENS);
    let aggregate_one = decode(&prompts.describe, 1, AGGREGATE_TOKENS);
    let aggregate_many = decode(&prompts.describe, SEQUENCES, AGGREGATE_TOKENS);
    let aggregate_many_long = decode(&prompts.long, SEQUENCES, AGGREGATE_TOKENS);

    // The conversation so far was answered just before (so it is cached), then the user asks.
    let one_token = GenerationParams {
        max_new_tokens: 1,
        sampling: Sampling::Greedy,
        no_echo_ngram: 0,
    };
    let mut ignore = |_: &str| ControlFlow::Continue(());
    engine
        .generate(&earlier_turns(), &one_token, &mut ignore)
        .expect("earlier turns");
    let stats = engine
        .generate(question, &one_token, &mut ignore)
        .expect("follow-up");
    Run {
        prefill_tps,
        decode_tps,
        ttft_ms: stats.time_to_first_token.as_secs_f64() * 1000.0,
        cached_tokens: stats.reused_prompt_tokens,
        new_tokens: stats.prompt_tokens - stats.reused_prompt_tokens,
        aggregate_one,
        aggregate_many,
        aggregate_many_long,
    }
}

/// llama.cpp's server at `url`, asked through its native `/completion` endpoint.
#[derive(Clone)]
struct LlamaCpp {
    client: reqwest::Client,
    url: String,
}

/// The `timings` object of a `/completion` answer.
struct Timings {
    prompt_n: usize,
    prompt_ms: f64,
    predicted_n: usize,
    predicted_ms: f64,
    cache_n: usize,
}

impl LlamaCpp {
    async fn complete(&self, prompt: &[TokenId], tokens: usize, cache_prompt: bool) -> Timings {
        let body = json!({
            "prompt": prompt,
            "n_predict": tokens,
            "cache_prompt": cache_prompt,
            "temperature": 0.0,
            "ignore_eos": true,
            "stream": false,
        });
        let response = self
            .client
            .post(format!("{}/completion", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("llama.cpp at {}: {e}", self.url));
        let status = response.status();
        let bytes = response.bytes().await.expect("llama.cpp answer");
        assert!(
            status.is_success(),
            "llama.cpp answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let answer: Value = serde_json::from_slice(&bytes).expect("llama.cpp JSON");
        let t = &answer["timings"];
        let number = |key: &str| {
            t[key]
                .as_f64()
                .unwrap_or_else(|| panic!("llama.cpp timings lack `{key}`: {t}"))
        };
        Timings {
            prompt_n: number("prompt_n") as usize,
            prompt_ms: number("prompt_ms"),
            predicted_n: number("predicted_n") as usize,
            predicted_ms: number("predicted_ms"),
            cache_n: t["cache_n"].as_u64().unwrap_or(0) as usize,
        }
    }

    async fn run(&self, engine: &LlmEngine, prompts: &Prompts, question: &[ChatMessage]) -> Run {
        let prefill = self.complete(&prompts.conversation, 1, false).await;
        let decode = self.complete(&prompts.describe, DECODE_TOKENS, false).await;
        let rate = |t: &Timings| t.predicted_n as f64 / (t.predicted_ms / 1000.0);
        let one = self
            .complete(&prompts.describe, AGGREGATE_TOKENS, true)
            .await;
        let aggregate_many = self.together(&prompts.describe).await;
        let aggregate_many_long = self.together(&prompts.long).await;

        let earlier = engine.prompt_tokens(&earlier_turns(), 1).expect("prompt");
        self.complete(&earlier, 1, true).await;
        let question = engine.prompt_tokens(question, 1).expect("prompt");
        let ttft = self.complete(&question, 1, true).await;
        Run {
            prefill_tps: prefill.prompt_n as f64 / (prefill.prompt_ms / 1000.0),
            decode_tps: rate(&decode),
            ttft_ms: ttft.prompt_ms,
            cached_tokens: ttft.cache_n,
            new_tokens: ttft.prompt_n,
            aggregate_one: rate(&one),
            aggregate_many,
            aggregate_many_long,
        }
    }

    /// Aggregate decode tok/s of `SEQUENCES` requests for `prompt` sent together (so the server
    /// decodes them in one batch): all tokens ÷ the longest decode time.
    async fn together(&self, prompt: &[TokenId]) -> f64 {
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..SEQUENCES {
            let (server, prompt) = (self.clone(), prompt.to_vec());
            requests.spawn(async move { server.complete(&prompt, AGGREGATE_TOKENS, true).await });
        }
        let many = requests.join_all().await;
        let tokens: usize = many.iter().map(|t| t.predicted_n).sum();
        let longest = many.iter().map(|t| t.predicted_ms).fold(0.0, f64::max);
        tokens as f64 / (longest / 1000.0)
    }
}

fn main() {
    let url = std::env::var("LLAMACPP_URL").unwrap_or_else(|_| {
        eprintln!(
            "llm_engines: set LLAMACPP_URL to a llama.cpp server on the same model \
             (scripts/bench_llm_engines.sh starts one)"
        );
        std::process::exit(2);
    });
    let runs: usize = std::env::var("LLM_ENGINES_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let file = std::env::var("LLM_ENGINES_MODEL")
        .unwrap_or_else(|_| "qwen2.5-0.5b-instruct-q8.gguf".into());
    let dir = std::env::var_os("MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let path = dir.join("llm").join(&file);
    let load_before = load1();

    let mut engine = LlmEngine::load(LlmEngineConfig::new(&path, SYSTEM))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    engine.set_prefix_caching(true).expect("prefix caching");
    let whole = engine.prompt_tokens(&conversation(), 64).expect("prompt");
    let describe = engine
        .prompt_tokens(
            &[ChatMessage::user(
                "Describe a walk through Paris in detail.",
            )],
            64,
        )
        .expect("prompt");
    let long = [whole.repeat(4), describe.clone()].concat();
    let prompts = Prompts {
        conversation: whole,
        describe,
        long,
    };
    let llama = LlamaCpp {
        // llama.cpp's server closes an idle connection after 5 s; a candle run lasts longer.
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("HTTP client"),
        url: url.trim_end_matches('/').to_string(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // One untimed round each: page the weights in, warm the caches and the server's slots.
    candle_run(&mut engine, &prompts, &conversation());
    runtime.block_on(llama.run(&engine, &prompts, &conversation()));

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        eprintln!("llm_engines: run {}/{runs}", run + 1);
        let question = follow_up(run);
        ours.push(candle_run(&mut engine, &prompts, &question));
        theirs.push(runtime.block_on(llama.run(&engine, &prompts, &question)));
    }
    let load_after = load1();
    print!(
        "{}",
        report(
            &ours,
            &theirs,
            &file,
            runs,
            &prompts,
            (load_before, load_after)
        )
    );
}

fn report(
    ours: &[Run],
    theirs: &[Run],
    file: &str,
    runs: usize,
    prompts: &Prompts,
    load: (f64, f64),
) -> String {
    let column = |runs: &[Run], f: fn(&Run) -> f64| summarize(runs.iter().map(f).collect());
    let mut md = format!(
        "Machine: {}; 1-minute load {:.2} before the run, {:.2} after it.\n\
         Model: `{file}` for both. {runs} runs, alternating; median (p95). Release build.\n\n\
         | measure | candle (ours) | llama.cpp server | ours ÷ llama.cpp |\n|---|---|---|---|\n",
        machine(),
        load.0,
        load.1,
    );
    // (measure, its value in a run, whether higher is better)
    type Measure = (String, fn(&Run) -> f64, bool);
    let rows: [Measure; 7] = [
        (
            format!(
                "prefill tok/s ({}-token prompt, nothing cached)",
                prompts.conversation.len()
            ),
            |r| r.prefill_tps,
            true,
        ),
        (
            format!("decode tok/s ({DECODE_TOKENS} greedy tokens, one sequence)"),
            |r| r.decode_tps,
            true,
        ),
        (
            "time to first token, follow-up turn, conversation so far cached (ms)".into(),
            |r| r.ttft_ms,
            false,
        ),
        (
            "aggregate decode tok/s, 1 sequence".into(),
            |r| r.aggregate_one,
            true,
        ),
        (
            format!("aggregate decode tok/s, {SEQUENCES} sequences at once"),
            |r| r.aggregate_many,
            true,
        ),
        (
            format!("{SEQUENCES} sequences ÷ 1"),
            |r| r.aggregate_many / r.aggregate_one,
            true,
        ),
        (
            format!(
                "aggregate decode tok/s, {SEQUENCES} sequences at once, each after {} tokens",
                prompts.long.len()
            ),
            |r| r.aggregate_many_long,
            true,
        ),
    ];
    for (name, f, higher_is_better) in rows {
        let (a, b) = (column(ours, f), column(theirs, f));
        let digits = if a.median < 10.0 { 2 } else { 0 };
        // For a time, "ours ÷ llama.cpp" is stated as a speed ratio too: theirs ÷ ours.
        let ratio = if higher_is_better {
            a.median / b.median
        } else {
            b.median / a.median
        };
        md.push_str(&format!(
            "| {name} | {:.*} ({:.*}) | {:.*} ({:.*}) | {ratio:.2} |\n",
            digits, a.median, digits, a.p95, digits, b.median, digits, b.p95,
        ));
    }
    let last = |runs: &[Run]| {
        runs.last()
            .map(|r| (r.cached_tokens, r.new_tokens))
            .unwrap_or_default()
    };
    let ((oc, on), (tc, tn)) = (last(ours), last(theirs));
    md.push_str(&format!(
        "\nThe follow-up turn: ours reused {oc} cached tokens and computed {on}; llama.cpp reused \
         {tc} and computed {tn} (last run). For a time the ratio column is llama.cpp's time ÷ \
         ours, so above 1 means ours is faster on every row.\n"
    ));
    md
}
