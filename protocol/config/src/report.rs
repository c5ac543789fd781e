//! What a reading of the environment found: problems, and the typed configuration when there
//! is no error.

use std::fmt;

/// How bad a configuration problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The process must not start.
    Error,
    /// A default is used instead.
    Warning,
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The variable's name.
    pub variable: &'static str,
    /// The whole message: it names the variable, the value (secrets `<redacted>`) and what is
    /// valid, and for a warning the default used.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "config error",
            Severity::Warning => "config warning",
        };
        write!(f, "{tag}: {}", self.message)
    }
}

/// The outcome of validation: the typed configuration (when there are no errors), every
/// problem found, and the effective values for `--check-config`.
#[derive(Debug)]
pub struct Validated<T> {
    /// `Some` unless an error was found.
    pub config: Option<T>,
    /// All errors and warnings, in table order (then the cross-variable rules' order).
    pub problems: Vec<Problem>,
    /// `NAME`, value pairs in table order, secrets `<redacted>`.
    pub effective: Vec<(&'static str, String)>,
}

impl<T> Validated<T> {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    /// The configuration, or every error. Warnings are dropped: a binary that must log them
    /// reads [`Validated::warnings`] first.
    pub fn into_result(self) -> Result<T, ConfigError> {
        let errors: Vec<Problem> = self.errors().cloned().collect();
        match self.config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigError { errors }),
        }
    }
}

/// The configuration was rejected; every error is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The errors, in table order.
    pub errors: Vec<Problem>,
}

impl ConfigError {
    /// The variables at fault, in table order.
    pub fn variables(&self) -> Vec<&'static str> {
        self.errors.iter().map(|p| p.variable).collect()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<&str> = self.errors.iter().map(|p| p.message.as_str()).collect();
        f.write_str(&messages.join("\n"))
    }
}

impl std::error::Error for ConfigError {}
