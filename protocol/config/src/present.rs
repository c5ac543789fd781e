//! Texts derived from the table: the environment part of `--help`, and `--check-config`.

use crate::report::Validated;
use crate::table::{OnInvalid, Presence, Table};

/// Longest default shown in `--help` (a system prompt is a paragraph).
const HELP_DEFAULT_CHARS: usize = 40;

/// Every variable with its default, valid values and doc line, grouped (`--help`).
pub fn help(table: &Table) -> String {
    let mut out = String::from(
        "Environment (every variable is also in deploy/config.yaml). An invalid value stops \
         start-up with exit code 78,\nexcept where marked lenient: then a warning names it and \
         the default is used.\n",
    );
    let mut group = "";
    for var in table.vars() {
        if var.group() != group {
            group = var.group();
            out.push_str(&format!("\n{group}:\n"));
        }
        let presence = match var.presence() {
            Presence::Default(text) => format!("={}", shorten(text)),
            Presence::Optional => " (optional)".to_string(),
            Presence::Required => " (required)".to_string(),
            Presence::RequiredWhen(other) => format!(" (required when {other} is set)"),
            Presence::RequiredUnless(other) => format!(" (required unless {other} is set)"),
        };
        let mut notes = vec![var.valid().to_string()];
        match var.on_invalid() {
            OnInvalid::Fail => {}
            OnInvalid::UseDefault => notes.push("lenient".into()),
            OnInvalid::FailWhile { when, .. } => notes.push(format!("lenient unless {when}")),
        }
        if var.is_secret() {
            notes.push("secret".into());
        }
        out.push_str(&format!(
            "  {}{presence}  [{}]\n      {}\n",
            var.name(),
            notes.join("; "),
            var.doc_line()
        ));
    }
    out
}

/// The effective configuration, `NAME=value` per line under `# group` comments, secrets
/// `<redacted>` (`--check-config`).
pub fn effective<T>(table: &Table, validated: &Validated<T>) -> String {
    let mut out = format!(
        "# {}: effective configuration (secrets <redacted>)\n",
        table.binary()
    );
    let mut group = "";
    for (name, value) in &validated.effective {
        let var_group = table.var(name).group();
        if var_group != group {
            group = var_group;
            out.push_str(&format!("# {group}\n"));
        }
        // One line per variable, whatever the value holds.
        let value = value.replace('\n', "\\n").replace('\r', "\\r");
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= HELP_DEFAULT_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(HELP_DEFAULT_CHARS - 1).collect();
    format!("{head}…")
}
