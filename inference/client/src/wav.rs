//! A small WAV reader: RIFF/WAVE with 16/24/32-bit integer or 32-bit float PCM, any channel
//! count (downmixed to mono). Enough for recorded speech and test tones; malformed files are
//! typed errors.

use std::path::Path;

/// Why a WAV file could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WavError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS message.
        reason: String,
    },
    /// Not RIFF/WAVE, or a chunk is cut short.
    #[error("malformed WAV: {0}")]
    Malformed(String),
    /// A valid WAV in an encoding this reader does not handle.
    #[error("unsupported WAV encoding: {0}")]
    Unsupported(String),
}

/// Decoded audio, downmixed to mono.
#[derive(Debug, Clone, PartialEq)]
pub struct WavAudio {
    /// Samples in -1..=1.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

/// Reads and decodes a WAV file.
pub fn read_wav(path: &Path) -> Result<WavAudio, WavError> {
    let bytes = std::fs::read(path).map_err(|e| WavError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_wav(&bytes)
}

struct Format {
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

/// Decodes WAV bytes.
pub fn parse_wav(bytes: &[u8]) -> Result<WavAudio, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::Malformed("no RIFF/WAVE header".into()));
    }
    let mut at = 12;
    let mut format: Option<Format> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body_start = at + 8;
        // Some writers leave the data size at 0 or 0xFFFFFFFF while streaming: take the rest.
        let body_end = if id == b"data" && (size == 0 || size > bytes.len() - body_start) {
            bytes.len()
        } else {
            body_start
                .checked_add(size)
                .filter(|end| *end <= bytes.len())
                .ok_or_else(|| {
                    WavError::Malformed(format!(
                        "chunk {:?} runs past the end",
                        String::from_utf8_lossy(id)
                    ))
                })?
        };
        let body = &bytes[body_start..body_end];
        match id {
            b"fmt " => format = Some(parse_format(body)?),
            b"data" => {
                let format = format.ok_or_else(|| WavError::Malformed("data before fmt".into()))?;
                return decode(&format, body);
            }
            _ => {}
        }
        // Chunks are padded to even sizes.
        at = body_end + (body_end - body_start) % 2;
    }
    Err(WavError::Malformed("no data chunk".into()))
}

fn parse_format(body: &[u8]) -> Result<Format, WavError> {
    if body.len() < 16 {
        return Err(WavError::Malformed("fmt chunk too short".into()));
    }
    let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
    let mut tag = u16_at(0);
    let channels = u16_at(2);
    let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    let bits = u16_at(14);
    if tag == 0xFFFE {
        // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
        if body.len() < 26 {
            return Err(WavError::Malformed("extensible fmt chunk too short".into()));
        }
        tag = u16_at(24);
    }
    if channels == 0 || rate == 0 {
        return Err(WavError::Malformed(format!(
            "{channels} channels at {rate} Hz"
        )));
    }
    Ok(Format {
        tag,
        channels,
        rate,
        bits,
    })
}

fn decode(format: &Format, data: &[u8]) -> Result<WavAudio, WavError> {
    let width = match (format.tag, format.bits) {
        (1, 16) => 2,
        (1, 24) => 3,
        (1, 32) | (3, 32) => 4,
        (tag, bits) => {
            return Err(WavError::Unsupported(format!(
                "format tag {tag} with {bits} bits"
            )));
        }
    };
    let frame = width * format.channels as usize;
    let frames = data.len() / frame;
    let mut samples = Vec::with_capacity(frames);
    for f in data.chunks_exact(frame) {
        let mut sum = 0.0f32;
        for s in f.chunks_exact(width) {
            sum += match (format.tag, width) {
                (1, 2) => f32::from(i16::from_le_bytes([s[0], s[1]])) / 32_768.0,
                (1, 3) => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0,
                (1, 4) => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0,
                _ => {
                    let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                    if v.is_finite() { v } else { 0.0 }
                }
            };
        }
        samples.push((sum / f32::from(format.channels)).clamp(-1.0, 1.0));
    }
    Ok(WavAudio {
        samples,
        sample_rate: format.rate,
    })
}

/// Encodes mono 16-bit PCM WAV (used by tests and to save what a client heard).
pub fn encode_wav_i16(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_i16() {
        let samples: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.01).sin() * 0.5).collect();
        let wav = parse_wav(&encode_wav_i16(&samples, 16_000)).unwrap();
        assert_eq!(wav.sample_rate, 16_000);
        assert_eq!(wav.samples.len(), 1000);
        for (a, b) in wav.samples.iter().zip(&samples) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn stereo_float_is_downmixed() {
        let mut bytes = encode_wav_i16(&[], 48_000);
        // Patch to 2-channel float32 with two frames: (0.5, -0.5) and (1.0, 0.0).
        bytes[20..22].copy_from_slice(&3u16.to_le_bytes());
        bytes[22..24].copy_from_slice(&2u16.to_le_bytes());
        bytes[34..36].copy_from_slice(&32u16.to_le_bytes());
        let data: Vec<u8> = [0.5f32, -0.5, 1.0, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        bytes[40..44].copy_from_slice(&(data.len() as u32).to_le_bytes());
        bytes.extend(data);
        let wav = parse_wav(&bytes).unwrap();
        assert_eq!(wav.samples, vec![0.0, 0.5]);
    }

    #[test]
    fn malformed_input_sweep_never_panics() {
        let good = encode_wav_i16(&[0.1; 64], 16_000);
        // Every truncation and a byte flip at every position: an error or some audio, no panic.
        for n in 0..good.len() {
            let _ = parse_wav(&good[..n]);
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xFF;
            let _ = parse_wav(&bad);
        }
        assert!(matches!(parse_wav(b"RIFF"), Err(WavError::Malformed(_))));
        assert!(matches!(
            parse_wav(&[0u8; 100]),
            Err(WavError::Malformed(_))
        ));
        let mut eight_bit = good.clone();
        eight_bit[34..36].copy_from_slice(&8u16.to_le_bytes());
        assert!(matches!(
            parse_wav(&eight_bit),
            Err(WavError::Unsupported(_))
        ));
    }

    #[test]
    fn reads_the_shipped_speech_sample() {
        let path = goassist_engines::test_models_dir().join("speech/jfk.wav");
        let wav = read_wav(&path).unwrap();
        assert_eq!(wav.sample_rate, 16_000);
        assert!(wav.samples.len() > 16_000 * 10, "jfk.wav is about 11 s");
        let peak = wav.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.1, "speech should not be silent");
    }
}
