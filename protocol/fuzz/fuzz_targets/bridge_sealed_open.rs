//! Sealed bridge datagrams (the render-bridge's ingest check): the input is a script of
//! datagrams arriving at one `Opener`. Checks: opening never panics; bytes nobody sealed never
//! open; a sealed datagram with any byte changed never opens; a sealed datagram opens only when
//! its time is within the window, and the very same bytes never open twice.
#![no_main]

use std::collections::HashSet;

use goassist_protocol::bridge_auth::{BridgeKey, OpenError, Opener, Stamp, seal_with};
use libfuzzer_sys::fuzz_target;

const WINDOW_MS: u64 = 30_000;
const START_MS: u64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    let key = BridgeKey::from_bytes(&[0x5a; 32]).expect("a 32-byte key");
    let mut opener = Opener::new(key.clone(), None, WINDOW_MS);
    let mut now = START_MS;
    let mut opened: HashSet<Vec<u8>> = HashSet::new();
    for step in data.chunks(12) {
        let (&op, rest) = step.split_first().expect("chunks are never empty");
        match op % 4 {
            // Bytes as they came: never authentic.
            0 => assert!(opener.open(rest, now).is_err()),
            // A datagram sealed with the key: sender, counter and clock skew from the input.
            1 | 2 => {
                let Some(&[sender, c0, c1, skew]) =
                    rest.get(..4).map(|b| <&[u8; 4]>::try_from(b).unwrap())
                else {
                    continue;
                };
                let skew_ms = i64::from(skew as i8) * 1_000;
                let stamp = Stamp {
                    sender: u64::from(sender % 4),
                    counter: u64::from(u16::from_le_bytes([c0, c1])),
                    unix_ms: now.saturating_add_signed(skew_ms),
                };
                let mut sealed = rest[4..].to_vec();
                seal_with(&key, stamp, &mut sealed);
                if op % 4 == 2 {
                    // One byte changed anywhere (payload or trailer): refused as unauthentic.
                    let at = usize::from(skew) % sealed.len();
                    sealed[at] ^= 1 << (c0 % 8);
                    assert!(matches!(
                        opener.open(&sealed, now),
                        Err(OpenError::BadMac { .. })
                    ));
                    continue;
                }
                match opener.open(&sealed, now) {
                    Ok(o) => {
                        assert_eq!(o.payload, &rest[4..]);
                        assert_eq!(o.stamp, stamp);
                        assert!(skew_ms.unsigned_abs() <= WINDOW_MS);
                        assert!(opened.insert(sealed), "the same datagram opened twice");
                    }
                    Err(OpenError::Stale { .. }) => assert!(skew_ms.unsigned_abs() > WINDOW_MS),
                    Err(OpenError::BadMac { .. }) => {
                        panic!("a datagram sealed with the key was refused as unauthentic")
                    }
                    Err(OpenError::Replayed { .. } | OpenError::TooManySenders) => {}
                }
            }
            // Time passes; old senders may be forgotten.
            _ => {
                now += u64::from(rest.first().copied().unwrap_or(1)) * 1_000;
                opener.forget_old(now);
            }
        }
    }
});
