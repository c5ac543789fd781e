//! Join and player tokens (bearer headers, a query parameter on the proxy): checking any text
//! never panics and never accepts a token the secret did not sign.
#![no_main]

use goassist_protocol::auth::{Audience, issue_token, verify_token};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-0123456789abcdef-0123";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for audience in [Audience::VoiceSession, Audience::PixelStreamingPlayer] {
        if let Ok(claims) = verify_token(audience, SECRET, &text, 0) {
            // Only a token this secret signed verifies: it is the one issue_token makes.
            assert_eq!(
                issue_token(audience, SECRET, &claims.subject, claims.expires_at),
                text
            );
        }
    }
});
