//! Credentials: signed player tokens, the streamer shared secret and per-player TURN
//! credentials. Pure functions of their inputs (the caller passes the wall-clock time).

mod token;
mod turn;

pub use token::{PlayerClaims, TokenError, issue_player_token, verify_player_token};
pub use turn::{TurnCredentials, turn_credentials};

/// Compares two secrets in time that depends only on their lengths, so a streamer cannot
/// learn the secret byte by byte from response timing.
pub fn secrets_match(expected: &str, presented: &str) -> bool {
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    }
}
