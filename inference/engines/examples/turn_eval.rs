//! End-of-turn evaluation on recorded speech: when does each detector end the user's turn?
//!
//! ```text
//! cargo run --release -p goassist-engines --example turn_eval -- [--llm FILE] [--runs N]
//!     [--out FILE] [--max-load L] [--verbose] [MODELS_DIR]
//! ```
//!
//! Each recording (the five LibriVox utterances and jfk.wav, one turn each) is streamed in
//! 20 ms packets, with half a second of quiet-room noise before and 3 s after, through the
//! real pipeline a session runs: Silero VAD + segmenter + utterance capture, Smart Turn on the
//! turn's audio once a pause has lasted the probe time, a Moonshine transcript of the audio up
//! to the pause, and the LLM's end-of-turn probability after that transcript (P(`<|im_end|>`)
//! right after the user's text, with the server's default system prompt before it).
//!
//! The observations are then replayed through [`TurnDetector`] in virtual time, for the tuned
//! default rule, the fixed 600 ms silence of today, and a small grid around the defaults:
//! - **false cut-off**: the turn ended in a pause inside a recording (mid-sentence);
//! - **wait**: from the end of the last voiced audio of the recording to the end of the turn.
//!   "Rule wait" assumes the models answer at once (a property of the rule alone); "with
//!   compute" adds the model times measured in this run.
//!
//! Accuracy figures do not depend on the machine. Times do: the report goes to `--out`
//! (default `docs/benchmarks/turn.md`) with its timing sections only when the machine was
//! quiet (1-minute load average before the run at most `--max-load`, default half the cores,
//! and after it at most the cores + `--max-load`); otherwise the timing sections say so.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use goassist_engines::asr::{Asr, MoonshineAsr};
use goassist_engines::llm::{
    ChatMessage, DEFAULT_VOICE_PROMPT, LlmEngine, LlmEngineConfig, PrefillProgress,
};
use goassist_engines::turn::{
    EndReason, SmartTurnModel, TurnAction, TurnDetector, TurnInput, TurnRuleConfig,
};
use goassist_engines::vad::{
    CaptureConfig, SegmentEvent, SegmenterConfig, UtteranceCapture, VadEngine, VadModel,
};

const RATE: usize = 16_000;
const PACKET: usize = RATE / 50;
const LEAD_IN_S: f64 = 0.5;
const TRAILING_S: f64 = 3.0;
/// Pauses inside a recording counted as chances for a false cut-off: long enough for the
/// models to be asked (the default probe time).
const INNER_PAUSE_S: f64 = 0.2;
/// Everything from this line on in the output file is kept when the report is regenerated.
const NOTES_MARKER: &str = "<!-- notes: kept when turn_eval regenerates the tables above -->";

struct Options {
    llm: Option<PathBuf>,
    runs: usize,
    out: PathBuf,
    max_load: Option<f64>,
    verbose: bool,
    models: PathBuf,
}

fn parse_args() -> Options {
    let mut options = Options {
        llm: None,
        runs: 20,
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks/turn.md"),
        max_load: None,
        verbose: false,
        models: goassist_engines::test_models_dir(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--llm" => options.llm = Some(PathBuf::from(value("--llm"))),
            "--runs" => {
                options.runs = value("--runs")
                    .parse()
                    .unwrap_or_else(|_| usage("--runs N"))
            }
            "--out" => options.out = PathBuf::from(value("--out")),
            "--max-load" => {
                options.max_load = Some(
                    value("--max-load")
                        .parse()
                        .unwrap_or_else(|_| usage("--max-load L")),
                )
            }
            "--verbose" => options.verbose = true,
            "-h" | "--help" => usage(""),
            dir => options.models = PathBuf::from(dir),
        }
    }
    options.runs = options.runs.max(1);
    options
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: turn_eval [--llm FILE] [--runs N] [--out FILE] [--max-load L] [--verbose] [MODELS_DIR]"
    );
    std::process::exit(2)
}

struct Recording {
    name: String,
    samples: Vec<f32>,
}

fn read_wav(path: &Path) -> Vec<f32> {
    let reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    reader
        .into_samples::<i16>()
        .map(|s| f32::from(s.expect("readable sample")) / 32768.0)
        .collect()
}

fn recordings(models: &Path) -> Vec<Recording> {
    let dir = models.join("speech/librivox");
    let transcription = std::fs::read_to_string(dir.join("transcription"))
        .expect("speech/librivox/transcription (run scripts/download_models.sh)");
    let mut all: Vec<Recording> = transcription
        .lines()
        .filter_map(|line| {
            let (_, id) = line.rsplit_once('(')?;
            let name = id.trim().trim_end_matches(')').to_string();
            Some(Recording {
                samples: read_wav(&dir.join(format!("{name}.wav"))),
                name: name.rsplit('-').next().unwrap_or(&name).to_string(),
            })
        })
        .collect();
    all.push(Recording {
        name: "jfk".into(),
        samples: read_wav(&models.join("speech/jfk.wav")),
    });
    all
}

/// Deterministic quiet-room noise (about -60 dBFS): digital zeros are easier than any room.
fn room_noise(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 - 0.5) * 0.002
        })
        .collect()
}

/// The LLM's probability that the user's message ends after a transcript, computed as the
/// server computes it: [`LlmEngine::start_open_turn`] with the server's default system prompt
/// ([`DEFAULT_VOICE_PROMPT`]) and the transcript as the user's open message.
struct TextSignal {
    engine: LlmEngine,
}

/// The server's default answer length (`LLM_MAX_NEW_TOKENS`), which its history trimming
/// assumes.
const MAX_NEW_TOKENS: usize = 160;

impl TextSignal {
    fn load(path: &Path) -> Self {
        // Prefix caching on, as in the server: the system prompt is computed once.
        let engine =
            LlmEngine::load(LlmEngineConfig::new(path, DEFAULT_VOICE_PROMPT)).expect("LLM loads");
        Self { engine }
    }

    fn end_probability(&mut self, transcript: &str) -> f32 {
        let slot = self.engine.open_slot().expect("a free slot");
        self.engine
            .start_open_turn(slot, &[ChatMessage::user(transcript)], MAX_NEW_TOKENS)
            .expect("open turn");
        let probability = loop {
            match self.engine.prefill(slot).expect("prefill") {
                PrefillProgress::Pending { .. } => continue,
                PrefillProgress::EndOfTurn(p) => break p,
                PrefillProgress::Answering(_) => unreachable!("an open turn does not answer"),
            }
        };
        // Back to the shared cache, so the next transcript reuses the system prompt.
        let cached = self.engine.release_slot(slot).expect("release");
        self.engine.remember(cached);
        probability
    }
}

/// One pause the VAD saw after speech, and what the models said about it.
#[derive(Debug, Clone)]
struct Pause {
    /// The sample after the last voiced one (the pause's first sample).
    start_sample: u64,
    /// End of the last voiced audio, seconds from the start of the stream.
    since: f64,
    /// When the VAD first reported the silence.
    detected: f64,
    /// When voice came back; `None` for the pause after the recording (the true end).
    until: Option<f64>,
    /// Smart Turn and the text signal, for pauses that lasted the probe time.
    audio: Option<Verdict>,
    text: Option<TextVerdict>,
}

#[derive(Debug, Clone)]
struct Verdict {
    probability: f32,
    /// Features + model.
    compute: Duration,
}

#[derive(Debug, Clone)]
struct TextVerdict {
    transcript: String,
    probability: f32,
    asr: Duration,
    llm: Duration,
}

struct Observation {
    name: String,
    pauses: Vec<Pause>,
    /// Smart Turn inputs kept for the timing runs.
    windows: Vec<Vec<f32>>,
}

struct Engines {
    vad: VadModel,
    asr: MoonshineAsr,
    smart_turn: SmartTurnModel,
    text: TextSignal,
}

fn seconds(samples: u64) -> f64 {
    samples as f64 / RATE as f64
}

/// Streams one recording through VAD, capture, Smart Turn, ASR and the text signal. Both models
/// judge every pause that lasts `probe_after`, as a session would run them.
fn observe(engines: &mut Engines, recording: &Recording, probe_after: Duration) -> Observation {
    let mut audio = room_noise((LEAD_IN_S * RATE as f64) as usize, 7);
    audio.extend_from_slice(&recording.samples);
    audio.extend(room_noise((TRAILING_S * RATE as f64) as usize, 11));
    // The segmenter must not end the turn itself: the detectors under test decide.
    let segmenter = SegmenterConfig {
        end_of_turn_silence_ms: 60_000,
        ..SegmenterConfig::default()
    };
    let mut detector = engines.vad.new_detector(segmenter);
    let mut capture = UtteranceCapture::new(CaptureConfig::default());
    let mut pauses: Vec<Pause> = Vec::new();
    let mut windows = Vec::new();
    for packet in audio.chunks(PACKET) {
        capture.push(packet);
        for event in detector.push(packet).expect("valid audio") {
            if let SegmentEvent::SpeechStart { .. } = event {
                capture.on_event(event);
            }
        }
        let now = seconds(detector.samples_processed());
        let open = pauses.last_mut().filter(|p| p.until.is_none());
        match (detector.trailing_silence_start(), open) {
            (Some(start), Some(pause)) if start == pause.start_sample => {}
            (Some(start), open) => {
                if let Some(pause) = open {
                    pause.until = Some(now);
                }
                pauses.push(Pause {
                    start_sample: start,
                    since: seconds(start),
                    detected: now,
                    until: None,
                    audio: None,
                    text: None,
                });
            }
            (None, Some(pause)) => pause.until = Some(now),
            (None, None) => {}
        }
        let Some(pause) = pauses.last_mut().filter(|p| p.until.is_none()) else {
            continue;
        };
        if pause.audio.is_some() || now < pause.since + probe_after.as_secs_f64() {
            continue;
        }
        let window = capture.current().expect("in speech").to_vec();
        let prediction = engines.smart_turn.predict(&window).expect("Smart Turn");
        pause.audio = Some(Verdict {
            probability: prediction.probability,
            compute: prediction.features_time + prediction.model_time,
        });
        windows.push(window);
        let utterance = capture
            .audio_until(pause.start_sample.saturating_sub(1))
            .expect("the capture pad is shorter than the probe time");
        let started = Instant::now();
        let transcript = engines.asr.transcribe(utterance).expect("ASR");
        let asr = started.elapsed();
        let started = Instant::now();
        let probability = engines.text.end_probability(&transcript);
        pause.text = Some(TextVerdict {
            transcript,
            probability,
            asr,
            llm: started.elapsed(),
        });
    }
    // The stream ends in silence: the last pause is the true end of the turn.
    Observation {
        name: recording.name.clone(),
        pauses,
        windows,
    }
}

/// How the model times enter the replay.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Latency {
    /// Every model answers the moment it is asked.
    Instant,
    /// As measured in this run.
    Measured,
}

/// One detector's outcome on one recording.
#[derive(Debug, Clone)]
struct Outcome {
    /// Pauses inside the recording that ended the turn.
    cut_offs: usize,
    /// Pauses inside the recording of at least `INNER_PAUSE_S`.
    inner_pauses: usize,
    /// From the last voiced audio to the end of the turn.
    wait: Duration,
    end_reason: EndReason,
}

/// Replays the observed pauses through a detector in virtual time (10 ms steps).
fn replay(observation: &Observation, config: TurnRuleConfig, latency: Latency) -> Outcome {
    let base = Instant::now();
    let at = |s: f64| base + Duration::from_secs_f64(s);
    let mut detector = TurnDetector::new(config);
    let mut cut_offs = 0;
    let mut inner_pauses = 0;
    let mut wait = None;
    let mut end_reason = EndReason::MaxSilence;
    for pause in &observation.pauses {
        let since = at(pause.since);
        let is_final = pause.until.is_none();
        if pause
            .until
            .is_some_and(|u| u - pause.since >= INNER_PAUSE_S)
        {
            inner_pauses += 1;
        }
        detector.handle(at(pause.detected), TurnInput::Voice);
        detector.handle(at(pause.detected), TurnInput::Silence { since });
        let delay = |d: Duration| match latency {
            Latency::Instant => Duration::ZERO,
            Latency::Measured => d,
        };
        // The transcript is started with Smart Turn, at the probe time.
        let text_at = pause
            .text
            .as_ref()
            .map(|t| since + config.probe_after + delay(t.asr + t.llm));
        let end = pause.until.map_or(at(pause.since + 30.0), at);
        let mut audio_at = None;
        let mut text_sent = false;
        let mut now = at(pause.detected);
        let mut ended = None;
        while now < end && ended.is_none() {
            if let (Some(t), false) = (text_at, text_sent)
                && now >= t
            {
                text_sent = true;
                detector.handle(
                    now,
                    TurnInput::TextProbability {
                        pause: since,
                        probability: pause.text.as_ref().unwrap().probability,
                    },
                );
            }
            if let Some(t) = audio_at
                && now >= t
            {
                audio_at = None;
                if let Some(verdict) = &pause.audio {
                    detector.handle(
                        now,
                        TurnInput::AudioProbability {
                            pause: since,
                            probability: verdict.probability,
                        },
                    );
                }
            }
            while let Some(action) = detector.poll(now) {
                match action {
                    TurnAction::RunAudioModel { .. } => {
                        audio_at = Some(
                            now + pause
                                .audio
                                .as_ref()
                                .map_or(Duration::ZERO, |v| delay(v.compute)),
                        )
                    }
                    TurnAction::EndOfTurn { reason, .. } => ended = Some((now, reason)),
                }
            }
            now += Duration::from_millis(10);
        }
        if let Some((when, reason)) = ended {
            if is_final {
                wait = Some(when - since);
                end_reason = reason;
            } else {
                cut_offs += 1;
            }
        }
    }
    Outcome {
        cut_offs,
        inner_pauses,
        wait: wait.unwrap_or(Duration::from_secs(30)),
        end_reason,
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into())
}

struct Summary {
    cut_offs: usize,
    inner_pauses: usize,
    split_recordings: usize,
    waits: Vec<f64>,
}

fn summarize(observations: &[Observation], config: TurnRuleConfig, latency: Latency) -> Summary {
    let outcomes: Vec<Outcome> = observations
        .iter()
        .map(|o| replay(o, config, latency))
        .collect();
    Summary {
        cut_offs: outcomes.iter().map(|o| o.cut_offs).sum(),
        inner_pauses: outcomes.iter().map(|o| o.inner_pauses).sum(),
        split_recordings: outcomes.iter().filter(|o| o.cut_offs > 0).count(),
        waits: outcomes.iter().map(|o| o.wait.as_secs_f64()).collect(),
    }
}

fn ms(seconds: f64) -> String {
    format!("{:.0}", seconds * 1000.0)
}

fn main() {
    let options = parse_args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let max_load = options.max_load.unwrap_or(cores / 2.0);
    let load_before = load_average();
    let models = &options.models;
    let llm = options
        .llm
        .clone()
        .unwrap_or_else(|| models.join("llm/qwen2.5-0.5b-instruct-q8.gguf"));
    eprintln!("loading VAD, Moonshine, Smart Turn and {}", llm.display());
    let mut engines = Engines {
        vad: VadModel::load(VadEngine::Silero, models).expect("Silero loads"),
        asr: MoonshineAsr::load(models, 1).expect("Moonshine loads"),
        smart_turn: SmartTurnModel::load(models).expect("Smart Turn loads"),
        text: TextSignal::load(&llm),
    };
    let defaults = TurnRuleConfig::default();
    let observations: Vec<Observation> = recordings(models)
        .iter()
        .map(|r| {
            eprintln!("observing {}", r.name);
            observe(&mut engines, r, defaults.probe_after)
        })
        .collect();

    let mut report = String::new();
    let _ = writeln!(
        report,
        "# End-of-turn benchmark\n\nGenerated by `cargo run --release -p goassist-engines --example \
         turn_eval` on {}, {cores} cores. Text signal: `{}`. Recordings: the five LibriVox \
         utterances of pocketsphinx-testdata and jfk.wav, each one turn, streamed in 20 ms \
         packets with {LEAD_IN_S} s of quiet-room noise before and {TRAILING_S} s after.\n",
        cpu_model(),
        llm.file_name().map_or("?".into(), |n| n.to_string_lossy()),
    );

    // What the models said at every pause.
    let _ = writeln!(
        report,
        "## What the models say at each pause\n\nSmart Turn ran {} ms into each pause on the turn's \
         audio so far; the text signal is P(`<|im_end|>`) after the Moonshine transcript of the \
         audio up to the pause.\n\n| recording | pause at s | length ms | Smart Turn P(complete) | \
         transcript so far | text P(end) |\n|---|---:|---:|---:|---|---:|",
        defaults.probe_after.as_millis()
    );
    for o in &observations {
        for p in &o.pauses {
            let length = p.until.map_or("(end)".to_string(), |u| ms(u - p.since));
            let _ = writeln!(
                report,
                "| {} | {:.2} | {length} | {} | {} | {} |",
                o.name,
                p.since - LEAD_IN_S,
                p.audio
                    .as_ref()
                    .map_or("–".into(), |a| format!("{:.3}", a.probability)),
                p.text.as_ref().map_or("–".into(), |t| t.transcript.clone()),
                p.text
                    .as_ref()
                    .map_or("–".into(), |t| format!("{:.3}", t.probability)),
            );
        }
    }

    // The detectors compared.
    let candidates = [
        (
            "silence 600 ms (today, `TURN_DETECTOR=silence`)",
            TurnRuleConfig::silence(Duration::from_millis(600)),
        ),
        (
            "Smart Turn alone (threshold 0.5, as pipecat)",
            TurnRuleConfig {
                text_weight: 0.0,
                ..defaults
            },
        ),
        ("Smart Turn + text (the default)", defaults),
    ];
    let _ = writeln!(
        report,
        "\n## Detectors compared (rule wait: models answer at once)\n\n| detector | false cut-offs \
         (pauses inside a recording) | recordings split | wait after the last word median ms | \
         max ms |\n|---|---:|---:|---:|---:|"
    );
    for (label, config) in candidates {
        let s = summarize(&observations, config, Latency::Instant);
        let _ = writeln!(
            report,
            "| {label} | {} / {} | {} / {} | {} | {} |",
            s.cut_offs,
            s.inner_pauses,
            s.split_recordings,
            observations.len(),
            ms(percentile(&s.waits, 50.0)),
            ms(percentile(&s.waits, 100.0)),
        );
    }
    let per_recording: Vec<String> = observations
        .iter()
        .map(|o| {
            let outcome = replay(o, defaults, Latency::Instant);
            format!(
                "{}: {} turn(s), ended by `{}` after {} ms",
                o.name,
                outcome.cut_offs + 1,
                outcome.end_reason.as_str(),
                ms(outcome.wait.as_secs_f64())
            )
        })
        .collect();
    let _ = writeln!(
        report,
        "\nThe default per recording: {}.",
        per_recording.join("; ")
    );

    // A small grid around the defaults, to show the margins.
    let _ = writeln!(
        report,
        "\n## Sensitivity (rule wait)\n\n| text weight | threshold | max silence ms | false cut-offs | \
         median wait ms | max wait ms |\n|---:|---:|---:|---:|---:|---:|"
    );
    for text_weight in [0.3f32, 0.5, 0.7] {
        for threshold in [0.4f32, 0.5, 0.6] {
            for max_silence in [1500u64, 2000] {
                let config = TurnRuleConfig {
                    text_weight,
                    complete_threshold: threshold,
                    max_silence: Duration::from_millis(max_silence),
                    ..defaults
                };
                let s = summarize(&observations, config, Latency::Instant);
                let _ = writeln!(
                    report,
                    "| {text_weight} | {threshold} | {max_silence} | {} / {} | {} | {} |",
                    s.cut_offs,
                    s.inner_pauses,
                    ms(percentile(&s.waits, 50.0)),
                    ms(percentile(&s.waits, 100.0)),
                );
            }
        }
    }

    // Timing: model costs, measured here.
    let windows: Vec<&Vec<f32>> = observations.iter().flat_map(|o| &o.windows).collect();
    let mut features_ms = Vec::new();
    let mut model_ms = Vec::new();
    for _ in 0..options.runs {
        for window in &windows {
            let p = engines.smart_turn.predict(window).expect("Smart Turn");
            features_ms.push(p.features_time.as_secs_f64() * 1000.0);
            model_ms.push(p.model_time.as_secs_f64() * 1000.0);
        }
    }
    let texts: Vec<&TextVerdict> = observations
        .iter()
        .flat_map(|o| o.pauses.iter().filter_map(|p| p.text.as_ref()))
        .collect();
    let asr_ms: Vec<f64> = texts.iter().map(|t| t.asr.as_secs_f64() * 1000.0).collect();
    let llm_ms: Vec<f64> = texts.iter().map(|t| t.llm.as_secs_f64() * 1000.0).collect();
    let load_after = load_average();
    let quiet = load_before <= max_load && load_after <= cores + max_load;
    let build = if cfg!(debug_assertions) {
        "dev profile"
    } else {
        "release build"
    };
    let mut timing = String::new();
    let _ = writeln!(
        timing,
        "\n## Model time ({build}; load average {load_before:.2} before, {load_after:.2} after)\n\n\
         | stage | runs | median ms | p95 ms |\n|---|---:|---:|---:|\n\
         | Smart Turn features (8 s log-mel) | {} | {:.1} | {:.1} |\n\
         | Smart Turn model (1 intra-op thread) | {} | {:.1} | {:.1} |\n\
         | Moonshine transcript up to the pause | {} | {:.0} | {:.0} |\n\
         | LLM text signal (user tokens after the cached system prompt) | {} | {:.0} | {:.0} |",
        features_ms.len(),
        percentile(&features_ms, 50.0),
        percentile(&features_ms, 95.0),
        model_ms.len(),
        percentile(&model_ms, 50.0),
        percentile(&model_ms, 95.0),
        asr_ms.len(),
        percentile(&asr_ms, 50.0),
        percentile(&asr_ms, 95.0),
        llm_ms.len(),
        percentile(&llm_ms, 50.0),
        percentile(&llm_ms, 95.0),
    );
    let measured = summarize(&observations, defaults, Latency::Measured);
    let _ = writeln!(
        timing,
        "\nWith these model times the default rule's wait after the last word: median {} ms, max \
         {} ms; false cut-offs {} / {}.",
        ms(percentile(&measured.waits, 50.0)),
        ms(percentile(&measured.waits, 100.0)),
        measured.cut_offs,
        measured.inner_pauses
    );

    print!("{report}{timing}");
    if options.verbose {
        for o in &observations {
            for p in &o.pauses {
                eprintln!("{} {:?}", o.name, p);
            }
        }
    }
    if quiet {
        report.push_str(&timing);
    } else {
        let _ = writeln!(
            report,
            "\n## Model time\n\nNot recorded: the machine was busy (1-minute load average \
             {load_before:.2} before, {load_after:.2} after; quiet means at most {max_load:.1} \
             before). Run on a quiet machine for times."
        );
        eprintln!(
            "turn_eval: machine busy (load {load_before:.2} before, {load_after:.2} after, limit \
             {max_load:.1}): the timing section is left out of {}",
            options.out.display()
        );
    }
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
