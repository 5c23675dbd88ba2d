//! The trained style encoder: log-mel front end → small CNN (ONNX, run with tract) → mid and side
//! embeddings.
//!
//! A model is a pair of files made by `training/export.py` (float) or `training/quantize.py`
//! (int8): `NAME.onnx` and its sidecar `NAME.json`, which carries the front-end settings the model
//! was trained with (so they are never written down twice), the embedding size and the sha256 of
//! the ONNX file (a truncated or swapped file is refused before tract sees it).
//!
//! # Input policy (any length, any supported rate)
//! - **Sample rate**: 8–192 kHz. The front end's window and hop are fixed in seconds and its bands
//!   in Hz, so 44.1 and 48 kHz audio give comparable spectrograms (the model was trained at 48 kHz).
//! - **Short clips**: anything shorter than one analysis window (42.7 ms), down to an empty clip,
//!   is one frame with the clip centred in it; the network pools over time with ceil-mode pooling,
//!   so one frame is a valid input.
//! - **Long clips**: audio longer than [`EncoderModel::CHUNK_SECONDS`] (10 s) is cut into equal
//!   chunks of at most that length; each chunk is embedded and the mid and side vectors are
//!   averaged, weighted by chunk length, and L2-normalised again. Cost grows linearly with length,
//!   memory does not.
//! - **Mono**: pass the same signal as left and right; side is then digital silence (floored at the
//!   front end's −100 dB), which the model embeds like any other input.
//! - **Silence, NaN, inf**: silence has a defined embedding; NaN or infinite samples are refused
//!   with the channel and index (see [`StyleMetric::embed`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use super::frontend::{FrontEnd, FrontEndSettings};
use super::{Embedding, StyleMetric};
use crate::audio::StereoSource;
use crate::{Error, Result};

/// The sidecar format this build understands.
pub const MODEL_FORMAT: &str = "fxmatch-style-encoder/1";

/// The repository's default model, relative to its root. The same model is built into the
/// binary ([`EncoderModel::builtin`]), which is what runs when no model path is given, so the
/// default works from any working directory and for an installed binary.
pub const DEFAULT_MODEL: &str = "models/encoder.onnx";

/// The default model's ONNX file and sidecar, built in (1.5 MB). The sidecar's checksum is
/// checked on load as for a file.
const BUILTIN_ONNX: &[u8] = include_bytes!("../../models/encoder.onnx");
const BUILTIN_SIDECAR: &str = include_str!("../../models/encoder.json");

/// Every model built into the binary, found by checksum ([`EncoderModel::builtin_with_sha256`]):
/// (repository path, ONNX, sidecar). The real-content model (`models/real/`) is here because a
/// shipped predictor reads it.
const BUILTINS: &[(&str, &[u8], &str)] = &[
    (DEFAULT_MODEL, BUILTIN_ONNX, BUILTIN_SIDECAR),
    (
        "models/real/encoder.onnx",
        include_bytes!("../../models/real/encoder.onnx"),
        include_str!("../../models/real/encoder.json"),
    ),
];

/// The sidecar `NAME.json` of a model `NAME.onnx` (fields the Rust side uses; others are kept
/// for people: training summary, MACs, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Must be [`MODEL_FORMAT`].
    pub format: String,
    /// The front end the model was trained with.
    pub frontend: FrontEndSettings,
    /// Embedding length per channel (mid and side each).
    pub dim: usize,
    /// Trainable parameters.
    #[serde(default)]
    pub parameters: u64,
    /// Multiply-accumulates per 5.5 s stereo clip (mid and side).
    #[serde(default)]
    pub macs_per_5s5_stereo: u64,
    /// `"float32"` or `"int8"`.
    #[serde(default = "float32")]
    pub precision: String,
    /// sha256 of the ONNX file, lowercase hex.
    pub onnx_sha256: String,
}

fn float32() -> String {
    "float32".into()
}

type Plan = TypedRunnableModel<TypedModel>;

const TRAIN_FIX: &str =
    "make the model with `bash training/run_all.sh` (training/README.md), or pass --model PATH";

/// A loaded model: parsed, checked and optimised once, shared by every [`Encoder`] (cheap to
/// clone; one per matcher worker).
#[derive(Clone)]
pub struct EncoderModel {
    inner: Arc<ModelInner>,
}

struct ModelInner {
    path: PathBuf,
    meta: ModelMeta,
    /// The graph with a symbolic number of frames, decluttered (not yet optimised).
    graph: TypedModel,
    /// The symbol for the number of frames in `graph`.
    frames: Symbol,
    /// Optimised plans for concrete frame counts, most recently used last (see [`PLAN_CACHE`]).
    plans: Mutex<Vec<(usize, Arc<Plan>)>>,
}

/// Optimised plans kept per model. tract optimises a graph best (and its int8 convolutions
/// only) when every shape is known, so a plan is made per input length: a match embeds one
/// segment length thousands of times, and long files are cut into equal chunks, so a few lengths
/// cover everything.
const PLAN_CACHE: usize = 8;

impl std::fmt::Debug for EncoderModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderModel")
            .field("path", &self.inner.path)
            .field("meta", &self.inner.meta)
            .finish()
    }
}

impl EncoderModel {
    /// Longest stretch of audio embedded in one pass; longer audio is chunked (module docs).
    pub const CHUNK_SECONDS: f32 = 10.0;

    /// Loads `path` (`NAME.onnx`) and its sidecar `NAME.json`. Errors name the file and the fix:
    /// missing files, a checksum that does not match (corrupt or mismatched pair), an unknown
    /// sidecar format, or an ONNX graph tract cannot run with the expected input and outputs.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let sidecar = path.with_extension("json");
        let onnx = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            action: "reading the style encoder model",
            source,
            fix: format!("{TRAIN_FIX}; without --model the built-in default model is used; or use --metric mfcc, which needs no model"),
        })?;
        let meta_text = std::fs::read_to_string(&sidecar).map_err(|source| Error::Io {
            path: sidecar.clone(),
            action: "reading the model's sidecar (front-end settings and checksum)",
            source,
            fix: format!("keep NAME.json beside NAME.onnx as training/export.py writes them; {TRAIN_FIX}"),
        })?;
        Self::from_parts(path, &onnx, &meta_text, &sidecar)
    }

    /// The default model built into the binary (the repository's [`DEFAULT_MODEL`] at build
    /// time), checked like a file. Its [`EncoderModel::path`] is `models/encoder.onnx (built in)`.
    pub fn builtin() -> Result<Self> {
        Self::from_builtin(&BUILTINS[0])
    }

    /// The built-in model whose ONNX file has sha256 `sha256` (a predictor's sidecar names the
    /// encoder it reads that way); an error lists the built-in ones.
    pub fn builtin_with_sha256(sha256: &str) -> Result<Self> {
        for builtin in BUILTINS {
            let meta: ModelMeta = serde_json::from_str(builtin.2).expect("built-in sidecars parse");
            if meta.onnx_sha256.eq_ignore_ascii_case(sha256) {
                return Self::from_builtin(builtin);
            }
        }
        let have: Vec<&str> = BUILTINS.iter().map(|(path, ..)| *path).collect();
        Err(Error::invalid(
            format!("no style encoder with sha256 {sha256} is built in (built in: {})", have.join(", ")),
            "retrain the predictor on a built-in encoder (training/predictor.py), or use --mode search",
        ))
    }

    /// A [`BUILTINS`] entry, checked like a file; its path reads `models/….onnx (built in)`.
    fn from_builtin((path, onnx, sidecar): &(&str, &[u8], &str)) -> Result<Self> {
        let json = Path::new(path).with_extension("json");
        Self::from_parts(
            PathBuf::from(format!("{path} (built in)")),
            onnx,
            sidecar,
            &PathBuf::from(format!("{} (built in)", json.display())),
        )
    }

    /// A model from its ONNX bytes and sidecar text; `path` and `sidecar` name them in messages.
    fn from_parts(path: PathBuf, onnx: &[u8], meta_text: &str, sidecar: &Path) -> Result<Self> {
        let train_fix = TRAIN_FIX;
        let meta: ModelMeta = serde_json::from_str(meta_text).map_err(|e| {
            Error::config(
                sidecar,
                Some(e.line()),
                format!("not a model sidecar: {e}"),
                format!("use the NAME.json written with NAME.onnx by training/export.py; {train_fix}"),
            )
        })?;
        let err_path = path.clone();
        let bad = move |message: String, fix: &str| Error::config(&err_path, None, message, fix);
        if meta.format != MODEL_FORMAT {
            return Err(bad(
                format!("sidecar format `{}`, this fxmatch reads `{MODEL_FORMAT}`", meta.format),
                "re-export the model with this version's training/export.py",
            ));
        }
        meta.frontend.validate()?;
        crate::metric::verify_sha256(onnx, &meta.onnx_sha256).map_err(|m| {
            bad(m, "copy the .onnx and .json of one export together, or re-export (training/README.md)")
        })?;
        let (graph, frames) = load_graph(onnx, &meta)
            .map_err(|e| bad(format!("tract cannot load this model: {e:#}"), "re-export with training/export.py (ONNX opset 17, input `logmel` (batch, 2, frames, n_mels))"))?;
        let model = EncoderModel {
            inner: Arc::new(ModelInner { path, meta, graph, frames, plans: Mutex::new(Vec::new()) }),
        };
        // A model that loads but computes garbage (NaN weights, wrong output shape) is refused here,
        // not in the middle of a match.
        model.run_logmel(&vec![model.inner.meta.frontend.floor_db; 2 * model.n_mels()], 1).map_err(|e| {
            bad(format!("the model fails on a test input: {e}"), "re-export the model (training/README.md)")
        })?;
        Ok(model)
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The sidecar's contents.
    pub fn meta(&self) -> &ModelMeta {
        &self.inner.meta
    }

    /// Mel bands the model takes.
    pub fn n_mels(&self) -> usize {
        self.inner.meta.frontend.n_mels
    }

    /// Runs the network on one mid/side log-mel spectrogram, `logmel` = mid frames then side
    /// frames, each `frames × n_mels`, frame-major. Returns L2-normalised (mid, side).
    pub fn run_logmel(&self, logmel: &[f32], frames: usize) -> Result<Embedding> {
        let n_mels = self.n_mels();
        if frames == 0 || logmel.len() != 2 * frames * n_mels {
            return Err(Error::invalid(
                format!(
                    "log-mel input of {} values for {frames} frames of {n_mels} bands (mid and side)",
                    logmel.len()
                ),
                "pass 2 × frames × n_mels values, at least one frame",
            ));
        }
        let input = Tensor::from_shape(&[1, 2, frames, n_mels], logmel).map_err(tract_err)?;
        let out = self.plan(frames)?.run(tvec!(input.into())).map_err(tract_err)?;
        let vector = |i: usize| -> Result<Vec<f32>> {
            let v = out[i].as_slice::<f32>().map_err(tract_err)?;
            if v.len() != self.inner.meta.dim || !v.iter().all(|x| x.is_finite()) {
                return Err(Error::invalid(
                    format!(
                        "the encoder returned {} values (expected {}), finite: {}",
                        v.len(),
                        self.inner.meta.dim,
                        v.iter().all(|x| x.is_finite())
                    ),
                    "the model file does not match its sidecar or is broken; re-export it",
                ));
            }
            Ok(v.to_vec())
        };
        Ok(Embedding { mid: vector(0)?, side: vector(1)? })
    }

    /// The optimised plan for `frames` frames: from the cache, or made now (tens of ms).
    fn plan(&self, frames: usize) -> Result<Arc<Plan>> {
        let mut plans = self.inner.plans.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(i) = plans.iter().position(|(n, _)| *n == frames) {
            let entry = plans.remove(i);
            let plan = entry.1.clone();
            plans.push(entry);
            return Ok(plan);
        }
        // Made under the lock: worker threads asking for the same new length wait for one
        // optimisation instead of each doing it.
        let values = SymbolValues::default().with(&self.inner.frames, frames as i64);
        let plan = self
            .inner
            .graph
            .concretize_dims(&values)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(tract_err)?;
        let plan = Arc::new(plan);
        if plans.len() == PLAN_CACHE {
            plans.remove(0);
        }
        plans.push((frames, plan.clone()));
        Ok(plan)
    }
}

/// Parses the ONNX graph with input `(1, 2, frames, n_mels)` (frames symbolic) and declutters it.
fn load_graph(onnx: &[u8], meta: &ModelMeta) -> TractResult<(TypedModel, Symbol)> {
    let mut model = tract_onnx::onnx().model_for_read(&mut &onnx[..])?;
    let frames = model.sym("frames");
    let shape: TVec<TDim> =
        tvec![1.into(), 2.into(), frames.clone().into(), (meta.frontend.n_mels as i64).into()];
    model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))?;
    let model = model.into_typed()?.into_decluttered()?;
    anyhow::ensure!(
        model.outputs.len() == 2,
        "expected 2 outputs (mid, side), found {}",
        model.outputs.len()
    );
    Ok((model, frames))
}

fn tract_err(e: anyhow::Error) -> Error {
    Error::invalid(
        format!("style encoder: {e:#}"),
        "re-export the model (training/README.md); report it if it persists",
    )
}

/// The style encoder as a [`StyleMetric`]: one per thread, sharing one [`EncoderModel`].
pub struct Encoder {
    model: EncoderModel,
    /// The front end for the last sample rate seen (rebuilt when the rate changes).
    front_end: Option<FrontEnd>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("model", &self.model.inner.path).finish()
    }
}

impl Encoder {
    /// An encoder running `model`.
    pub fn new(model: EncoderModel) -> Self {
        Encoder { model, front_end: None }
    }

    /// Loads the model at `path` (see [`EncoderModel::load`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(EncoderModel::load(path)?))
    }

    /// The built-in default model (see [`EncoderModel::builtin`]).
    pub fn builtin() -> Result<Self> {
        Ok(Self::new(EncoderModel::builtin()?))
    }

    /// The model.
    pub fn model(&self) -> &EncoderModel {
        &self.model
    }

    fn front_end(&mut self, sample_rate: u32) -> Result<&mut FrontEnd> {
        if self.front_end.as_ref().is_none_or(|f| f.sample_rate() != sample_rate) {
            self.front_end = Some(FrontEnd::new(&self.model.inner.meta.frontend, sample_rate)?);
        }
        Ok(self.front_end.as_mut().expect("set above"))
    }

    /// Embeds one chunk (at most [`EncoderModel::CHUNK_SECONDS`]).
    fn embed_chunk(&mut self, left: &[f32], right: &[f32], sample_rate: u32) -> Result<Embedding> {
        let mel = self.front_end(sample_rate)?.log_mel_ms(left, right)?;
        let mut logmel = mel.mid;
        logmel.extend_from_slice(&mel.side);
        self.model.run_logmel(&logmel, mel.n_frames)
    }
}

impl StyleMetric for Encoder {
    fn name(&self) -> &str {
        "encoder"
    }

    fn embed(&mut self, left: &[f32], right: &[f32], sample_rate: u32) -> Result<Embedding> {
        if left.len() != right.len() {
            return Err(Error::invalid(
                format!("left has {} samples, right {}", left.len(), right.len()),
                "pass channels of equal length",
            ));
        }
        super::frontend::check_sample_rate(sample_rate)?;
        let chunk = (EncoderModel::CHUNK_SECONDS * sample_rate as f32) as usize;
        let n_chunks = left.len().div_ceil(chunk).max(1);
        if n_chunks == 1 {
            return self.embed_chunk(left, right, sample_rate);
        }
        // Equal chunks (the last one at most n_chunks − 1 samples shorter), averaged by length.
        let len = left.len().div_ceil(n_chunks);
        let dim = self.model.inner.meta.dim;
        let (mut mid, mut side) = (vec![0.0f64; dim], vec![0.0f64; dim]);
        for start in (0..left.len()).step_by(len) {
            let end = (start + len).min(left.len());
            let e = self.embed_chunk(&left[start..end], &right[start..end], sample_rate)?;
            let w = (end - start) as f64;
            mid.iter_mut().zip(&e.mid).for_each(|(a, &x)| *a += w * x as f64);
            side.iter_mut().zip(&e.side).for_each(|(a, &x)| *a += w * x as f64);
        }
        Ok(Embedding { mid: l2_normalised(&mid), side: l2_normalised(&side) })
    }

    /// Streams: the same equal chunks as [`Encoder::embed`], each read as it is embedded, so
    /// memory holds one chunk (10 s) whatever the length, and the embedding is the same.
    fn embed_source(&mut self, source: &mut dyn StereoSource) -> Result<Embedding> {
        let sample_rate = source.sample_rate();
        super::frontend::check_sample_rate(sample_rate)?;
        let total = usize::try_from(source.frames()).unwrap_or(usize::MAX);
        let chunk = (EncoderModel::CHUNK_SECONDS * sample_rate as f32) as usize;
        let n_chunks = total.div_ceil(chunk).max(1);
        if n_chunks == 1 {
            let (l, r) = super::read_all(source)?;
            return self.embed_chunk(&l, &r, sample_rate);
        }
        let len = total.div_ceil(n_chunks);
        let dim = self.model.inner.meta.dim;
        let (mut mid, mut side) = (vec![0.0f64; dim], vec![0.0f64; dim]);
        let (mut l, mut r) = (vec![0.0f32; len], vec![0.0f32; len]);
        for start in (0..total).step_by(len) {
            let n = (start + len).min(total) - start;
            super::read_exact(source, &mut l[..n], &mut r[..n])?;
            let e = self.embed_chunk(&l[..n], &r[..n], sample_rate)?;
            let w = n as f64;
            mid.iter_mut().zip(&e.mid).for_each(|(a, &x)| *a += w * x as f64);
            side.iter_mut().zip(&e.side).for_each(|(a, &x)| *a += w * x as f64);
        }
        Ok(Embedding { mid: l2_normalised(&mid), side: l2_normalised(&side) })
    }

    fn fingerprint(&self) -> String {
        format!("encoder:{}", self.model.inner.meta.onnx_sha256)
    }

    fn boxed_clone(&self) -> Box<dyn StyleMetric> {
        Box::new(Encoder::new(self.model.clone()))
    }
}

fn l2_normalised(v: &[f64]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| (x / norm) as f32).collect()
    } else {
        vec![0.0; v.len()]
    }
}
