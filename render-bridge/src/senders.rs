//! Who may send face frames: the ingest socket's allow-list, applied before a datagram is
//! decoded. Sans-IO: [`SenderGate::check`] takes the sender and `now`.
//!
//! The rule (documented in docs/render-bridge.md, "Who may send"):
//!
//! - `BRIDGE_ALLOW_ANY_SENDER=true`: everyone (a warning at start-up);
//! - else `BRIDGE_ALLOWED_SENDERS` set: those addresses and networks only;
//! - else the senders the bind address already implies: loopback senders when
//!   `BRIDGE_INGEST_ADDR` is a loopback address, loopback and private-range senders when it is a
//!   private address ([`PRIVATE_NETWORKS`]). Any other bind address (`0.0.0.0`, `::`, a public
//!   address) needs one of the two variables above: the configuration is refused without them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use goassist_config::{IpNet, LOOPBACK_NETWORKS, PRIVATE_NETWORKS, Reach};

/// How often a refused sender is logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Most senders whose last log line is remembered; beyond it, new refused senders are counted
/// but not logged until old entries age out (a spray from many addresses cannot flood the log).
const LOG_MEMORY: usize = 256;

/// The senders whose datagrams are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Senders {
    /// Everyone (`BRIDGE_ALLOW_ANY_SENDER=true`).
    Any,
    /// Only these addresses and networks.
    Only(Vec<IpNet>),
}

impl Senders {
    /// The senders implied by the bind address when `BRIDGE_ALLOWED_SENDERS` is unset; `None`
    /// for an [`Reach::Open`] address, which needs an explicit choice.
    pub fn implied_by(bind: IpAddr) -> Option<Senders> {
        let private: &[&str] = match Reach::of(bind) {
            Reach::Loopback => &[],
            Reach::Private => &PRIVATE_NETWORKS,
            Reach::Open => return None,
        };
        Some(Senders::Only(
            LOOPBACK_NETWORKS
                .iter()
                .chain(private)
                .filter_map(|n| IpNet::parse(n))
                .collect(),
        ))
    }

    /// Whether `ip` may send.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match self {
            Senders::Any => true,
            Senders::Only(nets) => nets.iter().any(|n| n.contains(ip)),
        }
    }

    /// For the start-up log line.
    pub fn describe(&self) -> String {
        match self {
            Senders::Any => "any".into(),
            Senders::Only(nets) => nets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// What to do with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Decode it.
    Allowed,
    /// Drop it and count it; `log` is true at most once per sender per [`LOG_EVERY`].
    Refused {
        /// Whether to write a log line for it.
        log: bool,
    },
}

/// The allow-list and the memory of which refused senders were logged when.
#[derive(Debug)]
pub struct SenderGate {
    senders: Senders,
    logged: LogLimiter,
}

impl SenderGate {
    /// A gate for `senders`.
    pub fn new(senders: Senders) -> SenderGate {
        SenderGate {
            senders,
            logged: LogLimiter::default(),
        }
    }

    /// Judges a datagram from `from` arriving at `now`. Allowed datagrams touch no map and
    /// allocate nothing.
    pub fn check(&mut self, from: IpAddr, now: Instant) -> Verdict {
        if self.senders.allows(from) {
            return Verdict::Allowed;
        }
        Verdict::Refused {
            log: self.logged.due(from, now),
        }
    }
}

/// Which addresses were logged when: at most one line per address per [`LOG_EVERY`], and at
/// most [`LOG_MEMORY`] addresses remembered (beyond that, new addresses are not logged until old
/// entries age out), so a spray of refused datagrams from many addresses cannot flood the log.
#[derive(Debug, Default)]
pub struct LogLimiter {
    logged: HashMap<IpAddr, Instant>,
}

impl LogLimiter {
    /// Whether a refusal from `from` at `now` should be logged; records it when so.
    pub fn due(&mut self, from: IpAddr, now: Instant) -> bool {
        let from = from.to_canonical();
        let due = |last: &Instant| now.saturating_duration_since(*last) >= LOG_EVERY;
        if let Some(last) = self.logged.get_mut(&from) {
            let log = due(last);
            if log {
                *last = now;
            }
            return log;
        }
        if self.logged.len() >= LOG_MEMORY {
            self.logged.retain(|_, last| !due(last));
        }
        let log = self.logged.len() < LOG_MEMORY;
        if log {
            self.logged.insert(from, now);
        }
        log
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.logged.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.logged.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_bind_address_implies_who_may_send() {
        let loopback = Senders::implied_by(ip("127.0.0.1")).unwrap();
        assert!(loopback.allows(ip("127.0.0.9")) && loopback.allows(ip("::1")));
        assert!(!loopback.allows(ip("10.0.0.1")));
        let private = Senders::implied_by(ip("10.0.0.5")).unwrap();
        assert!(private.allows(ip("192.168.3.4")) && private.allows(ip("127.0.0.1")));
        assert!(!private.allows(ip("203.0.113.5")));
        assert_eq!(Senders::implied_by(ip("0.0.0.0")), None);
        assert_eq!(Senders::implied_by(ip("203.0.113.5")), None);
    }

    #[test]
    fn a_refused_sender_is_logged_once_a_minute() {
        let t0 = Instant::now();
        let mut gate = SenderGate::new(Senders::Only(vec![IpNet::parse("10.0.0.0/8").unwrap()]));
        assert_eq!(gate.check(ip("10.9.9.9"), t0), Verdict::Allowed);
        let stranger = ip("203.0.113.5");
        assert_eq!(gate.check(stranger, t0), Verdict::Refused { log: true });
        for s in 1..60 {
            let at = t0 + Duration::from_secs(s);
            assert_eq!(gate.check(stranger, at), Verdict::Refused { log: false });
        }
        assert_eq!(
            gate.check(ip("203.0.113.6"), t0 + Duration::from_secs(1)),
            Verdict::Refused { log: true },
            "another sender has its own minute"
        );
        assert_eq!(
            gate.check(stranger, t0 + LOG_EVERY),
            Verdict::Refused { log: true }
        );
    }

    #[test]
    fn a_spray_from_many_addresses_logs_a_bounded_number_of_lines() {
        let t0 = Instant::now();
        let mut gate = SenderGate::new(Senders::Only(vec![]));
        let logged = (0..10_000u32)
            .map(|i| IpAddr::from((0xC633_0000u32 + i).to_be_bytes()))
            .filter(|from| gate.check(*from, t0) == Verdict::Refused { log: true })
            .count();
        assert_eq!(logged, LOG_MEMORY);
        // A minute later the memory has aged out and new senders are logged again.
        let later = t0 + LOG_EVERY;
        assert_eq!(
            gate.check(ip("198.51.100.1"), later),
            Verdict::Refused { log: true }
        );
        assert!(gate.logged.len() <= LOG_MEMORY);
    }

    #[test]
    fn any_sender_passes_when_allowed_explicitly() {
        let mut gate = SenderGate::new(Senders::Any);
        assert_eq!(
            gate.check(ip("203.0.113.5"), Instant::now()),
            Verdict::Allowed
        );
    }
}
