//! Does the match find the reference's processing, or overshoot toward its content?
//!
//! References are other bundled clips through the default chain at known settings: the five
//! styles of `config/styles/` (every effect on) and five sparse styles with only one or two
//! effects on (where a free search overshoots most). Each search variant is judged by
//! - its parameter error against the true settings (normalised, all free parameters, as
//!   `fxmatch eval transfer`),
//! - the transfer gain `1 − d(output, oracle) / d(input, oracle)`, where the oracle is the input
//!   through the true settings and `d` the plain log-spectral distance
//!   ([`log_spectral_distance`]), which no variant optimises; its median and the share of cases
//!   with the output closer to the oracle than the input,
//! - the effects the result uses that the reference does not (`extra`) and the reverse
//!   (`missed`),
//! - the similarity to the reference under the metric searched.
//!
//! ```text
//! cargo run --release --example search_fidelity -- [--metric mfcc|encoder] [--profile live|st-ito]
//!     [--pairs N] [--seed S] [--threads T] [--variant NAME=START,PRIOR,MARGIN|none]...
//! ```
//! Default variants: ST-ITO's search (middle, no prior, no selection) and the neutral start
//! with several priors and margins. Prints one markdown row per variant.

use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};

use fxmatch::audio::{log_spectral_distance, read_wav, AudioBuffer};
use fxmatch::chain::{Chain, ChainSpec, Params};
use fxmatch::metric::{load_metric, similarity, StyleMetric};
use fxmatch::optimize::{loudest_window, MatchConfig, Matcher, Start};
use fxmatch::render::render;

/// Sparse styles: (name, [(effect, param, plain value)]) on top of the neutral chain.
const SPARSE: &[(&str, &[(&str, &str, f32)])] = &[
    ("room-only", &[("reverb", "size", 0.3), ("reverb", "damping", 0.5), ("reverb", "mix", 0.25)]),
    (
        "eq-only",
        &[
            ("eq", "low_gain", -6.0),
            ("eq", "low_freq", 150.0),
            ("eq", "mid2_gain", 5.0),
            ("eq", "mid2_freq", 3000.0),
            ("eq", "high_gain", -4.0),
        ],
    ),
    (
        "comp-only",
        &[
            ("compressor", "threshold", -30.0),
            ("compressor", "ratio", 6.0),
            ("compressor", "attack", 5.0),
            ("compressor", "release", 120.0),
            ("compressor", "makeup", 8.0),
        ],
    ),
    ("drive-only", &[("distortion", "drive", 15.0), ("distortion", "tone", 0.4)]),
    (
        "echo-room",
        &[
            ("delay", "time", 300.0),
            ("delay", "feedback", 0.3),
            ("delay", "mix", 0.25),
            ("reverb", "size", 0.6),
            ("reverb", "mix", 0.3),
        ],
    ),
];

struct Variant {
    name: String,
    start: Start,
    prior: f64,
    margin: Option<f64>,
}

fn parse_variant(text: &str) -> Variant {
    let (name, rest) = text.split_once('=').expect("NAME=START,PRIOR,MARGIN");
    let parts: Vec<&str> = rest.split(',').collect();
    assert_eq!(parts.len(), 3, "NAME=START,PRIOR,MARGIN");
    Variant {
        name: name.to_string(),
        start: Start::parse(parts[0]).expect("start: neutral or middle"),
        prior: parts[1].parse().expect("prior: a number"),
        margin: if parts[2] == "none" {
            None
        } else {
            Some(parts[2].parse().expect("margin: a number or none"))
        },
    }
}

fn embed(metric: &mut dyn StyleMetric, a: &AudioBuffer) -> fxmatch::Result<fxmatch::metric::Embedding> {
    let (l, r) = a.to_stereo();
    metric.embed(&l, &r, a.sample_rate)
}

fn lsd(a: &AudioBuffer, b: &AudioBuffer) -> f64 {
    let (al, ar) = a.to_stereo();
    let (bl, br) = b.to_stereo();
    log_spectral_distance((&al, &ar), (&bl, &br))
}

/// Effects of `chain` at `x` whose amount differs from neutral (the truth's effects).
fn truly_used(chain: &Chain, x: &[f64]) -> Vec<String> {
    let rest = chain.start_point();
    let mut used: Vec<String> = Vec::new();
    for (i, p) in chain.free_params().iter().enumerate() {
        if p.neutral.is_some() && (x[i] - rest[i]).abs() > 1e-6 && !used.contains(&p.effect_id) {
            used.push(p.effect_id.clone());
        }
    }
    used
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut metric_name = "mfcc".to_string();
    let mut profile = "live".to_string();
    let (mut pairs, mut seed, mut threads) = (1usize, 0u64, 2usize);
    let mut variants = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--metric" => metric_name = value,
            "--profile" => profile = value,
            "--pairs" => pairs = value.parse()?,
            "--seed" => seed = value.parse()?,
            "--threads" => threads = value.parse()?,
            "--variant" => variants.push(parse_variant(&value)),
            other => anyhow::bail!("unknown argument {other}"),
        }
        i += 2;
    }
    if variants.is_empty() {
        for v in [
            "st-ito=middle,0,none",
            "neutral=neutral,0,none",
            "neutral+sel=neutral,0,0.005",
            "prior0.01=neutral,0.01,0.005",
            "prior0.02=neutral,0.02,0.005",
            "prior0.05=neutral,0.05,0.005",
        ] {
            variants.push(parse_variant(v));
        }
    }

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = ChainSpec::load(root.join("config/chains/default.toml"))?;
    let mut chain = Chain::from_spec(&spec)?;
    let mut clips = Vec::new();
    for dir in ["assets/audio/dry", "assets/audio/content"] {
        let mut paths: Vec<_> =
            std::fs::read_dir(root.join(dir))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.retain(|p| p.extension().is_some_and(|x| x == "wav"));
        paths.sort();
        for p in paths {
            clips.push(read_wav(&p)?.0);
        }
    }
    // Styles: (name, true normalised settings).
    let mut styles: Vec<(String, Vec<f64>)> = Vec::new();
    let mut presets: Vec<_> =
        std::fs::read_dir(root.join("config/styles"))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    presets.sort();
    for p in presets {
        let params = Params::load(&p, &chain)?;
        chain.set_normalized(&chain.start_point());
        chain.apply_params(&params)?;
        let name = p.file_name().unwrap().to_string_lossy().trim_end_matches(".params.toml").to_string();
        styles.push((name, chain.normalized()));
    }
    for (name, values) in SPARSE {
        chain.set_normalized(&chain.start_point());
        for (effect, param, v) in *values {
            chain.set_plain(effect, param, *v)?;
        }
        styles.push((name.to_string(), chain.normalized()));
    }

    let mut metric = load_metric(&metric_name, None)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    struct Case {
        style: String,
        input: usize,
        truth: Vec<f64>,
        oracle: AudioBuffer,
        z_ref: fxmatch::metric::Embedding,
        d_input: f64,
    }
    let mut cases = Vec::new();
    for (name, truth) in &styles {
        for _ in 0..pairs {
            let a = rng.random_range(0..clips.len());
            let b = (a + rng.random_range(1..clips.len())) % clips.len();
            chain.set_normalized(truth);
            let reference = render(&mut chain, &clips[b], 0.0)?;
            let oracle = render(&mut chain, &clips[a], 0.0)?;
            let z_ref = embed(&mut *metric, &reference)?;
            let d_input = lsd(&clips[a], &oracle);
            cases.push(Case { style: name.clone(), input: a, truth: truth.clone(), oracle, z_ref, d_input });
        }
    }
    let base = MatchConfig::profile(&profile)?;
    println!(
        "metric {metric_name}, profile {profile}, {} cases ({} styles × {pairs}), seed {seed}, {threads} threads\n",
        cases.len(),
        styles.len()
    );
    println!("| variant | param error | param error (sparse) | median gain | closer | mean gain | extra effects | missed effects | similarity | seconds |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for v in &variants {
        let config = MatchConfig {
            start: v.start,
            prior: v.prior,
            selection_margin: v.margin,
            threads,
            seed,
            ..base.clone()
        };
        let mut matcher = Matcher::new(&spec, &*metric, config.clone())?;
        let (mut errors, mut sparse_errors, mut gains, mut sims, mut secs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut extra, mut missed) = (0usize, 0usize);
        for case in &cases {
            let input = &clips[case.input];
            let (start, len) = loudest_window(input, config.segment_seconds);
            let (l, r) = input.to_stereo();
            let out = matcher.run(
                &l[start..start + len],
                &r[start..start + len],
                input.sample_rate,
                &case.z_ref,
                &AtomicBool::new(false),
                &mut |_| {},
            )?;
            secs.push(out.seconds);
            let err =
                out.x.iter().zip(&case.truth).map(|(a, b)| (a - b).abs()).sum::<f64>() / out.x.len() as f64;
            errors.push(err);
            if SPARSE.iter().any(|(n, _)| *n == case.style) {
                sparse_errors.push(err);
            }
            chain.set_normalized(&out.x);
            let output = render(&mut chain, input, 0.0)?;
            gains.push(1.0 - lsd(&output, &case.oracle) / case.d_input.max(1e-9));
            sims.push(similarity(&embed(&mut *metric, &output)?, &case.z_ref) as f64);
            let truth_used = truly_used(&chain, &case.truth);
            let used = out.used_effects();
            extra += used.iter().filter(|e| !truth_used.iter().any(|t| t == *e)).count();
            missed += truth_used.iter().filter(|t| !used.contains(&t.as_str())).count();
            eprintln!(
                "{} {}: input {} err {err:.3} gain {:.3} sim {:.3} uses {:?} (truth {:?})",
                v.name,
                case.style,
                case.input,
                gains.last().unwrap(),
                sims.last().unwrap(),
                used,
                truth_used
            );
        }
        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
        let mut sorted = gains.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let closer = gains.iter().filter(|&&g| g > 0.0).count() as f64 / gains.len() as f64;
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.0} % | {:.3} | {:.2} | {:.2} | {:.3} | {:.2} |",
            v.name,
            mean(&errors),
            mean(&sparse_errors),
            median,
            100.0 * closer,
            mean(&gains),
            extra as f64 / cases.len() as f64,
            missed as f64 / cases.len() as f64,
            mean(&sims),
            mean(&secs)
        );
    }
    Ok(())
}
