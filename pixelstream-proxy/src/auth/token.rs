//! Player access tokens: `<streamer id, base64url>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`.
//!
//! A token admits one browser to one streamer until it expires. The application that
//! authenticates users (not this proxy) issues them with the same secret, e.g. with
//! `goassist-pixelstream-proxy issue-token`. The format is deliberately tiny (no JWT library,
//! no algorithm field to downgrade).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest streamer id a token may carry (ids are short names such as `DefaultStreamer`).
const MAX_STREAMER_ID_BYTES: usize = 128;
/// Longest token accepted at all; anything longer is rejected before decoding.
const MAX_TOKEN_BYTES: usize = 512;

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerClaims {
    /// The only streamer this player may list and subscribe to.
    pub streamer_id: String,
    /// Expiry, unix seconds.
    pub expires_at: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token was presented though tokens are enforced.
    #[error("missing token")]
    Missing,
    /// Not three well-formed fields.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match (tampered or signed with another secret).
    #[error("bad token signature")]
    BadSignature,
    /// The expiry has passed.
    #[error("token expired")]
    Expired,
}

impl TokenError {
    /// A short, bounded label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::Missing => "token_missing",
            TokenError::Malformed => "token_malformed",
            TokenError::BadSignature => "token_bad_signature",
            TokenError::Expired => "token_expired",
        }
    }
}

fn signature(secret: &str, signed_part: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    // Domain separation: a signature made for something else never verifies as a token.
    mac.update(b"goassist-ps-token-v1.");
    mac.update(signed_part.as_bytes());
    mac
}

/// Issues a token admitting one player to `streamer_id` until `expires_at` (unix seconds).
pub fn issue_player_token(secret: &str, streamer_id: &str, expires_at: u64) -> String {
    let signed_part = format!("{}.{expires_at}", URL_SAFE_NO_PAD.encode(streamer_id));
    let tag = signature(secret, &signed_part).finalize().into_bytes();
    format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks `token` against `secret` at wall-clock time `now_unix`.
pub fn verify_player_token(
    secret: &str,
    token: &str,
    now_unix: u64,
) -> Result<PlayerClaims, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let (signed_part, tag_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (sid_b64, expiry) = signed_part.split_once('.').ok_or(TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag_b64)
        .map_err(|_| TokenError::Malformed)?;
    // Verify the signature before interpreting any field, in constant time.
    signature(secret, signed_part)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    let expires_at: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    let sid = URL_SAFE_NO_PAD
        .decode(sid_b64)
        .map_err(|_| TokenError::Malformed)?;
    let streamer_id = String::from_utf8(sid).map_err(|_| TokenError::Malformed)?;
    if streamer_id.is_empty() || streamer_id.len() > MAX_STREAMER_ID_BYTES {
        return Err(TokenError::Malformed);
    }
    if now_unix >= expires_at {
        return Err(TokenError::Expired);
    }
    Ok(PlayerClaims {
        streamer_id,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef-secret";

    #[test]
    fn round_trip_grants_the_bound_streamer() {
        let token = issue_player_token(SECRET, "Avatar-1", 1_000);
        let claims = verify_player_token(SECRET, &token, 999).unwrap();
        assert_eq!(claims.streamer_id, "Avatar-1");
        assert_eq!(claims.expires_at, 1_000);
    }

    #[test]
    fn expiry_is_exclusive() {
        let token = issue_player_token(SECRET, "s", 1_000);
        assert_eq!(
            verify_player_token(SECRET, &token, 1_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_player_token(SECRET, &token, 5_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampering_with_any_field_breaks_the_signature() {
        let token = issue_player_token(SECRET, "s", 1_000);
        let parts: Vec<&str> = token.split('.').collect();
        let other_streamer = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("t"), parts[1], parts[2]);
        let later_expiry = format!("{}.{}.{}", parts[0], "9999999999", parts[2]);
        for forged in [other_streamer, later_expiry] {
            assert_eq!(
                verify_player_token(SECRET, &forged, 0),
                Err(TokenError::BadSignature)
            );
        }
        assert_eq!(
            verify_player_token("another-secret-of-length", &token, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_typed_errors() {
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for bad in [
            "x",
            "a.b",
            "a.b.c",
            "..",
            "a.1.!!!",
            "\u{0}.\u{0}.\u{0}",
            long.as_str(),
        ] {
            let err = verify_player_token(SECRET, bad, 0).unwrap_err();
            assert!(
                matches!(err, TokenError::Malformed | TokenError::BadSignature),
                "{bad:?} gave {err:?}"
            );
        }
        assert_eq!(verify_player_token(SECRET, "", 0), Err(TokenError::Missing));
    }
}
