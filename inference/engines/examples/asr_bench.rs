//! ASR and VAD benchmark on the real recordings: per-utterance latency, real-time factor and word
//! error rate of Moonshine (final transcripts and streaming-style prefixes), and the per-frame
//! cost of both VADs. Prints a markdown report and writes it to `docs/benchmarks/asr.md`.
//!
//! ```text
//! cargo run -p goassist-engines --example asr_bench -- [--runs N] [--threads N[,N...]] [--out FILE] [MODELS_DIR...]
//! ```
//! Each MODELS_DIR (default: `MODELS_DIR` or `models/`) is measured in turn, so a tree with the
//! converted `.onnx` Moonshine files can be compared with one holding only the shipped `.ort`.
//! Wall time is what a caller waits; CPU time (this process, user + system) is reported too
//! because on a shared machine wall time also counts other people's work.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use goassist_engines::asr::{Asr, MoonshineAsr, word_error_rate};
use goassist_engines::vad::{VadEngine, VadModel};

const RATE: usize = 16_000;
/// Everything from this line on in the output file is kept when the tables are regenerated.
const NOTES_MARKER: &str = "<!-- notes: kept when asr_bench regenerates the tables above -->";

struct Utterance {
    name: String,
    samples: Vec<f32>,
    transcript: String,
}

struct Options {
    runs: usize,
    threads: Vec<usize>,
    out: PathBuf,
    model_dirs: Vec<PathBuf>,
}

fn parse_args() -> Options {
    let mut options = Options {
        runs: 5,
        threads: vec![2],
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks/asr.md"),
        model_dirs: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--runs" => {
                options.runs = value("--runs")
                    .parse()
                    .unwrap_or_else(|_| usage("--runs N"))
            }
            "--threads" => {
                options.threads = value("--threads")
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse()
                            .unwrap_or_else(|_| usage("--threads N[,N...]"))
                    })
                    .collect()
            }
            "--out" => options.out = PathBuf::from(value("--out")),
            "-h" | "--help" => usage(""),
            dir => options.model_dirs.push(PathBuf::from(dir)),
        }
    }
    if options.model_dirs.is_empty() {
        options.model_dirs.push(goassist_engines::test_models_dir());
    }
    options.runs = options.runs.max(1);
    options
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: asr_bench [--runs N] [--threads N[,N...]] [--out FILE] [MODELS_DIR...]"
    );
    std::process::exit(2)
}

fn read_wav(path: &Path) -> Vec<f32> {
    let reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    reader
        .into_samples::<i16>()
        .map(|s| f32::from(s.expect("readable sample")) / 32768.0)
        .collect()
}

fn utterances(models: &Path) -> Vec<Utterance> {
    let dir = models.join("speech/librivox");
    let transcription = std::fs::read_to_string(dir.join("transcription"))
        .expect("speech/librivox/transcription (run scripts/download_models.sh)");
    let mut all: Vec<Utterance> = transcription
        .lines()
        .filter_map(|line| {
            let (text, id) = line.rsplit_once('(')?;
            let name = id.trim().trim_end_matches(')').to_string();
            Some(Utterance {
                samples: read_wav(&dir.join(format!("{name}.wav"))),
                name,
                transcript: text.replace("<s>", "").replace("</s>", "").trim().into(),
            })
        })
        .collect();
    all.push(Utterance {
        name: "jfk".into(),
        samples: read_wav(&models.join("speech/jfk.wav")),
        transcript: "And so my fellow Americans, ask not what your country can do for you, ask \
                     what you can do for your country."
            .into(),
    });
    all
}

/// This process's CPU time (user + system) in seconds, from /proc (10 ms resolution).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0));
    format!("{model}, {cores} cores, {memory} RAM")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The runtime library's file name version (`libonnxruntime.so.1.31.1` -> `1.31.1`).
fn runtime_version(models: &Path) -> String {
    let lib = goassist_engines::onnx::runtime_library_path(models);
    std::fs::canonicalize(&lib)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .and_then(|n| n.strip_prefix("libonnxruntime.so.").map(str::to_owned))
        .unwrap_or_else(|| "(unknown version)".into())
}

fn model_format(models: &Path) -> &'static str {
    if models
        .join("asr/moonshine-base-en/decoder_model_merged.onnx")
        .exists()
    {
        ".onnx (converted by scripts/ort_to_onnx.py)"
    } else {
        ".ort (as shipped)"
    }
}

fn bench_asr(models: &Path, threads: usize, options: &Options, report: &mut String) {
    let speech = utterances(models);
    let load_start = Instant::now();
    let mut asr = MoonshineAsr::load(models, threads).expect("Moonshine loads");
    let load_s = load_start.elapsed().as_secs_f64();
    // Warm-up: first runs allocate arenas.
    asr.transcribe(&speech[0].samples).expect("warm-up");

    let _ = writeln!(
        report,
        "\n### Moonshine base-en, {} model, {} intra-op threads\n\nLoad: {load_s:.2} s. \
         {} runs per utterance after one warm-up; load average at start {}.\n",
        model_format(models),
        threads,
        options.runs,
        load_average()
    );
    let _ = writeln!(
        report,
        "| utterance | audio s | words | WER % | latency median s | latency p95 s | RTF median | RTF p95 | CPU s median |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut all_rtf, mut all_latency, mut errors, mut words) = (Vec::new(), Vec::new(), 0.0, 0);
    for utterance in &speech {
        let seconds = utterance.samples.len() as f64 / RATE as f64;
        let (mut latency, mut cpu, mut text) = (Vec::new(), Vec::new(), String::new());
        for _ in 0..options.runs {
            let (cpu_start, start) = (cpu_seconds(), Instant::now());
            text = asr.transcribe(&utterance.samples).expect("transcribes");
            latency.push(start.elapsed().as_secs_f64());
            cpu.push(cpu_seconds() - cpu_start);
        }
        let wer = word_error_rate(&utterance.transcript, &text);
        let reference_words = goassist_engines::asr::normalized_words(&utterance.transcript).len();
        errors += wer * reference_words as f64;
        words += reference_words;
        let rtf: Vec<f64> = latency.iter().map(|l| l / seconds).collect();
        all_rtf.extend(&rtf);
        all_latency.extend(&latency);
        let _ = writeln!(
            report,
            "| {} | {seconds:.2} | {reference_words} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            utterance.name,
            wer * 100.0,
            percentile(&latency, 50.0),
            percentile(&latency, 95.0),
            percentile(&rtf, 50.0),
            percentile(&rtf, 95.0),
            percentile(&cpu, 50.0),
        );
        eprintln!("{}: WER {:.1} % {text:?}", utterance.name, wer * 100.0);
    }
    let _ = writeln!(
        report,
        "| **all** | | {words} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} | |",
        errors / words as f64 * 100.0,
        percentile(&all_latency, 50.0),
        percentile(&all_latency, 95.0),
        percentile(&all_rtf, 50.0),
        percentile(&all_rtf, 95.0),
    );

    // Streaming partials: the server re-transcribes the utterance so far every ~0.5-1 s, so a
    // partial's cost is the cost of a prefix of that length.
    let jfk = speech.last().expect("jfk");
    let _ = writeln!(
        report,
        "\nStreaming partials (jfk.wav prefixes, as the server re-runs them while the user speaks):\n\n\
         | prefix s | latency median s | latency p95 s |\n|---:|---:|---:|"
    );
    for prefix_s in [1usize, 2, 4, 8] {
        let prefix = &jfk.samples[..(prefix_s * RATE).min(jfk.samples.len())];
        let latency: Vec<f64> = (0..options.runs)
            .map(|_| {
                let start = Instant::now();
                asr.transcribe(prefix).expect("transcribes");
                start.elapsed().as_secs_f64()
            })
            .collect();
        let _ = writeln!(
            report,
            "| {prefix_s} | {:.3} | {:.3} |",
            percentile(&latency, 50.0),
            percentile(&latency, 95.0)
        );
    }
}

fn bench_vad(models: &Path, report: &mut String) {
    let speech = utterances(models);
    let _ = writeln!(
        report,
        "\n### VAD per-frame cost (all six recordings, one stream)\n\n\
         | engine | frame ms | frames | per frame median µs | per frame p95 µs | RTF |\n|---|---:|---:|---:|---:|---:|"
    );
    for engine in [VadEngine::Silero, VadEngine::Webrtc] {
        let model = VadModel::load(engine, models).expect("VAD loads");
        let mut vad = model.new_stream();
        let frame_len = vad.frame_len();
        let mut per_frame = Vec::new();
        let mut audio_s = 0.0;
        for utterance in &speech {
            vad.reset();
            for frame in utterance.samples.chunks_exact(frame_len) {
                let start = Instant::now();
                vad.speech_probability(frame).expect("valid frame");
                per_frame.push(start.elapsed().as_secs_f64());
                audio_s += frame_len as f64 / RATE as f64;
            }
        }
        let total: f64 = per_frame.iter().sum();
        let _ = writeln!(
            report,
            "| {engine} | {} | {} | {:.0} | {:.0} | {:.4} |",
            frame_len * 1000 / RATE,
            per_frame.len(),
            percentile(&per_frame, 50.0) * 1e6,
            percentile(&per_frame, 95.0) * 1e6,
            total / audio_s
        );
    }
}

fn main() {
    let options = parse_args();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# ASR and VAD benchmark\n\nMachine: {}. Build: `cargo run -p goassist-engines --example asr_bench` \
         (dev profile; dependencies at opt-level 3, the model compute is ONNX Runtime {}).\n\n\
         Latency = wall time of one `transcribe` call on the whole utterance; RTF = latency / audio \
         length; WER against the pocketsphinx-testdata transcription and the known jfk.wav text. \
         Percentiles are nearest-rank over all runs.",
        machine(),
        runtime_version(&options.model_dirs[0])
    );
    for models in &options.model_dirs {
        for &threads in &options.threads {
            eprintln!("benchmarking {} with {threads} threads", models.display());
            bench_asr(models, threads.max(1), &options, &mut report);
        }
    }
    bench_vad(&options.model_dirs[0], &mut report);
    println!("{report}");
    if let Some(parent) = options.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    // Hand-written findings below the marker survive a re-run.
    if let Some(notes) = std::fs::read_to_string(&options.out)
        .ok()
        .and_then(|old| old.find(NOTES_MARKER).map(|at| old[at..].to_string()))
    {
        report.push('\n');
        report.push_str(&notes);
    }
    match std::fs::write(&options.out, &report) {
        Ok(()) => eprintln!("wrote {}", options.out.display()),
        Err(e) => eprintln!("could not write {}: {e}", options.out.display()),
    }
}
