//! A minimal WAV reader (16-bit PCM or 32-bit float, any channel count → first channel) and a
//! 16/22.05/24 kHz → 48 kHz linear resampler, for tests, the benchmark and tools that feed
//! recorded speech to the animators. Malformed files give an error, never a panic.

/// A decoded mono signal.
#[derive(Debug, Clone)]
pub struct Wav {
    /// Samples of the first channel, −1..1.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

/// Reads a WAV file.
pub fn read_wav(path: &std::path::Path) -> Result<Wav, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_wav(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses WAV bytes.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32_at(bytes, at + 4) as usize;
        let body_end = (at + 8).saturating_add(len).min(bytes.len());
        let body = &bytes[at + 8..body_end];
        if id == b"fmt " {
            if body.len() < 16 {
                return Err("fmt chunk too short".into());
            }
            format = Some((
                u16_at(body, 0),
                u16_at(body, 2),
                u32_at(body, 4),
                u16_at(body, 14),
            ));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format.ok_or("data before fmt")?;
            let channels = usize::from(channels.max(1));
            let samples = match (tag, bits) {
                (1, 16) => body
                    .chunks_exact(2 * channels)
                    .map(|f| f32::from(i16::from_le_bytes([f[0], f[1]])) / 32768.0)
                    .collect(),
                (3, 32) | (0xFFFE, 32) => body
                    .chunks_exact(4 * channels)
                    .map(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]]))
                    .collect(),
                _ => return Err(format!("unsupported format tag {tag} with {bits} bits")),
            };
            if rate == 0 {
                return Err("sample rate 0".into());
            }
            return Ok(Wav {
                samples,
                sample_rate: rate,
            });
        }
        at = at + 8 + len + (len & 1);
    }
    Err("no data chunk".into())
}

/// Linear-interpolation resampling to 48 kHz (adequate for speech fed to an animator; not a
/// studio resampler).
pub fn to_48k(samples: &[f32], rate: u32) -> Vec<f32> {
    if rate == 48_000 || samples.is_empty() {
        return samples.to_vec();
    }
    let ratio = f64::from(rate) / 48_000.0;
    let out_len = (samples.len() as f64 / ratio).floor() as usize;
    (0..out_len)
        .map(|i| {
            let x = i as f64 * ratio;
            let k = x.floor() as usize;
            let frac = (x - k as f64) as f32;
            let a = samples[k.min(samples.len() - 1)];
            let b = samples[(k + 1).min(samples.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_jfk_recording() {
        let wav = read_wav(&crate::test_models_dir().join("speech/jfk.wav")).unwrap();
        assert_eq!(wav.sample_rate, 16_000);
        assert_eq!(wav.samples.len(), 176_000);
        let up = to_48k(&wav.samples, wav.sample_rate);
        assert_eq!(up.len(), 528_000);
    }

    #[test]
    fn malformed_wavs_are_errors() {
        assert!(parse_wav(b"").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVE").is_err());
        let mut hdr = b"RIFF\0\0\0\0WAVEdata\x04\0\0\0\0\0\0\0".to_vec();
        assert!(parse_wav(&hdr).unwrap_err().contains("before fmt"));
        hdr.truncate(13);
        assert!(parse_wav(&hdr).is_err());
        let real = std::fs::read(crate::test_models_dir().join("speech/jfk.wav")).unwrap();
        for len in (0..200).chain((200..real.len()).step_by(9973)) {
            let _ = parse_wav(&real[..len]);
        }
    }
}
