//! Delay-line building blocks shared by the delay and the reverb: a power-of-two ring buffer,
//! a cubic (Lagrange) fractional tap, and a click-free crossfade between two taps.

/// A mono ring buffer. Reads are by age: `age(0)` is the sample pushed last.
pub(crate) struct DelayLine {
    buf: Vec<f32>,
    mask: usize,
    write: usize,
}

impl DelayLine {
    /// A one-sample line; call [`DelayLine::allocate`] before use.
    pub(crate) fn new() -> Self {
        Self { buf: vec![0.0; 1], mask: 0, write: 0 }
    }

    /// Size the line so that ages up to `max_age` can be read, and clear it. Allocates.
    pub(crate) fn allocate(&mut self, max_age: usize) {
        let len = (max_age + 1).next_power_of_two();
        self.buf = vec![0.0; len];
        self.mask = len - 1;
        self.write = 0;
    }

    /// Largest age that can be read.
    pub(crate) fn max_age(&self) -> usize {
        self.mask
    }

    /// Clear the contents.
    pub(crate) fn clear(&mut self) {
        self.buf.fill(0.0);
    }

    /// Append one sample.
    #[inline(always)]
    pub(crate) fn push(&mut self, x: f32) {
        self.write = (self.write + 1) & self.mask;
        // The mask keeps the index inside `buf` (len == mask + 1).
        self.buf[self.write & self.mask] = x;
    }

    /// The sample pushed `age` pushes ago (ages beyond the length wrap around).
    #[inline(always)]
    pub(crate) fn age(&self, age: usize) -> f32 {
        self.buf[self.write.wrapping_sub(age) & self.mask]
    }

    /// Run a Schroeder allpass over `x` in place, with this line as its memory:
    /// `v = x − g·v[n−delay]`, `y = g·v + v[n−delay]` (`delay >= 1`).
    pub(crate) fn allpass(&mut self, x: &mut [f32], delay: usize, g: f32) {
        // Locals, so that the write position stays in a register (a store into `buf` could
        // otherwise alias it as far as the compiler knows).
        let (buf, mask, mut w) = (&mut self.buf[..], self.mask, self.write);
        let age = delay.max(1) - 1;
        for x in x.iter_mut() {
            let z = buf[w.wrapping_sub(age) & mask];
            let v = *x - g * z;
            w = (w + 1) & mask;
            buf[w] = v;
            *x = g * v + z;
        }
        self.write = w;
    }

    /// Interpolated read at a fractional tap.
    #[inline(always)]
    pub(crate) fn read(&self, tap: &FracTap) -> f32 {
        let b = tap.base;
        tap.w[0] * self.age(b)
            + tap.w[1] * self.age(b + 1)
            + tap.w[2] * self.age(b + 2)
            + tap.w[3] * self.age(b + 3)
    }
}

/// `ms` in samples at `fs`, in f64 and snapped to whole samples within 1e-4, so that whole-sample
/// delays (10 ms at 44.1 kHz = 441) read exactly one sample.
pub(crate) fn ms_to_samples(ms: f32, fs: f32) -> f64 {
    let d = ms as f64 * fs as f64 / 1000.0;
    if (d - d.round()).abs() < 1e-4 {
        d.round()
    } else {
        d
    }
}

/// Seconds until repeats every `period` seconds, each scaled by `feedback`, have fallen by 60 dB
/// (just `period` without feedback): the tail of a feedback delay line.
pub(crate) fn feedback_tail_seconds(period: f32, feedback: f32) -> f32 {
    let fb = feedback.abs().clamp(0.0, 0.999);
    if fb < 1e-3 {
        return period;
    }
    period * (1.0 + (1e-3f32).ln() / fb.ln())
}

/// A fractional read position with precomputed third-order Lagrange weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FracTap {
    base: usize,
    w: [f32; 4],
}

impl FracTap {
    /// A tap `age` samples old (`age >= 1`, fractional allowed). Integer ages read exactly one
    /// sample (the weights are exactly 0, 1, 0, 0).
    pub(crate) fn new(age: f32) -> Self {
        let age = age.max(1.0);
        // Truncation is the floor here (age >= 1), without the libm call `floor` is on
        // baseline x86-64; the modulation effect makes a tap every sample.
        let i = (age as u32) as f32;
        let f = age - i;
        // Points at ages i-1, i, i+1, i+2 sit at offsets -1, 0, 1, 2 from the read position.
        let w = [
            -f * (f - 1.0) * (f - 2.0) / 6.0,
            (f + 1.0) * (f - 1.0) * (f - 2.0) / 2.0,
            -(f + 1.0) * f * (f - 2.0) / 2.0,
            (f + 1.0) * f * (f - 1.0) / 6.0,
        ];
        Self { base: i as usize - 1, w }
    }
}

/// Switches between two read positions with a smoothstep crossfade instead of sliding the
/// read pointer (no pitch glide, no click). A change that arrives during a fade is queued
/// (the latest wins) and starts when the running fade ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TapFade<T> {
    /// The tap being faded out (or the only tap when idle).
    pub(crate) cur: T,
    /// The tap being faded in.
    pub(crate) next: T,
    pending: Option<T>,
    pos: u32,
    len: u32,
    inv_len: f32,
}

impl<T: Copy + PartialEq> TapFade<T> {
    /// Settled on `tap`.
    pub(crate) fn new(tap: T) -> Self {
        Self { cur: tap, next: tap, pending: None, pos: 0, len: 0, inv_len: 0.0 }
    }

    /// Fade length in samples (at least 1). Settles on the latest target.
    pub(crate) fn prepare(&mut self, len: u32) {
        self.len = len.max(1);
        self.inv_len = 1.0 / self.len as f32;
        self.snap();
    }

    /// Head for `tap`.
    pub(crate) fn set(&mut self, tap: T) {
        if self.is_fading() {
            self.pending = if tap == self.next { None } else { Some(tap) };
        } else if tap != self.cur {
            self.next = tap;
            self.pos = 0;
        }
    }

    /// Jump to the latest target.
    pub(crate) fn snap(&mut self) {
        if let Some(t) = self.pending.take() {
            self.next = t;
        }
        self.cur = self.next;
        self.pos = self.len;
    }

    /// Whether a fade is under way.
    #[inline(always)]
    pub(crate) fn is_fading(&self) -> bool {
        self.pos < self.len
    }

    /// Advance one sample of a running fade: the taps to mix for this sample and the weight
    /// of the second (smoothstep, reaching exactly 1 on the fade's last sample, after which the
    /// second becomes `cur`). Call only while fading.
    #[inline(always)]
    pub(crate) fn step(&mut self) -> (T, T, f32) {
        let taps = (self.cur, self.next);
        self.pos += 1;
        if self.pos >= self.len {
            self.cur = self.next;
            if let Some(t) = self.pending.take() {
                self.next = t;
                self.pos = 0;
            }
            return (taps.0, taps.1, 1.0);
        }
        let u = self.pos as f32 * self.inv_len;
        (taps.0, taps.1, u * u * (3.0 - 2.0 * u))
    }
}

#[cfg(test)]
pub(crate) mod checks {
    use crate::dsp::DenormalGuard;
    use crate::effect::Effect;

    /// Print and return the cost in ns per stereo frame at 48 kHz in 512-frame blocks with
    /// settled parameters: the best of 40 runs over one second of noise (the best run is the
    /// least disturbed by other load on the machine).
    pub(crate) fn time_effect(make: &dyn Fn() -> Box<dyn Effect>, settings: &[(usize, f32)]) -> f64 {
        let _ftz = DenormalGuard::new();
        let mut e = make();
        e.prepare(48_000.0, 512);
        for &(i, v) in settings {
            e.set_param(i, v);
        }
        e.snap();
        let n = 48_000;
        let src_l = crate::dsp::testutil::noise(n, 0.3, 1);
        let src_r = crate::dsp::testutil::noise(n, 0.3, 2);
        let mut best = f64::MAX;
        for _ in 0..40 {
            let (mut l, mut r) = (src_l.clone(), src_r.clone());
            let t = std::time::Instant::now();
            for (cl, cr) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
                e.process(cl, cr);
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
            std::hint::black_box(&l);
        }
        println!("{}: {best:.1} ns per stereo frame", e.kind());
        best
    }

    /// Output stays finite and bounded at 22.05 and 192 kHz for every parameter at its minimum
    /// and maximum, with loud noise in and silence after.
    pub(crate) fn assert_stable_at_extreme_rates(make: &dyn Fn() -> Box<dyn Effect>) {
        let specs = make().params().to_vec();
        for rate in [22_050.0, 192_000.0] {
            for pick_max in [false, true] {
                let mut e = make();
                e.prepare(rate, 512);
                for (i, s) in specs.iter().enumerate() {
                    e.set_param(i, if pick_max { s.max } else { s.min });
                }
                e.snap();
                let n = rate as usize * 2;
                let mut l = crate::dsp::testutil::noise(n, 1.0, 21);
                let mut r = crate::dsp::testutil::noise(n, 1.0, 22);
                l[n / 2..].fill(0.0);
                r[n / 2..].fill(0.0);
                for (cl, cr) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
                    e.process(cl, cr);
                }
                let peak = l.iter().chain(r.iter()).fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(
                    peak.is_finite() && peak < 100.0,
                    "{} at {rate} Hz (max {pick_max}): peak {peak}",
                    e.kind()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_taps_read_exact_samples_and_fractional_taps_interpolate() {
        let mut d = DelayLine::new();
        d.allocate(64);
        for i in 0..40 {
            d.push(i as f32);
        }
        // Last pushed is 39.
        assert_eq!(d.age(0), 39.0);
        assert_eq!(d.read(&FracTap::new(5.0)), 34.0);
        assert!((d.read(&FracTap::new(5.25)) - 33.75).abs() < 1e-4);
    }

    #[test]
    fn fade_reaches_target_and_queues_changes() {
        let mut f = TapFade::new(1u32);
        f.prepare(4);
        f.set(2);
        let w: Vec<f32> = (0..4).map(|_| f.step().2).collect();
        assert_eq!(w[3], 1.0);
        assert!(w[0] > 0.0 && w[0] < w[1] && w[1] < w[2]);
        assert!(!f.is_fading());
        assert_eq!(f.cur, 2);
        f.set(3);
        f.step();
        f.set(4);
        f.set(5);
        for _ in 0..3 {
            f.step();
        }
        assert_eq!((f.cur, f.next, f.is_fading()), (3, 5, true));
        f.snap();
        assert_eq!((f.cur, f.is_fading()), (5, false));
    }
}
