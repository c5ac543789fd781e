//! The command-line side every binary shares: clap with the table in `--help`, and one exit
//! code per kind of failure.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::present;
use crate::report::Validated;
use crate::table::Table;

/// Exit code for configuration errors (`EX_CONFIG` from sysexits.h), in every binary.
pub const EXIT_CONFIG: u8 = 78;
/// Exit code for command-line usage errors (`EX_USAGE`), in every binary.
pub const EXIT_USAGE: u8 = 64;

/// Parses the process's command line. Never reads the environment, so `--help` and
/// `--version` work whatever it holds. On `--help`/`--version` (printed, exit 0) or a usage
/// error (printed, exit 64) the caller returns the code.
pub fn parse_args<C: clap::Parser>(table: &Table) -> Result<C, ExitCode> {
    parse_args_from(table, std::env::args_os()).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// [`parse_args`] on given arguments (the first is the program name); `--help` ends with the
/// table's variables.
pub fn parse_args_from<C, I, T>(table: &Table, args: I) -> Result<C, clap::Error>
where
    C: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = C::command()
        .after_help(present::help(table))
        .try_get_matches_from(args)?;
    C::from_arg_matches(&matches)
}

/// Prints every configuration error, one line each on stderr, and returns exit code 78 when
/// there is one.
pub fn refuse_on_errors<T>(table: &Table, validated: &Validated<T>) -> Result<(), ExitCode> {
    let errors: Vec<_> = validated.errors().collect();
    if errors.is_empty() {
        return Ok(());
    }
    for error in &errors {
        eprintln!("{error}");
    }
    eprintln!(
        "{}: {} configuration error(s); not starting (see --help or deploy/config.yaml)",
        table.binary(),
        errors.len()
    );
    Err(ExitCode::from(EXIT_CONFIG))
}

/// `--check-config` after [`refuse_on_errors`] passed: warnings on stderr, the effective
/// configuration on stdout.
pub fn print_check_config<T>(table: &Table, validated: &Validated<T>) {
    for warning in validated.warnings() {
        eprintln!("{warning}");
    }
    print!("{}", present::effective(table, validated));
}
