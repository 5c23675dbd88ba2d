//! fxmatch's built-in effects and the real-time building blocks they share.
//!
//! Every effect here follows the [`Effect`] real-time contract: it allocates only in
//! `prepare`, and its `process` neither allocates, locks nor panics for any finite input.

mod biquad;
mod compressor;
mod delay;
mod delayline;
mod denormal;
mod distortion;
mod eq;
mod fastmath;
mod gain;
mod modulation;
mod oversample;
mod reverb;
mod smooth;
#[cfg(test)]
pub(crate) mod testutil;

pub use biquad::{high_pass, high_shelf, low_pass, low_shelf, peaking, Biquad, Coeffs};
pub use compressor::{param as compressor_param, Compressor};
pub use delay::Delay;
pub use denormal::DenormalGuard;
pub use distortion::Distortion;
pub use eq::{param as eq_param, ParametricEq};
pub use fastmath::{fast_exp2, fast_log2};
pub use gain::Gain;
pub use modulation::{param as modulation_param, Modulation};
pub use reverb::Reverb;
pub use smooth::{blend_dry, Smoothed};

use crate::effect::Effect;

/// `Default` for the built-in effects: each is built by its `new()`, which takes no arguments.
macro_rules! default_by_new {
    ($($effect:ty),+) => {
        $(impl Default for $effect {
            fn default() -> Self {
                Self::new()
            }
        })+
    };
}
default_by_new!(Gain, ParametricEq, Compressor, Distortion, Modulation, Delay, Reverb);

/// The type names of the built-in effects, as written in chain files.
pub const BUILTIN_KINDS: &[&str] =
    &["gain", "eq", "compressor", "distortion", "modulation", "delay", "reverb"];

/// A fresh built-in effect of this type, or `None` for an unknown type name.
pub fn builtin(kind: &str) -> Option<Box<dyn Effect>> {
    Some(match kind {
        "gain" => Box::new(Gain::new()),
        "eq" => Box::new(ParametricEq::new()),
        "compressor" => Box::new(Compressor::new()),
        "distortion" => Box::new(Distortion::new()),
        "modulation" => Box::new(Modulation::new()),
        "delay" => Box::new(Delay::new()),
        "reverb" => Box::new(Reverb::new()),
        _ => return None,
    })
}

/// Decibels to linear amplitude.
#[inline]
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db * 0.05)
}

/// Linear amplitude to decibels (floored at -200 dB for zero).
#[inline]
pub fn gain_to_db(gain: f32) -> f32 {
    20.0 * gain.abs().max(1e-10).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_is_realtime_safe_and_block_size_invariant() {
        testutil::assert_realtime_safe(&|| Box::new(Gain::new()));
        testutil::assert_block_size_invariant(&|| Box::new(Gain::new()), &[(gain::param::GAIN, -12.0)]);
    }

    #[test]
    fn every_builtin_instantiates_with_valid_specs() {
        for kind in BUILTIN_KINDS {
            let e = builtin(kind).unwrap();
            assert_eq!(e.kind(), *kind);
            for (i, p) in e.params().iter().enumerate() {
                assert_eq!(e.param(i), p.default, "{kind}.{} starts at its default", p.id);
            }
        }
    }
}
