//! `goassist-inference`: validates the configuration, then runs the server.
//!
//! ```text
//! goassist-inference                 run the server (configuration from the environment)
//! goassist-inference --check-config  validate and print the effective configuration
//! goassist-inference requantize-gguf IN OUT   rewrite slow GGUF tensors as Q8_0
//! ```

use std::process::ExitCode;

use goassist_inference::config;

/// Exit code for configuration errors (EX_CONFIG from sysexits.h).
const EXIT_CONFIG: u8 = 78;
/// Exit code for command-line usage errors (EX_USAGE).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => run_server(),
        Some("--check-config") => check_config(),
        Some("requantize-gguf") => requantize(&args[1..]),
        Some("-h" | "--help") => {
            println!("usage: goassist-inference [--check-config | requantize-gguf IN OUT]");
            println!("configuration: environment variables, see deploy/config.yaml");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("goassist-inference: unknown argument '{other}' (try --help)");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Prints every problem, one per line; returns the config when there is no error.
fn validated() -> Result<(config::Config, Vec<config::Problem>), ExitCode> {
    let validated = config::from_env();
    for problem in validated.errors() {
        eprintln!("{problem}");
    }
    match validated.config {
        Some(config) => Ok((config, validated.problems)),
        None => {
            let n = validated
                .problems
                .iter()
                .filter(|p| p.severity == config::Severity::Error)
                .count();
            eprintln!(
                "goassist-inference: {n} configuration error(s); not starting (see deploy/config.yaml)"
            );
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn check_config() -> ExitCode {
    let (config, problems) = match validated() {
        Ok(v) => v,
        Err(code) => return code,
    };
    for warning in problems
        .iter()
        .filter(|p| p.severity == config::Severity::Warning)
    {
        eprintln!("{warning}");
    }
    println!("# effective configuration (secrets redacted)");
    for (name, value) in config.describe() {
        println!("{name}={value}");
    }
    ExitCode::SUCCESS
}

fn run_server() -> ExitCode {
    let (config, problems) = match validated() {
        Ok(v) => v,
        Err(code) => return code,
    };
    if let Err(e) = goassist_inference::logging::init(config.log_level, config.log_dir.as_deref()) {
        eprintln!("goassist-inference: cannot set up logging: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    for warning in problems
        .iter()
        .filter(|p| p.severity == config::Severity::Warning)
    {
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
    match runtime.block_on(goassist_inference::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "server failed");
            eprintln!("goassist-inference: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn requantize(args: &[String]) -> ExitCode {
    let [input, output] = args else {
        eprintln!("usage: goassist-inference requantize-gguf IN.gguf OUT.gguf");
        return ExitCode::from(EXIT_USAGE);
    };
    let (input, output) = (std::path::Path::new(input), std::path::Path::new(output));
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
