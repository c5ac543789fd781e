//! `goassist-pixelstream-proxy`: parses the command line and environment, binds, serves.
//!
//! ```text
//! goassist-pixelstream-proxy                 serve (configuration from PS_* variables)
//! goassist-pixelstream-proxy --check-config  validate the configuration and the player page,
//!                                            print the effective values, exit 0 / 78
//! goassist-pixelstream-proxy issue-token <streamer-id> [ttl-seconds]
//!                                            print a player token (needs PS_PLAYER_TOKEN_SECRET)
//! ```
//!
//! Exit codes: 0, 1 (runtime failure), 64 (usage), 78 (configuration).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use goassist_config::cli;
use goassist_pixelstream_proxy::auth::{Audience, issue_token};
use goassist_pixelstream_proxy::config::table;
use goassist_pixelstream_proxy::{Config, Frontend, Listeners, serve};
use goassist_telemetry::logging::{self, LogTo};

/// Pixel Streaming signalling server and player page for GoAssist's Unreal render pods.
#[derive(Parser)]
#[command(
    name = "goassist-pixelstream-proxy",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Validate the environment and the player page, print the effective configuration
    /// (secrets redacted); exit 0, or 78 with every problem.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a player token for a streamer (needs PS_PLAYER_TOKEN_SECRET).
    IssueToken {
        /// The streamer the token is bound to.
        streamer_id: String,
        /// Lifetime in seconds (1–86400).
        #[arg(default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        ttl_seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = match cli::parse_args::<Cli>(&table()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let table = table();
    let validated = table.validate_env(Config::from_values);
    if let Err(code) = cli::refuse_on_errors(&table, &validated) {
        return code;
    }
    if cli.check_config {
        if let Some(config) = &validated.config
            && let Err(e) = Frontend::load(&config.frontend_dir)
        {
            eprintln!("config error: {e}");
            return ExitCode::from(cli::EXIT_CONFIG);
        }
        cli::print_check_config(&table, &validated);
        return ExitCode::SUCCESS;
    }
    let warnings: Vec<_> = validated.warnings().cloned().collect();
    let Some(config) = validated.config else {
        return ExitCode::from(cli::EXIT_CONFIG);
    };
    match cli.command {
        None => run(config, &warnings),
        Some(Command::IssueToken {
            streamer_id,
            ttl_seconds,
        }) => {
            let Some(secret) = &config.player_token_secret else {
                eprintln!("config error: issue-token needs PS_PLAYER_TOKEN_SECRET");
                return ExitCode::from(cli::EXIT_CONFIG);
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            println!(
                "{}",
                issue_token(
                    Audience::PixelStreamingPlayer,
                    secret.expose(),
                    &streamer_id,
                    now + ttl_seconds
                )
            );
            ExitCode::SUCCESS
        }
    }
}

fn run(config: Config, warnings: &[goassist_config::Problem]) -> ExitCode {
    let log_to = LogTo {
        service: "goassist-pixelstream-proxy",
        default_filter: "info",
        stderr: false,
        dir: config.log_dir.as_deref(),
    };
    if let Err(e) = logging::init(log_to) {
        eprintln!("goassist-pixelstream-proxy: cannot set up logging: {e}");
        return ExitCode::from(cli::EXIT_CONFIG);
    }
    let code = serve_proxy(config, warnings);
    logging::finish();
    code
}

fn serve_proxy(mut config: Config, warnings: &[goassist_config::Problem]) -> ExitCode {
    for warning in warnings {
        tracing::warn!(variable = warning.variable, "{}", warning.message);
    }
    config.encoder_sessions = encoder_sessions();
    let frontend = match Frontend::load(&config.frontend_dir) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the player page");
            return ExitCode::from(cli::EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listeners = Listeners::bind(&config).await?;
        serve(config, frontend, listeners, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "proxy failed");
            ExitCode::FAILURE
        }
    }
}

/// The GPU's concurrent NVENC session cap, which bounds the players watching at once (Unreal's
/// Pixel Streaming encodes once per player); logged once either way.
fn encoder_sessions() -> Option<usize> {
    let nvenc = goassist_gpu::nvenc::probe();
    match nvenc.session_limit() {
        Some(limit) => tracing::info!(
            "{}: players beyond {limit} in total are refused",
            nvenc.summary()
        ),
        None => tracing::info!("{}: players are not capped by the encoder", nvenc.summary()),
    }
    nvenc.session_limit().map(|n| n as usize)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
