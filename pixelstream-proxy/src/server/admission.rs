//! Checks made on a WebSocket upgrade before any socket exists, besides tokens and secrets:
//! where a player's page comes from, how many sockets one client address holds, and whether a
//! secret may travel in a URL from where it came.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, header};
use goassist_config::Reach;

/// Player connections held per client address.
#[derive(Debug, Default)]
pub struct AddressSlots {
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One player connection of an address; given back when dropped (the socket ended).
#[derive(Debug)]
pub struct AddressSlot {
    slots: Arc<AddressSlots>,
    ip: IpAddr,
}

impl AddressSlots {
    /// A slot for `ip`, or `None` when it already holds `cap`.
    pub fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let ip = ip.to_canonical();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(ip).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            slots: Arc::clone(self),
            ip,
        })
    }

    /// Connections `ip` holds now.
    #[cfg(test)]
    pub fn held_by(&self, ip: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&ip.to_canonical()).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// Whether a player's upgrade may proceed, judged by its `Origin` header: a request without
/// one is not from a browser page (a token still guards it); a browser page must come from
/// this host (its origin names the `Host` it asked) or from an origin in `allowed`. This stops
/// another site's page from opening the WebSocket with the visitor's network position.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().to_ascii_lowercase();
    if allowed.contains(&origin) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase());
    let (Some(host), Some((scheme, authority))) = (host, origin.split_once("://")) else {
        return false;
    };
    without_default_port(scheme, authority) == without_default_port(scheme, &host)
}

/// `host:80` for http and `host:443` for https name the same origin as `host`.
fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// Loopback or a private network (see [`Reach`]): no TLS proxy, CDN or corporate gateway sits
/// on such a path to log a URL.
pub fn is_private(ip: IpAddr) -> bool {
    Reach::of(ip) != Reach::Open
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn a_page_of_this_host_or_an_allowed_origin_may_connect() {
        let allowed = vec!["https://app.example.com".to_string()];
        assert!(origin_allowed(&headers(None, "avatar.example.com"), &[]));
        assert!(origin_allowed(
            &headers(Some("https://avatar.example.com"), "avatar.example.com"),
            &[]
        ));
        assert!(origin_allowed(
            &headers(Some("https://Avatar.example.com:443"), "avatar.example.com"),
            &[]
        ));
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            &[]
        ));
        assert!(origin_allowed(
            &headers(Some("https://app.example.com"), "avatar.example.com"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), "avatar.example.com"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("http://127.0.0.1:9999"), "127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "avatar.example.com"),
            &[]
        ));
    }

    #[test]
    fn slots_are_capped_per_address_and_given_back() {
        let slots = Arc::new(AddressSlots::default());
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.8".parse().unwrap();
        let first = slots.take(a, 2).unwrap();
        let _second = slots.take(a, 2).unwrap();
        assert!(slots.take(a, 2).is_none());
        assert!(
            slots.take(b, 2).is_some(),
            "another address is not affected"
        );
        drop(first);
        assert_eq!(slots.held_by(a), 1);
        assert!(
            slots
                .take("::ffff:203.0.113.7".parse().unwrap(), 2)
                .is_some(),
            "mapped IPv4 is the same client"
        );
    }
}
