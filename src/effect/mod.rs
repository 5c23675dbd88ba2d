//! What an effect is, below every effect that implements it: the [`Effect`] trait and its
//! real-time contract, parameter specs ([`ParamSpec`]) with their `[0, 1]` mapping
//! ([`ParamRange`]), and the parameter ramp time that the effects and the engine's glides share
//! ([`PARAM_RAMP_SECONDS`]).
//!
//! The built-in effects ([`crate::dsp`]) and hosted plugins ([`crate::lv2`]) depend on this
//! module only; chains ([`crate::chain`]) build on top of them.

mod param;

pub use param::{unknown_param, Mapping, ParamRange, ParamSpec};

/// How long an effect takes to move a continuous parameter to a new value
/// ([`Effect::set_param`]): 20 ms. Every built-in effect ramps its parameters over this time
/// (the reverb's size and damping excepted, which move slower), and so do hosted plugins; the
/// engine's glides are this much shorter than the configured ramp so that a move ends on time.
pub const PARAM_RAMP_SECONDS: f32 = 0.020;

/// One stereo effect.
///
/// # Real-time contract
/// - [`Effect::prepare`] may allocate: call it off the audio thread before processing, and again
///   whenever the sample rate or the largest block changes.
/// - [`Effect::set_param`], [`Effect::reset`] and [`Effect::process`] must not allocate, lock,
///   make system calls or panic, for any finite input and any block from 1 to `max_block` frames.
/// - Parameter changes glide (each effect documents how: ramp or crossfade); [`Effect::snap`]
///   jumps to the targets, e.g. before an offline render.
pub trait Effect: Send {
    /// Type name as written in chain files (`eq`, `compressor`, …).
    fn kind(&self) -> &str;

    /// The parameters, in a fixed order; `index` arguments refer to this slice.
    fn params(&self) -> &[ParamSpec];

    /// Allocate and size internal state for this sample rate and largest block. Off the audio
    /// thread. Leaves the effect reset, with parameters at their targets.
    fn prepare(&mut self, sample_rate: f32, max_block: usize);

    /// Clear all signal state (delay lines, envelopes, filter memories) and jump parameters to
    /// their targets. Real-time safe.
    fn reset(&mut self);

    /// Return to the state right after [`Effect::prepare`] (signal state cleared, parameters
    /// at their targets), rebuilding internal state if need be. May allocate: off the audio
    /// thread only. Offline renders call it so that one render never hears the previous one.
    /// Built-ins just [`Effect::reset`]; hosted plugins are instantiated anew, because not every
    /// plugin clears all its state on LV2's deactivate/activate.
    fn reinitialize(&mut self) {
        self.reset();
    }

    /// Set parameter `index` to a plain value (the caller clamps it into the spec's range).
    /// The effect moves there smoothly. Real-time safe.
    fn set_param(&mut self, index: usize, value: f32);

    /// Set parameter `index` to `value`, reaching it in exactly `samples` samples (linearly)
    /// instead of over the effect's own ramp time. The engine's glides call this once per block
    /// with the block's length, so the effect interpolates between the glide's steps and the
    /// glide's shape (an S-curve, which starts and stops gently) reaches the audio as it is;
    /// the effect's own, longer ramp would lag behind the glide and stop with a kink. Effects
    /// without smoothers of their own keep the default, [`Effect::set_param`]. Real-time safe.
    fn set_param_over(&mut self, index: usize, value: f32, samples: u32) {
        let _ = samples;
        self.set_param(index, value);
    }

    /// The target value of parameter `index` in plain units.
    fn param(&self, index: usize) -> f32;

    /// Jump every smoothed parameter to its target now.
    fn snap(&mut self);

    /// Process one block in place. `left.len() == right.len() <= max_block`. Real-time safe.
    fn process(&mut self, left: &mut [f32], right: &mut [f32]);

    /// How long the effect keeps sounding after the input stops, in seconds, at the current
    /// settings (reverb and delay tails). Used to size offline renders.
    fn tail_seconds(&self) -> f32 {
        0.0
    }

    /// Why the last [`Effect::prepare`] failed (a hosted plugin that would not instantiate), in
    /// which case the effect passes audio through. Built-ins never fail.
    fn prepare_error(&self) -> Option<&str> {
        None
    }

    /// How many output samples were non-finite (NaN, ±inf) and replaced by 0 since
    /// [`Effect::prepare`]. Hosted plugins sanitise their output; built-ins stay finite.
    fn nonfinite_samples(&self) -> u64 {
        0
    }

    /// How many process calls a hosted plugin answered with an error code since
    /// [`Effect::prepare`] (each left its block dry). Built-ins never fail.
    fn process_errors(&self) -> u64 {
        0
    }
}

/// Writes an [`Effect`] impl's two identity methods: `kind()` returning `$kind`, and `params()`
/// returning the field path that holds the effect's specs (`specs` unless named).
macro_rules! effect_identity {
    ($kind:expr) => {
        $crate::effect::effect_identity!($kind, specs);
    };
    ($kind:expr, $($field:ident).+) => {
        fn kind(&self) -> &str {
            $kind
        }
        fn params(&self) -> &[$crate::effect::ParamSpec] {
            &self.$($field).+
        }
    };
}
pub(crate) use effect_identity;

#[cfg(test)]
mod tests {
    #[test]
    fn the_engine_glides_assume_the_effects_ramp() {
        // The engine shortens its glides by the effects' ramp so that a move ends on time.
        assert!((crate::engine::swap::EFFECT_RAMP_MS - super::PARAM_RAMP_SECONDS * 1000.0).abs() < 1e-4);
    }
}
