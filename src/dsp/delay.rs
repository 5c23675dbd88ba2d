//! Stereo feedback delay with damping in the feedback path and a wet/dry mix.
//!
//! Per channel: `wet[n] = w[n − d]`, `w[n] = x[n] + feedback · LP(wet)[n]`, output
//! `(1 − mix)·x + mix·wet`. The first echo is therefore undamped and has amplitude `mix`; each
//! further repeat is scaled by `feedback` and once more by the damping low-pass.
//!
//! - **Time** (1 to 1000 ms) is read with third-order Lagrange interpolation (exact for whole
//!   samples). A change of time does not slide the read position (that would bend the pitch):
//!   the old and the new tap crossfade over 25 ms (smoothstep); a change that arrives during a
//!   fade starts when that fade ends, with the latest value.
//! - **Damping** sets a one-pole low-pass `y += (1 − p)·(x − y)` in the feedback path, with
//!   cutoff `fc = 1 kHz · damping^−1.5` (damping 1: 1 kHz, 0.5: 2.8 kHz, 0.3: 6.1 kHz) and pole
//!   `p = exp(−2π·fc/fs)`. As damping → 0 the pole goes to 0: exactly no filtering at 0.
//! - **Feedback**, **mix** and the damping pole ramp linearly over 20 ms, per sample.

use super::delayline::{feedback_tail_seconds, ms_to_samples, DelayLine, FracTap, TapFade};
use crate::dsp::Smoothed;
use crate::effect::{Effect, Mapping, ParamSpec, PARAM_RAMP_SECONDS};

/// Parameter indices of [`Delay`].
pub mod param {
    /// Delay time in ms.
    pub const TIME: usize = 0;
    /// Feedback gain per repeat.
    pub const FEEDBACK: usize = 1;
    /// Wet/dry mix, 0 dry … 1 wet.
    pub const MIX: usize = 2;
    /// Damping of the repeats, 0 none … 1 heavy.
    pub const DAMPING: usize = 3;
}

const MAX_TIME_MS: f32 = 1000.0;
const FADE_SECONDS: f32 = 0.025;

/// Damping-filter pole for `damping` at `fs` (see the module notes).
fn damping_pole(damping: f32, fs: f32) -> f32 {
    if damping <= 0.0 {
        return 0.0;
    }
    let fc = 1000.0 / (damping * damping.sqrt());
    (-std::f32::consts::TAU * fc / fs).exp()
}

/// Stereo feedback delay.
pub struct Delay {
    specs: Vec<ParamSpec>,
    time_ms: f32,
    feedback_v: f32,
    mix_v: f32,
    damping_v: f32,
    feedback: Smoothed,
    mix: Smoothed,
    pole: Smoothed,
    lines: [DelayLine; 2],
    taps: TapFade<FracTap>,
    lp: [f32; 2],
    fs: f32,
}

impl Delay {
    /// An instance at the default settings (250 ms, feedback 0.3, mix 0.3, damping 0.3).
    pub fn new() -> Self {
        // Neutral: mix 0 (exactly dry) and no feedback; time and damping only shape the echoes.
        let specs = vec![
            ParamSpec::new("time", "Time", "ms", 1.0, MAX_TIME_MS, 250.0, Mapping::Log),
            ParamSpec::new("feedback", "Feedback", "", 0.0, 0.95, 0.3, Mapping::Linear).with_neutral(0.0),
            ParamSpec::new("mix", "Mix", "", 0.0, 1.0, 0.3, Mapping::Linear).with_neutral(0.0),
            ParamSpec::new("damping", "Damping", "", 0.0, 1.0, 0.3, Mapping::Linear),
        ];
        Self {
            specs,
            time_ms: 250.0,
            feedback_v: 0.3,
            mix_v: 0.3,
            damping_v: 0.3,
            feedback: Smoothed::new(0.3),
            mix: Smoothed::new(0.3),
            pole: Smoothed::new(0.0),
            lines: [DelayLine::new(), DelayLine::new()],
            taps: TapFade::new(FracTap::new(1.0)),
            lp: [0.0; 2],
            fs: 0.0,
        }
    }

    /// The read tap for `time_ms` (read before the current sample is pushed, so a delay of
    /// `d` samples is age `d − 1`).
    fn tap_for(&self, time_ms: f32) -> FracTap {
        let max = self.lines[0].max_age().min(self.lines[1].max_age()) as f64;
        // The bounds are whole samples, so clamping keeps whole-sample times whole.
        let d = ms_to_samples(time_ms, self.fs).clamp(2.0, (max - 3.0).max(2.0));
        FracTap::new((d - 1.0) as f32)
    }
}

impl Effect for Delay {
    crate::effect::effect_identity!("delay");

    fn prepare(&mut self, sample_rate: f32, _max_block: usize) {
        self.fs = sample_rate.max(1.0);
        let max_age = (MAX_TIME_MS * 0.001 * self.fs).ceil() as usize + 8;
        for line in &mut self.lines {
            line.allocate(max_age);
        }
        for s in [&mut self.feedback, &mut self.mix, &mut self.pole] {
            s.prepare(self.fs, PARAM_RAMP_SECONDS);
        }
        self.pole.set_target(damping_pole(self.damping_v, self.fs));
        self.taps = TapFade::new(self.tap_for(self.time_ms));
        self.taps.prepare((FADE_SECONDS * self.fs).round() as u32);
        self.reset();
    }

    fn reset(&mut self) {
        for line in &mut self.lines {
            line.clear();
        }
        self.lp = [0.0; 2];
        self.snap();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            param::TIME => {
                self.time_ms = value;
                if self.fs > 0.0 {
                    let tap = self.tap_for(value);
                    self.taps.set(tap);
                }
            }
            param::FEEDBACK => {
                self.feedback_v = value;
                self.feedback.set_target(value);
            }
            param::MIX => {
                self.mix_v = value;
                self.mix.set_target(value);
            }
            param::DAMPING => {
                self.damping_v = value;
                if self.fs > 0.0 {
                    self.pole.set_target(damping_pole(value, self.fs));
                }
            }
            _ => {}
        }
    }

    fn param(&self, index: usize) -> f32 {
        match index {
            param::TIME => self.time_ms,
            param::FEEDBACK => self.feedback_v,
            param::MIX => self.mix_v,
            param::DAMPING => self.damping_v,
            _ => 0.0,
        }
    }

    fn snap(&mut self) {
        self.feedback.snap();
        self.mix.snap();
        self.pole.snap();
        self.taps.snap();
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let [line_l, line_r] = &mut self.lines;
        let moving = self.feedback.is_smoothing()
            || self.mix.is_smoothing()
            || self.pole.is_smoothing()
            || self.taps.is_fading();
        if !moving {
            let (fb, mix, p, tap) =
                (self.feedback.current(), self.mix.current(), self.pole.current(), self.taps.cur);
            let [mut lp_l, mut lp_r] = self.lp;
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                let (wl, wr) = (line_l.read(&tap), line_r.read(&tap));
                lp_l = wl + p * (lp_l - wl);
                lp_r = wr + p * (lp_r - wr);
                line_l.push(*l + fb * lp_l);
                line_r.push(*r + fb * lp_r);
                *l = (1.0 - mix) * *l + mix * wl;
                *r = (1.0 - mix) * *r + mix * wr;
            }
            self.lp = [lp_l, lp_r];
            return;
        }
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let (fb, mix, p) = (self.feedback.next(), self.mix.next(), self.pole.next());
            let (wl, wr) = if self.taps.is_fading() {
                let (a, b, w) = self.taps.step();
                let (al, ar) = (line_l.read(&a), line_r.read(&a));
                (al + w * (line_l.read(&b) - al), ar + w * (line_r.read(&b) - ar))
            } else {
                (line_l.read(&self.taps.cur), line_r.read(&self.taps.cur))
            };
            let [lp_l, lp_r] = &mut self.lp;
            *lp_l = wl + p * (*lp_l - wl);
            *lp_r = wr + p * (*lp_r - wr);
            line_l.push(*l + fb * *lp_l);
            line_r.push(*r + fb * *lp_r);
            *l = (1.0 - mix) * *l + mix * wl;
            *r = (1.0 - mix) * *r + mix * wr;
        }
    }

    /// Time until the repeats have fallen by 60 dB (ignoring damping, which only shortens it).
    fn tail_seconds(&self) -> f32 {
        feedback_tail_seconds(self.time_ms * 0.001, self.feedback_v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil;

    fn make() -> Box<dyn Effect> {
        Box::new(Delay::new())
    }

    fn delay(fs: f32, time: f32, feedback: f32, mix: f32, damping: f32) -> Delay {
        let mut d = Delay::new();
        d.prepare(fs, 512);
        for (i, v) in
            [(param::TIME, time), (param::FEEDBACK, feedback), (param::MIX, mix), (param::DAMPING, damping)]
        {
            d.set_param(i, v);
        }
        d.snap();
        d
    }

    /// Left-channel impulse response, `n` frames, processed in 512-frame blocks.
    fn impulse_response(d: &mut Delay, n: usize) -> Vec<f32> {
        let mut l = vec![0.0; n];
        l[0] = 1.0;
        let mut r = l.clone();
        for (cl, cr) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
            d.process(cl, cr);
        }
        assert_eq!(l, r);
        l
    }

    #[test]
    fn realtime_safe_and_block_size_invariant() {
        testutil::assert_realtime_safe(&make);
        testutil::assert_block_size_invariant(
            &make,
            &[(param::TIME, 37.3), (param::FEEDBACK, 0.8), (param::MIX, 0.7), (param::DAMPING, 0.6)],
        );
        testutil::assert_block_size_invariant(
            &make,
            &[(param::TIME, 1.5), (param::FEEDBACK, 0.95), (param::MIX, 1.0), (param::DAMPING, 0.0)],
        );
    }

    #[test]
    fn impulse_arrives_on_the_exact_sample_with_amplitude_mix() {
        for fs in [44_100.0, 48_000.0] {
            for time in [10.0, 250.0] {
                let mix = 0.4;
                let mut d = delay(fs, time, 0.3, mix, 0.0);
                let at = (time * fs / 1000.0).round() as usize;
                let h = impulse_response(&mut d, 2 * at + 10);
                assert!((h[0] - (1.0 - mix)).abs() < 1e-6);
                let first = h.iter().enumerate().skip(1).find(|(_, v)| v.abs() > 1e-6).map(|(i, _)| i);
                assert_eq!(first, Some(at), "{time} ms at {fs} Hz");
                assert!((h[at] - mix).abs() < 1e-6, "amplitude {}", h[at]);
                assert!(h[at + 1..2 * at].iter().all(|v| v.abs() < 1e-6));
            }
        }
    }

    #[test]
    fn echoes_decay_by_feedback_per_repeat() {
        let (fb, mix) = (0.6, 0.5);
        let mut d = delay(48_000.0, 20.0, fb, mix, 0.0);
        let h = impulse_response(&mut d, 960 * 7);
        for k in 1..=6 {
            let expect = mix * fb.powi(k as i32 - 1);
            assert!((h[960 * k] - expect).abs() < 1e-5, "echo {k}: {} vs {expect}", h[960 * k]);
        }
        assert!((d.tail_seconds() - 0.020 * (1.0 + 1e-3f32.ln() / 0.6f32.ln())).abs() < 1e-6);
    }

    /// High (above 5 kHz) over low (below 1 kHz) energy of the echo starting at `start`, in dB.
    fn echo_tilt_db(h: &[f32], start: usize, len: usize) -> f64 {
        let seg = &h[start - 8..start - 8 + len];
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(len);
        let mut x: Vec<f64> = seg.iter().map(|&v| v as f64).collect();
        let mut spec = fft.make_output_vec();
        fft.process(&mut x, &mut spec).unwrap();
        let bin = |hz: f64| (hz / 48_000.0 * len as f64) as usize;
        let lo: f64 = spec[..bin(1000.0)].iter().map(|c| c.norm_sqr()).sum::<f64>() / bin(1000.0) as f64;
        let hi: f64 = spec[bin(5000.0)..].iter().map(|c| c.norm_sqr()).sum::<f64>()
            / (len / 2 + 1 - bin(5000.0)) as f64;
        10.0 * (hi / lo).log10()
    }

    #[test]
    fn damping_darkens_later_echoes() {
        let d_samples = 2400; // 50 ms
        for (damping, min_drop) in [(0.0, -0.01), (0.3, 3.0), (0.7, 15.0)] {
            let mut d = delay(48_000.0, 50.0, 0.8, 1.0, damping);
            let h = impulse_response(&mut d, d_samples * 5 + 1000);
            let first = echo_tilt_db(&h, d_samples, 1024);
            let fourth = echo_tilt_db(&h, 4 * d_samples, 1024);
            println!("damping {damping}: echo 1 {first:.1} dB, echo 4 {fourth:.1} dB (high/low)");
            assert!(first - fourth > min_drop, "damping {damping}: {first} → {fourth}");
            if damping == 0.0 {
                assert!((first - fourth).abs() < 0.01);
            }
        }
    }

    fn max_step(y: &[f32]) -> f32 {
        y.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
    }

    /// Max step while `time` changes from 250 to 183.7 ms on a 1 kHz sine, and the steady
    /// max step before the change.
    fn steps_around_time_change(fb: f32, fade_len: Option<u32>) -> (f32, f32) {
        let fs = 48_000.0;
        let mut d = delay(fs, 250.0, fb, 1.0, 0.0);
        if let Some(len) = fade_len {
            d.taps.prepare(len);
        }
        let x = testutil::sine(fs as usize * 2, 1000.0, fs, 0.5);
        let (mut l, mut r) = (x.clone(), x);
        let split = fs as usize;
        let (a, b) = l.split_at_mut(split);
        let (ar, br) = r.split_at_mut(split);
        d.process(a, ar);
        d.set_param(param::TIME, 183.7);
        for (cl, cr) in b.chunks_mut(100).zip(br.chunks_mut(100)) {
            d.process(cl, cr);
        }
        (max_step(&l[split / 2..split]), max_step(&l[split - 1..split + 4800]))
    }

    #[test]
    fn time_change_crossfades_without_clicks() {
        let (steady, during) = steps_around_time_change(0.0, None);
        println!("feedback 0: steady max step {steady:.5}, during change {during:.5}");
        // The fade itself adds a sliver of slope (< 1 %); a click would add far more.
        assert!(during <= steady * 1.01, "{during} > {steady}");
        // Control: without a crossfade the same change jumps.
        let (steady_j, jump) = steps_around_time_change(0.0, Some(1));
        println!("no crossfade: steady {steady_j:.5}, during change {jump:.5}");
        assert!(jump > 3.0 * steady_j);
        // With feedback the steady level depends on the delay; bound the step by the largest
        // steady slope of this loop, the sine's slope at its peak gain 1/(1 − fb).
        let fb = 0.5;
        let (_, during) = steps_around_time_change(fb, None);
        let bound = (std::f32::consts::TAU * 1000.0 / 48_000.0) * 0.5 / (1.0 - fb);
        println!("feedback {fb}: during change {during:.5}, bound {bound:.5}");
        assert!(during <= bound * 1.01, "{during} > {bound}");
    }

    #[test]
    fn mix_zero_is_dry() {
        let mut d = delay(48_000.0, 30.0, 0.9, 0.0, 0.2);
        let x = testutil::noise(9000, 0.5, 3);
        let (mut l, mut r) = (x.clone(), x.clone());
        d.process(&mut l, &mut r);
        assert_eq!(l, x);
        assert_eq!(r, x);
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
            &[(param::TIME, 333.3), (param::FEEDBACK, 0.5), (param::DAMPING, 0.4)],
        );
    }
}
