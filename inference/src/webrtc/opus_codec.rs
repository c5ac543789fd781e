//! Opus at 48 kHz mono, the one codec the voice path speaks.

use opus::{Application, Bitrate, Channels, Decoder, Encoder};

use super::WebRtcError;

/// Largest Opus packet duration (120 ms) at 48 kHz, the decoder's output bound.
const MAX_FRAME_SAMPLES: usize = 5760;

/// Encodes fixed-size mono 48 kHz frames.
pub struct OpusEncoder {
    encoder: Encoder,
    frame_samples: usize,
    out: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("frame_samples", &self.frame_samples)
            .finish()
    }
}

impl OpusEncoder {
    /// A voice encoder for `frame_ms` frames (10, 20 or 40) at 32 kbit/s.
    pub fn new(frame_ms: u32) -> Result<Self, WebRtcError> {
        let codec = |e: opus::Error| WebRtcError::Codec(e.to_string());
        let mut encoder = Encoder::new(48_000, Channels::Mono, Application::Voip).map_err(codec)?;
        encoder.set_bitrate(Bitrate::Bits(32_000)).map_err(codec)?;
        Ok(Self {
            encoder,
            frame_samples: 48 * frame_ms as usize,
            out: vec![0; 1500],
        })
    }

    /// Samples per frame.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Encodes one frame of exactly [`frame_samples`](Self::frame_samples) samples.
    pub fn encode(&mut self, frame: &[f32]) -> Result<Vec<u8>, WebRtcError> {
        if frame.len() != self.frame_samples {
            return Err(WebRtcError::Codec(format!(
                "frame of {} samples, expected {}",
                frame.len(),
                self.frame_samples
            )));
        }
        let n = self
            .encoder
            .encode_float(frame, &mut self.out)
            .map_err(|e| WebRtcError::Codec(e.to_string()))?;
        Ok(self.out[..n].to_vec())
    }
}

/// Decodes Opus packets (mono or stereo, any frame size) to mono 48 kHz.
pub struct OpusDecoder {
    decoder: Decoder,
    buf: Vec<f32>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpusDecoder")
    }
}

impl OpusDecoder {
    /// A mono 48 kHz decoder (stereo streams are downmixed by libopus).
    pub fn new() -> Result<Self, WebRtcError> {
        let decoder =
            Decoder::new(48_000, Channels::Mono).map_err(|e| WebRtcError::Codec(e.to_string()))?;
        Ok(Self {
            decoder,
            buf: vec![0.0; MAX_FRAME_SAMPLES],
        })
    }

    /// Decodes one packet; a corrupt packet is an error and leaves the decoder usable.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>, WebRtcError> {
        if packet.is_empty() {
            return Err(WebRtcError::Codec("empty packet".into()));
        }
        let n = self
            .decoder
            .decode_float(packet, &mut self.buf, false)
            .map_err(|e| WebRtcError::Codec(e.to_string()))?;
        Ok(self.buf[..n].to_vec())
    }

    /// Packet-loss concealment for `samples` missing samples (a multiple of 2.5 ms).
    pub fn conceal(&mut self, samples: usize) -> Result<Vec<f32>, WebRtcError> {
        let n = samples.min(MAX_FRAME_SAMPLES);
        let n = self
            .decoder
            .decode_float(&[], &mut self.buf[..n], false)
            .map_err(|e| WebRtcError::Codec(e.to_string()))?;
        Ok(self.buf[..n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_round_trips_through_opus() {
        let mut enc = OpusEncoder::new(20).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = Vec::new();
        for k in 0..50 {
            let frame: Vec<f32> = (0..960)
                .map(|i| {
                    0.4 * (2.0 * std::f32::consts::PI * 600.0 * (k * 960 + i) as f32 / 48_000.0)
                        .sin()
                })
                .collect();
            let packet = enc.encode(&frame).unwrap();
            assert!(packet.len() < 200);
            out.extend(dec.decode(&packet).unwrap());
        }
        assert_eq!(out.len(), 48_000);
        let tail = &out[24_000..];
        let crossings = tail
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        let freq = crossings as f32 * 2.0;
        assert!((freq - 600.0).abs() < 5.0, "{freq} Hz");
        let rms = (tail.iter().map(|x| x * x).sum::<f32>() / tail.len() as f32).sqrt();
        assert!((rms - 0.4 / 2f32.sqrt()).abs() < 0.05, "rms {rms}");
    }

    #[test]
    fn wrong_frame_size_and_garbage_are_errors() {
        let mut enc = OpusEncoder::new(20).unwrap();
        assert!(enc.encode(&[0.0; 100]).is_err());
        let mut dec = OpusDecoder::new().unwrap();
        assert!(dec.decode(&[]).is_err());
        // Sweep of malformed packets: errors or (valid by chance) audio, never a panic.
        let mut seed = 12345u32;
        for len in 1..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = dec.decode(&bytes);
        }
        assert_eq!(dec.conceal(960).unwrap().len(), 960);
    }
}
