//! An IP address or CIDR network, the value of address allow-lists (`TRUSTED_PROXIES` of the
//! inference server, `BRIDGE_ALLOWED_SENDERS` of the render-bridge); [`crate::kinds::ip_nets`]
//! is the kind of such a list.

use std::fmt;
use std::net::IpAddr;

/// An address or a network (`10.0.0.0/8`, `fd00::/8`); a bare address is a /32 or /128.
/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as the IPv4 address they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network of `prefix` bits at `network`; `None` when the prefix is longer than the
    /// address.
    pub fn new(network: IpAddr, prefix: u8) -> Option<IpNet> {
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(IpNet { network, prefix })
    }

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`.
    pub fn parse(text: &str) -> Option<IpNet> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network = address.trim().parse::<IpAddr>().ok()?.to_canonical();
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok()?,
            None if network.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(network, prefix)
    }

    /// True if `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        /// The top `prefix` bits of a `width`-bit address.
        fn top(bits: u128, width: u32, prefix: u8) -> u128 {
            match u32::from(prefix) {
                0 => 0,
                keep => bits >> (width - keep),
            }
        }
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                top(u32::from(net).into(), 32, self.prefix)
                    == top(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                top(u128::from(net), 128, self.prefix) == top(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The private ranges: RFC 1918, RFC 6598 shared address space (CGNAT, 100.64/10), IPv4 and
/// IPv6 link-local, IPv6 unique local addresses (fc00::/7).
pub const PRIVATE_NETWORKS: [&str; 7] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

/// The loopback ranges.
pub const LOOPBACK_NETWORKS: [&str; 2] = ["127.0.0.0/8", "::1"];

/// Where an address lies, for the bind-address rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// 127.0.0.0/8 or ::1: this host only.
    Loopback,
    /// One of [`PRIVATE_NETWORKS`].
    Private,
    /// Anything else: the unspecified address (every interface) or a public one.
    Open,
}

impl Reach {
    /// Classifies `ip` (IPv4-mapped IPv6 as its IPv4 address).
    pub fn of(ip: IpAddr) -> Reach {
        let within = |nets: &[&str]| {
            nets.iter()
                .filter_map(|n| IpNet::parse(n))
                .any(|n| n.contains(ip))
        };
        if within(&LOOPBACK_NETWORKS) {
            Reach::Loopback
        } else if within(&PRIVATE_NETWORKS) {
            Reach::Private
        } else {
            Reach::Open
        }
    }
}

/// The client a request speaks for: the TCP `peer`, unless the peer is one of the `trusted`
/// reverse proxies; then the right-most address in their `X-Forwarded-For` values (the address
/// that proxy saw). A header from anyone else is ignored, so a client cannot pick its own.
pub fn forwarded_client<'a>(
    peer: IpAddr,
    trusted: &[IpNet],
    forwarded_for: impl IntoIterator<Item = &'a str>,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|net| net.contains(peer)) {
        return peer;
    }
    forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .last()
        .map_or(peer, |ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.1.0.1".parse().unwrap()),
            "v4-mapped v6"
        );
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let one = IpNet::parse("192.0.2.7").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            IpNet::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "10.0.0/8", "fd00::/129", "x", "10.0.0.0/"] {
            assert_eq!(IpNet::parse(bad), None, "{bad}");
        }
        assert_eq!(IpNet::new("10.0.0.0".parse().unwrap(), 33), None);
    }

    #[test]
    fn displays_as_cidr() {
        assert_eq!(
            IpNet::parse("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(IpNet::parse("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            IpNet::parse("::ffff:192.0.2.1").unwrap().to_string(),
            "192.0.2.1/32"
        );
    }

    #[test]
    fn addresses_are_classified() {
        for (text, reach) in [
            ("127.0.0.1", Reach::Loopback),
            ("127.0.0.2", Reach::Loopback),
            ("::1", Reach::Loopback),
            ("10.1.2.3", Reach::Private),
            ("172.31.0.1", Reach::Private),
            ("172.32.0.1", Reach::Open),
            ("192.168.1.1", Reach::Private),
            ("100.64.0.1", Reach::Private),
            ("100.128.0.1", Reach::Open),
            ("169.254.1.1", Reach::Private),
            ("fd12::1", Reach::Private),
            ("fe80::1", Reach::Private),
            ("::ffff:10.0.0.1", Reach::Private),
            ("0.0.0.0", Reach::Open),
            ("::", Reach::Open),
            ("203.0.113.5", Reach::Open),
            ("2001:db8::1", Reach::Open),
        ] {
            assert_eq!(Reach::of(text.parse().unwrap()), reach, "{text}");
        }
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = [IpNet::parse("10.0.0.0/24").unwrap()];
        let header = ["198.51.100.1, 203.0.113.9", "192.0.2.4"];
        let client = |peer: IpAddr| forwarded_client(peer, &trusted, header);
        assert_eq!(
            client(proxy),
            "192.0.2.4".parse::<IpAddr>().unwrap(),
            "right-most entry"
        );
        let stranger: IpAddr = "203.0.113.50".parse().unwrap();
        assert_eq!(client(stranger), stranger, "ignored from an untrusted peer");
        assert_eq!(
            forwarded_client(proxy, &trusted, []),
            proxy,
            "no header: the proxy"
        );
        assert_eq!(forwarded_client(proxy, &trusted, ["junk"]), proxy);
    }
}
