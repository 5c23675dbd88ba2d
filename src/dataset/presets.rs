//! Presets per effect by clustering random settings (ST-ITO, section 3.2).
//!
//! For each effect: `n_settings` uniformly random settings in normalised parameter space, each
//! rendered through the effect on the fixed [`probe`](super::probe), each render embedded with the
//! MFCC baseline ([`MfccMetric`]; mid and side vectors concatenated), k-means with `k` clusters on
//! those features, and for each centroid the nearest setting (distinct settings). The settings,
//! in plain units, are the presets. Everything is deterministic from the seed, whatever the
//! thread count.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::effects::{random_setting, EffectRenderer};
use super::kmeans::{kmeans, nearest_distinct};
use super::parallel::par_map;
use super::probe::probe;
use crate::error::{Error, Result};
use crate::metric::{MfccMetric, StyleMetric};

/// How presets are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetConfig {
    /// Effect types, in label order (effect id = index).
    pub effects: Vec<String>,
    /// Random settings per effect.
    pub n_settings: usize,
    /// Presets (clusters) per effect.
    pub k: usize,
    /// Seed of the random settings and of k-means.
    pub seed: u64,
    /// Sample rate of the probe renders.
    pub sample_rate: u32,
}

/// The presets of one effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectPresets {
    /// Effect type.
    pub effect: String,
    /// Parameter ids in the effect's order.
    pub params: Vec<String>,
    /// `k` settings, plain units, one value per parameter in `params` order.
    pub presets: Vec<Vec<f32>>,
    /// Number of random settings in each preset's cluster.
    pub cluster_sizes: Vec<usize>,
}

impl EffectPresets {
    /// Preset `i` as parameter id → plain value.
    pub fn named(&self, i: usize) -> BTreeMap<String, f32> {
        self.params.iter().cloned().zip(self.presets[i].iter().copied()).collect()
    }
}

/// The contents of `presets.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetFile {
    /// How they were made.
    pub config: PresetConfig,
    /// One entry per effect, in `config.effects` order.
    pub effects: Vec<EffectPresets>,
}

/// Makes the presets of every effect in `config`. `progress()` is called once per rendered
/// setting (`effects × n_settings` in all).
pub fn make_presets(
    config: &PresetConfig,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<PresetFile> {
    if config.k == 0 || config.n_settings < config.k {
        return Err(Error::invalid(
            format!("{} random settings cannot make {} presets", config.n_settings, config.k),
            "use at least as many settings as presets (ST-ITO: 1000 settings, 10 presets)",
        ));
    }
    let x = probe(config.sample_rate);
    let mut effects = Vec::new();
    for (e, kind) in config.effects.iter().enumerate() {
        let renderer = EffectRenderer::new(kind, config.sample_rate)?;
        let specs = renderer.params().to_vec();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(1 + e as u64);
        let settings: Vec<Vec<f32>> =
            (0..config.n_settings).map(|_| random_setting(&specs, &mut rng)).collect();
        let features = par_map(
            settings.len(),
            threads,
            || Ok((EffectRenderer::new(kind, config.sample_rate)?, MfccMetric::new())),
            |(r, metric), i| {
                let (l, rr) = r.render(&settings[i], &x, &x, 0);
                let emb = metric.embed(&l, &rr, config.sample_rate)?;
                Ok([emb.mid, emb.side].concat())
            },
            progress,
        )?;
        let centroids = kmeans(&features, config.k, 300, &mut rng);
        let picks = nearest_distinct(&features, &centroids);
        let mut cluster_sizes = vec![0; config.k];
        for f in &features {
            let j = (0..config.k)
                .min_by(|&a, &b| dist2(f, &centroids[a]).total_cmp(&dist2(f, &centroids[b])))
                .unwrap_or(0);
            cluster_sizes[j] += 1;
        }
        effects.push(EffectPresets {
            effect: kind.clone(),
            params: specs.iter().map(|s| s.id.clone()).collect(),
            presets: picks.iter().map(|&i| settings[i].clone()).collect(),
            cluster_sizes,
        });
    }
    Ok(PresetFile { config: config.clone(), effects })
}

fn dist2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| ((x - y) as f64).powi(2)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> PresetConfig {
        PresetConfig {
            effects: vec!["distortion".into(), "reverb".into()],
            n_settings: 40,
            k: 4,
            seed,
            sample_rate: 48_000,
        }
    }

    #[test]
    fn presets_are_deterministic_distinct_and_in_range() {
        let a = make_presets(&config(3), 2, &|| ()).unwrap();
        let b = make_presets(&config(3), 1, &|| ()).unwrap();
        assert_eq!(a, b, "same seed, different thread count: same presets");
        let c = make_presets(&config(4), 2, &|| ()).unwrap();
        assert_ne!(a.effects[0].presets, c.effects[0].presets);
        for e in &a.effects {
            assert_eq!(e.presets.len(), 4);
            assert_eq!(e.cluster_sizes.iter().sum::<usize>(), 40);
            let specs = crate::chain::instantiate(&e.effect).unwrap().params().to_vec();
            for p in &e.presets {
                for (v, s) in p.iter().zip(&specs) {
                    assert!(s.range().contains(*v), "{} {} = {v}", e.effect, s.id);
                }
            }
            for i in 0..4 {
                for j in 0..i {
                    assert_ne!(e.presets[i], e.presets[j]);
                }
            }
        }
        assert!(make_presets(&PresetConfig { n_settings: 3, ..config(1) }, 1, &|| ()).is_err());
    }
}
