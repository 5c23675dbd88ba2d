//! The spectrogram beta-VAE of the second seed (Grant, AES 2023) as a style metric: the latent
//! mean of mid and of side, compared by cosine similarity like the encoder's embeddings.
//!
//! A model is `NAME.onnx` (the VAE's encoder, latent mean only; input `spec` (batch, 1, bins,
//! frames)) beside its sidecar `NAME.json` (front-end settings, latent size, sha256 of the ONNX),
//! both written by `training/vae.py export`.
//!
//! # Front end (the seed's analysis, at any rate without a resampler)
//! The seed analyses mono 24 kHz audio with an STFT of 4096 / hop 1024 and compresses the
//! magnitude as |X|^0.3. Here the same window and hop *in seconds* (8192 / 2048 at 48 kHz, scaled
//! with the sample rate) keep the bins from 0 to 12 kHz on the 48 kHz grid: 2049 bins, zeros above
//! the Nyquist frequency of rates under 24 kHz. Magnitudes are scaled by 8192 / window so every
//! rate gives the same values. Mid `(L+R)/2` and side `(L−R)/2` share one gain that brings the
//! louder of the two to a −12 dBFS peak (the seed peak-normalises its clips), so the metric sees
//! style, not level. A clip shorter than one window (171 ms) is one frame with the clip centred in
//! it; longer audio than [`Vae::CHUNK_SECONDS`] is cut into equal chunks, each normalised and
//! embedded on its own, and the latent means are averaged weighted by length.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use super::frontend::{check_sample_rate, check_samples};
use super::{Embedding, StyleMetric};
use crate::audio::StereoSource;
use crate::{Error, Result};

/// The sidecar format this build understands.
pub const VAE_FORMAT: &str = "fxmatch-vae/1";

/// The repository's VAE, relative to its root; the same model is built into the binary.
pub const DEFAULT_VAE: &str = "models/vae/vae.onnx";

const BUILTIN_ONNX: &[u8] = include_bytes!("../../models/vae/vae.onnx");
const BUILTIN_SIDECAR: &str = include_str!("../../models/vae/vae.json");

const TRAIN_FIX: &str = "make the model with `training/vae.py` (models/README.md), or pass --model PATH";

/// The VAE's front-end settings, as `training/vae.py` writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeFrontEndSettings {
    /// STFT window at 48 kHz, samples (scaled with the sample rate).
    pub window_48k: usize,
    /// Hop at 48 kHz, samples.
    pub hop_48k: usize,
    /// Bins kept from 0 Hz on the 48 kHz grid of `window_48k`.
    pub n_bins: usize,
    /// Magnitude compression exponent.
    pub power: f32,
    /// Peak level of the louder of mid and side after normalisation, dBFS.
    pub peak_dbfs: f32,
    /// Peaks below this are treated as this (quiet audio is not blown up to full scale).
    pub peak_floor: f32,
}

impl VaeFrontEndSettings {
    fn validate(&self) -> Result<()> {
        let ok = (64..=65_536).contains(&self.window_48k)
            && (1..=self.window_48k).contains(&self.hop_48k)
            && (1..=self.window_48k / 2 + 1).contains(&self.n_bins)
            && self.power > 0.0
            && self.power <= 2.0
            && self.peak_dbfs.is_finite()
            && self.peak_floor > 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                format!("VAE front end settings out of range: {self:?}"),
                "re-export the model with training/vae.py export",
            ))
        }
    }
}

/// The sidecar `NAME.json` of a VAE `NAME.onnx` (the fields the Rust side uses).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaeMeta {
    /// Must be [`VAE_FORMAT`].
    pub format: String,
    /// The front end the model was trained with.
    pub frontend: VaeFrontEndSettings,
    /// Latent size (the embedding length per channel).
    pub dim: usize,
    /// Trainable parameters of the encoder.
    #[serde(default)]
    pub parameters: u64,
    /// sha256 of the ONNX file, lowercase hex.
    pub onnx_sha256: String,
}

/// The magnitude spectrogram of one channel at one sample rate (module docs).
pub struct VaeSpectrogram {
    settings: VaeFrontEndSettings,
    sample_rate: u32,
    window: Vec<f32>,
    hop: usize,
    scale: f32,
    fft: Arc<dyn RealToComplex<f32>>,
    frame: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
}

impl VaeSpectrogram {
    /// The front end for `sample_rate` (8–192 kHz).
    pub fn new(settings: &VaeFrontEndSettings, sample_rate: u32) -> Result<Self> {
        settings.validate()?;
        check_sample_rate(sample_rate)?;
        let scale_len = |n: usize| ((n as f64 * sample_rate as f64 / 48_000.0).round() as usize).max(1);
        let window_len = scale_len(settings.window_48k).max(16);
        let hop = scale_len(settings.hop_48k).min(window_len);
        let window = crate::audio::hann(window_len).into_iter().map(|w| w as f32).collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(window_len);
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Ok(VaeSpectrogram {
            settings: settings.clone(),
            sample_rate,
            window,
            hop,
            scale: settings.window_48k as f32 / window_len as f32,
            fft,
            frame: vec![0.0; window_len],
            spectrum,
            scratch,
        })
    }

    /// The sample rate this front end is for.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Frames for `len` samples: 1 below one window, else whole windows at the hop.
    pub fn n_frames(&self, len: usize) -> usize {
        let w = self.window.len();
        if len < w {
            1
        } else {
            1 + (len - w) / self.hop
        }
    }

    /// Appends the spectrogram of `x` to `out`, bins-major (`n_bins` rows of `frames` values, the
    /// layout of one (1, bins, frames) input); returns the number of frames.
    pub fn compute(&mut self, x: &[f32], out: &mut Vec<f32>) -> Result<usize> {
        let w = self.window.len();
        let frames = self.n_frames(x.len());
        let n_bins = self.settings.n_bins;
        let base = out.len();
        out.resize(base + n_bins * frames, 0.0);
        let available = self.spectrum.len().min(n_bins);
        for t in 0..frames {
            if x.len() < w {
                let left = (w - x.len()) / 2;
                self.frame.fill(0.0);
                for (i, &v) in x.iter().enumerate() {
                    self.frame[left + i] = v * self.window[left + i];
                }
            } else {
                let seg = &x[t * self.hop..t * self.hop + w];
                for ((f, &v), &win) in self.frame.iter_mut().zip(seg).zip(&self.window) {
                    *f = v * win;
                }
            }
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .map_err(|e| Error::invalid(format!("VAE front end FFT: {e}"), "report this as a bug"))?;
            for (k, c) in self.spectrum[..available].iter().enumerate() {
                out[base + k * frames + t] = (c.norm() * self.scale).powf(self.settings.power);
            }
        }
        Ok(frames)
    }
}

/// Mid and side of `left`/`right`, scaled together so the louder peak is at `peak_dbfs`.
fn mid_side_normalised(left: &[f32], right: &[f32], s: &VaeFrontEndSettings) -> (Vec<f32>, Vec<f32>) {
    let mid: Vec<f32> = left.iter().zip(right).map(|(&l, &r)| (l + r) * 0.5).collect();
    let side: Vec<f32> = left.iter().zip(right).map(|(&l, &r)| (l - r) * 0.5).collect();
    let peak = mid.iter().chain(&side).fold(0.0f32, |p, v| p.max(v.abs())).max(s.peak_floor);
    let gain = (10f64.powf(s.peak_dbfs as f64 / 20.0) / peak as f64) as f32;
    (mid.into_iter().map(|v| v * gain).collect(), side.into_iter().map(|v| v * gain).collect())
}

type Plan = TypedRunnableModel<TypedModel>;

/// Optimised plans kept per model, one per input length (as the encoder's).
const PLAN_CACHE: usize = 8;

/// A loaded VAE: parsed and checked once, shared by every [`Vae`] (cheap to clone).
#[derive(Clone)]
pub struct VaeModel {
    inner: Arc<VaeInner>,
}

struct VaeInner {
    path: PathBuf,
    meta: VaeMeta,
    graph: TypedModel,
    frames: Symbol,
    plans: Mutex<Vec<(usize, Arc<Plan>)>>,
}

impl std::fmt::Debug for VaeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaeModel").field("path", &self.inner.path).field("meta", &self.inner.meta).finish()
    }
}

impl VaeModel {
    /// Loads `path` (`NAME.onnx`) and its sidecar `NAME.json`; errors name the file and the fix.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let sidecar = path.with_extension("json");
        let onnx = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            action: "reading the VAE model",
            source,
            fix: format!("{TRAIN_FIX}; without --model the built-in VAE is used"),
        })?;
        let meta_text = std::fs::read_to_string(&sidecar).map_err(|source| Error::Io {
            path: sidecar.clone(),
            action: "reading the VAE's sidecar (front-end settings and checksum)",
            source,
            fix: format!(
                "keep NAME.json beside NAME.onnx as training/vae.py export writes them; {TRAIN_FIX}"
            ),
        })?;
        Self::from_parts(path, &onnx, &meta_text, &sidecar)
    }

    /// The VAE built into the binary (the repository's [`DEFAULT_VAE`] at build time).
    pub fn builtin() -> Result<Self> {
        Self::from_parts(
            PathBuf::from(format!("{DEFAULT_VAE} (built in)")),
            BUILTIN_ONNX,
            BUILTIN_SIDECAR,
            Path::new("models/vae/vae.json (built in)"),
        )
    }

    fn from_parts(path: PathBuf, onnx: &[u8], meta_text: &str, sidecar: &Path) -> Result<Self> {
        let meta: VaeMeta = serde_json::from_str(meta_text).map_err(|e| {
            Error::config(
                sidecar,
                Some(e.line()),
                format!("not a VAE sidecar: {e}"),
                format!("use the NAME.json written with NAME.onnx by training/vae.py export; {TRAIN_FIX}"),
            )
        })?;
        let err_path = path.clone();
        let bad = move |message: String, fix: &str| Error::config(&err_path, None, message, fix);
        if meta.format != VAE_FORMAT {
            return Err(bad(
                format!("sidecar format `{}`, this fxmatch reads `{VAE_FORMAT}`", meta.format),
                "re-export the model with this version's training/vae.py export",
            ));
        }
        meta.frontend.validate()?;
        crate::metric::verify_sha256(onnx, &meta.onnx_sha256).map_err(|m| {
            bad(m, "copy the .onnx and .json of one export together, or re-export (models/README.md)")
        })?;
        let (graph, frames) = load_graph(onnx, &meta).map_err(|e| {
            bad(
                format!("tract cannot load this VAE: {e:#}"),
                "re-export with training/vae.py export (ONNX opset 17, input `spec` (batch, 1, bins, frames))",
            )
        })?;
        let model = VaeModel {
            inner: Arc::new(VaeInner { path, meta, graph, frames, plans: Mutex::new(Vec::new()) }),
        };
        let n_bins = model.inner.meta.frontend.n_bins;
        model.run_spec(&vec![0.0; 2 * n_bins], 1).map_err(|e| {
            bad(format!("the VAE fails on a test input: {e}"), "re-export the model (models/README.md)")
        })?;
        Ok(model)
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The sidecar's contents.
    pub fn meta(&self) -> &VaeMeta {
        &self.inner.meta
    }

    /// Runs the network on the spectrograms of mid then side (each `n_bins × frames`,
    /// bins-major); returns their latent means.
    pub fn run_spec(&self, spec: &[f32], frames: usize) -> Result<Embedding> {
        let n_bins = self.inner.meta.frontend.n_bins;
        if frames == 0 || spec.len() != 2 * n_bins * frames {
            return Err(Error::invalid(
                format!(
                    "VAE input of {} values for {frames} frames of {n_bins} bins (mid and side)",
                    spec.len()
                ),
                "pass 2 × bins × frames values, at least one frame",
            ));
        }
        let input = Tensor::from_shape(&[2, 1, n_bins, frames], spec).map_err(tract_err)?;
        let out = self.plan(frames)?.run(tvec!(input.into())).map_err(tract_err)?;
        let mu = out[0].as_slice::<f32>().map_err(tract_err)?;
        let dim = self.inner.meta.dim;
        if mu.len() != 2 * dim || !mu.iter().all(|x| x.is_finite()) {
            return Err(Error::invalid(
                format!(
                    "the VAE returned {} values (expected {}), finite: {}",
                    mu.len(),
                    2 * dim,
                    mu.iter().all(|x| x.is_finite())
                ),
                "the model file does not match its sidecar or is broken; re-export it",
            ));
        }
        Ok(Embedding { mid: mu[..dim].to_vec(), side: mu[dim..].to_vec() })
    }

    fn plan(&self, frames: usize) -> Result<Arc<Plan>> {
        let mut plans = self.inner.plans.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(i) = plans.iter().position(|(n, _)| *n == frames) {
            let entry = plans.remove(i);
            let plan = entry.1.clone();
            plans.push(entry);
            return Ok(plan);
        }
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

fn load_graph(onnx: &[u8], meta: &VaeMeta) -> TractResult<(TypedModel, Symbol)> {
    let mut model = tract_onnx::onnx().model_for_read(&mut &onnx[..])?;
    let frames = model.sym("frames");
    let shape: TVec<TDim> =
        tvec![2.into(), 1.into(), (meta.frontend.n_bins as i64).into(), frames.clone().into()];
    model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))?;
    let model = model.into_typed()?.into_decluttered()?;
    anyhow::ensure!(model.outputs.len() == 1, "expected 1 output (mu), found {}", model.outputs.len());
    Ok((model, frames))
}

fn tract_err(e: anyhow::Error) -> Error {
    Error::invalid(format!("VAE: {e:#}"), "re-export the model (models/README.md); report it if it persists")
}

/// The VAE as a [`StyleMetric`]: one per thread, sharing one [`VaeModel`].
pub struct Vae {
    model: VaeModel,
    front_end: Option<VaeSpectrogram>,
    spec: Vec<f32>,
}

impl std::fmt::Debug for Vae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vae").field("model", &self.model.inner.path).finish()
    }
}

impl Vae {
    /// Longest stretch of audio embedded in one pass; longer audio is chunked (module docs).
    pub const CHUNK_SECONDS: f32 = 10.0;

    /// A metric running `model`.
    pub fn new(model: VaeModel) -> Self {
        Vae { model, front_end: None, spec: Vec::new() }
    }

    /// Loads the model at `path` (see [`VaeModel::load`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(VaeModel::load(path)?))
    }

    /// The built-in VAE.
    pub fn builtin() -> Result<Self> {
        Ok(Self::new(VaeModel::builtin()?))
    }

    /// The model.
    pub fn model(&self) -> &VaeModel {
        &self.model
    }

    /// The spectrograms of one chunk's normalised mid and side, as the network takes them
    /// (for the parity test); returns (values, frames).
    pub fn spectrogram(
        &mut self,
        left: &[f32],
        right: &[f32],
        sample_rate: u32,
    ) -> Result<(Vec<f32>, usize)> {
        self.prepare(left, right, sample_rate)?;
        let frames = self.spec.len() / (2 * self.model.inner.meta.frontend.n_bins);
        Ok((self.spec.clone(), frames))
    }

    fn prepare(&mut self, left: &[f32], right: &[f32], sample_rate: u32) -> Result<usize> {
        if self.front_end.as_ref().is_none_or(|f| f.sample_rate() != sample_rate) {
            self.front_end = Some(VaeSpectrogram::new(&self.model.inner.meta.frontend, sample_rate)?);
        }
        let fe = self.front_end.as_mut().expect("set above");
        let (mid, side) = mid_side_normalised(left, right, &self.model.inner.meta.frontend);
        self.spec.clear();
        let frames = fe.compute(&mid, &mut self.spec)?;
        fe.compute(&side, &mut self.spec)?;
        Ok(frames)
    }

    fn embed_chunk(&mut self, left: &[f32], right: &[f32], sample_rate: u32) -> Result<Embedding> {
        let frames = self.prepare(left, right, sample_rate)?;
        self.model.run_spec(&self.spec, frames)
    }

    fn check(left: &[f32], right: &[f32], sample_rate: u32) -> Result<()> {
        if left.len() != right.len() {
            return Err(Error::invalid(
                format!("left has {} samples, right {}", left.len(), right.len()),
                "pass channels of equal length",
            ));
        }
        check_sample_rate(sample_rate)?;
        check_samples(left, "left")?;
        check_samples(right, "right")
    }
}

/// Accumulates chunk embeddings weighted by length.
struct Mean {
    mid: Vec<f64>,
    side: Vec<f64>,
    weight: f64,
}

impl Mean {
    fn new(dim: usize) -> Self {
        Mean { mid: vec![0.0; dim], side: vec![0.0; dim], weight: 0.0 }
    }
    fn add(&mut self, e: &Embedding, w: f64) {
        self.mid.iter_mut().zip(&e.mid).for_each(|(a, &x)| *a += w * x as f64);
        self.side.iter_mut().zip(&e.side).for_each(|(a, &x)| *a += w * x as f64);
        self.weight += w;
    }
    fn finish(self) -> Embedding {
        let w = self.weight.max(f64::MIN_POSITIVE);
        Embedding {
            mid: self.mid.iter().map(|x| (x / w) as f32).collect(),
            side: self.side.iter().map(|x| (x / w) as f32).collect(),
        }
    }
}

impl StyleMetric for Vae {
    fn name(&self) -> &str {
        "vae"
    }

    fn embed(&mut self, left: &[f32], right: &[f32], sample_rate: u32) -> Result<Embedding> {
        Self::check(left, right, sample_rate)?;
        let chunk = (Self::CHUNK_SECONDS * sample_rate as f32) as usize;
        let n_chunks = left.len().div_ceil(chunk).max(1);
        if n_chunks == 1 {
            return self.embed_chunk(left, right, sample_rate);
        }
        let len = left.len().div_ceil(n_chunks);
        let mut mean = Mean::new(self.model.inner.meta.dim);
        for start in (0..left.len()).step_by(len) {
            let end = (start + len).min(left.len());
            let e = self.embed_chunk(&left[start..end], &right[start..end], sample_rate)?;
            mean.add(&e, (end - start) as f64);
        }
        Ok(mean.finish())
    }

    /// Streams the same equal chunks as [`Vae::embed`]: memory holds one chunk.
    fn embed_source(&mut self, source: &mut dyn StereoSource) -> Result<Embedding> {
        let sample_rate = source.sample_rate();
        check_sample_rate(sample_rate)?;
        let total = usize::try_from(source.frames()).unwrap_or(usize::MAX);
        let chunk = (Self::CHUNK_SECONDS * sample_rate as f32) as usize;
        let n_chunks = total.div_ceil(chunk).max(1);
        if n_chunks == 1 {
            let (l, r) = super::read_all(source)?;
            return self.embed(&l, &r, sample_rate);
        }
        let len = total.div_ceil(n_chunks);
        let mut mean = Mean::new(self.model.inner.meta.dim);
        let (mut l, mut r) = (vec![0.0f32; len], vec![0.0f32; len]);
        for start in (0..total).step_by(len) {
            let n = (start + len).min(total) - start;
            super::read_exact(source, &mut l[..n], &mut r[..n])?;
            Self::check(&l[..n], &r[..n], sample_rate)?;
            let e = self.embed_chunk(&l[..n], &r[..n], sample_rate)?;
            mean.add(&e, n as f64);
        }
        Ok(mean.finish())
    }

    fn fingerprint(&self) -> String {
        format!("vae:{}", self.model.inner.meta.onnx_sha256)
    }

    fn boxed_clone(&self) -> Box<dyn StyleMetric> {
        Box::new(Vae::new(self.model.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> VaeFrontEndSettings {
        VaeFrontEndSettings {
            window_48k: 8192,
            hop_48k: 2048,
            n_bins: 2049,
            power: 0.3,
            peak_dbfs: -12.0,
            peak_floor: 1e-4,
        }
    }

    /// A sine at a bin centre lands in that bin; 44.1 kHz gives the same bins and values as
    /// 48 kHz (the grid is the same in Hz); 8 kHz has zeros above its Nyquist frequency.
    #[test]
    fn spectrogram_bins_are_in_hz_at_every_rate() {
        let f0 = 48_000.0 / 8192.0 * 300.0; // bin 300 at 48 kHz, 1757.8 Hz
        let peak_bin = |sr: u32| {
            let mut fe = VaeSpectrogram::new(&settings(), sr).unwrap();
            let x: Vec<f32> = (0..sr as usize)
                .map(|i| (std::f64::consts::TAU * f0 * i as f64 / sr as f64).sin() as f32 * 0.25)
                .collect();
            let mut out = Vec::new();
            let frames = fe.compute(&x, &mut out).unwrap();
            assert_eq!(out.len(), 2049 * frames);
            let col: Vec<f32> = (0..2049).map(|k| out[k * frames]).collect();
            let (k, v) =
                col.iter().enumerate().fold((0, 0.0f32), |b, (k, &v)| if v > b.1 { (k, v) } else { b });
            (k, v, col)
        };
        let (k48, v48, _) = peak_bin(48_000);
        let (k44, v44, _) = peak_bin(44_100);
        assert_eq!(k48, 300);
        assert!((k44 as i64 - 300).abs() <= 1, "{k44}");
        assert!((v44 / v48 - 1.0).abs() < 0.05, "{v44} vs {v48}");
        let (_, _, col8) = peak_bin(8_000);
        let nyquist_bin = (4_000.0 / (48_000.0 / 8192.0)) as usize;
        assert!(col8[nyquist_bin + 2..].iter().all(|&v| v == 0.0));
    }

    /// The shared gain brings the louder of mid and side to −12 dBFS; silence stays silence.
    #[test]
    fn mid_side_share_one_peak_gain() {
        let (m, s) = mid_side_normalised(&[0.5, 0.1], &[0.5, -0.1], &settings());
        let target = 10f32.powf(-12.0 / 20.0);
        assert!((m[0] - target).abs() < 1e-6);
        assert!((s[1] - target * 0.2).abs() < 1e-6);
        let (m, s) = mid_side_normalised(&[0.0; 4], &[0.0; 4], &settings());
        assert!(m.iter().chain(&s).all(|&v| v == 0.0));
    }
}
