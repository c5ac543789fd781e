//! `goassist-render-bridge`: parses the command line and the environment, binds, runs.
//!
//! ```text
//! goassist-render-bridge                 run the bridge (configured by environment variables)
//! goassist-render-bridge --check-config  validate the environment and print the result
//! goassist-render-bridge replay --to ADDR [--file REC.jsonl | --synthetic] [--avatars N]
//!                        [--seconds S] [--fps F] [--epoch E] [--audio]
//! goassist-render-bridge record --listen ADDR --seconds S [--frames N] [--out REC.jsonl]
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use goassist_render_bridge::config::ENV_VARS;
use goassist_render_bridge::{Bridge, BridgeConfig, replay};

/// Exit code for bad configuration or usage (EX_USAGE).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("run") => serve(false),
        Some("--check-config") => serve(true),
        Some("--help" | "-h" | "help") => {
            print_usage();
            return ExitCode::SUCCESS;
        }
        Some("replay") => run_replay(&args[1..]),
        Some("record") => run_record(&args[1..]),
        Some(other) => Err(Failure::Usage(format!("unknown command `{other}`"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("goassist-render-bridge: {message}\n(try --help)");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("goassist-render-bridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

fn serve(check_only: bool) -> Result<(), Failure> {
    let config = BridgeConfig::from_env().map_err(|e| Failure::Usage(e.to_string()))?;
    if check_only {
        println!("{config:#?}");
        return Ok(());
    }
    let bridge = Bridge::bind(config)?;
    let shutdown = Arc::new(AtomicBool::new(false));
    watch_signals(shutdown.clone());
    bridge.run(shutdown)?;
    Ok(())
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

/// `--name value` flags and bare `--switch`es.
struct Flags<'a>(&'a [String]);

impl Flags<'_> {
    fn value(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
    fn parse<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Failure> {
        match self.value(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Failure::Usage(format!("{name} {v:?} is not valid"))),
        }
    }
    fn addr(&self, name: &str) -> Result<SocketAddr, Failure> {
        let v = self
            .value(name)
            .ok_or_else(|| Failure::Usage(format!("{name} IP:PORT is required")))?;
        v.parse()
            .map_err(|_| Failure::Usage(format!("{name} {v:?} is not IP:PORT")))
    }
}

fn run_replay(args: &[String]) -> Result<(), Failure> {
    let flags = Flags(args);
    let to = flags.addr("--to")?;
    let fps: u32 = flags.parse("--fps", 60)?;
    if !(1..=240).contains(&fps) {
        return Err(Failure::Usage("--fps must be in 1..=240".into()));
    }
    let audio = flags.has("--audio");
    let summary = if let Some(path) = flags.value("--file") {
        let file =
            std::fs::File::open(path).map_err(|e| Failure::Usage(format!("--file {path}: {e}")))?;
        let frames = replay::parse_recording(std::io::BufReader::new(file))
            .map_err(|e| Failure::Usage(format!("--file {path}: {e}")))?;
        replay::send_paced(to, frames, audio).map_err(anyhow::Error::from)?
    } else {
        let avatars: u32 = flags.parse("--avatars", 1)?;
        let seconds: f64 = flags.parse("--seconds", 10.0)?;
        let epoch: u32 = flags.parse("--epoch", 1)?;
        if !(1..=4096).contains(&avatars) || !(0.0..=86_400.0).contains(&seconds) {
            return Err(Failure::Usage(
                "--avatars must be 1..=4096 and --seconds 0..=86400".into(),
            ));
        }
        let frames = replay::synthetic_stream(avatars, seconds, fps, epoch);
        replay::send_paced(to, frames, audio).map_err(anyhow::Error::from)?
    };
    println!(
        "{}",
        serde_json::json!({"sent": summary.sent, "failed": summary.failed})
    );
    Ok(())
}

fn run_record(args: &[String]) -> Result<(), Failure> {
    let flags = Flags(args);
    let listen = flags.addr("--listen")?;
    let seconds: f64 = flags.parse("--seconds", 10.0)?;
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err(Failure::Usage("--seconds must be 0..=86400".into()));
    }
    let max_frames = match flags.value("--frames") {
        None => None,
        Some(_) => Some(flags.parse::<u64>("--frames", 0)?),
    };
    let limits = replay::RecordLimits {
        duration: Duration::from_secs_f64(seconds),
        max_frames,
    };
    let socket = std::net::UdpSocket::bind(listen)
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("binding {listen}: {e}")))?;
    let bound = socket.local_addr().map_err(anyhow::Error::from)?;
    // On stderr, so that tests and scripts know when (and, with port 0, where) to send.
    eprintln!("listening on {bound}");
    let written = match flags.value("--out") {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| Failure::Usage(format!("--out {path}: {e}")))?;
            replay::record(&socket, limits, std::io::BufWriter::new(file))
        }
        None => replay::record(&socket, limits, std::io::stdout().lock()),
    }
    .map_err(anyhow::Error::from)?;
    eprintln!("recorded {written} frames");
    Ok(())
}

fn print_usage() {
    println!(
        "goassist-render-bridge: feeds GoAssist face frames to Unreal (Live Link Face v6, \
         GoAssistLiveLink plugin stream, VMC/OSC)\n\n\
         usage:\n  goassist-render-bridge [run]\n  goassist-render-bridge --check-config\n  \
         goassist-render-bridge replay --to IP:PORT [--file REC.jsonl | --synthetic] \
         [--avatars N] [--seconds S] [--fps F] [--epoch E] [--audio]\n  \
         goassist-render-bridge record --listen IP:PORT --seconds S [--frames N] \
         [--out REC.jsonl]\n\n\
         environment:"
    );
    for (name, default, help) in ENV_VARS {
        println!("  {name:<26} default {default:<20} {help}");
    }
}
