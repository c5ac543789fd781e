//! Whisper log-mel features, the input Smart Turn v3 was trained on.
//!
//! The recipe is Whisper's feature extractor with an 8-second window (what Hugging Face's
//! `WhisperFeatureExtractor(chunk_length=8)` computes):
//!
//! 1. the last 8 s of 16 kHz audio, zero-padded at the *front* when shorter (the end of the
//!    utterance always sits at the end of the window, where the model looks for it);
//! 2. the waveform normalised to zero mean and unit variance (over the whole padded window);
//! 3. a centred STFT: reflect-padded by `n_fft / 2` on both sides, periodic Hann window of 400
//!    samples, hop 160 (10 ms), power spectrum `|X|²` of the 201 bins;
//! 4. 80 triangular mel filters on the Slaney scale (0–8 kHz) with Slaney area normalisation;
//! 5. `log10(max(mel, 1e-10))`, the last of the 801 frames dropped (800 remain), every value
//!    clamped to at least `max - 8`, then `(x + 4) / 4` (roughly `[-1, 1]`).
//!
//! The spectrum is computed in `f64` like the reference; the result is `f32`. The feature test
//! (`tests/turn_features.rs`) checks this against pipecat's numpy implementation on real speech.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Sample rate the features are defined at.
pub const SAMPLE_RATE: usize = 16_000;
/// Samples in the analysis window: 8 s.
pub const WINDOW_SAMPLES: usize = 8 * SAMPLE_RATE;
/// Mel bins per frame.
pub const N_MELS: usize = 80;
/// Frames per window (10 ms each).
pub const N_FRAMES: usize = 800;

const N_FFT: usize = 400;
const HOP: usize = 160;
const N_BINS: usize = N_FFT / 2 + 1;
const MEL_FLOOR: f64 = 1e-10;
const NORM_VARIANCE_EPS: f64 = 1e-7;
/// Log-mel dynamic range kept below the loudest value (80 dB).
const LOG_RANGE: f64 = 8.0;

/// One triangular mel filter: its non-zero weights, from FFT bin `first_bin`.
#[derive(Debug, Clone)]
struct MelFilter {
    first_bin: usize,
    weights: Vec<f64>,
}

/// The feature extractor: window, filterbank and FFT plan, computed once and shared.
#[derive(Clone)]
pub struct LogMelExtractor {
    window: Vec<f64>,
    filters: Vec<MelFilter>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for LogMelExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMelExtractor")
            .field("n_fft", &N_FFT)
            .field("hop", &HOP)
            .field("n_mels", &N_MELS)
            .finish()
    }
}

impl Default for LogMelExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMelExtractor {
    /// Builds the window, the filterbank and the FFT plan.
    pub fn new() -> Self {
        // Periodic Hann (torch.hann_window): the symmetric window of N + 1 points, last dropped.
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos())
            .collect();
        Self {
            window,
            filters: slaney_mel_filters(),
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
        }
    }

    /// Features of the last 8 s of `audio` (16 kHz mono, nominally in `[-1, 1]`), as
    /// `N_MELS × N_FRAMES` values, mel-major: the `[80, 800]` of the model's `[1, 80, 800]`
    /// input. Shorter audio is zero-padded at the front. Non-finite samples count as 0.
    pub fn compute(&self, audio: &[f32]) -> Vec<f32> {
        let signal = normalised_window(audio);

        // Centred frames: reflect padding of n_fft/2 at both ends (numpy's "reflect", which
        // mirrors without repeating the edge sample).
        let pad = N_FFT / 2;
        let mut padded = Vec::with_capacity(signal.len() + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| signal[i]));
        padded.extend_from_slice(&signal);
        padded.extend((1..=pad).map(|i| signal[signal.len() - 1 - i]));

        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f64; N_BINS];
        // log10 mel energies, frame-major while computing: [N_FRAMES][N_MELS].
        let mut log_mel = vec![0.0f64; N_FRAMES * N_MELS];
        // The reference computes 801 frames and drops the last, so 800 frames are all we need.
        for (t, row) in log_mel.chunks_exact_mut(N_MELS).enumerate() {
            let start = t * HOP;
            for ((x, s), w) in frame
                .iter_mut()
                .zip(&padded[start..start + N_FFT])
                .zip(&self.window)
            {
                *x = s * w;
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers come from the plan, so their lengths match");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (value, filter) in row.iter_mut().zip(&self.filters) {
                let energy: f64 = filter
                    .weights
                    .iter()
                    .zip(&power[filter.first_bin..])
                    .map(|(w, p)| w * p)
                    .sum();
                *value = energy.max(MEL_FLOOR).log10();
            }
        }

        let max = log_mel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let floor = max - LOG_RANGE;
        let mut features = vec![0.0f32; N_MELS * N_FRAMES];
        for (t, row) in log_mel.chunks_exact(N_MELS).enumerate() {
            for (m, &value) in row.iter().enumerate() {
                features[m * N_FRAMES + t] = ((value.max(floor) + 4.0) / 4.0) as f32;
            }
        }
        features
    }
}

/// The last `WINDOW_SAMPLES` of `audio`, zero-padded at the front, normalised to zero mean and
/// unit variance (statistics over the whole window, padding included, as the reference does).
fn normalised_window(audio: &[f32]) -> Vec<f64> {
    let tail = &audio[audio.len().saturating_sub(WINDOW_SAMPLES)..];
    let mut signal = vec![0.0f64; WINDOW_SAMPLES];
    for (s, &a) in signal[WINDOW_SAMPLES - tail.len()..].iter_mut().zip(tail) {
        *s = if a.is_finite() { f64::from(a) } else { 0.0 };
    }
    let n = WINDOW_SAMPLES as f64;
    let mean = signal.iter().sum::<f64>() / n;
    let variance = signal.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
    // The reference normalises in f32; rounding to f32 here keeps the two within f32 noise.
    let scale = 1.0 / (variance + NORM_VARIANCE_EPS).sqrt();
    for s in &mut signal {
        *s = f64::from(((*s - mean) * scale) as f32);
    }
    signal
}

fn hertz_to_mel(hz: f64) -> f64 {
    // Slaney: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = 15.0;
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * hz / 200.0
    }
}

fn mel_to_hertz(mel: f64) -> f64 {
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = 15.0;
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * ((6.4f64.ln() / 27.0) * (mel - MIN_LOG_MEL)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// 80 Slaney-normalised triangular filters from 0 Hz to the Nyquist frequency, over the 201
/// FFT bins (spaced evenly from 0 to 8 kHz).
fn slaney_mel_filters() -> Vec<MelFilter> {
    let nyquist = (SAMPLE_RATE / 2) as f64;
    let (mel_min, mel_max) = (hertz_to_mel(0.0), hertz_to_mel(nyquist));
    // N_MELS + 2 edges evenly spaced in mels.
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hertz(mel_min + (mel_max - mel_min) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let bin_hz = |k: usize| nyquist * k as f64 / (N_BINS - 1) as f64;
    (0..N_MELS)
        .map(|m| {
            let (lower, centre, upper) = (edges[m], edges[m + 1], edges[m + 2]);
            let area_norm = 2.0 / (upper - lower);
            let weight = |k: usize| {
                let f = bin_hz(k);
                let rising = (f - lower) / (centre - lower);
                let falling = (upper - f) / (upper - centre);
                rising.min(falling).max(0.0) * area_norm
            };
            let first_bin = (0..N_BINS).find(|&k| weight(k) > 0.0).unwrap_or(0);
            let last_bin = (0..N_BINS).rev().find(|&k| weight(k) > 0.0).unwrap_or(0);
            MelFilter {
                first_bin,
                weights: (first_bin..=last_bin.max(first_bin)).map(weight).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE as f64) as usize)
            .map(|i| (0.3 * (2.0 * std::f64::consts::PI * freq * i as f64 / 16_000.0).sin()) as f32)
            .collect()
    }

    fn value(features: &[f32], mel: usize, frame: usize) -> f32 {
        features[mel * N_FRAMES + frame]
    }

    #[test]
    fn output_is_80_by_800_in_the_normalised_range() {
        let features = LogMelExtractor::new().compute(&sine(440.0, 3.0));
        assert_eq!(features.len(), N_MELS * N_FRAMES);
        let max = features.iter().copied().fold(f32::MIN, f32::max);
        let min = features.iter().copied().fold(f32::MAX, f32::min);
        assert!(features.iter().all(|v| v.is_finite()));
        // The clamp keeps 8 log units below the maximum: (max - 8 + 4) / 4 = max_scaled - 2.
        assert!((max - min - 2.0).abs() < 1e-5, "range {min}..{max}");
    }

    #[test]
    fn short_audio_sits_at_the_end_of_the_window() {
        let features = LogMelExtractor::new().compute(&sine(1000.0, 1.0));
        let at_1khz = (0..N_MELS)
            .max_by(|&a, &b| value(&features, a, 790).total_cmp(&value(&features, b, 790)))
            .unwrap();
        // The tone is in the last second only (frames 700..800); earlier frames are padding.
        assert!(value(&features, at_1khz, 790) > value(&features, at_1khz, 300) + 1.0);
        // And 1 kHz sits at mel 15 of 0..~45.2 Slaney mels, so around filter 26 of 80.
        assert!(
            (24..=28).contains(&at_1khz),
            "1 kHz peaks in filter {at_1khz}"
        );
    }

    #[test]
    fn only_the_last_eight_seconds_count() {
        let extractor = LogMelExtractor::new();
        let mut long = sine(300.0, 4.0);
        long.extend(sine(2000.0, 8.0));
        let tail = long[long.len() - WINDOW_SAMPLES..].to_vec();
        assert_eq!(extractor.compute(&long), extractor.compute(&tail));
    }

    #[test]
    fn filters_cover_the_spectrum_with_slaney_area_normalisation() {
        let filters = slaney_mel_filters();
        assert_eq!(filters.len(), N_MELS);
        for pair in filters.windows(2) {
            assert!(pair[0].first_bin <= pair[1].first_bin);
        }
        // Slaney normalisation: each triangle's peak is 2 / (upper - lower), so its integral
        // over Hz is 1; summed over bins 40 Hz apart, weights sum to about 1 / 40 per filter.
        let top = &filters[N_MELS - 1];
        let sum: f64 = top.weights.iter().sum();
        assert!((sum * 40.0 - 1.0).abs() < 0.05, "top filter sums to {sum}");
        assert!(filters.iter().all(|f| f.weights.iter().any(|&w| w > 0.0)));
    }

    #[test]
    fn silence_and_garbage_do_not_panic() {
        let extractor = LogMelExtractor::new();
        let silent = extractor.compute(&[]);
        assert!(silent.iter().all(|v| v.is_finite()));
        let garbage = extractor.compute(&[f32::NAN, f32::INFINITY, 1.0, -1.0]);
        assert!(garbage.iter().all(|v| v.is_finite()));
    }
}
