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
//! | 2 | u8 | flags: bit 0 = audio chunk follows; other bits must be 0 |
//! | 3 | u8 | reserved, 0 |
//! | 4 | u32 | avatar id (which character on the render pod; 0 = default) |
//! | 8 | 150 bytes | [`FaceFrame`] (session id, epoch, seq, sample position, 61 values) |
//! | 158 | u16 | audio: sample count N (only when flag bit 0 is set), 1..=[`MAX_AUDIO_SAMPLES`] |
//! | 160 | N × i16 | audio: mono PCM at 48 kHz, first sample at the frame's sample position |
//!
//! A face-only datagram is 158 bytes; with 20 ms of audio, 2,080 bytes.

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
/// Largest datagram this codec produces or accepts.
pub const MAX_DATAGRAM_LEN: usize = FACE_ONLY_LEN + 2 + 2 * MAX_AUDIO_SAMPLES;
/// Sample rate of the audio chunk (the outgoing audio clock).
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;

const FLAG_AUDIO: u8 = 1;

/// One decoded datagram.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeDatagram {
    /// Which avatar on the render pod the frame drives.
    pub avatar_id: u32,
    /// The face frame.
    pub frame: FaceFrame,
    /// Mono 48 kHz PCM starting at `frame.sample_pos`, when the sender attached it.
    pub audio: Option<Vec<i16>>,
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
    if let Some(a) = audio
        && (a.is_empty() || a.len() > MAX_AUDIO_SAMPLES)
    {
        return Err(BridgeStreamError::AudioLength(a.len()));
    }
    out.clear();
    out.push(BRIDGE_STREAM_MAGIC);
    out.push(BRIDGE_STREAM_VERSION);
    out.push(if audio.is_some() { FLAG_AUDIO } else { 0 });
    out.push(0);
    out.extend_from_slice(&avatar_id.to_le_bytes());
    out.extend_from_slice(&frame.encode());
    if let Some(a) = audio {
        out.extend_from_slice(&(a.len() as u16).to_le_bytes());
        for s in a {
            out.extend_from_slice(&s.to_le_bytes());
        }
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
        encode(self.avatar_id, &self.frame, self.audio.as_deref())
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
        Ok(BridgeDatagram {
            avatar_id: header.avatar_id,
            frame,
            audio,
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
        if flags & !FLAG_AUDIO != 0 || bytes[3] != 0 {
            return Err(BridgeStreamError::Flags(flags | bytes[3]));
        }
        let avatar_id = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if flags & FLAG_AUDIO == 0 {
            if bytes.len() != FACE_ONLY_LEN {
                return Err(BridgeStreamError::Length {
                    len: bytes.len(),
                    expected: FACE_ONLY_LEN,
                });
            }
            return Ok(Header {
                avatar_id,
                audio_len: None,
            });
        }
        let count_at = FACE_ONLY_LEN;
        if bytes.len() < count_at + 2 {
            return Err(BridgeStreamError::Length {
                len: bytes.len(),
                expected: count_at + 2,
            });
        }
        let n = usize::from(u16::from_le_bytes([bytes[count_at], bytes[count_at + 1]]));
        if n == 0 || n > MAX_AUDIO_SAMPLES {
            return Err(BridgeStreamError::AudioLength(n));
        }
        let expected = count_at + 2 + 2 * n;
        if bytes.len() != expected {
            return Err(BridgeStreamError::Length {
                len: bytes.len(),
                expected,
            });
        }
        Ok(Header {
            avatar_id,
            audio_len: Some(n),
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
            MAX_DATAGRAM_LEN
        );
    }

    #[test]
    fn malformed_input_sweep_never_panics() {
        let good = encode(1, &frame(), Some(&[5, 6, 7, 8])).unwrap();
        for n in 0..good.len() {
            assert!(BridgeDatagram::decode(&good[..n]).is_err(), "prefix {n}");
        }
        for i in 0..good.len() {
            for b in [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = BridgeDatagram::decode(&bad);
                let _ = decode_face(&bad);
                let _ = audio_into(&bad, &mut Vec::new());
            }
        }
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
