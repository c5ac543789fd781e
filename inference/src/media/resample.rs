//! Streaming sample-rate conversion (48 kHz ↔ 16 kHz, 22 050 Hz → 48 kHz) on rubato's FFT
//! resampler.
//!
//! rubato works on fixed-size chunks; audio arrives in whatever sizes the network or the TTS
//! produce. [`StreamResampler`] buffers the remainder between calls and trims rubato's start-up
//! delay, so output sample `k` lines up with input time `k / to_rate` and feeding a signal in
//! pieces gives the same samples as feeding it whole (tested below).

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use super::AudioError;

/// A mono resampler for a stream that arrives in arbitrary pieces.
pub struct StreamResampler {
    inner: Fft<f32>,
    from: u32,
    to: u32,
    /// Input not yet consumed by rubato (less than one chunk after each call).
    pending: Vec<f32>,
    /// rubato's output for one chunk.
    scratch: Vec<f32>,
    /// Leading output samples still to drop (rubato's delay).
    delay_left: usize,
    /// Input samples received since the last flush.
    total_in: u64,
    /// Output samples returned since the last flush.
    total_out: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz working in 20 ms input chunks.
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        let chunk = (from as usize / 50).max(1);
        let inner = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(|e| AudioError::Resampler {
                from,
                to,
                reason: e.to_string(),
            })?;
        let delay_left = inner.output_delay();
        let scratch = vec![0.0; inner.output_frames_max()];
        Ok(Self {
            inner,
            from,
            to,
            pending: Vec::with_capacity(chunk * 2),
            scratch,
            delay_left,
            total_in: 0,
            total_out: 0,
        })
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Feeds `input` and returns every output sample that is ready (possibly none).
    pub fn process(&mut self, input: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.expected_len(input.len()) + 16);
        self.process_into(input, &mut out);
        out
    }

    /// Like [`process`](Self::process), appending to `out`.
    pub fn process_into(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.total_in += input.len() as u64;
        self.pending.extend_from_slice(input);
        let mut consumed = 0;
        while self.pending.len() - consumed >= self.inner.input_frames_next() {
            let need = self.inner.input_frames_next();
            consumed += self.run_chunk(consumed, need, need, out);
        }
        self.pending.drain(..consumed);
    }

    /// Pushes the buffered tail through (padding with silence) and returns the rest of the output,
    /// so the total output is `round(total_input * to / from)` samples. The resampler is then
    /// ready for a new, unrelated stream.
    pub fn flush(&mut self) -> Vec<f32> {
        let expected =
            ((self.total_in as f64) * f64::from(self.to) / f64::from(self.from)).round() as u64;
        let before = self.total_out;
        let mut out = Vec::new();
        // Each round feeds what is pending padded to a full chunk, then pure silence, until the
        // delayed tail has come out. Bounded: the delay is a few chunks at most.
        let mut rounds = 0;
        while self.total_out < expected && rounds < 64 {
            let need = self.inner.input_frames_next();
            let available = self.pending.len().min(need);
            let used = self.run_chunk(0, need, available, &mut out);
            self.pending.drain(..used.min(self.pending.len()));
            rounds += 1;
        }
        out.truncate(expected.saturating_sub(before) as usize);
        self.inner.reset();
        self.pending.clear();
        self.delay_left = self.inner.output_delay();
        self.total_in = 0;
        self.total_out = 0;
        out
    }

    /// The number of output samples `input_len` input samples become.
    pub fn expected_len(&self, input_len: usize) -> usize {
        ((input_len as f64) * f64::from(self.to) / f64::from(self.from)).round() as usize
    }

    /// Runs rubato on `need` samples of `pending` from `start`, of which `available` are real
    /// (the rest read as silence). Returns the input consumed.
    fn run_chunk(
        &mut self,
        start: usize,
        need: usize,
        available: usize,
        out: &mut Vec<f32>,
    ) -> usize {
        let frames = self.pending.len() - start;
        let input = &self.pending[start..];
        let out_len = self.scratch.len();
        let (Ok(adapter_in), Ok(mut adapter_out)) = (
            InterleavedSlice::new(input, 1, frames),
            InterleavedSlice::new_mut(&mut self.scratch, 1, out_len),
        ) else {
            return need.min(frames);
        };
        let indexing = (available < need).then(|| Indexing::new().partial_len(available));
        // The buffers are sized from rubato's own limits, so an error here would be a bug in
        // this wrapper; drop the chunk rather than panic in a media path.
        let Ok((used, produced)) =
            self.inner
                .process_into_buffer(&adapter_in, &mut adapter_out, indexing.as_ref())
        else {
            tracing::warn!(from = self.from, to = self.to, "resampler rejected a chunk");
            return need.min(frames);
        };
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        out.extend_from_slice(&self.scratch[skip..produced]);
        self.total_out += (produced - skip) as u64;
        used.min(available)
    }
}

/// Resamples a whole clip from `from` Hz to `to` Hz (same result as streaming it and flushing).
pub fn resample_all(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    let mut resampler = StreamResampler::new(from, to)?;
    let mut out = resampler.process(input);
    out.extend(resampler.flush());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MODEL_RATE, PIPER_RATE, WEBRTC_RATE};

    fn tone(freq: f32, rate: u32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Dominant frequency by counting upward zero crossings.
    fn zero_crossing_freq(x: &[f32], rate: u32) -> f32 {
        let crossings = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        crossings as f32 * rate as f32 / x.len() as f32
    }

    /// Best alignment error between `a` and an ideal tone, ignoring edges.
    fn max_err_vs_tone(x: &[f32], freq: f32, rate: u32, margin: usize) -> f32 {
        let ideal = tone(freq, rate, x.len());
        x[margin..x.len() - margin]
            .iter()
            .zip(&ideal[margin..x.len() - margin])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn lengths_follow_the_ratio() {
        for (from, to, len) in [
            (WEBRTC_RATE, MODEL_RATE, 48_000),
            (MODEL_RATE, WEBRTC_RATE, 16_000),
            (PIPER_RATE, WEBRTC_RATE, 22_050),
            (PIPER_RATE, WEBRTC_RATE, 1_234),
        ] {
            let out = resample_all(&vec![0.1; len], from, to).unwrap();
            let expected = (len as f64 * to as f64 / from as f64).round() as usize;
            assert_eq!(out.len(), expected, "{from}->{to} len {len}");
        }
    }

    #[test]
    fn tone_survives_with_time_alignment() {
        // A 440 Hz tone resampled keeps its frequency and phase (the delay is trimmed), so it
        // matches an ideal tone at the new rate sample by sample.
        for (from, to) in [
            (WEBRTC_RATE, MODEL_RATE),
            (MODEL_RATE, WEBRTC_RATE),
            (PIPER_RATE, WEBRTC_RATE),
        ] {
            let input = tone(440.0, from, from as usize);
            let out = resample_all(&input, from, to).unwrap();
            let f = zero_crossing_freq(&out, to);
            assert!((f - 440.0).abs() < 3.0, "{from}->{to}: {f} Hz");
            let err = max_err_vs_tone(&out, 440.0, to, to as usize / 20);
            // 0.04 of a 0.5 tone is a timing error under one input sample (the FFT resampler's
            // delay is a whole number of output samples; the true one can be a fraction).
            assert!(err < 0.04, "{from}->{to}: max error {err}");
        }
    }

    #[test]
    fn downsampling_removes_content_above_new_nyquist() {
        // 12 kHz cannot exist at 16 kHz; it must be filtered, not aliased to 4 kHz.
        let input = tone(12_000.0, WEBRTC_RATE, 48_000);
        let out = resample_all(&input, WEBRTC_RATE, MODEL_RATE).unwrap();
        let rms = (out[800..out.len() - 800].iter().map(|x| x * x).sum::<f32>()
            / (out.len() - 1600) as f32)
            .sqrt();
        assert!(rms < 0.01, "aliased energy rms {rms}");
    }

    #[test]
    fn chunked_streaming_equals_whole_clip() {
        let input = tone(300.0, PIPER_RATE, 30_000);
        let whole = resample_all(&input, PIPER_RATE, WEBRTC_RATE).unwrap();
        let mut r = StreamResampler::new(PIPER_RATE, WEBRTC_RATE).unwrap();
        let mut pieces = Vec::new();
        let sizes = [1usize, 7, 441, 1000, 3, 2048, 17];
        let mut at = 0;
        let mut k = 0;
        while at < input.len() {
            let n = sizes[k % sizes.len()].min(input.len() - at);
            pieces.extend(r.process(&input[at..at + n]));
            at += n;
            k += 1;
        }
        pieces.extend(r.flush());
        assert_eq!(pieces.len(), whole.len());
        for (a, b) in pieces.iter().zip(&whole) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn streaming_latency_is_bounded() {
        // Output keeps pace with input: after feeding 1 s in 10 ms pieces, at most ~50 ms of
        // output is still held back inside the resampler.
        let mut r = StreamResampler::new(WEBRTC_RATE, MODEL_RATE).unwrap();
        let input = tone(200.0, WEBRTC_RATE, 48_000);
        let mut produced = 0;
        for piece in input.chunks(480) {
            produced += r.process(piece).len();
        }
        assert!(
            produced >= 16_000 - 800,
            "only {produced} of 16000 samples out"
        );
    }

    #[test]
    fn flush_resets_for_a_new_stream() {
        let mut r = StreamResampler::new(WEBRTC_RATE, MODEL_RATE).unwrap();
        let input = tone(500.0, WEBRTC_RATE, 9_600);
        let mut first = r.process(&input);
        first.extend(r.flush());
        let mut second = r.process(&input);
        second.extend(r.flush());
        assert_eq!(first, second);
    }

    #[test]
    fn zero_rate_is_a_typed_error() {
        assert!(matches!(
            StreamResampler::new(0, 16_000),
            Err(AudioError::Resampler { .. })
        ));
    }
}
