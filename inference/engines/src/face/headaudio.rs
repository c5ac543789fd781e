//! The HeadAudio viseme classifier (npm `@met4citizen/headaudio` 0.1.0, MIT): 12 MFCCs of
//! 16 kHz audio, nearest Gaussian prototype by Mahalanobis distance, majority vote.
//!
//! Re-implemented from the package's documented pipeline (read, not copied):
//! pre-emphasis (α 0.97) → 16 kHz → 512-sample frames every 256 samples → Hamming window → power
//! spectrum / N → 40 triangular mel bands (30–7800 Hz) → log10 → DCT-II rows 1..=12 scaled
//! √(2/40) → lifter 22 → tanh. A log-energy gate (−40 dB on, −50 dB off) marks silence before
//! classification. Distances to silence prototypes are divided by 1.2 (its default
//! "silence sensitivity"), and the last six decisions vote.
//!
//! Model file: records of 92 little-endian f32: an 8-byte header (byte 5 = group, byte 7 =
//! viseme id 0..14), `mu`[12], and the lower triangle of the inverse covariance[78].

use std::path::Path;

use super::dsp::Fft;
use super::visemes::{VISEME_COUNT, Viseme};
use crate::EngineError;

/// MFCC coefficients per feature vector (c0 excluded).
pub const MFCC_COEFFS: usize = 12;
/// Samples per analysis frame at 16 kHz.
pub const FRAME_LEN: usize = 512;
/// Samples between analysis frames at 16 kHz (16 ms).
pub const HOP_LEN: usize = 256;
const MEL_BANDS: usize = 40;
const LIFTER: f32 = 22.0;
const SAMPLE_RATE: f32 = 16_000.0;
const LOWER_LEN: usize = MFCC_COEFFS * (MFCC_COEFFS + 1) / 2;
const RECORD_FLOATS: usize = 2 + MFCC_COEFFS + LOWER_LEN;
const RECORD_BYTES: usize = RECORD_FLOATS * 4;
const SILENCE_SENSITIVITY: f32 = 1.2;
const VOTE_LEN: usize = 6;
/// Log10 energy above which the gate opens (−40 dB) and below which it closes (−50 dB).
const GATE_ON_LOG: f32 = -4.0;
const GATE_OFF_LOG: f32 = -5.0;

/// One Gaussian prototype of a viseme.
#[derive(Debug, Clone)]
pub struct Prototype {
    /// The viseme this prototype stands for.
    pub viseme: Viseme,
    mu: [f32; MFCC_COEFFS],
    /// Full symmetric inverse covariance, expanded from the stored lower triangle.
    sigma_inv: [[f32; MFCC_COEFFS]; MFCC_COEFFS],
}

impl Prototype {
    /// Squared Mahalanobis distance of `v` to this prototype.
    #[allow(clippy::needless_range_loop)]
    pub fn distance(&self, v: &[f32; MFCC_COEFFS]) -> f32 {
        let mut diff = [0.0f32; MFCC_COEFFS];
        for i in 0..MFCC_COEFFS {
            diff[i] = v[i] - self.mu[i];
        }
        let mut d = 0.0;
        for i in 0..MFCC_COEFFS {
            for j in 0..MFCC_COEFFS {
                d += diff[i] * self.sigma_inv[i][j] * diff[j];
            }
        }
        d
    }
}

/// A loaded HeadAudio model: the viseme prototypes.
#[derive(Debug, Clone)]
pub struct VisemeModel {
    prototypes: Vec<Prototype>,
}

impl VisemeModel {
    /// Reads a model file (`models/face/headaudio-model-en-mixed.bin`).
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::ModelNotFound {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&bytes).map_err(|reason| EngineError::InvalidModel {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses model bytes; never panics on malformed input.
    #[allow(clippy::needless_range_loop)] // matrix index math reads clearer with indices
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
            return Err(format!(
                "size {} is not a positive multiple of the {RECORD_BYTES}-byte record",
                bytes.len()
            ));
        }
        let mut prototypes = Vec::with_capacity(bytes.len() / RECORD_BYTES);
        for (n, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
            let viseme = Viseme::from_id(record[7])
                .ok_or_else(|| format!("record {n}: viseme id {} out of range", record[7]))?;
            let float = |k: usize| {
                let at = 4 * k;
                f32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
            };
            let mut mu = [0.0; MFCC_COEFFS];
            for (i, m) in mu.iter_mut().enumerate() {
                *m = float(2 + i);
            }
            let mut sigma_inv = [[0.0; MFCC_COEFFS]; MFCC_COEFFS];
            let mut k = 2 + MFCC_COEFFS;
            for i in 0..MFCC_COEFFS {
                for j in 0..=i {
                    sigma_inv[i][j] = float(k);
                    sigma_inv[j][i] = float(k);
                    k += 1;
                }
            }
            if mu
                .iter()
                .chain(sigma_inv.iter().flatten())
                .any(|v| !v.is_finite())
            {
                return Err(format!("record {n}: non-finite parameter"));
            }
            prototypes.push(Prototype {
                viseme,
                mu,
                sigma_inv,
            });
        }
        Ok(VisemeModel { prototypes })
    }

    /// The prototypes, in file order.
    pub fn prototypes(&self) -> &[Prototype] {
        &self.prototypes
    }

    /// The nearest viseme to a feature vector. `prior` scales each viseme's distance (1 = no
    /// preference, below 1 = favoured), e.g. from the TTS phonemes of the segment.
    pub fn nearest(&self, v: &[f32; MFCC_COEFFS], prior: &[f32; VISEME_COUNT]) -> Viseme {
        let mut best = (f32::INFINITY, Viseme::Sil);
        for p in &self.prototypes {
            let mut d = p.distance(v) * prior[p.viseme as usize];
            if p.viseme == Viseme::Sil {
                d /= SILENCE_SENSITIVITY;
            }
            if d <= best.0 {
                best = (d, p.viseme);
            }
        }
        best.1
    }
}

/// 16 kHz frame → 12 tanh-compressed MFCCs plus the frame's log10 energy.
pub struct Mfcc {
    fft: Fft,
    window: Vec<f32>,
    mel: Vec<Vec<f32>>,
    dct: Vec<[f32; MEL_BANDS]>,
    lifter: [f32; MFCC_COEFFS],
    re: Vec<f32>,
    im: Vec<f32>,
    windowed: Vec<f32>,
}

impl Default for Mfcc {
    fn default() -> Self {
        Self::new()
    }
}

impl Mfcc {
    /// Builds the window, filterbank and DCT tables.
    pub fn new() -> Self {
        let n = FRAME_LEN;
        let window = (0..n)
            .map(|i| 0.54 - 0.46 * (2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32).cos())
            .collect();
        let mel_of = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
        let hz_of = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
        let (lo, hi) = (mel_of(30.0), mel_of(7800.0));
        let bins: Vec<usize> = (0..MEL_BANDS + 2)
            .map(|i| {
                let hz = hz_of(lo + (hi - lo) * i as f32 / (MEL_BANDS + 1) as f32);
                (hz / SAMPLE_RATE * n as f32).floor() as usize
            })
            .collect();
        let mel = (0..MEL_BANDS)
            .map(|b| {
                let mut filter = vec![0.0; n / 2];
                let (l, c, r) = (bins[b], bins[b + 1], bins[b + 2]);
                for (k, w) in filter.iter_mut().enumerate() {
                    if k >= l && k < c {
                        *w = (k - l) as f32 / (c - l) as f32;
                    } else if k >= c && k < r {
                        *w = (r - k) as f32 / (r - c) as f32;
                    }
                }
                filter
            })
            .collect();
        let scale = (2.0 / MEL_BANDS as f32).sqrt();
        let dct = (1..=MFCC_COEFFS)
            .map(|i| {
                let mut row = [0.0; MEL_BANDS];
                for (j, r) in row.iter_mut().enumerate() {
                    *r = scale
                        * (std::f32::consts::PI * i as f32 * (j as f32 + 0.5) / MEL_BANDS as f32)
                            .cos();
                }
                row
            })
            .collect();
        let mut lifter = [0.0; MFCC_COEFFS];
        for (i, l) in lifter.iter_mut().enumerate() {
            *l = 1.0 + LIFTER / 2.0 * (std::f32::consts::PI * (i + 1) as f32 / LIFTER).sin();
        }
        Mfcc {
            fft: Fft::new(n),
            window,
            mel,
            dct,
            lifter,
            re: vec![0.0; n],
            im: vec![0.0; n],
            windowed: vec![0.0; n],
        }
    }

    /// Features of one [`FRAME_LEN`]-sample frame: (MFCCs, log10 of the frame's power).
    pub fn compute(&mut self, frame: &[f32]) -> ([f32; MFCC_COEFFS], f32) {
        let n = FRAME_LEN;
        for i in 0..n {
            let x = frame.get(i).copied().unwrap_or(0.0);
            self.windowed[i] = if x.is_finite() { x } else { 0.0 } * self.window[i];
        }
        self.fft
            .real_forward(&self.windowed, &mut self.re, &mut self.im);
        let power: Vec<f32> = (0..n / 2)
            .map(|k| (self.re[k] * self.re[k] + self.im[k] * self.im[k]) / n as f32)
            .collect();
        let log_energy = (power.iter().sum::<f32>() + 1e-10).log10();
        let mut bands = [0.0f32; MEL_BANDS];
        for (b, filter) in bands.iter_mut().zip(&self.mel) {
            let sum: f32 = power.iter().zip(filter).map(|(p, w)| p * w).sum();
            *b = (sum + 1e-10).log10();
        }
        let mut out = [0.0f32; MFCC_COEFFS];
        for (i, o) in out.iter_mut().enumerate() {
            let c: f32 = self.dct[i].iter().zip(&bands).map(|(d, b)| d * b).sum();
            *o = (c * self.lifter[i]).tanh();
        }
        (out, log_energy)
    }
}

/// The streaming classifier state: energy gate and majority vote over recent decisions.
pub struct VisemeTracker {
    model: VisemeModel,
    votes: [Viseme; VOTE_LEN],
    next_vote: usize,
    gate_open: bool,
}

impl VisemeTracker {
    /// A tracker over `model`, starting in silence.
    pub fn new(model: VisemeModel) -> Self {
        VisemeTracker {
            model,
            votes: [Viseme::Sil; VOTE_LEN],
            next_vote: 0,
            gate_open: false,
        }
    }

    /// Classifies one feature vector with its log energy; returns the voted viseme.
    pub fn step(
        &mut self,
        features: &[f32; MFCC_COEFFS],
        log_energy: f32,
        prior: &[f32; VISEME_COUNT],
    ) -> Viseme {
        if self.gate_open && log_energy < GATE_OFF_LOG {
            self.gate_open = false;
        } else if !self.gate_open && log_energy > GATE_ON_LOG {
            self.gate_open = true;
        }
        let decision = if self.gate_open {
            self.model.nearest(features, prior)
        } else {
            Viseme::Sil
        };
        self.votes[self.next_vote] = decision;
        self.next_vote = (self.next_vote + 1) % VOTE_LEN;
        let mut counts = [0usize; VISEME_COUNT];
        for v in self.votes {
            counts[v as usize] += 1;
        }
        // The most votes; ties go to the latest decision so a change shows up promptly.
        let best = counts.iter().copied().max().unwrap_or(0);
        if counts[decision as usize] == best {
            decision
        } else {
            Viseme::ALL
                .into_iter()
                .find(|v| counts[*v as usize] == best)
                .unwrap_or(Viseme::Sil)
        }
    }

    /// Half the vote window in hops: how far the voted decision lags the audio.
    pub fn vote_lag_hops(&self) -> usize {
        VOTE_LEN / 2
    }

    /// Back to silence (a new stream).
    pub fn reset(&mut self) {
        self.votes = [Viseme::Sil; VOTE_LEN];
        self.next_vote = 0;
        self.gate_open = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_path() -> std::path::PathBuf {
        crate::test_models_dir().join("face/headaudio-model-en-mixed.bin")
    }

    #[test]
    fn loads_the_shipped_model() {
        let model = VisemeModel::load(&model_path()).unwrap();
        assert_eq!(model.prototypes().len(), 39);
        let mut seen = std::collections::HashSet::new();
        for p in model.prototypes() {
            seen.insert(p.viseme);
            // An inverse covariance is positive definite: its own centre is at distance 0 and
            // any offset is positive.
            assert!(p.distance(&p.mu).abs() < 1e-3);
            let mut off = p.mu;
            off[0] += 0.1;
            assert!(p.distance(&off) > 0.0);
        }
        assert!(
            seen.contains(&Viseme::Sil) && seen.contains(&Viseme::Aa),
            "{seen:?}"
        );
    }

    #[test]
    fn malformed_model_bytes_are_errors() {
        assert!(VisemeModel::parse(&[]).is_err());
        assert!(VisemeModel::parse(&[0u8; 100]).is_err());
        let mut bad = vec![0u8; RECORD_BYTES];
        bad[7] = 99;
        assert!(VisemeModel::parse(&bad).unwrap_err().contains("viseme id"));
        let mut nan = vec![0u8; RECORD_BYTES];
        nan[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(VisemeModel::parse(&nan).is_err());
        // A sweep of truncations of the real model never panics.
        let real = std::fs::read(model_path()).unwrap();
        for len in (0..real.len()).step_by(37) {
            let _ = VisemeModel::parse(&real[..len]);
        }
    }

    #[test]
    fn mfcc_of_silence_and_tone_differ_and_stay_bounded() {
        let mut mfcc = Mfcc::new();
        let (quiet, le_quiet) = mfcc.compute(&[0.0; FRAME_LEN]);
        let tone: Vec<f32> = (0..FRAME_LEN)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 16_000.0).sin())
            .collect();
        let (loud, le_loud) = mfcc.compute(&tone);
        assert!(le_quiet < -9.0 && le_loud > -2.0, "{le_quiet} {le_loud}");
        assert!(quiet.iter().chain(&loud).all(|c| c.abs() <= 1.0));
        assert!(quiet.iter().zip(&loud).any(|(a, b)| (a - b).abs() > 0.1));
    }

    #[test]
    fn silence_is_classified_as_silence() {
        let model = VisemeModel::load(&model_path()).unwrap();
        let mut tracker = VisemeTracker::new(model);
        let mut mfcc = Mfcc::new();
        let (f, le) = mfcc.compute(&[0.0; FRAME_LEN]);
        for _ in 0..10 {
            assert_eq!(tracker.step(&f, le, &[1.0; VISEME_COUNT]), Viseme::Sil);
        }
    }
}
