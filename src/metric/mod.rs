//! Style metrics: audio → embedding, and the similarity the matcher maximises.
//!
//! A [`StyleMetric`] embeds stereo audio as two vectors, one for mid `(L+R)/2` and one for side
//! `(L−R)/2`; [`similarity`] is the mean of the two cosine similarities, as in ST-ITO. The log-mel
//! [`frontend`] is shared by every metric; [`MfccMetric`] is the hand-made baseline; [`Vae`] is the second seed's spectrogram beta-VAE.

pub mod encoder;
pub mod frontend;
pub mod mfcc;
pub mod vae;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audio::StereoSource;

pub use encoder::{Encoder, EncoderModel};
pub use frontend::{FrontEnd, FrontEndSettings};
pub use mfcc::{MfccMetric, MfccSettings};
pub use vae::{Vae, VaeModel};

/// A style embedding: one vector for mid, one for side. Vectors of the same metric and settings
/// have the same length and are comparable across sample rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Embedding of mid `(L+R)/2`.
    pub mid: Vec<f32>,
    /// Embedding of side `(L−R)/2`.
    pub side: Vec<f32>,
}

/// The element-wise mean of equally long vectors (the first's length); empty for none.
pub fn mean_vector(vectors: &[&[f32]]) -> Vec<f32> {
    let Some(first) = vectors.first() else { return Vec::new() };
    let mut sum = vec![0.0f64; first.len()];
    for v in vectors {
        debug_assert_eq!(v.len(), sum.len(), "mean_vector needs vectors of one length");
        for (s, x) in sum.iter_mut().zip(v.iter()) {
            *s += *x as f64;
        }
    }
    sum.iter().map(|s| (s / vectors.len() as f64) as f32).collect()
}

impl Embedding {
    /// The mean of several embeddings of one metric (mid and side averaged apart): the style
    /// several references share, since what differs between their contents averages out.
    /// Panics on an empty slice.
    ///
    /// ```
    /// use fxmatch::metric::Embedding;
    /// let a = Embedding { mid: vec![1.0, 0.0], side: vec![0.0] };
    /// let b = Embedding { mid: vec![0.0, 1.0], side: vec![2.0] };
    /// assert_eq!(Embedding::mean(&[a, b]), Embedding { mid: vec![0.5, 0.5], side: vec![1.0] });
    /// ```
    pub fn mean(embeddings: &[Embedding]) -> Embedding {
        assert!(!embeddings.is_empty(), "the mean of no embedding");
        let mids: Vec<&[f32]> = embeddings.iter().map(|e| e.mid.as_slice()).collect();
        let sides: Vec<&[f32]> = embeddings.iter().map(|e| e.side.as_slice()).collect();
        Embedding { mid: mean_vector(&mids), side: mean_vector(&sides) }
    }
}

/// The style of a reference given as several clips of one production: the mean of their
/// embeddings ([`Embedding::mean`]). One clip: its embedding. Errors on no clip, or as
/// [`StyleMetric::embed`] does on a clip.
pub fn embed_references(
    metric: &mut dyn StyleMetric,
    clips: &[&crate::audio::AudioBuffer],
) -> crate::Result<Embedding> {
    let each = clips
        .iter()
        .map(|c| {
            let (l, r) = c.stereo_slices();
            metric.embed(l, r, c.sample_rate)
        })
        .collect::<crate::Result<Vec<_>>>()?;
    if each.is_empty() {
        return Err(crate::Error::invalid("no reference clip to embed", "give at least one reference WAV"));
    }
    Ok(Embedding::mean(&each))
}

/// Something that turns audio into a style [`Embedding`].
pub trait StyleMetric: Send {
    /// Short name for logs and result files, e.g. `"mfcc"`.
    fn name(&self) -> &str;

    /// Embed stereo audio (mid = (L+R)/2, side = (L−R)/2); any length and sample rate 8k..192k.
    ///
    /// Errors on channels of unequal length, a sample rate out of range, or NaN, infinite or huge
    /// (|x| > 1e6) samples.
    fn embed(&mut self, left: &[f32], right: &[f32], sample_rate: u32) -> crate::Result<Embedding>;

    /// [`StyleMetric::embed`] of audio read block by block from `source` (a long WAV file):
    /// the same embedding. This default holds the whole audio in memory; fxmatch's metrics
    /// override it to run in constant memory.
    fn embed_source(&mut self, source: &mut dyn StereoSource) -> crate::Result<Embedding> {
        let (left, right) = read_all(source)?;
        self.embed(&left, &right, source.sample_rate())
    }

    /// Identifies the metric together with its settings or model: embeddings cached under one
    /// fingerprint are valid only for the same fingerprint (the daemon's reference sidecars).
    fn fingerprint(&self) -> String {
        self.name().to_string()
    }

    /// A fresh instance with the same settings, for another worker thread.
    fn boxed_clone(&self) -> Box<dyn StyleMetric>;
}

/// The metrics fxmatch has, as named on command lines and in config files.
pub const METRIC_NAMES: &[&str] = &["encoder", "mfcc", "vae"];

/// A metric by name: `"encoder"` (the trained model at `model`, or without one the default model
/// built into the binary, [`EncoderModel::builtin`], so it runs from any working directory) or
/// `"mfcc"` (needs no model; `model` must be `None`) or `"vae"` (the spectrogram beta-VAE at
/// `model`, or the one built in, [`VaeModel::builtin`]).
pub fn load_metric(name: &str, model: Option<&Path>) -> crate::Result<Box<dyn StyleMetric>> {
    match (name, model) {
        ("encoder", Some(path)) => Ok(Box::new(Encoder::load(path)?)),
        ("encoder", None) => Ok(Box::new(Encoder::builtin()?)),
        ("mfcc", None) => Ok(Box::new(MfccMetric::new())),
        ("vae", Some(path)) => Ok(Box::new(Vae::load(path)?)),
        ("vae", None) => Ok(Box::new(Vae::builtin()?)),
        ("mfcc", Some(path)) => Err(crate::Error::invalid(
            format!("a model ({}) was given for the mfcc metric, which has none", path.display()),
            "drop the model path, or use the encoder metric",
        )),
        (other, _) => Err(crate::Error::invalid(
            format!("unknown metric `{other}`"),
            format!("use one of: {}", METRIC_NAMES.join(", ")),
        )),
    }
}

/// The whole of `source` in memory.
pub(crate) fn read_all(source: &mut dyn StereoSource) -> crate::Result<(Vec<f32>, Vec<f32>)> {
    let n = usize::try_from(source.frames()).unwrap_or(usize::MAX);
    let (mut left, mut right) = (vec![0.0; n], vec![0.0; n]);
    read_exact(source, &mut left, &mut right)?;
    Ok((left, right))
}

/// Fill `left` and `right` from `source`; returns their length. Errors when the source ends
/// first (it promised more frames than it had).
pub(crate) fn read_exact(
    source: &mut dyn StereoSource,
    left: &mut [f32],
    right: &mut [f32],
) -> crate::Result<usize> {
    let mut filled = 0;
    while filled < left.len() {
        let n = source.read_stereo(&mut left[filled..], &mut right[filled..])?;
        if n == 0 {
            return Err(crate::Error::invalid(
                format!("the audio ended after {filled} of the {} frames expected in this block", left.len()),
                "re-export the file; its header promises more audio than it holds",
            ));
        }
        filled += n;
    }
    Ok(filled)
}

/// Cosine similarity in [−1, 1], accumulated in f64.
///
/// Edge cases, so the result is always defined: two all-zero vectors are identical (1); one
/// all-zero vector against a non-zero one is unrelated (0). Vectors of different lengths come from
/// different metrics or settings and are not comparable: 0 (and a debug assertion fails).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "cosine of vectors of different lengths");
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    match (aa > 0.0, bb > 0.0) {
        (false, false) => 1.0,
        (true, true) => (ab / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0) as f32,
        _ => 0.0,
    }
}

/// Style similarity: the mean of cos(mid_a, mid_b) and cos(side_a, side_b) (as ST-ITO).
pub fn similarity(a: &Embedding, b: &Embedding) -> f32 {
    similarity_parts(a, b).0
}

/// (overall, mid, side) similarity; overall is the mean of the other two.
pub fn similarity_parts(a: &Embedding, b: &Embedding) -> (f32, f32, f32) {
    let mid = cosine(&a.mid, &b.mid);
    let side = cosine(&a.side, &b.side);
    (0.5 * (mid + side), mid, side)
}

/// Errors (the message) unless `onnx`'s sha256 is `expected` (hex, either case): a model file
/// and its sidecar must come from one export.
pub(crate) fn verify_sha256(onnx: &[u8], expected: &str) -> std::result::Result<(), String> {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(onnx).iter().map(|b| format!("{b:02x}")).collect();
    if digest.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    Err(format!(
        "checksum mismatch: the file's sha256 is {digest}, its sidecar expects {expected} (corrupt, truncated or from another export)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_edge_cases() {
        assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]), 1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0, 2.0], &[2.0, 4.0]), 1.0);
        assert_eq!(cosine(&[1.0, 0.0], &[-3.0, 0.0]), -1.0);
        assert!(cosine(&[1.0, 0.0], &[0.0, 5.0]).abs() < 1e-7);
        let e = Embedding { mid: vec![1.0, 2.0, 3.0], side: vec![0.0; 3] };
        let f = Embedding { mid: vec![3.0, 2.0, 1.0], side: vec![0.0; 3] };
        let (all, mid, side) = similarity_parts(&e, &f);
        assert!((mid - 10.0 / 14.0).abs() < 1e-6);
        assert_eq!(side, 1.0);
        assert!((all - 0.5 * (mid + 1.0)).abs() < 1e-7);
        assert_eq!(similarity(&e, &e), 1.0);
    }
}
