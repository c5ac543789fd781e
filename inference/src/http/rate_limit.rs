//! The per-client limit on session creation (`SESSIONS_PER_IP_PER_MINUTE`): each client address
//! may open that many sessions in a burst, refilled evenly over a minute (governor's GCRA); past
//! that `POST /v1/sessions` answers 429 with `Retry-After`, before any work is done for it.
//!
//! The client address is the TCP peer, unless the peer is in `TRUSTED_PROXIES` (addresses or
//! CIDR networks): then it is the right-most `X-Forwarded-For` entry (the address that proxy
//! saw). A header from anyone else is ignored, so a client cannot pick its own key.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use goassist_config::{IpNet, forwarded_client};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys kept before idle ones (those back at a full burst) are forgotten.
const FORGET_ABOVE_KEYS: usize = 10_000;

/// Session creations allowed per client address.
pub struct CreateLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_proxies: Vec<IpNet>,
}

impl CreateLimit {
    /// `per_minute` creations per address (0 = no limit); peers in `trusted_proxies` may name
    /// the client in `X-Forwarded-For`.
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpNet>) -> CreateLimit {
        CreateLimit {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            trusted_proxies,
        }
    }

    /// The address a request is counted against: see the module notes.
    pub fn client_address(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Some(forwarded_client(
            peer?.ip(),
            &self.trusted_proxies,
            forwarded,
        ))
    }

    /// Counts one creation by `client`; `Err(wait)` when over the limit.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > FORGET_ABOVE_KEYS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn a_burst_then_refusal_with_a_wait_per_address() {
        let limit = CreateLimit::new(3, vec![]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.check(a).is_ok());
        }
        let wait = limit.check(a).expect_err("4th in the same minute");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limit.check(b).is_ok(), "another address has its own budget");
    }

    #[test]
    fn zero_means_no_limit() {
        let limit = CreateLimit::new(0, vec![]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..1000).all(|_| limit.check(a).is_ok()));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: SocketAddr = "10.0.0.5:40000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let limit = CreateLimit::new(3, vec![IpNet::parse("10.0.0.0/24").unwrap()]);
        let headers = forwarded("203.0.113.9, 192.0.2.44");
        assert_eq!(
            limit.client_address(Some(proxy), &headers),
            Some("192.0.2.44".parse().unwrap()),
            "the right-most entry is the one the trusted proxy added"
        );
        assert_eq!(
            limit.client_address(Some(stranger), &headers),
            Some("198.51.100.7".parse().unwrap()),
            "anyone else's header is ignored"
        );
        assert_eq!(
            limit.client_address(Some(proxy), &HeaderMap::new()),
            Some("10.0.0.5".parse().unwrap())
        );
        assert_eq!(limit.client_address(None, &headers), None);
    }
}
