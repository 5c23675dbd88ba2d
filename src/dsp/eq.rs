//! Five-band parametric EQ: low shelf, three peaking bands, high shelf (cookbook biquads).

use crate::dsp::biquad::{high_shelf, low_shelf, peaking, Biquad, Coeffs};
use crate::dsp::Smoothed;
use crate::effect::{Effect, Mapping, ParamSpec, PARAM_RAMP_SECONDS};

/// Parameter indices of [`ParametricEq`]: band `b` (0 = low shelf, 1–3 = peaking, 4 = high
/// shelf) has gain at `3b`, frequency at `3b + 1` and Q at `3b + 2`.
pub mod param {
    /// Low shelf gain (dB).
    pub const LOW_GAIN: usize = 0;
    /// Low shelf frequency (Hz).
    pub const LOW_FREQ: usize = 1;
    /// Low shelf Q.
    pub const LOW_Q: usize = 2;
    /// Peaking band 1 gain (dB).
    pub const MID1_GAIN: usize = 3;
    /// Peaking band 1 frequency (Hz).
    pub const MID1_FREQ: usize = 4;
    /// Peaking band 1 Q.
    pub const MID1_Q: usize = 5;
    /// Peaking band 2 gain (dB).
    pub const MID2_GAIN: usize = 6;
    /// Peaking band 2 frequency (Hz).
    pub const MID2_FREQ: usize = 7;
    /// Peaking band 2 Q.
    pub const MID2_Q: usize = 8;
    /// Peaking band 3 gain (dB).
    pub const MID3_GAIN: usize = 9;
    /// Peaking band 3 frequency (Hz).
    pub const MID3_FREQ: usize = 10;
    /// Peaking band 3 Q.
    pub const MID3_Q: usize = 11;
    /// High shelf gain (dB).
    pub const HIGH_GAIN: usize = 12;
    /// High shelf frequency (Hz).
    pub const HIGH_FREQ: usize = 13;
    /// High shelf Q.
    pub const HIGH_Q: usize = 14;
}

/// Coefficients are recomputed every `GRID` samples while a band's parameters ramp, and
/// interpolated linearly per sample in between.
const GRID: u32 = 16;
/// A band returned to 0 dB is bypassed once its filter state has decayed below this
/// (-180 dBFS): bypassing earlier would click.
const DRAINED: f64 = 1e-9;
const BANDS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    LowShelf,
    Peak,
    HighShelf,
}

#[derive(Debug, Clone, Copy)]
struct Band {
    shape: Shape,
    /// Plain targets as set: gain dB, frequency Hz, Q.
    target: [f32; 3],
    gain_db: Smoothed,
    /// Frequency and Q glide in log2 units, so a sweep spends equal time per octave.
    log2_freq: Smoothed,
    log2_q: Smoothed,
    filter: Biquad,
    /// Whether the filter runs; bands at 0 dB (and drained) are bypassed.
    on: bool,
    /// While the band glides: the coefficients due at the next grid point, the per-sample
    /// increment towards them, and the samples left until then. Stepping the coefficients once
    /// per grid would step the output by `Δb0·x` each time (zipper noise, heard as clicks on a
    /// large move); per-sample increments leave it continuous.
    due: Coeffs,
    step: Coeffs,
    left: u32,
}

impl Band {
    fn new(shape: Shape, gain: f32, freq: f32, q: f32) -> Self {
        Self {
            shape,
            target: [gain, freq, q],
            gain_db: Smoothed::new(gain),
            log2_freq: Smoothed::new(freq.log2()),
            log2_q: Smoothed::new(q.log2()),
            filter: Biquad::default(),
            on: gain != 0.0,
            due: Coeffs::IDENTITY,
            step: Coeffs::IDENTITY,
            left: 0,
        }
    }

    /// Set gain (0), frequency (1) or Q (2): over the effect's ramp, or over exactly
    /// `samples` samples.
    fn set(&mut self, which: usize, value: f32, samples: Option<u32>) {
        let s = match which {
            0 => &mut self.gain_db,
            1 => &mut self.log2_freq,
            _ => &mut self.log2_q,
        };
        let v = if which == 0 { value } else { value.log2() };
        match samples {
            Some(n) => s.set_target_over(v, n),
            None => s.set_target(v),
        }
        if let Some(t) = self.target.get_mut(which) {
            *t = value;
        }
    }

    fn ramping(&self) -> bool {
        self.gain_db.is_smoothing() || self.log2_freq.is_smoothing() || self.log2_q.is_smoothing()
    }

    /// Needs attention at grid points: ramping, or waiting to be bypassed.
    fn busy(&self) -> bool {
        self.ramping() || (self.on && self.gain_db.target() == 0.0)
    }

    fn coeffs(&self, sample_rate: f64) -> Coeffs {
        // Settled values come from the plain targets, so they are exact (no log2/exp2 round trip).
        let value = |s: &Smoothed, plain: f32| {
            if s.is_smoothing() {
                (s.current() as f64).exp2()
            } else {
                plain as f64
            }
        };
        let gain = self.gain_db.current() as f64;
        let freq = value(&self.log2_freq, self.target[1]);
        let q = value(&self.log2_q, self.target[2]);
        match self.shape {
            Shape::LowShelf => low_shelf(sample_rate, freq, q, gain),
            Shape::Peak => peaking(sample_rate, freq, q, gain),
            Shape::HighShelf => high_shelf(sample_rate, freq, q, gain),
        }
    }

    /// Jump to the targets.
    fn snap(&mut self, sample_rate: f64) {
        self.gain_db.snap();
        self.log2_freq.snap();
        self.log2_q.snap();
        self.filter.set_coeffs(self.coeffs(sample_rate));
        self.left = 0;
        self.on = self.gain_db.current() != 0.0;
        if !self.on {
            self.filter.reset();
        }
    }

    /// Work due at a grid point: advance ramps by one grid step and recompute the filter, or
    /// bypass a band that has settled at 0 dB once its state has drained.
    fn on_grid(&mut self, sample_rate: f64) {
        if self.ramping() {
            self.gain_db.skip(GRID);
            self.log2_freq.skip(GRID);
            self.log2_q.skip(GRID);
            if !self.on && self.gain_db.current() == 0.0 && self.gain_db.target() == 0.0 {
                return; // only frequency or Q moved on a bypassed band: still identity
            }
            // Land exactly on the last segment's end point, then head for this one's. (A band
            // that was off holds 0 dB coefficients: an identity, and its state is clear.)
            if self.left > 0 {
                self.filter.set_coeffs(self.due);
            }
            let from = *self.filter.coeffs();
            let to = self.coeffs(sample_rate);
            let per = 1.0 / GRID as f64;
            self.step = to.zip_with(from, |t, f| (t - f) * per);
            self.due = to;
            self.left = GRID;
            self.on = true;
        } else if self.on && self.gain_db.target() == 0.0 && self.filter.state_magnitude() < DRAINED {
            self.on = false;
            self.filter.reset();
        }
    }
}

/// Five-band parametric EQ (type `eq`): low shelf, three peaking bands, high shelf.
///
/// Bands are RBJ cookbook biquads (shelves in the cookbook's Q form) cascaded in `f64`; bands at
/// 0 dB are bypassed. Parameter changes glide over 20 ms (gain in dB, frequency and Q in log
/// units); while a band glides its coefficients are recomputed every 16 samples on a grid counted
/// across blocks, so output does not depend on block size. Frequencies above 0.45·fs are
/// clamped there.
pub struct ParametricEq {
    specs: Vec<ParamSpec>,
    bands: [Band; BANDS],
    sample_rate: f64,
    /// Samples since the last grid point, in `0..GRID`.
    grid_pos: u32,
}

impl ParametricEq {
    /// A flat EQ (every band at 0 dB).
    pub fn new() -> Self {
        let mut specs = Vec::with_capacity(3 * BANDS);
        let lin = Mapping::Linear;
        let log = Mapping::Log;
        let mut band_specs = |key: &str, name: &str, f: (f32, f32, f32), q: (f32, f32)| {
            specs.push(
                ParamSpec::new(&format!("{key}_gain"), &format!("{name} gain"), "dB", -30.0, 30.0, 0.0, lin)
                    .with_neutral(0.0),
            ); // Neutral: a band at 0 dB is bypassed.
            specs.push(ParamSpec::new(
                &format!("{key}_freq"),
                &format!("{name} frequency"),
                "Hz",
                f.0,
                f.1,
                f.2,
                log,
            ));
            specs.push(ParamSpec::new(&format!("{key}_q"), &format!("{name} Q"), "", q.0, q.1, 0.707, log));
        };
        band_specs("low", "Low shelf", (20.0, 1_000.0, 100.0), (0.3, 2.0));
        band_specs("mid1", "Band 1", (20.0, 20_000.0, 1_000.0), (0.1, 10.0));
        band_specs("mid2", "Band 2", (20.0, 20_000.0, 4_000.0), (0.1, 10.0));
        band_specs("mid3", "Band 3", (20.0, 20_000.0, 8_000.0), (0.1, 10.0));
        band_specs("high", "High shelf", (1_000.0, 20_000.0, 8_000.0), (0.3, 2.0));
        let bands = [
            Band::new(Shape::LowShelf, 0.0, 100.0, 0.707),
            Band::new(Shape::Peak, 0.0, 1_000.0, 0.707),
            Band::new(Shape::Peak, 0.0, 4_000.0, 0.707),
            Band::new(Shape::Peak, 0.0, 8_000.0, 0.707),
            Band::new(Shape::HighShelf, 0.0, 8_000.0, 0.707),
        ];
        let mut eq = Self { specs, bands, sample_rate: 48_000.0, grid_pos: 0 };
        eq.snap();
        eq
    }

    fn busy(&self) -> bool {
        self.bands.iter().any(Band::busy)
    }

    /// Set parameter `index` (clamped): over the 20 ms ramp, or over exactly `samples` samples.
    fn set(&mut self, index: usize, value: f32, samples: Option<u32>) {
        let (Some(spec), Some(band)) = (self.specs.get(index), self.bands.get_mut(index / 3)) else {
            return;
        };
        band.set(index % 3, spec.clamp(value), samples);
    }

    /// Run the bands that are on over one stretch: per sample while any band's coefficients
    /// glide, then with fixed coefficients.
    fn run(&mut self, left: &mut [f32], right: &mut [f32]) {
        let gliding = self.bands.iter().filter(|b| b.on).map(|b| b.left).max().unwrap_or(0) as usize;
        let split = gliding.min(left.len());
        let (gl, left) = left.split_at_mut(split);
        let (gr, right) = right.split_at_mut(split);
        run_gliding(&mut self.bands, gl, gr);
        self.run_fixed(left, right);
    }

    /// Run the bands that are on over one stretch with fixed coefficients.
    fn run_fixed(&mut self, left: &mut [f32], right: &mut [f32]) {
        if left.is_empty() {
            return;
        }
        let mut on = [0usize; BANDS];
        let mut n = 0;
        for (i, b) in self.bands.iter().enumerate() {
            if b.on {
                on[n] = i;
                n += 1;
            }
        }
        match n {
            1 => run_cascade::<1>(&mut self.bands, &on, left, right),
            2 => run_cascade::<2>(&mut self.bands, &on, left, right),
            3 => run_cascade::<3>(&mut self.bands, &on, left, right),
            4 => run_cascade::<4>(&mut self.bands, &on, left, right),
            5 => run_cascade::<5>(&mut self.bands, &on, left, right),
            _ => {}
        }
    }
}

/// The bands that are on, in series, their coefficients stepped towards `due` every sample
/// (at most `GRID` samples: the rest of a grid segment).
fn run_gliding(bands: &mut [Band; BANDS], left: &mut [f32], right: &mut [f32]) {
    for (l, r) in left.iter_mut().zip(right.iter_mut()) {
        let mut x = [*l as f64, *r as f64];
        for b in bands.iter_mut().filter(|b| b.on) {
            if b.left > 0 {
                b.left -= 1;
                let next = if b.left == 0 { b.due } else { b.filter.coeffs().zip_with(b.step, |c, s| c + s) };
                b.filter.set_coeffs(next);
            }
            x = b.filter.tick(x);
        }
        *l = x[0] as f32;
        *r = x[1] as f32;
    }
}

/// The `N` bands listed first in `on` (valid band indices), in series over the block. A
/// const-generic count lets the compiler unroll the band loop and keep filter states in
/// registers, so the bands' dependency chains overlap.
#[inline(always)]
fn run_cascade<const N: usize>(
    bands: &mut [Band; BANDS],
    on: &[usize; BANDS],
    left: &mut [f32],
    right: &mut [f32],
) {
    let mut f: [Biquad; N] = std::array::from_fn(|k| bands[on[k] % BANDS].filter);
    for (l, r) in left.iter_mut().zip(right.iter_mut()) {
        let mut x = [*l as f64, *r as f64];
        for filter in f.iter_mut() {
            x = filter.tick(x);
        }
        *l = x[0] as f32;
        *r = x[1] as f32;
    }
    for (k, filter) in f.iter().enumerate() {
        bands[on[k] % BANDS].filter = *filter;
    }
}

impl Effect for ParametricEq {
    crate::effect::effect_identity!("eq");

    fn prepare(&mut self, sample_rate: f32, _max_block: usize) {
        self.sample_rate = sample_rate as f64;
        for b in &mut self.bands {
            b.gain_db.prepare(sample_rate, PARAM_RAMP_SECONDS);
            b.log2_freq.prepare(sample_rate, PARAM_RAMP_SECONDS);
            b.log2_q.prepare(sample_rate, PARAM_RAMP_SECONDS);
        }
        self.reset();
    }

    fn reset(&mut self) {
        for b in &mut self.bands {
            b.filter.reset();
        }
        self.grid_pos = 0;
        self.snap();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        self.set(index, value, None);
    }

    fn set_param_over(&mut self, index: usize, value: f32, samples: u32) {
        self.set(index, value, Some(samples));
    }

    fn param(&self, index: usize) -> f32 {
        self.bands.get(index / 3).and_then(|b| b.target.get(index % 3)).copied().unwrap_or(0.0)
    }

    fn snap(&mut self) {
        let fs = self.sample_rate;
        for b in &mut self.bands {
            b.snap(fs);
        }
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len().min(right.len());
        let (left, right) = (&mut left[..n], &mut right[..n]);
        let mut pos = 0;
        while pos < n {
            let busy = self.busy();
            if busy && self.grid_pos == 0 {
                let fs = self.sample_rate;
                for b in &mut self.bands {
                    b.on_grid(fs);
                }
            }
            // Settled stretches need no grid work, so they run to the end of the block; the grid
            // position still advances so later ramps stay on the same grid.
            let len = if busy { ((GRID - self.grid_pos) as usize).min(n - pos) } else { n - pos };
            self.run(&mut left[pos..pos + len], &mut right[pos..pos + len]);
            self.grid_pos = ((self.grid_pos as usize + len) % GRID as usize) as u32;
            pos += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::param::*;
    use super::*;
    use crate::dsp::testutil;
    use std::f64::consts::PI;

    fn eq_with(settings: &[(usize, f32)], fs: f32) -> ParametricEq {
        let mut eq = ParametricEq::new();
        eq.prepare(fs, 4096);
        for &(i, v) in settings {
            eq.set_param(i, v);
        }
        eq.snap();
        eq
    }

    fn impulse_response(eq: &mut ParametricEq, frames: usize) -> Vec<f32> {
        let mut l = vec![0.0f32; frames];
        let mut r = vec![0.0f32; frames];
        l[0] = 1.0;
        r[0] = 1.0;
        for (cl, cr) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
            eq.process(cl, cr);
        }
        assert_eq!(l, r, "both channels are filtered alike");
        l
    }

    /// `|DFT(h)|` in dB at `freq`.
    fn dft_db(h: &[f32], fs: f64, freq: f64) -> f64 {
        let w = 2.0 * PI * freq / fs;
        let (c, s) = (w.cos(), w.sin());
        // Rotate a unit phasor by recurrence; re-normalise occasionally against drift.
        let (mut pr, mut pi) = (1.0f64, 0.0f64);
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &x) in h.iter().enumerate() {
            re += x as f64 * pr;
            im -= x as f64 * pi;
            (pr, pi) = (pr * c - pi * s, pr * s + pi * c);
            if n % 1024 == 1023 {
                let m = (pr * pr + pi * pi).sqrt();
                pr /= m;
                pi /= m;
            }
        }
        10.0 * (re * re + im * im).log10()
    }

    /// Cookbook response in dB, coded independently of `biquad.rs`: evaluates the raw
    /// (unnormalised) cookbook polynomials on the unit circle.
    fn analytic_db(shape: Shape, fs: f64, f0: f64, q: f64, gain_db: f64, freq: f64) -> f64 {
        if gain_db == 0.0 {
            return 0.0;
        }
        let a = 10f64.powf(gain_db / 40.0);
        let w0 = 2.0 * PI * f0.min(0.45 * fs) / fs;
        let (cw, alpha) = (w0.cos(), w0.sin() / (2.0 * q));
        let sa = 2.0 * a.sqrt() * alpha;
        let (b, den) = match shape {
            Shape::Peak => {
                ([1.0 + alpha * a, -2.0 * cw, 1.0 - alpha * a], [1.0 + alpha / a, -2.0 * cw, 1.0 - alpha / a])
            }
            Shape::LowShelf => (
                [
                    a * ((a + 1.0) - (a - 1.0) * cw + sa),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * cw),
                    a * ((a + 1.0) - (a - 1.0) * cw - sa),
                ],
                [
                    (a + 1.0) + (a - 1.0) * cw + sa,
                    -2.0 * ((a - 1.0) + (a + 1.0) * cw),
                    (a + 1.0) + (a - 1.0) * cw - sa,
                ],
            ),
            Shape::HighShelf => (
                [
                    a * ((a + 1.0) + (a - 1.0) * cw + sa),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * cw),
                    a * ((a + 1.0) + (a - 1.0) * cw - sa),
                ],
                [
                    (a + 1.0) - (a - 1.0) * cw + sa,
                    2.0 * ((a - 1.0) - (a + 1.0) * cw),
                    (a + 1.0) - (a - 1.0) * cw - sa,
                ],
            ),
        };
        let w = 2.0 * PI * freq / fs;
        let mag2 = |p: [f64; 3]| {
            let re = p[0] + p[1] * w.cos() + p[2] * (2.0 * w).cos();
            let im = -p[1] * w.sin() - p[2] * (2.0 * w).sin();
            re * re + im * im
        };
        10.0 * (mag2(b) / mag2(den)).log10()
    }

    const SHAPES: [Shape; 5] = [Shape::LowShelf, Shape::Peak, Shape::Peak, Shape::Peak, Shape::HighShelf];

    /// `bands`: (gain dB, freq Hz, Q) for the five bands in order.
    fn assert_matches_analytic(bands: [(f32, f32, f32); 5], fs: f32) {
        let settings: Vec<(usize, f32)> = bands
            .iter()
            .enumerate()
            .flat_map(|(b, &(g, f, q))| [(3 * b, g), (3 * b + 1, f), (3 * b + 2, q)])
            .collect();
        let mut eq = eq_with(&settings, fs);
        // 3 s. Settings are chosen so every pole decays within it: a 20 Hz, Q 0.1, -30 dB cut
        // has a pole with a 0.45 s time constant, and truncating its impulse response would
        // ripple the DFT by 0.05 dB.
        let h = impulse_response(&mut eq, 3 * fs as usize);
        let fs = fs as f64;
        let mut worst: f64 = 0.0;
        for k in 0..50 {
            let freq = 20.0 * 1000f64.powf(k as f64 / 49.0);
            let want: f64 = bands
                .iter()
                .zip(SHAPES)
                .map(|(&(g, f0, q), s)| analytic_db(s, fs, f0 as f64, q as f64, g as f64, freq))
                .sum();
            let got = dft_db(&h, fs, freq);
            worst = worst.max((got - want).abs());
            assert!(
                (got - want).abs() < 0.1,
                "fs {fs}, {bands:?}: {got:.4} dB at {freq:.1} Hz, analytic {want:.4} dB"
            );
        }
        // The fit should be far better than the tolerance; flag a regression early.
        assert!(worst < 0.01, "worst deviation {worst} dB");
    }

    #[test]
    fn magnitude_response_matches_cookbook_analytic_response() {
        let all_five = [
            (20.0, 120.0, 0.707),
            (-20.0, 700.0, 1.5),
            (20.0, 2_500.0, 0.5),
            (-20.0, 6_000.0, 4.0),
            (20.0, 12_000.0, 0.707),
        ];
        let telephone = [
            (-26.0, 400.0, 0.707),
            (0.0, 1_000.0, 0.707),
            (16.0, 2_000.0, 0.707),
            (0.0, 8_000.0, 0.707),
            (-26.0, 6_000.0, 0.707),
        ];
        let extremes = [
            (30.0, 20.0, 0.3),
            (-30.0, 40.0, 0.3),
            (12.0, 19_000.0, 10.0),
            (-8.0, 150.0, 8.0),
            (-30.0, 1_000.0, 2.0),
        ];
        let single_mid = [
            (0.0, 100.0, 0.707),
            (0.0, 1_000.0, 0.707),
            (9.0, 3_000.0, 2.0),
            (0.0, 8_000.0, 0.707),
            (0.0, 8_000.0, 0.707),
        ];
        for fs in [44_100.0, 48_000.0, 96_000.0] {
            for bands in [all_five, telephone, extremes, single_mid] {
                assert_matches_analytic(bands, fs);
            }
        }
    }

    #[test]
    fn peaking_gain_at_centre_equals_set_gain() {
        for fs in [44_100.0, 48_000.0, 96_000.0] {
            for (band, f0) in [(1usize, 200.0f32), (2, 1_000.0), (3, 10_000.0)] {
                for gain in [-24.0f32, -6.0, 3.0, 20.0] {
                    for q in [0.3f32, 0.707, 5.0] {
                        let mut eq = eq_with(&[(3 * band, gain), (3 * band + 1, f0), (3 * band + 2, q)], fs);
                        let h = impulse_response(&mut eq, 1 << 16);
                        let got = dft_db(&h, fs as f64, f0 as f64);
                        assert!(
                            (got - gain as f64).abs() < 0.1,
                            "fs {fs} band {band}: {got} dB at {f0} Hz, set {gain}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn shelf_far_band_gain_equals_set_gain() {
        for fs in [44_100.0, 48_000.0, 96_000.0] {
            for gain in [-26.0f32, -10.0, 6.0, 26.0] {
                for q in [0.3f32, 0.707, 2.0] {
                    // Low shelf at 200 Hz: DC and 10 Hz carry the full gain, 15 kHz none.
                    let mut eq = eq_with(&[(LOW_GAIN, gain), (LOW_FREQ, 200.0), (LOW_Q, q)], fs);
                    let h = impulse_response(&mut eq, 1 << 16);
                    let dc: f64 = h.iter().map(|&x| x as f64).sum::<f64>().abs();
                    assert!(
                        (20.0 * dc.log10() - gain as f64).abs() < 0.1,
                        "low shelf DC {} vs {gain}",
                        20.0 * dc.log10()
                    );
                    // Q 0.3 shelves are too gentle to reach the plateaus within the audio band.
                    if q >= 0.7 {
                        assert!((dft_db(&h, fs as f64, 10.0) - gain as f64).abs() < 0.1);
                        assert!(dft_db(&h, fs as f64, 15_000.0).abs() < 0.1);
                    }
                    // High shelf at 2 kHz: Nyquist carries the full gain, 20 Hz none.
                    let mut eq = eq_with(&[(HIGH_GAIN, gain), (HIGH_FREQ, 2_000.0), (HIGH_Q, q)], fs);
                    let h = impulse_response(&mut eq, 1 << 16);
                    let nyq: f64 = h
                        .iter()
                        .enumerate()
                        .map(|(n, &x)| if n % 2 == 0 { x as f64 } else { -x as f64 })
                        .sum::<f64>()
                        .abs();
                    assert!(
                        (20.0 * nyq.log10() - gain as f64).abs() < 0.1,
                        "high shelf Nyquist {} vs {gain}",
                        20.0 * nyq.log10()
                    );
                    if q >= 0.7 {
                        assert!(dft_db(&h, fs as f64, 20.0).abs() < 0.1);
                    }
                }
            }
        }
    }

    #[test]
    fn zero_db_everywhere_is_exact_identity() {
        let l = testutil::noise(5000, 0.9, 11);
        let r = testutil::noise(5000, 0.9, 12);
        // Defaults, and moved frequencies/Q with every gain at 0 dB (ramping and settled).
        let moved: Vec<(usize, f32)> =
            (0..5).flat_map(|b| [(3 * b + 1, 1_500.0), (3 * b + 2, 1.7)]).collect();
        for snap in [true, false] {
            for settings in [&[][..], &moved[..]] {
                let mut e =
                    testutil::prepared(&|| Box::new(ParametricEq::new()), 48_000.0, 512, settings, snap);
                let (ol, or) = testutil::process_in_blocks(&mut *e, &l, &r, 100);
                assert_eq!(ol, l);
                assert_eq!(or, r);
            }
        }
    }

    #[test]
    fn band_returned_to_zero_db_is_bypassed_without_a_click() {
        let mut eq = ParametricEq::new();
        eq.prepare(48_000.0, 512);
        eq.set_param(MID1_GAIN, 12.0);
        eq.snap();
        let n = 48_000;
        let mut l = testutil::sine(n, 1_000.0, 48_000.0, 0.5);
        let mut r = l.clone();
        eq.process(&mut l[..4800], &mut r[..4800]);
        eq.set_param(MID1_GAIN, 0.0);
        for (cl, cr) in l[4800..].chunks_mut(64).zip(r[4800..].chunks_mut(64)) {
            eq.process(cl, cr);
        }
        assert!(!eq.bands[1].on, "band bypassed after the ramp and drain");
        let dry = testutil::sine(n, 1_000.0, 48_000.0, 0.5);
        // After the 20 ms ramp and drain the output is the dry signal, and no sample-to-sample
        // step anywhere exceeds what a 0.5 * 4 (+12 dB) sine at 1 kHz can do.
        assert_eq!(&l[n - 100..], &dry[n - 100..]);
        let max_step = l.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(max_step < 2.0 * 2.0 * PI as f32 * 1_000.0 / 48_000.0 * 1.01, "max step {max_step}");
    }

    fn busy_settings() -> Vec<(usize, f32)> {
        vec![
            (LOW_GAIN, 8.0),
            (LOW_FREQ, 150.0),
            (LOW_Q, 1.2),
            (MID1_GAIN, -12.0),
            (MID1_FREQ, 500.0),
            (MID1_Q, 3.0),
            (MID2_GAIN, 6.0),
            (MID2_FREQ, 2_500.0),
            (MID2_Q, 0.4),
            (MID3_GAIN, -20.0),
            (MID3_FREQ, 9_000.0),
            (MID3_Q, 6.0),
            (HIGH_GAIN, 15.0),
            (HIGH_FREQ, 12_000.0),
            (HIGH_Q, 0.5),
        ]
    }

    #[test]
    fn eq_is_realtime_safe_and_block_size_invariant() {
        testutil::assert_realtime_safe(&|| Box::new(ParametricEq::new()));
        testutil::assert_block_size_invariant(&|| Box::new(ParametricEq::new()), &busy_settings());
        // Ramps back to 0 dB (drain and bypass) from an active setting.
        let back: Vec<(usize, f32)> = (0..5).map(|b| (3 * b, 0.0)).collect();
        testutil::assert_block_size_invariant(
            &|| {
                let mut e = ParametricEq::new();
                e.prepare(48_000.0, 4096);
                for (i, v) in busy_settings() {
                    e.set_param(i, v);
                }
                e.snap();
                Box::new(e)
            },
            &back,
        );
    }

    #[test]
    fn ramp_reaches_target_response() {
        let fs = 48_000.0;
        let mut eq = eq_with(&[], fs);
        for (i, v) in busy_settings() {
            eq.set_param(i, v);
        }
        let mut l = vec![0.0f32; 4800];
        let mut r = l.clone();
        eq.process(&mut l, &mut r); // 100 ms: ramps done
        assert!(!eq.busy());
        let mut settled = eq_with(&busy_settings(), fs);
        for (a, b) in eq.bands.iter().zip(settled.bands.iter_mut()) {
            assert_eq!(a.filter.coeffs(), b.filter.coeffs());
        }
    }
}
