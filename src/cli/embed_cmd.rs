//! `fxmatch embed` and `fxmatch similarity`: style embeddings of files, and how close two are.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde_json::json;

use fxmatch::audio::WavReader;
use fxmatch::metric::{similarity_parts, Embedding, StyleMetric};

use super::metric_args::MetricArgs;

/// Print the style embedding of each FILE, one JSON object per line:
/// `{"path": …, "mid": […], "side": […]}`.
///
/// The model is loaded once for all files; files of any length are read block by block in
/// constant memory. A file that cannot be embedded prints
/// `{"path": …, "error": …}` instead, the rest go on, and the exit status is 1.
#[derive(Args)]
pub struct EmbedArgs {
    /// WAV files (mono is taken as left = right).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    metric: MetricArgs,
}

/// Print the style similarity of two WAV files: overall (the mean of mid and side), mid and side
/// cosine similarity.
#[derive(Args)]
pub struct SimilarityArgs {
    /// First WAV file.
    a: PathBuf,
    /// Second WAV file.
    b: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    metric: MetricArgs,
}

/// Embed a WAV file block by block: memory stays constant whatever its length.
fn embed_file(metric: &mut dyn StyleMetric, path: &Path) -> Result<Embedding> {
    let mut wav = WavReader::open(path)?;
    metric.embed_source(&mut wav).map_err(|e| match e {
        // Reading errors name the file already; the metric's do not.
        fxmatch::Error::Invalid { .. } => anyhow::anyhow!("{}: {e}", path.display()),
        other => other.into(),
    })
}

pub fn run_embed(args: EmbedArgs) -> Result<()> {
    let mut metric = args.metric.load()?;
    let mut failed = 0;
    let stdout = std::io::stdout();
    for path in &args.files {
        let line = match embed_file(&mut *metric, path) {
            Ok(e) => json!({"path": path, "metric": metric.name(), "mid": e.mid, "side": e.side}),
            Err(e) => {
                failed += 1;
                json!({"path": path, "error": format!("{e:#}")})
            }
        };
        writeln!(stdout.lock(), "{line}")?;
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} files could not be embedded (see their \"error\" lines)",
            args.files.len()
        );
    }
    Ok(())
}

pub fn run_similarity(args: SimilarityArgs) -> Result<()> {
    let mut metric = args.metric.load()?;
    let a = embed_file(&mut *metric, &args.a)?;
    let b = embed_file(&mut *metric, &args.b)?;
    let (all, mid, side) = similarity_parts(&a, &b);
    if args.json {
        println!(
            "{}",
            json!({"a": args.a, "b": args.b, "metric": metric.name(), "similarity": all, "mid": mid, "side": side})
        );
    } else {
        println!("similarity {all:.4} (mid {mid:.4}, side {side:.4}; metric {})", metric.name());
    }
    Ok(())
}
