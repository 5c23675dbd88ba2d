//! Training examples for the parameter predictor, rendered through the very chain it will drive.
//!
//! Example `i` (deterministic from the seed and `i`): an input excerpt A and a reference excerpt
//! B (the same excerpt with probability `same_content`, as the seed trained; otherwise another
//! random excerpt, as a live match sees), and a random setting `p` of the chain's free
//! parameters: each effect is active with probability `p_active`, its free parameters then
//! uniform in [0.01, 0.99], otherwise at the match's start point (neutral). The reference is B
//! rendered through the chain at `p` from a reset chain, as the matcher renders candidates. Each
//! row holds the predictor's input for A and the reference ([`super::network_input`]: the VAE
//! latents, the style statistics ([`super::features`]) unless left out, the style encoder's
//! embeddings when an encoder is given) and the target `p`:
//! `[z_A.mid, z_A.side, z_ref.mid, z_ref.side, stats_A, stats_ref, style_A, style_ref, p]` as
//! little-endian f32 (`examples.f32`), described by `predict-dataset.json`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::features::{STYLE_STATS, STYLE_STATS_LEN};
use super::{network_input, param_names, Reader};
use crate::chain::{Chain, ChainSpec};
use crate::dataset::content::{Content, Excerpt};
use crate::dataset::parallel::par_map;
use crate::error::{Error, Result};
use crate::metric::{EncoderModel, VaeModel};
use crate::render::{offline_chain, render_into};

/// The sample rate of every excerpt (the content is loaded at it).
const SR: u32 = 48_000;

/// Settings of a predictor dataset.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PredictDatasetConfig {
    /// Examples.
    pub n: usize,
    /// Excerpt length, seconds.
    pub seconds: f32,
    /// Probability that an effect is active in an example.
    pub p_active: f64,
    /// Probability that the reference is the input's own excerpt.
    pub same_content: f64,
    /// Random seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// Whether rows carry the style statistics (absent in datasets made before them: false).
    #[serde(default)]
    pub stats: bool,
}

/// Example `i`'s excerpts and setting, before rendering.
pub struct Example {
    /// The input excerpt A.
    pub input: Excerpt,
    /// The excerpt B that, rendered at `setting`, is the reference.
    pub reference: Excerpt,
    /// The chain's normalised free parameters that make the reference.
    pub setting: Vec<f64>,
}

/// Draws example `i` of a dataset made with `config` (deterministic from the seed and `i`), so
/// that a trainer can replay it: the same content folder gives the same excerpts.
pub fn draw_example(
    chain: &Chain,
    content: &Content,
    frames: usize,
    config: &PredictDatasetConfig,
    i: usize,
) -> Example {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64));
    let input = content.excerpt(frames, 0, &mut rng);
    let reference = if rng.random_bool(config.same_content) {
        input.clone()
    } else {
        content.excerpt(frames, 0, &mut rng)
    };
    let setting = random_setting(chain, config.p_active, &mut rng);
    Example { input, reference, setting }
}

/// One example's values and the content ids of its excerpts.
struct Row {
    values: Vec<f32>,
    content: (usize, usize),
}

/// One row of a predictor dataset (the layout `predict-dataset.json` describes): the network's
/// input for `input` and `reference` as `reader` describes them (statistics if `stats`), then
/// `params`.
pub(super) fn example_row(
    reader: &mut Reader,
    input: (&[f32], &[f32]),
    reference: (&[f32], &[f32]),
    stats: bool,
    params: &[f64],
) -> Result<Vec<f32>> {
    let a = reader.describe(input.0, input.1, SR, stats)?;
    let r = reader.describe(reference.0, reference.1, SR, stats)?;
    let mut values = network_input(&a, &r);
    values.extend(params.iter().map(|&x| x as f32));
    Ok(values)
}

/// The models a dataset's rows are read with: the VAE, and the style encoder if the rows carry
/// its embeddings.
#[derive(Clone, Debug)]
pub struct RowModels {
    /// The VAE whose latents every row holds.
    pub vae: VaeModel,
    /// The style encoder whose embeddings the rows hold, if any.
    pub encoder: Option<EncoderModel>,
}

impl RowModels {
    /// A reader per worker.
    pub(super) fn reader(&self) -> Reader {
        Reader::new(self.vae.clone(), self.encoder.clone())
    }

    /// Writes `out/predict-dataset.json`: `manifest` (what the dataset is) with the fields that
    /// describe its rows' layout (the models' checksums; statistics if `stats`; `target`, what the
    /// parameters after the input are).
    pub(super) fn write_manifest(
        &self,
        out: &Path,
        mut manifest: serde_json::Value,
        stats: bool,
        target: &str,
    ) -> Result<()> {
        let fields = serde_json::json!({
            "dim": self.vae.meta().dim,
            "vae_sha256": self.vae.meta().onnx_sha256,
            "row": format!("z_input.mid, z_input.side, z_ref.mid, z_ref.side (dim each), then stats_input, stats_ref (stats_len each, if stats), then style_input, style_ref (style_len each, if encoder_sha256), then the {target}"),
            "stats": stats.then_some(STYLE_STATS),
            "stats_len": if stats { STYLE_STATS_LEN } else { 0 },
            "encoder_sha256": self.encoder.as_ref().map(|e| e.meta().onnx_sha256.clone()),
            "style_len": super::style_len(self.encoder.as_ref()),
        });
        if let (Some(m), serde_json::Value::Object(f)) = (manifest.as_object_mut(), fields) {
            m.extend(f);
        }
        let path = out.join("predict-dataset.json");
        std::fs::write(&path, serde_json::to_string_pretty(&manifest).expect("json"))
            .map_err(|e| Error::write(&path, e))
    }
}

/// Writes `rows` to `out/examples.f32`, little-endian f32, row after row.
pub(super) fn write_examples<'a>(out: &Path, rows: impl Iterator<Item = &'a [f32]>) -> Result<()> {
    let mut bytes = Vec::new();
    for row in rows {
        for v in row {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    let data = out.join("examples.f32");
    std::fs::write(&data, bytes).map_err(|e| Error::write(&data, e))
}

/// The random setting of example `rng`'s chain (module docs).
pub fn random_setting(chain: &Chain, p_active: f64, rng: &mut impl Rng) -> Vec<f64> {
    let mut active = vec![false; chain.len()];
    for a in active.iter_mut() {
        *a = rng.random_bool(p_active);
    }
    chain
        .free_params()
        .iter()
        .map(|p| if active[p.slot] { rng.random_range(0.01..0.99) } else { p.start })
        .collect()
}

/// Writes `n` examples to `out/examples.f32` and `out/predict-dataset.json` (see the module docs);
/// `progress` is called with the number done.
pub fn build(
    spec: &ChainSpec,
    content: &Content,
    models: &RowModels,
    config: &PredictDatasetConfig,
    out: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<()> {
    let names = param_names(&Chain::from_spec(spec)?);
    let frames = (config.seconds * SR as f32) as usize;
    if frames < SR as usize / 2 {
        return Err(Error::invalid("predictor excerpts must last at least 0.5 s", "use --seconds 3"));
    }
    let done = AtomicUsize::new(0);
    let rows: Vec<Row> = par_map(
        config.n,
        config.threads,
        || {
            let chain = offline_chain(spec, SR as f32)?;
            Ok((chain, models.reader(), (vec![0.0f32; frames], vec![0.0f32; frames])))
        },
        |(chain, reader, (out_l, out_r)), i| {
            let Example { input: a, reference: b, setting: p } =
                draw_example(chain, content, frames, config, i);
            chain.set_normalized(&p);
            render_into(chain, &b.left, &b.right, out_l, out_r);
            let values = example_row(reader, (&a.left, &a.right), (out_l, out_r), config.stats, &p)?;
            Ok(Row { values, content: (a.content, b.content) })
        },
        &|| progress(done.fetch_add(1, Ordering::Relaxed) + 1),
    )?;
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    write_examples(out, rows.iter().map(|r| r.values.as_slice()))?;
    let manifest = serde_json::json!({
        "format": "fxmatch-predict-dataset/1",
        "chain": spec.name,
        "params": names,
        "n": rows.len(),
        "content_input": rows.iter().map(|r| r.content.0).collect::<Vec<_>>(),
        "content_reference": rows.iter().map(|r| r.content.1).collect::<Vec<_>>(),
        "config": config,
    });
    models.write_manifest(out, manifest, config.stats, "normalised parameters")
}
