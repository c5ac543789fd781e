//! `goassist-inference`: validates the configuration, then runs the server.
//!
//! ```text
//! goassist-inference                 run the server (configuration from the environment)
//! goassist-inference --check-config  validate and print the effective configuration
//! goassist-inference requantize-gguf IN OUT   rewrite slow GGUF tensors as Q8_0
//! goassist-inference issue-token SUBJECT [TTL_SECONDS]   print a join token
//! ```
//!
//! Exit codes: 0, 1 (runtime failure), 64 (usage), 78 (configuration).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use goassist_config::cli;
use goassist_inference::config;
use goassist_inference::metrics::SERVICE;
use goassist_telemetry::logging::{self, LogTo};

/// GoAssist voice and avatar server: WebRTC voice loop, face frames, operations API.
#[derive(Parser)]
#[command(
    name = "goassist-inference",
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
    /// Rewrite a GGUF model's slow tensors as Q8_0 (no configuration needed).
    RequantizeGguf {
        /// The GGUF file to read.
        input: PathBuf,
        /// The GGUF file to write.
        output: PathBuf,
    },
    /// Print a join token for POST /v1/sessions (needs only SESSION_TOKEN_SECRET; an app
    /// backend can equally mint them itself, see docs/security.md).
    IssueToken {
        /// Who the token is for (your app's user id; logged with the session).
        subject: String,
        /// Lifetime in seconds (1–86400): how long it may be used to start a session.
        #[arg(default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        ttl_seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = match cli::parse_args::<Cli>(&config::table()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Some(Command::RequantizeGguf { input, output }) => requantize(&input, &output),
        Some(Command::IssueToken {
            subject,
            ttl_seconds,
        }) => issue_token(&subject, ttl_seconds),
        None if cli.check_config => check_config(),
        None => run_server(),
    }
}

fn check_config() -> ExitCode {
    let table = config::table();
    let validated = config::from_env();
    if let Err(code) = cli::refuse_on_errors(&table, &validated) {
        return code;
    }
    cli::print_check_config(&table, &validated);
    ExitCode::SUCCESS
}

fn run_server() -> ExitCode {
    let table = config::table();
    let validated = config::from_env();
    if let Err(code) = cli::refuse_on_errors(&table, &validated) {
        return code;
    }
    let warnings: Vec<_> = validated.warnings().cloned().collect();
    let Some(config) = validated.config else {
        return ExitCode::from(cli::EXIT_CONFIG);
    };
    // Dependencies (str0m, ort) are chatty at info; keep them at warn unless asked.
    let filter = format!(
        "warn,goassist_inference={0},goassist_engines={0}",
        config.log_level.as_filter()
    );
    let log_to = LogTo {
        service: SERVICE,
        default_filter: &filter,
        stderr: false,
        dir: config.log_dir.as_deref(),
    };
    if let Err(e) = logging::init(log_to) {
        eprintln!("goassist-inference: cannot set up logging: {e}");
        return ExitCode::from(cli::EXIT_CONFIG);
    }
    for warning in warnings {
        tracing::warn!(variable = warning.variable, "{}", warning.message);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("goassist-io")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("goassist-inference: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(goassist_inference::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "server failed");
            eprintln!("goassist-inference: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Tasks still ending may log: write out the last lines once the runtime is gone.
    drop(runtime);
    logging::finish();
    code
}

fn requantize(input: &Path, output: &Path) -> ExitCode {
    match goassist_engines::llm::requantize_gguf(input, output) {
        Ok(report) => {
            eprintln!(
                "requantize-gguf: {} of {} tensors rewritten as Q8_0, wrote {} ({} MB)",
                report.converted,
                report.tensors,
                output.display(),
                report.output_bytes / 1_000_000
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("requantize-gguf: {e}");
            ExitCode::FAILURE
        }
    }
}

fn issue_token(subject: &str, ttl_seconds: u64) -> ExitCode {
    use goassist_protocol::auth::{Audience, MAX_SUBJECT_BYTES, issue_token, unix_now};
    let min = config::MIN_SESSION_TOKEN_SECRET_LEN;
    let secret = std::env::var("SESSION_TOKEN_SECRET").unwrap_or_default();
    if secret.len() < min {
        eprintln!(
            "config error: SESSION_TOKEN_SECRET is missing or shorter than {min} bytes; issue-token signs with it"
        );
        return ExitCode::from(cli::EXIT_CONFIG);
    }
    if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
        eprintln!("issue-token: the subject must be 1 to {MAX_SUBJECT_BYTES} bytes");
        return ExitCode::from(cli::EXIT_USAGE);
    }
    println!(
        "{}",
        issue_token(
            Audience::VoiceSession,
            &secret,
            subject,
            unix_now() + ttl_seconds
        )
    );
    ExitCode::SUCCESS
}
