//! Small signal-processing pieces the face engines share: a radix-2 FFT, a 48 → 16 kHz
//! decimator, and loudness measures. Written for clarity at speech rates, not for SIMD.

use std::f32::consts::PI;

/// In-place iterative radix-2 FFT of `re`/`im` (length a power of two).
pub struct Fft {
    n: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
    bit_reversed: Vec<usize>,
}

impl Fft {
    /// Plans an FFT of `n` points; `n` must be a power of two.
    pub fn new(n: usize) -> Self {
        assert!(n.is_power_of_two(), "FFT size must be a power of two");
        let bits = n.trailing_zeros();
        let bit_reversed = (0..n)
            .map(|i| i.reverse_bits() >> (usize::BITS - bits))
            .collect();
        let angle = |k: usize| -2.0 * PI * k as f32 / n as f32;
        Fft {
            n,
            cos: (0..n / 2).map(|k| angle(k).cos()).collect(),
            sin: (0..n / 2).map(|k| angle(k).sin()).collect(),
            bit_reversed,
        }
    }

    /// Transforms the real signal `input` (length n) into `re`/`im` (length n each).
    pub fn real_forward(&self, input: &[f32], re: &mut [f32], im: &mut [f32]) {
        let n = self.n;
        for i in 0..n {
            re[self.bit_reversed[i]] = input[i];
            im[self.bit_reversed[i]] = 0.0;
        }
        let mut half = 1;
        while half < n {
            let stride = n / (2 * half);
            for start in (0..n).step_by(2 * half) {
                for k in 0..half {
                    let (wr, wi) = (self.cos[k * stride], self.sin[k * stride]);
                    let (a, b) = (start + k, start + k + half);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            half *= 2;
        }
    }
}

/// Streaming 48 kHz → 16 kHz decimator: a windowed-sinc low-pass (cut-off 7.2 kHz, below the
/// 8 kHz Nyquist of the output) followed by keeping every third sample. State carries across
/// calls so a stream cut into segments decimates exactly like the whole.
pub struct Decimator3 {
    taps: Vec<f32>,
    history: Vec<f32>,
    phase: usize,
}

const DECIMATOR_TAPS: usize = 47;

impl Default for Decimator3 {
    fn default() -> Self {
        Self::new()
    }
}

impl Decimator3 {
    /// A decimator with empty history.
    pub fn new() -> Self {
        let cutoff = 7_200.0 / 48_000.0; // cycles per input sample
        let mid = (DECIMATOR_TAPS - 1) as f32 / 2.0;
        let mut taps: Vec<f32> = (0..DECIMATOR_TAPS)
            .map(|i| {
                let x = i as f32 - mid;
                let sinc = if x == 0.0 {
                    2.0 * cutoff
                } else {
                    (2.0 * PI * cutoff * x).sin() / (PI * x)
                };
                let blackman = 0.42
                    - 0.5 * (2.0 * PI * i as f32 / (DECIMATOR_TAPS - 1) as f32).cos()
                    + 0.08 * (4.0 * PI * i as f32 / (DECIMATOR_TAPS - 1) as f32).cos();
                sinc * blackman
            })
            .collect();
        let gain: f32 = taps.iter().sum();
        taps.iter_mut().for_each(|t| *t /= gain);
        Decimator3 {
            taps,
            history: vec![0.0; DECIMATOR_TAPS],
            phase: 0,
        }
    }

    /// Feeds 48 kHz samples, appends the 16 kHz output to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        for &x in input {
            self.history.rotate_left(1);
            if let Some(last) = self.history.last_mut() {
                *last = x;
            }
            if self.phase == 0 {
                let y: f32 = self
                    .history
                    .iter()
                    .zip(self.taps.iter().rev())
                    .map(|(h, t)| h * t)
                    .sum();
                out.push(y);
            }
            self.phase = (self.phase + 1) % 3;
        }
    }

    /// Clears the history (a new stream).
    pub fn reset(&mut self) {
        self.history.iter_mut().for_each(|h| *h = 0.0);
        self.phase = 0;
    }

    /// Delay of the filter in 48 kHz samples (the output lags the input by this much).
    pub fn delay_48k(&self) -> u64 {
        (DECIMATOR_TAPS as u64 - 1) / 2
    }
}

/// Root mean square of `samples` (0 for an empty slice).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| {
            let s = if s.is_finite() { f64::from(s) } else { 0.0 };
            s * s
        })
        .sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// Level in dBFS of an RMS value, floored at −100 dB.
pub fn dbfs(rms: f32) -> f32 {
    20.0 * rms.max(1e-5).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_finds_a_pure_tone_in_its_bin() {
        let n = 512;
        let fft = Fft::new(n);
        let input: Vec<f32> = (0..n)
            .map(|i| (2.0 * PI * 32.0 * i as f32 / n as f32).cos())
            .collect();
        let (mut re, mut im) = (vec![0.0; n], vec![0.0; n]);
        fft.real_forward(&input, &mut re, &mut im);
        let power: Vec<f32> = (0..n / 2).map(|k| re[k] * re[k] + im[k] * im[k]).collect();
        let peak = (0..n / 2)
            .max_by(|&a, &b| power[a].total_cmp(&power[b]))
            .unwrap();
        assert_eq!(peak, 32);
        assert!((re[32] - n as f32 / 2.0).abs() < 1e-2, "{}", re[32]);
        assert!(power[10] < 1e-6);
    }

    #[test]
    fn decimator_passes_speech_band_and_rejects_aliases() {
        let tone = |hz: f32| -> Vec<f32> {
            (0..48_000)
                .map(|i| (2.0 * PI * hz * i as f32 / 48_000.0).sin())
                .collect()
        };
        let level = |hz: f32| {
            let mut d = Decimator3::new();
            let mut out = Vec::new();
            d.process(&tone(hz), &mut out);
            assert_eq!(out.len(), 16_000);
            rms(&out[1000..])
        };
        assert!((level(1000.0) - 0.707).abs() < 0.02, "{}", level(1000.0));
        assert!(level(12_000.0) < 0.01, "{}", level(12_000.0));
        // Chunked processing equals whole processing.
        let input = tone(440.0);
        let (mut a, mut b) = (Decimator3::new(), Decimator3::new());
        let (mut whole, mut parts) = (Vec::new(), Vec::new());
        a.process(&input, &mut whole);
        for chunk in input.chunks(1001) {
            b.process(chunk, &mut parts);
        }
        assert_eq!(whole, parts);
    }

    #[test]
    fn loudness_helpers() {
        assert_eq!(rms(&[]), 0.0);
        assert!((rms(&[0.5, -0.5]) - 0.5).abs() < 1e-6);
        assert_eq!(rms(&[f32::NAN]), 0.0);
        assert!((dbfs(1.0)).abs() < 1e-6);
        assert_eq!(dbfs(0.0), -100.0);
    }
}
