//! The crossfade curve where two chunks of assistant audio join.
//!
//! A raised-cosine pair whose gains sum to exactly 1 at every point: when the two chunks continue
//! the same waveform (a voice split at a clause boundary) the level stays flat, and the slope is
//! zero at both ends, so neither edge of the fade has a corner that would click.

use std::f32::consts::PI;

/// Gain of the incoming chunk at step `i` of an `n`-sample fade (rises from ~0 to ~1).
pub fn fade_in_gain(i: usize, n: usize) -> f32 {
    if n == 0 {
        return 1.0;
    }
    // Sample centres, so neither end is exactly 0 or 1 and a 1-sample fade is a plain average.
    let t = (i as f32 + 0.5) / n as f32;
    0.5 - 0.5 * (PI * t).cos()
}

/// Gain of the outgoing chunk at step `i` of an `n`-sample fade: `1 - fade_in_gain(i, n)`.
pub fn fade_out_gain(i: usize, n: usize) -> f32 {
    1.0 - fade_in_gain(i, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_sum_to_one_and_are_monotonic() {
        let n = 240;
        let mut last = -1.0;
        for i in 0..n {
            let g = fade_in_gain(i, n);
            assert!((g + fade_out_gain(i, n) - 1.0).abs() < 1e-6);
            assert!(g > last, "fade-in must rise");
            assert!((0.0..=1.0).contains(&g));
            last = g;
        }
        assert!(fade_in_gain(0, n) < 0.001);
        assert!(fade_in_gain(n - 1, n) > 0.999);
    }

    #[test]
    fn empty_fade_is_full_gain() {
        assert_eq!(fade_in_gain(0, 0), 1.0);
    }
}
