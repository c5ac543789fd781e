//! The face stream from the inference server to the render-bridge, and from the bridge on to
//! the GoAssist Unreal plugin: one UDP datagram per face frame, optionally with the PCM audio
//! chunk that starts at the frame's sample position (for in-engine audio, e.g. Pixel
//! Streaming).
//!
//! The frame itself is the 150-byte [`FaceFrame`] encoding, wrapped in an 8-byte header that
//! names the avatar. Little-endian like [`FaceFrame`] (version 1):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u8 | magic `0xB5` |
//! | 1 | u8 | version = 1 |
//! | 2 | u8 | flags: bit 0 = audio chunk follows, bit 1 = subject name follows; other bits 0 |
//! | 3 | u8 | reserved, 0 |
//! | 4 | u32 | avatar id (which character on the render pod; 0 = default) |
//! | 8 | 150 bytes | [`FaceFrame`] (session id, epoch, seq, sample position, 61 values) |
//! | 158 | u16 | audio: sample count N (only when flag bit 0 is set), 1..=[`MAX_AUDIO_SAMPLES`] |
//! | 160 | N × i16 | audio: mono PCM at 48 kHz, first sample at the frame's sample position |
//! | end − 1 − L | u8 | subject: byte length L, 1..=[`MAX_SUBJECT_LEN`] (only when flag bit 1 is set) |
//! | end − L | L bytes | subject: the Live Link subject name, UTF-8 |
//!
//! A face-only datagram is 158 bytes; with 20 ms of audio, 2,080 bytes.
//!
//! The subject (flag bit 1) was added after version 1 shipped, without a version bump: only
//! the render-bridge writes it, and only to the GoAssistLiveLink plugin for an avatar that an
//! operator routed to a named subject (docs/render-bridge.md, "Routing"). Datagrams without
//! it are byte for byte what they were, so inference servers and plugins built before it keep
//! working; a plugin that predates it rejects flagged datagrams as malformed (unknown flag), so
//! routing to a plugin target needs a plugin from the same release.

use crate::face_frame::{FACE_FRAME_LEN, FaceFrame, FaceFrameError};

/// First byte of a bridge-stream datagram.
pub const BRIDGE_STREAM_MAGIC: u8 = 0xB5;
/// Version written by this encoder.
pub const BRIDGE_STREAM_VERSION: u8 = 1;
/// Header size before the face frame.
pub const HEADER_LEN: usize = 8;
/// Size of a datagram without audio.
pub const FACE_ONLY_LEN: usize = HEADER_LEN + FACE_FRAME_LEN;
/// Most audio samples one datagram carries: 100 ms at 48 kHz (keeps datagrams < 10 kB).
pub const MAX_AUDIO_SAMPLES: usize = 4_800;
/// Longest subject name a datagram carries (bytes): Live Link's own limit
/// ([`crate::livelink::MAX_ID_LEN`]).
pub const MAX_SUBJECT_LEN: usize = crate::livelink::MAX_ID_LEN;
/// Largest datagram this codec produces or accepts.
pub const MAX_DATAGRAM_LEN: usize = FACE_ONLY_LEN + 2 + 2 * MAX_AUDIO_SAMPLES + 1 + MAX_SUBJECT_LEN;
/// Sample rate of the audio chunk (the outgoing audio clock).
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;

const FLAG_AUDIO: u8 = 1;
const FLAG_SUBJECT: u8 = 2;

/// One decoded datagram.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeDatagram {
    /// Which avatar on the render pod the frame drives.
    pub avatar_id: u32,
    /// The face frame.
    pub frame: FaceFrame,
    /// Mono 48 kHz PCM starting at `frame.sample_pos`, when the sender attached it.
    pub audio: Option<Vec<i16>>,
    /// The Live Link subject the frame drives, when the render-bridge routed it to one.
    pub subject: Option<String>,
}

/// Why bytes are not a bridge-stream datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeStreamError {
    /// Shorter than the header plus a face frame, or a length that disagrees with the audio
    /// sample count.
    #[error("bridge datagram length {len}, expected {expected}")]
    Length {
        /// Bytes received.
        len: usize,
        /// Bytes the header implies.
        expected: usize,
    },
    /// First byte is not [`BRIDGE_STREAM_MAGIC`].
    #[error("not a bridge datagram (first byte {0:#04x})")]
    Magic(u8),
    /// A version this decoder does not know.
    #[error("unsupported bridge stream version {0}")]
    Version(u8),
    /// Unknown flag bits or a non-zero reserved byte.
    #[error("bridge datagram has unknown flags {0:#04x}")]
    Flags(u8),
    /// An audio chunk of 0 or more than [`MAX_AUDIO_SAMPLES`] samples.
    #[error("audio chunk of {0} samples outside 1..={MAX_AUDIO_SAMPLES}")]
    AudioLength(usize),
    /// A subject name of 0 or more than [`MAX_SUBJECT_LEN`] bytes, or not UTF-8.
    #[error("subject name must be 1..={MAX_SUBJECT_LEN} bytes of UTF-8")]
    Subject,
    /// The embedded face frame is malformed.
    #[error("embedded face frame: {0}")]
    Frame(#[from] FaceFrameError),
}

/// Encodes a datagram into `out` (cleared first), reusing its allocation.
pub fn encode_into(
    avatar_id: u32,
    frame: &FaceFrame,
    audio: Option<&[i16]>,
    out: &mut Vec<u8>,
) -> Result<(), BridgeStreamError> {
    encode_routed_into(avatar_id, frame, audio, None, out)
}

/// [`encode_into`] with the Live Link subject the frame drives (flag bit 1), for a receiver
/// that should not derive the subject from the avatar and session ids.
pub fn encode_routed_into(
    avatar_id: u32,
    frame: &FaceFrame,
    audio: Option<&[i16]>,
    subject: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), BridgeStreamError> {
    if let Some(a) = audio
        && (a.is_empty() || a.len() > MAX_AUDIO_SAMPLES)
    {
        return Err(BridgeStreamError::AudioLength(a.len()));
    }
    if let Some(s) = subject
        && (s.is_empty() || s.len() > MAX_SUBJECT_LEN)
    {
        return Err(BridgeStreamError::Subject);
    }
    let mut flags = 0;
    if audio.is_some() {
        flags |= FLAG_AUDIO;
    }
    if subject.is_some() {
        flags |= FLAG_SUBJECT;
    }
    out.clear();
    out.push(BRIDGE_STREAM_MAGIC);
    out.push(BRIDGE_STREAM_VERSION);
    out.push(flags);
    out.push(0);
    out.extend_from_slice(&avatar_id.to_le_bytes());
    out.extend_from_slice(&frame.encode());
    if let Some(a) = audio {
        out.extend_from_slice(&(a.len() as u16).to_le_bytes());
        for s in a {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
    if let Some(s) = subject {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    Ok(())
}

/// Encodes a datagram into a new vector.
pub fn encode(
    avatar_id: u32,
    frame: &FaceFrame,
    audio: Option<&[i16]>,
) -> Result<Vec<u8>, BridgeStreamError> {
    let mut out = Vec::with_capacity(FACE_ONLY_LEN + audio.map_or(0, |a| 2 + 2 * a.len()));
    encode_into(avatar_id, frame, audio, &mut out)?;
    Ok(out)
}

impl BridgeDatagram {
    /// Encodes this datagram.
    pub fn encode(&self) -> Result<Vec<u8>, BridgeStreamError> {
        let mut out = Vec::new();
        encode_routed_into(
            self.avatar_id,
            &self.frame,
            self.audio.as_deref(),
            self.subject.as_deref(),
            &mut out,
        )?;
        Ok(out)
    }

    /// Decodes one datagram; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, BridgeStreamError> {
        let header = Header::parse(bytes)?;
        let frame = FaceFrame::decode(&bytes[HEADER_LEN..FACE_ONLY_LEN])?;
        let audio = header.audio_len.map(|n| {
            bytes[FACE_ONLY_LEN + 2..FACE_ONLY_LEN + 2 + 2 * n]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect()
        });
        let subject = header
            .subject
            .map(|range| String::from_utf8_lossy(&bytes[range]).into_owned());
        Ok(BridgeDatagram {
            avatar_id: header.avatar_id,
            frame,
            audio,
            subject,
        })
    }
}

/// Decodes only the header and face frame, ignoring the audio payload's samples (but still
/// validating its length): the bridge's hot path when no audio consumer is configured.
pub fn decode_face(bytes: &[u8]) -> Result<(u32, FaceFrame, bool), BridgeStreamError> {
    let header = Header::parse(bytes)?;
    let frame = FaceFrame::decode(&bytes[HEADER_LEN..FACE_ONLY_LEN])?;
    Ok((header.avatar_id, frame, header.audio_len.is_some()))
}

/// Copies a datagram's audio chunk into `out` (cleared first, allocation reused); returns
/// whether there was one. Validates the datagram like [`BridgeDatagram::decode`].
pub fn audio_into(bytes: &[u8], out: &mut Vec<i16>) -> Result<bool, BridgeStreamError> {
    out.clear();
    let header = Header::parse(bytes)?;
    let Some(n) = header.audio_len else {
        return Ok(false);
    };
    out.extend(
        bytes[FACE_ONLY_LEN + 2..FACE_ONLY_LEN + 2 + 2 * n]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]])),
    );
    Ok(true)
}

struct Header {
    avatar_id: u32,
    audio_len: Option<usize>,
    /// Where the subject name's bytes are (checked to be UTF-8).
    subject: Option<std::ops::Range<usize>>,
}

impl Header {
    /// Checks magic, version, flags and the total length; afterwards every slice the decoders
    /// take is in bounds.
    fn parse(bytes: &[u8]) -> Result<Header, BridgeStreamError> {
        if bytes.len() < FACE_ONLY_LEN {
            return Err(BridgeStreamError::Length {
                len: bytes.len(),
                expected: FACE_ONLY_LEN,
            });
        }
        if bytes[0] != BRIDGE_STREAM_MAGIC {
            return Err(BridgeStreamError::Magic(bytes[0]));
        }
        if bytes[1] != BRIDGE_STREAM_VERSION {
            return Err(BridgeStreamError::Version(bytes[1]));
        }
        let flags = bytes[2];
        if flags & !(FLAG_AUDIO | FLAG_SUBJECT) != 0 || bytes[3] != 0 {
            return Err(BridgeStreamError::Flags(flags | bytes[3]));
        }
        let avatar_id = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        // The audio chunk, when present, starts right after the frame; the subject, when
        // present, fills the rest.
        let mut end = FACE_ONLY_LEN;
        let audio_len = if flags & FLAG_AUDIO == 0 {
            None
        } else {
            if bytes.len() < end + 2 {
                return Err(BridgeStreamError::Length {
                    len: bytes.len(),
                    expected: end + 2,
                });
            }
            let n = usize::from(u16::from_le_bytes([bytes[end], bytes[end + 1]]));
            if n == 0 || n > MAX_AUDIO_SAMPLES {
                return Err(BridgeStreamError::AudioLength(n));
            }
            end += 2 + 2 * n;
            Some(n)
        };
        let subject = if flags & FLAG_SUBJECT == 0 {
            None
        } else {
            let Some(&len) = bytes.get(end) else {
                return Err(BridgeStreamError::Length {
                    len: bytes.len(),
                    expected: end + 1,
                });
            };
            let len = usize::from(len);
            if len == 0 || len > MAX_SUBJECT_LEN {
                return Err(BridgeStreamError::Subject);
            }
            let range = end + 1..end + 1 + len;
            end = range.end;
            if bytes.len() == end && std::str::from_utf8(&bytes[range.clone()]).is_err() {
                return Err(BridgeStreamError::Subject);
            }
            Some(range)
        };
        if bytes.len() != end {
            return Err(BridgeStreamError::Length {
                len: bytes.len(),
                expected: end,
            });
        }
        Ok(Header {
            avatar_id,
            audio_len,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arkit::CurveIndex;

    fn frame() -> FaceFrame {
        let mut f = FaceFrame::neutral(0x0102_0304_0506_0708, 7, 42, 144_960);
        f.values[CurveIndex::JAW_OPEN] = 0.5;
        f.values[CurveIndex::EYE_BLINK_LEFT] = 1.0;
        f.values[CurveIndex::HEAD_YAW] = -0.25;
        f
    }

    /// Golden vector: header bytes exact, face frame bytes equal to FaceFrame's own golden form.
    #[test]
    fn golden_vector_face_only() {
        let bytes = encode(3, &frame(), None).unwrap();
        assert_eq!(bytes.len(), 158);
        assert_eq!(&bytes[..8], &[0xB5, 1, 0, 0, 3, 0, 0, 0]);
        assert_eq!(&bytes[8..], &frame().encode()[..]);
    }

    #[test]
    fn golden_vector_with_audio() {
        let bytes = encode(0x0A0B_0C0D, &frame(), Some(&[1, -1, 0x1234])).unwrap();
        assert_eq!(bytes.len(), 158 + 2 + 6);
        assert_eq!(&bytes[..8], &[0xB5, 1, 1, 0, 0x0D, 0x0C, 0x0B, 0x0A]);
        assert_eq!(&bytes[158..], &[3, 0, 1, 0, 0xFF, 0xFF, 0x34, 0x12]);
    }

    #[test]
    fn round_trip() {
        let d = BridgeDatagram {
            avatar_id: 9,
            frame: frame(),
            audio: Some((0..960).map(|i| (i * 31 - 15_000) as i16).collect()),
            subject: None,
        };
        let back = BridgeDatagram::decode(&d.encode().unwrap()).unwrap();
        assert_eq!(back.avatar_id, 9);
        assert_eq!(back.audio, d.audio);
        assert_eq!(back.frame.seq, 42);
        let (avatar, f, has_audio) = decode_face(&d.encode().unwrap()).unwrap();
        assert_eq!((avatar, f.epoch, has_audio), (9, 7, true));
        let mut audio = vec![1, 2, 3];
        assert!(audio_into(&d.encode().unwrap(), &mut audio).unwrap());
        assert_eq!(Some(audio), d.audio);
        let mut audio = vec![1];
        let face_only = encode(1, &frame(), None).unwrap();
        assert!(!audio_into(&face_only, &mut audio).unwrap());
        assert!(audio.is_empty());
    }

    /// The subject flag (bit 1): the name goes last, after the audio when both are present.
    #[test]
    fn golden_vectors_with_subject() {
        let mut out = Vec::new();
        encode_routed_into(3, &frame(), None, Some("Ada"), &mut out).unwrap();
        assert_eq!(out.len(), 158 + 1 + 3);
        assert_eq!(&out[..8], &[0xB5, 1, 2, 0, 3, 0, 0, 0]);
        assert_eq!(&out[8..158], &frame().encode()[..]);
        assert_eq!(&out[158..], &[3, b'A', b'd', b'a']);
        encode_routed_into(3, &frame(), Some(&[1, -1]), Some("Bob"), &mut out).unwrap();
        assert_eq!(&out[..4], &[0xB5, 1, 3, 0]);
        assert_eq!(&out[158..], &[2, 0, 1, 0, 0xFF, 0xFF, 3, b'B', b'o', b'b']);
        let d = BridgeDatagram::decode(&out).unwrap();
        assert_eq!(d.audio.as_deref(), Some(&[1, -1][..]));
        assert_eq!(d.subject.as_deref(), Some("Bob"));
        assert_eq!(BridgeDatagram::decode(&d.encode().unwrap()).unwrap(), d);
        let (avatar, f, has_audio) = decode_face(&out).unwrap();
        assert_eq!((avatar, f.seq, has_audio), (3, 42, true));
        let mut audio = Vec::new();
        assert!(audio_into(&out, &mut audio).unwrap());
        assert_eq!(audio, [1, -1]);
    }

    /// Datagrams without a subject are exactly what the codec wrote before the flag existed.
    #[test]
    fn no_subject_means_the_original_bytes() {
        let mut routed = Vec::new();
        encode_routed_into(5, &frame(), Some(&[7]), None, &mut routed).unwrap();
        assert_eq!(routed, encode(5, &frame(), Some(&[7])).unwrap());
        assert_eq!(BridgeDatagram::decode(&routed).unwrap().subject, None);
    }

    #[test]
    fn subject_bounds_are_enforced() {
        let mut out = Vec::new();
        assert_eq!(
            encode_routed_into(0, &frame(), None, Some(""), &mut out),
            Err(BridgeStreamError::Subject)
        );
        let long = "x".repeat(MAX_SUBJECT_LEN + 1);
        assert_eq!(
            encode_routed_into(0, &frame(), None, Some(&long), &mut out),
            Err(BridgeStreamError::Subject)
        );
        let longest = "x".repeat(MAX_SUBJECT_LEN);
        let max_audio = vec![0i16; MAX_AUDIO_SAMPLES];
        encode_routed_into(0, &frame(), Some(&max_audio), Some(&longest), &mut out).unwrap();
        assert_eq!(out.len(), MAX_DATAGRAM_LEN);
        // Decoding: zero length, a length running past the end, trailing bytes, bad UTF-8.
        encode_routed_into(0, &frame(), None, Some("Ada"), &mut out).unwrap();
        let mut bad = out.clone();
        bad[158] = 0;
        assert_eq!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::Subject)
        );
        let mut bad = out.clone();
        bad[158] = 4;
        assert!(matches!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::Length { .. })
        ));
        let mut bad = out.clone();
        bad.push(b'!');
        assert!(matches!(
            decode_face(&bad),
            Err(BridgeStreamError::Length { .. })
        ));
        let mut bad = out.clone();
        bad[159] = 0xFF;
        assert_eq!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::Subject)
        );
        assert!(matches!(
            BridgeDatagram::decode(&out[..158]),
            Err(BridgeStreamError::Length { .. })
        ));
    }

    #[test]
    fn audio_bounds_are_enforced_on_encode() {
        assert_eq!(
            encode(0, &frame(), Some(&[])),
            Err(BridgeStreamError::AudioLength(0))
        );
        let long = vec![0i16; MAX_AUDIO_SAMPLES + 1];
        assert_eq!(
            encode(0, &frame(), Some(&long)),
            Err(BridgeStreamError::AudioLength(MAX_AUDIO_SAMPLES + 1))
        );
        let max = vec![0i16; MAX_AUDIO_SAMPLES];
        assert_eq!(
            encode(0, &frame(), Some(&max)).unwrap().len(),
            FACE_ONLY_LEN + 2 + 2 * MAX_AUDIO_SAMPLES
        );
    }

    #[test]
    fn malformed_input_sweep_never_panics() {
        let mut routed = Vec::new();
        encode_routed_into(1, &frame(), Some(&[5, 6]), Some("Ada"), &mut routed).unwrap();
        for good in [encode(1, &frame(), Some(&[5, 6, 7, 8])).unwrap(), routed] {
            for n in 0..good.len() {
                assert!(BridgeDatagram::decode(&good[..n]).is_err(), "prefix {n}");
            }
            for i in 0..good.len() {
                for b in [0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFF] {
                    let mut bad = good.clone();
                    bad[i] = b;
                    let full = BridgeDatagram::decode(&bad);
                    assert_eq!(full.is_ok(), decode_face(&bad).is_ok(), "byte {i} = {b}");
                    let _ = audio_into(&bad, &mut Vec::new());
                }
            }
        }
        let good = encode(1, &frame(), Some(&[5, 6, 7, 8])).unwrap();
        let mut bad = good.clone();
        bad[0] = 0xFA;
        assert_eq!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::Magic(0xFA))
        );
        let mut bad = good.clone();
        bad[1] = 2;
        assert_eq!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::Version(2))
        );
        let mut bad = good.clone();
        bad[2] = 0x81;
        assert_eq!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::Flags(0x81))
        );
        let mut bad = good.clone();
        bad[158..160].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::AudioLength(0))
        );
        let mut bad = good.clone();
        bad[8] = 0;
        assert_eq!(
            BridgeDatagram::decode(&bad),
            Err(BridgeStreamError::Frame(FaceFrameError::Magic(0)))
        );
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            BridgeDatagram::decode(&long),
            Err(BridgeStreamError::Length { .. })
        ));
        let face_only = encode(1, &frame(), None).unwrap();
        let mut long = face_only.clone();
        long.push(0);
        assert!(matches!(
            BridgeDatagram::decode(&long),
            Err(BridgeStreamError::Length { .. })
        ));
    }
}
