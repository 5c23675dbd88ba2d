//! Training pairs `(x, f(x))` written as shards that numpy reads directly.
//!
//! Shard `s` holds pairs `s·shard_size ..`; pair `p` is drawn from its own random stream (seed,
//! stream `p`), so every pair is the same whatever the thread count, shard size of a resumed run
//! or order of work. Per pair: a content excerpt (see [`content`](super::content)), an input gain
//! uniform in `[-gain_range_db, 0]` dB, one effect uniformly, one of its presets uniformly; `x` is
//! the excerpt, `y` the effect's output over the same frames (rendered with pre-roll).
//!
//! Files, for shard `s` (`NNNNN` = `s` with five digits):
//! - `shard-NNNNN.f16`: little-endian IEEE float16, C order, shape `(n, 2, 2, frames)`:
//!   pair, (x, y), (left, right), frame. `numpy.fromfile(p, "<f2").reshape(n, 2, 2, frames)`.
//! - `shard-NNNNN.json`: `{"n": …, "frames": …, "pairs": [{"content", "offset", "effect",
//!   "effect_id", "preset", "input_gain_db"}, …]}`, written after the `.f16`; a shard counts as
//!   done when both exist and the `.f16` has the right size, so an interrupted run resumes.
//!
//! Both are written atomically (temporary file, then rename).

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::content::Content;
use super::effects::EffectRenderer;
use super::presets::PresetFile;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// How pairs are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairConfig {
    /// Seed of the pair streams.
    pub seed: u64,
    /// Number of pairs.
    pub n_pairs: usize,
    /// Pairs per shard.
    pub shard_size: usize,
    /// Excerpt length in frames.
    pub frames: usize,
    /// Pre-roll before each excerpt, frames.
    pub preroll: usize,
    /// Input gains are uniform in `[-gain_range_db, 0]` dB.
    pub gain_range_db: f32,
    /// Excerpts quieter than this RMS (dBFS) are redrawn (up to 20 times).
    pub min_rms_db: f32,
}

/// The label of one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairLabel {
    /// Content id (index into `content.json`).
    pub content: usize,
    /// First frame of the excerpt in the content file.
    pub offset: usize,
    /// Effect type.
    pub effect: String,
    /// Effect class (index into the presets' effect list).
    pub effect_id: usize,
    /// Preset class within the effect.
    pub preset: usize,
    /// Gain applied to the excerpt before the effect, dB (part of `x`).
    pub input_gain_db: f32,
}

/// A shard's index file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardIndex {
    /// Pairs in the shard.
    pub n: usize,
    /// Frames per excerpt.
    pub frames: usize,
    /// One label per pair.
    pub pairs: Vec<PairLabel>,
}

/// Per-thread state: one renderer per effect.
pub struct Renderers(Vec<EffectRenderer>);

impl Renderers {
    /// Renderers for every effect in `presets`.
    pub fn new(presets: &PresetFile) -> Result<Self> {
        let sr = presets.config.sample_rate;
        Ok(Self(presets.effects.iter().map(|e| EffectRenderer::new(&e.effect, sr)).collect::<Result<_>>()?))
    }
}

/// Pair `p`: label, `x` (left, right) and `y` (left, right).
pub fn make_pair(
    config: &PairConfig,
    content: &Content,
    presets: &PresetFile,
    renderers: &mut Renderers,
    p: usize,
) -> (PairLabel, [Vec<f32>; 4]) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(p as u64);
    let min_power = 10f64.powf(config.min_rms_db as f64 / 10.0);
    let mut ex = content.excerpt(config.frames, config.preroll, &mut rng);
    for _ in 0..20 {
        let body = &ex.left[config.preroll..];
        let power =
            body.iter().zip(&ex.right[config.preroll..]).map(|(&a, &b)| (a * a + b * b) as f64).sum::<f64>()
                / (2 * body.len().max(1)) as f64;
        if power >= min_power {
            break;
        }
        ex = content.excerpt(config.frames, config.preroll, &mut rng);
    }
    let gain_db = -config.gain_range_db * rng.random::<f32>();
    let g = crate::dsp::db_to_gain(gain_db);
    ex.left.iter_mut().chain(ex.right.iter_mut()).for_each(|v| *v *= g);
    let effect_id = rng.random_range(0..presets.effects.len());
    let e = &presets.effects[effect_id];
    let preset = rng.random_range(0..e.presets.len());
    let (yl, yr) = renderers.0[effect_id].render(&e.presets[preset], &ex.left, &ex.right, config.preroll);
    let label = PairLabel {
        content: ex.content,
        offset: ex.offset,
        effect: e.effect.clone(),
        effect_id,
        preset,
        input_gain_db: gain_db,
    };
    let xl = ex.left.split_off(config.preroll);
    let xr = ex.right.split_off(config.preroll);
    (label, [xl, xr, yl, yr])
}

/// Names of shard `s`'s data and index files.
pub fn shard_names(s: usize) -> (String, String) {
    (format!("shard-{s:05}.f16"), format!("shard-{s:05}.json"))
}

/// Number of shards for `config`.
pub fn n_shards(config: &PairConfig) -> usize {
    config.n_pairs.div_ceil(config.shard_size.max(1))
}

/// Pairs in shard `s`.
pub fn shard_len(config: &PairConfig, s: usize) -> usize {
    config.shard_size.min(config.n_pairs - s * config.shard_size)
}

/// Whether shard `s` is complete in `dir`.
pub fn shard_done(dir: &Path, config: &PairConfig, s: usize) -> bool {
    let (data, index) = shard_names(s);
    let want = (shard_len(config, s) * 4 * config.frames * 2) as u64;
    dir.join(index).is_file() && std::fs::metadata(dir.join(data)).is_ok_and(|m| m.len() == want)
}

/// Renders and writes shard `s` into `dir`; `progress()` once per pair.
pub fn write_shard(
    dir: &Path,
    config: &PairConfig,
    content: &Content,
    presets: &PresetFile,
    renderers: &mut Renderers,
    s: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<()> {
    let n = shard_len(config, s);
    let mut bytes = Vec::with_capacity(n * 4 * config.frames * 2);
    let mut labels = Vec::with_capacity(n);
    for p in s * config.shard_size..s * config.shard_size + n {
        let (label, signals) = make_pair(config, content, presets, renderers, p);
        for ch in &signals {
            for &v in ch {
                let v = if v.is_finite() { v.clamp(-65_000.0, 65_000.0) } else { 0.0 };
                bytes.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
            }
        }
        labels.push(label);
        progress();
    }
    let (data, index) = shard_names(s);
    write_atomic(&dir.join(data), &bytes)?;
    let json = serde_json::to_vec(&ShardIndex { n, frames: config.frames, pairs: labels })
        .map_err(|e| Error::invalid(format!("cannot encode shard index: {e}"), "report this bug"))?;
    write_atomic(&dir.join(index), &json)
}
