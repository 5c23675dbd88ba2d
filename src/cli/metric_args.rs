//! `--metric` and `--model`, shared by every command that scores style.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use fxmatch::metric::{load_metric, StyleMetric};

/// Which style metric scores audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricChoice {
    /// The trained style encoder (models/encoder.onnx, or --model).
    Encoder,
    /// MFCC statistics (the baseline; needs no model).
    Mfcc,
    /// The spectrogram beta-VAE's latent mean (models/vae/vae.onnx, or --model).
    Vae,
}

impl MetricChoice {
    /// The name used in files and by [`load_metric`].
    pub fn name(self) -> &'static str {
        match self {
            MetricChoice::Encoder => "encoder",
            MetricChoice::Mfcc => "mfcc",
            MetricChoice::Vae => "vae",
        }
    }
}

/// `--metric` and `--model`.
#[derive(Args, Clone, Debug)]
pub struct MetricArgs {
    /// Style metric.
    #[arg(long, value_enum, default_value_t = MetricChoice::Mfcc)]
    pub metric: MetricChoice,
    /// Model of the encoder or VAE (NAME.onnx beside its NAME.json); default the built-in one.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
}

impl MetricArgs {
    /// Loads the chosen metric (the model once; callers clone it per thread).
    pub fn load(&self) -> anyhow::Result<Box<dyn StyleMetric>> {
        // load_metric refuses a model for mfcc, naming it and the fix.
        Ok(load_metric(self.metric.name(), self.model.as_deref())?)
    }
}
