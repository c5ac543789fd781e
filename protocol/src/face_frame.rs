//! One animation frame of the assistant's face, tied to the audio it animates.
//!
//! The frame carries the sample position on the outgoing 48 kHz audio clock (the RTP clock of
//! the assistant's Opus track): that is the only timeline faces use. A client renders the frame
//! when the audio at that position plays; the render-bridge maps it to Unreal time.
//!
//! Binary layout (version 1, little-endian, 150 bytes):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u8 | magic `0xFA` (tells face frames from other binary messages) |
//! | 1 | u8 | version = 1 |
//! | 2 | u16 | flags, 0 (reserved) |
//! | 4 | u64 | session id |
//! | 12 | u32 | turn epoch |
//! | 16 | u32 | sequence number within the session |
//! | 20 | u64 | sample position (48 kHz) of the audio this frame animates |
//! | 28 | 52 × u16 | blendshape weights, 0..1 scaled to 0..65535 |
//! | 132 | 9 × i16 | head yaw/pitch/roll, left eye, right eye: degrees/180 (−1..1) scaled to ±32767 |

use crate::arkit::{ARKIT_COUNT, BLENDSHAPE_COUNT};

/// First byte of an encoded face frame.
pub const FACE_FRAME_MAGIC: u8 = 0xFA;
/// Codec version written by [`FaceFrame::encode`].
pub const FACE_FRAME_VERSION: u8 = 1;
/// Encoded size in bytes.
pub const FACE_FRAME_LEN: usize = 28 + BLENDSHAPE_COUNT * 2 + ROTATION_COUNT * 2;
const ROTATION_COUNT: usize = ARKIT_COUNT - BLENDSHAPE_COUNT;

/// A face pose for one instant of the assistant's audio.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceFrame {
    /// The session (one assistant, one listener) the frame belongs to.
    pub session_id: u64,
    /// The turn epoch; frames of an older epoch than the receiver's are dropped.
    pub epoch: u32,
    /// Frame counter within the session, for loss and reorder accounting.
    pub seq: u32,
    /// Position on the outgoing 48 kHz audio clock of the audio this frame animates.
    pub sample_pos: u64,
    /// The 61 curves in Unreal's order (see [`crate::arkit::UNREAL_NAMES`]): 52 weights in 0..1,
    /// then head and eye rotations in degrees/180 (−1..1).
    pub values: [f32; ARKIT_COUNT],
}

/// Why bytes could not be decoded as a [`FaceFrame`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaceFrameError {
    /// Fewer or more bytes than [`FACE_FRAME_LEN`].
    #[error("face frame must be {FACE_FRAME_LEN} bytes, got {0}")]
    Length(usize),
    /// The first byte is not [`FACE_FRAME_MAGIC`].
    #[error("not a face frame (first byte {0:#04x})")]
    Magic(u8),
    /// A version this decoder does not know.
    #[error("unsupported face frame version {0}")]
    Version(u8),
}

impl FaceFrame {
    /// A neutral face (all weights and rotations zero) at a position of the audio clock.
    pub fn neutral(session_id: u64, epoch: u32, seq: u32, sample_pos: u64) -> Self {
        FaceFrame {
            session_id,
            epoch,
            seq,
            sample_pos,
            values: [0.0; ARKIT_COUNT],
        }
    }

    /// Encodes into the 150-byte wire form. Values are clamped to their ranges.
    pub fn encode(&self) -> [u8; FACE_FRAME_LEN] {
        let mut out = [0u8; FACE_FRAME_LEN];
        out[0] = FACE_FRAME_MAGIC;
        out[1] = FACE_FRAME_VERSION;
        out[4..12].copy_from_slice(&self.session_id.to_le_bytes());
        out[12..16].copy_from_slice(&self.epoch.to_le_bytes());
        out[16..20].copy_from_slice(&self.seq.to_le_bytes());
        out[20..28].copy_from_slice(&self.sample_pos.to_le_bytes());
        let mut at = 28;
        for &w in &self.values[..BLENDSHAPE_COUNT] {
            let q = (sanitize(w).clamp(0.0, 1.0) * 65535.0).round() as u16;
            out[at..at + 2].copy_from_slice(&q.to_le_bytes());
            at += 2;
        }
        for &r in &self.values[BLENDSHAPE_COUNT..] {
            let q = (sanitize(r).clamp(-1.0, 1.0) * 32767.0).round() as i16;
            out[at..at + 2].copy_from_slice(&q.to_le_bytes());
            at += 2;
        }
        out
    }

    /// Decodes the wire form; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, FaceFrameError> {
        if bytes.len() != FACE_FRAME_LEN {
            return Err(FaceFrameError::Length(bytes.len()));
        }
        if bytes[0] != FACE_FRAME_MAGIC {
            return Err(FaceFrameError::Magic(bytes[0]));
        }
        if bytes[1] != FACE_FRAME_VERSION {
            return Err(FaceFrameError::Version(bytes[1]));
        }
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at =
            |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let u64_at =
            |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let mut values = [0.0f32; ARKIT_COUNT];
        for (i, v) in values.iter_mut().enumerate() {
            let at = 28 + 2 * i;
            *v = if i < BLENDSHAPE_COUNT {
                f32::from(u16_at(at)) / 65535.0
            } else {
                f32::from(u16_at(at) as i16) / 32767.0
            };
        }
        Ok(FaceFrame {
            session_id: u64_at(4),
            epoch: u32_at(12),
            seq: u32_at(16),
            sample_pos: u64_at(20),
            values,
        })
    }
}

/// NaN would poison every smoother downstream; treat it as rest.
fn sanitize(v: f32) -> f32 {
    if v.is_nan() { 0.0 } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arkit::CurveIndex;

    fn sample() -> FaceFrame {
        let mut f = FaceFrame::neutral(0x0102_0304_0506_0708, 7, 42, 48_000 * 3 + 960);
        f.values[CurveIndex::JAW_OPEN] = 0.5;
        f.values[CurveIndex::EYE_BLINK_LEFT] = 1.0;
        f.values[CurveIndex::HEAD_YAW] = -0.25;
        f
    }

    /// Golden vector: the exact bytes, so any other implementation (the browser client, the
    /// C++ plugin) can be checked against the same numbers.
    #[test]
    fn golden_vector() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), 150);
        assert_eq!(&bytes[0..4], &[0xFA, 1, 0, 0]);
        assert_eq!(&bytes[4..12], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&bytes[12..16], &[7, 0, 0, 0]);
        assert_eq!(&bytes[16..20], &[42, 0, 0, 0]);
        assert_eq!(&bytes[20..28], &(144_960u64).to_le_bytes());
        assert_eq!(&bytes[28..30], &[0xFF, 0xFF], "EyeBlinkLeft = 1.0");
        assert_eq!(
            &bytes[28 + 34..28 + 36],
            &32768u16.to_le_bytes(),
            "JawOpen = 0.5"
        );
        assert_eq!(
            &bytes[132..134],
            &(-8192i16).to_le_bytes(),
            "HeadYaw = -0.25"
        );
        assert!(bytes[30..28 + 34].iter().all(|&b| b == 0));
    }

    #[test]
    fn round_trip_within_quantization() {
        let f = sample();
        let back = FaceFrame::decode(&f.encode()).unwrap();
        assert_eq!(
            (back.session_id, back.epoch, back.seq, back.sample_pos),
            (f.session_id, 7, 42, f.sample_pos)
        );
        for (a, b) in f.values.iter().zip(back.values.iter()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn out_of_range_values_are_clamped_not_wrapped() {
        let mut f = sample();
        f.values[0] = 3.0;
        f.values[1] = -1.0;
        f.values[2] = f32::NAN;
        f.values[CurveIndex::HEAD_PITCH] = 9.0;
        let back = FaceFrame::decode(&f.encode()).unwrap();
        assert_eq!(back.values[0], 1.0);
        assert_eq!(back.values[1], 0.0);
        assert_eq!(back.values[2], 0.0);
        assert_eq!(back.values[CurveIndex::HEAD_PITCH], 1.0);
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        let good = sample().encode();
        assert_eq!(
            FaceFrame::decode(&good[..10]),
            Err(FaceFrameError::Length(10))
        );
        assert_eq!(FaceFrame::decode(&[]), Err(FaceFrameError::Length(0)));
        let mut bad = good;
        bad[0] = 0x7B;
        assert_eq!(FaceFrame::decode(&bad), Err(FaceFrameError::Magic(0x7B)));
        let mut bad = good;
        bad[1] = 9;
        assert_eq!(FaceFrame::decode(&bad), Err(FaceFrameError::Version(9)));
    }
}
