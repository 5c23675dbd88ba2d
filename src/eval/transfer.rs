//! Style transfer (BENCHMARK.md §2): dry inputs against references made from *other* content
//! through a realistic chain at named settings (the presets in `config/styles/`). For each
//! pair, the similarity to the reference of: the dry input, the input through the chain at a
//! random setting, the rule-based baseline ([`super::baseline`]), the match (one row per
//! profile), and the oracle (the input through the reference's own chain and settings); and the
//! match's parameter error against the reference's settings.

use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::baseline::rule_based_transfer;
use super::content::{other_index, random_settings, require_two};
use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec, Params};
use crate::error::Result;
use crate::metric::{similarity, Embedding, StyleMetric};
use crate::optimize::{loudest_window, MatchConfig, Matcher};
use crate::render::render;

/// Settings of a transfer run.
#[derive(Debug, Clone, Serialize)]
pub struct TransferConfig {
    /// Input/reference-content pairs per preset.
    pub pairs_per_preset: usize,
    /// Random seed (pairs, random settings, searches).
    pub seed: u64,
    /// Match profiles to compare, by name.
    pub profiles: Vec<(String, MatchConfig)>,
}

/// Mean similarity of one system over all pairs.
#[derive(Debug, Clone, Serialize)]
pub struct SystemScore {
    /// System: input, random, rule-based, match:PROFILE, oracle.
    pub system: String,
    /// Mean similarity to the reference.
    pub mean_similarity: f64,
    /// Per pair, in pair order.
    pub similarities: Vec<f32>,
    /// Mean |found − true| over the chain's free parameters, normalised (matches only).
    pub mean_param_error: Option<f64>,
    /// Mean wall seconds per pair (matches only: reference embedding plus search).
    pub mean_seconds: Option<f64>,
}

/// One pair.
#[derive(Debug, Clone, Serialize)]
pub struct TransferPair {
    /// Reference preset name.
    pub preset: String,
    /// Index of the input clip.
    pub input: usize,
    /// Index of the reference content clip.
    pub reference: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct TransferResult {
    /// Metric name.
    pub metric: String,
    /// The pairs.
    pub pairs: Vec<TransferPair>,
    /// One row per system.
    pub systems: Vec<SystemScore>,
}

fn embed(metric: &mut dyn StyleMetric, audio: &AudioBuffer) -> Result<Embedding> {
    let (l, r) = audio.to_stereo();
    metric.embed(&l, &r, audio.sample_rate)
}

/// Run the task over `presets` (name, settings for `spec`'s chain). `progress` gets (pairs
/// done, pairs in all).
pub fn transfer(
    spec: &ChainSpec,
    presets: &[(String, Params)],
    metric: &mut dyn StyleMetric,
    clips: &[AudioBuffer],
    config: &TransferConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<TransferResult> {
    require_two(clips, "transfer")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let mut chain = Chain::from_spec(spec)?;
    let mut matchers = config
        .profiles
        .iter()
        .map(|(name, c)| Ok((name.clone(), Matcher::new(spec, metric, c.clone())?)))
        .collect::<Result<Vec<_>>>()?;
    let mut systems: Vec<SystemScore> = ["input", "random", "rule-based"]
        .iter()
        .map(|s| s.to_string())
        .chain(config.profiles.iter().map(|(n, _)| format!("match:{n}")))
        .chain(["oracle".to_string()])
        .map(|system| SystemScore {
            system,
            mean_similarity: 0.0,
            similarities: Vec::new(),
            mean_param_error: None,
            mean_seconds: None,
        })
        .collect();
    let mut errors = vec![Vec::new(); config.profiles.len()];
    let mut seconds = vec![Vec::new(); config.profiles.len()];
    let mut pairs = Vec::new();
    let total = presets.len() * config.pairs_per_preset;
    for (name, params) in presets {
        chain.apply_params(params)?;
        let truth = chain.normalized();
        for _ in 0..config.pairs_per_preset {
            let a = rng.random_range(0..clips.len());
            let b = other_index(clips.len(), a, &mut rng);
            let (input, content) = (&clips[a], &clips[b]);
            chain.set_normalized(&truth);
            let reference = render(&mut chain, content, 0.0)?;
            let oracle = render(&mut chain, input, 0.0)?;
            let t_ref = std::time::Instant::now();
            let z_ref = embed(metric, &reference)?;
            let ref_seconds = t_ref.elapsed().as_secs_f64();
            let mut outputs = vec![input.clone()];
            chain.set_normalized(&random_settings(&chain, &mut rng));
            outputs.push(render(&mut chain, input, 0.0)?);
            outputs.push(rule_based_transfer(input, &reference)?);
            let (l, r) = input.to_stereo();
            for (k, (_, matcher)) in matchers.iter_mut().enumerate() {
                let (start, len) = loudest_window(input, matcher.config().segment_seconds);
                let outcome = matcher.run(
                    &l[start..start + len],
                    &r[start..start + len],
                    input.sample_rate,
                    &z_ref,
                    &AtomicBool::new(false),
                    &mut |_| {},
                )?;
                seconds[k].push(ref_seconds + outcome.seconds);
                errors[k].push(
                    outcome.x.iter().zip(&truth).map(|(x, t)| (x - t).abs()).sum::<f64>()
                        / truth.len().max(1) as f64,
                );
                chain.set_normalized(&outcome.x);
                outputs.push(render(&mut chain, input, 0.0)?);
            }
            outputs.push(oracle);
            for (system, output) in systems.iter_mut().zip(&outputs) {
                system.similarities.push(similarity(&embed(metric, output)?, &z_ref));
            }
            pairs.push(TransferPair { preset: name.clone(), input: a, reference: b });
            progress(pairs.len(), total);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    for system in &mut systems {
        system.mean_similarity = mean(&system.similarities.iter().map(|&s| s as f64).collect::<Vec<_>>());
    }
    for k in 0..config.profiles.len() {
        systems[3 + k].mean_param_error = Some(mean(&errors[k]));
        systems[3 + k].mean_seconds = Some(mean(&seconds[k]));
    }
    Ok(TransferResult { metric: metric.name().to_string(), pairs, systems })
}
