//! Parameter smoothing as a first-class type.

/// A value that glides linearly to its target over a fixed time, one sample at a time.
///
/// Smoothing per sample (not per block) keeps an effect's output independent of how the audio
/// is cut into blocks.
///
/// ```
/// use fxmatch::dsp::Smoothed;
/// let mut gain = Smoothed::new(0.0);
/// gain.prepare(48_000.0, 0.010); // 10 ms ramps
/// gain.set_target(1.0);
/// let first = gain.next();
/// assert!(first > 0.0 && first < 0.01);
/// for _ in 0..480 { gain.next(); }
/// assert_eq!(gain.current(), 1.0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Smoothed {
    current: f32,
    target: f32,
    step: f32,
    remaining: u32,
    ramp_samples: u32,
}

impl Smoothed {
    /// A settled value; call [`Smoothed::prepare`] to set the ramp time (default: no ramp).
    pub const fn new(value: f32) -> Self {
        Self { current: value, target: value, step: 0.0, remaining: 0, ramp_samples: 0 }
    }

    /// Set the ramp duration for this sample rate. Settles the value.
    pub fn prepare(&mut self, sample_rate: f32, ramp_seconds: f32) {
        self.ramp_samples = (sample_rate * ramp_seconds).round().max(0.0) as u32;
        self.snap();
    }

    /// Start a ramp from the current value to `target`.
    #[inline]
    pub fn set_target(&mut self, target: f32) {
        if target == self.target {
            return;
        }
        self.target = target;
        if self.ramp_samples == 0 {
            self.snap();
        } else {
            self.remaining = self.ramp_samples;
            self.step = (target - self.current) / self.ramp_samples as f32;
        }
    }

    /// Start a ramp to `target` that takes exactly `samples` samples (0: jump), whatever the
    /// prepared ramp time.
    #[inline]
    pub fn set_target_over(&mut self, target: f32, samples: u32) {
        self.target = target;
        if samples == 0 {
            self.snap();
        } else {
            self.remaining = samples;
            self.step = (target - self.current) / samples as f32;
        }
    }

    /// Jump to the target.
    #[inline]
    pub fn snap(&mut self) {
        self.current = self.target;
        self.remaining = 0;
        self.step = 0.0;
    }

    /// Advance one sample and return the new value.
    #[inline]
    pub fn next(&mut self) -> f32 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.current = if self.remaining == 0 { self.target } else { self.current + self.step };
        }
        self.current
    }

    /// Advance `n` samples at once.
    #[inline]
    pub fn skip(&mut self, n: u32) {
        if n >= self.remaining {
            self.snap();
        } else {
            self.remaining -= n;
            self.current += self.step * n as f32;
        }
    }

    /// The value now.
    #[inline]
    pub fn current(&self) -> f32 {
        self.current
    }

    /// The value it is heading for.
    #[inline]
    pub fn target(&self) -> f32 {
        self.target
    }

    /// Whether a ramp is under way.
    #[inline]
    pub fn is_smoothing(&self) -> bool {
        self.remaining > 0
    }
}

/// Blend a processed signal with the signal it was made from, sample by sample:
/// `wet = dry + m·(wet − dry)` with `m` the next value of `amount` (1 = all processed, 0 = all
/// dry). A bypass switch or a wet/dry control that fades. `wet_*` is the processed signal,
/// replaced by the blend; the four slices are equally long. Real-time safe.
#[inline]
pub fn blend_dry(amount: &mut Smoothed, dry_l: &[f32], dry_r: &[f32], wet_l: &mut [f32], wet_r: &mut [f32]) {
    for i in 0..wet_l.len() {
        let m = amount.next();
        wet_l[i] = dry_l[i] + m * (wet_l[i] - dry_l[i]);
        wet_r[i] = dry_r[i] + m * (wet_r[i] - dry_r[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_equals_repeated_next() {
        let mut a = Smoothed::new(-1.0);
        a.prepare(1000.0, 0.1);
        let mut b = a;
        a.set_target(3.0);
        b.set_target(3.0);
        for _ in 0..37 {
            a.next();
        }
        b.skip(37);
        assert!((a.current() - b.current()).abs() < 1e-5);
        b.skip(1000);
        assert_eq!(b.current(), 3.0);
        assert!(!b.is_smoothing());
    }
}
