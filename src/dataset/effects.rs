//! One built-in effect at one setting, rendered offline: what the dataset applies as `f(x)`.

use rand::Rng;

use crate::chain::instantiate;
use crate::effect::{Effect, ParamSpec};
use crate::error::{Error, Result};
use crate::render::OFFLINE_BLOCK;

/// A fresh effect of one type, prepared for one sample rate, rendered from a clean state.
pub struct EffectRenderer {
    effect: Box<dyn Effect>,
}

impl EffectRenderer {
    /// A renderer for the built-in effect `kind` at `sample_rate`.
    pub fn new(kind: &str, sample_rate: u32) -> Result<Self> {
        let mut effect = instantiate(kind).ok_or_else(|| {
            Error::invalid(
                format!("unknown effect type `{kind}`"),
                format!("use one of: {}", crate::dsp::BUILTIN_KINDS.join(", ")),
            )
        })?;
        effect.prepare(sample_rate as f32, OFFLINE_BLOCK);
        Ok(Self { effect })
    }

    /// The effect's parameters.
    pub fn params(&self) -> &[ParamSpec] {
        self.effect.params()
    }

    /// Renders `left`/`right` through the effect at `plain` (one value per parameter, plain
    /// units, clamped into range) from a clean state, and returns the output from frame `skip` on
    /// (the first `skip` frames are pre-roll that brings envelopes and tails into steady state).
    pub fn render(
        &mut self,
        plain: &[f32],
        left: &[f32],
        right: &[f32],
        skip: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        debug_assert_eq!(plain.len(), self.effect.params().len());
        debug_assert_eq!(left.len(), right.len());
        for (i, &v) in plain.iter().enumerate() {
            let v = self.effect.params()[i].clamp(v);
            self.effect.set_param(i, v);
        }
        self.effect.reset();
        self.effect.snap();
        let (mut l, mut r) = (left.to_vec(), right.to_vec());
        for (bl, br) in l.chunks_mut(OFFLINE_BLOCK).zip(r.chunks_mut(OFFLINE_BLOCK)) {
            self.effect.process(bl, br);
        }
        let skip = skip.min(l.len());
        (l.split_off(skip), r.split_off(skip))
    }
}

/// A uniformly random setting in normalised space, mapped to plain units.
pub fn random_setting(specs: &[ParamSpec], rng: &mut impl Rng) -> Vec<f32> {
    specs.iter().map(|s| s.range().to_plain(rng.random::<f64>())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_from_a_clean_state_and_drops_the_preroll() {
        let mut r = EffectRenderer::new("gain", 48_000).unwrap();
        let x: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
        let (l, rr) = r.render(&[-6.0], &x, &x, 500);
        assert_eq!(l.len(), 1500);
        let g = crate::dsp::db_to_gain(-6.0);
        for (i, (&a, &b)) in l.iter().zip(&rr).enumerate() {
            assert!((a - x[i + 500] * g).abs() < 1e-5 && a == b);
        }
        assert!(EffectRenderer::new("nope", 48_000).is_err());
    }
}
