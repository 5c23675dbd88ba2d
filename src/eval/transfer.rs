//! Style transfer (BENCHMARK.md §2): dry inputs against references made from *other* content
//! through a realistic processing. The references come from three sources: fxmatch's own chain
//! at named settings (the presets in `config/styles/`), where the oracle is exactly reachable
//! and the parameter error is defined; and processors fxmatch does not have ([`super::external`]:
//! sox effects, LV2 plugins rendered by lv2file), where it is not.
//!
//! For each case, every system's output (the dry input, the input through the chain at a
//! random setting, the rule-based baseline ([`super::baseline`]), the match (one system per
//! profile), and the oracle, i.e. the input through the reference's own processing) is scored
//! twice: its similarity to the reference under the metric the match optimises, and its
//! fidelity, the transfer gain `1 − d(output, oracle) / d(input, oracle)` with the independent
//! audio distance `d` of [`super::fidelity`]. Summaries: the median gain and the share of cases
//! where the output is closer to the oracle than the input, overall and per source.
//!
//! With [`TransferConfig::references`] above 1, each case also gets further references of the
//! same processing on other content (neither the input's nor the case's reference content), as
//! a player who brings several clips of one production: the searches aim at the references'
//! mean embedding and the predictor reads them as [`TransferConfig::pool`] says. The cases
//! themselves (input, reference content, random settings) are the same for any count, so runs
//! with one reference and with several compare case by case.

use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::baseline::rule_based_transfer;
use super::bootstrap::median_interval;
use super::content::{other_index, random_settings, require_two};
use super::external::{render_external, ExternalStyle};
use super::fidelity::{distance, transfer_gain, Distance};
use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec, Params};
use crate::error::{Error, Result};
use crate::metric::{similarity, Embedding, StyleMetric};
use crate::optimize::{loudest_window, MatchConfig, Matcher};
use crate::render::render;

/// Source label of references made by the chain the match searches.
pub const CHAIN_SOURCE: &str = "fxmatch-chain";
/// Label of the summary over every source fxmatch does not have (sox and lv2file).
pub const EXTERNAL_SOURCE: &str = "external";

/// Settings of a transfer run.
#[derive(Debug, Clone, Serialize)]
pub struct TransferConfig {
    /// Input/reference-content pairs per reference style (preset or external chain).
    pub pairs_per_preset: usize,
    /// Random seed (pairs, random settings, searches).
    pub seed: u64,
    /// Match profiles to compare, by name.
    pub profiles: Vec<(String, MatchConfig)>,
    /// The parameter predictor and the systems that use it: `predict` (the prediction alone)
    /// and `hybrid:NAME` for each (NAME, search settings) listed (the search started at the
    /// prediction). `None`: neither.
    #[serde(skip)]
    pub predictor: Option<(crate::predict::Predictor, Vec<(String, MatchConfig)>)>,
    /// With settings, the row `oracle-fit`: the chain setting fitted to the oracle itself
    /// ([`crate::predict::projection::OracleFitter`], on the input's loudest segment). Not a
    /// system (it sees the oracle): it shows how close the chain can come at all, the ceiling
    /// of every system here, and it is the target a projection example teaches.
    pub oracle_fit: Option<crate::predict::projection::FitConfig>,
    /// With settings, the row `judge-fit`: the same fit with this benchmark's own fidelity
    /// distance to the oracle as its loss. It optimises the judge itself, so it is the ceiling
    /// of the chain under the judge: no matcher of this chain can score above it but by luck.
    pub judge_fit: Option<crate::predict::projection::FitConfig>,
    /// References per case, at least 1 (module docs). The rule-based baseline reads the
    /// case's own reference only.
    pub references: usize,
    /// How the predictor reads several references.
    pub pool: ReferencePool,
}

/// How the predictor reads a case's several references.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferencePool {
    /// One prediction from the references' mean description (latents, statistics, embeddings).
    #[default]
    Features,
    /// The mean of one prediction per reference.
    Predictions,
}

/// One system's figures over a group of cases.
#[derive(Debug, Clone, Serialize)]
pub struct SourceScore {
    /// The group: a source (`fxmatch-chain`, `sox`, `lv2file`) or `external` (sox and lv2file).
    pub source: String,
    /// Cases in the group.
    pub cases: usize,
    /// Mean similarity to the reference.
    pub mean_similarity: f64,
    /// Median transfer gain.
    pub median_gain: f64,
    /// A 90 % interval of the median gain ([`median_interval`]: the reference styles
    /// resampled), so that a difference between two runs can be read against the noise of
    /// a few pairs per style.
    pub median_gain_interval: [f64; 2],
    /// Share of cases whose output is strictly closer to the oracle than the input is.
    pub share_closer: f64,
    /// Mean parameter error (matches on fxmatch-chain cases only).
    pub mean_param_error: Option<f64>,
}

/// One system over all cases.
#[derive(Debug, Clone, Serialize)]
pub struct SystemScore {
    /// System: input, random, rule-based, match:PROFILE, oracle.
    pub system: String,
    /// Mean similarity to the reference.
    pub mean_similarity: f64,
    /// Per case, in case order.
    pub similarities: Vec<f32>,
    /// Mean |found − true| over the chain's free parameters, normalised (matches only, over the
    /// fxmatch-chain cases: only there are the true settings known).
    pub mean_param_error: Option<f64>,
    /// Mean wall seconds per case (matches only: reference embedding plus search).
    pub mean_seconds: Option<f64>,
    /// `d(output, oracle)` per case.
    pub distances: Vec<Distance>,
    /// Transfer gain per case.
    pub gains: Vec<f64>,
    /// Median transfer gain over all cases.
    pub median_gain: f64,
    /// Its 90 % interval ([`median_interval`]).
    pub median_gain_interval: [f64; 2],
    /// Share of all cases whose output is strictly closer to the oracle than the input is.
    pub share_closer: f64,
    /// The same figures per source, then over the external sources together.
    pub by_source: Vec<SourceScore>,
    /// The same figures per effect class over the external cases whose chain contains that
    /// class (`source` holds the class; a case counts in each of its classes).
    pub by_class: Vec<SourceScore>,
    /// Per case, the normalised setting the system chose (searched systems: matches, predict,
    /// hybrids; empty for the others), so that errors can be broken down after the run.
    pub settings: Vec<Vec<f64>>,
}

/// One case.
#[derive(Debug, Clone, Serialize)]
pub struct TransferPair {
    /// Where the reference's processing comes from: `fxmatch-chain`, `sox` or `lv2file`.
    pub source: String,
    /// Reference style: the preset or external chain's name.
    pub preset: String,
    /// Index of the input clip.
    pub input: usize,
    /// Index of the reference content clip.
    pub reference: usize,
    /// Indices of the further references' content clips ([`TransferConfig::references`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_references: Vec<usize>,
    /// `d(input, oracle)`: how much the reference's processing changes the input.
    pub input_distance: Distance,
    /// The effect classes in the reference's processing (external chains only; empty for the
    /// chain's presets).
    pub classes: Vec<String>,
    /// The reference's true setting, normalised, in [`TransferResult::params`] order (the
    /// chain's presets only: an external chain has none).
    pub true_setting: Option<Vec<f64>>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct TransferResult {
    /// Metric name.
    pub metric: String,
    /// The chain's free parameters (`effect.param`), the order of every setting here.
    pub params: Vec<String>,
    /// The cases.
    pub pairs: Vec<TransferPair>,
    /// One row per system.
    pub systems: Vec<SystemScore>,
}

/// One reference style of the task, in the task's fixed order (the presets, then the external
/// chains), or one that this run leaves out (its source not asked for, its program not
/// installed). A left-out style still draws its cases, so each style that runs is judged on the
/// cases a run of every style gives it: runs of different `--source`s compare case by case.
#[derive(Debug, Clone, Copy)]
pub enum StyleSlot<'a> {
    /// The searched chain at a named setting: the reference's processing is reachable.
    Preset(&'a str, &'a Params),
    /// A chain of processors fxmatch does not have.
    External(&'a ExternalStyle),
    /// A style that does not run here.
    LeftOut,
}

fn embed(metric: &mut dyn StyleMetric, audio: &AudioBuffer) -> Result<Embedding> {
    let (l, r) = audio.to_stereo();
    metric.embed(&l, &r, audio.sample_rate)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Median of `v` (the mean of the middle two for an even count); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Mixed into the seed of the `random` system's stream (see [`transfer`]).
const RANDOM_SETTINGS_STREAM: u64 = 0x5e77_1e65_0000_0001;
/// Mixed into the seed of the further references' stream (see [`transfer`]).
const EXTRA_REFERENCES_STREAM: u64 = 0x5e77_1e65_0000_0002;

/// `count` distinct clip indices below `n`, none of them in `not` (the caller checks that
/// there are enough).
fn distinct_others(n: usize, not: &[usize], count: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).filter(|i| !not.contains(i)).collect();
    (0..count).map(|_| pool.swap_remove(rng.random_range(0..pool.len()))).collect()
}

/// Run the task over `styles` (in the task's order, [`StyleSlot`]). `progress` gets (cases done,
/// cases in all).
pub fn transfer(
    spec: &ChainSpec,
    styles: &[StyleSlot],
    metric: &mut dyn StyleMetric,
    clips: &[AudioBuffer],
    config: &TransferConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TransferResult> {
    require_two(clips, "transfer")?;
    let extra = config.references.max(1) - 1;
    if extra > 0 && clips.len() < extra + 2 {
        return Err(Error::invalid(
            format!(
                "transfer with {} references per case needs at least {} content clips (the input, then one per reference), got {}",
                extra + 1,
                extra + 2,
                clips.len()
            ),
            "add clips with --content, or ask for fewer --references",
        ));
    }
    // Two streams, so that the cases (which clips, which reference content) do not depend on
    // the chain: the `random` system's draws grow with the number of free parameters, and a
    // chain with one more of them would otherwise be judged on other cases.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let mut settings_rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ RANDOM_SETTINGS_STREAM);
    // A third stream for the further references, so that the cases do not depend on their count.
    let mut references_rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed ^ EXTRA_REFERENCES_STREAM);
    let mut chain = Chain::from_spec(spec)?;
    // The searched systems: each profile's match, then (with a predictor) `predict` (no
    // matcher) and each hybrid search (a matcher started at the prediction).
    let mut matchers: Vec<(String, Option<Matcher>, bool)> = config
        .profiles
        .iter()
        .map(|(name, c)| Ok((format!("match:{name}"), Some(Matcher::new(spec, metric, c.clone())?), false)))
        .collect::<Result<Vec<_>>>()?;
    let mut reader = None;
    if let Some((predictor, hybrids)) = &config.predictor {
        predictor.check_chain(&chain)?;
        reader = Some(predictor.reader());
        matchers.push(("predict".to_string(), None, true));
        for (name, c) in hybrids {
            matchers.push((format!("hybrid:{name}"), Some(Matcher::new(spec, metric, c.clone())?), true));
        }
    }
    let n_searched = matchers.len();
    let names: Vec<String> = ["input", "random", "rule-based"]
        .iter()
        .map(|s| s.to_string())
        .chain(matchers.iter().map(|(n, _, _)| n.clone()))
        .chain(config.oracle_fit.as_ref().map(|_| "oracle-fit".to_string()))
        .chain(config.judge_fit.as_ref().map(|_| "judge-fit".to_string()))
        .chain(["oracle".to_string()])
        .collect();
    let mut fitter = (config.oracle_fit.is_some() || config.judge_fit.is_some())
        .then(crate::predict::projection::OracleFitter::new);
    let mut similarities = vec![Vec::new(); names.len()];
    let mut distances = vec![Vec::new(); names.len()];
    // Per profile, per case: the parameter error (None where the truth is not a chain setting).
    let mut errors: Vec<Vec<Option<f64>>> = vec![Vec::new(); n_searched];
    let mut seconds = vec![Vec::new(); n_searched];
    let mut found: Vec<Vec<Vec<f64>>> = vec![Vec::new(); n_searched];
    let mut pairs = Vec::new();
    let running = styles.iter().filter(|s| !matches!(s, StyleSlot::LeftOut)).count();
    let total = running * config.pairs_per_preset;
    for style in styles {
        let truth = match style {
            StyleSlot::Preset(_, params) => {
                chain.apply_params(params)?;
                Some(chain.normalized())
            }
            StyleSlot::External(_) => None,
            StyleSlot::LeftOut => {
                // The draws a run of this style makes, and nothing else.
                for _ in 0..config.pairs_per_preset {
                    let a = rng.random_range(0..clips.len());
                    let b = other_index(clips.len(), a, &mut rng);
                    random_settings(&chain, &mut settings_rng);
                    if extra > 0 {
                        distinct_others(clips.len(), &[a, b], extra, &mut references_rng);
                    }
                }
                continue;
            }
        };
        for _ in 0..config.pairs_per_preset {
            let a = rng.random_range(0..clips.len());
            let b = other_index(clips.len(), a, &mut rng);
            let extra_references = if extra > 0 {
                distinct_others(clips.len(), &[a, b], extra, &mut references_rng)
            } else {
                Vec::new()
            };
            let (input, content) = (&clips[a], &clips[b]);
            // The style's processing of one clip: the references and the oracle.
            let mut process = |clip: &AudioBuffer| -> Result<AudioBuffer> {
                match *style {
                    StyleSlot::Preset(..) => {
                        chain.set_normalized(truth.as_ref().expect("chain styles have settings"));
                        render(&mut chain, clip, 0.0)
                    }
                    StyleSlot::External(s) => render_external(s, clip),
                    StyleSlot::LeftOut => unreachable!("left-out styles are skipped above"),
                }
            };
            let reference = process(content)?;
            let oracle = process(input)?;
            let mut more_references = Vec::with_capacity(extra);
            for &e in &extra_references {
                more_references.push(process(&clips[e])?);
            }
            let (source, name) = match *style {
                StyleSlot::Preset(name, _) => (CHAIN_SOURCE, name),
                StyleSlot::External(s) => (s.processor.name(), s.name),
                StyleSlot::LeftOut => unreachable!("left-out styles are skipped above"),
            };
            let references: Vec<&AudioBuffer> = std::iter::once(&reference).chain(&more_references).collect();
            let input_distance = distance(input, &oracle)?;
            if input_distance.total < 1e-3 {
                return Err(Error::invalid(
                    format!(
                        "transfer: style {name} leaves input clip {a} unchanged (d = {:.2e})",
                        input_distance.total
                    ),
                    "give the reference style settings that audibly process the sound",
                ));
            }
            let t_ref = std::time::Instant::now();
            let z_ref = crate::metric::embed_references(metric, &references)?;
            let ref_seconds = t_ref.elapsed().as_secs_f64();
            let mut outputs = vec![input.clone()];
            chain.set_normalized(&random_settings(&chain, &mut settings_rng));
            outputs.push(render(&mut chain, input, 0.0)?);
            outputs.push(rule_based_transfer(input, &reference)?);
            let (l, r) = input.to_stereo();
            // The prediction, from the same segment the searches use (the first profile's length).
            let mut prediction = None;
            if let (Some((predictor, _)), Some(reader)) = (&config.predictor, reader.as_mut()) {
                let t = std::time::Instant::now();
                let seg = config.profiles.first().map_or(3.0, |(_, c)| c.segment_seconds);
                let (start, len) = loudest_window(input, seg);
                let z_seg = predictor.describe(
                    reader,
                    &l[start..start + len],
                    &r[start..start + len],
                    input.sample_rate,
                )?;
                let x = match config.pool {
                    ReferencePool::Features => {
                        predictor.predict(&z_seg, &predictor.describe_references(reader, &references)?)?
                    }
                    ReferencePool::Predictions => {
                        let each = references
                            .iter()
                            .map(|r| predictor.predict(&z_seg, &predictor.describe_references(reader, &[r])?))
                            .collect::<Result<Vec<_>>>()?;
                        (0..each[0].len())
                            .map(|j| mean(&each.iter().map(|x| x[j]).collect::<Vec<_>>()))
                            .collect()
                    }
                };
                prediction = Some((x, t.elapsed().as_secs_f64()));
            }
            for (k, (_, matcher, predicted)) in matchers.iter_mut().enumerate() {
                let (x, secs) = match (matcher, predicted) {
                    (None, _) => {
                        let (x, t) = prediction.clone().expect("predict systems exist with a predictor");
                        (x, ref_seconds + t)
                    }
                    (Some(matcher), predicted) => {
                        let mut extra = 0.0;
                        if *predicted {
                            let (x, t) = prediction.clone().expect("hybrid systems exist with a predictor");
                            matcher.set_start_at(Some(x))?;
                            extra = t;
                        }
                        let (start, len) = loudest_window(input, matcher.config().segment_seconds);
                        let outcome = matcher.run(
                            &l[start..start + len],
                            &r[start..start + len],
                            input.sample_rate,
                            &z_ref,
                            &AtomicBool::new(false),
                            &mut |_| {},
                        )?;
                        (outcome.x, ref_seconds + extra + outcome.seconds)
                    }
                };
                seconds[k].push(secs);
                errors[k].push(truth.as_ref().map(|truth| {
                    x.iter().zip(truth).map(|(x, t)| (x - t).abs()).sum::<f64>() / truth.len().max(1) as f64
                }));
                chain.set_normalized(&x);
                outputs.push(render(&mut chain, input, 0.0)?);
                found[k].push(x);
            }
            // The ceilings fit the searches' segment: the input's loudest window.
            let fit_window = fitter.is_some().then(|| {
                let seg = config.profiles.first().map_or(3.0, |(_, c)| c.segment_seconds);
                let (start, len) = loudest_window(input, seg);
                let (ol, or) = oracle.to_stereo();
                (start..start + len, ol, or)
            });
            if let (Some(fit_config), Some(fitter), Some((window, ol, or))) =
                (&config.oracle_fit, fitter.as_mut(), fit_window.as_ref())
            {
                let window = window.clone();
                // The chain was prepared at the input's rate by the renders above.
                let fit = fitter.fit(
                    &mut chain,
                    (&l[window.clone()], &r[window.clone()]),
                    (&ol[window.clone()], &or[window]),
                    input.sample_rate,
                    fit_config,
                )?;
                chain.set_normalized(&fit.setting);
                outputs.push(render(&mut chain, input, 0.0)?);
            }
            if let (Some(fit_config), Some(fitter), Some((window, ol, or))) =
                (&config.judge_fit, fitter.as_mut(), fit_window.as_ref())
            {
                let window = window.clone();
                let rate = input.sample_rate;
                let target =
                    AudioBuffer::stereo(rate, ol[window.clone()].to_vec(), or[window.clone()].to_vec());
                let fit = fitter.fit_by(
                    &mut chain,
                    (&l[window.clone()], &r[window]),
                    fit_config,
                    &mut |fl, fr| {
                        Ok(distance(&AudioBuffer::stereo(rate, fl.to_vec(), fr.to_vec()), &target)?.total)
                    },
                )?;
                chain.set_normalized(&fit.setting);
                outputs.push(render(&mut chain, input, 0.0)?);
            }
            outputs.push(oracle.clone());
            for (k, output) in outputs.iter().enumerate() {
                similarities[k].push(similarity(&embed(metric, output)?, &z_ref));
                // The input's own distance is the one already measured (its gain is exactly 0).
                distances[k].push(if k == 0 { input_distance } else { distance(output, &oracle)? });
            }
            pairs.push(TransferPair {
                source: source.to_string(),
                preset: name.to_string(),
                input: a,
                reference: b,
                extra_references,
                input_distance,
                classes: match style {
                    StyleSlot::External(s) => s.classes().into_iter().map(String::from).collect(),
                    StyleSlot::Preset(..) | StyleSlot::LeftOut => Vec::new(),
                },
                true_setting: truth.clone(),
            });
            progress(pairs.len(), total);
        }
    }
    let mut groups: Vec<String> = Vec::new();
    for p in &pairs {
        if !groups.contains(&p.source) {
            groups.push(p.source.clone());
        }
    }
    let has_external = pairs.iter().any(|p| p.source != CHAIN_SOURCE);
    let systems = names
        .into_iter()
        .enumerate()
        .map(|(k, system)| {
            let gains: Vec<f64> = distances[k]
                .iter()
                .zip(&pairs)
                .map(|(d, p)| transfer_gain(d.total, p.input_distance.total))
                .collect();
            let profile = k.checked_sub(3).filter(|&j| j < n_searched);
            let summary = |source: &str, keep: &dyn Fn(&TransferPair) -> bool| {
                let idx: Vec<usize> = (0..pairs.len()).filter(|&i| keep(&pairs[i])).collect();
                let closer =
                    idx.iter().filter(|&&i| distances[k][i].total < pairs[i].input_distance.total).count();
                let param: Vec<f64> =
                    profile.map_or(Vec::new(), |j| idx.iter().filter_map(|&i| errors[j][i]).collect());
                SourceScore {
                    source: source.to_string(),
                    cases: idx.len(),
                    mean_similarity: mean(
                        &idx.iter().map(|&i| similarities[k][i] as f64).collect::<Vec<_>>(),
                    ),
                    median_gain: median(&idx.iter().map(|&i| gains[i]).collect::<Vec<_>>()),
                    median_gain_interval: median_interval(
                        &idx.iter().map(|&i| gains[i]).collect::<Vec<_>>(),
                        &idx.iter().map(|&i| pairs[i].preset.as_str()).collect::<Vec<_>>(),
                    ),
                    share_closer: closer as f64 / idx.len().max(1) as f64,
                    mean_param_error: (!param.is_empty()).then(|| mean(&param)),
                }
            };
            let all = summary("all", &|_| true);
            let mut by_source: Vec<SourceScore> =
                groups.iter().map(|g| summary(g, &|p: &TransferPair| &p.source == g)).collect();
            if has_external {
                by_source.push(summary(EXTERNAL_SOURCE, &|p: &TransferPair| p.source != CHAIN_SOURCE));
            }
            let by_class = super::external::EFFECT_CLASSES
                .iter()
                .filter(|c| pairs.iter().any(|p| p.classes.iter().any(|pc| pc == *c)))
                .map(|c| summary(c, &|p: &TransferPair| p.classes.iter().any(|pc| pc == c)))
                .collect();
            SystemScore {
                system,
                mean_similarity: all.mean_similarity,
                similarities: similarities[k].clone(),
                mean_param_error: all.mean_param_error,
                mean_seconds: profile.map(|j| mean(&seconds[j])),
                distances: distances[k].clone(),
                gains,
                median_gain: all.median_gain,
                median_gain_interval: all.median_gain_interval,
                share_closer: all.share_closer,
                by_source,
                by_class,
                settings: profile.map_or(Vec::new(), |j| std::mem::take(&mut found[j])),
            }
        })
        .collect();
    Ok(TransferResult {
        metric: metric.name().to_string(),
        params: crate::predict::param_names(&chain),
        pairs,
        systems,
    })
}

#[cfg(test)]
mod tests {
    use super::{distinct_others, median};
    use rand::SeedableRng;

    #[test]
    fn further_reference_clips_are_distinct_and_avoid_the_case() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let mut got = distinct_others(5, &[1, 3], 3, &mut rng);
            got.sort_unstable();
            assert_eq!(got, [0, 2, 4], "all three others, each once");
        }
        let seen: std::collections::BTreeSet<usize> =
            (0..200).flat_map(|_| distinct_others(8, &[0, 7], 2, &mut rng)).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6], "every other clip is drawn");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
