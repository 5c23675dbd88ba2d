//! `fxmatch eval …`: the benchmark tasks of shared/BENCHMARK.md.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use fxmatch::audio::{read_wav, AudioBuffer};
use fxmatch::chain::ChainSpec;
use fxmatch::eval::synthetic::{synthetic_match, ProfileResult, SyntheticConfig};
use fxmatch::eval::zero_shot::{zero_shot, ZeroShotConfig, ZeroShotResult};
use fxmatch::metric::{MfccMetric, StyleMetric};
use fxmatch::optimize::MatchConfig;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Zero-shot production-style classification (ST-ITO Table 1): five EQ+compressor styles,
    /// speech and music, per-style and average accuracy.
    ZeroShot(ZeroShotArgs),
    /// Synthetic match cases: reference = other content through the chain at known random
    /// settings; the match's similarity against the oracle's, parameter error, and speed.
    Match(MatchEvalArgs),
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
    /// Smoke run: a small version of the task (zero-shot: 10 trials per content type; match:
    /// 2 cases, searches cut to 3 generations).
    #[arg(long)]
    quick: bool,
}

pub fn run(cmd: EvalCommand) -> Result<()> {
    match cmd {
        EvalCommand::ZeroShot(args) => run_zero_shot(args),
        EvalCommand::Match(args) => run_match(args),
    }
}

/// Published average accuracies (ST-ITO Table 1) to print beside ours.
const PUBLISHED: &[(&str, f64)] = &[("AFx-Rep", 0.86), ("DeepAFx-ST+", 0.78), ("MFCC", 0.74), ("CLAP", 0.56)];

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

fn progress_bar(len: u64, message: String) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(len);
        b.set_message(message);
        b
    })
}

fn run_match(args: MatchEvalArgs) -> Result<()> {
    let spec = ChainSpec::load(&args.chain)?;
    let dirs = content_dirs(&args.common.content);
    let (speech, music) = load_content(&dirs)?;
    let clips: Vec<AudioBuffer> = music.into_iter().chain(speech).collect();
    let mut profiles = Vec::new();
    for name in &args.profiles {
        let mut config = MatchConfig::profile(name)?;
        config.seed = args.seed;
        if let Some(t) = args.threads {
            config.threads = t;
        }
        if args.common.quick {
            config.max_generations = config.max_generations.min(3);
        }
        profiles.push((name.clone(), config));
    }
    let config =
        SyntheticConfig { cases: if args.common.quick { 2 } else { args.cases }, seed: args.seed, profiles };
    let mut metric = MfccMetric::new();
    let bar = progress_bar((config.cases * config.profiles.len()) as u64, "synthetic matches".into());
    let results = synthetic_match(&spec, &mut metric, &clips, &config, &mut |done, _| {
        if let Some(b) = &bar {
            b.set_position(done as u64)
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    std::fs::create_dir_all(&args.common.out)
        .with_context(|| format!("creating {}", args.common.out.display()))?;
    let json = serde_json::json!({
        "task": "synthetic match cases (reference = other content through the chain at random settings)",
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "chain": args.chain,
        "metric": metric.name(),
        "cases": config.cases,
        "seed": config.seed,
        "content_folders": dirs,
        "results": results,
    });
    fxmatch::fsutil::write_atomic(
        &args.common.out.join("match.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let md = match_markdown(&results, &args.chain, config.cases, metric.name());
    fxmatch::fsutil::write_atomic(&args.common.out.join("match.md"), md.as_bytes())?;
    print!("{md}");
    Ok(())
}

fn match_markdown(results: &[ProfileResult], chain: &Path, cases: usize, metric: &str) -> String {
    let mut s = format!(
        "## Synthetic match cases ({cases} cases, chain {}, metric {metric})\n\n\
         | profile | population × generations | evaluations | oracle − output (mean / median) | within 0.02 | similarity input → output (oracle) | parameter error | seconds (mean / max) | evaluations/s | render share |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        chain.display()
    );
    for r in results {
        s += &format!(
            "| {} | {} × {} | {:.0} | {:.4} / {:.4} | {:.0} % | {:.3} → {:.3} ({:.3}) | {:.3} | {:.2} / {:.2} | {:.0} | {:.0} % |\n",
            r.profile,
            r.config.population,
            r.config.max_generations,
            r.mean_evaluations,
            r.mean_gap,
            r.median_gap,
            100.0 * r.within_002,
            r.mean_similarity[0],
            r.mean_similarity[1],
            r.mean_similarity[2],
            r.mean_param_error,
            r.mean_seconds,
            r.max_seconds,
            r.evaluations_per_second,
            100.0 * r.render_share
        );
    }
    s += "\nParameter error: mean |found − true| in normalised units (a uniform random guess scores 1/3).\n\n| parameter |";
    for r in results {
        s += &format!(" {} |", r.profile);
    }
    s += "\n|---|";
    s += &"---|".repeat(results.len());
    s += "\n";
    if let Some(first) = results.first() {
        for name in first.param_error.keys() {
            s += &format!("| {name} |");
            for r in results {
                s += &format!(" {:.3} |", r.param_error[name]);
            }
            s += "\n";
        }
    }
    s
}

fn run_zero_shot(args: ZeroShotArgs) -> Result<()> {
    let dirs = content_dirs(&args.common.content);
    let (speech, music) = load_content(&dirs)?;
    let config = ZeroShotConfig {
        trials: if args.common.quick { 10 } else { args.trials },
        seed: args.seed,
        ..Default::default()
    };
    let mut metrics: Vec<Box<dyn StyleMetric>> = vec![Box::new(MfccMetric::new())];
    let mut results: Vec<ZeroShotResult> = Vec::new();
    for metric in &mut metrics {
        for (name, clips) in [("speech", &speech), ("music", &music)] {
            let bar = (std::io::stderr().is_terminal()).then(|| {
                let b = indicatif::ProgressBar::new(config.trials as u64);
                b.set_message(format!("{} {name}", metric.name()));
                b
            });
            let r = zero_shot(&mut **metric, clips, name, &config, &mut |t| {
                if let Some(b) = &bar {
                    b.set_position(t as u64)
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            results.push(r);
        }
    }
    std::fs::create_dir_all(&args.common.out)
        .with_context(|| format!("creating {}", args.common.out.display()))?;
    let json = serde_json::json!({
        "task": "zero-shot style classification (shared/BENCHMARK.md §1)",
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "config": config,
        "content_folders": dirs,
        "results": results,
    });
    fxmatch::fsutil::write_atomic(
        &args.common.out.join("zero-shot.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let md = markdown(&results, &config);
    fxmatch::fsutil::write_atomic(&args.common.out.join("zero-shot.md"), md.as_bytes())?;
    print!("{md}");
    Ok(())
}

fn markdown(results: &[ZeroShotResult], config: &ZeroShotConfig) -> String {
    let mut s = format!(
        "## Zero-shot style classification ({} trials per content type, seed {})\n\n| metric | content | NT | BC | TL | BR | WM | average |\n|---|---|---|---|---|---|---|---|\n",
        config.trials, config.seed
    );
    for r in results {
        let a = |k: &str| r.per_style.get(k).copied().unwrap_or(0.0);
        s += &format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.2}** |\n",
            r.metric,
            r.content,
            a("NT"),
            a("BC"),
            a("TL"),
            a("BR"),
            a("WM"),
            r.average
        );
    }
    s += "\nPublished averages (ST-ITO Table 1): ";
    s += &PUBLISHED.iter().map(|(n, v)| format!("{n} {v:.2}")).collect::<Vec<_>>().join(", ");
    s += "; AFx-Rep per style: TL 1.00, BR 1.00, WM 0.88, BC 0.85, NT 0.59.\n";
    s
}
