//! `fxmatch match`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde::Serialize;

use fxmatch::audio::{read_wav_capped, SampleFormat, WavReader, WavWriter};
use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::fsutil::{commit_all, AtomicFile};
use fxmatch::metric::{embed_references, similarity, similarity_parts, StyleMetric, VaeModel};
use fxmatch::predict::{hybrid_config, Predictor};

use super::metric_args::{MetricArgs, MetricChoice};
use fxmatch::optimize::{
    check_audio, loudest_window, FoundParam, MatchConfig, MatchOutcome, Matcher, Start, USED_DB,
};
use fxmatch::render::{render_stream, tail_frames};

/// How `fxmatch match` finds the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// CMA-ES alone, from the neutral start.
    Search,
    /// The parameter predictor alone: one pass, no search.
    Predict,
    /// CMA-ES started at the prediction, with a smaller step size (0.1) and a third of the
    /// generations.
    Hybrid,
}

/// Find the chain parameters that give INPUT the production style of REFERENCE.
///
/// REFERENCE may be several WAVs: clips of one production (tracks of an album, takes through
/// one rig). They are read together (the mean of their embeddings, and of what the predictor
/// reads), so what differs between their contents averages out and their shared processing
/// stays: three clips instead of one move the prediction closer to the reference's true
/// processing (docs/experiments.md).
///
/// Searches the chain's free parameters with CMA-ES (ST-ITO's defaults: population 64, at most
/// 25 generations, sigma 0.3, early stop after 10 generations without a gain of 0.01) on the
/// loudest --segment seconds of INPUT, then renders the whole INPUT with the best parameters.
/// The search starts with every effect neutral (as transparent as its ranges allow), is pulled
/// toward neutral (--prior) and finally sets back each effect the similarity does not need
/// (--selection-margin), so that it finds the least processing that reaches the style. Writes
/// OUT.wav, a params file that `fxmatch render --params` accepts, and a JSON report that lists
/// which effects the result uses: all of them or, when anything fails, none (every output path
/// is checked before the search). INPUT and REFERENCE are held in memory: each may be at most 5
/// minutes at 48 kHz (14.4 M frames); the output is rendered block by block.
#[derive(Args)]
pub struct MatchArgs {
    /// Dry input WAV.
    input: PathBuf,
    /// Reference WAV whose style to match (other content is fine: that is the point); several
    /// WAVs: clips of one production, read together.
    #[arg(required = true, num_args = 1..)]
    references: Vec<PathBuf>,
    /// Chain file whose free parameters are searched.
    #[arg(long, default_value = "config/chains/default.toml")]
    chain: PathBuf,
    /// Output WAV: the whole input through the chain at the found parameters.
    #[arg(short, long)]
    output: PathBuf,
    /// JSON report (similarities, evaluations, timings, parameters).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Params file to write (default: OUTPUT with extension .params.toml).
    #[arg(long)]
    params_out: Option<PathBuf>,
    #[command(flatten)]
    metric: MetricArgs,
    /// Random seed (same seed, same files: same result).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most candidate evaluations (default: population × generations).
    #[arg(long)]
    budget: Option<usize>,
    /// Search profile: `st-ito` (population 64, up to 25 generations) or `live` (population 16,
    /// up to 16 generations: a 3 s segment of the default chain in under 3 s on two cores).
    #[arg(long, default_value = "st-ito")]
    profile: String,
    /// Candidates per generation (overrides the profile).
    #[arg(long)]
    population: Option<usize>,
    /// Most generations (overrides the profile).
    #[arg(long)]
    generations: Option<usize>,
    /// Initial CMA-ES step size in normalised units (overrides the profile's 0.3).
    #[arg(long)]
    sigma: Option<f64>,
    /// Where the search starts: `neutral` (every effect as transparent as its ranges allow) or
    /// `middle` (every parameter mid-range, as ST-ITO).
    #[arg(long, default_value = "neutral")]
    start: String,
    /// Pull toward neutral: the search maximises similarity − PRIOR · Σ (x − neutral)² over the
    /// normalised parameters that have a neutral value; 0 turns it off.
    #[arg(long, default_value_t = fxmatch::optimize::DEFAULT_PRIOR)]
    prior: f64,
    /// Pull toward the prediction in --mode hybrid: the search also subtracts START_PRIOR · Σ
    /// (x − prediction)² over every parameter (default 3: it only refines the prediction).
    #[arg(long)]
    start_prior: Option<f64>,
    /// Effect selection: after the search, set effects back to neutral while the similarity
    /// stays within this of the best found.
    #[arg(long, default_value_t = fxmatch::optimize::DEFAULT_SELECTION_MARGIN, conflicts_with = "no_selection")]
    selection_margin: f64,
    /// Keep the search's result without the effect selection.
    #[arg(long)]
    no_selection: bool,
    /// Seconds of the input the search listens to (its loudest window).
    #[arg(long, default_value_t = 3.0)]
    segment: f32,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds of tail appended to the output WAV.
    #[arg(long, default_value_t = 0.0)]
    tail: f32,
    /// `search` (CMA-ES), `predict` (the parameter predictor alone, one pass) or `hybrid`
    /// (CMA-ES started at the prediction, σ 0.1, a third of the generations, held near the
    /// prediction by --start-prior; --sigma and --generations override).
    #[arg(long, value_enum, default_value_t = Mode::Search)]
    mode: Mode,
    /// Parameter predictor for --mode predict|hybrid (trained for this chain and the built-in
    /// VAE; NAME.onnx beside NAME.json). Default: the one built in for the chain's name
    /// (`default` and `mda` have one).
    #[arg(long, value_name = "PATH")]
    predictor: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report<'a> {
    input: &'a Path,
    /// The first reference WAV.
    reference: &'a Path,
    /// Every reference WAV (clips of one production, read together).
    references: &'a [PathBuf],
    chain: &'a Path,
    metric: MetricChoice,
    mode: Mode,
    /// The predictor's parameters (normalised), for --mode predict|hybrid.
    prediction: Option<&'a [f64]>,
    /// Seconds the prediction took (the segment's and the reference's VAE latents and the MLP).
    prediction_seconds: f64,
    /// Similarity of the dry input (whole file) to the reference.
    similarity_input: f32,
    /// Similarity of the output (whole file) to the reference.
    similarity_output: f32,
    similarity_output_mid: f32,
    similarity_output_side: f32,
    /// Best similarity on the searched segment.
    similarity_segment: f32,
    evaluations: usize,
    generations: usize,
    /// Trigger to parameters: reference embedding plus search, wall time.
    seconds: f64,
    evaluations_per_second: f64,
    segment_start_seconds: f64,
    segment_seconds: f64,
    warnings: Vec<String>,
    /// Effects the result uses (set back to neutral, the segment changes by more than
    /// `used_threshold_db` of log-spectral distance); details in `search.effects`.
    effects_used: Vec<&'a str>,
    used_threshold_db: f64,
    /// The found parameters in plain units (also in the params file).
    parameters: &'a [FoundParam],
    config: &'a MatchConfig,
    search: &'a MatchOutcome,
}

pub fn run(args: MatchArgs) -> Result<()> {
    let spec = ChainSpec::load_or_builtin(&args.chain)?;
    let params_out = args.params_out.clone().unwrap_or_else(|| args.output.with_extension("params.toml"));
    // Every output staged before the search: a bad path fails now, not after minutes of work.
    let staged = stage_outputs(&[Some(&args.output), Some(&params_out), args.report.as_ref()])?;
    let (input, _) = read_wav_capped(&args.input, "input")?;
    let mut warnings = check_audio(&input, "input")?;
    let mut references = Vec::with_capacity(args.references.len());
    for path in &args.references {
        let (reference, _) = read_wav_capped(path, "reference")?;
        // With several references, each warning names its file.
        let what = if args.references.len() > 1 {
            format!("reference {}", path.display())
        } else {
            "reference".into()
        };
        warnings.extend(check_audio(&reference, &what)?);
        if input.sample_rate != reference.sample_rate {
            warnings.push(format!(
                "input at {} Hz, {what} at {} Hz: each is analysed at its own rate",
                input.sample_rate, reference.sample_rate
            ));
        }
        if reference.seconds() < 0.5 * args.segment as f64 {
            // One embedding of a short reference is a thin estimate of its style: say so.
            warnings.push(format!(
                "the {what} lasts {:.1} s, less than half the {:.1} s segment the input is judged on: \
                 its style is estimated from little audio; a reference of {:.0} s or more is more reliable",
                reference.seconds(),
                args.segment,
                args.segment.max(3.0)
            ));
        }
        references.push(reference);
    }
    let references: Vec<&fxmatch::audio::AudioBuffer> = references.iter().collect();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    // Each LV2 plugin runs in a child process first: one that crashes is an error, not a crash.
    fxmatch::chain::probe_chain(&spec, input.sample_rate, fxmatch::render::OFFLINE_BLOCK)?;
    let profile = MatchConfig::profile(&args.profile)?;
    let hybrid = args.mode == Mode::Hybrid;
    let base = if hybrid { hybrid_config(&profile) } else { profile.clone() };
    let predictor = match args.mode {
        Mode::Search => None,
        Mode::Predict | Mode::Hybrid => {
            let p = match &args.predictor {
                Some(path) => Predictor::load(path, VaeModel::builtin()?)?,
                None => Predictor::builtin_for(&spec.name)?,
            };
            p.check_chain(&Chain::from_spec(&spec)?)?;
            Some(p)
        }
    };
    let mut config = MatchConfig {
        population: args.population.unwrap_or(profile.population),
        max_generations: args.generations.unwrap_or(base.max_generations),
        budget: args.budget,
        sigma0: args.sigma.unwrap_or(base.sigma0),
        seed: args.seed,
        threads: args.threads.unwrap_or(profile.threads),
        segment_seconds: args.segment,
        start: Start::parse(&args.start)?,
        prior: args.prior,
        start_prior: args.start_prior.unwrap_or(base.start_prior),
        selection_margin: (!args.no_selection).then_some(args.selection_margin),
        ..base
    };
    let mut metric = args.metric.load()?;

    let t0 = Instant::now();
    let (start, len) = loudest_window(&input, args.segment);
    let (il, ir) = input.stereo_slices();
    let prediction = match &predictor {
        Some(p) => {
            let mut reader = p.reader();
            let z_seg =
                p.describe(&mut reader, &il[start..start + len], &ir[start..start + len], input.sample_rate)?;
            Some(p.predict(&z_seg, &p.describe_references(&mut reader, &references)?)?)
        }
        None => None,
    };
    let prediction_seconds = t0.elapsed().as_secs_f64();
    if hybrid {
        config.start_at = prediction.clone();
    }
    let z_ref = embed_references(&mut *metric, &references)?;
    let outcome = match (args.mode, &prediction) {
        (Mode::Predict, Some(x)) => {
            Matcher::new(&spec, &*metric, MatchConfig { threads: 1, ..config.clone() })?.evaluate_at(
                &il[start..start + len],
                &ir[start..start + len],
                input.sample_rate,
                &z_ref,
                x,
            )?
        }
        _ => search(
            &spec,
            &*metric,
            &config,
            (&il[start..start + len], &ir[start..start + len]),
            input.sample_rate,
            &z_ref,
        )?,
    };
    let seconds = t0.elapsed().as_secs_f64();

    let mut chain = Chain::from_spec(&spec)?;
    chain.set_normalized(&outcome.x);
    let mut staged = staged.into_iter();
    let (wav_file, mut params_file) = (staged.next().expect("staged"), staged.next().expect("staged"));
    let report_file = staged.next();
    // The output is rendered from the file block by block and embedded back from the staged
    // WAV (f32: the same samples), so its length costs no memory.
    let frames = input.frames() as u64 + tail_frames(args.tail, input.sample_rate) as u64;
    WavWriter::check_fits(&args.output, frames, 2, SampleFormat::F32)?;
    let mut wav = WavWriter::stage(wav_file, 2, input.sample_rate, SampleFormat::F32)?;
    render_stream(&mut chain, &mut WavReader::open(&args.input)?, args.tail, &mut wav)?;
    let wav_file = wav.finish()?;
    let z_in = metric.embed(il, ir, input.sample_rate)?;
    let z_out = metric.embed_source(&mut WavReader::open(wav_file.tmp_path())?)?;
    let (s_out, s_mid, s_side) = similarity_parts(&z_out, &z_ref);
    write_staged(&mut params_file, chain.params().to_toml().as_bytes())?;
    let report = Report {
        input: &args.input,
        reference: &args.references[0],
        references: &args.references,
        chain: &args.chain,
        metric: args.metric.metric,
        mode: args.mode,
        prediction: prediction.as_deref(),
        prediction_seconds,
        similarity_input: similarity(&z_in, &z_ref),
        similarity_output: s_out,
        similarity_output_mid: s_mid,
        similarity_output_side: s_side,
        similarity_segment: outcome.similarity,
        evaluations: outcome.evaluations,
        generations: outcome.generations,
        seconds,
        evaluations_per_second: outcome.evaluations as f64 / outcome.seconds.max(1e-9),
        segment_start_seconds: start as f64 / input.sample_rate as f64,
        segment_seconds: len as f64 / input.sample_rate as f64,
        warnings,
        effects_used: outcome.used_effects(),
        used_threshold_db: USED_DB,
        parameters: &outcome.params,
        config: &config,
        search: &outcome,
    };
    let mut outputs = vec![wav_file, params_file];
    if let Some(mut file) = report_file {
        let text = serde_json::to_string_pretty(&report)?;
        write_staged(&mut file, text.as_bytes())?;
        outputs.push(file);
    }
    commit_all(outputs)?;
    let used = report.effects_used.join(", ");
    eprintln!(
        "similarity {:.4} -> {:.4} ({} evaluations, {} generations, {:.2} s, stopped: {}); uses: {}; wrote {} and {}",
        report.similarity_input,
        report.similarity_output,
        outcome.evaluations,
        outcome.generations,
        seconds,
        outcome.stop_reason,
        if used.is_empty() { "no effect" } else { &used },
        args.output.display(),
        params_out.display()
    );
    Ok(())
}

/// The CMA-ES search (from the neutral start, or from `config.start_at` in hybrid mode), with
/// a progress bar on a terminal.
fn search(
    spec: &ChainSpec,
    metric: &dyn StyleMetric,
    config: &MatchConfig,
    segment: (&[f32], &[f32]),
    sample_rate: u32,
    z_ref: &fxmatch::metric::Embedding,
) -> Result<MatchOutcome> {
    let mut matcher = Matcher::new(spec, metric, config.clone())?;
    let bar = progress_bar(config.max_generations as u64);
    let abort = AtomicBool::new(false);
    let outcome = matcher.run(segment.0, segment.1, sample_rate, z_ref, &abort, &mut |p| {
        if let Some(b) = &bar {
            b.set_length(p.max_generations as u64);
            b.set_position(p.generation as u64);
            b.set_message(format!("similarity {:.4}", p.best_similarity));
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(outcome)
}

/// Stage a temporary for each output given (checked by [`AtomicFile::create`]); two outputs
/// naming one file are refused.
fn stage_outputs(paths: &[Option<&PathBuf>]) -> Result<Vec<AtomicFile>> {
    let paths: Vec<&PathBuf> = paths.iter().flatten().copied().collect();
    for (i, a) in paths.iter().enumerate() {
        if let Some(b) = paths[..i].iter().find(|b| same_file(a, b)) {
            return Err(fxmatch::Error::invalid(
                format!("two outputs are the same file: {} and {}", b.display(), a.display()),
                "give -o, --params-out and --report different paths",
            )
            .into());
        }
    }
    Ok(paths.iter().map(|p| AtomicFile::create(p)).collect::<fxmatch::Result<Vec<_>>>()?)
}

/// Whether two output paths name one file (the same folder and name).
fn same_file(a: &Path, b: &Path) -> bool {
    let dir = |p: &Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        parent.canonicalize().ok()
    };
    a.file_name() == b.file_name() && (a == b || dir(a).is_some_and(|d| Some(d) == dir(b)))
}

fn write_staged(file: &mut AtomicFile, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let target = file.target().to_path_buf();
    file.file().write_all(bytes).map_err(|e| fxmatch::Error::write(target, e))?;
    Ok(())
}

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("matching {bar:30} generation {pos}/{len} {msg} [{elapsed}]")
            .expect("valid template"),
    );
    Some(bar)
}
