//! Sealed datagrams on the ingest socket (`BRIDGE_KEY`): with a key configured, every datagram
//! must carry a valid tag under it (or under `BRIDGE_KEY_PREVIOUS`), a time within
//! `BRIDGE_KEY_WINDOW_S` of this clock and a counter its sender has not used before
//! ([`goassist_protocol::bridge_auth`]). Anything else is dropped before it is decoded, counted
//! in `goassist_bridge_datagrams_refused_total{reason="bad_mac"|"stale"|"replayed"}` and logged
//! at most once a minute per sender address. Sans-IO: the caller passes both clocks.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use goassist_protocol::bridge_auth::{OpenError, Opener};

use crate::config::IngestKeys;
use crate::senders::LogLimiter;

/// How often senders whose datagrams are all stale by now are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The ingest side's keys, each sender's counters and the log limiter.
#[derive(Debug)]
pub struct Unsealer {
    opener: Opener,
    logged: LogLimiter,
    next_sweep: Instant,
}

/// A datagram dropped: why, and whether to write a log line for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// What failed.
    pub error: OpenError,
    /// True at most once per sender address a minute.
    pub log: bool,
}

impl Unsealer {
    /// An unsealer for the configured keys.
    pub fn new(keys: &IngestKeys, now: Instant) -> Unsealer {
        let window_ms = u64::try_from(keys.window.as_millis()).unwrap_or(u64::MAX);
        Unsealer {
            opener: Opener::new(keys.current.clone(), keys.previous.clone(), window_ms),
            logged: LogLimiter::default(),
            next_sweep: now + SWEEP_EVERY,
        }
    }

    /// The bridge-stream datagram inside `bytes` from `from`, received at `now` (monotonic)
    /// and `unix_ms` (wall clock), or why it is refused.
    pub fn open<'a>(
        &mut self,
        from: IpAddr,
        bytes: &'a [u8],
        now: Instant,
        unix_ms: u64,
    ) -> Result<&'a [u8], Refused> {
        if now >= self.next_sweep {
            self.opener.forget_old(unix_ms);
            self.next_sweep = now + SWEEP_EVERY;
        }
        match self.opener.open(bytes, unix_ms) {
            Ok(opened) => Ok(opened.payload),
            Err(error) => Err(Refused {
                error,
                log: self.logged.due(from, now),
            }),
        }
    }

    /// Senders whose counters are held.
    pub fn senders(&self) -> usize {
        self.opener.senders()
    }
}

/// The wall clock in ms since the Unix epoch (0 before 1970).
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The log line for a refused datagram: what to check.
pub fn explain(error: &OpenError) -> String {
    match error {
        OpenError::BadMac { len, key_id } => format!(
            "datagram without a valid tag dropped ({len} bytes, key id {key_id:#04x}): forged, \
             altered, sealed with another key, or not sealed at all (the sender needs \
             RENDER_BRIDGE_KEY equal to BRIDGE_KEY)"
        ),
        OpenError::Stale { skew_ms } => format!(
            "sealed datagram dropped: its time is {:.1} s {} this host's clock, beyond \
             BRIDGE_KEY_WINDOW_S (a replay, or the two hosts' clocks differ: check NTP)",
            skew_ms.unsigned_abs() as f64 / 1000.0,
            if *skew_ms < 0 { "behind" } else { "ahead of" }
        ),
        OpenError::Replayed { sender, counter } => format!(
            "sealed datagram dropped as a replay: counter {counter} of sender {sender:016x} was \
             seen already or is too far behind"
        ),
        OpenError::TooManySenders => {
            "sealed datagram dropped: too many senders at once to track their counters".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goassist_protocol::bridge_auth::{BridgeKey, Sealer};

    fn keys() -> IngestKeys {
        IngestKeys {
            current: BridgeKey::from_bytes(&[7; 32]).unwrap(),
            previous: None,
            window: Duration::from_secs(30),
        }
    }

    #[test]
    fn refusals_are_logged_once_a_minute_per_address() {
        let t0 = Instant::now();
        let now_ms = 1_767_225_600_000;
        let mut unsealer = Unsealer::new(&keys(), t0);
        let mut sealer = Sealer::new(keys().current, 1);
        let mut d = vec![0xB5, 1];
        sealer.seal(&mut d, now_ms);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(unsealer.open(a, &d, t0, now_ms), Ok(&[0xB5, 1][..]));
        let replayed = unsealer.open(a, &d, t0, now_ms).unwrap_err();
        assert_eq!(replayed.error.reason(), "replayed");
        assert!(replayed.log);
        let forged = [0u8; 60];
        for s in 1..60 {
            let at = t0 + Duration::from_secs(s);
            let r = unsealer.open(a, &forged, at, now_ms).unwrap_err();
            assert_eq!((r.error.reason(), r.log), ("bad_mac", false), "second {s}");
        }
        assert!(unsealer.open(b, &forged, t0, now_ms).unwrap_err().log);
        let later = t0 + Duration::from_secs(60);
        assert!(unsealer.open(a, &forged, later, now_ms).unwrap_err().log);
        // The sweep forgets senders whose datagrams are all stale.
        assert_eq!(unsealer.senders(), 1);
        let _ = unsealer.open(a, &forged, later + SWEEP_EVERY, now_ms + 31_000);
        assert_eq!(unsealer.senders(), 0);
    }

    #[test]
    fn explanations_name_what_to_check() {
        assert!(explain(&OpenError::BadMac { len: 3, key_id: 9 }).contains("RENDER_BRIDGE_KEY"));
        let stale = explain(&OpenError::Stale { skew_ms: -45_000 });
        assert!(
            stale.contains("45.0 s behind") && stale.contains("NTP"),
            "{stale}"
        );
    }
}
