use std::sync::atomic::{AtomicBool, Ordering};

use super::strategy::expected_norm;
use super::*;

/// Outcome of [`run`].
#[derive(Debug, Clone, PartialEq)]
struct RunResult {
    /// Best candidate seen (phenotype); the final mean when no finite fitness was seen.
    x: Vec<f64>,
    /// Its fitness; `f64::INFINITY` when no finite fitness was seen.
    f: f64,
    /// Why the run ended.
    stop: StopReason,
    /// Generations done.
    generations: u64,
    /// Candidates evaluated.
    evaluations: u64,
}

/// Run to the end with a serial objective `f` (minimised); `abort` is checked before each
/// generation (the matcher's loop, without the matcher).
fn run(es: &mut Cmaes, mut f: impl FnMut(&[f64]) -> f64, abort: &AtomicBool) -> RunResult {
    let stop = loop {
        if abort.load(Ordering::Relaxed) {
            break StopReason::Aborted;
        }
        if let Some(reason) = es.stop() {
            break reason;
        }
        let xs = es.ask();
        let values: Vec<f64> = xs.iter().map(|x| f(x)).collect();
        es.tell(&values).unwrap();
    };
    let (x, f) = match es.best() {
        Some((x, f)) => (x.to_vec(), f),
        None => (es.mean(), f64::INFINITY),
    };
    RunResult { x, f, stop, generations: es.generation(), evaluations: es.evaluations() }
}

fn sphere(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum()
}

/// Run the ask/tell loop with `f` until `stop()`; returns the reason.
fn drive(es: &mut Cmaes, f: impl Fn(&[f64]) -> f64) -> StopReason {
    loop {
        if let Some(r) = es.stop() {
            return r;
        }
        let xs = es.ask();
        let v: Vec<f64> = xs.iter().map(|x| f(x)).collect();
        es.tell(&v).unwrap();
    }
}

#[test]
fn same_seed_same_sequence() {
    let config = CmaesConfig::new(vec![0.3; 5], 0.2).with_unit_box().with_seed(42);
    let mut a = Cmaes::new(config.clone()).unwrap();
    let mut b = Cmaes::new(config.clone()).unwrap();
    let mut c = Cmaes::new(config.with_seed(43)).unwrap();
    let mut differs = false;
    for _ in 0..30 {
        let (xa, xb, xc) = (a.ask(), b.ask(), c.ask());
        assert_eq!(xa, xb);
        differs |= xa != xc;
        let fa: Vec<f64> = xa.iter().map(|x| sphere(x)).collect();
        let fc: Vec<f64> = xc.iter().map(|x| sphere(x)).collect();
        a.tell(&fa).unwrap();
        b.tell(&fa).unwrap();
        c.tell(&fc).unwrap();
    }
    assert!(differs, "another seed must give other candidates");
    assert_eq!(a.mean(), b.mean());
    assert_eq!(a.sigma(), b.sigma());
    assert_eq!(a.best().map(|(x, f)| (x.to_vec(), f)), b.best().map(|(x, f)| (x.to_vec(), f)));
}

#[test]
fn expected_norm_matches_gamma_ratio() {
    // Values from pycma's doctest of Mh.chiN (exact gamma ratio).
    assert!((expected_norm(3) - 1.595769121605731).abs() < 1e-14);
    assert!((expected_norm(100) - 9.97503163955105).abs() < 1e-12);
    assert!((expected_norm(1) - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-16);
}

#[test]
fn bound_transform_matches_pycma() {
    // Reference values: cma 4.5.0, BoundTransform([0, 1]).repair(xs) and .inverse(ys).
    let t = BoundTransform::new(&[0.0], &[1.0]).unwrap();
    let xs = [-3.7, -0.2, -0.1, -0.05, 0.0, 0.02, 0.05, 0.5, 0.94, 0.96, 1.0, 1.05, 1.1, 1.3, 2.5, 7.77];
    let want = [
        0.7000000000000002,
        0.10000000000000003,
        0.012500000000000002,
        0.0,
        0.012500000000000002,
        0.0245,
        0.05,
        0.5,
        0.94,
        0.9594999999999999,
        0.9874999999999999,
        1.0,
        0.9874999999999999,
        0.7999999999999999,
        0.2999999999999998,
        0.9300000000000009,
    ];
    for (x, w) in xs.iter().zip(want) {
        assert!((t.transform_i(*x, 0) - w).abs() < 1e-14, "transform({x}) = {} != {w}", t.transform_i(*x, 0));
    }
    let ys = [0.0, 0.001, 0.04, 0.05, 0.5, 0.95, 0.97, 1.0];
    let want =
        [-0.05, -0.035857864376269054, 0.039442719099991586, 0.05, 0.5, 0.95, 0.9725403330758516, 1.05];
    for (y, w) in ys.iter().zip(want) {
        assert!((t.inverse_i(*y, 0) - w).abs() < 1e-14, "inverse({y})");
        assert!((t.transform_i(t.inverse_i(*y, 0), 0) - y).abs() < 1e-14, "round trip {y}");
    }
    // Margins depend on |bound|: BoundTransform([[-3, 2], [5, 1e6]]) in pycma.
    let t = BoundTransform::new(&[-3.0, 2.0], &[5.0, 1e6]).unwrap();
    assert_eq!((t.al[0], t.al[1], t.au[0], t.au[1]), (0.15, 0.1, 0.25, 50000.0));
    assert!((t.transform_i(-10.0, 0) - 3.6999999999999993).abs() < 1e-12);
    assert!((t.transform_i(1e6 + 5e4 - 1.0, 1) - 999999.999995).abs() < 1e-6);
    // An open side is the identity there.
    let t = BoundTransform::new(&[0.0], &[f64::INFINITY]).unwrap();
    assert_eq!(t.transform_i(123.0, 0), 123.0);
    assert!((t.transform_i(-1.0, 0) - 0.9).abs() < 1e-15); // pycma doctest: transform(-1) = 0.9
}

#[test]
fn candidates_stay_inside_bounds() {
    // The optimum lies outside the box, so the distribution presses on the bounds; the
    // genotype wanders far outside while every candidate stays inside.
    let lower = vec![0.0, -1.0, 2.0, 0.0];
    let upper = vec![1.0, 0.5, 1e6, 1.0];
    let config = CmaesConfig::new(vec![0.5, 0.0, 3.0, 1.0], 0.4)
        .with_bounds(lower.clone(), upper.clone())
        .with_seed(7)
        .with_early_stop(None)
        .with_max_generations(300);
    let mut es = Cmaes::new(config).unwrap();
    let far = [3.0, -5.0, -1.0, 0.5];
    let f = |x: &[f64]| x.iter().zip(far).map(|(v, c)| (v - c).powi(2)).sum::<f64>();
    let mut checked = 0;
    while es.stop().is_none() {
        let xs = es.ask();
        for x in &xs {
            for i in 0..4 {
                assert!(lower[i] <= x[i] && x[i] <= upper[i], "x[{i}] = {} outside", x[i]);
                checked += 1;
            }
        }
        let m = es.mean();
        assert!((0..4).all(|i| lower[i] <= m[i] && m[i] <= upper[i]), "mean {m:?}");
        let v: Vec<f64> = xs.iter().map(|x| f(x)).collect();
        es.tell(&v).unwrap();
    }
    assert!(checked > 1000);
    let (x, _) = es.best().unwrap();
    // Box optimum: (1, -1, 2, 0.5).
    for (got, want) in x.iter().zip([1.0, -1.0, 2.0, 0.5]) {
        assert!((got - want).abs() < 1e-3, "best {x:?}");
    }
}

#[test]
fn step_size_capped_at_a_third_of_the_range() {
    let config = CmaesConfig::new(vec![0.5; 3], 5.0).with_unit_box().with_seed(1);
    let mut es = Cmaes::new(config).unwrap();
    for s in es.stds() {
        assert!(s <= (1.0 / 3.0) * 1.0001 && s > 0.3, "std {s}");
    }
    for _ in 0..20 {
        let xs = es.ask();
        // Flat-ish random fitness keeps σ large.
        let v: Vec<f64> = xs.iter().map(|x| x[0].sin() + x[1]).collect();
        es.tell(&v).unwrap();
        assert!(es.stds().iter().all(|&s| s <= 1.0 / 3.0 * 1.0001), "{:?}", es.stds());
    }
}

#[test]
fn non_finite_fitness_ranks_last() {
    // Half the space returns NaN or infinity; the rest is a sphere around 0.2.
    let bad = |x: &[f64]| -> f64 {
        if x[0] > 0.5 {
            f64::NAN
        } else if x[1] > 0.6 {
            f64::INFINITY
        } else if x[2] > 0.7 {
            f64::NEG_INFINITY
        } else {
            x.iter().map(|v| (v - 0.2).powi(2)).sum()
        }
    };
    let config = CmaesConfig::new(vec![0.45; 4], 0.3)
        .with_unit_box()
        .with_seed(3)
        .with_target(1e-10)
        .with_early_stop(None);
    let mut es = Cmaes::new(config).unwrap();
    assert_eq!(drive(&mut es, bad), StopReason::TargetReached);
    let (x, f) = es.best().unwrap();
    assert!(f.is_finite() && f <= 1e-10 && x.iter().all(|v| (v - 0.2).abs() < 1e-4));

    // Nothing but NaN: no best, and the flat fitness stop ends the run after 2 generations.
    let config = CmaesConfig::new(vec![0.5; 3], 0.3).with_unit_box().with_seed(3);
    let mut es = Cmaes::new(config).unwrap();
    let r = run(&mut es, |_| f64::NAN, &AtomicBool::new(false));
    assert_eq!((r.stop, r.generations, r.f), (StopReason::FlatFitness, 2, f64::INFINITY));
    assert!(es.best().is_none());
    assert!(r.x.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn early_stop_after_patience() {
    // Improvements far below min_delta: the first generation sets the reference, then
    // `patience` generations without a 0.01 improvement end the run.
    let config = CmaesConfig::new(vec![1.0; 4], 0.1).with_seed(5);
    let mut es = Cmaes::new(config).unwrap();
    let r = run(&mut es, |x| 1e-4 * sphere(x), &AtomicBool::new(false));
    assert_eq!((r.stop, r.generations), (StopReason::NoImprovement, 11));

    // Scripted best values: a 0.011 improvement over the reference resets the count.
    let early = EarlyStop { patience: 3, min_delta: 0.01 };
    let config = CmaesConfig::new(vec![0.0; 2], 1.0).with_seed(5).with_early_stop(Some(early));
    let mut es = Cmaes::new(config).unwrap();
    let lambda = es.popsize();
    let bases = [1.0, 0.995, 0.991, 0.989, 0.985, 0.98, 0.979];
    for (g, base) in bases.iter().enumerate() {
        assert_eq!(es.stop(), None, "stopped before generation {}", g + 1);
        es.ask();
        let v: Vec<f64> = (0..lambda).map(|k| base + 1e-3 * k as f64).collect();
        es.tell(&v).unwrap();
    }
    assert_eq!((es.stop(), es.generation()), (Some(StopReason::NoImprovement), 7));
}

#[test]
fn budgets_are_respected() {
    let base = CmaesConfig::new(vec![1.0; 6], 0.5).with_popsize(10).with_early_stop(None);
    let mut es = Cmaes::new(base.clone().with_max_evaluations(95)).unwrap();
    let r = run(&mut es, sphere, &AtomicBool::new(false));
    assert_eq!((r.stop, r.evaluations, r.generations), (StopReason::MaxEvaluations, 90, 9));

    let mut es = Cmaes::new(base.clone().with_max_generations(7)).unwrap();
    let r = run(&mut es, sphere, &AtomicBool::new(false));
    assert_eq!((r.stop, r.evaluations, r.generations), (StopReason::MaxGenerations, 70, 7));

    let es = Cmaes::new(base.clone().with_max_evaluations(5)).unwrap();
    assert_eq!(es.stop(), Some(StopReason::MaxEvaluations), "not even one generation fits");

    // pycma's default generation limit: 100 + ⌊150 (6 + 3)²/√10⌋ = 3942.
    let es = Cmaes::new(base).unwrap();
    assert_eq!(es.max_generations, 3942);
}

#[test]
fn abort_between_generations() {
    let abort = AtomicBool::new(true);
    let mut es = Cmaes::new(CmaesConfig::new(vec![1.0; 3], 0.5)).unwrap();
    let r = run(&mut es, sphere, &abort);
    assert_eq!((r.stop, r.evaluations), (StopReason::Aborted, 0));

    let abort = AtomicBool::new(false);
    let mut es = Cmaes::new(CmaesConfig::new(vec![1.0; 3], 0.5).with_popsize(8)).unwrap();
    let mut calls = 0;
    let r = run(
        &mut es,
        |x| {
            calls += 1;
            if calls == 20 {
                abort.store(true, Ordering::Relaxed);
            }
            sphere(x)
        },
        &abort,
    );
    // Set during generation 3; that generation completes, then the run ends.
    assert_eq!((r.stop, r.generations, r.evaluations), (StopReason::Aborted, 3, 24));
    assert!(r.f.is_finite());
}

#[test]
fn one_dimension_works() {
    let config = CmaesConfig::new(vec![3.0], 1.0).with_seed(2).with_target(1e-12).with_early_stop(None);
    let mut es = Cmaes::new(config).unwrap();
    assert_eq!(es.popsize(), 4);
    assert_eq!(drive(&mut es, |x| (x[0] - 1.5).powi(2)), StopReason::TargetReached);
    assert!((es.best().unwrap().0[0] - 1.5).abs() < 1e-6);

    // Bounded, optimum on the lower bound.
    let config = CmaesConfig::new(vec![0.7], 0.3)
        .with_unit_box()
        .with_seed(2)
        .with_target(1e-12)
        .with_early_stop(None);
    let mut es = Cmaes::new(config).unwrap();
    assert_eq!(drive(&mut es, |x| x[0] * x[0]), StopReason::TargetReached);
}

#[test]
fn converges_without_target_by_tolerances() {
    let config = CmaesConfig::new(vec![0.5; 5], 0.3).with_seed(9).with_early_stop(None);
    let mut es = Cmaes::new(config).unwrap();
    let reason = drive(&mut es, sphere);
    assert!(matches!(reason, StopReason::TolFun | StopReason::TolFunHist | StopReason::TolX), "{reason}");
    assert!(es.best().unwrap().1 < 1e-12);
}

#[test]
fn matcher_setting_converges() {
    // λ = 64 in [0, 1]^12 with ST-ITO's early stopping, on a similarity-like score in [-1, 0].
    let target: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).fract()).collect();
    let score = |x: &[f64]| -(-x.iter().zip(&target).map(|(a, b)| (a - b).powi(2)).sum::<f64>()).exp();
    let config = CmaesConfig::new(vec![0.5; 12], 0.25).with_unit_box().with_popsize(64).with_seed(11);
    let mut es = Cmaes::new(config).unwrap();
    let r = run(&mut es, score, &AtomicBool::new(false));
    assert_eq!(r.stop, StopReason::NoImprovement);
    assert!(r.f < -0.99, "best score {}", r.f);
}

#[test]
fn a_start_on_the_bounds_still_searches_the_box() {
    // The matcher's neutral start puts coordinates on bounds (mix 0, threshold at the top):
    // the mean sits at the edge of the bound transform's quadratic zone, the first
    // generation still spreads over the box, and the search reaches an interior optimum as
    // well as one that lies on the start's bound.
    let x0 = vec![0.0, 1.0, 0.0, 1.0, 0.5, 0.0];
    let config = CmaesConfig::new(x0.clone(), 0.3).with_unit_box().with_popsize(16).with_seed(5);
    let mut es = Cmaes::new(config.clone()).unwrap();
    assert!(es.mean().iter().zip(&x0).all(|(m, x)| (m - x).abs() < 1e-12), "the start maps back onto itself");
    let xs = es.ask();
    for i in [0, 2] {
        let far = xs.iter().filter(|x| x[i] > 0.15).count();
        assert!(far >= 4, "coordinate {i} from 0: {far} of 16 candidates beyond 0.15");
    }
    for i in [1, 3] {
        let far = xs.iter().filter(|x| x[i] < 0.85).count();
        assert!(far >= 4, "coordinate {i} from 1: {far} of 16 candidates below 0.85");
    }
    assert!(xs.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
    let target = [0.6, 0.3, 0.0, 1.0, 0.5, 0.8];
    let f = |x: &[f64]| x.iter().zip(target).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    let mut es = Cmaes::new(config.with_max_generations(200).with_early_stop(None)).unwrap();
    drive(&mut es, f);
    let (best, _) = es.best().unwrap();
    for (got, want) in best.iter().zip(target) {
        assert!((got - want).abs() < 1e-3, "best {best:?}, target {target:?}");
    }
}

#[test]
fn ask_tell_misuse() {
    let mut es = Cmaes::new(CmaesConfig::new(vec![0.0; 2], 1.0)).unwrap();
    assert!(es.tell(&[0.0; 6]).is_err(), "tell before ask");
    let a = es.ask();
    assert_eq!(es.ask(), a, "asking twice returns the same candidates");
    assert!(es.tell(&[0.0; 3]).is_err(), "wrong length");
    assert!(es.tell(&vec![1.0; a.len()]).is_ok());
    assert_eq!(es.generation(), 1);
    assert_eq!(es.evaluations(), a.len() as u64);
}

#[test]
fn invalid_configs_are_errors() {
    let err = Cmaes::new(CmaesConfig::new(vec![], 0.3)).unwrap_err().to_string();
    assert!(err.contains("no free parameter"), "{err}");
    assert!(Cmaes::new(CmaesConfig::new(vec![0.5], 0.0)).is_err());
    assert!(Cmaes::new(CmaesConfig::new(vec![0.5], f64::NAN)).is_err());
    assert!(Cmaes::new(CmaesConfig::new(vec![f64::NAN], 0.1)).is_err());
    assert!(Cmaes::new(CmaesConfig::new(vec![0.5], 0.1).with_popsize(1)).is_err());
    assert!(Cmaes::new(CmaesConfig::new(vec![1.5], 0.1).with_unit_box()).is_err());
    assert!(Cmaes::new(CmaesConfig::new(vec![0.5; 2], 0.1).with_bounds(vec![0.0], vec![1.0])).is_err());
    assert!(Cmaes::new(CmaesConfig::new(vec![0.5], 0.1).with_bounds(vec![1.0], vec![1.0])).is_err());
    assert!(Cmaes::new(CmaesConfig::new(vec![0.0], 0.1).with_unit_box()).is_ok(), "x0 on a bound is fine");
}
