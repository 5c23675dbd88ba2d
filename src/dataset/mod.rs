//! The encoder's pretext-task training data (ST-ITO), rendered with fxmatch's own DSP.
//!
//! `fxmatch dataset CONTENT OUT` writes, into `OUT`:
//! - `config.json`: the [`DatasetConfig`]; a resumed run must use the same one.
//! - `frontend.json`: the log-mel [`FrontEndSettings`] the
//!   encoder is trained with (the training code reads it; the model ships it).
//! - `presets.json`: per effect, `k` presets made by clustering random settings ([`presets`]).
//! - `content.json`: the content files (content id = index), paths relative to `CONTENT`.
//! - `shard-NNNNN.f16` + `shard-NNNNN.json`: the pairs and their labels ([`pairs`]).
//! - `dataset.json`, last: shard list, shapes, effect names; its presence means complete.
//!
//! Every file is written atomically; an interrupted run picks up at the first missing shard.

pub mod content;
pub mod effects;
pub mod kmeans;
pub mod pairs;
pub mod parallel;
pub mod presets;
pub mod probe;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::metric::FrontEndSettings;
use content::Content;
use pairs::{n_shards, shard_done, shard_names, write_shard, PairConfig, Renderers};
use presets::{make_presets, PresetConfig, PresetFile};

/// Effects in the dataset by default: every built-in but `gain` (a pure level change, which
/// the input-gain randomisation already covers).
pub const DEFAULT_EFFECTS: &[&str] = &["eq", "compressor", "distortion", "delay", "reverb"];

/// Everything that determines a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetConfig {
    /// Sample rate of content and pairs.
    pub sample_rate: u32,
    /// Presets.
    pub presets: PresetConfig,
    /// Pairs.
    pub pairs: PairConfig,
}

/// The summary written last (`dataset.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// The config.
    pub config: DatasetConfig,
    /// Effect names in class order.
    pub effects: Vec<String>,
    /// Presets per effect.
    pub n_presets: usize,
    /// `(data, index)` file names per shard.
    pub shards: Vec<(String, String)>,
    /// Layout of the `.f16` files.
    pub layout: String,
    /// Number of content files and their total length in seconds.
    pub content_files: usize,
    /// Total content length, seconds.
    pub content_seconds: f64,
}

/// Progress hooks: `start(stage, total)` then `tick()` per item.
pub trait Progress: Sync {
    /// A stage with `total` items begins.
    fn start(&self, stage: &str, total: u64);
    /// One item is done.
    fn tick(&self);
}

/// Progress that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn tick(&self) {}
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("plain data encodes as JSON")
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::config(path, None, format!("cannot read it: {e}"), "delete it and run `fxmatch dataset` again")
    })
}

/// Builds (or resumes) the dataset in `out` from the WAVs under `content_dir`.
pub fn build_dataset(
    content_dir: &Path,
    out: &Path,
    config: &DatasetConfig,
    threads: usize,
    progress: &dyn Progress,
) -> Result<DatasetManifest> {
    crate::fsutil::check_output_dir(out)?;
    let content = Content::load(content_dir, config.sample_rate)?;
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    let config_path = out.join("config.json");
    if config_path.exists() {
        let old: DatasetConfig = read_json(&config_path)?;
        if old != *config {
            return Err(Error::invalid(
                format!("{} holds a dataset made with other settings", out.display()),
                "write into a new folder, or delete this one to start over",
            ));
        }
    } else {
        write_atomic(&config_path, &to_json(config))?;
    }
    write_atomic(&out.join("frontend.json"), &to_json(&FrontEndSettings::default()))?;
    write_atomic(&out.join("content.json"), &to_json(&content.files))?;

    let presets_path = out.join("presets.json");
    let presets: PresetFile = if presets_path.exists() {
        read_json(&presets_path)?
    } else {
        let n = (config.presets.effects.len() * config.presets.n_settings) as u64;
        progress.start("presets", n);
        let p = make_presets(&config.presets, threads, &|| progress.tick())?;
        write_atomic(&presets_path, &to_json(&p))?;
        p
    };

    let pc = &config.pairs;
    let todo: Vec<usize> = (0..n_shards(pc)).filter(|&s| !shard_done(out, pc, s)).collect();
    progress.start("pairs", todo.iter().map(|&s| pairs::shard_len(pc, s) as u64).sum());
    parallel::par_map(
        todo.len(),
        threads,
        || Renderers::new(&presets),
        |r, i| write_shard(out, pc, &content, &presets, r, todo[i], &|| progress.tick()),
        &|| (),
    )?;

    let manifest = DatasetManifest {
        config: config.clone(),
        effects: presets.effects.iter().map(|e| e.effect.clone()).collect(),
        n_presets: config.presets.k,
        shards: (0..n_shards(pc)).map(shard_names).collect(),
        layout: "little-endian float16, C order, shape (n, 2 [x, y], 2 [left, right], frames)".into(),
        content_files: content.files.len(),
        content_seconds: content.total_frames() as f64 / config.sample_rate as f64,
    };
    write_atomic(&out.join("dataset.json"), &to_json(&manifest))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{write_wav, AudioBuffer, SampleFormat};

    fn small_config() -> DatasetConfig {
        DatasetConfig {
            sample_rate: 48_000,
            presets: PresetConfig {
                effects: vec!["gain".into(), "distortion".into()],
                n_settings: 12,
                k: 3,
                seed: 5,
                sample_rate: 48_000,
            },
            pairs: PairConfig {
                seed: 9,
                n_pairs: 7,
                shard_size: 3,
                frames: 4800,
                preroll: 480,
                gain_range_db: 6.0,
                min_rms_db: -60.0,
            },
        }
    }

    #[test]
    fn writes_resumes_and_labels_match_the_applied_effect() {
        let content = tempfile::tempdir().unwrap();
        let tone: Vec<f32> = (0..48_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        write_wav(
            content.path().join("t.wav"),
            &AudioBuffer::stereo(48_000, tone.clone(), tone),
            SampleFormat::F32,
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let cfg = small_config();
        let m = build_dataset(content.path(), out.path(), &cfg, 2, &NoProgress).unwrap();
        assert_eq!(m.shards.len(), 3);
        let presets: PresetFile = read_json(&out.path().join("presets.json")).unwrap();
        let c = Content::load(content.path(), 48_000).unwrap();
        let mut seen_gain = false;
        for (s, (data, index)) in m.shards.iter().enumerate() {
            let idx: pairs::ShardIndex = read_json(&out.path().join(index)).unwrap();
            let bytes = std::fs::read(out.path().join(data)).unwrap();
            assert_eq!(bytes.len(), idx.n * 4 * 4800 * 2);
            let f = |i: usize| half::f16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f32();
            for (j, label) in idx.pairs.iter().enumerate() {
                assert_eq!(label.effect, presets.effects[label.effect_id].effect);
                let base = j * 4 * 4800;
                // x is the content excerpt at the labelled offset and input gain.
                let g = crate::dsp::db_to_gain(label.input_gain_db);
                let src = c.files[label.content].channels.0[label.offset + 100];
                assert!((f(base + 100) - src * g).abs() < 2e-3);
                if label.effect == "gain" {
                    // y = x · preset gain: the label says which preset was applied.
                    seen_gain = true;
                    let pg = crate::dsp::db_to_gain(presets.effects[0].presets[label.preset][0]);
                    let (x, y) = (f(base + 1000), f(base + 2 * 4800 + 1000));
                    assert!((y - x * pg).abs() < 2e-3 * (1.0 + y.abs()), "shard {s} pair {j}");
                }
            }
        }
        assert!(seen_gain, "7 pairs over 2 effects should include a gain pair");

        // Resume: a deleted shard is rewritten identically; other settings are refused.
        let first = std::fs::read(out.path().join(&m.shards[1].0)).unwrap();
        std::fs::remove_file(out.path().join(&m.shards[1].0)).unwrap();
        build_dataset(content.path(), out.path(), &cfg, 1, &NoProgress).unwrap();
        assert_eq!(std::fs::read(out.path().join(&m.shards[1].0)).unwrap(), first);
        let mut other = cfg.clone();
        other.pairs.seed = 10;
        let e = build_dataset(content.path(), out.path(), &other, 1, &NoProgress).unwrap_err().to_string();
        assert!(e.contains("other settings"), "{e}");
    }
}
