//! Parameter estimation (ST-ITO Table 2): one effect with one free parameter; the reference is
//! other content through the effect with the parameter at a target value; the match searches the
//! parameter on the input and should land on the target. Four targets evenly spaced in
//! [0.1, 0.9] (normalised), three trials each (different content pairs); MSE and Pearson ρ of
//! the normalised estimates against the targets, per effect.

use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::content::{excerpt, other_index, require_two};
use crate::audio::AudioBuffer;
use crate::chain::{instantiate, Chain, ChainSpec, EffectSpec};
use crate::error::{Error, Result};
use crate::metric::StyleMetric;
use crate::optimize::{MatchConfig, Matcher};
use crate::render::render;

/// The parameter each built-in effect is estimated on: its most characteristic control.
pub const PARAM_EST_CASES: [(&str, &str); 5] = [
    ("eq", "mid1_gain"),
    ("compressor", "threshold"),
    ("distortion", "drive"),
    ("delay", "time"),
    ("reverb", "size"),
];

/// Settings of a parameter-estimation run.
#[derive(Debug, Clone, Serialize)]
pub struct ParamEstConfig {
    /// Normalised target values.
    pub targets: Vec<f64>,
    /// Trials per target.
    pub trials: usize,
    /// Random seed (content pairs and searches).
    pub seed: u64,
    /// Length of each excerpt in seconds.
    pub excerpt_seconds: f32,
    /// The search.
    pub search: MatchConfig,
}

impl Default for ParamEstConfig {
    fn default() -> Self {
        Self {
            targets: vec![0.1, 0.1 + 0.8 / 3.0, 0.1 + 1.6 / 3.0, 0.9],
            trials: 3,
            seed: 0,
            excerpt_seconds: 3.0,
            search: MatchConfig::default(),
        }
    }
}

/// One effect's estimates.
#[derive(Debug, Clone, Serialize)]
pub struct EffectEstimate {
    /// Effect type.
    pub effect: String,
    /// The estimated parameter.
    pub param: String,
    /// (target, estimate) pairs, normalised.
    pub estimates: Vec<(f64, f64)>,
    /// Mean squared error of the normalised estimates.
    pub mse: f64,
    /// Pearson correlation of estimates and targets.
    pub pearson: f64,
}

/// All effects under one metric.
#[derive(Debug, Clone, Serialize)]
pub struct ParamEstResult {
    /// Metric name.
    pub metric: String,
    /// Per effect.
    pub effects: Vec<EffectEstimate>,
    /// Mean MSE over effects.
    pub mean_mse: f64,
    /// Mean Pearson ρ over effects.
    pub mean_pearson: f64,
}

/// Pearson correlation; 0 when either side is constant.
pub fn pearson(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = pairs.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// A one-effect chain with only `param` free (full range), every other parameter at its default.
pub fn single_param_spec(kind: &str, param: &str) -> Result<ChainSpec> {
    let effect = instantiate(kind).ok_or_else(|| {
        Error::invalid(format!("unknown effect type `{kind}`"), "see `fxmatch chain types`")
    })?;
    let spec = effect.params().iter().find(|p| p.id == param).ok_or_else(|| {
        Error::invalid(format!("effect `{kind}` has no parameter `{param}`"), "see `fxmatch chain types`")
    })?;
    Ok(ChainSpec {
        name: format!("{kind}.{param}"),
        description: String::new(),
        effects: vec![EffectSpec {
            id: kind.into(),
            kind: kind.into(),
            uri: None,
            tail: None,
            bypass: false,
            free: vec![(param.into(), spec.range())],
            fixed: Vec::new(),
        }],
        path: None,
    })
}

/// Run the task on `cases` (effect type, parameter). `progress` gets (matches done, in all).
pub fn param_est(
    metric: &mut dyn StyleMetric,
    clips: &[AudioBuffer],
    cases: &[(&str, &str)],
    config: &ParamEstConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ParamEstResult> {
    require_two(clips, "parameter estimation")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let total = cases.len() * config.targets.len() * config.trials;
    let mut done = 0;
    let mut effects = Vec::new();
    for &(kind, param) in cases {
        let spec = single_param_spec(kind, param)?;
        let mut chain = Chain::from_spec(&spec)?;
        let mut matcher = Matcher::new(&spec, metric, config.search.clone())?;
        let mut estimates = Vec::new();
        for &target in &config.targets {
            for _ in 0..config.trials {
                let a = rng.random_range(0..clips.len());
                let b = other_index(clips.len(), a, &mut rng);
                let input = excerpt(&clips[a], config.excerpt_seconds, &mut rng);
                chain.set_normalized(&[target]);
                let reference =
                    render(&mut chain, &excerpt(&clips[b], config.excerpt_seconds, &mut rng), 0.0)?;
                let (rl, rr) = reference.to_stereo();
                let z_ref = metric.embed(&rl, &rr, reference.sample_rate)?;
                let (l, r) = input.to_stereo();
                let outcome =
                    matcher.run(&l, &r, input.sample_rate, &z_ref, &AtomicBool::new(false), &mut |_| {})?;
                estimates.push((target, outcome.x[0]));
                done += 1;
                progress(done, total);
            }
        }
        let mse = estimates.iter().map(|(t, e)| (t - e).powi(2)).sum::<f64>() / estimates.len() as f64;
        let pearson = pearson(&estimates);
        effects.push(EffectEstimate { effect: kind.into(), param: param.into(), estimates, mse, pearson });
    }
    let n = effects.len().max(1) as f64;
    Ok(ParamEstResult {
        metric: metric.name().to_string(),
        mean_mse: effects.iter().map(|e| e.mse).sum::<f64>() / n,
        mean_pearson: effects.iter().map(|e| e.pearson).sum::<f64>() / n,
        effects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_of_known_sets() {
        assert!((pearson(&[(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[(0.0, 2.0), (1.0, 1.0), (2.0, 0.0)]) + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[(0.0, 1.0), (1.0, 1.0)]), 0.0, "constant estimates: no correlation");
    }

    #[test]
    fn single_param_spec_names_what_is_missing() {
        assert_eq!(single_param_spec("delay", "time").unwrap().num_free(), 1);
        let e = single_param_spec("delay", "colour").unwrap_err().to_string();
        assert!(e.contains("no parameter `colour`") && e.contains("chain types"), "{e}");
    }
}
