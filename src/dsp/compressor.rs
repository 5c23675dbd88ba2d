//! Feed-forward log-domain compressor after Giannoulis, Massberg & Reiss, "Digital Dynamic
//! Range Compressor Design — A Tutorial and Analysis", JAES 60(6), 2012.

use crate::dsp::fastmath::{fast_exp2, fast_log2};
use crate::dsp::{db_to_gain, Smoothed};
use crate::effect::{Effect, Mapping, ParamSpec, PARAM_RAMP_SECONDS};

/// Parameter indices of [`Compressor`].
pub mod param {
    /// Threshold (dBFS).
    pub const THRESHOLD: usize = 0;
    /// Ratio (x:1).
    pub const RATIO: usize = 1;
    /// Attack time constant (ms).
    pub const ATTACK: usize = 2;
    /// Release time constant (ms).
    pub const RELEASE: usize = 3;
    /// Knee width (dB).
    pub const KNEE: usize = 4;
    /// Makeup gain (dB).
    pub const MAKEUP: usize = 5;
}

/// dB per unit of log2: `20 * log10(2)`.
const DB_PER_LOG2: f32 = 6.020_6;
/// log2 units per dB.
const LOG2_PER_DB: f32 = 1.0 / DB_PER_LOG2;
/// Gain reduction below this (dB) is flushed to zero at grid points, so the release ends in
/// exact unity gain (and no denormals).
const GR_FLOOR: f64 = 1e-6;
/// Samples between flush checks (counted across blocks), and the chunk length of the settled
/// path's three passes.
const GRID: usize = 64;

/// The static gain computer (Giannoulis et al. eq. 4, written as the reduction `x_G - y_G`).
#[derive(Clone, Copy)]
struct Curve {
    threshold: f32,
    knee: f32,
    half_knee: f32,
    /// `1 / (2 * knee)`, 0 for a hard knee.
    inv_2knee: f32,
    /// `1 - 1/ratio`: exactly 0 at ratio 1.
    slope: f32,
}

impl Curve {
    #[inline(always)]
    fn new(threshold: f32, knee: f32, slope: f32) -> Self {
        let inv_2knee = if knee > 0.0 { 0.5 / knee } else { 0.0 };
        Self { threshold, knee, half_knee: 0.5 * knee, inv_2knee, slope }
    }

    /// Gain reduction in dB (>= 0) for a frame's peak `max(|L|, |R|)`. Branch-free, so the
    /// settled path's first pass vectorises.
    #[inline(always)]
    fn reduction(&self, left: f32, right: f32) -> f32 {
        let (l, r) = (left.abs(), right.abs());
        let peak = if l > r { l } else { r };
        let d = DB_PER_LOG2 * fast_log2(peak) - self.threshold;
        let two_d = d + d;
        let e = d + self.half_knee;
        let in_knee = self.slope * e * e * self.inv_2knee;
        let above = self.slope * d;
        let below_or_knee = if two_d > -self.knee { in_knee } else { 0.0 };
        if two_d >= self.knee {
            above
        } else {
            below_or_knee
        }
    }
}

/// Smooth branching peak detector (Giannoulis et al. eq. 17) on the gain reduction.
#[derive(Clone, Copy)]
struct Ballistics {
    attack: f64,
    release: f64,
}

impl Ballistics {
    /// One step from `y` towards `x`: attack coefficient while `x > y`, release otherwise.
    ///
    /// Both candidate updates are computed and the right one picked by value: with attack at
    /// least as fast as release, the attack update is the larger one exactly when `x > y` (and
    /// the smaller one for a slower attack). This keeps the loop-carried dependency to a
    /// multiply, an add and a max, instead of compare, select, subtract, multiply and add.
    #[inline(always)]
    fn step<const FAST_ATTACK: bool>(&self, y: f64, x: f64) -> f64 {
        let ya = self.attack * y + (1.0 - self.attack) * x;
        let yr = self.release * y + (1.0 - self.release) * x;
        if FAST_ATTACK == (ya > yr) {
            ya
        } else {
            yr
        }
    }

    fn fast_attack(&self) -> bool {
        self.attack <= self.release
    }
}

/// Linear gain for a smoothed reduction of `reduction` dB.
#[inline(always)]
fn gain(makeup: f32, reduction: f32) -> f32 {
    makeup * fast_exp2(-reduction * LOG2_PER_DB)
}

/// One-pole coefficient for time constant `ms`: a step covers `1 - 1/e` of its size in `ms`.
fn pole(ms: f32, sample_rate: f32) -> f64 {
    let samples = (ms as f64 * 0.001 * sample_rate as f64).max(1e-3);
    (-1.0 / samples).exp()
}

/// Stereo-linked feed-forward compressor (type `compressor`).
///
/// Signal path (Giannoulis et al. 2012, log-domain feed-forward design): peak `max(|L|, |R|)` →
/// dB → static gain computer with a quadratic soft knee → smooth branching peak detector on the
/// gain reduction in dB → makeup → one linear gain applied to both channels.
///
/// Time constants: attack and release are the times in which the gain reduction covers
/// `1 - 1/e` (63.2 %) of a step in its target (one-pole coefficient `exp(-1 / (t * fs))`,
/// attack while the target reduction exceeds the current one, release otherwise).
///
/// Parameter changes: threshold, ratio (as `1 - 1/ratio`), knee and makeup (linear) glide over
/// 20 ms; attack and release take effect at once. At ratio 1 the gain computer yields exactly
/// zero reduction, so the effect is an exact identity apart from makeup. Logarithm and
/// exponential are [`fast_log2`]/[`fast_exp2`] (static curve error below 3e-4 dB).
pub struct Compressor {
    specs: Vec<ParamSpec>,
    values: [f32; 6],
    sample_rate: f32,
    threshold: Smoothed,
    slope: Smoothed,
    knee: Smoothed,
    makeup: Smoothed,
    ballistics: Ballistics,
    /// Smoothed gain reduction in dB (the detector state `y_L`). `f64`: with slow time constants
    /// an `f32` recurrence stalls up to 0.1 dB short of its target, once a step's increment falls
    /// below half an ulp.
    reduction: f64,
    /// Samples since the last grid point, in `0..GRID`.
    grid_pos: usize,
}

impl Compressor {
    /// A compressor at its default settings.
    pub fn new() -> Self {
        // Neutral: ratio 1 (no gain reduction at any level), threshold at the top and no makeup,
        // so that a ratio moved alone still acts on as little as possible.
        let specs = vec![
            ParamSpec::new("threshold", "Threshold", "dB", -60.0, 0.0, -18.0, Mapping::Linear)
                .with_neutral(0.0),
            ParamSpec::new("ratio", "Ratio", "", 1.0, 20.0, 4.0, Mapping::Log).with_neutral(1.0),
            ParamSpec::new("attack", "Attack", "ms", 0.1, 100.0, 10.0, Mapping::Log),
            ParamSpec::new("release", "Release", "ms", 5.0, 2_000.0, 100.0, Mapping::Log),
            ParamSpec::new("knee", "Knee", "dB", 0.0, 24.0, 6.0, Mapping::Linear),
            ParamSpec::new("makeup", "Makeup", "dB", 0.0, 24.0, 0.0, Mapping::Linear).with_neutral(0.0),
        ];
        let mut c = Self {
            values: [0.0; 6],
            sample_rate: 48_000.0,
            threshold: Smoothed::new(0.0),
            slope: Smoothed::new(0.0),
            knee: Smoothed::new(0.0),
            makeup: Smoothed::new(1.0),
            ballistics: Ballistics { attack: 0.0, release: 0.0 },
            reduction: 0.0,
            grid_pos: 0,
            specs,
        };
        for i in 0..c.specs.len() {
            c.set_param(i, c.specs[i].default);
        }
        c.snap();
        c
    }

    /// Set a parameter: smoothed ones over the 20 ms ramp, or over exactly `samples` samples.
    fn set(&mut self, index: usize, value: f32, samples: Option<u32>) {
        let (Some(spec), Some(slot)) = (self.specs.get(index), self.values.get_mut(index)) else {
            return;
        };
        let v = spec.clamp(value);
        *slot = v;
        let glide = |s: &mut Smoothed, target: f32| match samples {
            Some(n) => s.set_target_over(target, n),
            None => s.set_target(target),
        };
        match index {
            param::THRESHOLD => glide(&mut self.threshold, v),
            param::RATIO => glide(&mut self.slope, 1.0 - 1.0 / v),
            param::ATTACK => self.ballistics.attack = pole(v, self.sample_rate),
            param::RELEASE => self.ballistics.release = pole(v, self.sample_rate),
            param::KNEE => glide(&mut self.knee, v),
            param::MAKEUP => glide(&mut self.makeup, db_to_gain(v)),
            _ => {}
        }
    }

    fn ramping(&self) -> bool {
        self.threshold.is_smoothing()
            || self.slope.is_smoothing()
            || self.knee.is_smoothing()
            || self.makeup.is_smoothing()
    }

    /// Advance the grid by `n` samples (never past the next grid point) and flush a reduction
    /// that has decayed to nothing.
    #[inline(always)]
    fn advance_grid(&mut self, n: usize) {
        self.grid_pos += n;
        if self.grid_pos >= GRID {
            self.grid_pos = 0;
            if self.reduction < GR_FLOOR {
                self.reduction = 0.0;
            }
        }
    }

    /// Settled parameters: per grid-aligned chunk, (1) gain computer into a buffer, (2) the
    /// detector recurrence in place, (3) gains applied. Passes 1 and 3 vectorise; pass 2 is the
    /// only serial part. Computes exactly what `run_ramping` computes for the same values.
    fn run_settled<const FAST_ATTACK: bool>(&mut self, left: &mut [f32], right: &mut [f32]) {
        let curve = Curve::new(self.threshold.current(), self.knee.current(), self.slope.current());
        let makeup = self.makeup.current();
        let ballistics = self.ballistics;
        let mut buf = [0.0f32; GRID];
        for (l, r) in ChunksOnGrid::new(left, right, self.grid_pos) {
            let n = l.len();
            let buf = &mut buf[..n];
            for ((b, &x), &y) in buf.iter_mut().zip(l.iter()).zip(r.iter()) {
                *b = curve.reduction(x, y);
            }
            let mut y = self.reduction;
            for b in buf.iter_mut() {
                y = ballistics.step::<FAST_ATTACK>(y, *b as f64);
                *b = y as f32;
            }
            self.reduction = y;
            for ((b, l), r) in buf.iter().zip(l.iter_mut()).zip(r.iter_mut()) {
                let g = gain(makeup, *b);
                *l *= g;
                *r *= g;
            }
            self.advance_grid(n);
        }
    }

    /// Ramping parameters: everything per sample.
    fn run_ramping(&mut self, left: &mut [f32], right: &mut [f32]) {
        let ballistics = self.ballistics;
        let fast = ballistics.fast_attack();
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let curve = Curve::new(self.threshold.next(), self.knee.next(), self.slope.next());
            let makeup = self.makeup.next();
            let x = curve.reduction(*l, *r) as f64;
            self.reduction = if fast {
                ballistics.step::<true>(self.reduction, x)
            } else {
                ballistics.step::<false>(self.reduction, x)
            };
            let g = gain(makeup, self.reduction as f32);
            *l *= g;
            *r *= g;
            self.advance_grid(1);
        }
    }
}

/// Splits a stereo block into chunks that end on grid points (at most `GRID` frames).
struct ChunksOnGrid<'a> {
    left: &'a mut [f32],
    right: &'a mut [f32],
    grid_pos: usize,
}

impl<'a> ChunksOnGrid<'a> {
    fn new(left: &'a mut [f32], right: &'a mut [f32], grid_pos: usize) -> Self {
        Self { left, right, grid_pos }
    }
}

impl<'a> Iterator for ChunksOnGrid<'a> {
    type Item = (&'a mut [f32], &'a mut [f32]);

    fn next(&mut self) -> Option<Self::Item> {
        let n = GRID.saturating_sub(self.grid_pos).min(self.left.len()).min(self.right.len());
        if n == 0 {
            return None;
        }
        let (l, lrest) = std::mem::take(&mut self.left).split_at_mut(n);
        let (r, rrest) = std::mem::take(&mut self.right).split_at_mut(n);
        self.left = lrest;
        self.right = rrest;
        self.grid_pos = 0;
        Some((l, r))
    }
}

impl Effect for Compressor {
    crate::effect::effect_identity!("compressor");

    fn prepare(&mut self, sample_rate: f32, _max_block: usize) {
        self.sample_rate = sample_rate;
        for s in [&mut self.threshold, &mut self.slope, &mut self.knee, &mut self.makeup] {
            s.prepare(sample_rate, PARAM_RAMP_SECONDS);
        }
        self.ballistics = Ballistics {
            attack: pole(self.values[param::ATTACK], sample_rate),
            release: pole(self.values[param::RELEASE], sample_rate),
        };
        self.reset();
    }

    fn reset(&mut self) {
        self.reduction = 0.0;
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
        self.values.get(index).copied().unwrap_or(0.0)
    }

    fn snap(&mut self) {
        for s in [&mut self.threshold, &mut self.slope, &mut self.knee, &mut self.makeup] {
            s.snap();
        }
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len().min(right.len());
        let (left, right) = (&mut left[..n], &mut right[..n]);
        if self.ramping() {
            self.run_ramping(left, right);
        } else if self.slope.current() == 0.0 && self.reduction == 0.0 {
            // Ratio 1 with the detector at rest: the gain computer returns 0, the detector stays
            // at 0 and the gain is exactly `makeup`, which is what `run_settled` would compute.
            let g = self.makeup.current();
            if g != 1.0 {
                for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                    *l *= g;
                    *r *= g;
                }
            }
            self.grid_pos = (self.grid_pos + n) % GRID;
        } else if self.ballistics.fast_attack() {
            self.run_settled::<true>(left, right);
        } else {
            self.run_settled::<false>(left, right);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::param::*;
    use super::*;
    use crate::dsp::testutil;

    fn comp(settings: &[(usize, f32)], fs: f32) -> Compressor {
        let mut c = Compressor::new();
        c.prepare(fs, 1 << 16);
        for &(i, v) in settings {
            c.set_param(i, v);
        }
        c.snap();
        c
    }

    /// Closed-form static curve in f64 (Giannoulis et al. eq. 4): output level for input level.
    fn static_curve_db(x: f64, t: f64, ratio: f64, w: f64) -> f64 {
        if 2.0 * (x - t) < -w {
            x
        } else if 2.0 * (x - t).abs() <= w && w > 0.0 {
            x + (1.0 / ratio - 1.0) * (x - t + w / 2.0).powi(2) / (2.0 * w)
        } else {
            t + (x - t) / ratio
        }
    }

    /// Steady-state gain in dB for a constant-magnitude input at `level_db`: DC on the left and
    /// a polarity-flipped square wave on the right, so the stereo-linked detector is steady.
    fn steady_gain_db(c: &mut Compressor, level_db: f64, fs: f32) -> f64 {
        let a = 10f64.powf(level_db / 20.0) as f32;
        let n = (fs * 1.5) as usize; // > 20 attack time constants (and the knee/threshold ramp)
        let mut l = vec![a; n];
        let mut r: Vec<f32> = (0..n).map(|i| if (i / 37) % 2 == 0 { -a } else { a }).collect();
        for (cl, cr) in l.chunks_mut(333).zip(r.chunks_mut(333)) {
            c.process(cl, cr);
        }
        let gl = 20.0 * (l[n - 1] as f64 / a as f64).log10();
        let gr = 20.0 * ((r[n - 1] / if ((n - 1) / 37) % 2 == 0 { -a } else { a }) as f64).log10();
        assert!((gl - gr).abs() < 1e-6, "both channels get the same gain");
        gl
    }

    #[test]
    fn static_curve_matches_closed_form() {
        for fs in [44_100.0, 48_000.0, 96_000.0] {
            for (t, ratio, w) in [
                (-18.0, 4.0, 0.0),
                (-18.0, 4.0, 6.0),
                (-40.0, 20.0, 24.0),
                (-10.0, 1.5, 12.0),
                (-30.0, 8.0, 0.0),
                (-24.0, 2.0, 10.0),
            ] {
                let mut c =
                    comp(&[(THRESHOLD, t), (RATIO, ratio), (KNEE, w), (ATTACK, 5.0), (RELEASE, 50.0)], fs);
                let mut worst: f64 = 0.0;
                for k in 0..=20 {
                    let level = -60.0 + 3.0 * k as f64;
                    let got = steady_gain_db(&mut c, level, fs);
                    let want = static_curve_db(level, t as f64, ratio as f64, w as f64) - level;
                    worst = worst.max((got - want).abs());
                    assert!(
                        (got - want).abs() < 0.1,
                        "T {t} R {ratio} W {w} at {level} dBFS: gain {got:.4} dB, closed form {want:.4} dB"
                    );
                }
                // The approximations are far better than the tolerance.
                assert!(worst < 1e-3, "worst static-curve error {worst} dB");
            }
        }
    }

    /// Per-sample gain reduction (dB) after a level step from `from_db` to `to_db`, measured on
    /// DC after settling at `from_db`.
    fn step_reduction(c: &mut Compressor, from_db: f64, to_db: f64, fs: f32, seconds: f32) -> Vec<f64> {
        let settle = vec![10f64.powf(from_db / 20.0) as f32; (fs * 3.0) as usize];
        let (mut l, mut r) = (settle.clone(), settle);
        c.process(&mut l, &mut r);
        let a = 10f64.powf(to_db / 20.0) as f32;
        let n = (fs * seconds) as usize;
        let (mut l, mut r) = (vec![a; n], vec![-a; n]);
        for (cl, cr) in l.chunks_mut(100).zip(r.chunks_mut(100)) {
            c.process(cl, cr);
        }
        l.iter().map(|&y| -20.0 * (y as f64 / a as f64).log10()).collect()
    }

    /// Samples (counting the step sample as 1) until the reduction has covered 1 - 1/e of its
    /// change from `start` to `end`.
    fn samples_to_63(gr: &[f64], start: f64, end: f64) -> usize {
        let goal = start + (end - start) * (1.0 - (-1.0f64).exp());
        let pos = gr.iter().position(|&g| if end > start { g >= goal } else { g <= goal });
        pos.expect("reaches 63 %") + 1
    }

    fn assert_time(measured: usize, ms: f32, fs: f32, what: &str) {
        let want = ms as f64 * 1e-3 * fs as f64;
        let err = (measured as f64 - want).abs();
        assert!(
            err <= 1.0 || err <= 0.1 * want,
            "{what} {ms} ms at {fs} Hz: {measured} samples, want {want:.2}"
        );
    }

    #[test]
    fn attack_and_release_times_are_63_percent_times() {
        for fs in [44_100.0, 48_000.0, 96_000.0] {
            // Includes attacks slower than the release (the detector's other branch).
            for (attack, release) in
                [(0.1, 5.0), (1.0, 50.0), (10.0, 300.0), (100.0, 2_000.0), (50.0, 5.0), (20.0, 10.0)]
            {
                let settings =
                    [(THRESHOLD, -18.0), (RATIO, 4.0), (KNEE, 6.0), (ATTACK, attack), (RELEASE, release)];
                // 0 dBFS: well above the knee, reduction 0.75 * 18 = 13.5 dB.
                let full = 13.5;
                let mut c = comp(&settings, fs);
                let gr = step_reduction(&mut c, -60.0, 0.0, fs, 1.5);
                assert!(
                    gr[0] > 0.0 && (gr[gr.len() - 1] - full).abs() < 1e-3,
                    "{fs} {attack}: {} {}",
                    gr[0],
                    gr[gr.len() - 1]
                );
                assert_time(samples_to_63(&gr, 0.0, full), attack, fs, "attack");
                // 20 time constants: down to the flush-to-zero floor.
                let gr = step_reduction(&mut c, 0.0, -60.0, fs, release * 0.02 + 0.1);
                assert!(gr[gr.len() - 1].abs() < 1e-6, "release ends at unity gain");
                assert_time(samples_to_63(&gr, full, 0.0), release, fs, "release");
            }
        }
    }

    #[test]
    fn makeup_adds_exactly_its_db() {
        let fs = 48_000.0;
        for makeup in [0.0f32, 3.5, 12.0, 24.0] {
            for (ratio, level) in [(1.0f32, -6.0), (1.0, 0.0), (4.0, -40.0), (4.0, -6.0), (20.0, 0.0)] {
                let base = steady_gain_db(&mut comp(&[(RATIO, ratio)], fs), level, fs);
                let got = steady_gain_db(&mut comp(&[(RATIO, ratio), (MAKEUP, makeup)], fs), level, fs);
                assert!(
                    (got - base - makeup as f64).abs() < 1e-4,
                    "makeup {makeup} at ratio {ratio}, {level} dBFS: {}",
                    got - base
                );
            }
        }
    }

    #[test]
    fn ratio_one_is_exact_identity() {
        let l = testutil::noise(9000, 1.0, 5);
        let r = testutil::noise(9000, 1.0, 6);
        for snap in [true, false] {
            // From the defaults (ramping to ratio 1) and settled, at extreme settings.
            let settings = [(RATIO, 1.0), (THRESHOLD, -60.0), (KNEE, 0.0), (ATTACK, 0.1), (RELEASE, 5.0)];
            let mut e = testutil::prepared(&|| Box::new(Compressor::new()), 48_000.0, 512, &settings, snap);
            let (ol, or) = testutil::process_in_blocks(&mut *e, &l, &r, 64);
            if snap {
                assert_eq!((ol, or), (l.clone(), r.clone()));
            } else {
                // After the 20 ms ramp of the ratio and the (default 100 ms) release.
                assert_eq!(&ol[8000..], &l[8000..]);
            }
        }
        let mut e = comp(&[(RATIO, 1.0), (MAKEUP, 6.0)], 48_000.0);
        let (ol, _) = testutil::process_in_blocks(&mut e, &l, &r, 64);
        let g = db_to_gain(6.0);
        assert!(ol.iter().zip(&l).all(|(&o, &i)| o == i * g));
    }

    #[test]
    fn compressor_is_realtime_safe_and_block_size_invariant() {
        testutil::assert_realtime_safe(&|| Box::new(Compressor::new()));
        // Noise at 0.5 sits around -10 dBFS peaks: in and around the knee, attack and release
        // both active; unsnapped runs also ramp threshold, ratio, knee and makeup.
        let settings =
            [(THRESHOLD, -30.0), (RATIO, 8.0), (ATTACK, 0.5), (RELEASE, 20.0), (KNEE, 12.0), (MAKEUP, 9.0)];
        testutil::assert_block_size_invariant(&|| Box::new(Compressor::new()), &settings);
        let slow_attack = [(THRESHOLD, -24.0), (RATIO, 3.0), (ATTACK, 40.0), (RELEASE, 5.0), (KNEE, 0.0)];
        testutil::assert_block_size_invariant(&|| Box::new(Compressor::new()), &slow_attack);
        let to_identity = [(RATIO, 1.0), (MAKEUP, 3.0)];
        testutil::assert_block_size_invariant(&|| Box::new(Compressor::new()), &to_identity);
    }
}
