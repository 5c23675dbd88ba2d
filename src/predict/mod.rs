//! The one-pass parameter predictor of the second seed (Grant, AES 2023): an MLP maps the
//! spectrogram beta-VAE's latents of the input and of the reference, `[z_x, z_ref]`, to a chain's
//! normalised free parameters, each in [0.01, 0.99]. `fxmatch match --mode predict` uses it alone;
//! `--mode hybrid` starts the CMA-ES search at its prediction with a smaller step size and budget.
//!
//! A predictor belongs to one chain and one VAE: `NAME.onnx` (input `z` of shape
//! (1, 4 × dim + 2 × stats + 2 × style): the input's mid and side latent means, then the reference's, then, for a
//! predictor trained with them, the input's and the reference's [`features::style_stats`], then,
//! for a predictor that reads them, the input's and the reference's style-encoder embeddings (mid
//! then side); output `p` (1, free parameters)) beside its sidecar `NAME.json` (the chain's name
//! and its free parameters in order, the VAE's sha256, the feature set, the style encoder's
//! sha256 if any, the ONNX file's sha256), written by `training/predictor.py export`. Loading
//! checks both against the chain and the VAE in use, so a predictor never drives parameters it
//! was not trained for.

pub mod dataset;
pub mod features;
pub mod projection;
pub mod spsa;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use crate::audio::AudioBuffer;
use crate::chain::Chain;
use crate::metric::{Embedding, Encoder, EncoderModel, StyleMetric, Vae, VaeModel};
use crate::optimize::MatchConfig;
use crate::{Error, Result};

/// The sidecar format this build understands.
pub const PREDICTOR_FORMAT: &str = "fxmatch-predictor/1";

/// The predictor for `config/chains/default.toml`, relative to the repository root.
pub const DEFAULT_PREDICTOR: &str = "models/predictor/default.onnx";

/// The predictors built into the binary, one per shipped chain: (chain name, ONNX, sidecar).
const BUILTINS: &[(&str, &[u8], &str)] = &[
    (
        "default",
        include_bytes!("../../models/predictor/default.onnx"),
        include_str!("../../models/predictor/default.json"),
    ),
    (
        "mda",
        include_bytes!("../../models/predictor/mda.onnx"),
        include_str!("../../models/predictor/mda.json"),
    ),
];

const TRAIN_FIX: &str = "train one with training/predictor.py (models/README.md), or use --mode search";

/// Step size of the hybrid search: it starts at the prediction, so it searches near it.
pub const HYBRID_SIGMA: f64 = 0.1;

/// Weight of the hybrid search's pull toward the prediction ([`MatchConfig::start_prior`]).
/// The similarity metric rewards copying the reference's content and the prediction does not,
/// so the search may only refine it: chosen by `eval transfer` (docs/experiments.md, issue 19).
pub const HYBRID_START_PRIOR: f64 = 3.0;

/// The hybrid search's settings from a search profile's: σ [`HYBRID_SIGMA`], a third of the
/// generations and half the patience (rounded up), a pull toward the prediction
/// ([`HYBRID_START_PRIOR`]); the start point is set per match ([`MatchConfig::start_at`]).
pub fn hybrid_config(base: &MatchConfig) -> MatchConfig {
    MatchConfig {
        sigma0: HYBRID_SIGMA,
        start_prior: HYBRID_START_PRIOR,
        max_generations: base.max_generations.div_ceil(3),
        patience: base.patience.map(|p| p.div_ceil(2)),
        ..base.clone()
    }
}

/// The sidecar `NAME.json` of a predictor `NAME.onnx`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictorMeta {
    /// Must be [`PREDICTOR_FORMAT`].
    pub format: String,
    /// The chain's name (its file's `name`).
    pub chain: String,
    /// The chain's free parameters in search-vector order, as `effect.param`.
    pub params: Vec<String>,
    /// Latent size of the VAE per channel.
    pub dim: usize,
    /// sha256 of the VAE's ONNX file the predictor was trained on.
    pub vae_sha256: String,
    /// The hand-made statistics it reads beside the latents ([`features::STYLE_STATS`]), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
    /// sha256 of the style encoder whose embeddings it reads beside the latents, if any (a
    /// built-in one: [`EncoderModel::builtin_with_sha256`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_sha256: Option<String>,
    /// sha256 of the predictor's ONNX file, lowercase hex.
    pub onnx_sha256: String,
}

impl PredictorMeta {
    /// Style statistics per signal the predictor reads: [`features::STYLE_STATS_LEN`], or 0.
    pub fn stats_len(&self) -> usize {
        if self.stats.is_some() {
            features::STYLE_STATS_LEN
        } else {
            0
        }
    }
}

/// The free parameters of `chain` as `effect.param`, in search-vector order.
pub fn param_names(chain: &Chain) -> Vec<String> {
    chain.free_params().iter().map(|p| format!("{}.{}", p.effect_id, p.param_id)).collect()
}

/// What a predictor reads of one signal: its VAE latent, and its style statistics and style
/// embedding for a predictor trained with them ([`Predictor::describe`]).
#[derive(Debug, Clone)]
pub struct Description {
    /// The VAE's mid and side latent means.
    pub latent: Embedding,
    /// [`features::style_stats`], or empty for a predictor that does not read them.
    pub stats: Vec<f32>,
    /// The style encoder's mid then side embedding, or empty for a predictor that does not read it.
    pub style: Vec<f32>,
}

impl Description {
    /// The mean of several descriptions (latents, statistics and embeddings averaged apart):
    /// what several references processed alike share. Panics on an empty slice.
    pub fn mean(descriptions: &[Description]) -> Description {
        assert!(!descriptions.is_empty(), "the mean of no description");
        let latents: Vec<Embedding> = descriptions.iter().map(|d| d.latent.clone()).collect();
        let stats: Vec<&[f32]> = descriptions.iter().map(|d| d.stats.as_slice()).collect();
        let style: Vec<&[f32]> = descriptions.iter().map(|d| d.style.as_slice()).collect();
        Description {
            latent: Embedding::mean(&latents),
            stats: crate::metric::mean_vector(&stats),
            style: crate::metric::mean_vector(&style),
        }
    }
}

/// The per-thread analysers a predictor's [`Predictor::describe`] runs: its VAE and, for a
/// predictor that reads it, its style encoder ([`Predictor::reader`]).
#[derive(Debug)]
pub struct Reader {
    vae: Vae,
    encoder: Option<Encoder>,
}

impl Reader {
    /// Analysers running `vae` and, if given, the style encoder `encoder`.
    pub fn new(vae: VaeModel, encoder: Option<EncoderModel>) -> Self {
        Reader { vae: Vae::new(vae), encoder: encoder.map(Encoder::new) }
    }

    /// The VAE latent of `(left, right)`, its style statistics if `stats`, and its style
    /// embedding if the reader has an encoder.
    pub fn describe(
        &mut self,
        left: &[f32],
        right: &[f32],
        sample_rate: u32,
        stats: bool,
    ) -> Result<Description> {
        let latent = self.vae.embed(left, right, sample_rate)?;
        let stats = if stats { features::style_stats(left, right, sample_rate) } else { Vec::new() };
        let style = match &mut self.encoder {
            Some(encoder) => {
                let e = encoder.embed(left, right, sample_rate)?;
                [e.mid, e.side].concat()
            }
            None => Vec::new(),
        };
        Ok(Description { latent, stats, style })
    }
}

/// Values a style encoder gives per signal (its mid and side embeddings), 0 without one.
pub fn style_len(encoder: Option<&EncoderModel>) -> usize {
    encoder.map_or(0, |e| 2 * e.meta().dim)
}

/// The network's input for a pair of descriptions (module docs): both latents, then both
/// statistics, then both style embeddings. Dataset rows ([`dataset`]) hold the same layout.
pub fn network_input(input: &Description, reference: &Description) -> Vec<f32> {
    let mut z = Vec::new();
    for v in [&input.latent.mid, &input.latent.side, &reference.latent.mid, &reference.latent.side] {
        z.extend_from_slice(v);
    }
    for v in [&input.stats, &reference.stats, &input.style, &reference.style] {
        z.extend_from_slice(v);
    }
    z
}

/// A loaded predictor with the VAE it reads.
#[derive(Clone)]
pub struct Predictor {
    path: PathBuf,
    meta: PredictorMeta,
    plan: std::sync::Arc<TypedRunnableModel<TypedModel>>,
    vae: VaeModel,
    encoder: Option<EncoderModel>,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor").field("path", &self.path).field("meta", &self.meta).finish()
    }
}

impl Predictor {
    /// Loads `path` (`NAME.onnx` beside `NAME.json`) for `vae`; errors name the file and the fix
    /// (missing, checksum, trained on another VAE).
    pub fn load(path: impl AsRef<Path>, vae: VaeModel) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let sidecar = path.with_extension("json");
        let onnx = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            action: "reading the parameter predictor",
            source,
            fix: TRAIN_FIX.into(),
        })?;
        let text = std::fs::read_to_string(&sidecar).map_err(|source| Error::Io {
            path: sidecar.clone(),
            action: "reading the predictor's sidecar (chain, parameters, checksums)",
            source,
            fix: format!("keep NAME.json beside NAME.onnx; {TRAIN_FIX}"),
        })?;
        Self::from_parts(path, &onnx, &text, &sidecar, vae)
    }

    /// The predictor for the default chain built into the binary (the repository's
    /// [`DEFAULT_PREDICTOR`] at build time), on the built-in VAE: found wherever the binary runs.
    pub fn builtin() -> Result<Self> {
        Self::builtin_for("default")
    }

    /// The built-in predictor for the chain named `chain` (its file's `name`): the repository's
    /// `models/predictor/NAME.onnx` at build time, for `default` and `mda`. An error names the
    /// chains that have one. The caller still checks the chain's parameters ([`Self::check_chain`]).
    pub fn builtin_for(chain: &str) -> Result<Self> {
        let Some((name, onnx, sidecar)) = BUILTINS.iter().find(|(name, ..)| *name == chain) else {
            let have: Vec<&str> = BUILTINS.iter().map(|(name, ..)| *name).collect();
            return Err(Error::invalid(
                format!("no predictor is built in for chain `{chain}` (built in: {})", have.join(", ")),
                TRAIN_FIX,
            ));
        };
        Self::from_parts(
            PathBuf::from(format!("models/predictor/{name}.onnx (built in)")),
            onnx,
            sidecar,
            Path::new(&format!("models/predictor/{name}.json (built in)")),
            VaeModel::builtin()?,
        )
    }

    fn from_parts(path: PathBuf, onnx: &[u8], text: &str, sidecar: &Path, vae: VaeModel) -> Result<Self> {
        let meta: PredictorMeta = serde_json::from_str(text).map_err(|e| {
            Error::config(sidecar, Some(e.line()), format!("not a predictor sidecar: {e}"), TRAIN_FIX)
        })?;
        let err_path = path.clone();
        let bad = move |message: String, fix: &str| Error::config(&err_path, None, message, fix);
        if meta.format != PREDICTOR_FORMAT {
            return Err(bad(
                format!("sidecar format `{}`, this fxmatch reads `{PREDICTOR_FORMAT}`", meta.format),
                "re-export it with this version's training/predictor.py",
            ));
        }
        crate::metric::verify_sha256(onnx, &meta.onnx_sha256)
            .map_err(|m| bad(m, "copy the .onnx and .json of one export together, or re-export"))?;
        let vae_sha = &vae.meta().onnx_sha256;
        if !vae_sha.eq_ignore_ascii_case(&meta.vae_sha256) || vae.meta().dim != meta.dim {
            return Err(bad(
                format!(
                    "trained on the VAE with sha256 {}, but the VAE in use is {} ({vae_sha})",
                    meta.vae_sha256,
                    vae.path().display()
                ),
                "retrain the predictor on this VAE's latents (training/predictor.py), or use --mode search",
            ));
        }
        match meta.stats.as_deref() {
            None | Some(features::STYLE_STATS) => {}
            Some(other) => {
                return Err(bad(
                    format!(
                        "reads the statistics `{other}`, this fxmatch computes `{}`",
                        features::STYLE_STATS
                    ),
                    "retrain it with this version's `fxmatch predictor dataset` and training/predictor.py",
                ))
            }
        }
        let encoder = match &meta.encoder_sha256 {
            Some(sha) => {
                Some(EncoderModel::builtin_with_sha256(sha).map_err(|e| bad(e.to_string(), TRAIN_FIX))?)
            }
            None => None,
        };
        let style_len = style_len(encoder.as_ref());
        let width = 4 * meta.dim + 2 * meta.stats_len() + 2 * style_len;
        let plan = (|| -> TractResult<_> {
            let mut model = tract_onnx::onnx().model_for_read(&mut &*onnx)?;
            model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), tvec![1, width]))?;
            model.into_optimized()?.into_runnable()
        })()
        .map_err(|e| {
            bad(format!("tract cannot load this predictor: {e:#}"), "re-export it with training/predictor.py")
        })?;
        let p = Predictor { path, meta, plan: std::sync::Arc::new(plan), vae, encoder };
        let zero = Description {
            latent: Embedding { mid: vec![0.0; p.meta.dim], side: vec![0.0; p.meta.dim] },
            stats: vec![0.0; p.meta.stats_len()],
            style: vec![0.0; style_len],
        };
        let x = p
            .predict(&zero, &zero)
            .map_err(|e| bad(format!("fails on a test input: {e}"), "re-export it"))?;
        if x.len() != p.meta.params.len() {
            return Err(bad(
                format!(
                    "returns {} values for the {} parameters its sidecar lists",
                    x.len(),
                    p.meta.params.len()
                ),
                "re-export it with training/predictor.py",
            ));
        }
        Ok(p)
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar's contents.
    pub fn meta(&self) -> &PredictorMeta {
        &self.meta
    }

    /// The analysers [`Self::describe`] runs (one per thread).
    pub fn reader(&self) -> Reader {
        Reader::new(self.vae.clone(), self.encoder.clone())
    }

    /// Style-encoder values per signal the predictor reads (mid and side), or 0.
    pub fn style_len(&self) -> usize {
        style_len(self.encoder.as_ref())
    }

    /// Errors unless `chain`'s free parameters are the ones the predictor was trained for.
    pub fn check_chain(&self, chain: &Chain) -> Result<()> {
        let names = param_names(chain);
        if names != self.meta.params {
            return Err(Error::config(
                &self.path,
                None,
                format!(
                    "trained for chain `{}` with free parameters [{}]; this chain has [{}]",
                    self.meta.chain,
                    self.meta.params.join(", "),
                    names.join(", ")
                ),
                "use the predictor trained for this chain, train one (training/predictor.py), or use --mode search",
            ));
        }
        Ok(())
    }

    /// What this predictor reads of `(left, right)`: the VAE latent and, if it was trained with
    /// them, the style statistics and the style embedding; `reader` from [`Self::reader`].
    pub fn describe(
        &self,
        reader: &mut Reader,
        left: &[f32],
        right: &[f32],
        sample_rate: u32,
    ) -> Result<Description> {
        reader.describe(left, right, sample_rate, self.meta.stats.is_some())
    }

    /// What this predictor reads of a reference given as several clips of one production: the
    /// mean of their descriptions ([`Description::mean`]), so that what differs between their
    /// contents averages out and their shared processing stays. One clip: its description.
    pub fn describe_references(&self, reader: &mut Reader, clips: &[&AudioBuffer]) -> Result<Description> {
        let each = clips
            .iter()
            .map(|c| {
                let (l, r) = c.stereo_slices();
                self.describe(reader, l, r, c.sample_rate)
            })
            .collect::<Result<Vec<_>>>()?;
        if each.is_empty() {
            return Err(Error::invalid("no reference clip to describe", "give at least one reference WAV"));
        }
        Ok(Description::mean(&each))
    }

    /// The normalised parameters, each in [0.01, 0.99], for the input's and the reference's
    /// descriptions ([`Self::describe`]).
    pub fn predict(&self, input: &Description, reference: &Description) -> Result<Vec<f64>> {
        let dim = self.meta.dim;
        let n_stats = self.meta.stats_len();
        let n_style = self.style_len();
        for d in [input, reference] {
            for v in [&d.latent.mid, &d.latent.side] {
                if v.len() != dim {
                    return Err(Error::invalid(
                        format!("a latent of {} values, the predictor takes {dim}", v.len()),
                        "embed with the predictor's own VAE (Predictor::describe)",
                    ));
                }
            }
            for (v, want, what) in
                [(&d.stats, n_stats, "style statistics"), (&d.style, n_style, "style-encoder values")]
            {
                if v.len() != want {
                    return Err(Error::invalid(
                        format!("{} {what}, the predictor takes {want}", v.len()),
                        "describe both signals with this predictor (Predictor::describe)",
                    ));
                }
            }
        }
        let z = network_input(input, reference);
        let input = Tensor::from_shape(&[1, z.len()], &z).map_err(tract_err)?;
        let out = self.plan.run(tvec!(input.into())).map_err(tract_err)?;
        let p = out[0].as_slice::<f32>().map_err(tract_err)?;
        if !p.iter().all(|v| v.is_finite()) {
            return Err(Error::invalid("the predictor returned non-finite parameters", "re-export it"));
        }
        Ok(p.iter().map(|&v| (v as f64).clamp(0.0, 1.0)).collect())
    }
}

fn tract_err(e: anyhow::Error) -> Error {
    Error::invalid(format!("predictor: {e:#}"), "re-export it with training/predictor.py")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_description_averages_each_part_apart() {
        let d = |x: f32| Description {
            latent: Embedding { mid: vec![x, 2.0 * x], side: vec![-x] },
            stats: vec![x; 3],
            style: Vec::new(),
        };
        let m = Description::mean(&[d(1.0), d(3.0)]);
        assert_eq!(m.latent, Embedding { mid: vec![2.0, 4.0], side: vec![-2.0] });
        assert_eq!(m.stats, [2.0; 3]);
        assert!(m.style.is_empty(), "a part no description has stays empty");
    }
}
