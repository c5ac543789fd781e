//! Short-lived TURN credentials in the TURN REST API convention (coturn `use-auth-secret`):
//! `username = "<expiry unix seconds>:<client id>"`, `credential = base64(HMAC-SHA1(secret,
//! username))`. The TURN server recomputes the HMAC, so no GoAssist process stores per-user
//! state and a leaked credential dies with its expiry.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A username/credential pair for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// `<expiry>:<client id>`.
    pub username: String,
    /// Base64 HMAC-SHA1 of the username under the shared secret.
    pub credential: String,
}

/// Credentials for `client_id` (any label without `:`), valid until `now_unix + ttl_secs`.
pub fn turn_credentials(
    secret: &str,
    client_id: &str,
    now_unix: u64,
    ttl_secs: u64,
) -> TurnCredentials {
    let username = format!("{}:{client_id}", now_unix.saturating_add(ttl_secs));
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(username.as_bytes());
    TurnCredentials {
        credential: STANDARD.encode(mac.finalize().into_bytes()),
        username,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_coturn_rest_api_vector() {
        // Independent reference: `printf '%s' '1700003600:P1' | openssl dgst -sha1 -hmac
        // 'north' -binary | base64` gives the credential below.
        let c = turn_credentials("north", "P1", 1_700_000_000, 3600);
        assert_eq!(c.username, "1700003600:P1");
        assert_eq!(c.credential, "g4/Mhfi7OvU2OOHl6PF+PskHHT0=");
    }
}
