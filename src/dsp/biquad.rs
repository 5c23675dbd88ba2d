//! Second-order IIR sections ("biquads") with coefficients from Robert Bristow-Johnson's
//! Audio-EQ-Cookbook, in Transposed Direct Form II.
//!
//! Coefficients are computed in `f64` and the filter runs in `f64` as well: a 20 Hz shelf at
//! 96 kHz has poles within 1e-3 of the unit circle, and `f32` coefficients would move its DC gain
//! by decibels. Both channels of a stereo frame run in one `[f64; 2]` lane pair, which the
//! compiler packs into one SIMD register, so `f64` costs no more than `f32` here.

use std::f64::consts::PI;

/// Normalised biquad coefficients (`a0 == 1`):
/// `H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coeffs {
    /// Feed-forward coefficient of `x[n]`.
    pub b0: f64,
    /// Feed-forward coefficient of `x[n-1]`.
    pub b1: f64,
    /// Feed-forward coefficient of `x[n-2]`.
    pub b2: f64,
    /// Feedback coefficient of `y[n-1]`.
    pub a1: f64,
    /// Feedback coefficient of `y[n-2]`.
    pub a2: f64,
}

impl Coeffs {
    /// The identity filter `H(z) = 1`.
    pub const IDENTITY: Coeffs = Coeffs { b0: 1.0, b1: 0.0, b2: 0.0, a1: 0.0, a2: 0.0 };

    /// Combine two coefficient sets field by field (`f(self.b0, other.b0)`, …): interpolation
    /// steps between two filters.
    #[inline]
    pub(crate) fn zip_with(self, other: Coeffs, f: impl Fn(f64, f64) -> f64) -> Coeffs {
        Coeffs {
            b0: f(self.b0, other.b0),
            b1: f(self.b1, other.b1),
            b2: f(self.b2, other.b2),
            a1: f(self.a1, other.a1),
            a2: f(self.a2, other.a2),
        }
    }

    /// Divide raw cookbook coefficients by `a0`.
    fn normalized(b0: f64, b1: f64, b2: f64, a0: f64, a1: f64, a2: f64) -> Self {
        let inv = 1.0 / a0;
        Self { b0: b0 * inv, b1: b1 * inv, b2: b2 * inv, a1: a1 * inv, a2: a2 * inv }
    }

    /// Magnitude response `|H(e^jw)|` in dB at `freq` Hz (for displays and tests; not real-time
    /// critical).
    pub fn magnitude_db(&self, sample_rate: f64, freq: f64) -> f64 {
        let w = 2.0 * PI * freq / sample_rate;
        let (c1, s1) = (w.cos(), -w.sin());
        let (c2, s2) = ((2.0 * w).cos(), -(2.0 * w).sin());
        let (nr, ni) = (self.b0 + self.b1 * c1 + self.b2 * c2, self.b1 * s1 + self.b2 * s2);
        let (dr, di) = (1.0 + self.a1 * c1 + self.a2 * c2, self.a1 * s1 + self.a2 * s2);
        10.0 * ((nr * nr + ni * ni) / (dr * dr + di * di)).log10()
    }
}

/// The cookbook's intermediate values for a centre/corner frequency `freq` and quality `q`:
/// `(cos w0, alpha)`. `freq` is clamped to `[1 Hz, 0.45 fs]` and `q` to at least 0.01, so every
/// finite input gives a stable filter.
#[inline]
fn w0_alpha(sample_rate: f64, freq: f64, q: f64) -> (f64, f64) {
    let fs = if sample_rate.is_finite() && sample_rate > 0.0 { sample_rate } else { 48_000.0 };
    let f = if freq.is_nan() { 1_000.0 } else { freq.clamp(1.0, 0.45 * fs) };
    let q = if q.is_nan() { std::f64::consts::FRAC_1_SQRT_2 } else { q.max(0.01) };
    let w0 = 2.0 * PI * f / fs;
    let (s, c) = w0.sin_cos();
    (c, s / (2.0 * q))
}

/// Cookbook `A = 10^(gain/40)`, with the gain clamped to ±60 dB (NaN counts as 0 dB).
#[inline]
fn shelf_amp(gain_db: f64) -> f64 {
    let g = if gain_db.is_nan() { 0.0 } else { gain_db.clamp(-60.0, 60.0) };
    10f64.powf(g / 40.0)
}

/// Peaking EQ: `gain_db` at `freq`, bandwidth set by `q` (cookbook "peakingEQ").
pub fn peaking(sample_rate: f64, freq: f64, q: f64, gain_db: f64) -> Coeffs {
    let a = shelf_amp(gain_db);
    let (c, alpha) = w0_alpha(sample_rate, freq, q);
    Coeffs::normalized(1.0 + alpha * a, -2.0 * c, 1.0 - alpha * a, 1.0 + alpha / a, -2.0 * c, 1.0 - alpha / a)
}

/// Low shelf: `gain_db` below `freq` (the midpoint of the transition, at half the gain in dB),
/// slope set by the cookbook's Q form (`q = 1/sqrt(2)` is the steepest without overshoot).
pub fn low_shelf(sample_rate: f64, freq: f64, q: f64, gain_db: f64) -> Coeffs {
    let a = shelf_amp(gain_db);
    let (c, alpha) = w0_alpha(sample_rate, freq, q);
    let k = 2.0 * a.sqrt() * alpha;
    Coeffs::normalized(
        a * ((a + 1.0) - (a - 1.0) * c + k),
        2.0 * a * ((a - 1.0) - (a + 1.0) * c),
        a * ((a + 1.0) - (a - 1.0) * c - k),
        (a + 1.0) + (a - 1.0) * c + k,
        -2.0 * ((a - 1.0) + (a + 1.0) * c),
        (a + 1.0) + (a - 1.0) * c - k,
    )
}

/// High shelf: `gain_db` above `freq`; see [`low_shelf`].
pub fn high_shelf(sample_rate: f64, freq: f64, q: f64, gain_db: f64) -> Coeffs {
    let a = shelf_amp(gain_db);
    let (c, alpha) = w0_alpha(sample_rate, freq, q);
    let k = 2.0 * a.sqrt() * alpha;
    Coeffs::normalized(
        a * ((a + 1.0) + (a - 1.0) * c + k),
        -2.0 * a * ((a - 1.0) + (a + 1.0) * c),
        a * ((a + 1.0) + (a - 1.0) * c - k),
        (a + 1.0) - (a - 1.0) * c + k,
        2.0 * ((a - 1.0) - (a + 1.0) * c),
        (a + 1.0) - (a - 1.0) * c - k,
    )
}

/// Second-order low-pass at `freq` (-3 dB at `freq` for `q = 1/sqrt(2)`).
pub fn low_pass(sample_rate: f64, freq: f64, q: f64) -> Coeffs {
    let (c, alpha) = w0_alpha(sample_rate, freq, q);
    let b1 = 1.0 - c;
    Coeffs::normalized(0.5 * b1, b1, 0.5 * b1, 1.0 + alpha, -2.0 * c, 1.0 - alpha)
}

/// Second-order high-pass at `freq` (-3 dB at `freq` for `q = 1/sqrt(2)`).
pub fn high_pass(sample_rate: f64, freq: f64, q: f64) -> Coeffs {
    let (c, alpha) = w0_alpha(sample_rate, freq, q);
    let b1 = -(1.0 + c);
    Coeffs::normalized(-0.5 * b1, b1, -0.5 * b1, 1.0 + alpha, -2.0 * c, 1.0 - alpha)
}

/// A stereo biquad in Transposed Direct Form II (one coefficient set, two channel states).
///
/// ```
/// use fxmatch::dsp::{peaking, Biquad};
/// let mut f = Biquad::new(peaking(48_000.0, 1_000.0, 0.707, 6.0));
/// let (mut l, mut r) = (vec![0.5f32; 64], vec![-0.5f32; 64]);
/// f.process(&mut l, &mut r);
/// assert!((l[63] + r[63]).abs() < 1e-6); // both channels see the same filter
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    c: Coeffs,
    s1: [f64; 2],
    s2: [f64; 2],
}

impl Default for Biquad {
    fn default() -> Self {
        Self::new(Coeffs::IDENTITY)
    }
}

impl Biquad {
    /// A filter with these coefficients and cleared state.
    pub const fn new(coeffs: Coeffs) -> Self {
        Self { c: coeffs, s1: [0.0; 2], s2: [0.0; 2] }
    }

    /// Replace the coefficients, keeping the state (TDF-II tolerates gradual coefficient
    /// changes well, which is what smoothed parameters produce).
    #[inline]
    pub fn set_coeffs(&mut self, coeffs: Coeffs) {
        self.c = coeffs;
    }

    /// The current coefficients.
    #[inline]
    pub fn coeffs(&self) -> &Coeffs {
        &self.c
    }

    /// Clear the state of both channels.
    #[inline]
    pub fn reset(&mut self) {
        self.s1 = [0.0; 2];
        self.s2 = [0.0; 2];
    }

    /// Largest absolute state value: how far the filter is from silence.
    #[inline]
    pub fn state_magnitude(&self) -> f64 {
        self.s1[0].abs().max(self.s1[1].abs()).max(self.s2[0].abs()).max(self.s2[1].abs())
    }

    /// Filter one stereo frame.
    #[inline(always)]
    pub fn tick(&mut self, x: [f64; 2]) -> [f64; 2] {
        let c = &self.c;
        let y = [c.b0 * x[0] + self.s1[0], c.b0 * x[1] + self.s1[1]];
        self.s1 = [c.b1 * x[0] - c.a1 * y[0] + self.s2[0], c.b1 * x[1] - c.a1 * y[1] + self.s2[1]];
        self.s2 = [c.b2 * x[0] - c.a2 * y[0], c.b2 * x[1] - c.a2 * y[1]];
        y
    }

    /// Filter a stereo block in place.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let y = self.tick([*l as f64, *r as f64]);
            *l = y[0] as f32;
            *r = y[1] as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gain in dB of `coeffs` measured by filtering a sine (not via `magnitude_db`).
    fn measured_db(coeffs: Coeffs, fs: f64, freq: f64) -> f64 {
        let mut f = Biquad::new(coeffs);
        let n = (fs as usize) * 2;
        let (mut e_in, mut e_out) = (0.0, 0.0);
        for i in 0..n {
            let x = (2.0 * PI * freq * i as f64 / fs).sin();
            let y = f.tick([x, x])[0];
            if i >= n / 2 {
                e_in += x * x;
                e_out += y * y;
            }
        }
        10.0 * (e_out / e_in).log10()
    }

    #[test]
    fn pass_filters_have_the_textbook_corner() {
        let fs = 48_000.0;
        let lp = low_pass(fs, 1_000.0, std::f64::consts::FRAC_1_SQRT_2);
        let hp = high_pass(fs, 1_000.0, std::f64::consts::FRAC_1_SQRT_2);
        for (c, pass, stop) in [(lp, 100.0, 10_000.0), (hp, 10_000.0, 100.0)] {
            assert!((measured_db(c, fs, 1_000.0) + 3.0103).abs() < 0.02);
            assert!(measured_db(c, fs, pass).abs() < 0.02);
            assert!(measured_db(c, fs, stop) < -35.0);
            assert!((c.magnitude_db(fs, 1_000.0) + 3.0103).abs() < 1e-3);
        }
    }

    #[test]
    fn zero_gain_eq_sections_are_identity_transfer_functions() {
        for c in [
            peaking(44_100.0, 300.0, 2.0, 0.0),
            low_shelf(44_100.0, 300.0, 0.7, 0.0),
            high_shelf(44_100.0, 300.0, 0.7, 0.0),
        ] {
            assert!((c.b0 - 1.0).abs() < 1e-15 && c.b1 == c.a1 && c.b2 == c.a2, "{c:?}");
        }
    }

    #[test]
    fn extreme_arguments_give_stable_filters() {
        for fs in [22_050.0, 192_000.0] {
            for f in [0.0, 1e-9, 5.0, 1e6, f64::NAN] {
                for q in [0.0, 0.1, 40.0] {
                    for c in [
                        peaking(fs, f, q, 30.0),
                        low_shelf(fs, f, q, -30.0),
                        high_shelf(fs, f, q, 30.0),
                        low_pass(fs, f, q),
                        high_pass(fs, f, q),
                    ] {
                        // Stability triangle of a second-order denominator.
                        assert!(c.a2.abs() < 1.0 && c.a1.abs() < 1.0 + c.a2, "{c:?}");
                    }
                }
            }
        }
    }
}
