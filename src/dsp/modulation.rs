//! Stereo modulation: a modulated delay (chorus, flanger, vibrato) and a tremolo on one LFO.
//!
//! One sine LFO per channel, the right one `spread` degrees ahead of the left, drives both
//! halves, as a rotary speaker moves pitch and level together:
//!
//! - **Modulated delay.** Per channel the read position sweeps around `delay`:
//!   `d[n] = delay · (1 + depth · sin φ[n])` (at depth 1 from 0 to twice the delay; at least
//!   two samples), read with third-order Lagrange interpolation. `w[n] = x[n] + feedback ·
//!   wet[n]` feeds the line, and the output is `(1 − mix)·x + mix·wet`. Short delays with
//!   feedback make a flanger, 7–25 ms a chorus, mix 1 a vibrato. Negative feedback inverts the
//!   comb (the "negative flange").
//! - **Tremolo.** The output is scaled by `1 − tremolo · (1 − sin φ) / 2`, between
//!   `1 − tremolo` and 1.
//!
//! At mix 0 and tremolo 0 (the neutral setting) the output is the input, bit for bit.
//!
//! The LFO phase advances per sample at `rate`, so a change of rate never jumps. Depth, delay,
//! feedback, mix, tremolo and spread ramp linearly over 20 ms, per sample (a change of delay is
//! a short pitch glide, as on a hardware chorus).

use super::delayline::{feedback_tail_seconds, ms_to_samples, DelayLine, FracTap};
use crate::dsp::Smoothed;
use crate::effect::{Effect, Mapping, ParamSpec, PARAM_RAMP_SECONDS};

/// Parameter indices of [`Modulation`].
pub mod param {
    /// LFO rate in Hz.
    pub const RATE: usize = 0;
    /// Sweep of the delay, as a fraction of it (0 none … 1 from 0 to twice the delay).
    pub const DEPTH: usize = 1;
    /// Centre delay in ms.
    pub const DELAY: usize = 2;
    /// Feedback of the modulated delay (negative inverts it).
    pub const FEEDBACK: usize = 3;
    /// Wet/dry mix of the modulated delay, 0 dry … 1 wet (vibrato).
    pub const MIX: usize = 4;
    /// Tremolo depth, 0 none … 1 full.
    pub const TREMOLO: usize = 5;
    /// Phase of the right channel's LFO ahead of the left one, in degrees.
    pub const SPREAD: usize = 6;
}

const MAX_DELAY_MS: f32 = 25.0;
/// The delay line covers twice the longest centre delay (depth 1).
const MAX_SWEEP: f32 = 2.0;

/// Stereo chorus/flanger/vibrato with tremolo.
pub struct Modulation {
    specs: Vec<ParamSpec>,
    values: [f32; 7],
    depth: Smoothed,
    delay_samples: Smoothed,
    feedback: Smoothed,
    mix: Smoothed,
    tremolo: Smoothed,
    spread: Smoothed,
    lines: [DelayLine; 2],
    /// Left LFO phase in cycles, in [0, 1).
    phase: f64,
    fs: f32,
}

impl Modulation {
    /// An instance at the default settings (0.8 Hz, depth 0.5, 7 ms, no feedback, mix 0.5, no
    /// tremolo, spread 90°): a gentle stereo chorus.
    pub fn new() -> Self {
        // Neutral: no wet signal and no tremolo (exactly dry); rate, depth, delay and spread
        // only shape the modulation.
        let specs = vec![
            ParamSpec::new("rate", "Rate", "Hz", 0.05, 10.0, 0.8, Mapping::Log),
            ParamSpec::new("depth", "Depth", "", 0.0, 1.0, 0.5, Mapping::Linear),
            ParamSpec::new("delay", "Delay", "ms", 0.5, MAX_DELAY_MS, 7.0, Mapping::Log),
            ParamSpec::new("feedback", "Feedback", "", -0.9, 0.9, 0.0, Mapping::Linear).with_neutral(0.0),
            ParamSpec::new("mix", "Mix", "", 0.0, 1.0, 0.5, Mapping::Linear).with_neutral(0.0),
            ParamSpec::new("tremolo", "Tremolo", "", 0.0, 1.0, 0.0, Mapping::Linear).with_neutral(0.0),
            ParamSpec::new("spread", "Stereo spread", "deg", 0.0, 180.0, 90.0, Mapping::Linear),
        ];
        let values = [0.8, 0.5, 7.0, 0.0, 0.5, 0.0, 90.0];
        Self {
            specs,
            values,
            depth: Smoothed::new(0.5),
            delay_samples: Smoothed::new(0.0),
            feedback: Smoothed::new(0.0),
            mix: Smoothed::new(0.5),
            tremolo: Smoothed::new(0.0),
            spread: Smoothed::new(0.25),
            lines: [DelayLine::new(), DelayLine::new()],
            phase: 0.0,
            fs: 0.0,
        }
    }

    fn smoother(&mut self, index: usize) -> Option<(&mut Smoothed, f32)> {
        let v = self.values[index];
        Some(match index {
            param::DEPTH => (&mut self.depth, v),
            param::DELAY => (&mut self.delay_samples, ms_to_samples(v, self.fs) as f32),
            param::FEEDBACK => (&mut self.feedback, v),
            param::MIX => (&mut self.mix, v),
            param::TREMOLO => (&mut self.tremolo, v),
            param::SPREAD => (&mut self.spread, v / 360.0),
            _ => return None,
        })
    }

    /// Store `value` and start its smoother's ramp: the effect's own ramp time, or exactly
    /// `samples` (before `prepare` only the value is kept; `prepare` sets the targets).
    fn set_value(&mut self, index: usize, value: f32, samples: Option<u32>) {
        if index >= self.values.len() {
            return;
        }
        self.values[index] = value;
        if self.fs > 0.0 {
            if let Some((s, v)) = self.smoother(index) {
                match samples {
                    Some(n) => s.set_target_over(v, n),
                    None => s.set_target(v),
                }
            }
        }
    }

    fn smoothers(&mut self) -> [&mut Smoothed; 6] {
        [
            &mut self.depth,
            &mut self.delay_samples,
            &mut self.feedback,
            &mut self.mix,
            &mut self.tremolo,
            &mut self.spread,
        ]
    }
}

/// `sin(2π · turns)` for `turns` in [−0.5, 1.5), within 1.1e-3, exact at the extremes and
/// zeros (±1 at 0.25 and 0.75 turns) and odd about every half turn. A parabola refined once
/// (cheaper than `f32::sin`, and no floor, which is a libm call on baseline x86-64): an LFO
/// needs smoothness, not the last digits.
#[inline(always)]
fn lfo_sin(turns: f32) -> f32 {
    let u = if turns >= 0.5 { turns - 1.0 } else { turns };
    let y = 8.0 * u - 16.0 * u * u.abs();
    y + 0.225 * (y * y.abs() - y)
}

/// The wet sample of one channel: the line read `d` samples back (before this sample's push).
#[inline(always)]
fn read_swept(line: &DelayLine, d: f32) -> f32 {
    let max = (line.max_age() - 3) as f32;
    line.read(&FracTap::new(d.clamp(2.0, max) - 1.0))
}

impl Effect for Modulation {
    crate::effect::effect_identity!("modulation");

    fn prepare(&mut self, sample_rate: f32, _max_block: usize) {
        self.fs = sample_rate.max(1.0);
        let max_age = (MAX_DELAY_MS * MAX_SWEEP * 0.001 * self.fs).ceil() as usize + 8;
        for line in &mut self.lines {
            line.allocate(max_age);
        }
        let fs = self.fs;
        for s in self.smoothers() {
            s.prepare(fs, PARAM_RAMP_SECONDS);
        }
        for i in 0..self.values.len() {
            if let Some((s, v)) = self.smoother(i) {
                s.set_target(v);
            }
        }
        self.reset();
    }

    fn reset(&mut self) {
        for line in &mut self.lines {
            line.clear();
        }
        self.phase = 0.0;
        self.snap();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        self.set_value(index, value, None);
    }

    fn set_param_over(&mut self, index: usize, value: f32, samples: u32) {
        self.set_value(index, value, Some(samples));
    }

    fn param(&self, index: usize) -> f32 {
        self.values.get(index).copied().unwrap_or(0.0)
    }

    fn snap(&mut self) {
        for s in self.smoothers() {
            s.snap();
        }
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let increment = (self.values[param::RATE] / self.fs) as f64;
        let [line_l, line_r] = &mut self.lines;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let (depth, delay, fb) = (self.depth.next(), self.delay_samples.next(), self.feedback.next());
            let (mix, trem, spread) = (self.mix.next(), self.tremolo.next(), self.spread.next());
            let phase_l = self.phase as f32;
            let sin_l = lfo_sin(phase_l);
            let sin_r = lfo_sin(phase_l + spread);
            let wl = read_swept(line_l, delay * (1.0 + depth * sin_l));
            let wr = read_swept(line_r, delay * (1.0 + depth * sin_r));
            line_l.push(*l + fb * wl);
            line_r.push(*r + fb * wr);
            let (gl, gr) = (1.0 - trem * 0.5 * (1.0 - sin_l), 1.0 - trem * 0.5 * (1.0 - sin_r));
            *l = ((1.0 - mix) * *l + mix * wl) * gl;
            *r = ((1.0 - mix) * *r + mix * wr) * gr;
            self.phase += increment;
            if self.phase >= 1.0 {
                self.phase -= 1.0;
            }
        }
    }

    /// The longest delay of the sweep, repeated until the feedback has fallen by 60 dB.
    fn tail_seconds(&self) -> f32 {
        let longest = self.values[param::DELAY] * 0.001 * (1.0 + self.values[param::DEPTH]);
        feedback_tail_seconds(longest, self.values[param::FEEDBACK])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil;

    fn make() -> Box<dyn Effect> {
        Box::new(Modulation::new())
    }

    fn modulation(fs: f32, settings: &[(usize, f32)]) -> Modulation {
        let mut m = Modulation::new();
        m.prepare(fs, 512);
        for &(i, v) in settings {
            m.set_param(i, v);
        }
        m.snap();
        m
    }

    fn run(m: &mut Modulation, l: &mut [f32], r: &mut [f32]) {
        for (cl, cr) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
            m.process(cl, cr);
        }
    }

    #[test]
    fn lfo_sine_is_close_and_odd_about_each_half_turn() {
        let mut worst = 0.0f32;
        for i in 0..20_000 {
            let t = -0.5 + i as f32 / 10_000.0;
            worst = worst.max((lfo_sin(t) - (std::f32::consts::TAU * t).sin()).abs());
            if t < 1.0 {
                assert!((lfo_sin(t + 0.5) + lfo_sin(t)).abs() < 1e-6, "{t}");
            }
        }
        println!("lfo_sin: worst error {worst:.2e}");
        assert!(worst < 1.1e-3, "{worst}");
        assert_eq!((lfo_sin(0.25), lfo_sin(0.75), lfo_sin(0.0), lfo_sin(0.5)), (1.0, -1.0, 0.0, 0.0));
    }

    #[test]
    fn realtime_safe_and_block_size_invariant() {
        testutil::assert_realtime_safe(&make);
        testutil::assert_block_size_invariant(
            &make,
            &[
                (param::RATE, 3.7),
                (param::DEPTH, 0.9),
                (param::DELAY, 2.1),
                (param::FEEDBACK, -0.7),
                (param::MIX, 0.6),
                (param::TREMOLO, 0.5),
            ],
        );
        testutil::assert_block_size_invariant(
            &make,
            &[(param::DELAY, 25.0), (param::DEPTH, 1.0), (param::MIX, 1.0)],
        );
    }

    #[test]
    fn neutral_setting_is_dry_bit_for_bit() {
        let mut m = modulation(48_000.0, &[(param::MIX, 0.0), (param::TREMOLO, 0.0), (param::FEEDBACK, 0.8)]);
        let x = testutil::noise(9000, 0.5, 3);
        let (mut l, mut r) = (x.clone(), x.clone());
        run(&mut m, &mut l, &mut r);
        assert_eq!(l, x);
        assert_eq!(r, x);
    }

    #[test]
    fn without_depth_the_wet_path_is_a_plain_delay() {
        // depth 0, mix 1, no feedback: the output is the input 5 ms (240 samples) late.
        let mut m = modulation(48_000.0, &[(param::DEPTH, 0.0), (param::DELAY, 5.0), (param::MIX, 1.0)]);
        let x = testutil::noise(4800, 0.5, 4);
        let (mut l, mut r) = (x.clone(), x.clone());
        run(&mut m, &mut l, &mut r);
        assert!(l[..240].iter().all(|v| *v == 0.0));
        for (y, x) in l[240..].iter().zip(&x) {
            assert!((y - x).abs() < 1e-6);
        }
        assert_eq!(l, r);
    }

    /// Zero crossings per second of `y` (twice the frequency of a sine).
    fn crossing_rate(y: &[f32], fs: f32) -> f32 {
        let n = y.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        n as f32 * fs / y.len() as f32
    }

    #[test]
    fn vibrato_bends_the_pitch_by_the_delay_sweep() {
        // Mix 1, depth 1 at 10 ms, 2 Hz: d' peaks at delay · depth · 2π · rate = 0.126, so the
        // pitch swings ±12.6 %. Measured on quarter cycles of the LFO around its peaks.
        let fs = 48_000.0;
        let mut m = modulation(
            fs,
            &[(param::RATE, 2.0), (param::DEPTH, 1.0), (param::DELAY, 10.0), (param::MIX, 1.0)],
        );
        let x = testutil::sine(fs as usize, 1000.0, fs, 0.5);
        let (mut l, mut r) = (x.clone(), x.clone());
        run(&mut m, &mut l, &mut r);
        // sin φ rises fastest at φ = 0 (t = 0, 0.5 s): d grows, the pitch falls; it falls fastest
        // at t = 0.25 s: the pitch rises.
        let q = fs as usize / 16; // 1/8 of the LFO cycle either side
        let around = |t: f32| {
            let c = (t * fs) as usize;
            crossing_rate(&l[c - q..c + q], fs) / 2.0
        };
        let (low, high) = (around(0.5), around(0.25));
        println!("vibrato: {low:.0} Hz and {high:.0} Hz around 1000 Hz");
        assert!(low < 930.0 && low > 850.0, "{low}");
        assert!(high > 1070.0 && high < 1150.0, "{high}");
        // The dry sine alone stays at 1000 Hz.
        assert!((crossing_rate(&x, fs) / 2.0 - 1000.0).abs() < 2.0);
    }

    #[test]
    fn tremolo_swings_the_level_between_one_minus_depth_and_one() {
        let fs = 48_000.0;
        let mut m = modulation(
            fs,
            &[(param::RATE, 4.0), (param::MIX, 0.0), (param::TREMOLO, 0.6), (param::SPREAD, 0.0)],
        );
        let (mut l, mut r) = (vec![1.0; fs as usize], vec![1.0; fs as usize]);
        run(&mut m, &mut l, &mut r);
        let (lo, hi) = l.iter().fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        assert!((lo - 0.4).abs() < 1e-3 && (hi - 1.0).abs() < 1e-3, "{lo} .. {hi}");
        assert_eq!(l, r, "spread 0: both channels move together");
        // Four cycles a second: the level is lowest at 3/4 of each cycle.
        let lows = (0..4).map(|k| ((k as f32 + 0.75) / 4.0 * fs) as usize);
        for i in lows {
            assert!(l[i] < 0.401, "sample {i}: {}", l[i]);
        }
    }

    #[test]
    fn spread_puts_the_channels_out_of_phase() {
        let fs = 48_000.0;
        let mut m = modulation(
            fs,
            &[(param::RATE, 2.0), (param::MIX, 0.0), (param::TREMOLO, 1.0), (param::SPREAD, 180.0)],
        );
        let (mut l, mut r) = (vec![1.0; 24_000], vec![1.0; 24_000]);
        run(&mut m, &mut l, &mut r);
        // At 180° the right gain is 1 − (1 + sin φ)/2 · 1: the two gains sum to 1.
        for (a, b) in l.iter().zip(&r) {
            assert!((a + b - 1.0).abs() < 1e-4, "{a} + {b}");
        }
    }

    #[test]
    fn flanger_feedback_deepens_the_comb() {
        // A static comb (depth 0) at 1 ms: notches at odd multiples of 500 Hz. Feedback of
        // the same sign as the feed-forward raises the peaks (1 kHz) against the notches.
        let fs = 48_000.0;
        let level = |fb: f32, freq: f32| {
            let mut m = modulation(
                fs,
                &[(param::DEPTH, 0.0), (param::DELAY, 1.0), (param::MIX, 0.5), (param::FEEDBACK, fb)],
            );
            let x = testutil::sine(24_000, freq, fs, 0.1);
            let (mut l, mut r) = (x.clone(), x);
            run(&mut m, &mut l, &mut r);
            let tail = &l[12_000..];
            (tail.iter().map(|v| v * v).sum::<f32>() / tail.len() as f32).sqrt()
        };
        let (peak0, notch0) = (level(0.0, 1000.0), level(0.0, 1500.0));
        let (peak7, notch7) = (level(0.7, 1000.0), level(0.7, 1500.0));
        println!("comb: feedback 0 peak {peak0:.4} notch {notch0:.5}; 0.7 peak {peak7:.4} notch {notch7:.5}");
        assert!(notch0 < 1e-3 * peak0, "mix 0.5 without feedback cancels at the notch");
        assert!(peak7 > 2.0 * peak0);
    }

    #[test]
    fn rate_changes_never_jump() {
        let fs = 48_000.0;
        let mut m = modulation(fs, &[(param::RATE, 0.5), (param::MIX, 0.0), (param::TREMOLO, 1.0)]);
        let (mut l, mut r) = (vec![1.0; 48_000], vec![1.0; 48_000]);
        let (a, b) = l.split_at_mut(24_000);
        let (ar, br) = r.split_at_mut(24_000);
        m.process(a, ar);
        m.set_param(param::RATE, 9.0);
        m.process(b, br);
        // The largest step of a 9 Hz full tremolo is π · 9 / fs ≈ 5.9e-4 a sample.
        let step = l.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(step < 6e-4, "{step}");
    }

    #[test]
    fn tail_covers_the_sweep_and_the_feedback() {
        let m = modulation(48_000.0, &[(param::DELAY, 10.0), (param::DEPTH, 1.0), (param::FEEDBACK, -0.5)]);
        let expect = 0.020 * (1.0 + 1e-3f32.ln() / 0.5f32.ln());
        assert!((m.tail_seconds() - expect).abs() < 1e-6);
    }

    #[test]
    fn stable_at_extreme_sample_rates() {
        crate::dsp::delayline::checks::assert_stable_at_extreme_rates(&make);
    }

    #[test]
    #[ignore]
    fn timing() {
        crate::dsp::delayline::checks::time_effect(
            &make,
            &[(param::RATE, 1.3), (param::DEPTH, 0.6), (param::FEEDBACK, 0.4), (param::TREMOLO, 0.3)],
        );
    }
}
