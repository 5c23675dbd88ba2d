//! `fxmatch predictor`: the parameter predictor's training examples and its timing.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};

use fxmatch::audio::read_wav_capped;
use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::dataset::content::Content;
use fxmatch::metric::{EncoderModel, VaeModel};
use fxmatch::optimize::loudest_window;
use fxmatch::predict::dataset::{build, PredictDatasetConfig, RowModels};
use fxmatch::predict::projection::FitConfig;
use fxmatch::predict::spsa::{SpsaLoss, SpsaServer};
use fxmatch::predict::Predictor;

/// The predictor's subcommands.
#[derive(Subcommand)]
pub enum PredictorCommand {
    /// Write training examples for the predictor: VAE latents and style statistics of input and
    /// reference, and the chain's normalised parameters that made the reference (src/predict/dataset.rs).
    Dataset(DatasetArgs),
    /// Write projection examples: references made by random chains of sox effects or of LV2
    /// plugins (processors the chain does not have), each with the chain setting fitted to bring
    /// the input closest to the oracle, the input through the same random chain
    /// (src/predict/projection.rs).
    Project(ProjectArgs),
    /// Time one prediction (VAE embeddings of a segment and a reference, then the MLP) on one
    /// thread, and print the predicted parameters.
    Bench(BenchArgs),
    /// Render server for training through the chain (`training/predictor.py spsa`): replays a
    /// dataset's examples, renders them at the settings read from stdin and writes the audio
    /// loss against each example's oracle to stdout (src/predict/spsa.rs has the protocol).
    SpsaServe(SpsaServeArgs),
}

/// `fxmatch predictor spsa-serve`.
#[derive(Args)]
pub struct SpsaServeArgs {
    /// The content folder the dataset was made from.
    content: PathBuf,
    /// The dataset folder (`fxmatch predictor dataset`).
    data: PathBuf,
    /// The chain the dataset was made with.
    #[arg(long, default_value = "config/chains/default.toml")]
    chain: PathBuf,
    /// Render threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// The loss answered for a chain dataset: `seed` (MR-STFT + 100 × L1, as the second seed
    /// trained) or `fit` (the projection fit's: level-aligned, without the phase-bound L1 term).
    /// `judge`: the benchmark's fidelity distance to the oracle over the input's (one minus the
    /// transfer gain of `fxmatch eval transfer`). A projection dataset answers its own fit's
    /// loss, or the judge when asked for.
    #[arg(long, default_value = "seed", value_parser = ["seed", "fit", "judge"])]
    loss: String,
}

/// `fxmatch predictor dataset`.
#[derive(Args)]
pub struct DatasetArgs {
    /// Folder of training content: every .wav under it (48 kHz).
    content: PathBuf,
    /// Output folder.
    out: PathBuf,
    /// Chain whose free parameters are predicted.
    #[arg(long, default_value = "config/chains/default.toml")]
    chain: PathBuf,
    /// VAE model (default: the built-in models/vae/vae.onnx).
    #[arg(long, value_name = "PATH")]
    vae: Option<PathBuf>,
    /// Number of examples.
    #[arg(long, default_value_t = 4000)]
    n: usize,
    /// Excerpt length in seconds (the match's segment).
    #[arg(long, default_value_t = 3.0)]
    seconds: f32,
    /// Probability that an effect is active in an example.
    #[arg(long, default_value_t = 0.5)]
    p_active: f64,
    /// Probability that the reference is the input's own excerpt.
    #[arg(long, default_value_t = 0.5)]
    same_content: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Style encoder whose embeddings of the input and the reference the rows also hold (e.g.
    /// models/real/encoder.onnx); the predictor then reads them (only built-in encoders ship).
    #[arg(long, value_name = "PATH")]
    encoder: Option<PathBuf>,
    /// Leave out the style statistics (src/predict/features.rs): latents only, as the seed.
    #[arg(long)]
    no_stats: bool,
}

/// `fxmatch predictor project`.
#[derive(Args)]
pub struct ProjectArgs {
    /// Folder of training content: every .wav under it (48 kHz).
    content: PathBuf,
    /// Output folder.
    out: PathBuf,
    /// Chain whose free parameters are predicted.
    #[arg(long, default_value = "config/chains/default.toml")]
    chain: PathBuf,
    /// VAE model (default: the built-in models/vae/vae.onnx).
    #[arg(long, value_name = "PATH")]
    vae: Option<PathBuf>,
    /// Number of examples.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Excerpt length in seconds (the match's segment).
    #[arg(long, default_value_t = 3.0)]
    seconds: f32,
    /// Probability that the reference is the input's own excerpt.
    #[arg(long, default_value_t = 0.2)]
    same_content: f64,
    /// Probability that an example's reference is unprocessed content (target: the fit to the
    /// input itself, i.e. doing nothing).
    #[arg(long, default_value_t = 0.1)]
    p_dry: f64,
    /// CMA-ES evaluations per fit.
    #[arg(long, default_value_t = 300)]
    fit_evaluations: u64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Style encoder whose embeddings of the input and the reference the rows also hold (e.g.
    /// models/real/encoder.onnx); the predictor then reads them (only built-in encoders ship).
    #[arg(long, value_name = "PATH")]
    encoder: Option<PathBuf>,
    /// Leave out the style statistics (src/predict/features.rs): latents only.
    #[arg(long)]
    no_stats: bool,
    /// What makes the references: `sox` (random sox chains) or `lv2file` (random chains of LV2
    /// plugins that `fxmatch eval transfer`'s LV2 references do not use).
    #[arg(long, default_value = "sox", value_parser = ["sox", "lv2file"])]
    processor: String,
}

/// `fxmatch predictor bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Input WAV (its loudest --segment seconds are used, as a match does).
    input: PathBuf,
    /// Reference WAV.
    reference: PathBuf,
    /// Predictor model (NAME.onnx beside NAME.json).
    #[arg(long, default_value = fxmatch::predict::DEFAULT_PREDICTOR)]
    predictor: PathBuf,
    /// Chain the predictor drives (its parameters are printed in plain units).
    #[arg(long, default_value = "config/chains/default.toml")]
    chain: PathBuf,
    /// Segment length in seconds.
    #[arg(long, default_value_t = 3.0)]
    segment: f32,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

pub fn run(cmd: PredictorCommand) -> Result<()> {
    match cmd {
        PredictorCommand::Dataset(a) => dataset(a),
        PredictorCommand::Project(a) => project(a),
        PredictorCommand::Bench(a) => bench(a),
        PredictorCommand::SpsaServe(a) => spsa_serve(a),
    }
}

/// The models a dataset's rows are read with: `vae` (default: the built-in VAE) and `encoder`.
fn row_models(vae: &Option<PathBuf>, encoder: &Option<PathBuf>) -> fxmatch::Result<RowModels> {
    let vae = match vae {
        Some(p) => VaeModel::load(p)?,
        None => VaeModel::builtin()?,
    };
    let encoder = encoder.as_ref().map(EncoderModel::load).transpose()?;
    Ok(RowModels { vae, encoder })
}

/// Progress on stderr every `every` examples: one rewritten line on a terminal, else a line each.
fn progress_printer(n: usize, every: usize) -> impl Fn(usize) + Sync {
    let t0 = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    move |done| {
        if done % every == 0 || done == n {
            let line = format!("{done}/{n} examples, {:.0} s", t0.elapsed().as_secs_f64());
            if terminal {
                eprint!("\r{line}");
                if done == n {
                    eprintln!();
                }
            } else {
                eprintln!("{line}");
            }
        }
    }
}

fn project(a: ProjectArgs) -> Result<()> {
    use fxmatch::eval::external::Processor;
    use fxmatch::predict::projection::{self, ProjectionDatasetConfig};
    let spec = ChainSpec::load(&a.chain)?;
    let models = row_models(&a.vae, &a.encoder)?;
    let content = Content::load(&a.content, 48_000)?;
    let config = ProjectionDatasetConfig {
        n: a.n,
        seconds: a.seconds,
        same_content: a.same_content,
        p_dry: a.p_dry,
        seed: a.seed,
        threads: fxmatch::dataset::parallel::threads(a.threads),
        stats: !a.no_stats,
        fit: FitConfig { max_evaluations: a.fit_evaluations, ..FitConfig::default() },
        min_rms: projection::MIN_EXCERPT_RMS,
        processor: if a.processor == "lv2file" { Processor::Lv2file } else { Processor::Sox },
    };
    let t0 = Instant::now();
    projection::build(&spec, &content, &models, &config, &a.out, &progress_printer(a.n, 10))?;
    eprintln!(
        "wrote {} projection examples to {} in {:.1} s",
        a.n,
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn dataset(a: DatasetArgs) -> Result<()> {
    let spec = ChainSpec::load(&a.chain)?;
    let models = row_models(&a.vae, &a.encoder)?;
    let content = Content::load(&a.content, 48_000)?;
    let config = PredictDatasetConfig {
        n: a.n,
        seconds: a.seconds,
        p_active: a.p_active,
        same_content: a.same_content,
        seed: a.seed,
        threads: fxmatch::dataset::parallel::threads(a.threads),
        stats: !a.no_stats,
    };
    let t0 = Instant::now();
    let n = a.n;
    build(&spec, &content, &models, &config, &a.out, &progress_printer(n, 100))?;
    eprintln!("wrote {} examples to {} in {:.1} s", n, a.out.display(), t0.elapsed().as_secs_f64());
    Ok(())
}

fn spsa_serve(a: SpsaServeArgs) -> Result<()> {
    let spec = ChainSpec::load(&a.chain)?;
    let content = Content::load(&a.content, 48_000)?;
    let threads = fxmatch::dataset::parallel::threads(a.threads);
    let loss = match a.loss.as_str() {
        "fit" => SpsaLoss::Fit(FitConfig::default()),
        "judge" => SpsaLoss::Judge,
        _ => SpsaLoss::Seed,
    };
    let server = SpsaServer::open(&spec, content, &a.data, threads, loss)?;
    server.serve(std::io::stdin().lock(), std::io::stdout().lock())?;
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    let spec = ChainSpec::load(&a.chain)?;
    let chain = Chain::from_spec(&spec)?;
    let predictor = Predictor::load(&a.predictor, VaeModel::builtin()?)?;
    predictor.check_chain(&chain)?;
    let (input, _) = read_wav_capped(&a.input, "input")?;
    let (reference, _) = read_wav_capped(&a.reference, "reference")?;
    let (start, len) = loudest_window(&input, a.segment);
    let (il, ir) = input.stereo_slices();
    let (il, ir) = (&il[start..start + len], &ir[start..start + len]);
    let (rl, rr) = reference.stereo_slices();
    let mut reader = predictor.reader();
    // The reference's latent is computed once per reference (the daemon caches it); the
    // per-match cost is the segment's latent and the MLP.
    let z_ref = predictor.describe(&mut reader, rl, rr, reference.sample_rate)?;
    let mut x = predictor.predict(&predictor.describe(&mut reader, il, ir, input.sample_rate)?, &z_ref)?;
    let mut times = Vec::with_capacity(a.repeat);
    for _ in 0..a.repeat.max(1) {
        let t = Instant::now();
        let z = predictor.describe(&mut reader, il, ir, input.sample_rate)?;
        x = predictor.predict(&z, &z_ref)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let plain = chain.to_plain(&x);
    let params: Vec<String> =
        predictor.meta().params.iter().zip(&plain).map(|(n, v)| format!("{n} = {v:.3}")).collect();
    println!(
        "predict: median {median:.1} ms, min {:.1} ms over {} runs ({:.2} s segment, one thread)\n{}",
        times[0],
        times.len(),
        len as f64 / input.sample_rate as f64,
        params.join("\n")
    );
    Ok(())
}
