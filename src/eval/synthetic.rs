//! Synthetic match cases (ST-ITO §4.3 without a second chain): the reference is *other*
//! content through the same chain at known random settings, so the oracle (the input through
//! those true settings) says how far a match could get. Reports, per match profile, the gap
//! between the match's and the oracle's similarity, the parameter error per parameter, and
//! where the time went.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec};
use crate::error::{Error, Result};
use crate::metric::{similarity, Embedding, StyleMetric};
use crate::optimize::{loudest_window, MatchConfig, Matcher};
use crate::render::render;

/// Settings of a synthetic-match run.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticConfig {
    /// Number of cases (input, reference content, true settings).
    pub cases: usize,
    /// Random seed for the true settings and the case pairing.
    pub seed: u64,
    /// The match profiles to compare on the same cases, by name.
    pub profiles: Vec<(String, MatchConfig)>,
}

/// One case under one profile.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Index of the input clip.
    pub input: usize,
    /// Index of the reference content clip.
    pub reference: usize,
    /// True settings (normalised).
    pub truth: Vec<f64>,
    /// Found settings (normalised).
    pub found: Vec<f64>,
    /// Similarity of the dry input (whole clip) to the reference.
    pub similarity_input: f32,
    /// Similarity of the input rendered at the found settings (whole clip).
    pub similarity_output: f32,
    /// Similarity of the input rendered at the true settings (whole clip).
    pub similarity_oracle: f32,
    /// Candidates evaluated.
    pub evaluations: usize,
    /// Generations run.
    pub generations: usize,
    /// Why the search stopped.
    pub stop_reason: String,
    /// Wall time of the search (segment in, parameters out), reference embedding included.
    pub seconds: f64,
    /// CPU seconds rendering candidates.
    pub render_seconds: f64,
    /// CPU seconds embedding candidates.
    pub embed_seconds: f64,
}

/// Summary of one profile over all cases.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileResult {
    /// Profile name.
    pub profile: String,
    /// Its settings.
    pub config: MatchConfig,
    /// Mean of `similarity_oracle - similarity_output` (≤ 0.02 is the target).
    pub mean_gap: f64,
    /// Median of the gap.
    pub median_gap: f64,
    /// Fraction of cases whose gap is at most 0.02.
    pub within_002: f64,
    /// Mean similarity of the dry input, the output and the oracle.
    pub mean_similarity: [f64; 3],
    /// Mean absolute error per parameter (`effect.param`), normalised units.
    pub param_error: BTreeMap<String, f64>,
    /// Mean absolute error over all parameters, normalised; 1/3 is what a uniform random guess gets.
    pub mean_param_error: f64,
    /// Mean wall seconds per match.
    pub mean_seconds: f64,
    /// Largest wall seconds of a match.
    pub max_seconds: f64,
    /// Mean evaluations per match.
    pub mean_evaluations: f64,
    /// Evaluations per wall second.
    pub evaluations_per_second: f64,
    /// Share of worker CPU time spent rendering (the rest is the metric).
    pub render_share: f64,
    /// Every case.
    pub cases: Vec<CaseResult>,
}

fn embed(metric: &mut dyn StyleMetric, audio: &AudioBuffer) -> Result<Embedding> {
    let (l, r) = audio.to_stereo();
    metric.embed(&l, &r, audio.sample_rate)
}

/// Run the synthetic cases. `inputs` and `references` are clip pools (the same pool is fine:
/// a case never pairs a clip with itself). `progress` gets (cases done, cases in all).
pub fn synthetic_match(
    spec: &ChainSpec,
    metric: &mut dyn StyleMetric,
    clips: &[AudioBuffer],
    config: &SyntheticConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<ProfileResult>> {
    if clips.len() < 2 {
        return Err(Error::invalid(
            "synthetic match cases need at least two clips (input and other reference content)",
            "point --content at a folder with two or more WAV files",
        ));
    }
    let mut chain = Chain::from_spec(spec)?;
    let names: Vec<String> =
        chain.free_params().iter().map(|p| format!("{}.{}", p.effect_id, p.param_id)).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    // Draw every case first so that each profile sees the same ones.
    let cases: Vec<(usize, usize, Vec<f64>)> = (0..config.cases)
        .map(|_| {
            let input = rng.random_range(0..clips.len());
            let reference = (input + rng.random_range(1..clips.len())) % clips.len();
            let truth = (0..names.len()).map(|_| rng.random::<f64>()).collect();
            (input, reference, truth)
        })
        .collect();
    let total = cases.len() * config.profiles.len();
    let mut results = Vec::new();
    for (name, match_config) in &config.profiles {
        let mut matcher = Matcher::new(spec, metric, match_config.clone())?;
        let mut out = Vec::new();
        for (input, reference, truth) in &cases {
            let (dry, content) = (&clips[*input], &clips[*reference]);
            chain.set_normalized(truth);
            let ref_audio = render(&mut chain, content, 0.0)?;
            let oracle = render(&mut chain, dry, 0.0)?;
            let t0 = std::time::Instant::now();
            let z_ref = embed(metric, &ref_audio)?;
            let (start, len) = loudest_window(dry, match_config.segment_seconds);
            let (l, r) = dry.to_stereo();
            let outcome = matcher.run(
                &l[start..start + len],
                &r[start..start + len],
                dry.sample_rate,
                &z_ref,
                &AtomicBool::new(false),
                &mut |_| {},
            )?;
            let seconds = t0.elapsed().as_secs_f64();
            chain.set_normalized(&outcome.x);
            let output = render(&mut chain, dry, 0.0)?;
            out.push(CaseResult {
                input: *input,
                reference: *reference,
                truth: truth.clone(),
                found: outcome.x.clone(),
                similarity_input: similarity(&embed(metric, dry)?, &z_ref),
                similarity_output: similarity(&embed(metric, &output)?, &z_ref),
                similarity_oracle: similarity(&embed(metric, &oracle)?, &z_ref),
                evaluations: outcome.evaluations,
                generations: outcome.generations,
                stop_reason: outcome.stop_reason.clone(),
                seconds,
                render_seconds: outcome.render_seconds,
                embed_seconds: outcome.embed_seconds,
            });
            progress(results.len() * cases.len() + out.len(), total);
        }
        results.push(summarise(name, match_config, &names, out));
    }
    Ok(results)
}

fn summarise(name: &str, config: &MatchConfig, names: &[String], cases: Vec<CaseResult>) -> ProfileResult {
    let n = cases.len().max(1) as f64;
    let mean = |f: &dyn Fn(&CaseResult) -> f64| cases.iter().map(f).sum::<f64>() / n;
    let mut gaps: Vec<f64> =
        cases.iter().map(|c| c.similarity_oracle as f64 - c.similarity_output as f64).collect();
    gaps.sort_by(f64::total_cmp);
    let median_gap = if gaps.is_empty() { 0.0 } else { gaps[gaps.len() / 2] };
    let param_error: BTreeMap<String, f64> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), mean(&|c| (c.found[i] - c.truth[i]).abs())))
        .collect();
    let mean_param_error = param_error.values().sum::<f64>() / names.len().max(1) as f64;
    let cpu = cases.iter().map(|c| c.render_seconds + c.embed_seconds).sum::<f64>();
    let wall = cases.iter().map(|c| c.seconds).sum::<f64>();
    ProfileResult {
        profile: name.to_string(),
        config: config.clone(),
        mean_gap: mean(&|c| c.similarity_oracle as f64 - c.similarity_output as f64),
        median_gap,
        within_002: gaps.iter().filter(|&&g| g <= 0.02).count() as f64 / n,
        mean_similarity: [
            mean(&|c| c.similarity_input as f64),
            mean(&|c| c.similarity_output as f64),
            mean(&|c| c.similarity_oracle as f64),
        ],
        param_error,
        mean_param_error,
        mean_seconds: wall / n,
        max_seconds: cases.iter().map(|c| c.seconds).fold(0.0, f64::max),
        mean_evaluations: mean(&|c| c.evaluations as f64),
        evaluations_per_second: cases.iter().map(|c| c.evaluations as f64).sum::<f64>() / wall.max(1e-9),
        render_share: cases.iter().map(|c| c.render_seconds).sum::<f64>() / cpu.max(1e-9),
        cases,
    }
}
