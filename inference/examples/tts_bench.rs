//! TTS benchmark: real-time factor per clause and first-clause latency of the Piper voice.
//!
//! ```text
//! cargo run -p goassist-inference --example tts_bench -- [--reps N] [--threads N[,N...]] [--out FILE] [--wav FILE]
//! ```
//!
//! Prints the numbers and writes them, with the machine they came from, to
//! `docs/benchmarks/tts.md` (or `--out`). `--wav` also saves one synthesized answer as 16-bit
//! WAV for listening. The dev profile is fine: the compute is in ONNX Runtime and espeak-ng,
//! which are prebuilt, and the workspace builds dependencies optimized.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use goassist_engines::tts::{PiperTts, Tts, espeak};
use goassist_inference::conversation::{ClauseSplitter, SplitterConfig};

/// Typical assistant answers, as an LLM streams them.
const ANSWERS: [&str; 6] = [
    "Sure, I can help with that. The capital of France is Paris, which is also its largest city.",
    "Good question! Water boils at one hundred degrees Celsius at sea level, but at higher \
     altitudes it boils at a lower temperature because the air pressure is lower.",
    "Here is a quick plan for tomorrow: wake up at seven, go for a short run, and then have \
     breakfast before your meeting at nine thirty.",
    "I'm sorry, I didn't catch that. Could you say it again, please?",
    "The meeting was moved to Thursday afternoon. I've updated your calendar, and I sent a note \
     to the team so everyone knows.",
    "To make a simple tomato sauce, warm some olive oil, add garlic, then stir in crushed \
     tomatoes and let it simmer for about twenty minutes.",
];

/// Characters per LLM token (English BPE averages about four).
const CHARS_PER_TOKEN: usize = 4;

struct Args {
    reps: usize,
    threads: Vec<usize>,
    out: PathBuf,
    wav: Option<PathBuf>,
    llm_tokens_per_s: f64,
}

fn parse_args() -> Result<Args, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| manifest.join("../.."));
    let mut args = Args {
        reps: 5,
        threads: vec![1],
        out: root.join("docs/benchmarks/tts.md"),
        wav: None,
        llm_tokens_per_s: 20.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--reps" => args.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--threads" => {
                args.threads = value()?
                    .split(',')
                    .map(|t| t.trim().parse().map_err(|e| format!("--threads: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--out" => args.out = PathBuf::from(value()?),
            "--wav" => args.wav = Some(PathBuf::from(value()?)),
            "--llm-tokens-per-s" => {
                args.llm_tokens_per_s = value()?
                    .parse()
                    .map_err(|e| format!("--llm-tokens-per-s: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.reps == 0 || args.threads.contains(&0) || args.llm_tokens_per_s <= 0.0 {
        return Err("--reps, --threads and --llm-tokens-per-s must be positive".into());
    }
    Ok(args)
}

/// Median and 95th percentile (nearest rank).
fn median_p95(values: &[f64]) -> (f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    (rank(0.5), rank(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Splits an answer the way the voice loop does, feeding it token by token. Returns each clause
/// with the number of characters the LLM had written when the clause became available.
fn stream_clauses(answer: &str) -> Vec<(String, usize)> {
    let mut splitter = ClauseSplitter::new(SplitterConfig::default());
    let chars: Vec<char> = answer.chars().collect();
    let mut clauses = Vec::new();
    let mut written = 0;
    for token in chars.chunks(CHARS_PER_TOKEN) {
        written += token.len();
        for clause in splitter.push(&token.iter().collect::<String>()) {
            clauses.push((clause.text, written));
        }
    }
    for clause in splitter.finish() {
        clauses.push((clause.text, written));
    }
    clauses
}

fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> std::io::Result<()> {
    let data_len = (samples.len() * 2) as u32;
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&sample_rate.to_le_bytes());
    bytes.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        bytes.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    std::fs::write(path, bytes)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores available")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// CPU time this process has used (user + system), from /proc (Linux clock ticks of 10 ms).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Results for one thread count.
struct Measured {
    threads: usize,
    load_s: f64,
    clauses: usize,
    audio_s: f64,
    wall_s: f64,
    cpu_s: f64,
    rtf: (f64, f64),
    clause_ms: (f64, f64),
    phonemize_ms: (f64, f64),
    first_clause_ms: (f64, f64),
    first_audio_ms: (f64, f64),
    first_clause_words: f64,
}

fn measure(
    models: &Path,
    model: &Path,
    threads: usize,
    args: &Args,
) -> Result<Measured, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut tts = PiperTts::load_with_models_dir(models, model, threads)?;
    let load_s = started.elapsed().as_secs_f64();
    println!(
        "threads {threads}: loaded {} in {load_s:.1} s",
        model.display()
    );

    let mut rtf = Vec::new();
    let mut clause_ms = Vec::new();
    let mut phonemize_ms = Vec::new();
    let mut first_clause_ms = Vec::new();
    let mut first_audio_ms = Vec::new();
    let mut first_clause_words = Vec::new();
    let mut audio_s = 0.0;
    let mut wall_s = 0.0;
    let mut cpu_s = 0.0;
    for rep in 0..args.reps {
        for answer in ANSWERS {
            for (i, (clause, written)) in stream_clauses(answer).iter().enumerate() {
                let t = Instant::now();
                espeak::phonemize(clause, &tts.config().espeak_voice)?;
                phonemize_ms.push(ms(t.elapsed()));

                let cpu_before = process_cpu_s();
                let t = Instant::now();
                let audio = tts.synthesize(clause)?;
                let took = t.elapsed();
                cpu_s += process_cpu_s() - cpu_before;
                clause_ms.push(ms(took));
                rtf.push(took.as_secs_f64() / audio.duration_s().max(1e-3));
                audio_s += audio.duration_s();
                wall_s += took.as_secs_f64();
                if i == 0 {
                    first_clause_ms.push(ms(took));
                    // The LLM had to write `written` characters before this clause existed.
                    let llm_ms =
                        written.div_ceil(CHARS_PER_TOKEN) as f64 / args.llm_tokens_per_s * 1000.0;
                    first_audio_ms.push(llm_ms + ms(took));
                    if rep == 0 {
                        first_clause_words.push(clause.split_whitespace().count() as f64);
                    }
                }
            }
        }
    }
    if let Some(path) = args.wav.as_ref().filter(|_| threads == args.threads[0]) {
        let mut samples = Vec::new();
        for (clause, _) in stream_clauses(ANSWERS[0]) {
            samples.extend(tts.synthesize(&clause)?.samples);
        }
        write_wav(path, &samples, tts.sample_rate())?;
        println!("wrote {}", path.display());
    }
    Ok(Measured {
        threads,
        load_s,
        clauses: rtf.len(),
        audio_s,
        wall_s,
        cpu_s,
        rtf: median_p95(&rtf),
        clause_ms: median_p95(&clause_ms),
        phonemize_ms: median_p95(&phonemize_ms),
        first_clause_ms: median_p95(&first_clause_ms),
        first_audio_ms: median_p95(&first_audio_ms),
        first_clause_words: median_p95(&first_clause_words).0,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args().inspect_err(|_| {
        eprintln!(
            "usage: tts_bench [--reps N] [--threads N[,N...]] [--out FILE] [--wav FILE] \
             [--llm-tokens-per-s R]"
        );
    })?;
    let models = std::env::var_os("MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"));
    let model = models.join("tts/piper/en_US-joe-medium.onnx");
    let load_avg_before = load_average();
    let mut results = Vec::new();
    for &threads in &args.threads {
        results.push(measure(&models, &model, threads, &args)?);
    }
    let load_avg_after = load_average();

    let threads_arg: Vec<String> = args.threads.iter().map(ToString::to_string).collect();
    let config = SplitterConfig::default();
    let mut md = String::new();
    writeln!(md, "# TTS benchmark: Piper `en_US-joe-medium` + espeak-ng")?;
    writeln!(md)?;
    writeln!(
        md,
        "Reproduce: `cargo run -p goassist-inference --example tts_bench -- --reps {} --threads {}`",
        args.reps,
        threads_arg.join(",")
    )?;
    writeln!(md)?;
    writeln!(md, "- Machine: {}", machine())?;
    writeln!(
        md,
        "- Load average (1/5/15 min) before: {load_avg_before}; after: {load_avg_after}. \
         Wall-clock numbers depend on it; CPU-time RTF much less so."
    )?;
    writeln!(
        md,
        "- Workload: {} typical assistant answers, split as the voice loop splits them \
         (first clause at a comma after {} words, later clauses after {}), × {} reps",
        ANSWERS.len(),
        config.first_clause_min_words,
        config.min_words,
        args.reps
    )?;
    writeln!(md)?;
    write!(md, "| metric |")?;
    for r in &results {
        write!(
            md,
            " {} thread{} median | p95 |",
            r.threads,
            if r.threads == 1 { "" } else { "s" }
        )?;
    }
    writeln!(md)?;
    write!(md, "|---|")?;
    for _ in &results {
        write!(md, "---|---|")?;
    }
    writeln!(md)?;
    type Row = (&'static str, fn(&Measured) -> (f64, f64), usize);
    let rows: [Row; 5] = [
        ("real-time factor per clause (wall / audio)", |r| r.rtf, 3),
        ("synthesis time per clause (ms)", |r| r.clause_ms, 0),
        (
            "espeak-ng phonemization per clause (ms)",
            |r| r.phonemize_ms,
            2,
        ),
        (
            "first clause: synthesis time (ms)",
            |r| r.first_clause_ms,
            0,
        ),
        (
            "first clause: first LLM token → audio ready (ms)",
            |r| r.first_audio_ms,
            0,
        ),
    ];
    for (name, get, digits) in rows {
        write!(md, "| {name} |")?;
        for r in &results {
            let (median, p95) = get(r);
            write!(md, " {median:.digits$} | {p95:.digits$} |")?;
        }
        writeln!(md)?;
    }
    writeln!(md)?;
    for r in &results {
        writeln!(
            md,
            "- {} thread(s): model load {:.1} s; {} clauses, {:.1} s of audio in {:.1} s wall \
             (RTF {:.3}) and {:.1} s CPU (CPU-time RTF {:.3}); first clauses {:.0} words (median)",
            r.threads,
            r.load_s,
            r.clauses,
            r.audio_s,
            r.wall_s,
            r.wall_s / r.audio_s,
            r.cpu_s,
            r.cpu_s / r.audio_s,
            r.first_clause_words
        )?;
    }
    writeln!(md)?;
    writeln!(
        md,
        "\"First LLM token → audio ready\" is the time a streaming LLM at {} tokens/s \
         ({} characters per token) needs to write the first clause plus its synthesis time; it \
         leaves out the LLM's time to first token and the audio path.",
        args.llm_tokens_per_s, CHARS_PER_TOKEN
    )?;

    print!("{md}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &md)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
