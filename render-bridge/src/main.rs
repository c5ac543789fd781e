//! `goassist-render-bridge`: parses the command line and the environment, binds, runs.
//!
//! ```text
//! goassist-render-bridge [run]            run the bridge (configured by environment variables)
//! goassist-render-bridge --check-config   validate the environment, print the effective values
//! goassist-render-bridge replay --to ADDR [--file REC.jsonl | --synthetic] [--avatars N]
//!                        [--seconds S] [--fps F] [--epoch E] [--audio] [--sealed]
//! goassist-render-bridge record --listen ADDR --seconds S [--frames N] [--out REC.jsonl]
//!                        [--sealed]
//! ```
//!
//! Exit codes: 0, 1 (runtime failure), 64 (usage), 78 (configuration).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use goassist_config::cli;
use goassist_protocol::bridge_auth::{Opener, Sealer};
use goassist_render_bridge::config::{IngestKeys, table};
use goassist_render_bridge::{Bridge, BridgeConfig, replay};
use goassist_telemetry::logging::{self, LogTo};

/// Feeds GoAssist face frames to Unreal (Live Link Face v6, GoAssistLiveLink plugin stream,
/// VMC/OSC).
#[derive(Parser)]
#[command(
    name = "goassist-render-bridge",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Validate the environment and print the effective configuration (secrets redacted);
    /// exit 0, or 78 with every problem.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bridge (the default).
    Run,
    /// Send recorded or synthetic frames to a bridge, paced in real time.
    Replay {
        /// Where to send (the bridge's ingest address).
        #[arg(long)]
        to: SocketAddr,
        /// A recording from `record` (JSON lines).
        #[arg(long, conflicts_with = "synthetic")]
        file: Option<PathBuf>,
        /// Synthetic frames (the default when no --file is given).
        #[arg(long)]
        synthetic: bool,
        /// Synthetic avatars (1–4096).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
        avatars: u32,
        /// Seconds of synthetic frames (0–86400).
        #[arg(long, default_value_t = 10.0, value_parser = seconds)]
        seconds: f64,
        /// Frames per second (1–240).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=240))]
        fps: u32,
        /// Epoch of the synthetic frames.
        #[arg(long, default_value_t = 1)]
        epoch: u32,
        /// Also send 48 kHz audio with each frame.
        #[arg(long)]
        audio: bool,
        /// Seal each datagram with BRIDGE_KEY from the environment (for a bridge with
        /// BRIDGE_KEY set; not for the plugin, which reads unsealed datagrams).
        #[arg(long)]
        sealed: bool,
    },
    /// Record the datagrams arriving on an address (JSON lines).
    Record {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
        /// How long to record (0–86400).
        #[arg(long, default_value_t = 10.0, value_parser = seconds)]
        seconds: f64,
        /// Stop once this many frames are written (default: only --seconds stops it).
        #[arg(long)]
        frames: Option<u64>,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Record only datagrams sealed with BRIDGE_KEY (or BRIDGE_KEY_PREVIOUS) from the
        /// environment, as an inference server with RENDER_BRIDGE_KEY sends them.
        #[arg(long)]
        sealed: bool,
    },
}

/// A duration in seconds, 0–86400.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err("must be a number of seconds from 0 to 86400".into()),
    }
}

fn main() -> ExitCode {
    let cli = match cli::parse_args::<Cli>(&table()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        None | Some(Command::Run) => return serve(cli.check_config),
        Some(Command::Replay {
            to,
            file,
            synthetic: _,
            avatars,
            seconds,
            fps,
            epoch,
            audio,
            sealed,
        }) => match start_logging(None).and_then(|()| keys_from_env(sealed)) {
            Ok(keys) => run_replay(to, file, avatars, seconds, fps, epoch, audio, keys),
            Err(code) => return code,
        },
        Some(Command::Record {
            listen,
            seconds,
            frames,
            out,
            sealed,
        }) => match start_logging(None).and_then(|()| keys_from_env(sealed)) {
            Ok(keys) => run_record(listen, seconds, frames, out, keys),
            Err(code) => return code,
        },
    };
    logging::finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("goassist-render-bridge: {message}\n(try --help)");
            ExitCode::from(cli::EXIT_USAGE)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("goassist-render-bridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Why a `replay` or `record` command failed: a file named on the command line (usage), or
/// the network (runtime).
enum Failure {
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<replay::ReplayError> for Failure {
    fn from(e: replay::ReplayError) -> Self {
        Failure::Runtime(e.into())
    }
}

fn serve(check_only: bool) -> ExitCode {
    let table = table();
    let validated = table.validate_env(BridgeConfig::from_values);
    if let Err(code) = cli::refuse_on_errors(&table, &validated) {
        return code;
    }
    if check_only {
        cli::print_check_config(&table, &validated);
        return ExitCode::SUCCESS;
    }
    let warnings: Vec<_> = validated.warnings().cloned().collect();
    let Some(config) = validated.config else {
        return ExitCode::from(cli::EXIT_CONFIG);
    };
    if let Err(code) = start_logging(config.log_dir.as_deref()) {
        return code;
    }
    for warning in warnings {
        tracing::warn!(variable = warning.variable, "{}", warning.message);
    }
    let run = || -> anyhow::Result<()> {
        let bridge = Bridge::bind(config)?;
        let shutdown = Arc::new(AtomicBool::new(false));
        watch_signals(shutdown.clone());
        bridge.run(shutdown)?;
        Ok(())
    };
    let result = run();
    if let Err(e) = &result {
        tracing::error!(error = format!("{e:#}"), "bridge failed");
    }
    logging::finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("goassist-render-bridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// JSON log lines on stderr (stdout is `record`'s output), and daily files in `log_dir`.
fn start_logging(log_dir: Option<&std::path::Path>) -> Result<(), ExitCode> {
    let log_to = LogTo {
        service: "goassist-render-bridge",
        default_filter: "info",
        stderr: true,
        dir: log_dir,
    };
    logging::init(log_to).map_err(|e| {
        eprintln!("goassist-render-bridge: cannot set up logging: {e}");
        ExitCode::from(cli::EXIT_CONFIG)
    })
}

/// SIGINT / SIGTERM set the shutdown flag; the ingest loop sees it within one poll interval.
fn watch_signals(shutdown: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                tracing::info!("shutting down");
                shutdown.store(true, Ordering::Relaxed);
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no signal handling");
    }
}

/// With `--sealed`: the keys from the environment (`BRIDGE_KEY`, `BRIDGE_KEY_PREVIOUS`,
/// `BRIDGE_KEY_WINDOW_S`, validated like the bridge's own configuration; exit 78 naming the
/// variable when missing or invalid).
fn keys_from_env(sealed: bool) -> Result<Option<IngestKeys>, ExitCode> {
    if !sealed {
        return Ok(None);
    }
    let table = table();
    let validated = table.validate_env(BridgeConfig::from_values);
    cli::refuse_on_errors(&table, &validated)?;
    match validated.config.and_then(|c| c.keys) {
        Some(keys) => Ok(Some(keys)),
        None => {
            eprintln!("config error: --sealed needs BRIDGE_KEY in the environment");
            Err(ExitCode::from(cli::EXIT_CONFIG))
        }
    }
}

/// A sender id for one replay run: the clock and the process (two runs are two senders).
fn replay_sender_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

#[allow(clippy::too_many_arguments)]
fn run_replay(
    to: SocketAddr,
    file: Option<PathBuf>,
    avatars: u32,
    seconds: f64,
    fps: u32,
    epoch: u32,
    audio: bool,
    keys: Option<IngestKeys>,
) -> Result<(), Failure> {
    let sealer = keys.map(|k| Sealer::new(k.current, replay_sender_id()));
    let summary = match file {
        Some(path) => {
            let usage = |e: &dyn std::fmt::Display| {
                Failure::Usage(format!("--file {}: {e}", path.display()))
            };
            let file = std::fs::File::open(&path).map_err(|e| usage(&e))?;
            let frames =
                replay::parse_recording(std::io::BufReader::new(file)).map_err(|e| usage(&e))?;
            replay::send_paced_sealed(to, frames, audio, sealer)?
        }
        None => {
            let frames = replay::synthetic_stream(avatars, seconds, fps, epoch);
            replay::send_paced_sealed(to, frames, audio, sealer)?
        }
    };
    println!(
        "{}",
        serde_json::json!({"sent": summary.sent, "failed": summary.failed})
    );
    Ok(())
}

fn run_record(
    listen: SocketAddr,
    seconds: f64,
    frames: Option<u64>,
    out: Option<PathBuf>,
    keys: Option<IngestKeys>,
) -> Result<(), Failure> {
    let opener = keys.map(|k| {
        let window_ms = u64::try_from(k.window.as_millis()).unwrap_or(u64::MAX);
        Opener::new(k.current, k.previous, window_ms)
    });
    let limits = replay::RecordLimits {
        duration: Duration::from_secs_f64(seconds),
        max_frames: frames,
    };
    let socket = std::net::UdpSocket::bind(listen)
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("binding {listen}: {e}")))?;
    let bound = socket
        .local_addr()
        .map_err(|e| Failure::Runtime(e.into()))?;
    // On stderr, so that tests and scripts know when (and, with port 0, where) to send.
    eprintln!("listening on {bound}");
    let written = match out {
        Some(path) => {
            let file = std::fs::File::create(&path)
                .map_err(|e| Failure::Usage(format!("--out {}: {e}", path.display())))?;
            replay::record_sealed(&socket, limits, std::io::BufWriter::new(file), opener)
        }
        None => replay::record_sealed(&socket, limits, std::io::stdout().lock(), opener),
    }?;
    eprintln!("recorded {written} frames");
    Ok(())
}
