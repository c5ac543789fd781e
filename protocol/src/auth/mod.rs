//! Credentials that GoAssist processes and the applications in front of them share: signed
//! access tokens (a voice session's join token, a Pixel Streaming player's token), TURN REST
//! credentials, and the constant-time comparison of a presented secret. Pure functions of their
//! inputs: the caller passes the wall-clock time and the secret's value.

mod token;
mod turn;

pub use token::{Audience, Claims, MAX_SUBJECT_BYTES, TokenError, issue_token, verify_token};
pub use turn::{TurnCredentials, turn_credentials};

use subtle::ConstantTimeEq;

/// Wall-clock seconds since the Unix epoch: the clock token expiry and TURN credentials are
/// dated by (0 if the system clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Compares a presented secret with the expected one in time that depends only on their
/// lengths, so a caller cannot learn the secret byte by byte from response timing.
pub fn secrets_match(expected: &str, presented: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::secrets_match;

    #[test]
    fn secrets_match_only_on_equal_strings() {
        assert!(secrets_match("abcdefgh", "abcdefgh"));
        assert!(!secrets_match("abcdefgh", "abcdefgx"));
        assert!(!secrets_match("abcdefgh", "abcdefg"));
        assert!(!secrets_match("abcdefgh", ""));
        assert!(!secrets_match("abc", "abc\0"));
    }
}
