//! Authenticated bridge-stream datagrams: a trailer with a sender id, a counter, the sender's
//! clock and a truncated HMAC-SHA256 tag under a key the inference servers and the
//! render-bridge share (`RENDER_BRIDGE_KEY` / `BRIDGE_KEY`).
//!
//! A sealed datagram is a [`bridge_stream`](crate::bridge_stream) datagram, unchanged, followed
//! by [`TRAILER_LEN`] (41) bytes. Little-endian like the rest of the stream:
//!
//! | offset from the trailer's start | type | field |
//! |---|---|---|
//! | 0 | u64 | sender: a random id the sending link picks when it starts |
//! | 8 | u64 | counter: 0, 1, 2, … for each datagram of this sender |
//! | 16 | u64 | time: the sender's clock when it sealed the datagram, ms since the Unix epoch |
//! | 24 | u8 | key id: the first byte of SHA-256(`"goassist-bridge-key-id-v1"` ‖ key) |
//! | 25 | 16 bytes | tag: the first 16 bytes of HMAC-SHA256(key, `"goassist-bridge-datagram-v1"` ‖ every byte before the tag) |
//!
//! A face-only datagram grows from 158 to 199 bytes, one with 20 ms of audio from 2,080 to
//! 2,121. Nothing marks a datagram as sealed: a receiver with a key expects every datagram to
//! be sealed, one without a key expects none to be.
//!
//! The receiver ([`Opener`]) checks, in this order and before anything is decoded:
//!
//! 1. **the tag**, in constant time, under each of its keys whose id matches (its current key
//!    and, while a key is being rotated, the previous one): wrong key, a flipped bit or a
//!    truncation all fail here ([`OpenError::BadMac`]);
//! 2. **the time**: more than the window (`BRIDGE_KEY_WINDOW_S`) away from the receiver's clock
//!    is refused ([`OpenError::Stale`]), so a datagram captured earlier cannot be replayed once
//!    the receiver has forgotten its sender, or after the receiver restarts;
//! 3. **the counter**, per sender id: the highest counter seen and a bitmap of the
//!    [`REPLAY_WINDOW`] counters below it. A counter above the highest is accepted; one below it
//!    is accepted once if it is within the bitmap (UDP may reorder); anything else was seen
//!    already or is too old ([`OpenError::Replayed`]). A sender is forgotten once its newest
//!    time is older than the window, which is safe: all it ever sent is stale by then.
//!
//! Only datagrams with a valid tag create per-sender state, so a flood of forgeries costs one
//! HMAC each and no memory; at most [`MAX_SENDERS`] senders are held at once.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Bytes a sealed datagram carries after the bridge-stream datagram.
pub const TRAILER_LEN: usize = 8 + 8 + 8 + 1 + TAG_LEN;
/// Bytes of the truncated HMAC-SHA256 tag.
pub const TAG_LEN: usize = 16;
/// Largest sealed datagram: the largest bridge-stream datagram and the trailer.
pub const MAX_SEALED_LEN: usize = crate::bridge_stream::MAX_DATAGRAM_LEN + TRAILER_LEN;
/// Shortest key accepted, in bytes (after hex or base64 decoding).
pub const MIN_KEY_LEN: usize = 32;
/// Counters below the highest one seen that are still accepted once (reordering tolerance):
/// about a second of one link at 16 sessions × 60 frames/s.
pub const REPLAY_WINDOW: u64 = 1024;
/// Most senders whose counters are held at once; beyond it, new senders are refused until old
/// ones age out of the time window.
pub const MAX_SENDERS: usize = 4096;

const TAG_DOMAIN: &[u8] = b"goassist-bridge-datagram-v1";
const KEY_ID_DOMAIN: &[u8] = b"goassist-bridge-key-id-v1";
const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// A shared bridge key. `Debug` shows only its id; the bytes never leave this type.
#[derive(Clone)]
pub struct BridgeKey {
    bytes: Vec<u8>,
    id: u8,
    /// HMAC keyed with the key and fed the domain string: cloned per datagram, so the key's
    /// pads are hashed once, not per datagram.
    mac: Hmac<Sha256>,
}

/// Why text is not a bridge key. The messages never contain the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Neither hex nor base64.
    #[error("neither hex (an even number of hex digits) nor base64")]
    Encoding,
    /// Decodes to fewer than [`MIN_KEY_LEN`] bytes.
    #[error(
        "decodes to {0} bytes; at least {MIN_KEY_LEN} are needed (e.g. `openssl rand -hex 32`)"
    )]
    Short(usize),
}

impl BridgeKey {
    /// A key from its bytes (at least [`MIN_KEY_LEN`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<BridgeKey, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::Short(bytes.len()));
        }
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(bytes).expect("HMAC accepts keys of any length");
        mac.update(TAG_DOMAIN);
        let id = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(bytes)
            .finalize()[0];
        Ok(BridgeKey {
            bytes: bytes.to_vec(),
            id,
            mac,
        })
    }

    /// Parses a key written as hex (only hex digits, an even number of them: `openssl rand
    /// -hex 32`) or base64 (standard or URL-safe alphabet, padding optional: `openssl rand
    /// -base64 32`), decoding to at least [`MIN_KEY_LEN`] bytes. Surrounding whitespace is
    /// ignored.
    pub fn parse(text: &str) -> Result<BridgeKey, KeyError> {
        let text = text.trim();
        let bytes = if !text.is_empty()
            && text.len().is_multiple_of(2)
            && text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            decode_hex(text)
        } else {
            decode_base64(text).ok_or(KeyError::Encoding)?
        };
        BridgeKey::from_bytes(&bytes)
    }

    /// The key id carried by datagrams sealed with this key (not secret: one byte of a hash).
    pub fn id(&self) -> u8 {
        self.id
    }

    fn tag(&self, bytes: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(bytes);
        mac
    }
}

impl PartialEq for BridgeKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.bytes.ct_eq(&other.bytes))
    }
}

impl Eq for BridgeKey {}

impl fmt::Debug for BridgeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BridgeKey(<redacted>, id {:#04x})", self.id)
    }
}

fn decode_hex(text: &str) -> Vec<u8> {
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect()
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [
        GeneralPurpose::new(&base64::alphabet::STANDARD, config),
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, config),
    ]
    .iter()
    .find_map(|engine| engine.decode(text).ok())
}

/// What the trailer says about a datagram (authenticated once [`Opener::open`] returns it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sending link's random id.
    pub sender: u64,
    /// The datagram's number among the sender's.
    pub counter: u64,
    /// The sender's clock, ms since the Unix epoch.
    pub unix_ms: u64,
}

/// Appends the trailer for `stamp` under `key` to `datagram`.
pub fn seal_with(key: &BridgeKey, stamp: Stamp, datagram: &mut Vec<u8>) {
    datagram.reserve(TRAILER_LEN);
    datagram.extend_from_slice(&stamp.sender.to_le_bytes());
    datagram.extend_from_slice(&stamp.counter.to_le_bytes());
    datagram.extend_from_slice(&stamp.unix_ms.to_le_bytes());
    datagram.push(key.id);
    let tag = key.tag(datagram).finalize().into_bytes();
    datagram.extend_from_slice(&tag[..TAG_LEN]);
}

/// The sending side: one per link (one sender id, one counter).
#[derive(Debug, Clone)]
pub struct Sealer {
    key: BridgeKey,
    sender: u64,
    next: u64,
}

impl Sealer {
    /// A sealer for a link whose id is `sender` (pick it at random: two links with one id
    /// would refuse each other's datagrams as replays).
    pub fn new(key: BridgeKey, sender: u64) -> Sealer {
        Sealer {
            key,
            sender,
            next: 0,
        }
    }

    /// This link's sender id.
    pub fn sender(&self) -> u64 {
        self.sender
    }

    /// Seals `datagram` (a bridge-stream datagram) in place with the next counter and `unix_ms`,
    /// the sender's clock.
    pub fn seal(&mut self, datagram: &mut Vec<u8>, unix_ms: u64) {
        let stamp = Stamp {
            sender: self.sender,
            counter: self.next,
            unix_ms,
        };
        self.next = self.next.saturating_add(1);
        seal_with(&self.key, stamp, datagram);
    }
}

/// Why a sealed datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Shorter than a trailer, sealed with another key, or altered.
    #[error("no valid tag (datagram of {len} bytes, key id {key_id:#04x})")]
    BadMac {
        /// Bytes received.
        len: usize,
        /// The key id byte where the trailer would carry it (0 for a datagram too short).
        key_id: u8,
    },
    /// The sender's time is further from the receiver's clock than the window.
    #[error("sealed {skew_ms} ms away from this clock, beyond the window")]
    Stale {
        /// The sender's time minus the receiver's, ms (negative: in the past).
        skew_ms: i64,
    },
    /// This counter of this sender was accepted already, or is below the reorder window.
    #[error("counter {counter} of sender {sender:016x} seen already or too old")]
    Replayed {
        /// The sender id.
        sender: u64,
        /// The counter.
        counter: u64,
    },
    /// [`MAX_SENDERS`] senders are held and none is old enough to forget.
    #[error("too many senders at once")]
    TooManySenders,
}

impl OpenError {
    /// The metric label: `bad_mac`, `stale` or `replayed` (too many senders counts as
    /// `replayed`: a datagram whose counter cannot be checked is not accepted).
    pub fn reason(&self) -> &'static str {
        match self {
            OpenError::BadMac { .. } => "bad_mac",
            OpenError::Stale { .. } => "stale",
            OpenError::Replayed { .. } | OpenError::TooManySenders => "replayed",
        }
    }
}

/// A datagram that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The bridge-stream datagram (not decoded yet).
    pub payload: &'a [u8],
    /// Its trailer.
    pub stamp: Stamp,
    /// Which of the opener's keys verified it (0: the current one, 1: the previous one).
    pub key_index: usize,
}

/// One sender's replay state.
#[derive(Debug, Clone)]
struct Replay {
    highest: u64,
    /// Bit `c % REPLAY_WINDOW` is set when counter `c` (within the window) was accepted.
    seen: [u64; WORDS],
    /// The newest sender time accepted.
    newest_ms: u64,
}

impl Replay {
    fn new(counter: u64, unix_ms: u64) -> Replay {
        let mut r = Replay {
            highest: counter,
            seen: [0; WORDS],
            newest_ms: unix_ms,
        };
        let (word, mask) = Replay::bit(counter);
        r.seen[word] |= mask;
        r
    }

    fn bit(counter: u64) -> (usize, u64) {
        let i = counter % REPLAY_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Whether `counter` is new; records it when it is.
    fn accept(&mut self, counter: u64, unix_ms: u64) -> bool {
        if counter > self.highest {
            let ahead = counter - self.highest;
            if ahead >= REPLAY_WINDOW {
                self.seen = [0; WORDS];
            } else {
                // The slots of the counters passed over now stand for them, not for the ones a
                // window below: clear them.
                for c in self.highest + 1..=counter {
                    let (word, mask) = Replay::bit(c);
                    self.seen[word] &= !mask;
                }
            }
            self.highest = counter;
        } else if self.highest - counter >= REPLAY_WINDOW {
            return false;
        } else {
            let (word, mask) = Replay::bit(counter);
            if self.seen[word] & mask != 0 {
                return false;
            }
        }
        let (word, mask) = Replay::bit(counter);
        self.seen[word] |= mask;
        self.newest_ms = self.newest_ms.max(unix_ms);
        true
    }
}

/// The receiving side: the keys, the time window, and each sender's counters. Sans-IO: the
/// caller passes its clock to [`Opener::open`].
#[derive(Debug)]
pub struct Opener {
    keys: Vec<BridgeKey>,
    window_ms: u64,
    senders: HashMap<u64, Replay>,
}

impl Opener {
    /// An opener accepting datagrams sealed with `current` or, when given, `previous` (during a
    /// key rotation), whose time is within `window_ms` of the receiver's clock.
    pub fn new(current: BridgeKey, previous: Option<BridgeKey>, window_ms: u64) -> Opener {
        Opener {
            keys: std::iter::once(current).chain(previous).collect(),
            window_ms,
            senders: HashMap::new(),
        }
    }

    /// Senders whose counters are held now.
    pub fn senders(&self) -> usize {
        self.senders.len()
    }

    /// Checks a sealed datagram that arrived when the receiver's clock read `now_unix_ms`:
    /// its tag, its time and its counter (see the module notes). Never panics; on success the
    /// counter is recorded, so the same datagram is refused next time.
    pub fn open<'a>(
        &mut self,
        datagram: &'a [u8],
        now_unix_ms: u64,
    ) -> Result<Opened<'a>, OpenError> {
        let (payload, stamp, key_index) = self.authenticate(datagram)?;
        let skew = i128::from(stamp.unix_ms) - i128::from(now_unix_ms);
        if skew.unsigned_abs() > u128::from(self.window_ms) {
            return Err(OpenError::Stale {
                skew_ms: skew.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            });
        }
        let replayed = OpenError::Replayed {
            sender: stamp.sender,
            counter: stamp.counter,
        };
        match self.senders.get_mut(&stamp.sender) {
            Some(replay) => {
                if !replay.accept(stamp.counter, stamp.unix_ms) {
                    return Err(replayed);
                }
            }
            None => {
                if self.senders.len() >= MAX_SENDERS {
                    self.forget_old(now_unix_ms);
                    if self.senders.len() >= MAX_SENDERS {
                        return Err(OpenError::TooManySenders);
                    }
                }
                self.senders
                    .insert(stamp.sender, Replay::new(stamp.counter, stamp.unix_ms));
            }
        }
        Ok(Opened {
            payload,
            stamp,
            key_index,
        })
    }

    /// Forgets senders whose newest datagram is older than the window: anything they sent
    /// would be refused as stale now, so their counters are no longer needed.
    pub fn forget_old(&mut self, now_unix_ms: u64) {
        let window = self.window_ms;
        self.senders
            .retain(|_, r| r.newest_ms.saturating_add(window) >= now_unix_ms);
    }

    /// The tag check alone: the payload, the stamp and the key's index, or `BadMac`.
    fn authenticate<'a>(&self, datagram: &'a [u8]) -> Result<(&'a [u8], Stamp, usize), OpenError> {
        let len = datagram.len();
        let Some(start) = len.checked_sub(TRAILER_LEN) else {
            return Err(OpenError::BadMac { len, key_id: 0 });
        };
        let (signed, tag) = datagram.split_at(len - TAG_LEN);
        let key_id = signed[signed.len() - 1];
        let key_index = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.id == key_id)
            .find(|(_, key)| key.tag(signed).verify_truncated_left(tag).is_ok())
            .map(|(i, _)| i)
            .ok_or(OpenError::BadMac { len, key_id })?;
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&datagram[start + at..start + at + 8]);
            u64::from_le_bytes(b)
        };
        let stamp = Stamp {
            sender: word(0),
            counter: word(8),
            unix_ms: word(16),
        };
        Ok((&datagram[..start], stamp, key_index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge_stream::{self, BridgeDatagram};
    use crate::face_frame::FaceFrame;

    const NOW: u64 = 1_767_225_600_000; // 2026-01-01, ms
    const WINDOW: u64 = 30_000;

    fn key(fill: u8) -> BridgeKey {
        BridgeKey::from_bytes(&[fill; 32]).unwrap()
    }

    fn datagram(seq: u32, audio: bool) -> Vec<u8> {
        let mut f = FaceFrame::neutral(0x77, 1, seq, u64::from(seq) * 800);
        f.values[17] = 0.5;
        let samples = [1i16, -2, 3];
        bridge_stream::encode(4, &f, audio.then_some(&samples[..])).unwrap()
    }

    fn sealed(key: &BridgeKey, counter: u64, unix_ms: u64) -> Vec<u8> {
        let mut d = datagram(counter as u32, true);
        let stamp = Stamp {
            sender: 0x5EED,
            counter,
            unix_ms,
        };
        seal_with(key, stamp, &mut d);
        d
    }

    #[test]
    fn a_sealed_datagram_opens_to_the_original_bytes() {
        let mut sealer = Sealer::new(key(1), 0xABCD);
        let mut opener = Opener::new(key(1), None, WINDOW);
        for (seq, audio) in [(0, false), (1, true), (2, false)] {
            let plain = datagram(seq, audio);
            let mut d = plain.clone();
            sealer.seal(&mut d, NOW + u64::from(seq));
            assert_eq!(d.len(), plain.len() + TRAILER_LEN);
            assert_eq!(
                &d[..plain.len()],
                &plain[..],
                "the datagram itself is unchanged"
            );
            let opened = opener.open(&d, NOW).unwrap();
            assert_eq!(opened.payload, &plain[..]);
            assert_eq!(
                opened.stamp,
                Stamp {
                    sender: 0xABCD,
                    counter: u64::from(seq),
                    unix_ms: NOW + u64::from(seq)
                }
            );
            assert_eq!(opened.key_index, 0);
            assert_eq!(
                BridgeDatagram::decode(opened.payload).unwrap().frame.seq,
                seq
            );
        }
        assert_eq!(opener.senders(), 1);
    }

    /// Golden vector: the trailer's layout byte for byte; the key id and the tag were computed
    /// outside Rust (docs/render-bridge.md shows how):
    /// `openssl dgst -sha256 -mac HMAC -macopt hexkey:4242…42` over the domain string and the
    /// 29 bytes before the tag, and `sha256sum` over the key-id domain and the key.
    #[test]
    fn golden_trailer_layout() {
        let k = key(0x42);
        let mut d = vec![0xB5, 1, 0, 0];
        seal_with(
            &k,
            Stamp {
                sender: 0x0102_0304_0506_0708,
                counter: 9,
                unix_ms: 0x1122_3344_5566,
            },
            &mut d,
        );
        assert_eq!(d.len(), 4 + TRAILER_LEN);
        assert_eq!(&d[4..12], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&d[12..20], &[9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&d[20..28], &[0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0, 0]);
        assert_eq!(d[28], 0x41, "key id");
        assert_eq!(k.id(), 0x41);
        let tag: Vec<u8> = (0..16)
            .map(|i| {
                u8::from_str_radix(&"9159bdd30e0dbc6ed75628d02bea6193"[2 * i..2 * i + 2], 16)
                    .unwrap()
            })
            .collect();
        assert_eq!(&d[29..], &tag[..]);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_refused() {
        let k = key(3);
        let good = sealed(&k, 7, NOW);
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                let mut opener = Opener::new(k.clone(), None, WINDOW);
                assert!(
                    matches!(opener.open(&bad, NOW), Err(OpenError::BadMac { .. })),
                    "byte {i} bit {bit}"
                );
            }
        }
        assert!(Opener::new(k, None, WINDOW).open(&good, NOW).is_ok());
    }

    #[test]
    fn another_key_is_refused_and_the_previous_key_is_accepted_while_rotating() {
        let old = key(1);
        let new = key(2);
        let d = sealed(&old, 0, NOW);
        let mut only_new = Opener::new(new.clone(), None, WINDOW);
        assert_eq!(
            only_new.open(&d, NOW),
            Err(OpenError::BadMac {
                len: d.len(),
                key_id: old.id()
            })
        );
        assert_eq!(only_new.senders(), 0, "a forgery leaves no state behind");
        let mut rotating = Opener::new(new.clone(), Some(old.clone()), WINDOW);
        assert_eq!(rotating.open(&d, NOW).unwrap().key_index, 1);
        let d = sealed(&new, 1, NOW);
        assert_eq!(rotating.open(&d, NOW).unwrap().key_index, 0);
        // The key id only picks which keys to try: a forged id with a valid-looking layout is
        // still checked against the tag.
        let mut forged = sealed(&old, 2, NOW);
        let at = forged.len() - TAG_LEN - 1;
        forged[at] = new.id();
        assert!(matches!(
            rotating.open(&forged, NOW),
            Err(OpenError::BadMac { .. })
        ));
    }

    #[test]
    fn a_replayed_datagram_is_refused() {
        let k = key(5);
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        let first = sealed(&k, 0, NOW);
        opener.open(&first, NOW).unwrap();
        assert_eq!(
            opener.open(&first, NOW + 10),
            Err(OpenError::Replayed {
                sender: 0x5EED,
                counter: 0
            })
        );
        for c in 1..=3 {
            opener.open(&sealed(&k, c, NOW), NOW).unwrap();
        }
        for c in 0..=3 {
            assert!(
                matches!(
                    opener.open(&sealed(&k, c, NOW), NOW),
                    Err(OpenError::Replayed { .. })
                ),
                "counter {c}"
            );
        }
    }

    #[test]
    fn reordering_within_the_window_is_accepted_once() {
        let k = key(6);
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        // 0, 2, 1, 5, 3, 4: every one accepted, in that order.
        for c in [0, 2, 1, 5, 3, 4] {
            assert!(opener.open(&sealed(&k, c, NOW), NOW).is_ok(), "counter {c}");
        }
        // A jump ahead, then the stragglers of the window below it.
        let top = 5 + REPLAY_WINDOW - 1;
        opener.open(&sealed(&k, top, NOW), NOW).unwrap();
        opener.open(&sealed(&k, 6, NOW), NOW).unwrap();
        opener.open(&sealed(&k, top - 1, NOW), NOW).unwrap();
        // Below the window: refused (it may or may not have been seen; the receiver cannot tell).
        assert!(matches!(
            opener.open(&sealed(&k, 5, NOW), NOW),
            Err(OpenError::Replayed { .. })
        ));
        // A jump by more than the window forgets the bitmap, but not the highest counter.
        let far = top + 10 * REPLAY_WINDOW;
        opener.open(&sealed(&k, far, NOW), NOW).unwrap();
        assert!(opener.open(&sealed(&k, far - 1, NOW), NOW).is_ok());
        assert!(opener.open(&sealed(&k, far, NOW), NOW).is_err());
        assert!(opener.open(&sealed(&k, top, NOW), NOW).is_err());
        // Senders are independent.
        let mut other = datagram(1, false);
        seal_with(
            &k,
            Stamp {
                sender: 0x0DD,
                counter: 0,
                unix_ms: NOW,
            },
            &mut other,
        );
        assert!(opener.open(&other, NOW).is_ok());
        assert_eq!(opener.senders(), 2);
    }

    #[test]
    fn a_counter_slot_reused_after_the_window_moves_is_not_mistaken_for_a_replay() {
        let k = key(7);
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        // Counters 0..3 × REPLAY_WINDOW in order: each lands in a slot an older counter used.
        for c in 0..3 * REPLAY_WINDOW {
            assert!(opener.open(&sealed(&k, c, NOW), NOW).is_ok(), "counter {c}");
        }
        // Skipped counters stay acceptable once, within the window.
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        for c in (0..2 * REPLAY_WINDOW).step_by(2) {
            opener.open(&sealed(&k, c, NOW), NOW).unwrap();
        }
        let odd = 2 * REPLAY_WINDOW - 3;
        assert!(opener.open(&sealed(&k, odd, NOW), NOW).is_ok());
        assert!(opener.open(&sealed(&k, odd, NOW), NOW).is_err());
    }

    #[test]
    fn a_datagram_outside_the_time_window_is_refused() {
        let k = key(8);
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        assert_eq!(
            opener.open(&sealed(&k, 0, NOW - WINDOW - 1), NOW),
            Err(OpenError::Stale {
                skew_ms: -(WINDOW as i64) - 1
            })
        );
        assert_eq!(
            opener.open(&sealed(&k, 1, NOW + WINDOW + 1), NOW),
            Err(OpenError::Stale {
                skew_ms: WINDOW as i64 + 1
            })
        );
        assert_eq!(opener.senders(), 0);
        opener.open(&sealed(&k, 2, NOW - WINDOW), NOW).unwrap();
        opener.open(&sealed(&k, 3, NOW + WINDOW), NOW).unwrap();
        assert_eq!(
            opener.open(&sealed(&k, 0, 0), u64::MAX),
            Err(OpenError::Stale { skew_ms: i64::MIN })
        );
    }

    /// After its sender is forgotten (or the receiver restarts), a captured datagram is stale.
    #[test]
    fn a_forgotten_sender_cannot_be_replayed() {
        let k = key(9);
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        let captured = sealed(&k, 0, NOW);
        opener.open(&captured, NOW).unwrap();
        opener.forget_old(NOW + WINDOW);
        assert_eq!(opener.senders(), 1, "kept while its datagrams are fresh");
        opener.forget_old(NOW + WINDOW + 1);
        assert_eq!(opener.senders(), 0);
        assert!(matches!(
            opener.open(&captured, NOW + WINDOW + 1),
            Err(OpenError::Stale { .. })
        ));
        let mut restarted = Opener::new(k, None, WINDOW);
        assert!(matches!(
            restarted.open(&captured, NOW + WINDOW + 1),
            Err(OpenError::Stale { .. })
        ));
    }

    #[test]
    fn the_number_of_senders_is_bounded() {
        let k = key(10);
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        let stamped = |sender: u64, unix_ms: u64| {
            let mut d = vec![0xB5];
            seal_with(
                &k,
                Stamp {
                    sender,
                    counter: 0,
                    unix_ms,
                },
                &mut d,
            );
            d
        };
        for s in 0..MAX_SENDERS as u64 {
            opener.open(&stamped(s, NOW), NOW).unwrap();
        }
        assert_eq!(
            opener.open(&stamped(u64::MAX, NOW), NOW),
            Err(OpenError::TooManySenders)
        );
        assert_eq!(OpenError::TooManySenders.reason(), "replayed");
        // Once the others are old, room is made.
        let later = NOW + WINDOW + 1;
        opener.open(&stamped(u64::MAX, later), later).unwrap();
        assert_eq!(opener.senders(), 1);
    }

    #[test]
    fn truncated_or_short_input_is_refused_without_panicking() {
        let k = key(11);
        let good = sealed(&k, 0, NOW);
        let mut opener = Opener::new(k.clone(), None, WINDOW);
        for n in 0..good.len() {
            assert!(
                matches!(opener.open(&good[..n], NOW), Err(OpenError::BadMac { .. })),
                "prefix {n}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(opener.open(&longer, NOW).is_err());
        assert!(opener.open(&good[1..], NOW).is_err());
        // An empty payload with a valid trailer opens (to an empty, undecodable datagram).
        let mut empty = Vec::new();
        seal_with(
            &k,
            Stamp {
                sender: 1,
                counter: 0,
                unix_ms: NOW,
            },
            &mut empty,
        );
        assert_eq!(opener.open(&empty, NOW).unwrap().payload, &[] as &[u8]);
        assert_eq!(
            opener.open(&good, NOW).unwrap().payload.len(),
            good.len() - TRAILER_LEN
        );
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_short_ones_are_refused() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let k = BridgeKey::parse(hex).unwrap();
        let bytes: Vec<u8> = (0..32).map(|i| ((i % 16) as u8) * 0x11).collect::<Vec<_>>();
        assert_eq!(k, BridgeKey::from_bytes(&bytes).unwrap());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(BridgeKey::parse(&b64).unwrap(), k);
        assert_eq!(BridgeKey::parse(b64.trim_end_matches('=')).unwrap(), k);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xFB; 40]);
        assert!(url.contains('-') || url.contains('_'));
        assert_eq!(
            BridgeKey::parse(&url).unwrap(),
            BridgeKey::from_bytes(&[0xFB; 40]).unwrap()
        );
        assert_eq!(BridgeKey::parse(&hex[..62]), Err(KeyError::Short(31)));
        assert!(matches!(
            BridgeKey::parse("c2hvcnQ="),
            Err(KeyError::Short(5))
        ));
        assert_eq!(BridgeKey::parse("not a key!"), Err(KeyError::Encoding));
        assert_eq!(BridgeKey::parse(""), Err(KeyError::Short(0)));
        let text = format!("{k:?} {}", KeyError::Short(3));
        assert!(
            !text.contains("0011") && text.contains("redacted"),
            "{text}"
        );
        assert_ne!(key(1).id(), key(2).id());
    }
}
