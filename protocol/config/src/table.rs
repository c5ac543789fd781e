//! The table: one [`Var`] entry per environment variable, and the reading of the environment
//! through it.

use crate::kinds::{Kind, Value};
use crate::report::{Problem, Severity, Validated};
use crate::values::{Slot, Values};

/// When a variable must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Optional; unset means this default (text, parsed like a set value).
    Default(&'static str),
    /// Optional with no default: unset means "not configured" (`Values::opt` gives `None`).
    Optional,
    /// Must be set.
    Required,
    /// Must be set when the named variable is set (TURN credentials with a TURN server).
    RequiredWhen(&'static str),
    /// Must be set unless the named variable is set; then it is not read at all (a local model
    /// path is not needed when a remote LLM server is configured).
    RequiredUnless(&'static str),
}

/// What an invalid value does.
#[derive(Debug, Clone, Copy)]
pub enum OnInvalid {
    /// An error: the process does not start.
    Fail,
    /// A warning naming the variable, the value, the valid range and the default; the default
    /// (or "unset", for an optional variable) is used.
    UseDefault,
    /// An error while `test` holds (the text says when, e.g. `ANIMATION_ENABLED=true`),
    /// otherwise like [`OnInvalid::UseDefault`]. `test` sees the variables read before this one.
    FailWhile {
        /// The condition in words.
        when: &'static str,
        /// The condition.
        test: fn(&Values) -> bool,
    },
}

/// One environment variable: everything the reader, `--help`, `--check-config` and the
/// deploy/config.yaml test know about it.
///
/// ```
/// use goassist_config::{Var, kinds};
/// let port = Var::new("API_PORT", kinds::int::<u16>(1024, 65535))
///     .default("8081")
///     .lenient()
///     .doc("port of the HTTP API");
/// assert_eq!(port.name(), "API_PORT");
/// ```
#[derive(Clone)]
pub struct Var {
    name: &'static str,
    kind: Kind,
    presence: Presence,
    on_invalid: OnInvalid,
    error_text: Option<&'static str>,
    doc: &'static str,
    group: &'static str,
}

impl Var {
    /// An optional variable with no default whose invalid values are errors; the builder
    /// methods below change that.
    pub fn new(name: &'static str, kind: Kind) -> Self {
        Var {
            name,
            kind,
            presence: Presence::Optional,
            on_invalid: OnInvalid::Fail,
            error_text: None,
            doc: "",
            group: "",
        }
    }

    /// Unset means `text`, which must be valid for the kind.
    pub fn default(mut self, text: &'static str) -> Self {
        self.presence = Presence::Default(text);
        self
    }

    /// The process does not start without it.
    pub fn required(mut self) -> Self {
        self.presence = Presence::Required;
        self
    }

    /// Required when `other` is set.
    pub fn required_when_set(mut self, other: &'static str) -> Self {
        self.presence = Presence::RequiredWhen(other);
        self
    }

    /// Required unless `other` is set; not read at all when it is.
    pub fn required_unless_set(mut self, other: &'static str) -> Self {
        self.presence = Presence::RequiredUnless(other);
        self
    }

    /// An invalid value warns and the default is used instead of stopping start-up.
    pub fn lenient(mut self) -> Self {
        self.on_invalid = OnInvalid::UseDefault;
        self
    }

    /// An invalid value stops start-up while `test` holds, and is lenient otherwise.
    pub fn fail_while(mut self, when: &'static str, test: fn(&Values) -> bool) -> Self {
        self.on_invalid = OnInvalid::FailWhile { when, test };
        self
    }

    /// A short text every error of this variable starts with, the words an operator's runbook
    /// searches for (e.g. `LLM model not found`).
    pub fn error_text(mut self, text: &'static str) -> Self {
        self.error_text = Some(text);
        self
    }

    /// The one-line description `--help` prints.
    pub fn doc(mut self, text: &'static str) -> Self {
        self.doc = text;
        self
    }

    /// The variable's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What a valid value looks like.
    pub fn valid(&self) -> &str {
        self.kind.valid()
    }

    /// When it must be set, and its default.
    pub fn presence(&self) -> Presence {
        self.presence
    }

    /// What an invalid value does.
    pub fn on_invalid(&self) -> OnInvalid {
        self.on_invalid
    }

    /// Whether the value is a secret (never printed).
    pub fn is_secret(&self) -> bool {
        self.kind.is_secret()
    }

    /// The one-line description.
    pub fn doc_line(&self) -> &'static str {
        self.doc
    }

    /// The `--help` group it is listed under.
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// `NAME='value'`, or `NAME=<redacted>` for a secret.
    fn subject(&self, raw: &str) -> String {
        if self.is_secret() {
            format!("{}=<redacted>", self.name)
        } else {
            format!("{}='{raw}'", self.name)
        }
    }

    fn with_error_text(&self, message: String) -> String {
        match self.error_text {
            Some(text) => format!("{text}: {message}"),
            None => message,
        }
    }

    fn parse_default(&self, text: &str, values: &Values) -> Value {
        self.kind.parse(text, values).unwrap_or_else(|_| {
            panic!(
                "config table: the default of {} ({text:?}) is not {}",
                self.name,
                self.valid()
            )
        })
    }
}

/// A check that involves several variables (a port range that must not be empty, a timeout that
/// must exceed an interval). Rules run after every variable is read, in the order added.
pub type Rule = fn(&mut Check<'_>);

/// What a [`Rule`] can see and do.
pub struct Check<'a> {
    table: &'a Table,
    values: &'a mut Values,
    problems: &'a mut Vec<Problem>,
}

impl Check<'_> {
    /// The values read so far (use [`Values::opt`]: a variable that failed has none).
    pub fn values(&self) -> &Values {
        self.values
    }

    /// Reports an error: the process will not start.
    pub fn error(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            severity: Severity::Error,
            variable,
            message: message.into(),
        });
    }

    /// Reports a warning.
    pub fn warn(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            severity: Severity::Warning,
            variable,
            message: message.into(),
        });
    }

    /// Replaces a variable's value with its default (after a warning that says so).
    pub fn use_default(&mut self, variable: &str) {
        let var = self.table.var(variable);
        let Presence::Default(text) = var.presence else {
            panic!("config table: {variable} has no default to fall back to");
        };
        let value = var.parse_default(text, self.values);
        let slot = self.values.slot_mut(variable);
        slot.value = Some(value);
        slot.shown = text.to_string();
    }
}

/// Every variable one binary reads, in groups, plus its cross-variable rules.
pub struct Table {
    binary: &'static str,
    vars: Vec<Var>,
    rules: Vec<Rule>,
}

impl Table {
    /// An empty table for the binary named `binary` (used in messages).
    pub fn new(binary: &'static str) -> Self {
        Table {
            binary,
            vars: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// Adds variables under a `--help` group. Order matters: a variable's parser and
    /// [`Var::fail_while`] test see only the variables before it.
    ///
    /// # Panics
    /// On a name already in the table.
    pub fn group(mut self, group: &'static str, vars: impl IntoIterator<Item = Var>) -> Self {
        for mut var in vars {
            assert!(
                self.vars.iter().all(|v| v.name != var.name),
                "config table: {} is listed twice",
                var.name
            );
            var.group = group;
            self.vars.push(var);
        }
        self
    }

    /// Adds a cross-variable rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The binary's name.
    pub fn binary(&self) -> &'static str {
        self.binary
    }

    /// Every variable, in table order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The entry named `name`.
    ///
    /// # Panics
    /// When there is none (a bug in the table's caller).
    pub fn var(&self, name: &str) -> &Var {
        self.vars
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("config table: {name} is not in the table"))
    }

    /// Reads every variable through `lookup`, collects every problem, and builds the typed
    /// configuration with `build` when there is no error.
    ///
    /// A value is trimmed; an empty value counts as unset.
    pub fn validate<T>(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
        build: impl FnOnce(&Values) -> T,
    ) -> Validated<T> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut values = Values::default();
        let mut problems = Vec::new();
        for var in &self.vars {
            let slot = read(var, &get, &values, &mut problems);
            values.slots.push(slot);
        }
        for rule in &self.rules {
            rule(&mut Check {
                table: self,
                values: &mut values,
                problems: &mut problems,
            });
        }
        let ok = problems.iter().all(|p| p.severity != Severity::Error);
        let config = ok.then(|| build(&values));
        Validated {
            config,
            problems,
            effective: values.effective(),
        }
    }

    /// Reads the process environment (see [`Table::validate`]).
    pub fn validate_env<T>(&self, build: impl FnOnce(&Values) -> T) -> Validated<T> {
        self.validate(|name| std::env::var(name).ok(), build)
    }
}

/// Reads one variable: its value, or a problem and the fallback its entry names.
fn read(
    var: &Var,
    get: &impl Fn(&str) -> Option<String>,
    values: &Values,
    problems: &mut Vec<Problem>,
) -> Slot {
    let name = var.name;
    let slot = |value: Option<Value>, shown: String| Slot { name, value, shown };
    let default_or_unset = || match var.presence {
        Presence::Default(text) => slot(Some(var.parse_default(text, values)), text.to_string()),
        _ => slot(None, crate::values::UNSET.to_string()),
    };
    let mut report = |severity: Severity, message: String| {
        let message = match severity {
            Severity::Error => var.with_error_text(message),
            Severity::Warning => message,
        };
        problems.push(Problem {
            severity,
            variable: name,
            message,
        });
    };

    let required_now = match var.presence {
        Presence::Default(_) | Presence::Optional => false,
        Presence::Required => true,
        Presence::RequiredWhen(other) => get(other).is_some(),
        Presence::RequiredUnless(other) => {
            if get(other).is_some() {
                return slot(None, format!("(not read: {other} is set)"));
            }
            true
        }
    };
    let valid = var.valid();
    let Some(raw) = get(name) else {
        if required_now {
            let message = match var.presence {
                Presence::RequiredWhen(other) => format!(
                    "{name} is missing or empty; it is required when {other} is set (valid: {valid})"
                ),
                Presence::RequiredUnless(other) => {
                    format!("{name} is required unless {other} is set (valid: {valid})")
                }
                _ => format!("{name} is required (valid: {valid})"),
            };
            report(Severity::Error, message);
        }
        return default_or_unset();
    };
    let detail = match var.kind.parse(&raw, values) {
        Ok(value) => {
            let shown = if var.is_secret() {
                "<redacted>".to_string()
            } else {
                raw
            };
            return slot(Some(value), shown);
        }
        Err(detail) => detail,
    };
    let mut message = format!("{} is invalid (valid: {valid})", var.subject(&raw));
    if !detail.is_empty() {
        message = format!("{message}: {detail}");
    }
    let fails = match var.on_invalid {
        OnInvalid::Fail => true,
        OnInvalid::UseDefault => false,
        OnInvalid::FailWhile { when, test } => {
            let fails = test(values);
            if fails {
                message = format!("{message}; it is required while {when}");
            }
            fails
        }
    };
    let fallback = match var.presence {
        Presence::Default(text) => Some(format!("using default {text}")),
        Presence::Optional | Presence::RequiredWhen(_) if !required_now => {
            Some("ignoring it".to_string())
        }
        // A required value has nothing to fall back to.
        _ => None,
    };
    match fallback {
        Some(fallback) if !fails => {
            report(Severity::Warning, format!("{message}; {fallback}"));
            default_or_unset()
        }
        _ => {
            report(Severity::Error, message);
            slot(None, "(invalid)".to_string())
        }
    }
}
