//! fxmatch's CMA-ES against pycma on standard test functions.
//!
//! `tests/data/pycma_reference.json` comes from `tools/pycma_reference.py` (it records the
//! command and the pycma version). For every case we run our CMA-ES with the same function,
//! start point, σ0, bounds and population size over as many seeds as pycma had and require
//!
//! - every run reaches f ≤ target (1e-8) — except on Rosenbrock, whose local minimum near
//!   (-1, 1, …, 1) also traps pycma in a few percent of runs (2 of 21 seeds in 10-D, 1 of 21 in
//!   30-D): there up to pycma's number of misses plus one may end, at that local minimum only
//!   (see [`allowed_misses`]); and
//! - our median number of evaluations ≤ pycma's median × [`MARGIN`], where a run that misses
//!   the target counts as infinitely many evaluations on both sides.
//!
//! Noise margin: single-run evaluation counts spread by 1–8 % (relative standard deviation,
//! recorded per case in the JSON as `rel_sd_single_run`); the median of 11 runs then has a
//! relative standard error of ≤ 3 % (`rel_se_median`), and the difference of two independent
//! medians ≤ √2 · 3 % ≈ 4 %. A 15 % margin is more than three of those standard errors for the
//! noisiest case, so the check fails on a real slowdown of about 10 % or more and not on seed
//! noise; the test asserts that the margin covers 3 standard errors for each case.
//!
//! The default run holds the cases that finish in seconds; the 100-D ellipsoid and the 50-D
//! Rosenbrock (tens of seconds per run) are in the `#[ignore]`d test `slow_cases_match_pycma`,
//! which `tools/cmaes_benchmark.sh` runs.

use std::path::Path;

use fxmatch::optimize::{Cmaes, CmaesConfig, StopReason, StrategyParams};
use serde::Deserialize;

/// Allowed ratio of our median evaluations to pycma's.
const MARGIN: f64 = 1.15;

#[derive(Debug, Deserialize)]
struct Reference {
    pycma_version: String,
    command: String,
    target: f64,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Params {
    popsize: usize,
    mu: usize,
    weights: Vec<f64>,
    mueff: f64,
    cc: f64,
    cs: f64,
    c1: f64,
    cmu: f64,
    damps: f64,
    lazy_gap: f64,
    chi_n: f64,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    function: String,
    dim: usize,
    x0: f64,
    sigma0: f64,
    bounds: Option<[f64; 2]>,
    center: Option<Vec<f64>>,
    popsize: Option<usize>,
    popsize_used: usize,
    slow: bool,
    seeds: Vec<u64>,
    evals: Vec<u64>,
    reached: Vec<bool>,
    /// `None` when most pycma runs missed the target.
    median_evals: Option<f64>,
    rel_se_median: f64,
    params: Params,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pycma_reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn objective(case: &Case) -> impl Fn(&[f64]) -> f64 + '_ {
    move |x: &[f64]| match case.function.as_str() {
        "sphere" => x.iter().map(|v| v * v).sum(),
        "ellipsoid" => {
            let n = x.len();
            if n == 1 {
                return x[0] * x[0];
            }
            x.iter().enumerate().map(|(i, v)| 1e6f64.powf(i as f64 / (n - 1) as f64) * v * v).sum()
        }
        "rosenbrock" => {
            x.windows(2).map(|w| 100.0 * (w[0] * w[0] - w[1]).powi(2) + (1.0 - w[0]).powi(2)).sum()
        }
        "bounded_sphere" => {
            let c = case.center.as_ref().expect("bounded_sphere needs a center");
            x.iter().zip(c).map(|(v, c)| (v - c).powi(2)).sum()
        }
        other => panic!("unknown function {other}"),
    }
}

/// Evaluations until the best f ≤ target (counted per generation), or `None` if the run
/// stopped otherwise; the stop reason; the best f.
fn run_case(case: &Case, target: f64, seed: u64) -> (Option<u64>, StopReason, f64) {
    let mut config = CmaesConfig::new(vec![case.x0; case.dim], case.sigma0)
        .with_seed(seed)
        .with_target(target)
        .with_early_stop(None)
        .with_max_evaluations(case.median_evals.map_or(2_000_000, |m| (m * 20.0) as u64));
    if let Some([lo, hi]) = case.bounds {
        config = config.with_bounds(vec![lo; case.dim], vec![hi; case.dim]);
    }
    if let Some(p) = case.popsize {
        config = config.with_popsize(p);
    }
    let mut es = Cmaes::new(config).unwrap();
    assert_eq!(es.popsize(), case.popsize_used, "{}: population size", case.name);
    let f = objective(case);
    while es.stop().is_none() {
        let xs = es.ask();
        if let Some([lo, hi]) = case.bounds {
            assert!(
                xs.iter().flatten().all(|&v| (lo..=hi).contains(&v)),
                "{}: candidate out of bounds",
                case.name
            );
        }
        let values: Vec<f64> = xs.iter().map(|x| f(x)).collect();
        es.tell(&values).unwrap();
    }
    let stop = es.stop().unwrap();
    let best = es.best().map_or(f64::INFINITY, |b| b.1);
    ((stop == StopReason::TargetReached).then_some(es.evaluations()), stop, best)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let k = s.len() / 2;
    if s.len() % 2 == 1 {
        s[k]
    } else {
        (s[k - 1] + s[k]) / 2.0
    }
}

/// Runs all seeds of `case` (spread over the available cores), checks, and returns a table row.
fn check_case(case: &Case, target: f64) -> Result<String, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(case.seeds.len());
    let chunks: Vec<Vec<u64>> =
        (0..threads).map(|t| case.seeds.iter().copied().skip(t).step_by(threads).collect()).collect();
    let results: Vec<(u64, Option<u64>, StopReason, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&s| (s, run_case(case, target, s)))
                        .map(|(s, (e, r, f))| (s, e, r, f))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.1.is_none())
        .map(|(s, _, r, f)| format!("seed {s}: {r} at f = {f}"))
        .collect();
    let evals: Vec<u64> = results.iter().filter_map(|r| r.1).collect();
    // A run that misses the target counts as infinitely many evaluations.
    let ours = median(&results.iter().map(|r| r.1.map_or(f64::INFINITY, |e| e as f64)).collect::<Vec<_>>());
    let pycma = case.median_evals.unwrap_or(f64::INFINITY);
    let ratio = ours / pycma;
    let pycma_reached = case.reached.iter().filter(|&&r| r).count();
    let row = format!(
        "{:34} lambda={:3} pycma median {:8.0} ({}/{} reached) | ours median {:8.0} ({}/{} reached) | ratio {:.3} | ours {:?}",
        case.name,
        case.popsize_used,
        pycma,
        pycma_reached,
        case.seeds.len(),
        ours,
        evals.len(),
        results.len(),
        ratio,
        evals
    );
    // The margin must exceed 3 standard errors of the difference of two medians.
    let se_diff = std::f64::consts::SQRT_2 * case.rel_se_median;
    if MARGIN - 1.0 < 3.0 * se_diff {
        return Err(format!(
            "{row}\n  margin {MARGIN} is below 3 standard errors ({se_diff:.3}) of the median difference"
        ));
    }
    let pycma_missed = case.seeds.len() - pycma_reached;
    let allowed = allowed_misses(case, pycma_missed);
    let bad_miss = results
        .iter()
        .any(|r| r.1.is_none() && !(case.function == "rosenbrock" && r.3 < ROSENBROCK_LOCAL_BELOW));
    if failed.len() > allowed || bad_miss {
        return Err(format!(
            "{row}\n  runs not reaching the target ({allowed} allowed, pycma missed {pycma_missed}): {}",
            failed.join(", ")
        ));
    }
    if ratio.is_nan() || ratio > MARGIN {
        return Err(format!("{row}\n  our median exceeds pycma's x {MARGIN}"));
    }
    Ok(row)
}

/// Rosenbrock's local minimum near (-1, 1, …, 1) has f ≈ 3.99 (n ≥ 4); a run ending there is
/// the function's known trap, not a malfunction.
const ROSENBROCK_LOCAL_BELOW: f64 = 4.0;

/// Runs allowed to miss the target: none, except on Rosenbrock, where CMA-ES (pycma included)
/// ends in the local minimum in a few percent of runs. There we allow as many misses as pycma
/// had on the same number of seeds plus one (the count is binomially noisy), each of which must
/// have stopped at the local minimum.
fn allowed_misses(case: &Case, pycma_missed: usize) -> usize {
    if case.function == "rosenbrock" {
        pycma_missed + 1
    } else {
        0
    }
}

fn check_cases(slow: bool) {
    let r = reference();
    eprintln!("reference: pycma {} ({})", r.pycma_version, r.command);
    let mut errors = Vec::new();
    for case in r.cases.iter().filter(|c| c.slow == slow) {
        assert_eq!(case.seeds.len(), case.evals.len());
        let t = std::time::Instant::now();
        match check_case(case, r.target) {
            Ok(row) => eprintln!("{row} [{:.1} s]", t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("FAIL {e}");
                errors.push(e);
            }
        }
    }
    assert!(errors.is_empty(), "{} case(s) failed:\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn fast_cases_match_pycma() {
    check_cases(false);
}

#[test]
#[ignore = "minutes: 100-D ellipsoid and 50-D Rosenbrock; run by tools/cmaes_benchmark.sh"]
fn slow_cases_match_pycma() {
    check_cases(true);
}

/// Weights and learning rates equal pycma's for every (n, λ) in the reference.
#[test]
fn strategy_parameters_match_pycma() {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-300);
    for case in reference().cases {
        let p = &case.params;
        let ours = StrategyParams::new(case.dim, p.popsize);
        assert_eq!((ours.popsize, ours.mu), (p.popsize, p.mu), "{}", case.name);
        assert_eq!(ours.weights.len(), p.weights.len(), "{}", case.name);
        for (i, (a, b)) in ours.weights.iter().zip(&p.weights).enumerate() {
            assert!(
                close(*a, *b) || (a.abs() < 1e-15 && b.abs() < 1e-15),
                "{}: weight {i}: {a} vs {b}",
                case.name
            );
        }
        for (what, a, b) in [
            ("mueff", ours.mueff, p.mueff),
            ("cc", ours.cc, p.cc),
            ("cs", ours.cs, p.cs),
            ("c1", ours.c1, p.c1),
            ("cmu", ours.cmu, p.cmu),
            ("damps", ours.damps, p.damps),
            ("lazy_gap", ours.lazy_gap, p.lazy_gap),
            ("chi_n", ours.chi_n, p.chi_n),
        ] {
            assert!(close(a, b), "{}: {what}: ours {a} vs pycma {b}", case.name);
        }
    }
}
