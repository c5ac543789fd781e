//! Lip-sync measures shared by tests and the benchmark: how well a jaw curve follows the
//! loudness of the audio it animates, and at what lag.

/// Pearson correlation of two equally long series (0 when either is constant or empty).
pub fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let mean = |x: &[f32]| x[..n].iter().map(|v| f64::from(*v)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (da, db) = (f64::from(a[i]) - ma, f64::from(b[i]) - mb);
        cov += da * db;
        va += da * da;
        vb += db * db;
    }
    if va <= 0.0 || vb <= 0.0 {
        return 0.0;
    }
    (cov / (va.sqrt() * vb.sqrt())) as f32
}

/// The lag (in frames, within ±`max_lag`) at which `jaw` best correlates with `loudness`, and
/// that correlation. A positive lag means the jaw trails the audio by that many frames.
pub fn best_lag(jaw: &[f32], loudness: &[f32], max_lag: i32) -> (i32, f32) {
    let n = jaw.len().min(loudness.len());
    let mut best = (0, f32::MIN);
    for lag in -max_lag..=max_lag {
        let shift = lag.unsigned_abs() as usize;
        if shift >= n {
            continue;
        }
        let r = if lag >= 0 {
            correlation(&jaw[shift..n], &loudness[..n - shift])
        } else {
            correlation(&jaw[..n - shift], &loudness[shift..n])
        };
        if r > best.1 {
            best = (lag, r);
        }
    }
    best
}

/// Loudness (RMS) of `audio` (48 kHz, starting at `audio_start`) within ±`half_window`
/// samples of each position.
pub fn loudness_at(
    audio: &[f32],
    audio_start: u64,
    positions: &[u64],
    half_window: u64,
) -> Vec<f32> {
    positions
        .iter()
        .map(|&p| {
            let from = p.saturating_sub(half_window).max(audio_start) - audio_start;
            let to = (p + half_window).min(audio_start + audio.len() as u64) - audio_start;
            if to <= from {
                0.0
            } else {
                super::dsp::rms(&audio[from as usize..to as usize])
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_known_delay() {
        let loud: Vec<f32> = (0..200).map(|i| ((i as f32) * 0.3).sin().abs()).collect();
        let mut jaw = vec![0.0; 2];
        jaw.extend_from_slice(&loud[..198]);
        let (lag, r) = best_lag(&jaw, &loud, 4);
        assert_eq!(lag, 2);
        assert!(r > 0.99);
        assert_eq!(correlation(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
        assert!((correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-6);
    }
}
