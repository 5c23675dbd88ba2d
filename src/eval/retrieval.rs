//! Style retrieval (ST-ITO §4.2): a query is content A through N random effects; the set holds
//! content B through the same effects at the same settings (the true match) plus M distractors,
//! content B through other random effects at other settings. Accuracy that the true match ranks
//! first, per N (1…5) and M (1…25). Every clip is a random excerpt normalised to -20 dBFS RMS, so
//! loudness alone cannot give the match away.

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::content::{excerpt, normalise, other_index, random_effects_chain, random_settings, require_two};
use crate::audio::AudioBuffer;
use crate::chain::Chain;
use crate::error::Result;
use crate::metric::{similarity, Embedding, StyleMetric};
use crate::render::render;

/// Settings of a retrieval run.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalConfig {
    /// Trials per number of effects.
    pub trials: usize,
    /// Largest number of effects in a chain (1…5).
    pub max_effects: usize,
    /// Largest number of distractors (set size − 1).
    pub max_distractors: usize,
    /// Random seed.
    pub seed: u64,
    /// Length of each excerpt in seconds.
    pub excerpt_seconds: f32,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self { trials: 50, max_effects: 5, max_distractors: 25, seed: 0, excerpt_seconds: 3.0 }
    }
}

/// Accuracies of one metric.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalResult {
    /// Metric name.
    pub metric: String,
    /// Trials per number of effects.
    pub trials: usize,
    /// `accuracy[n - 1][m - 1]`: share of trials with N = n effects whose true match outranks
    /// the first m distractors.
    pub accuracy: Vec<Vec<f64>>,
}

fn embed(
    metric: &mut dyn StyleMetric,
    chain: &mut Chain,
    x: &[f64],
    clip: &AudioBuffer,
) -> Result<Embedding> {
    chain.set_normalized(x);
    let y = normalise(render(chain, clip, 0.0)?);
    let (l, r) = y.to_stereo();
    metric.embed(&l, &r, y.sample_rate)
}

/// Run the task. `progress` gets (trials done, trials in all).
pub fn retrieval(
    metric: &mut dyn StyleMetric,
    clips: &[AudioBuffer],
    config: &RetrievalConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RetrievalResult> {
    require_two(clips, "retrieval")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let n_max = config.max_effects.clamp(1, super::content::RANDOM_EFFECT_KINDS.len());
    let m_max = config.max_distractors.max(1);
    let total = n_max * config.trials;
    let mut accuracy = vec![vec![0.0; m_max]; n_max];
    for n in 1..=n_max {
        for t in 0..config.trials {
            let a = rng.random_range(0..clips.len());
            let b = other_index(clips.len(), a, &mut rng);
            let (clip_a, clip_b) = (
                excerpt(&clips[a], config.excerpt_seconds, &mut rng),
                excerpt(&clips[b], config.excerpt_seconds, &mut rng),
            );
            let mut chain = random_effects_chain(n, &mut rng)?;
            let settings = random_settings(&chain, &mut rng);
            let query = embed(metric, &mut chain, &settings, &clip_a)?;
            let truth = similarity(&query, &embed(metric, &mut chain, &settings, &clip_b)?);
            // The true match ranks first among m distractors while no distractor scores higher.
            let mut first_beaten_at = m_max;
            for m in 0..m_max {
                let mut other = random_effects_chain(n, &mut rng)?;
                let x = random_settings(&other, &mut rng);
                if similarity(&query, &embed(metric, &mut other, &x, &clip_b)?) >= truth {
                    first_beaten_at = m;
                    break;
                }
            }
            for (m, acc) in accuracy[n - 1].iter_mut().enumerate() {
                if m < first_beaten_at {
                    *acc += 1.0;
                }
            }
            progress((n - 1) * config.trials + t + 1, total);
        }
    }
    for row in &mut accuracy {
        row.iter_mut().for_each(|a| *a /= config.trials.max(1) as f64);
    }
    Ok(RetrievalResult { metric: metric.name().to_string(), trials: config.trials, accuracy })
}
