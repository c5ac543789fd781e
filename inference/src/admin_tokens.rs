//! Named, scoped admin tokens (runbook §11: who may run which recovery procedure).
//!
//! `ADMIN_TOKEN` is one token named `admin` with the `lead` scope (everything, as before scopes
//! existed). `ADMIN_TOKENS` adds named tokens, comma-separated `name:scope:secret` entries, e.g.
//! `alice:oncall:<64 hex>,bob:lead:<64 hex>`. The audit trail names the token, never its value.

use goassist_config::Secret;

/// What a token may do. Ordered: a higher scope may do everything a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdminScope {
    /// On-call engineer: drain, resume, animation switch, read status and sessions.
    Oncall,
    /// SRE lead: all of the above plus force-terminating a user's session.
    Lead,
}

impl AdminScope {
    /// The name used in `ADMIN_TOKENS` and in audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminScope::Oncall => "oncall",
            AdminScope::Lead => "lead",
        }
    }
}

/// One admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Shown in audit events and logs instead of the secret.
    pub name: String,
    /// What it may do.
    pub scope: AdminScope,
    /// The bearer value.
    pub secret: Secret,
}

/// Tokens shorter than this draw a configuration warning.
pub const MIN_SECRET_LEN: usize = 16;

/// Parses `ADMIN_TOKENS`. Errors never contain a secret: they name the entry by position and
/// name only.
pub fn parse_admin_tokens(value: &str) -> Result<Vec<AdminToken>, String> {
    let mut tokens: Vec<AdminToken> = Vec::new();
    for (index, entry) in value.split(',').map(str::trim).enumerate() {
        let position = index + 1;
        if entry.is_empty() {
            continue;
        }
        let mut parts = entry.splitn(3, ':');
        let (Some(name), Some(scope), Some(secret)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "ADMIN_TOKENS entry {position} is not name:scope:secret"
            ));
        };
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(format!(
                "ADMIN_TOKENS entry {position}: the name must be 1-32 of a-z, 0-9, '-', '_', '.'"
            ));
        }
        let scope = match scope {
            "oncall" => AdminScope::Oncall,
            "lead" => AdminScope::Lead,
            _ => {
                return Err(format!(
                    "ADMIN_TOKENS entry {position} ({name}): scope must be oncall or lead"
                ));
            }
        };
        if secret.is_empty() || secret.chars().any(char::is_whitespace) {
            return Err(format!(
                "ADMIN_TOKENS entry {position} ({name}): the secret is empty or has spaces"
            ));
        }
        if tokens.iter().any(|t| t.name == name) {
            return Err(format!(
                "ADMIN_TOKENS entry {position}: the name {name} is used twice"
            ));
        }
        if tokens.iter().any(|t| t.secret.expose() == secret) {
            return Err(format!(
                "ADMIN_TOKENS entry {position} ({name}): two tokens have the same secret"
            ));
        }
        tokens.push(AdminToken {
            name: name.to_string(),
            scope,
            secret: Secret::new(secret),
        });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_scoped_tokens() {
        let tokens =
            parse_admin_tokens("alice:oncall:aaaaaaaaaaaaaaaa, bob:lead:bbbb:with:colons").unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].name, "alice");
        assert_eq!(tokens[0].scope, AdminScope::Oncall);
        assert_eq!(tokens[1].scope, AdminScope::Lead);
        assert_eq!(tokens[1].secret.expose(), "bbbb:with:colons");
        assert!(AdminScope::Lead > AdminScope::Oncall);
    }

    #[test]
    fn errors_name_the_entry_and_never_the_secret() {
        for (value, expected) in [
            ("alice:oncall", "entry 1 is not name:scope:secret"),
            ("alice:root:s3cretvalue", "scope must be oncall or lead"),
            ("al ice:lead:s3cretvalue", "the name must be"),
            ("a:lead:s3cretvalue,a:oncall:other-s3cret", "used twice"),
            ("a:lead:s3cretvalue,b:oncall:s3cretvalue", "same secret"),
            ("a:lead:", "empty or has spaces"),
        ] {
            let error = parse_admin_tokens(value).unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
            assert!(!error.contains("s3cret"), "secret leaked: {error}");
        }
    }
}
