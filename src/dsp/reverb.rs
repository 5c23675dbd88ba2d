//! Algorithmic reverb: stereo pre-delay → input diffusion → 8-line feedback delay network
//! (Hadamard mixing, per-line absorption set from RT60) → stereo width → wet/dry mix.
//!
//! - **Size** sets the decay time: `RT60 = 0.2 s · 40^size` (0: 0.2 s, 0.25: 0.50 s, 0.5:
//!   1.26 s, 0.75: 3.2 s, 1: 8 s). The delay-line lengths stay fixed (23–61 ms); each line `i`
//!   of length `Lᵢ` samples gets the broadband gain `gᵢ = 10^(−3·Lᵢ/(fs·RT60))`, so with the
//!   lossless (orthogonal) Hadamard matrix every path decays at exactly 60 dB per RT60 (Jot).
//!   Longer decays also sound louder (the tail is not normalised).
//! - **Damping** shortens the decay of high frequencies: a one-pole low-pass per line, solved
//!   so that `RT60(4 kHz) = RT60 · (1 − 0.85·damping)` (0: no damping; 1: 4 kHz dies 6.7× faster).
//! - **Pre-delay** (0 to 200 ms, whole samples) delays the wet input; the diffused input is fed
//!   into the network and appears in the output at once, so the wet signal starts exactly at
//!   the pre-delay. A change of pre-delay crossfades the old and new tap over 20 ms.
//! - Input diffusion: four Schroeder allpasses per channel (3.6–12.7 ms, gains 0.75/0.625)
//!   thicken the onset. Left input feeds lines 0–3, right input lines 4–7; the two outputs
//!   read orthogonal sign patterns of all eight lines, so the tail is decorrelated.
//! - **Width** scales the side signal of the wet output (0: mono wet, L == R; 1: full).
//! - **Mix**: `(1 − mix)·dry + mix·wet` (0 is exactly dry).
//! - Size and damping glide over 50 ms (the line coefficients are recomputed on a fixed grid of
//!   32 samples while they move); width and mix ramp per sample over 20 ms.
//!
//! No delay-length modulation: very long decays on sustained tones can sound slightly metallic.

use super::delayline::{DelayLine, TapFade};
use crate::dsp::Smoothed;
use crate::effect::{Effect, Mapping, ParamSpec, PARAM_RAMP_SECONDS};

/// Parameter indices of [`Reverb`].
pub mod param {
    /// Room size, mapped to decay time.
    pub const SIZE: usize = 0;
    /// High-frequency damping.
    pub const DAMPING: usize = 1;
    /// Pre-delay in ms.
    pub const PREDELAY: usize = 2;
    /// Stereo width of the wet signal.
    pub const WIDTH: usize = 3;
    /// Wet/dry mix.
    pub const MIX: usize = 4;
}

const LINE_MS: [f32; 8] = [23.3, 28.9, 33.7, 38.3, 43.1, 49.9, 55.7, 61.3];
const DIFFUSER_MS: [[f32; 4]; 2] = [[4.77, 3.59, 12.73, 9.30], [4.53, 3.77, 12.31, 8.87]];
const DIFFUSER_GAIN: [f32; 4] = [0.75, 0.75, 0.625, 0.625];
const OUT_L: [f32; 8] = [1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, -1.0];
const OUT_R: [f32; 8] = [1.0, -1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0];
const MAX_PREDELAY_MS: f32 = 200.0;
const DAMPING_REF_HZ: f64 = 4000.0;
const GRID: u32 = 32;

/// Decay time in seconds for `size` in `[0, 1]`.
pub fn rt60_for_size(size: f32) -> f32 {
    0.2 * 40f32.powf(size.clamp(0.0, 1.0))
}

/// In-place 8-point fast Walsh–Hadamard transform, scaled to be orthonormal.
#[inline(always)]
fn hadamard8(x: &mut [f32; 8]) {
    let mut h = 1;
    while h < 8 {
        let mut i = 0;
        while i < 8 {
            for j in i..i + h {
                let (a, b) = (x[j], x[j + h]);
                x[j] = a + b;
                x[j + h] = a - b;
            }
            i += 2 * h;
        }
        h *= 2;
    }
    let s = std::f32::consts::FRAC_1_SQRT_2 * 0.5;
    for v in x.iter_mut() {
        *v *= s;
    }
}

/// FDN reverb with pre-delay, diffusion, width and mix.
pub struct Reverb {
    specs: Vec<ParamSpec>,
    values: [f32; 5],
    size: Smoothed,
    damping: Smoothed,
    width: Smoothed,
    mix: Smoothed,
    pre: [DelayLine; 2],
    pre_tap: TapFade<usize>,
    diff: [[DelayLine; 4]; 2],
    diff_len: [[usize; 4]; 2],
    /// The eight network lines, each `fdn_mask + 1` (a power of two) long, back to back,
    /// sharing one write position.
    fdn: Vec<f32>,
    fdn_mask: usize,
    fdn_w: usize,
    line_len: [usize; 8],
    /// Per-line absorption: `y = b·s + p·y`.
    b: [f32; 8],
    p: [f32; 8],
    lp: [f32; 8],
    grid_left: u32,
    fs: f32,
}

impl Reverb {
    /// An instance at the default settings.
    pub fn new() -> Self {
        // Neutral: mix 0 (exactly dry); size, damping, pre-delay and width only shape the wet.
        let specs = vec![
            ParamSpec::new("size", "Size", "", 0.0, 1.0, 0.5, Mapping::Linear),
            ParamSpec::new("damping", "Damping", "", 0.0, 1.0, 0.5, Mapping::Linear),
            ParamSpec::new("predelay", "Pre-delay", "ms", 0.0, MAX_PREDELAY_MS, 10.0, Mapping::Linear),
            ParamSpec::new("width", "Width", "", 0.0, 1.0, 1.0, Mapping::Linear),
            ParamSpec::new("mix", "Mix", "", 0.0, 1.0, 0.25, Mapping::Linear).with_neutral(0.0),
        ];
        let values = [0.5, 0.5, 10.0, 1.0, 0.25];
        Self {
            specs,
            values,
            size: Smoothed::new(values[0]),
            damping: Smoothed::new(values[1]),
            width: Smoothed::new(values[3]),
            mix: Smoothed::new(values[4]),
            pre: [DelayLine::new(), DelayLine::new()],
            pre_tap: TapFade::new(0),
            diff: std::array::from_fn(|_| std::array::from_fn(|_| DelayLine::new())),
            diff_len: [[1; 4]; 2],
            fdn: vec![0.0; 8],
            fdn_mask: 0,
            fdn_w: 0,
            line_len: [1; 8],
            b: [0.0; 8],
            p: [0.0; 8],
            lp: [0.0; 8],
            grid_left: 0,
            fs: 0.0,
        }
    }

    fn ms_to_samples(&self, ms: f32) -> usize {
        (ms * 0.001 * self.fs).round().max(0.0) as usize
    }

    fn predelay_samples(&self) -> usize {
        self.ms_to_samples(self.values[param::PREDELAY]).min(self.pre[0].max_age())
    }

    /// Recompute the per-line absorption from the current (smoothed) size and damping.
    fn update_coefs(&mut self) {
        if self.fs <= 0.0 {
            return;
        }
        let fs = self.fs as f64;
        let rt = rt60_for_size(self.size.current()) as f64;
        let ratio = (1.0 - 0.85 * self.damping.current().clamp(0.0, 1.0)) as f64;
        let w = std::f64::consts::TAU * DAMPING_REF_HZ.min(0.4 * fs) / fs;
        for i in 0..8 {
            let g = 10f64.powf(-3.0 * self.line_len[i] as f64 / (fs * rt));
            // Gain of the low-pass at the reference frequency, relative to DC.
            let r = g.powf(1.0 / ratio - 1.0);
            let p = if r > 0.999_999 {
                0.0
            } else {
                let r2 = r * r;
                let bb = (1.0 - r2 * w.cos()) / (1.0 - r2);
                bb - (bb * bb - 1.0).max(0.0).sqrt()
            };
            self.p[i] = p as f32;
            self.b[i] = (g * (1.0 - p)) as f32;
        }
    }

    /// Pre-delay and input diffusion for a chunk, in place. Each stage runs over the whole
    /// chunk before the next, so the CPU overlaps samples instead of waiting on one long chain.
    fn diffuse(&mut self, xl: &mut [f32], xr: &mut [f32]) {
        for (l, r) in xl.iter_mut().zip(xr.iter_mut()) {
            self.pre[0].push(*l);
            self.pre[1].push(*r);
            (*l, *r) = if self.pre_tap.is_fading() {
                let (a, b, w) = self.pre_tap.step();
                let (al, ar) = (self.pre[0].age(a), self.pre[1].age(a));
                (al + w * (self.pre[0].age(b) - al), ar + w * (self.pre[1].age(b) - ar))
            } else {
                let d = self.pre_tap.cur;
                (self.pre[0].age(d), self.pre[1].age(d))
            };
        }
        // Schroeder allpasses: v = x − g·v[n−M], y = g·v + v[n−M].
        for ((x, lines), lens) in [xl, xr].into_iter().zip(&mut self.diff).zip(&self.diff_len) {
            for ((line, &len), &g) in lines.iter_mut().zip(lens).zip(&DIFFUSER_GAIN) {
                line.allpass(x, len, g);
            }
        }
    }

    /// One frame of the feedback delay network for the diffused input; the wet pair before
    /// width.
    #[inline(always)]
    fn network(&mut self, xl: f32, xr: f32) -> (f32, f32) {
        let (mask, w) = (self.fdn_mask, self.fdn_w);
        let size = mask + 1;
        let mut s: [f32; 8] = std::array::from_fn(|i| {
            // `fdn` holds 8·size samples; the mask keeps each index inside line i's segment.
            let out = self.fdn[i * size + (w.wrapping_sub(self.line_len[i]) & mask)];
            self.lp[i] = self.b[i] * out + self.p[i] * self.lp[i];
            self.lp[i]
        });
        hadamard8(&mut s);
        let (il, ir) = (0.5 * xl, 0.5 * xr);
        let mut v = [0.0f32; 8];
        let (mut ol, mut or) = (0.0, 0.0);
        for (i, (v, s)) in v.iter_mut().zip(s).enumerate() {
            *v = s + if i < 4 { il } else { ir };
            ol += OUT_L[i] * *v;
            or += OUT_R[i] * *v;
        }
        for (i, v) in v.into_iter().enumerate() {
            self.fdn[i * size + w] = v;
        }
        self.fdn_w = (w + 1) & mask;
        let k = std::f32::consts::FRAC_1_SQRT_2 * 0.5;
        (k * ol, k * or)
    }
}

impl Effect for Reverb {
    crate::effect::effect_identity!("reverb");

    fn prepare(&mut self, sample_rate: f32, _max_block: usize) {
        self.fs = sample_rate.max(1.0);
        for s in [&mut self.size, &mut self.damping] {
            s.prepare(self.fs, 0.050);
        }
        for s in [&mut self.width, &mut self.mix] {
            s.prepare(self.fs, PARAM_RAMP_SECONDS);
        }
        let max_pre = self.ms_to_samples(MAX_PREDELAY_MS) + 1;
        for line in &mut self.pre {
            line.allocate(max_pre);
        }
        let fs = self.fs;
        let samples = |ms: f32| ((ms * 0.001 * fs).round() as usize).max(1);
        self.diff_len = DIFFUSER_MS.map(|ms| ms.map(samples));
        for (lines, lens) in self.diff.iter_mut().zip(&self.diff_len) {
            for (line, &len) in lines.iter_mut().zip(lens) {
                line.allocate(len);
            }
        }
        self.line_len = LINE_MS.map(samples);
        let longest = self.line_len.iter().copied().max().unwrap_or(1);
        let size = (longest + 1).next_power_of_two();
        self.fdn = vec![0.0; 8 * size];
        self.fdn_mask = size - 1;
        self.fdn_w = 0;
        self.pre_tap = TapFade::new(self.predelay_samples());
        self.pre_tap.prepare(self.ms_to_samples(20.0) as u32);
        self.reset();
    }

    fn reset(&mut self) {
        for line in self.pre.iter_mut().chain(self.diff.iter_mut().flatten()) {
            line.clear();
        }
        self.fdn.fill(0.0);
        self.lp = [0.0; 8];
        self.grid_left = 0;
        self.snap();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        let Some(slot) = self.values.get_mut(index) else {
            return;
        };
        *slot = value;
        match index {
            param::SIZE => self.size.set_target(value),
            param::DAMPING => self.damping.set_target(value),
            param::PREDELAY if self.fs > 0.0 => {
                let d = self.predelay_samples();
                self.pre_tap.set(d);
            }
            param::WIDTH => self.width.set_target(value),
            param::MIX => self.mix.set_target(value),
            _ => {}
        }
    }

    fn param(&self, index: usize) -> f32 {
        self.values.get(index).copied().unwrap_or(0.0)
    }

    fn snap(&mut self) {
        self.size.snap();
        self.damping.snap();
        self.width.snap();
        self.mix.snap();
        self.pre_tap.snap();
        self.update_coefs();
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        const CHUNK: usize = 64;
        for (left, right) in left.chunks_mut(CHUNK).zip(right.chunks_mut(CHUNK)) {
            let (mut xl, mut xr) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
            let n = left.len().min(CHUNK);
            let (xl, xr) = (&mut xl[..n], &mut xr[..n]);
            xl.copy_from_slice(&left[..n]);
            xr.copy_from_slice(&right[..n]);
            self.diffuse(xl, xr);
            for (((l, r), dl), dr) in left.iter_mut().zip(right.iter_mut()).zip(xl.iter()).zip(xr.iter()) {
                if self.grid_left == 0 {
                    self.grid_left = GRID;
                    if self.size.is_smoothing() || self.damping.is_smoothing() {
                        self.size.skip(GRID);
                        self.damping.skip(GRID);
                        self.update_coefs();
                    }
                }
                self.grid_left -= 1;
                let (wl, wr) = self.network(*dl, *dr);
                let (width, mix) = (self.width.next(), self.mix.next());
                let mid = 0.5 * (wl + wr);
                let side = 0.5 * (wl - wr) * width;
                *l = (1.0 - mix) * *l + mix * (mid + side);
                *r = (1.0 - mix) * *r + mix * (mid - side);
            }
        }
    }

    /// Pre-delay plus the decay time plus the longest line.
    fn tail_seconds(&self) -> f32 {
        self.values[param::PREDELAY] * 0.001 + rt60_for_size(self.values[param::SIZE]) + LINE_MS[7] * 0.001
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil;

    const FS: f32 = 48_000.0;

    fn make() -> Box<dyn Effect> {
        Box::new(Reverb::new())
    }

    fn reverb(settings: &[(usize, f32)]) -> Reverb {
        let mut r = Reverb::new();
        r.prepare(FS, 512);
        for &(i, v) in settings {
            r.set_param(i, v);
        }
        r.snap();
        r
    }

    /// Stereo response to a unit impulse in both channels.
    fn impulse_response(r: &mut Reverb, n: usize) -> (Vec<f32>, Vec<f32>) {
        let mut l = vec![0.0; n];
        l[0] = 1.0;
        let mut rr = l.clone();
        for (cl, cr) in l.chunks_mut(512).zip(rr.chunks_mut(512)) {
            r.process(cl, cr);
        }
        (l, rr)
    }

    /// Decay time from Schroeder backward integration: T20 fit (−5 to −25 dB) times 3.
    fn measured_rt60(l: &[f32], r: &[f32]) -> f64 {
        let e: Vec<f64> = l.iter().zip(r).map(|(a, b)| (*a as f64).powi(2) + (*b as f64).powi(2)).collect();
        let mut edc = vec![0.0; e.len()];
        let mut acc = 0.0;
        for i in (0..e.len()).rev() {
            acc += e[i];
            edc[i] = acc;
        }
        let db: Vec<f64> = edc.iter().map(|v| 10.0 * (v / edc[0]).log10()).collect();
        let start = db.iter().position(|&d| d < -5.0).unwrap();
        let end = db.iter().position(|&d| d < -25.0).unwrap();
        let n = (end - start) as f64;
        let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
        for (i, &y) in db.iter().enumerate().take(end).skip(start) {
            let x = i as f64 / FS as f64;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        -60.0 / slope
    }

    #[test]
    fn realtime_safe_and_block_size_invariant() {
        testutil::assert_realtime_safe(&make);
        testutil::assert_block_size_invariant(
            &make,
            &[
                (param::SIZE, 0.9),
                (param::DAMPING, 0.1),
                (param::PREDELAY, 3.0),
                (param::WIDTH, 0.4),
                (param::MIX, 0.8),
            ],
        );
        testutil::assert_block_size_invariant(
            &make,
            &[
                (param::SIZE, 0.0),
                (param::DAMPING, 1.0),
                (param::PREDELAY, 0.0),
                (param::WIDTH, 0.0),
                (param::MIX, 1.0),
            ],
        );
    }

    /// Two one-pole low-passes at `fc` over both channels (isolates the low band).
    fn low_band(x: &[f32], fc: f32) -> Vec<f32> {
        let a = 1.0 - (-std::f32::consts::TAU * fc / FS).exp();
        let (mut s1, mut s2) = (0.0, 0.0);
        x.iter()
            .map(|&v| {
                s1 += a * (v - s1);
                s2 += a * (s1 - s2);
                s2
            })
            .collect()
    }

    #[test]
    fn decay_time_follows_size() {
        for damping in [0.0, 0.5] {
            let mut last = 0.0;
            for size in [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] {
                let expect = rt60_for_size(size) as f64;
                let mut r = reverb(&[
                    (param::SIZE, size),
                    (param::DAMPING, damping),
                    (param::PREDELAY, 0.0),
                    (param::MIX, 1.0),
                ]);
                let n = ((1.5 * expect + 0.3) * FS as f64) as usize;
                let (l, rr) = impulse_response(&mut r, n);
                let rt = measured_rt60(&l, &rr);
                // The mapping is the low-frequency decay; damping only shortens the highs.
                let rt_low = measured_rt60(&low_band(&l, 300.0), &low_band(&rr, 300.0));
                println!("damping {damping} size {size}: RT60 broadband {rt:.3} s, below 300 Hz {rt_low:.3} s (mapping {expect:.3} s)");
                assert!(rt > last * 1.1, "size {size}: {rt} not above {last}");
                assert!((rt_low / expect - 1.0).abs() < 0.3, "size {size}: {rt_low} vs {expect}");
                if damping == 0.0 {
                    assert!((rt / expect - 1.0).abs() < 0.3, "size {size}: {rt} vs {expect}");
                } else if size > 0.0 {
                    // (At size 0 the broadband fit is dominated by the onset.)
                    assert!(rt < 0.9 * rt_low, "damping shortens the broadband decay");
                }
                last = rt;
            }
        }
    }

    #[test]
    fn wet_starts_at_the_predelay() {
        for (ms, fs) in [(0.0, 48_000.0), (50.0, 48_000.0), (123.0, 44_100.0)] {
            let mut r = Reverb::new();
            r.prepare(fs, 512);
            r.set_param(param::PREDELAY, ms);
            r.set_param(param::MIX, 1.0);
            r.snap();
            let (l, _) = impulse_response(&mut r, 12_000);
            let at = (ms * fs / 1000.0).round() as usize;
            assert!(l[..at].iter().all(|v| *v == 0.0), "{ms} ms: early output");
            let first = l.iter().position(|v| v.abs() > 1e-4).unwrap();
            assert_eq!(first, at, "{ms} ms at {fs} Hz");
        }
    }

    #[test]
    fn width_zero_gives_mono_wet() {
        let xl = testutil::noise(20_000, 0.5, 11);
        let xr = testutil::noise(20_000, 0.5, 12);
        for (width, mono) in [(0.0, true), (1.0, false)] {
            let mut r = reverb(&[(param::WIDTH, width), (param::MIX, 1.0)]);
            let (mut l, mut rr) = (xl.clone(), xr.clone());
            r.process(&mut l, &mut rr);
            let diff: f32 = l.iter().zip(&rr).map(|(a, b)| (a - b).abs()).sum();
            if mono {
                assert_eq!(l, rr);
            } else {
                let corr: f32 = l.iter().zip(&rr).map(|(a, b)| a * b).sum::<f32>()
                    / (l.iter().map(|a| a * a).sum::<f32>() * rr.iter().map(|b| b * b).sum::<f32>()).sqrt();
                println!("width 1: L/R correlation {corr:.3}");
                assert!(diff > 1.0 && corr.abs() < 0.5);
            }
        }
    }

    #[test]
    fn mix_zero_is_dry() {
        let xl = testutil::noise(20_000, 0.5, 13);
        let xr = testutil::noise(20_000, 0.5, 14);
        let mut r = reverb(&[(param::SIZE, 1.0), (param::MIX, 0.0)]);
        let (mut l, mut rr) = (xl.clone(), xr.clone());
        r.process(&mut l, &mut rr);
        assert_eq!(l, xl);
        assert_eq!(rr, xr);
    }

    #[test]
    fn tail_covers_predelay_and_decay() {
        let r = reverb(&[(param::SIZE, 0.5), (param::PREDELAY, 100.0)]);
        let t = r.tail_seconds();
        assert!(t > 0.1 + 1.26 && t < 0.1 + 1.26 + 0.1, "{t}");
    }

    #[test]
    fn stable_at_extreme_sample_rates() {
        crate::dsp::delayline::checks::assert_stable_at_extreme_rates(&make);
    }

    #[test]
    #[ignore]
    fn timing() {
        crate::dsp::delayline::checks::time_effect(&make, &[(param::SIZE, 0.7)]);
    }
}
