//! `fxmatch eval …`: the benchmark tasks of shared/BENCHMARK.md.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use fxmatch::audio::{read_wav, AudioBuffer};
use fxmatch::chain::{Chain, ChainSpec, Params};
use fxmatch::eval::external::{probe, ExternalStyle, Processor, EXTERNAL_STYLES};
use fxmatch::eval::param_est::{
    param_est, single_param_spec, ParamEstCase, ParamEstConfig, PARAM_EST_CASES, PARAM_EST_LV2_CASES,
};
use fxmatch::eval::report;
use fxmatch::eval::retrieval::{retrieval, RetrievalConfig};
use fxmatch::eval::synthetic::{synthetic_match, SyntheticConfig};
use fxmatch::eval::transfer::{transfer, StyleSlot, TransferConfig};
use fxmatch::eval::zero_shot::{zero_shot, ZeroShotConfig, ZeroShotResult};
use fxmatch::metric::encoder::DEFAULT_MODEL;
use fxmatch::metric::{load_metric, StyleMetric};
use fxmatch::optimize::MatchConfig;

use super::metric_args::MetricChoice;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Zero-shot production-style classification (ST-ITO Table 1): five EQ+compressor styles,
    /// speech and music, per-style and average accuracy.
    ZeroShot(ZeroShotArgs),
    /// Synthetic match cases: reference = other content through the chain at known random
    /// settings; the match's similarity against the oracle's, parameter error, and speed.
    Match(MatchEvalArgs),
    /// Style retrieval (ST-ITO §4.2): N = 1…5 random effects, up to 25 distractors; accuracy
    /// that the true match ranks first, per N and set size.
    Retrieval(RetrievalArgs),
    /// Parameter estimation (ST-ITO Table 2): one free parameter per built-in effect, 4 targets
    /// × 3 trials; MSE and Pearson correlation of the normalised estimates.
    ParamEst(ParamEstArgs),
    /// Style transfer: dry inputs vs references from other content through realistic
    /// processing: the chain at its presets (config/styles/*.params.toml), sox effect chains and
    /// LV2 plugins rendered by lv2file. Per system (input, random setting, rule-based baseline,
    /// the match per profile, the oracle): similarity to the reference, and the fidelity gain
    /// 1 − d(output, oracle) / d(input, oracle) with an independent audio distance d.
    Transfer(TransferArgs),
    /// Two systems of `eval transfer` on the same cases: the difference of their median gains
    /// with a paired 90 % interval (the styles resampled with both together), overall, per
    /// source and per effect class. The two runs must share seed, chain, styles and content.
    Compare(CompareArgs),
}

#[derive(Args)]
pub struct CompareArgs {
    /// transfer.json of the base run (what ships), then of the new run (the candidate; the base
    /// file again to compare two systems of one run). More pairs BASE NEW (other draws of the
    /// cases, e.g. --seed 1) are pooled: their cases counted together, styles by name.
    #[arg(value_name = "BASE NEW", num_args = 2.., required = true)]
    files: Vec<PathBuf>,
    /// The system of the new run to judge (predict, hybrid:live, match:live, …).
    #[arg(long, default_value = "predict")]
    system: String,
    /// The system of the base run to judge it against (default: the same name as --system).
    #[arg(long, value_name = "SYSTEM")]
    base_system: Option<String>,
    /// The metric whose runs to compare, where a file holds several (default: the first).
    #[arg(long)]
    metric: Option<String>,
}

#[derive(Args)]
pub struct TransferArgs {
    /// The chain the references are made with and the match searches.
    #[arg(long, default_value = "config/chains/default.toml")]
    chain: PathBuf,
    /// Folder of reference presets (params files for the chain; one reference style each).
    #[arg(long, default_value = "config/styles")]
    presets: PathBuf,
    /// Input/reference pairs per reference style (each preset, each sox or lv2file chain).
    #[arg(long, default_value_t = 3)]
    pairs: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Match profiles to compare (st-ito, live); repeat for several.
    #[arg(long = "profile", default_values_t = ["st-ito".to_string(), "live".to_string()])]
    profiles: Vec<String>,
    /// Reference sources; repeat for several. Default: all three.
    #[arg(long = "source", value_enum)]
    sources: Vec<ReferenceSource>,
    /// Parameter predictor for the chain (NAME.onnx beside NAME.json): adds the systems
    /// `predict` (the prediction alone) and `hybrid:PROFILE` (each profile's search started at
    /// the prediction, σ 0.1, a third of the generations, held near it by a pull toward it).
    #[arg(long, value_name = "PATH")]
    predictor: Option<PathBuf>,
    /// Add the row `oracle-fit`: per case, the chain setting fitted by CMA-ES to the oracle
    /// itself (the seed's MR-STFT loss without its time-domain term, level aligned;
    /// src/predict/projection.rs). It sees the answer, so it is not a system: it shows how
    /// close the chain can come at all.
    #[arg(long)]
    oracle_fit: bool,
    /// CMA-ES evaluations of each `--oracle-fit` fit.
    #[arg(long, value_name = "N", default_value_t = 300, requires = "oracle_fit")]
    oracle_fit_evaluations: u64,
    /// Add the row `judge-fit`: the same fit with the benchmark's own fidelity distance to the
    /// oracle as its loss, N evaluations. It optimises the judge, so it is the chain's ceiling
    /// under the judge itself (slower: the distance costs more than the fit's loss).
    #[arg(long, value_name = "N")]
    judge_fit: Option<u64>,
    /// References per case: the case's own, then K − 1 more of the same processing on other
    /// content (as a player who brings several clips of one production). The searches aim at
    /// their mean embedding; the predictor reads them as --reference-pool says. The cases are
    /// the same for any K, so runs compare case by case (`fxmatch eval compare`).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    references: u64,
    /// How the predictor reads several references: `features` (one prediction from their mean
    /// description) or `predictions` (the mean of one prediction per reference).
    #[arg(long, value_enum, default_value_t = PoolArg::Features)]
    reference_pool: PoolArg,
    #[command(flatten)]
    common: CommonEvalArgs,
}

/// `--reference-pool`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PoolArg {
    /// One prediction from the references' mean description.
    Features,
    /// The mean of one prediction per reference.
    Predictions,
}

/// Where the references of a transfer run come from.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReferenceSource {
    /// The searched chain at the presets in --presets: the oracle is reachable.
    FxmatchChain,
    /// Chains of sox effects (fxmatch has none of them).
    Sox,
    /// LV2 plugins rendered by lv2file, outside fxmatch.
    Lv2file,
}

#[derive(Args)]
pub struct RetrievalArgs {
    /// Trials per number of effects.
    #[arg(long, default_value_t = 50)]
    trials: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    common: CommonEvalArgs,
}

#[derive(Args)]
pub struct ParamEstArgs {
    /// Trials per target value.
    #[arg(long, default_value_t = 3)]
    trials: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Search profile (st-ito, live).
    #[arg(long, default_value = "st-ito")]
    profile: String,
    /// Which effects: fxmatch's built-ins, the LV2 plugins the encoder never saw (mda-lv2,
    /// zam-plugins, x42-plugins; ones not installed are skipped and listed), or both.
    #[arg(long, value_enum, default_value_t = EffectSet::All)]
    effects: EffectSet,
    /// Only these effects (as named in the table: `eq`, `ZamEQ2`, `mda Overdrive`, …); repeat
    /// for several. Default: all of the chosen set.
    #[arg(long = "only")]
    only: Vec<String>,
    #[command(flatten)]
    common: CommonEvalArgs,
}

/// The effects a parameter-estimation run covers.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum EffectSet {
    /// Built-in effects and unseen LV2 plugins.
    All,
    /// fxmatch's built-in effects only.
    Builtin,
    /// Third-party LV2 plugins the encoder never saw in training only.
    Lv2,
}

#[derive(Args)]
pub struct MatchEvalArgs {
    /// Chain whose free parameters are searched (and drawn at random for the references).
    #[arg(long, default_value = "config/chains/default.toml")]
    chain: PathBuf,
    /// Number of cases.
    #[arg(long, default_value_t = 20)]
    cases: usize,
    /// Random seed (cases and searches).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Match profiles to compare on the same cases (st-ito, live).
    #[arg(long = "profile", default_values_t = ["st-ito".to_string(), "live".to_string()])]
    profiles: Vec<String>,
    /// Worker threads per match (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    common: CommonEvalArgs,
}

#[derive(Args)]
pub struct ZeroShotArgs {
    /// Trials per content type.
    #[arg(long, default_value_t = 200)]
    trials: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    common: CommonEvalArgs,
}

/// Options every eval task takes.
#[derive(Args)]
pub struct CommonEvalArgs {
    /// Folders of evaluation content (WAV). Files whose name starts with `speech` are speech,
    /// the rest music. Default: the bundled clips.
    #[arg(long = "content")]
    content: Vec<PathBuf>,
    /// Results folder: TASK.json (machine-readable) and TASK.md (a table).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Smoke run: a small version of the task (zero-shot: 10 trials per content type;
    /// retrieval: 2 trials, 5 distractors; param-est: 2 built-in effects and 1 LV2 plugin × 2
    /// targets; match: 2 cases;
    /// transfer: 2 presets, 1 sox and 1 lv2file chain × 1 pair; searches cut to 3 generations
    /// of at most 16).
    #[arg(long)]
    quick: bool,
    /// Style metric to evaluate; repeat for several. Default: every metric available (mfcc, and
    /// encoder when --model or models/encoder.onnx exists). Each gets its own rows and plots.
    #[arg(long = "metric", value_enum)]
    metrics: Vec<MetricChoice>,
    /// Encoder model (NAME.onnx beside its NAME.json); default models/encoder.onnx.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
}

impl CommonEvalArgs {
    /// The metrics to evaluate, each loaded once (see `--metric`).
    fn load_metrics(&self) -> Result<Vec<Box<dyn StyleMetric>>> {
        let mut choices = self.metrics.clone();
        if choices.is_empty() {
            if self.model.is_some() || Path::new(DEFAULT_MODEL).exists() {
                choices.push(MetricChoice::Encoder);
            }
            choices.push(MetricChoice::Mfcc);
        }
        choices.dedup();
        choices
            .into_iter()
            .map(|metric| {
                let model = if metric == MetricChoice::Encoder { self.model.as_deref() } else { None };
                Ok(load_metric(metric.name(), model)?)
            })
            .collect()
    }
}

pub fn run(cmd: EvalCommand) -> Result<()> {
    if let EvalCommand::Compare(args) = cmd {
        return run_compare(args);
    }
    // The results folder is checked before the benchmark runs, not after.
    let out = match &cmd {
        EvalCommand::ZeroShot(a) => &a.common.out,
        EvalCommand::Match(a) => &a.common.out,
        EvalCommand::Retrieval(a) => &a.common.out,
        EvalCommand::ParamEst(a) => &a.common.out,
        EvalCommand::Transfer(a) => &a.common.out,
        EvalCommand::Compare(_) => unreachable!("handled above: it writes no results folder"),
    };
    fxmatch::fsutil::check_output_dir(out)?;
    match cmd {
        EvalCommand::ZeroShot(args) => run_zero_shot(args),
        EvalCommand::Match(args) => run_match(args),
        EvalCommand::Retrieval(args) => run_retrieval(args),
        EvalCommand::ParamEst(args) => run_param_est(args),
        EvalCommand::Transfer(args) => run_transfer(args),
        EvalCommand::Compare(_) => unreachable!("handled above"),
    }
}

/// Prints the comparison of two `eval transfer` runs (`fxmatch::eval::compare`).
fn run_compare(args: CompareArgs) -> Result<()> {
    let load = |path: &Path| -> Result<fxmatch::eval::compare::TransferRun> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("reading {} (a transfer.json of `fxmatch eval transfer`)", path.display())
        })?;
        let runs = fxmatch::eval::compare::parse_transfer_json(&text)
            .with_context(|| format!("reading {}", path.display()))?;
        let run = match &args.metric {
            Some(m) => runs.iter().find(|r| &r.metric == m),
            None => runs.first(),
        };
        run.cloned().with_context(|| {
            format!(
                "{} has no run for metric {}\n  fix: pass --metric with one of: {}",
                path.display(),
                args.metric.as_deref().unwrap_or("(any)"),
                runs.iter().map(|r| r.metric.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    };
    anyhow::ensure!(
        args.files.len() % 2 == 0,
        "{} files: they come in pairs, BASE NEW [BASE NEW …]\n  fix: add the missing transfer.json",
        args.files.len()
    );
    let base_system = args.base_system.as_deref().unwrap_or(&args.system);
    let (mut base_runs, mut new_runs) = (Vec::new(), Vec::new());
    for pair in args.files.chunks(2) {
        base_runs.push(load(&pair[0])?);
        new_runs.push(load(&pair[1])?);
    }
    let base_run = fxmatch::eval::compare::pool(&base_runs, base_system)?;
    let new_run = fxmatch::eval::compare::pool(&new_runs, &args.system)?;
    anyhow::ensure!(
        base_run.metric == new_run.metric,
        "the base run optimised {} and the new one {}\n  fix: pass --metric, or compare runs of the same metric",
        base_run.metric,
        new_run.metric
    );
    let rows = fxmatch::eval::compare::compare(&base_run, base_system, &new_run, &args.system)?;
    let label = |paths: Vec<&PathBuf>, system: &str| {
        let names: Vec<String> = paths
            .iter()
            .map(|p| {
                p.parent().and_then(|p| p.file_name()).unwrap_or_default().to_string_lossy().into_owned()
            })
            .collect();
        format!("{system} ({})", names.join(" + "))
    };
    let (bases, news): (Vec<&PathBuf>, Vec<&PathBuf>) =
        (args.files.iter().step_by(2).collect(), args.files.iter().skip(1).step_by(2).collect());
    println!(
        "## {} against {} (metric {})\n",
        label(news, &args.system),
        label(bases, base_system),
        base_run.metric
    );
    print!("{}", fxmatch::eval::compare::compare_table(&rows, "base", "new"));
    Ok(())
}

fn load_content(dirs: &[PathBuf]) -> Result<(Vec<AudioBuffer>, Vec<AudioBuffer>)> {
    let (mut speech, mut music) = (Vec::new(), Vec::new());
    for dir in dirs {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading content folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")))
            .collect();
        paths.sort();
        for p in paths {
            let (audio, _) = read_wav(&p)?;
            let is_speech = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("speech"));
            if is_speech { &mut speech } else { &mut music }.push(audio);
        }
    }
    Ok((speech, music))
}

/// The given content folders, or the bundled clips.
fn content_dirs(given: &[PathBuf]) -> Vec<PathBuf> {
    if given.is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        vec![root.join("assets/audio/dry"), root.join("assets/audio/content")]
    } else {
        given.to_vec()
    }
}

/// Runs `task` with a progress bar of `len` steps (on a terminal only); `task` reports the
/// number of steps done through the function it is given.
fn with_progress<T>(len: u64, message: String, task: impl FnOnce(&dyn Fn(usize)) -> Result<T>) -> Result<T> {
    let bar = progress_bar(len, message);
    let result = task(&|done| {
        if let Some(b) = &bar {
            b.set_position(done as u64)
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result
}

fn progress_bar(len: u64, message: String) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(len);
        b.set_message(message);
        b
    })
}

/// All content clips, music first.
fn load_all_content(dirs: &[PathBuf]) -> Result<Vec<AudioBuffer>> {
    let (speech, music) = load_content(dirs)?;
    Ok(music.into_iter().chain(speech).collect())
}

/// Write `TASK.json` and `TASK.md` (and extra files) into the results folder; print the table.
fn write_results(
    out: &Path,
    task: &str,
    json: serde_json::Value,
    md: &str,
    extra: &[(String, String)],
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    fxmatch::fsutil::write_atomic(
        &out.join(format!("{task}.json")),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    fxmatch::fsutil::write_atomic(&out.join(format!("{task}.md")), md.as_bytes())?;
    for (name, text) in extra {
        fxmatch::fsutil::write_atomic(&out.join(name), text.as_bytes())?;
    }
    print!("{md}");
    Ok(())
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn run_retrieval(args: RetrievalArgs) -> Result<()> {
    let dirs = content_dirs(&args.common.content);
    let clips = load_all_content(&dirs)?;
    let config = RetrievalConfig {
        trials: if args.common.quick { 2 } else { args.trials },
        max_distractors: if args.common.quick { 5 } else { 25 },
        seed: args.seed,
        ..RetrievalConfig::default()
    };
    let (mut md, mut results, mut svgs) = (String::new(), Vec::new(), Vec::new());
    for mut metric in args.common.load_metrics()? {
        let result = with_progress(
            (config.trials * config.max_effects) as u64,
            format!("retrieval ({})", metric.name()),
            |tick| Ok(retrieval(&mut *metric, &clips, &config, &mut |done, _| tick(done))?),
        )?;
        let (section, figure) = report::retrieval_section(&result, &config);
        md += &section;
        svgs.push(figure);
        results.push(result);
    }
    let json = serde_json::json!({
        "task": "style retrieval (shared/BENCHMARK.md §1)",
        "command": command_line(),
        "config": config,
        "content_folders": dirs,
        "results": results,
    });
    write_results(&args.common.out, "retrieval", json, &md, &svgs)
}

fn run_param_est(args: ParamEstArgs) -> Result<()> {
    let dirs = content_dirs(&args.common.content);
    let clips = load_all_content(&dirs)?;
    let mut search = MatchConfig::profile(&args.profile)?;
    search.seed = args.seed;
    let mut config =
        ParamEstConfig { trials: args.trials, seed: args.seed, search, ..ParamEstConfig::default() };
    let (mut builtin, mut lv2) = (PARAM_EST_CASES.to_vec(), PARAM_EST_LV2_CASES.to_vec());
    if args.common.quick {
        config.trials = 1;
        config.targets = vec![0.2, 0.8];
        config.search.max_generations = 3;
        config.search.population = 8;
        builtin.truncate(2);
        lv2.truncate(1);
    }
    if !args.only.is_empty() {
        let wanted = |c: &ParamEstCase| args.only.iter().any(|n| n.eq_ignore_ascii_case(&c.effect_name()));
        builtin.retain(wanted);
        lv2.retain(wanted);
        anyhow::ensure!(
            !builtin.is_empty() || !lv2.is_empty(),
            "no effect is called {:?}\n  fix: use names from the table, e.g. `--only eq --only ZamEQ2`",
            args.only
        );
    }
    let mut cases: Vec<ParamEstCase> = Vec::new();
    if args.effects != EffectSet::Lv2 {
        cases.extend(builtin);
    }
    // A plugin that is not installed, cannot be hosted or fails the crash probe is skipped and
    // listed, not fatal: the built-in rows still mean something without it.
    let mut skipped = Vec::new();
    if args.effects != EffectSet::Builtin {
        for case in lv2 {
            let probed = single_param_spec(&case).and_then(|spec| probe_offline(&spec));
            match probed {
                Ok(()) => cases.push(case),
                Err(e) => {
                    eprintln!("warning: skipping {}: {e}", case.effect_name());
                    skipped.push(serde_json::json!({ "uri": case.uri, "reason": e.to_string() }));
                }
            }
        }
    }
    let (mut md, mut results, mut svgs) = (String::new(), Vec::new(), Vec::new());
    for mut metric in args.common.load_metrics()? {
        let total = cases.len() * config.targets.len() * config.trials;
        let result =
            with_progress(total as u64, format!("parameter estimation ({})", metric.name()), |tick| {
                Ok(param_est(&mut *metric, &clips, &cases, &config, &mut |done, _| tick(done))?)
            })?;
        let (section, figure) = report::param_est_section(&result, &config, &args.profile);
        md += &section;
        svgs.push(figure);
        results.push(result);
    }
    if !skipped.is_empty() {
        md += &format!(
            "Skipped (not installed, not hostable or failed the crash probe): {}.\n",
            skipped.iter().filter_map(|s| s["uri"].as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let json = serde_json::json!({
        "task": "parameter estimation (shared/BENCHMARK.md §1)",
        "command": command_line(),
        "config": config,
        "content_folders": dirs,
        "results": results,
        "skipped": skipped,
    });
    write_results(&args.common.out, "param-est", json, &md, &svgs)
}

/// The crash probe (`fxmatch::lv2::probe`) for a chain the eval tasks render offline: the
/// default rate, offline renders' block size.
fn probe_offline(spec: &ChainSpec) -> fxmatch::Result<()> {
    fxmatch::chain::probe_chain(spec, fxmatch::lv2::probe::DEFAULT_RATE, fxmatch::render::OFFLINE_BLOCK)
}

/// The params files of a preset folder, sorted by name.
fn preset_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading preset folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".params.toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every `*.params.toml` in `dir` as (name, params for `spec`'s chain), sorted by name.
fn load_presets(dir: &Path, spec: &ChainSpec) -> Result<Vec<(String, Params)>> {
    let chain = Chain::from_spec(spec)?;
    let paths = preset_paths(dir)?;
    if paths.is_empty() {
        anyhow::bail!(
            "no presets (*.params.toml) in {}\n  fix: point --presets at a folder of params files for the chain",
            dir.display()
        );
    }
    paths
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .trim_end_matches(".params.toml")
                .to_string();
            Ok((name, Params::load(p, &chain)?))
        })
        .collect()
}

/// Named match profiles with the run's seed (and a short search for --quick).
fn profiles(
    names: &[String],
    seed: u64,
    threads: Option<usize>,
    quick: bool,
) -> Result<Vec<(String, MatchConfig)>> {
    names
        .iter()
        .map(|name| {
            let mut config = MatchConfig::profile(name)?;
            config.seed = seed;
            if let Some(t) = threads {
                config.threads = t;
            }
            if quick {
                config.max_generations = config.max_generations.min(3);
                config.population = config.population.min(16);
            }
            Ok((name.clone(), config))
        })
        .collect()
}

fn run_transfer(args: TransferArgs) -> Result<()> {
    let spec = ChainSpec::load_or_builtin(&args.chain)?;
    probe_offline(&spec)?;
    let wanted = |s: ReferenceSource| args.sources.is_empty() || args.sources.contains(&s);
    // Styles that do not run (their source not asked for, their program missing) keep their
    // place in the task's order as left-out slots: they still draw their cases, so the styles
    // that run get the same cases as in a run of every source (`transfer::StyleSlot`).
    let mut presets = if wanted(ReferenceSource::FxmatchChain) {
        load_presets(&args.presets, &spec)?.into_iter().map(Some).collect()
    } else {
        // Left out: only their number matters (they need not fit this chain).
        preset_paths(&args.presets).map(|paths| vec![None; paths.len()]).unwrap_or_default()
    };
    let dirs = content_dirs(&args.common.content);
    let clips = load_all_content(&dirs)?;
    let quick = args.common.quick;
    let mut external: Vec<ExternalStyle> = EXTERNAL_STYLES.to_vec();
    if quick {
        presets.truncate(2);
        // The first chain of each external source.
        external.dedup_by_key(|s| s.processor);
    }
    // A style whose program or plugin is missing is skipped and listed, as param-est does: the
    // other rows still mean something without it.
    let rate = clips.first().map_or(48_000, |c| c.sample_rate);
    let mut skipped = Vec::new();
    let external: Vec<Option<ExternalStyle>> = external
        .into_iter()
        .map(|style| {
            let asked = match style.processor {
                Processor::Sox => wanted(ReferenceSource::Sox),
                Processor::Lv2file => wanted(ReferenceSource::Lv2file),
            };
            if !asked {
                return None;
            }
            match probe(&style, rate) {
                Ok(()) => Some(style),
                Err(e) => {
                    eprintln!("warning: skipping {}: {e}", style.name);
                    skipped.push(serde_json::json!({ "style": style.name, "reason": e.to_string() }));
                    None
                }
            }
        })
        .collect();
    let slots: Vec<StyleSlot> = presets
        .iter()
        .map(|p| p.as_ref().map_or(StyleSlot::LeftOut, |(name, params)| StyleSlot::Preset(name, params)))
        .chain(external.iter().map(|e| e.as_ref().map_or(StyleSlot::LeftOut, StyleSlot::External)))
        .collect();
    let presets: Vec<&(String, Params)> = presets.iter().flatten().collect();
    let external: Vec<&ExternalStyle> = external.iter().flatten().collect();
    anyhow::ensure!(
        !presets.is_empty() || !external.is_empty(),
        "no reference style to run\n  fix: install sox and lv2file (`bash scripts/setup.sh`) or include --source fxmatch-chain"
    );
    let profiles = profiles(&args.profiles, args.seed, None, quick)?;
    let predictor = match &args.predictor {
        Some(path) => Some((
            fxmatch::predict::Predictor::load(path, fxmatch::metric::VaeModel::builtin()?)?,
            profiles.iter().map(|(n, c)| (n.clone(), fxmatch::predict::hybrid_config(c))).collect(),
        )),
        None => None,
    };
    let config = TransferConfig {
        pairs_per_preset: if quick { 1 } else { args.pairs },
        seed: args.seed,
        profiles,
        predictor,
        oracle_fit: args.oracle_fit.then(|| fxmatch::predict::projection::FitConfig {
            max_evaluations: args.oracle_fit_evaluations,
            ..Default::default()
        }),
        judge_fit: args
            .judge_fit
            .map(|n| fxmatch::predict::projection::FitConfig { max_evaluations: n, ..Default::default() }),
        references: args.references as usize,
        pool: match args.reference_pool {
            PoolArg::Features => fxmatch::eval::transfer::ReferencePool::Features,
            PoolArg::Predictions => fxmatch::eval::transfer::ReferencePool::Predictions,
        },
    };
    let styles = presets.len() + external.len();
    let (mut md, mut results, mut svgs) = (String::new(), Vec::new(), Vec::new());
    for mut metric in args.common.load_metrics()? {
        let started = std::time::Instant::now();
        let result = with_progress(
            (styles * config.pairs_per_preset) as u64,
            format!("transfer ({})", metric.name()),
            |tick| Ok(transfer(&spec, &slots, &mut *metric, &clips, &config, &mut |done, _| tick(done))?),
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let (section, figure) =
            report::transfer_section(&result, &args.chain, styles, config.pairs_per_preset, seconds);
        md += &section;
        svgs.push(figure);
        results.push(serde_json::json!({ "seconds": seconds, "result": result }));
    }
    if config.references > 1 {
        md += &format!(
            "References per case: {} (the case's own, then others of the same processing on other content); \
             the searches aim at their mean embedding, the predictor reads them by {:?}; the rule-based \
             baseline reads the case's own only.\n\n",
            config.references, config.pool
        );
    }
    md += "Presets (fxmatch-chain): ";
    md += &presets.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    md += ". External chains: ";
    md += &external
        .iter()
        .map(|s| format!("{} ({})", s.name, s.steps.join(" → ")))
        .collect::<Vec<_>>()
        .join("; ");
    md += ".\n";
    if !skipped.is_empty() {
        md += &format!(
            "\nSkipped (program or plugin missing, or the chain failed): {}.\n",
            skipped.iter().filter_map(|s| s["style"].as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let json = serde_json::json!({
        "task": "style transfer (shared/BENCHMARK.md §2)",
        "command": command_line(),
        "chain": args.chain,
        "presets": args.presets,
        "external_styles": external,
        "config": config,
        "content_folders": dirs,
        "results": results,
        "skipped": skipped,
    });
    write_results(&args.common.out, "transfer", json, &md, &svgs)
}

fn run_match(args: MatchEvalArgs) -> Result<()> {
    let spec = ChainSpec::load_or_builtin(&args.chain)?;
    probe_offline(&spec)?;
    let dirs = content_dirs(&args.common.content);
    let clips = load_all_content(&dirs)?;
    let profiles = profiles(&args.profiles, args.seed, args.threads, args.common.quick)?;
    let config =
        SyntheticConfig { cases: if args.common.quick { 2 } else { args.cases }, seed: args.seed, profiles };
    let (mut md, mut all) = (String::new(), Vec::new());
    for mut metric in args.common.load_metrics()? {
        let results = with_progress(
            (config.cases * config.profiles.len()) as u64,
            format!("synthetic matches ({})", metric.name()),
            |tick| Ok(synthetic_match(&spec, &mut *metric, &clips, &config, &mut |done, _| tick(done))?),
        )?;
        md += &report::match_table(&results, &args.chain, config.cases, metric.name());
        md += "\n";
        all.push(serde_json::json!({"metric": metric.name(), "profiles": results}));
    }
    let json = serde_json::json!({
        "task": "synthetic match cases (reference = other content through the chain at random settings)",
        "command": command_line(),
        "chain": args.chain,
        "cases": config.cases,
        "seed": config.seed,
        "content_folders": dirs,
        "results": all,
    });
    write_results(&args.common.out, "match", json, &md, &[])
}

fn run_zero_shot(args: ZeroShotArgs) -> Result<()> {
    let dirs = content_dirs(&args.common.content);
    let (speech, music) = load_content(&dirs)?;
    let config = ZeroShotConfig {
        trials: if args.common.quick { 10 } else { args.trials },
        seed: args.seed,
        ..Default::default()
    };
    let mut metrics = args.common.load_metrics()?;
    let mut results: Vec<ZeroShotResult> = Vec::new();
    for metric in &mut metrics {
        for (name, clips) in [("speech", &speech), ("music", &music)] {
            let r = with_progress(config.trials as u64, format!("{} {name}", metric.name()), |tick| {
                Ok(zero_shot(&mut **metric, clips, name, &config, &mut |t| tick(t))?)
            })?;
            results.push(r);
        }
    }
    let json = serde_json::json!({
        "task": "zero-shot style classification (shared/BENCHMARK.md §1)",
        "command": command_line(),
        "config": config,
        "content_folders": dirs,
        "results": results,
    });
    let mut md = report::zero_shot_table(&results, &config);
    let names: Vec<String> = metrics.iter().map(|m| m.name().to_string()).collect();
    let (charts, svgs) = report::zero_shot_charts(&results, &names);
    md += &charts;
    write_results(&args.common.out, "zero-shot", json, &md, &svgs)
}
