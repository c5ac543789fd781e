//! Signed access tokens: `<subject, base64url>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`.
//!
//! A token admits its holder to one thing until it expires: a voice session on the inference
//! server (the subject names the application's user, for the logs) or one streamer on the Pixel
//! Streaming proxy (the subject is the streamer id). The application that authenticates users,
//! not GoAssist, issues them with the shared secret (each binary has an `issue-token`
//! subcommand; docs/security.md shows the three lines any backend needs). The format is
//! deliberately tiny: no JWT library, no algorithm field to downgrade, and an [`Audience`] mixed
//! into the signature so that a token for one service never opens the other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Longest subject a token may carry (a user or streamer id, not a document).
pub const MAX_SUBJECT_BYTES: usize = 128;
/// Longest token accepted at all; anything longer is rejected before decoding.
const MAX_TOKEN_BYTES: usize = 512;

/// What a token is for. Part of the signed bytes (domain separation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `POST /v1/sessions` and `/v1/ice-servers` on the inference server.
    VoiceSession,
    /// A browser watching one streamer through the Pixel Streaming proxy.
    PixelStreamingPlayer,
}

impl Audience {
    fn domain(self) -> &'static [u8] {
        match self {
            Audience::VoiceSession => b"goassist-session-token-v1.",
            Audience::PixelStreamingPlayer => b"goassist-ps-token-v1.",
        }
    }
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Who or what the token was issued for (never empty, at most [`MAX_SUBJECT_BYTES`]).
    pub subject: String,
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
    /// The signature does not match (tampered, signed with another secret or for another
    /// audience).
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

fn signature(audience: Audience, secret: &str, signed_part: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(audience.domain());
    mac.update(signed_part.as_bytes());
    mac
}

/// Issues a token for `audience` naming `subject`, valid until `expires_at` (unix seconds).
pub fn issue_token(audience: Audience, secret: &str, subject: &str, expires_at: u64) -> String {
    let signed_part = format!("{}.{expires_at}", URL_SAFE_NO_PAD.encode(subject));
    let tag = signature(audience, secret, &signed_part)
        .finalize()
        .into_bytes();
    format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks `token` for `audience` against `secret` at wall-clock time `now_unix`.
pub fn verify_token(
    audience: Audience,
    secret: &str,
    token: &str,
    now_unix: u64,
) -> Result<Claims, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let (signed_part, tag_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (subject_b64, expiry) = signed_part.split_once('.').ok_or(TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag_b64)
        .map_err(|_| TokenError::Malformed)?;
    // Verify the signature before interpreting any field, in constant time.
    signature(audience, secret, signed_part)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    let expires_at: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    let subject = URL_SAFE_NO_PAD
        .decode(subject_b64)
        .map_err(|_| TokenError::Malformed)?;
    let subject = String::from_utf8(subject).map_err(|_| TokenError::Malformed)?;
    if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
        return Err(TokenError::Malformed);
    }
    if now_unix >= expires_at {
        return Err(TokenError::Expired);
    }
    Ok(Claims {
        subject,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef-secret";
    const PLAYER: Audience = Audience::PixelStreamingPlayer;

    #[test]
    fn round_trip_grants_the_bound_streamer() {
        let token = issue_token(PLAYER, SECRET, "Avatar-1", 1_000);
        let claims = verify_token(PLAYER, SECRET, &token, 999).unwrap();
        assert_eq!(claims.subject, "Avatar-1");
        assert_eq!(claims.expires_at, 1_000);
    }

    #[test]
    fn expiry_is_exclusive() {
        let token = issue_token(PLAYER, SECRET, "s", 1_000);
        assert_eq!(
            verify_token(PLAYER, SECRET, &token, 1_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_token(PLAYER, SECRET, &token, 5_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampering_with_any_field_breaks_the_signature() {
        let token = issue_token(PLAYER, SECRET, "s", 1_000);
        let parts: Vec<&str> = token.split('.').collect();
        let other_streamer = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("t"), parts[1], parts[2]);
        let later_expiry = format!("{}.{}.{}", parts[0], "9999999999", parts[2]);
        for forged in [other_streamer, later_expiry] {
            assert_eq!(
                verify_token(PLAYER, SECRET, &forged, 0),
                Err(TokenError::BadSignature)
            );
        }
        assert_eq!(
            verify_token(PLAYER, "another-secret-of-length", &token, 0),
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
            let err = verify_token(PLAYER, SECRET, bad, 0).unwrap_err();
            assert!(
                matches!(err, TokenError::Malformed | TokenError::BadSignature),
                "{bad:?} gave {err:?}"
            );
        }
        assert_eq!(
            verify_token(PLAYER, SECRET, "", 0),
            Err(TokenError::Missing)
        );
    }

    #[test]
    fn a_token_for_one_audience_never_opens_the_other() {
        let token = issue_token(PLAYER, SECRET, "alice", 1_000);
        assert_eq!(
            verify_token(Audience::VoiceSession, SECRET, &token, 0),
            Err(TokenError::BadSignature)
        );
        let session = issue_token(Audience::VoiceSession, SECRET, "alice", 1_000);
        assert_eq!(
            verify_token(Audience::VoiceSession, SECRET, &session, 0)
                .unwrap()
                .subject,
            "alice"
        );
    }

    #[test]
    fn tokens_match_an_independent_hmac() {
        // `printf '%s' 'goassist-ps-token-v1.QXZhdGFyLTE.1000' | openssl dgst -sha256 -hmac
        // '0123456789abcdef-secret' -binary | base64 | tr '+/' '-_' | tr -d '='`: the player
        // format is unchanged since the proxy had its own copy, so deployed backends still work.
        assert_eq!(
            issue_token(PLAYER, SECRET, "Avatar-1", 1_000),
            "QXZhdGFyLTE.1000.AJ0E4qqC18q8zqkmrHYaC8KVW74Kk3iOKDZBYT1yYI8"
        );
    }
}
