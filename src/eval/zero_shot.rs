//! Zero-shot production-style classification (ST-ITO Table 1, after DeepAFx-ST).
//!
//! Each trial: one query clip of a random style (styles taken in turn, so each gets the same
//! number of trials), and one prototype clip per style made from *other* content; the predicted
//! style is the prototype most similar to the query. Every clip is a random excerpt of its
//! content, processed with a fresh random instance of its style, then normalised to -20 dBFS
//! RMS so that loudness alone cannot give the style away.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::content::{excerpt, normalise, other_index, require_two};
use super::styles::{style_chain, Style};
use crate::audio::AudioBuffer;
use crate::error::Result;
use crate::metric::{similarity, Embedding, StyleMetric};
use crate::render::render;

/// Settings of a zero-shot run.
#[derive(Debug, Clone, Serialize)]
pub struct ZeroShotConfig {
    /// Trials (queries).
    pub trials: usize,
    /// Random seed.
    pub seed: u64,
    /// Length of each excerpt in seconds.
    pub excerpt_seconds: f32,
}

impl Default for ZeroShotConfig {
    fn default() -> Self {
        Self { trials: 200, seed: 0, excerpt_seconds: 3.0 }
    }
}

/// Accuracy of one metric on one content type.
#[derive(Debug, Clone, Serialize)]
pub struct ZeroShotResult {
    /// Metric name.
    pub metric: String,
    /// Content type ("speech", "music").
    pub content: String,
    /// Trials run.
    pub trials: usize,
    /// Accuracy per style tag (NT, BC, TL, BR, WM).
    pub per_style: BTreeMap<String, f64>,
    /// Mean over styles.
    pub average: f64,
    /// `confusion[true][predicted]`, styles in [`Style::ALL`] order.
    pub confusion: [[usize; 5]; 5],
}

/// Run the task for one content type. `contents` must hold at least two clips (query and
/// prototypes always come from different clips).
pub fn zero_shot(
    metric: &mut dyn StyleMetric,
    contents: &[AudioBuffer],
    content_name: &str,
    config: &ZeroShotConfig,
    progress: &mut dyn FnMut(usize),
) -> Result<ZeroShotResult> {
    require_two(contents, &format!("zero-shot on {content_name}"))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let mut chain = style_chain()?;
    let mut make =
        |style: Style, clip: &AudioBuffer, rng: &mut rand_chacha::ChaCha8Rng| -> Result<Embedding> {
            chain.apply_params(&style.sample(rng))?;
            let x = excerpt(clip, config.excerpt_seconds, rng);
            let y = normalise(render(&mut chain, &x, 0.0)?);
            let (l, r) = y.to_stereo();
            metric.embed(&l, &r, y.sample_rate)
        };
    let mut confusion = [[0usize; 5]; 5];
    for t in 0..config.trials {
        let truth = t % 5;
        let q = rng.random_range(0..contents.len());
        let query = make(Style::ALL[truth], &contents[q], &mut rng)?;
        let mut best = (f32::NEG_INFINITY, 0);
        for (k, style) in Style::ALL.iter().enumerate() {
            let p = other_index(contents.len(), q, &mut rng);
            let s = similarity(&query, &make(*style, &contents[p], &mut rng)?);
            if s > best.0 {
                best = (s, k);
            }
        }
        confusion[truth][best.1] += 1;
        progress(t + 1);
    }
    let per_style: BTreeMap<String, f64> = Style::ALL
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let n: usize = confusion[k].iter().sum();
            (s.tag().to_string(), if n == 0 { 0.0 } else { confusion[k][k] as f64 / n as f64 })
        })
        .collect();
    let average = per_style.values().sum::<f64>() / per_style.len() as f64;
    Ok(ZeroShotResult {
        metric: metric.name().to_string(),
        content: content_name.to_string(),
        trials: config.trials,
        per_style,
        average,
        confusion,
    })
}
