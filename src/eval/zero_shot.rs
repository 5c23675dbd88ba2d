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

use super::styles::{style_chain, Style};
use crate::audio::AudioBuffer;
use crate::error::{Error, Result};
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
    /// confusion[true][predicted], styles in [`Style::ALL`] order.
    pub confusion: [[usize; 5]; 5],
}

/// A random `seconds` excerpt of `clip` (the whole clip when shorter).
fn excerpt(clip: &AudioBuffer, seconds: f32, rng: &mut impl Rng) -> AudioBuffer {
    let len = ((seconds * clip.sample_rate as f32) as usize).min(clip.frames());
    let start = if clip.frames() > len { rng.random_range(0..=clip.frames() - len) } else { 0 };
    AudioBuffer {
        sample_rate: clip.sample_rate,
        channels: clip.channels.iter().map(|c| c[start..start + len].to_vec()).collect(),
    }
}

/// Scale to -20 dBFS RMS.
fn normalise(mut a: AudioBuffer) -> AudioBuffer {
    let g = 0.1 / a.rms().max(1e-9);
    a.channels.iter_mut().flatten().for_each(|x| *x *= g);
    a
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
    if contents.len() < 2 {
        return Err(Error::invalid(
            format!("zero-shot needs at least 2 {content_name} clips, got {}", contents.len()),
            "add clips: queries and prototypes must come from different content",
        ));
    }
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
            let mut p = rng.random_range(0..contents.len() - 1);
            if p >= q {
                p += 1;
            }
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
