//! `goassist-pixelstream-proxy`: parses the command line and environment, binds, serves.
//!
//! ```text
//! goassist-pixelstream-proxy                 serve (configuration from PS_* variables)
//! goassist-pixelstream-proxy --check-config  validate the configuration and exit
//! goassist-pixelstream-proxy issue-token <streamer-id> [ttl-seconds]
//!                                            print a player token (needs PS_PLAYER_TOKEN_SECRET)
//! ```

use std::process::ExitCode;

use goassist_pixelstream_proxy::auth::issue_player_token;
use goassist_pixelstream_proxy::config::VARIABLES;
use goassist_pixelstream_proxy::{Config, Frontend, Listeners, serve};

/// sysexits.h EX_USAGE / EX_CONFIG.
const EXIT_USAGE: u8 = 64;
const EXIT_CONFIG: u8 = 78;

fn usage() -> String {
    let mut text = String::from(
        "usage: goassist-pixelstream-proxy [--check-config | issue-token <streamer-id> [ttl-seconds]]\n\nenvironment:\n",
    );
    for (name, default, meaning) in VARIABLES {
        text.push_str(&format!("  {name:<32} {default:<34} {meaning}\n"));
    }
    text
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => run(config),
        ["--check-config"] => match Frontend::load(&config.frontend_dir) {
            Ok(_) => {
                println!("configuration ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("configuration error: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        ["issue-token", streamer, rest @ ..] if rest.len() <= 1 => {
            let Some(secret) = &config.player_token_secret else {
                eprintln!("issue-token needs PS_PLAYER_TOKEN_SECRET");
                return ExitCode::from(EXIT_CONFIG);
            };
            let ttl: u64 = match rest.first().map(|t| t.parse()) {
                None => 300,
                Some(Ok(t)) if (1..=86_400).contains(&t) => t,
                Some(_) => {
                    eprintln!("ttl-seconds must be an integer from 1 to 86400");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            println!("{}", issue_player_token(secret, streamer, now + ttl));
            ExitCode::SUCCESS
        }
        ["--help" | "-h"] => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{}", usage());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(config: Config) -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let frontend = match Frontend::load(&config.frontend_dir) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the player page");
            return ExitCode::from(EXIT_CONFIG);
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
