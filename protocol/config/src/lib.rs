//! One environment reader for every GoAssist binary: the table is the source of truth.
//!
//! Each binary (`goassist-inference`, `goassist-render-bridge`, `goassist-pixelstream-proxy`)
//! declares the environment variables it reads in one [`Table`], in its `src/config.rs`. An
//! entry ([`Var`]) holds everything known about one variable: its name, its [`Kind`] (what a
//! valid value looks like, and the parser to a typed value), its default or when it is
//! required, whether it is secret, what an invalid value does (stop start-up, or warn and use
//! the default), the words its errors start with, a one-line doc and a `--help` group.
//! Checks that involve several variables are [`Rule`]s beside the table.
//!
//! Everything else is derived from the table, so nothing can drift:
//!
//! - **validation** ([`Table::validate`]): every variable is read, every problem is collected
//!   (all at once, one line each, never the first only), and only then is the binary's typed
//!   config struct built from the parsed [`Values`];
//! - **`--check-config`** ([`cli::print_check_config`]): the effective value of every
//!   variable, secrets `<redacted>`, exit 0 (or 78 with the errors);
//! - **`--help`** ([`cli::parse_args`]): clap's usage plus every variable with its default,
//!   valid values and doc line, grouped; it never reads the environment, so it works when the
//!   environment is broken;
//! - **the deploy/config.yaml test** ([`deploy_docs::drift`]): each binary's tests check that
//!   its section of the operator's file lists exactly the table's variables, with the same
//!   defaults, required and secret flags.
//!
//! Exit codes are the same in every binary: [`cli::EXIT_CONFIG`] (78) for configuration
//! errors, [`cli::EXIT_USAGE`] (64) for command-line usage errors.
//!
//! Secrets are [`Secret`]s: a secret kind ([`kinds::secret`]) makes the value print as
//! `<redacted>` in `--check-config`, in error messages and in `Debug` output.
//!
//! # Adding a variable
//!
//! 1. One entry in the binary's `table()`, in the group it belongs to, e.g.
//!    `Var::new("LLM_TOP_P", kinds::int::<u32>(1, 100)).default("95").lenient().doc("…")`.
//! 2. One field in the typed config, read in its builder: `llm_top_p: v.get("LLM_TOP_P")`
//!    (`v.opt(…)` for a variable with no default).
//! 3. One line in the binary's section of deploy/config.yaml; the binary's config.yaml test
//!    names anything missing or different.
//!
//! `--help`, `--check-config` and the messages need nothing more.

pub mod cli;
pub mod deploy_docs;
mod ip_net;
pub mod kinds;
mod present;
mod report;
mod secret;
mod table;
mod values;

pub use ip_net::{IpNet, LOOPBACK_NETWORKS, PRIVATE_NETWORKS, Reach, forwarded_client};
pub use kinds::Kind;
pub use present::{effective as effective_text, help as help_text};
pub use report::{ConfigError, Problem, Severity, Validated};
pub use secret::Secret;
pub use table::{Check, OnInvalid, Presence, Rule, Table, Var};
pub use values::Values;

#[cfg(test)]
mod tests;
