//! ASR and VAD benchmark on the real recordings: per-utterance latency, real-time factor and word
//! error rate of each recognizer (final transcripts and streaming-style prefixes), the two side by
//! side, and the per-frame cost of both VADs. Prints a markdown report and writes it to
//! `docs/benchmarks/asr.md`.
//!
//! ```text
//! cargo run --release -p goassist-engines --features whisper --example asr_bench -- \
//!     [--runs N] [--threads N[,N...]] [--engines moonshine,whisper] [--language auto|CODE] \
//!     [--out FILE] [MODELS_DIR...]
//! ```
//! Each MODELS_DIR (default: `MODELS_DIR` or `models/`) is measured in turn, so a tree with the
//! converted `.onnx` Moonshine files can be compared with one holding only the shipped `.ort`.
//! Whisper (`asr/whisper-base/ggml-base.bin`, `download_models.sh --with-whisper`) is measured on
//! the same English files plus the Russian ones; it needs the `whisper` feature.
//! Wall time is what a caller waits; CPU time (this process, user + system) is reported too
//! because on a shared machine wall time also counts other people's work.
//!
//! The load average is recorded before and after. Figures from a busy machine are printed but
//! not written into `docs/benchmarks/` (the run says so): publish only from a quiet one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use goassist_engines::asr::{Asr, AsrLanguage, MoonshineAsr, normalized_words, word_edit_distance};
use goassist_engines::vad::{VadEngine, VadModel};

const RATE: usize = 16_000;
/// Everything from this line on in the output file is kept when the tables are regenerated.
const NOTES_MARKER: &str = "<!-- notes: kept when asr_bench regenerates the tables above -->";
/// 1-minute load average above which the machine is too busy to publish figures: before the run
/// nothing of ours is running, so anything above one busy core is someone else's work.
const QUIET_LOAD_BEFORE: f64 = 1.0;
/// After the run the benchmark's own threads are in the average too.
const QUIET_LOAD_AFTER_MARGIN: f64 = 1.0;

struct Utterance {
    name: String,
    language: &'static str,
    samples: Vec<f32>,
    transcript: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Engine {
    Moonshine,
    Whisper,
}

struct Options {
    runs: usize,
    threads: Vec<usize>,
    engines: Vec<Engine>,
    language: AsrLanguage,
    out: PathBuf,
    model_dirs: Vec<PathBuf>,
}

fn parse_args() -> Options {
    let mut options = Options {
        runs: 5,
        threads: vec![2],
        engines: Vec::new(),
        language: AsrLanguage::Auto,
        out: docs_benchmarks().join("asr.md"),
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
            "--engines" => {
                options.engines = value("--engines")
                    .split(',')
                    .map(|e| match e.trim() {
                        "moonshine" => Engine::Moonshine,
                        "whisper" => Engine::Whisper,
                        _ => usage("--engines moonshine,whisper"),
                    })
                    .collect()
            }
            "--language" => {
                options.language = AsrLanguage::parse(&value("--language"))
                    .unwrap_or_else(|| usage("--language auto|CODE (a Whisper language code)"))
            }
            "--out" => options.out = PathBuf::from(value("--out")),
            "-h" | "--help" => usage(""),
            dir => options.model_dirs.push(PathBuf::from(dir)),
        }
    }
    if options.model_dirs.is_empty() {
        options.model_dirs.push(goassist_engines::test_models_dir());
    }
    if options.engines.is_empty() {
        options.engines.push(Engine::Moonshine);
        if cfg!(feature = "whisper") && whisper_model(&options.model_dirs[0]).exists() {
            options.engines.push(Engine::Whisper);
        }
    }
    if options.engines.contains(&Engine::Whisper) && !cfg!(feature = "whisper") {
        usage("--engines whisper needs the `whisper` feature (--features whisper)");
    }
    options.runs = options.runs.max(1);
    options
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: asr_bench [--runs N] [--threads N[,N...]] [--engines moonshine,whisper] \
         [--language auto|CODE] [--out FILE] [MODELS_DIR...]"
    );
    std::process::exit(2)
}

fn docs_benchmarks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks")
}

fn whisper_model(models: &Path) -> PathBuf {
    models.join("asr/whisper-base/ggml-base.bin")
}

fn read_wav(path: &Path) -> Vec<f32> {
    let reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    reader
        .into_samples::<i16>()
        .map(|s| f32::from(s.expect("readable sample")) / 32768.0)
        .collect()
}

/// The English recordings: the five LibriVox utterances and jfk.wav.
fn english(models: &Path) -> Vec<Utterance> {
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
                language: "en",
                transcript: text.replace("<s>", "").replace("</s>", "").trim().into(),
            })
        })
        .collect();
    all.push(Utterance {
        name: "jfk".into(),
        language: "en",
        samples: read_wav(&models.join("speech/jfk.wav")),
        transcript: "And so my fellow Americans, ask not what your country can do for you, ask \
                     what you can do for your country."
            .into(),
    });
    all
}

/// The Russian recordings of festvox-ru (`download_models.sh --with-whisper`), if present.
fn russian(models: &Path) -> Vec<Utterance> {
    let dir = models.join("speech/russian");
    let Ok(transcription) = std::fs::read_to_string(dir.join("transcription")) else {
        return Vec::new();
    };
    transcription
        .lines()
        .filter_map(|line| {
            let inner = line.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
            let (id, quoted) = inner.split_once(' ')?;
            Some(Utterance {
                samples: read_wav(&dir.join(format!("{id}.wav"))),
                name: id.to_string(),
                language: "ru",
                // `+` marks stress for the synthesizer; it is not part of the words.
                transcript: quoted.trim().trim_matches('"').replace('+', ""),
            })
        })
        .collect()
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

/// The 1, 5 and 15-minute load averages.
fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut values = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    [(); 3].map(|_| values.next().unwrap_or(f64::NAN))
}

fn load_text(load: [f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", load[0], load[1], load[2])
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

fn moonshine_format(models: &Path) -> &'static str {
    if models
        .join("asr/moonshine-base-en/decoder_model_merged.onnx")
        .exists()
    {
        ".onnx (converted by scripts/ort_to_onnx.py)"
    } else {
        ".ort (as shipped)"
    }
}

/// A loaded recognizer under test.
struct Subject {
    label: String,
    asr: Box<dyn Asr>,
    /// The languages of the recordings it is measured on.
    languages: &'static [&'static str],
}

fn load_subject(
    engine: Engine,
    models: &Path,
    threads: usize,
    language: AsrLanguage,
) -> (Subject, f64) {
    let started = Instant::now();
    let subject = match engine {
        Engine::Moonshine => Subject {
            label: format!(
                "Moonshine base-en, {} model, {threads} intra-op thread(s)",
                moonshine_format(models)
            ),
            asr: Box::new(MoonshineAsr::load(models, threads).expect("Moonshine loads")),
            languages: &["en"],
        },
        Engine::Whisper => whisper_subject(models, threads, language),
    };
    (subject, started.elapsed().as_secs_f64())
}

#[cfg(feature = "whisper")]
fn whisper_subject(models: &Path, threads: usize, language: AsrLanguage) -> Subject {
    let asr = goassist_engines::asr::WhisperAsr::load(&whisper_model(models), language, threads)
        .expect("Whisper base loads (run scripts/download_models.sh --with-whisper)");
    Subject {
        label: format!(
            "Whisper base (multilingual, GGML fp16 via whisper.cpp), ASR_LANGUAGE={language}, \
             {threads} thread(s)"
        ),
        asr: Box::new(asr),
        languages: &["en", "ru"],
    }
}

#[cfg(not(feature = "whisper"))]
fn whisper_subject(_: &Path, _: usize, _: AsrLanguage) -> Subject {
    usage("Whisper needs the `whisper` feature")
}

/// One engine's line in the side-by-side table.
struct Summary {
    label: String,
    wer_by_language: Vec<(&'static str, usize, f64)>,
    rtf_median: f64,
    rtf_p95: f64,
    cpu_per_audio_s: f64,
    load_s: f64,
}

fn bench_asr(
    subject: &mut Subject,
    load_s: f64,
    speech: &[Utterance],
    options: &Options,
    report: &mut String,
) -> Summary {
    let speech: Vec<&Utterance> = speech
        .iter()
        .filter(|u| subject.languages.contains(&u.language))
        .collect();
    // Warm-up: first runs allocate arenas.
    subject.asr.transcribe(&speech[0].samples).expect("warm-up");

    let _ = writeln!(
        report,
        "\n### {}\n\nLoad: {load_s:.2} s. {} runs per utterance after one warm-up; load average \
         at start {}.\n",
        subject.label,
        options.runs,
        load_text(load_average())
    );
    let _ = writeln!(
        report,
        "| utterance | language | audio s | words | WER % | latency median s | latency p95 s | RTF median | RTF p95 | CPU s median |"
    );
    let _ = writeln!(report, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut all_rtf, mut all_latency) = (Vec::new(), Vec::new());
    let (mut cpu_total, mut audio_total) = (0.0, 0.0);
    let mut pooled: Vec<(&'static str, usize, usize)> = Vec::new();
    for utterance in &speech {
        let seconds = utterance.samples.len() as f64 / RATE as f64;
        let (mut latency, mut cpu, mut text) = (Vec::new(), Vec::new(), String::new());
        for _ in 0..options.runs {
            let (cpu_start, start) = (cpu_seconds(), Instant::now());
            text = subject
                .asr
                .transcribe(&utterance.samples)
                .expect("transcribes");
            latency.push(start.elapsed().as_secs_f64());
            cpu.push(cpu_seconds() - cpu_start);
        }
        let detected = subject.asr.last_language().unwrap_or("?");
        let reference = normalized_words(&utterance.transcript);
        let edits = word_edit_distance(&reference, &normalized_words(&text));
        match pooled.iter_mut().find(|(l, _, _)| *l == utterance.language) {
            Some(entry) => {
                entry.1 += edits;
                entry.2 += reference.len();
            }
            None => pooled.push((utterance.language, edits, reference.len())),
        }
        let rtf: Vec<f64> = latency.iter().map(|l| l / seconds).collect();
        all_rtf.extend(&rtf);
        all_latency.extend(&latency);
        cpu_total += percentile(&cpu, 50.0);
        audio_total += seconds;
        let wer = edits as f64 / reference.len() as f64;
        let _ = writeln!(
            report,
            "| {} | {detected} | {seconds:.2} | {} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            utterance.name,
            reference.len(),
            wer * 100.0,
            percentile(&latency, 50.0),
            percentile(&latency, 95.0),
            percentile(&rtf, 50.0),
            percentile(&rtf, 95.0),
            percentile(&cpu, 50.0),
        );
        eprintln!(
            "{} [{detected}]: WER {:.1} % {text:?}",
            utterance.name,
            wer * 100.0
        );
    }
    for (language, edits, words) in &pooled {
        let _ = writeln!(
            report,
            "| **all {language}** | | | {words} | {:.1} | | | | | |",
            *edits as f64 / *words as f64 * 100.0
        );
    }
    let _ = writeln!(
        report,
        "| **all** | | | | | {:.3} | {:.3} | {:.3} | {:.3} | |",
        percentile(&all_latency, 50.0),
        percentile(&all_latency, 95.0),
        percentile(&all_rtf, 50.0),
        percentile(&all_rtf, 95.0),
    );

    // Streaming partials: the server re-transcribes the utterance so far every ~0.5-1 s, so a
    // partial's cost is the cost of a prefix of that length.
    let jfk = speech
        .iter()
        .find(|u| u.name == "jfk")
        .expect("jfk.wav is among the recordings");
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
                subject.asr.transcribe(prefix).expect("transcribes");
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
    Summary {
        label: subject.label.clone(),
        wer_by_language: pooled
            .into_iter()
            .map(|(l, edits, words)| (l, words, edits as f64 / words as f64))
            .collect(),
        rtf_median: percentile(&all_rtf, 50.0),
        rtf_p95: percentile(&all_rtf, 95.0),
        cpu_per_audio_s: cpu_total / audio_total,
        load_s,
    }
}

fn side_by_side(summaries: &[Summary], report: &mut String) {
    let _ = writeln!(
        report,
        "\n## Side by side\n\nSame recordings for every engine: 6 English (93 words); Whisper also \
         the Russian ones (Moonshine is English-only). RTF over all runs of all its utterances; CPU \
         = this process's CPU seconds per second of audio (median run per utterance, summed).\n\n\
         | engine | WER % English | WER % Russian | RTF median | RTF p95 | CPU s per audio s | load s |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for s in summaries {
        let wer = |language: &str| {
            s.wer_by_language
                .iter()
                .find(|(l, _, _)| *l == language)
                .map_or("—".to_string(), |(_, words, wer)| {
                    format!("{:.1} ({words} words)", wer * 100.0)
                })
        };
        let _ = writeln!(
            report,
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.1} |",
            s.label,
            wer("en"),
            wer("ru"),
            s.rtf_median,
            s.rtf_p95,
            s.cpu_per_audio_s,
            s.load_s
        );
    }
}

fn bench_vad(models: &Path, speech: &[Utterance], report: &mut String) {
    let _ = writeln!(
        report,
        "\n### VAD per-frame cost (all the recordings above, one stream)\n\n\
         | engine | frame ms | frames | per frame median µs | per frame p95 µs | RTF |\n|---|---:|---:|---:|---:|---:|"
    );
    for engine in [VadEngine::Silero, VadEngine::Webrtc] {
        let model = VadModel::load(engine, models).expect("VAD loads");
        let mut vad = model.new_stream();
        let frame_len = vad.frame_len();
        let mut per_frame = Vec::new();
        let mut audio_s = 0.0;
        for utterance in speech {
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
    let load_before = load_average();
    let mut body = String::new();
    let mut summaries = Vec::new();
    for models in &options.model_dirs {
        let mut speech = english(models);
        speech.extend(russian(models));
        for &engine in &options.engines {
            // Extra model trees are for comparing Moonshine's formats; Whisper runs once.
            if engine == Engine::Whisper && models != &options.model_dirs[0] {
                continue;
            }
            for &threads in &options.threads {
                eprintln!(
                    "benchmarking {} in {} with {threads} threads",
                    match engine {
                        Engine::Moonshine => "Moonshine",
                        Engine::Whisper => "Whisper",
                    },
                    models.display()
                );
                let (mut subject, load_s) =
                    load_subject(engine, models, threads.max(1), options.language);
                summaries.push(bench_asr(
                    &mut subject,
                    load_s,
                    &speech,
                    &options,
                    &mut body,
                ));
            }
        }
    }
    let first = &options.model_dirs[0];
    let mut vad_speech = english(first);
    vad_speech.extend(russian(first));
    bench_vad(first, &vad_speech, &mut body);
    let load_after = load_average();
    let max_threads = options.threads.iter().copied().max().unwrap_or(1) as f64;
    let busy =
        load_before[0] > QUIET_LOAD_BEFORE || load_after[0] > max_threads + QUIET_LOAD_AFTER_MARGIN;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "# ASR and VAD benchmark\n\nMachine: {}. Build: `asr_bench` example, {} (Moonshine's \
         compute is ONNX Runtime {}; Whisper's is whisper.cpp {}). Load average (1, 5, 15 min) \
         before: {}; after: {}.\n\n\
         Latency = wall time of one `transcribe` call on the whole utterance; RTF = latency / audio \
         length; WER against the pocketsphinx-testdata transcription, the known jfk.wav text and \
         festvox-ru's prompts. Percentiles are nearest-rank over all runs.",
        machine(),
        if cfg!(debug_assertions) {
            "dev profile (dependencies at opt-level 3)"
        } else {
            "release profile"
        },
        runtime_version(first),
        whisper_version(),
        load_text(load_before),
        load_text(load_after),
    );
    side_by_side(&summaries, &mut report);
    report.push_str(&body);
    println!("{report}");

    let publishing = options
        .out
        .canonicalize()
        .ok()
        .zip(docs_benchmarks().canonicalize().ok())
        .is_some_and(|(out, docs)| out.starts_with(docs));
    if busy && publishing {
        eprintln!(
            "NOT writing {}: the machine is busy (load average {} before, {} after; quiet means \
             below {QUIET_LOAD_BEFORE} before and {} after). The figures above are for reading \
             only: rerun on a quiet machine to publish.",
            options.out.display(),
            load_text(load_before),
            load_text(load_after),
            max_threads + QUIET_LOAD_AFTER_MARGIN
        );
        std::process::exit(3);
    }
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

#[cfg(feature = "whisper")]
fn whisper_version() -> &'static str {
    goassist_engines::asr::WHISPER_CPP_VERSION
}

#[cfg(not(feature = "whisper"))]
fn whisper_version() -> &'static str {
    "(not built)"
}
