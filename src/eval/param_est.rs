//! Parameter estimation (ST-ITO Table 2): one effect with one free parameter; the reference is
//! other content through the effect with the parameter at a target value; the match searches the
//! parameter on the input and should land on the target. Four targets evenly spaced in
//! [0.1, 0.9] (normalised), three trials each (different content pairs); MSE and Pearson ρ of
//! the normalised estimates against the targets, per effect.
//!
//! Two groups of cases: fxmatch's built-in effects ([`PARAM_EST_CASES`]) and third-party LV2
//! plugins that the style encoder never saw in training ([`PARAM_EST_LV2_CASES`]: no LV2 plugin
//! is used in training, and these are the documented evaluation set). An LV2 case whose plugin
//! is not installed is skipped and reported, not failed.

use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::content::{excerpt, other_index, require_two};
use crate::audio::AudioBuffer;
use crate::chain::{instantiate_spec, Chain, ChainSpec, EffectSpec, LV2_KIND};
use crate::effect::ParamRange;
use crate::error::{Error, Result};
use crate::metric::StyleMetric;
use crate::optimize::{MatchConfig, Matcher};
use crate::render::render;

/// One parameter-estimation case: an effect (built-in type or LV2 plugin) and the one parameter
/// that is searched, over its full range or a narrower one.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamEstCase {
    /// Built-in effect type, or `lv2`.
    pub kind: &'static str,
    /// The plugin URI of an `lv2` case.
    pub uri: Option<&'static str>,
    /// Parameter id (built-in) or control port symbol (LV2).
    pub param: &'static str,
    /// Searched range in plain units (`None`: the parameter's full range). Narrowed where the
    /// full range is mostly unmusical (ZamEQ2 cuts to -50 dB).
    pub range: Option<(f32, f32)>,
    /// Other parameters held at these plain values (the rest stay at their defaults): where a
    /// default would make the searched one inaudible (x42 darc's ratio defaults to 0, no
    /// compression, so its threshold would do nothing).
    pub fixed: &'static [(&'static str, f32)],
}

impl ParamEstCase {
    /// A built-in effect's parameter over its full range.
    pub const fn builtin(kind: &'static str, param: &'static str) -> Self {
        Self { kind, uri: None, param, range: None, fixed: &[] }
    }

    /// An LV2 plugin's control port, over `range` or the port's full range.
    pub const fn lv2(uri: &'static str, param: &'static str, range: Option<(f32, f32)>) -> Self {
        Self { kind: LV2_KIND, uri: Some(uri), param, range, fixed: &[] }
    }

    /// Short name for tables: the effect type, or the plugin's URI without its common prefix.
    pub fn effect_name(&self) -> String {
        match self.uri {
            Some(uri) => uri
                .trim_start_matches("http://drobilla.net/plugins/")
                .trim_start_matches("http://gareus.org/oss/lv2/")
                .trim_start_matches("urn:zamaudio:")
                .replace("mda/", "mda "),
            None => self.kind.to_string(),
        }
    }
}

/// The parameter each built-in effect is estimated on: its most characteristic control.
pub const PARAM_EST_CASES: [ParamEstCase; 5] = [
    ParamEstCase::builtin("eq", "mid1_gain"),
    ParamEstCase::builtin("compressor", "threshold"),
    ParamEstCase::builtin("distortion", "drive"),
    ParamEstCase::builtin("delay", "time"),
    ParamEstCase::builtin("reverb", "size"),
];

/// LV2 plugins from Debian that the style encoder never saw in training (models/README.md),
/// one characteristic control each: ST-ITO's "unseen effects" test. Packages: mda-lv2,
/// zam-plugins, x42-plugins (`scripts/setup.sh` installs them).
pub const PARAM_EST_LV2_CASES: [ParamEstCase; 6] = [
    ParamEstCase::lv2("http://drobilla.net/plugins/mda/Overdrive", "drive", None),
    ParamEstCase::lv2("http://drobilla.net/plugins/mda/Ambience", "size", None),
    ParamEstCase::lv2("urn:zamaudio:ZamEQ2", "boost1", Some((-20.0, 20.0))),
    ParamEstCase::lv2("urn:zamaudio:ZamCompX2", "thr", Some((-60.0, 0.0))),
    ParamEstCase::lv2("urn:zamaudio:ZamDelay", "time", Some((50.0, 1000.0))),
    ParamEstCase {
        fixed: &[("Ratio", 0.5)],
        ..ParamEstCase::lv2("http://gareus.org/oss/lv2/darc#stereo", "threshold", None)
    },
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
    /// Effect type, or the LV2 plugin's short name.
    pub effect: String,
    /// The LV2 plugin's URI (`None` for built-in effects).
    pub uri: Option<String>,
    /// The searched range in plain units.
    pub range: (f32, f32),
    /// Other parameters held at plain values (the case's `fixed`).
    pub fixed: Vec<(String, f32)>,
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
    /// Means over the built-in effects (`None` when none ran).
    pub builtin: Option<GroupMeans>,
    /// Means over the LV2 plugins the encoder never saw (`None` when none ran).
    pub unseen_lv2: Option<GroupMeans>,
}

/// Mean MSE and Pearson ρ over a group of effects.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GroupMeans {
    /// Mean MSE.
    pub mse: f64,
    /// Mean Pearson ρ.
    pub pearson: f64,
}

/// The means of some effects' figures (`None` for no effects).
fn means<'a>(effects: impl Iterator<Item = &'a EffectEstimate>) -> Option<GroupMeans> {
    let (mut n, mut mse, mut pearson) = (0.0, 0.0, 0.0);
    for e in effects {
        n += 1.0;
        mse += e.mse;
        pearson += e.pearson;
    }
    (n > 0.0).then(|| GroupMeans { mse: mse / n, pearson: pearson / n })
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

/// A one-effect chain with only the case's parameter free (its range, or the parameter's full
/// range), every other parameter at its default. LV2 plugins are loaded here, so a plugin that
/// is not installed fails with the package to install.
pub fn single_param_spec(case: &ParamEstCase) -> Result<ChainSpec> {
    let effect_spec = |free, fixed| EffectSpec {
        id: if case.uri.is_some() { "plugin".into() } else { case.kind.into() },
        kind: case.kind.into(),
        uri: case.uri.map(String::from),
        tail: None,
        bypass: false,
        free,
        fixed,
    };
    let effect = instantiate_spec(&effect_spec(Vec::new(), Vec::new()))?;
    // One lookup for the searched parameter and the held ones, naming the ids there are.
    let param = |id: &str| {
        effect.params().iter().find(|p| p.id == id).ok_or_else(|| {
            let known: Vec<&str> = effect.params().iter().map(|p| p.id.as_str()).collect();
            Error::invalid(
                format!("effect `{}` has no parameter `{id}`", case.effect_name()),
                format!(
                    "use one of: {} (see `fxmatch chain types`, `fxmatch plugins URI`)",
                    known.join(", ")
                ),
            )
        })
    };
    let mut fixed = Vec::new();
    for &(id, value) in case.fixed {
        fixed.push((id.to_string(), param(id)?.clamp(value)));
    }
    let spec = param(case.param)?;
    let full = spec.range();
    let range = match case.range {
        None => full,
        Some((min, max)) if full.contains(min) && full.contains(max) && min < max => {
            ParamRange { min, max, mapping: full.mapping }
        }
        Some((min, max)) => {
            return Err(Error::invalid(
                format!(
                    "range {min}..{max} of `{}` is outside its full range {}..{}",
                    case.param, full.min, full.max
                ),
                "narrow the range within the parameter's own",
            ))
        }
    };
    Ok(ChainSpec {
        name: format!("{}.{}", case.effect_name(), case.param),
        description: String::new(),
        effects: vec![effect_spec(vec![(case.param.into(), range)], fixed)],
        path: None,
    })
}

/// Run the task on `cases` (effect type, parameter). `progress` gets (matches done, in all).
pub fn param_est(
    metric: &mut dyn StyleMetric,
    clips: &[AudioBuffer],
    cases: &[ParamEstCase],
    config: &ParamEstConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ParamEstResult> {
    require_two(clips, "parameter estimation")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let total = cases.len() * config.targets.len() * config.trials;
    let mut done = 0;
    let mut effects = Vec::new();
    for case in cases {
        let spec = single_param_spec(case)?;
        let range = spec.effects[0].free[0].1;
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
        effects.push(EffectEstimate {
            effect: case.effect_name(),
            uri: case.uri.map(String::from),
            range: (range.min, range.max),
            fixed: spec.effects[0].fixed.clone(),
            param: case.param.into(),
            estimates,
            mse,
            pearson,
        });
    }
    let all = means(effects.iter()).unwrap_or(GroupMeans { mse: 0.0, pearson: 0.0 });
    Ok(ParamEstResult {
        metric: metric.name().to_string(),
        mean_mse: all.mse,
        mean_pearson: all.pearson,
        builtin: means(effects.iter().filter(|e| e.uri.is_none())),
        unseen_lv2: means(effects.iter().filter(|e| e.uri.is_some())),
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
        assert_eq!(single_param_spec(&ParamEstCase::builtin("delay", "time")).unwrap().num_free(), 1);
        let e = single_param_spec(&ParamEstCase::builtin("delay", "colour")).unwrap_err().to_string();
        assert!(e.contains("no parameter `colour`") && e.contains("time"), "{e}");
        let narrow =
            ParamEstCase { range: Some((-100.0, 0.0)), ..ParamEstCase::builtin("compressor", "threshold") };
        let e = single_param_spec(&narrow).unwrap_err().to_string();
        assert!(e.contains("outside its full range"), "{e}");
    }

    #[test]
    fn lv2_cases_have_short_names() {
        let names: Vec<String> = PARAM_EST_LV2_CASES.iter().map(|c| c.effect_name()).collect();
        assert_eq!(
            names,
            ["mda Overdrive", "mda Ambience", "ZamEQ2", "ZamCompX2", "ZamDelay", "darc#stereo"]
        );
    }
}
