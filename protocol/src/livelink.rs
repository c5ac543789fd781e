//! Live Link Face UDP packets, version 6: what Unreal's stock "Apple ARKit Face Support" Live
//! Link source (and the Live Link Face iPhone app) speak, default port 11111.
//!
//! Every multi-byte field is big-endian ("network byte order", Unreal's `FNboSerializeToBuffer`):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u8 | version = 6 |
//! | 1 | i32 | device-id byte length D |
//! | 5 | D bytes UTF-8 | device id |
//! | 5+D | i32 | subject-name byte length S |
//! | 9+D | S bytes UTF-8 | subject name (the Live Link subject) |
//! | 9+D+S | i32 | frame number |
//! | 13+D+S | f32 | sub-frame |
//! | 17+D+S | i32 | frame-rate numerator |
//! | 21+D+S | i32 | frame-rate denominator |
//! | 25+D+S | u8 | curve count = 61 |
//! | 26+D+S | 61 × f32 | values in Unreal's ARKit order ([`crate::arkit::UNREAL_NAMES`]) |
//!
//! Total size is `270 + D + S`. Unreal's receive buffer is small (a few hundred bytes on Linux)
//! and one bad packet makes it skip the rest of that tick, so [`LiveLinkPacket::encode_into`]
//! refuses ids longer than [`MAX_ID_LEN`] instead of emitting packets Unreal would drop.

use crate::arkit::ARKIT_COUNT;

/// The only version Unreal's receiver accepts.
pub const LIVE_LINK_VERSION: u8 = 6;
/// Size of a packet without its two strings.
pub const LIVE_LINK_FIXED_LEN: usize = 26 + ARKIT_COUNT * 4;
/// Longest device id or subject name this codec writes or reads (bytes). Unreal reads into a
/// buffer of roughly 264–774 bytes, so both strings together must stay short.
pub const MAX_ID_LEN: usize = 64;
/// Largest packet this codec produces.
pub const MAX_PACKET_LEN: usize = LIVE_LINK_FIXED_LEN + 2 * MAX_ID_LEN;

/// Frame timing as Unreal's `FQualifiedFrameTime` carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTime {
    /// Whole frame number at `rate_numerator / rate_denominator` frames per second.
    pub frame: i32,
    /// Fraction of a frame, 0..1.
    pub sub_frame: f32,
    /// Frame-rate numerator (60 for 60 fps).
    pub rate_numerator: i32,
    /// Frame-rate denominator (1 for 60 fps).
    pub rate_denominator: i32,
}

impl FrameTime {
    /// The frame time of a position on a 48 kHz audio clock at `fps` frames per second: the
    /// frame number wraps like a 32-bit timecode counter would.
    pub fn from_sample_pos(sample_pos: u64, fps: u32) -> Self {
        let fps = u64::from(fps.max(1));
        let scaled = sample_pos.saturating_mul(fps);
        let frame = (scaled / 48_000) as u32 as i32;
        let sub_frame = (scaled % 48_000) as f32 / 48_000.0;
        FrameTime {
            frame,
            sub_frame,
            rate_numerator: fps as i32,
            rate_denominator: 1,
        }
    }
}

/// One Live Link Face packet, borrowing its strings.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveLinkPacket<'a> {
    /// Identifies the sender; a new device id makes Unreal re-read static data.
    pub device_id: &'a str,
    /// The Live Link subject the values animate.
    pub subject: &'a str,
    /// When the frame is.
    pub time: FrameTime,
    /// The 61 curves in Unreal's order.
    pub values: [f32; ARKIT_COUNT],
}

/// Why a Live Link packet could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveLinkError {
    /// The bytes end before the field named.
    #[error("live link packet truncated in {field} (length {len})")]
    Truncated {
        /// The field that did not fit.
        field: &'static str,
        /// The packet length.
        len: usize,
    },
    /// Not version 6.
    #[error("unsupported live link version {0} (only 6)")]
    Version(u8),
    /// A string length that is negative or longer than [`MAX_ID_LEN`].
    #[error("live link {field} length {len} outside 0..={MAX_ID_LEN}")]
    StringLength {
        /// `device id` or `subject`.
        field: &'static str,
        /// The length found.
        len: i64,
    },
    /// A string that is not UTF-8.
    #[error("live link {0} is not UTF-8")]
    Utf8(&'static str),
    /// A curve count other than 61.
    #[error("live link curve count {0}, expected 61")]
    CurveCount(u8),
    /// Bytes after the last curve.
    #[error("live link packet has {0} trailing bytes")]
    Trailing(usize),
    /// The output buffer is too small to hold the packet.
    #[error("output buffer of {have} bytes, need {need}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
}

impl<'a> LiveLinkPacket<'a> {
    /// Encoded size of this packet.
    pub fn encoded_len(&self) -> usize {
        LIVE_LINK_FIXED_LEN + self.device_id.len() + self.subject.len()
    }

    /// Writes the packet into `out` and returns its length; allocation-free so the bridge can
    /// emit on its hot path. Values are written as given (NaN becomes 0, Unreal would spread it).
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, LiveLinkError> {
        check_string_len("device id", self.device_id.len())?;
        check_string_len("subject", self.subject.len())?;
        let need = self.encoded_len();
        if out.len() < need {
            return Err(LiveLinkError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        let mut w = Writer { out, at: 0 };
        w.put(&[LIVE_LINK_VERSION]);
        w.put(&(self.device_id.len() as i32).to_be_bytes());
        w.put(self.device_id.as_bytes());
        w.put(&(self.subject.len() as i32).to_be_bytes());
        w.put(self.subject.as_bytes());
        w.put(&self.time.frame.to_be_bytes());
        w.put(&self.time.sub_frame.to_be_bytes());
        w.put(&self.time.rate_numerator.to_be_bytes());
        w.put(&self.time.rate_denominator.to_be_bytes());
        w.put(&[ARKIT_COUNT as u8]);
        for &v in &self.values {
            let v = if v.is_nan() { 0.0 } else { v };
            w.put(&v.to_be_bytes());
        }
        Ok(w.at)
    }

    /// Encodes into a new vector.
    pub fn encode(&self) -> Result<Vec<u8>, LiveLinkError> {
        let mut out = vec![0u8; self.encoded_len()];
        let n = self.encode_into(&mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Decodes one packet, borrowing its strings from `bytes`; never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, LiveLinkError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.take::<1>("version")?[0];
        if version != LIVE_LINK_VERSION {
            return Err(LiveLinkError::Version(version));
        }
        let device_id = r.string("device id")?;
        let subject = r.string("subject")?;
        let frame = i32::from_be_bytes(r.take("frame number")?);
        let sub_frame = f32::from_be_bytes(r.take("sub-frame")?);
        let rate_numerator = i32::from_be_bytes(r.take("frame rate")?);
        let rate_denominator = i32::from_be_bytes(r.take("frame rate")?);
        let count = r.take::<1>("curve count")?[0];
        if usize::from(count) != ARKIT_COUNT {
            return Err(LiveLinkError::CurveCount(count));
        }
        let mut values = [0.0f32; ARKIT_COUNT];
        for v in &mut values {
            *v = f32::from_be_bytes(r.take("curves")?);
        }
        if r.at != bytes.len() {
            return Err(LiveLinkError::Trailing(bytes.len() - r.at));
        }
        Ok(LiveLinkPacket {
            device_id,
            subject,
            time: FrameTime {
                frame,
                sub_frame,
                rate_numerator,
                rate_denominator,
            },
            values,
        })
    }
}

fn check_string_len(field: &'static str, len: usize) -> Result<(), LiveLinkError> {
    if len > MAX_ID_LEN {
        return Err(LiveLinkError::StringLength {
            field,
            len: len as i64,
        });
    }
    Ok(())
}

struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl Writer<'_> {
    /// Callers check the total length first, so every slice fits.
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], LiveLinkError> {
        let slice = self.slice(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn slice(&mut self, n: usize, field: &'static str) -> Result<&'b [u8], LiveLinkError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(LiveLinkError::Truncated {
            field,
            len: self.bytes.len(),
        })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn string(&mut self, field: &'static str) -> Result<&'b str, LiveLinkError> {
        let len = i32::from_be_bytes(self.take(field)?);
        if len < 0 || len as usize > MAX_ID_LEN {
            return Err(LiveLinkError::StringLength {
                field,
                len: i64::from(len),
            });
        }
        let raw = self.slice(len as usize, field)?;
        std::str::from_utf8(raw).map_err(|_| LiveLinkError::Utf8(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arkit::CurveIndex;

    pub(crate) fn sample() -> LiveLinkPacket<'static> {
        let mut values = [0.0; ARKIT_COUNT];
        values[CurveIndex::EYE_BLINK_LEFT] = 1.0;
        values[CurveIndex::JAW_OPEN] = 0.5;
        values[CurveIndex::HEAD_YAW] = -0.25;
        LiveLinkPacket {
            device_id: "GA",
            subject: "Ava",
            time: FrameTime::from_sample_pos(48_000 * 3 + 400, 60),
            values,
        }
    }

    /// Golden vector: exact bytes, offsets as docs/protocols.md §2 gives them.
    #[test]
    fn golden_vector() {
        let bytes = sample().encode().unwrap();
        assert_eq!(bytes.len(), 270 + 2 + 3);
        assert_eq!(bytes[0], 6);
        assert_eq!(&bytes[1..5], &[0, 0, 0, 2]);
        assert_eq!(&bytes[5..7], b"GA");
        assert_eq!(&bytes[7..11], &[0, 0, 0, 3]);
        assert_eq!(&bytes[11..14], b"Ava");
        // 3 s + 400 samples at 60 fps = frame 180, sub-frame 0.5.
        assert_eq!(&bytes[14..18], &180i32.to_be_bytes());
        assert_eq!(&bytes[18..22], &[0x3F, 0, 0, 0], "sub-frame 0.5");
        assert_eq!(&bytes[22..26], &[0, 0, 0, 60]);
        assert_eq!(&bytes[26..30], &[0, 0, 0, 1]);
        assert_eq!(bytes[30], 61);
        assert_eq!(&bytes[31..35], &[0x3F, 0x80, 0, 0], "EyeBlinkLeft 1.0");
        let jaw = 31 + 4 * CurveIndex::JAW_OPEN;
        assert_eq!(&bytes[jaw..jaw + 4], &[0x3F, 0, 0, 0], "JawOpen 0.5");
        let yaw = 31 + 4 * CurveIndex::HEAD_YAW;
        assert_eq!(&bytes[yaw..yaw + 4], &[0xBE, 0x80, 0, 0], "HeadYaw -0.25");
    }

    #[test]
    fn round_trip_is_exact() {
        let p = sample();
        let bytes = p.encode().unwrap();
        assert_eq!(LiveLinkPacket::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn long_ids_are_refused_on_encode() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        let mut p = sample();
        p.subject = &long;
        assert!(matches!(
            p.encode(),
            Err(LiveLinkError::StringLength {
                field: "subject",
                ..
            })
        ));
        let mut small = [0u8; 10];
        assert!(matches!(
            sample().encode_into(&mut small),
            Err(LiveLinkError::BufferTooSmall {
                need: 275,
                have: 10
            })
        ));
    }

    #[test]
    fn malformed_input_sweep_never_panics() {
        let good = sample().encode().unwrap();
        // Every truncation is a typed error.
        for n in 0..good.len() {
            assert!(LiveLinkPacket::decode(&good[..n]).is_err(), "prefix {n}");
        }
        // Every single-byte corruption decodes or errors, never panics.
        for i in 0..good.len() {
            for b in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = LiveLinkPacket::decode(&bad);
            }
        }
        let mut bad = good.clone();
        bad[0] = 5;
        assert_eq!(LiveLinkPacket::decode(&bad), Err(LiveLinkError::Version(5)));
        let mut bad = good.clone();
        bad[1..5].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            LiveLinkPacket::decode(&bad),
            Err(LiveLinkError::StringLength { len: -1, .. })
        ));
        let mut bad = good.clone();
        bad[30] = 52;
        assert_eq!(
            LiveLinkPacket::decode(&bad),
            Err(LiveLinkError::CurveCount(52))
        );
        let mut bad = good.clone();
        bad[5] = 0xFF;
        assert_eq!(
            LiveLinkPacket::decode(&bad),
            Err(LiveLinkError::Utf8("device id"))
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            LiveLinkPacket::decode(&long),
            Err(LiveLinkError::Trailing(1))
        );
    }

    #[test]
    fn frame_time_follows_the_audio_clock() {
        let t = FrameTime::from_sample_pos(0, 60);
        assert_eq!((t.frame, t.sub_frame), (0, 0.0));
        let t = FrameTime::from_sample_pos(800, 60);
        assert_eq!((t.frame, t.sub_frame), (1, 0.0));
        let t = FrameTime::from_sample_pos(u64::MAX, 60);
        assert!((0.0..1.0).contains(&t.sub_frame));
    }
}
