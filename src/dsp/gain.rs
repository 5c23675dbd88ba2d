//! Gain: the simplest effect, and the template for the others.

use crate::dsp::{db_to_gain, Smoothed};
use crate::effect::{Effect, Mapping, ParamSpec, PARAM_RAMP_SECONDS};

/// Parameter indices of [`Gain`].
pub mod param {
    /// Gain in dB.
    pub const GAIN: usize = 0;
}

/// Stereo gain in dB, ramped over 20 ms.
pub struct Gain {
    specs: Vec<ParamSpec>,
    gain_db: f32,
    gain: Smoothed,
}

impl Gain {
    /// A unity-gain instance.
    pub fn new() -> Self {
        // Neutral: unity gain.
        let specs =
            vec![ParamSpec::new("gain", "Gain", "dB", -48.0, 24.0, 0.0, Mapping::Linear).with_neutral(0.0)];
        Self { specs, gain_db: 0.0, gain: Smoothed::new(1.0) }
    }
}

impl Effect for Gain {
    crate::effect::effect_identity!("gain");

    fn prepare(&mut self, sample_rate: f32, _max_block: usize) {
        self.gain.prepare(sample_rate, PARAM_RAMP_SECONDS);
    }

    fn reset(&mut self) {
        self.gain.snap();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        if index == param::GAIN {
            self.gain_db = value;
            self.gain.set_target(db_to_gain(value));
        }
    }

    fn set_param_over(&mut self, index: usize, value: f32, samples: u32) {
        if index == param::GAIN {
            self.gain_db = value;
            self.gain.set_target_over(db_to_gain(value), samples);
        }
    }

    fn param(&self, index: usize) -> f32 {
        match index {
            param::GAIN => self.gain_db,
            _ => 0.0,
        }
    }

    fn snap(&mut self) {
        self.gain.snap();
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        if self.gain.is_smoothing() {
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                let g = self.gain.next();
                *l *= g;
                *r *= g;
            }
        } else {
            let g = self.gain.current();
            for (l, r) in left.iter_mut().zip(right.iter_mut()) {
                *l *= g;
                *r *= g;
            }
        }
    }
}
