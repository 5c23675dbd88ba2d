//! (μ/μ_w, λ)-CMA-ES with negative weights (aCMA-ES), following pycma's defaults.
//!
//! The algorithm is Hansen's tutorial (arXiv:1604.00772) as implemented by pycma 4.x, whose
//! constants are used where the two differ (checked against pycma in
//! `tests/cmaes_vs_pycma.rs`, which also compares the strategy parameters to pycma's):
//!
//! - weights `ln((λ+1)/2) - ln i`, positive ones summing to 1, negative ones scaled by pycma's
//!   `RecombinationWeights.finalize_negative_weights` (zero decay `c1 + c_μ Σw = 0`, capped for
//!   positive definiteness and by `1 + 2 μ⁻_eff/(μ_eff + 2)`);
//! - `c_c = (4 + μ_eff/n) / (n + 4 + 2 μ_eff/n)`, `c_σ = min(1/2, (μ_eff + 2)/(n + μ_eff + 3))`
//!   (tutorial: `n + μ_eff + 5`), `c1 = min(1, λ/6) · 2/((n + 1.3)² + μ_eff)` (tutorial: without
//!   the `min`), `c_μ = min(1 - c1, 2 (μ_eff - 1.75 + 1/μ_eff)/((n + 2)² + μ_eff))` (tutorial:
//!   `- 2` instead of `- 1.75`);
//! - `d_σ = 1 + 2 max(0, a·√((μ_eff - 1)/(n + 1)) - 1) + c_σ` with `a = max(1, 3(1 - 2^(-n/9)))`
//!   (pycma 4.x; the tutorial has `a = 1`; the max term is 0 for the default λ either way, but
//!   not for large populations such as the matcher's λ = 64);
//! - σ change `exp(min(1, max(-1, c_σ/d_σ (‖p_σ‖/E‖N(0,I)‖ - 1))))`;
//! - h_σ test `‖p_σ‖²/(1 - (1 - c_σ)^(2g))/n < 2 + 4/(n + 1)`;
//! - rank-one + rank-μ update; vectors with negative weights are rescaled to Mahalanobis length
//!   √n before entering C;
//! - lazy eigendecomposition: B and D are recomputed only after `1/(c1 + c_μ)/n/10` updates.
//!
//! **Bounds** are handled as pycma's default `BoundTransform` does: the search runs on an
//! unbounded genotype, and [`BoundTransform`] maps it smoothly (identity in the interior,
//! quadratic near each bound, periodic beyond) into the box. `ask` hands out the phenotypes
//! (always inside the box); `tell` updates with the genotypes. Also as in pycma, with bounds the
//! coordinate-wise standard deviation is capped at a third of the bound range.
//!
//! Not implemented from pycma (none is active in the compared runs): mirrored sampling for
//! λ < 6, TPA step-size control for n ≥ 300, injection, restarts, noise handling,
//! `alleviate_conditioning` (only acts beyond a condition of 1e8 in the coordinates), and the
//! `tolstagnation`, `tolxstagnation` and `tolupsigma` stops.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::linalg::SymmetricEigen;
use crate::error::{Error, Result};

/// Cap on the coordinate-wise standard deviation relative to the bound range (pycma's
/// `maxstd_boundrange`).
const MAX_STD_BOUND_RANGE: f64 = 1.0 / 3.0;

/// ST-ITO-style early stopping: stop after `patience` generations in a row that did not
/// improve the best fitness by at least `min_delta` over the best value at the last such
/// improvement (the rule of Keras' `EarlyStopping`, with absolute `min_delta`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStop {
    /// Generations without sufficient improvement before stopping.
    pub patience: u64,
    /// Smallest decrease of the best fitness that counts as an improvement (absolute).
    pub min_delta: f64,
}

impl Default for EarlyStop {
    /// ST-ITO's setting: patience 10, min_delta 0.01.
    fn default() -> Self {
        EarlyStop { patience: 10, min_delta: 0.01 }
    }
}

/// Per-coordinate box `[lower[i], upper[i]]`; infinite entries leave that side open.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// Lower bounds.
    pub lower: Vec<f64>,
    /// Upper bounds.
    pub upper: Vec<f64>,
}

/// Settings of one CMA-ES run. Build with [`CmaesConfig::new`] and the `with_*` methods; the
/// fields are public for anything the builder does not cover.
#[derive(Debug, Clone, PartialEq)]
pub struct CmaesConfig {
    /// Start point (phenotype, inside the bounds). Its length is the dimension.
    pub x0: Vec<f64>,
    /// Initial step size σ0 (in genotype units, which equal phenotype units away from bounds).
    pub sigma0: f64,
    /// Box constraints, handled by [`BoundTransform`]. `None`: unbounded.
    pub bounds: Option<Bounds>,
    /// Population size λ; `None`: `4 + ⌊3 ln n⌋`.
    pub popsize: Option<usize>,
    /// Random seed; the same seed and settings give the same sequence of candidates.
    pub seed: u64,
    /// Stop after this many generations; `None`: pycma's default
    /// `100 + ⌊150 (n + 3)²/√λ⌋`.
    pub max_generations: Option<u64>,
    /// Never evaluate more than this many candidates (a generation that would exceed it is not
    /// started). `None`: no limit.
    pub max_evaluations: Option<u64>,
    /// Stop as soon as the best fitness is `<=` this value.
    pub target: Option<f64>,
    /// Early stopping on lack of progress; `None`: off. Default: [`EarlyStop::default`].
    pub early_stop: Option<EarlyStop>,
    /// Stop when the current generation's fitness range and that of the recent best values are
    /// both below this (pycma `tolfun`, default 1e-11).
    pub tol_fun: f64,
    /// Stop when the recent best values (at least 10 generations) span less than this (pycma
    /// `tolfunhist`, default 1e-12).
    pub tol_fun_hist: f64,
    /// Stop when every coordinate's standard deviation and σ·p_c are below this (pycma `tolx`,
    /// default 1e-11).
    pub tol_x: f64,
    /// Stop after more than this many generations in a row whose best fitness equals the one at
    /// rank ⌊0.75 λ⌋ (pycma `tolflatfitness`, default 1).
    pub tol_flat_fitness: u32,
    /// Stop when a coordinate's standard deviation exceeds σ0 times this (pycma `tolfacupx`,
    /// default 1e3): σ0 was far too small or the function is unbounded below.
    pub tol_fac_up_x: f64,
    /// Stop when the condition number of C exceeds this (pycma `tolconditioncov`, default 1e14).
    pub tol_condition: f64,
}

impl CmaesConfig {
    /// Settings with pycma's defaults and ST-ITO's early stopping, starting at `x0` with step
    /// size `sigma0`, unbounded, seed 0.
    pub fn new(x0: Vec<f64>, sigma0: f64) -> Self {
        CmaesConfig {
            x0,
            sigma0,
            bounds: None,
            popsize: None,
            seed: 0,
            max_generations: None,
            max_evaluations: None,
            target: None,
            early_stop: Some(EarlyStop::default()),
            tol_fun: 1e-11,
            tol_fun_hist: 1e-12,
            tol_x: 1e-11,
            tol_flat_fitness: 1,
            tol_fac_up_x: 1e3,
            tol_condition: 1e14,
        }
    }

    /// Box constraints `[lower[i], upper[i]]`.
    pub fn with_bounds(mut self, lower: Vec<f64>, upper: Vec<f64>) -> Self {
        self.bounds = Some(Bounds { lower, upper });
        self
    }

    /// The unit box `[0, 1]^n` the matcher searches.
    pub fn with_unit_box(self) -> Self {
        let n = self.x0.len();
        self.with_bounds(vec![0.0; n], vec![1.0; n])
    }

    /// Population size λ (at least 2).
    pub fn with_popsize(mut self, popsize: usize) -> Self {
        self.popsize = Some(popsize);
        self
    }

    /// Random seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Generation limit.
    pub fn with_max_generations(mut self, generations: u64) -> Self {
        self.max_generations = Some(generations);
        self
    }

    /// Evaluation limit.
    pub fn with_max_evaluations(mut self, evaluations: u64) -> Self {
        self.max_evaluations = Some(evaluations);
        self
    }

    /// Target fitness.
    pub fn with_target(mut self, target: f64) -> Self {
        self.target = Some(target);
        self
    }

    /// Early stopping (`None` turns it off).
    pub fn with_early_stop(mut self, early_stop: Option<EarlyStop>) -> Self {
        self.early_stop = early_stop;
        self
    }

    /// pycma's default population size for dimension `n`: `4 + ⌊3 ln n⌋`.
    pub fn default_popsize(n: usize) -> usize {
        4 + (3.0 * (n.max(1) as f64).ln()).floor() as usize
    }
}

/// Why a run stopped. [`Cmaes::stop`] reports the first that applies, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The caller's abort flag was set ([`Cmaes::run`] only).
    Aborted,
    /// The covariance matrix became non-finite or could not be decomposed.
    NumericalError,
    /// The best fitness reached [`CmaesConfig::target`].
    TargetReached,
    /// Another generation would exceed [`CmaesConfig::max_evaluations`].
    MaxEvaluations,
    /// [`CmaesConfig::max_generations`] generations were done.
    MaxGenerations,
    /// [`CmaesConfig::early_stop`]: no sufficient improvement for `patience` generations.
    NoImprovement,
    /// Fitness values converged ([`CmaesConfig::tol_fun`]).
    TolFun,
    /// Recent best values converged ([`CmaesConfig::tol_fun_hist`]).
    TolFunHist,
    /// The search distribution shrank below [`CmaesConfig::tol_x`].
    TolX,
    /// Fitness was flat across most of the population ([`CmaesConfig::tol_flat_fitness`]).
    FlatFitness,
    /// A standard deviation grew beyond σ0 · [`CmaesConfig::tol_fac_up_x`].
    Diverging,
    /// The covariance matrix is too ill-conditioned ([`CmaesConfig::tol_condition`]).
    ConditionNumber,
    /// Steps have become too small to change the mean in floating point.
    NoEffect,
}

impl StopReason {
    /// Short identifier for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Aborted => "aborted",
            StopReason::NumericalError => "numerical-error",
            StopReason::TargetReached => "target-reached",
            StopReason::MaxEvaluations => "max-evaluations",
            StopReason::MaxGenerations => "max-generations",
            StopReason::NoImprovement => "no-improvement",
            StopReason::TolFun => "tolfun",
            StopReason::TolFunHist => "tolfunhist",
            StopReason::TolX => "tolx",
            StopReason::FlatFitness => "flat-fitness",
            StopReason::Diverging => "diverging",
            StopReason::ConditionNumber => "condition-number",
            StopReason::NoEffect => "no-effect",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of [`Cmaes::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// Best candidate seen (phenotype); the final mean when no finite fitness was seen.
    pub x: Vec<f64>,
    /// Its fitness; `f64::INFINITY` when no finite fitness was seen.
    pub f: f64,
    /// Why the run ended.
    pub stop: StopReason,
    /// Generations done.
    pub generations: u64,
    /// Candidates evaluated.
    pub evaluations: u64,
}

/// Strategy parameters derived from dimension and population size (pycma's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyParams {
    /// Population size λ.
    pub popsize: usize,
    /// Number of positive weights μ.
    pub mu: usize,
    /// Recombination weights, decreasing; the first μ are positive and sum to 1.
    pub weights: Vec<f64>,
    /// Variance-effective selection mass of the positive weights.
    pub mueff: f64,
    /// Cumulation constant of the evolution path p_c.
    pub cc: f64,
    /// Cumulation constant of the step-size path p_σ.
    pub cs: f64,
    /// Rank-one learning rate.
    pub c1: f64,
    /// Rank-μ learning rate.
    pub cmu: f64,
    /// Step-size damping.
    pub damps: f64,
    /// Updates of C between two eigendecompositions (fractional; ≤ 1 means every generation).
    pub lazy_gap: f64,
    /// `E‖N(0, I_n)‖`, the reference length of p_σ.
    pub chi_n: f64,
}

impl StrategyParams {
    /// Parameters for dimension `n ≥ 1` and population size `popsize ≥ 2`.
    pub fn new(n: usize, popsize: usize) -> Self {
        assert!(n >= 1 && popsize >= 2, "CMA-ES needs n >= 1 and popsize >= 2");
        let nf = n as f64;
        let lam = popsize as f64;
        let mut w: Vec<f64> = (1..=popsize).map(|i| ((lam + 1.0) / 2.0).ln() - (i as f64).ln()).collect();
        let mu = w.iter().filter(|&&x| x > 0.0).count();
        let sum_pos: f64 = w[..mu].iter().sum();
        w.iter_mut().for_each(|x| *x /= sum_pos);
        let mueff = 1.0 / w[..mu].iter().map(|x| x * x).sum::<f64>();
        let sum_neg: f64 = w[mu..].iter().sum();
        if sum_neg != 0.0 {
            w[mu..].iter_mut().for_each(|x| *x /= -sum_neg);
        }

        let cc = (4.0 + mueff / nf) / (nf + 4.0 + 2.0 * mueff / nf);
        let cs = ((mueff + 2.0) / (nf + mueff + 3.0)).min(0.5);
        let c1 = (lam / 6.0).min(1.0) * 2.0 / ((nf + 1.3).powi(2) + mueff);
        let cmu = (1.0 - c1).min(2.0 * (0.25 + mueff - 2.0 + 1.0 / mueff) / ((nf + 2.0).powi(2) + mueff));

        // pycma's finalize_negative_weights.
        if w[popsize - 1] < 0.0 {
            if cmu > 0.0 {
                set_negative_sum(&mut w, mu, 1.0 + c1 / cmu);
                limit_negative_sum(&mut w, mu, (1.0 - c1 - cmu) / cmu / nf);
            }
            let neg = &w[mu..];
            let s: f64 = neg.iter().sum();
            let mueff_minus = if s == 0.0 { 0.0 } else { s * s / neg.iter().map(|x| x * x).sum::<f64>() };
            limit_negative_sum(&mut w, mu, 1.0 + 2.0 * mueff_minus / (mueff + 2.0));
        }

        let damp_inner = (3.0 * (1.0 - 0.5f64.powf(nf / 9.0))).max(1.0);
        let damps = 1.0 + 2.0 * (damp_inner * ((mueff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + cs;
        let lazy_gap = 1.0 / (c1 + cmu + 1e-23) / nf / 10.0;
        let chi_n = expected_norm(n);
        StrategyParams { popsize, mu, weights: w, mueff, cc, cs, c1, cmu, damps, lazy_gap, chi_n }
    }
}

/// Scale the negative weights so that they sum to `-value`.
fn set_negative_sum(w: &mut [f64], mu: usize, value: f64) {
    let s: f64 = w[mu..].iter().sum();
    if s == 0.0 {
        // No negative weight (λ = 2μ - 1 is impossible for these raw weights; kept for safety).
        return;
    }
    let factor = (value / s).abs();
    w[mu..].iter_mut().for_each(|x| *x *= factor);
}

/// Shrink the negative weights so that their sum is at least `-value`.
fn limit_negative_sum(w: &mut [f64], mu: usize, value: f64) {
    let s: f64 = w[mu..].iter().sum();
    if s >= -value.abs() {
        return;
    }
    let factor = (value / s).abs();
    if factor < 1.0 {
        w[mu..].iter_mut().for_each(|x| *x *= factor);
    }
}

/// `E‖N(0, I_n)‖ = √2 Γ((n+1)/2) / Γ(n/2)`, exactly, from `c(n) c(n+1) = n`.
fn expected_norm(n: usize) -> f64 {
    let mut c = (2.0 / std::f64::consts::PI).sqrt(); // c(1)
    for k in 1..n {
        c = k as f64 / c;
    }
    c
}

/// pycma's `BoxConstraintsLinQuadTransformation` (used by its default `BoundTransform`): a
/// smooth map from ℝ into `[lb, ub]` per coordinate.
///
/// With margins `al = min((ub - lb)/2, max(1, |lb|)/20)` and `au` likewise for `ub`, it is the
/// identity on `[lb + al, ub - au]`, quadratic on `[lb - al, lb + al]` (reaching `lb` with zero
/// slope at `lb - al`) and on `[ub - au, ub + au]`, mirrored beyond, and periodic with period
/// `2 (ub - lb + al + au)`. It is C¹ and invertible on `[lb - al, ub + au]`. An infinite bound
/// leaves that side as the identity.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundTransform {
    lb: Vec<f64>,
    ub: Vec<f64>,
    al: Vec<f64>,
    au: Vec<f64>,
}

impl BoundTransform {
    /// A transform for the box `[lower[i], upper[i]]`. Needs `lower[i] < upper[i]`, no NaN.
    pub fn new(lower: &[f64], upper: &[f64]) -> Result<Self> {
        if lower.len() != upper.len() {
            return Err(Error::invalid(
                format!("{} lower bounds but {} upper bounds", lower.len(), upper.len()),
                "give one lower and one upper bound per parameter",
            ));
        }
        for (i, (&l, &u)) in lower.iter().zip(upper).enumerate() {
            if l.is_nan() || u.is_nan() || l >= u || l == f64::INFINITY || u == f64::NEG_INFINITY {
                return Err(Error::invalid(
                    format!("bounds of coordinate {i} are [{l}, {u}]"),
                    "each lower bound must be below its upper bound (infinite bounds are allowed)",
                ));
            }
        }
        let margin = |b: f64| b.abs().max(1.0) / 20.0;
        let al =
            lower.iter().zip(upper).map(
                |(&l, &u)| {
                    if l.is_finite() {
                        ((u - l) / 2.0).min(margin(l))
                    } else {
                        1.0
                    }
                },
            );
        let au =
            lower.iter().zip(upper).map(
                |(&l, &u)| {
                    if u.is_finite() {
                        ((u - l) / 2.0).min(margin(u))
                    } else {
                        1.0
                    }
                },
            );
        Ok(BoundTransform { lb: lower.to_vec(), ub: upper.to_vec(), al: al.collect(), au: au.collect() })
    }

    /// Number of coordinates.
    pub fn len(&self) -> usize {
        self.lb.len()
    }

    /// Whether there are no coordinates.
    pub fn is_empty(&self) -> bool {
        self.lb.is_empty()
    }

    /// Lower bounds.
    pub fn lower(&self) -> &[f64] {
        &self.lb
    }

    /// Upper bounds.
    pub fn upper(&self) -> &[f64] {
        &self.ub
    }

    /// Map genotype coordinate `x` of coordinate `i` into `[lb, ub]`.
    pub fn transform_i(&self, x: f64, i: usize) -> f64 {
        let (lb, ub, al, au) = (self.lb[i], self.ub[i], self.al[i], self.au[i]);
        let mut y = x;
        // Far outside: shift by whole periods (pycma's vectorised `__call__`).
        if lb.is_finite()
            && ub.is_finite()
            && (y < lb - 2.0 * al - (ub - lb) / 2.0 || y > ub + 2.0 * au + (ub - lb) / 2.0)
        {
            let r = 2.0 * (ub - lb + al + au);
            let s = lb - 2.0 * al - (ub - lb) / 2.0;
            y -= r * ((y - s) / r).floor();
        }
        if y > ub + au {
            y -= 2.0 * (y - ub - au);
        }
        if y < lb - al {
            y += 2.0 * (lb - al - y);
        }
        if y < lb + al {
            y = lb + (y - (lb - al)).powi(2) / 4.0 / al;
        }
        if y > ub - au {
            y = ub - (y - (ub + au)).powi(2) / 4.0 / au;
        }
        // Rounding in the shift can leave y an ulp outside; the box is a hard guarantee.
        y.clamp(lb, ub)
    }

    /// Inverse of [`transform_i`](Self::transform_i) on `[lb - al, ub + au]`, for `y` inside
    /// the bounds (clamped into them first).
    pub fn inverse_i(&self, y: f64, i: usize) -> f64 {
        let (lb, ub, al, au) = (self.lb[i], self.ub[i], self.al[i], self.au[i]);
        let y = y.clamp(lb, ub);
        if y < lb + al {
            (lb - al) + 2.0 * (al * (y - lb)).sqrt()
        } else if y < ub - au {
            y
        } else {
            (ub + au) - 2.0 * (au * (ub - y)).sqrt()
        }
    }

    /// Map a genotype into the box.
    pub fn transform(&self, x: &[f64], out: &mut [f64]) {
        for (i, (o, &xi)) in out.iter_mut().zip(x).enumerate() {
            *o = self.transform_i(xi, i);
        }
    }
}

/// CMA-ES state with an ask/tell interface (minimisation).
///
/// ```
/// use fxmatch::optimize::{Cmaes, CmaesConfig, StopReason};
/// let config = CmaesConfig::new(vec![0.5; 4], 0.3).with_unit_box().with_seed(1).with_target(1e-10)
///     .with_early_stop(None);
/// let mut es = Cmaes::new(config).unwrap();
/// while es.stop().is_none() {
///     let xs = es.ask();
///     let f: Vec<f64> = xs.iter().map(|x| x.iter().map(|v| (v - 0.9).powi(2)).sum()).collect();
///     es.tell(&f).unwrap();
/// }
/// assert_eq!(es.stop(), Some(StopReason::TargetReached));
/// ```
#[derive(Debug, Clone)]
pub struct Cmaes {
    n: usize,
    params: StrategyParams,
    config: CmaesConfig,
    max_generations: u64,
    bounds: Option<BoundTransform>,
    max_std: Option<Vec<f64>>,
    rng: ChaCha8Rng,

    // Distribution (genotype space).
    mean: Vec<f64>,
    mean_old: Vec<f64>,
    sigma: f64,
    /// Coordinate-wise scaling outside C (pycma's `sigma_vec`); moved only by the max-std cap.
    scaling: Vec<f64>,
    /// Covariance matrix, row-major, kept symmetric.
    c: Vec<f64>,
    /// Eigenvectors of C (columns, row-major).
    b: Vec<f64>,
    /// Square roots of C's eigenvalues, ascending.
    d: Vec<f64>,
    eigen: SymmetricEigen,
    updates: u64,
    last_eigen: u64,
    pc: Vec<f64>,
    ps: Vec<f64>,

    // Current population.
    geno: Vec<f64>,
    pheno: Vec<Vec<f64>>,
    pending: bool,
    order: Vec<usize>,
    fitness: Vec<f64>,

    // Bookkeeping.
    generation: u64,
    evaluations: u64,
    best_x: Vec<f64>,
    best_f: f64,
    history: VecDeque<f64>,
    history_len: usize,
    flat_generations: u32,
    early_reference: f64,
    stale_generations: u64,
    numerical_error: bool,

    // Scratch.
    tmp: Vec<f64>,
    tmp2: Vec<f64>,
    tmp3: Vec<f64>,
}

impl Cmaes {
    /// A new run. Fails on an empty `x0` (no free parameter), a population below 2, a
    /// non-positive σ0, or bounds that are inconsistent or do not contain `x0`.
    pub fn new(config: CmaesConfig) -> Result<Self> {
        let n = config.x0.len();
        if n == 0 {
            return Err(Error::invalid(
                "no free parameter to optimise (the start point x0 is empty)",
                "unlock at least one parameter of the chain for matching",
            ));
        }
        if let Some(i) = config.x0.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                format!("start point x0[{i}] is {}", config.x0[i]),
                "use finite start values",
            ));
        }
        if !(config.sigma0.is_finite() && config.sigma0 > 0.0) {
            return Err(Error::invalid(
                format!("initial step size sigma0 = {} is not positive", config.sigma0),
                "use sigma0 of about a quarter of the search range, e.g. 0.25 in [0, 1]",
            ));
        }
        let popsize = config.popsize.unwrap_or_else(|| CmaesConfig::default_popsize(n));
        if popsize < 2 {
            return Err(Error::invalid(
                format!("population size {popsize} is below 2"),
                "use a population of at least 2",
            ));
        }
        let bounds = match &config.bounds {
            None => None,
            Some(b) => {
                if b.lower.len() != n || b.upper.len() != n {
                    return Err(Error::invalid(
                        format!(
                            "{n} parameters but {} lower and {} upper bounds",
                            b.lower.len(),
                            b.upper.len()
                        ),
                        "give one lower and one upper bound per parameter",
                    ));
                }
                let t = BoundTransform::new(&b.lower, &b.upper)?;
                if let Some(i) = (0..n).find(|&i| !(b.lower[i] <= config.x0[i] && config.x0[i] <= b.upper[i]))
                {
                    return Err(Error::invalid(
                        format!(
                            "start point x0[{i}] = {} lies outside [{}, {}]",
                            config.x0[i], b.lower[i], b.upper[i]
                        ),
                        "start inside the bounds",
                    ));
                }
                Some(t)
            }
        };
        let mean: Vec<f64> = match &bounds {
            Some(t) => config.x0.iter().enumerate().map(|(i, &x)| t.inverse_i(x, i)).collect(),
            None => config.x0.clone(),
        };
        let max_std = config.bounds.as_ref().map(|b| {
            b.lower.iter().zip(&b.upper).map(|(l, u)| (u - l) * MAX_STD_BOUND_RANGE).collect::<Vec<f64>>()
        });
        let params = StrategyParams::new(n, popsize);
        let max_generations = config.max_generations.unwrap_or_else(|| {
            100 + (150.0 * ((n + 3) * (n + 3)) as f64 / (popsize as f64).sqrt()).floor() as u64
        });
        let mut c = vec![0.0; n * n];
        let mut b = vec![0.0; n * n];
        for i in 0..n {
            c[i * n + i] = 1.0;
            b[i * n + i] = 1.0;
        }
        let mut es = Cmaes {
            n,
            history_len: (10.0 + 30.0 * n as f64 / popsize as f64).floor() as usize,
            max_generations,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            sigma: config.sigma0,
            bounds,
            max_std,
            mean_old: mean.clone(),
            mean,
            scaling: vec![1.0; n],
            c,
            b,
            d: vec![1.0; n],
            eigen: SymmetricEigen::new(n),
            updates: 0,
            last_eigen: 0,
            pc: vec![0.0; n],
            ps: vec![0.0; n],
            geno: vec![0.0; popsize * n],
            pheno: vec![vec![0.0; n]; popsize],
            pending: false,
            order: (0..popsize).collect(),
            fitness: vec![0.0; popsize],
            generation: 0,
            evaluations: 0,
            best_x: config.x0.clone(),
            best_f: f64::INFINITY,
            history: VecDeque::new(),
            flat_generations: 0,
            early_reference: f64::INFINITY,
            stale_generations: 0,
            numerical_error: false,
            tmp: vec![0.0; n],
            tmp2: vec![0.0; n],
            tmp3: vec![0.0; n],
            params,
            config,
        };
        es.stds_into_limits();
        Ok(es)
    }

    /// Dimension n.
    pub fn dimension(&self) -> usize {
        self.n
    }

    /// Population size λ.
    pub fn popsize(&self) -> usize {
        self.params.popsize
    }

    /// The strategy parameters in use.
    pub fn params(&self) -> &StrategyParams {
        &self.params
    }

    /// The settings this run was made with.
    pub fn config(&self) -> &CmaesConfig {
        &self.config
    }

    /// Generations completed (calls to `tell`).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Candidates evaluated so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Overall step size σ (genotype units).
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Best candidate so far (phenotype) and its fitness; `None` before any finite fitness.
    pub fn best(&self) -> Option<(&[f64], f64)> {
        self.best_f.is_finite().then_some((self.best_x.as_slice(), self.best_f))
    }

    /// Current distribution mean mapped into the bounds (the phenotype of the mean).
    pub fn mean(&self) -> Vec<f64> {
        match &self.bounds {
            Some(t) => (0..self.n).map(|i| t.transform_i(self.mean[i], i)).collect(),
            None => self.mean.clone(),
        }
    }

    /// Coordinate-wise standard deviations of the sampling distribution (genotype units).
    pub fn stds(&self) -> Vec<f64> {
        (0..self.n).map(|i| self.sigma * self.scaling[i] * self.c[i * self.n + i].sqrt()).collect()
    }

    /// Ratio of the longest to the shortest principal axis of C (as of the last decomposition).
    pub fn axis_ratio(&self) -> f64 {
        self.d[self.n - 1] / self.d[0]
    }

    /// The next λ candidates (phenotypes, inside the bounds). Asking again before `tell`
    /// returns the same candidates.
    pub fn ask(&mut self) -> Vec<Vec<f64>> {
        if !self.pending {
            self.update_eigen();
            self.sample();
            self.pending = true;
        }
        self.pheno.clone()
    }

    /// Report the fitness of the candidates from the last `ask`, in the same order. NaN and
    /// infinite values (either sign) rank behind all finite ones and never become the best.
    pub fn tell(&mut self, fitness: &[f64]) -> Result<()> {
        let lambda = self.params.popsize;
        if !self.pending {
            return Err(Error::invalid(
                "tell without a preceding ask",
                "call ask, evaluate its candidates, then tell",
            ));
        }
        if fitness.len() != lambda {
            return Err(Error::invalid(
                format!("{} fitness values for {lambda} candidates", fitness.len()),
                "pass one fitness value per candidate returned by ask, in the same order",
            ));
        }
        self.pending = false;
        self.generation += 1;
        self.evaluations += lambda as u64;
        for (dst, &f) in self.fitness.iter_mut().zip(fitness) {
            *dst = if f.is_finite() { f } else { f64::INFINITY };
        }
        let fit = &self.fitness;
        self.order.sort_by(|&a, &b| fit[a].total_cmp(&fit[b]));
        self.update_distribution();
        self.bookkeeping();
        Ok(())
    }

    /// Why the run should stop, or `None` to go on. Callers may also just stop calling `ask`
    /// at any generation boundary.
    pub fn stop(&self) -> Option<StopReason> {
        let cfg = &self.config;
        let lambda = self.params.popsize as u64;
        if self.numerical_error {
            return Some(StopReason::NumericalError);
        }
        if let Some(target) = cfg.target {
            if self.best_f <= target {
                return Some(StopReason::TargetReached);
            }
        }
        if let Some(max) = cfg.max_evaluations {
            if self.evaluations.saturating_add(lambda) > max {
                return Some(StopReason::MaxEvaluations);
            }
        }
        if self.generation >= self.max_generations {
            return Some(StopReason::MaxGenerations);
        }
        if self.generation == 0 {
            return None;
        }
        if let Some(early) = cfg.early_stop {
            if self.stale_generations >= early.patience {
                return Some(StopReason::NoImprovement);
            }
        }
        let n = self.n;
        let (hist_min, hist_max) = self
            .history
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let hist_range = hist_max - hist_min;
        let current_range = self.fitness[self.order[self.order.len() - 1]] - self.fitness[self.order[0]];
        if current_range < cfg.tol_fun && hist_range < cfg.tol_fun {
            return Some(StopReason::TolFun);
        }
        if self.history.len() > 9 && hist_range < cfg.tol_fun_hist {
            return Some(StopReason::TolFunHist);
        }
        let std_i = |i: usize| self.sigma * self.scaling[i] * self.c[i * n + i].sqrt();
        if (0..n)
            .all(|i| std_i(i) < cfg.tol_x && (self.sigma * self.scaling[i] * self.pc[i]).abs() < cfg.tol_x)
        {
            return Some(StopReason::TolX);
        }
        if self.flat_generations > cfg.tol_flat_fitness {
            return Some(StopReason::FlatFitness);
        }
        if (0..n).any(|i| std_i(i) > self.config.sigma0 * cfg.tol_fac_up_x) {
            return Some(StopReason::Diverging);
        }
        if self.d[n - 1] > cfg.tol_condition.sqrt() * self.d[0] {
            return Some(StopReason::ConditionNumber);
        }
        let no_effect_coord = (0..n).any(|i| self.mean[i] == self.mean[i] + 0.2 * std_i(i));
        let axis = (self.generation % n as u64) as usize;
        let no_effect_axis = (0..n).all(|j| {
            let step = 0.1 * self.sigma * self.d[axis] * self.scaling[j] * self.b[j * n + axis];
            self.mean[j] == self.mean[j] + step
        });
        if no_effect_coord || no_effect_axis {
            return Some(StopReason::NoEffect);
        }
        None
    }

    /// Run to the end with a serial objective `f` (minimised). `abort` is checked before each
    /// generation.
    pub fn run(&mut self, mut f: impl FnMut(&[f64]) -> f64, abort: &AtomicBool) -> RunResult {
        self.run_batch(|xs| xs.iter().map(|x| f(x)).collect(), abort)
    }

    /// Run to the end with an objective that evaluates a whole population at once (e.g. in
    /// parallel) and returns one value per candidate; missing values count as NaN, extra ones
    /// are ignored. `abort` is checked before each generation.
    pub fn run_batch(&mut self, mut f: impl FnMut(&[Vec<f64>]) -> Vec<f64>, abort: &AtomicBool) -> RunResult {
        let stop = loop {
            if abort.load(Ordering::Relaxed) {
                break StopReason::Aborted;
            }
            if let Some(reason) = self.stop() {
                break reason;
            }
            let xs = self.ask();
            let mut values = f(&xs);
            values.resize(xs.len(), f64::NAN);
            if self.tell(&values).is_err() {
                // Unreachable: ask just made the population pending and the length matches.
                break StopReason::NumericalError;
            }
        };
        let (x, f) = match self.best() {
            Some((x, f)) => (x.to_vec(), f),
            None => (self.mean(), f64::INFINITY),
        };
        RunResult { x, f, stop, generations: self.generation, evaluations: self.evaluations }
    }

    /// Recompute B and D from C when enough updates have accumulated (pycma's lazy update).
    fn update_eigen(&mut self) {
        let since = self.updates - self.last_eigen;
        if since == 0 || (since as f64) < self.params.lazy_gap {
            return;
        }
        self.last_eigen = self.updates;
        let n = self.n;
        for i in 0..n {
            for j in 0..i {
                let v = 0.5 * (self.c[i * n + j] + self.c[j * n + i]);
                self.c[i * n + j] = v;
                self.c[j * n + i] = v;
            }
        }
        // As pycma: on failure or a non-positive eigenvalue, add the old smallest eigenvalue to
        // the diagonal and try again.
        for _ in 0..8 {
            let ok = self.eigen.compute(&self.c).is_ok() && self.eigen.values()[0] > 0.0;
            if ok {
                self.b.copy_from_slice(self.eigen.vectors());
                for (d, &v) in self.d.iter_mut().zip(self.eigen.values()) {
                    *d = v.sqrt();
                }
                return;
            }
            let add = self.d[0] * self.d[0];
            if !add.is_finite() || self.c.iter().any(|v| !v.is_finite()) {
                break;
            }
            for i in 0..n {
                self.c[i * n + i] += add;
            }
        }
        self.numerical_error = true;
    }

    /// Draw λ genotypes `m + σ s∘(B D z)` and their phenotypes.
    fn sample(&mut self) {
        let n = self.n;
        for k in 0..self.params.popsize {
            for (t, d) in self.tmp.iter_mut().zip(&self.d) {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                *t = d * z;
            }
            let x = &mut self.geno[k * n..(k + 1) * n];
            for (i, (xi, row)) in x.iter_mut().zip(self.b.chunks_exact(n)).enumerate() {
                let y: f64 = row.iter().zip(&self.tmp).map(|(b, t)| b * t).sum();
                *xi = self.mean[i] + self.sigma * self.scaling[i] * y;
            }
            let p = &mut self.pheno[k];
            match &self.bounds {
                Some(t) => t.transform(x, p),
                None => p.copy_from_slice(x),
            }
        }
    }

    /// `C^(-1/2) v = B D⁻¹ Bᵀ v` into `out` (when given); returns the squared Mahalanobis norm
    /// `‖D⁻¹ Bᵀ v‖²`. Uses B and D as of the last decomposition, as pycma does.
    fn inv_sqrt_c(
        n: usize,
        b: &[f64],
        d: &[f64],
        v: &[f64],
        tmp: &mut [f64],
        out: Option<&mut [f64]>,
    ) -> f64 {
        tmp.iter_mut().for_each(|t| *t = 0.0);
        for (row, vi) in b.chunks_exact(n).zip(v) {
            for (t, bij) in tmp.iter_mut().zip(row) {
                *t += bij * vi;
            }
        }
        let mut norm2 = 0.0;
        for (t, dj) in tmp.iter_mut().zip(d) {
            *t /= dj;
            norm2 += *t * *t;
        }
        if let Some(out) = out {
            for i in 0..n {
                out[i] = b[i * n..(i + 1) * n].iter().zip(tmp.iter()).map(|(b, t)| b * t).sum();
            }
        }
        norm2
    }

    /// Mean, paths, covariance matrix and step size from the ranked population.
    fn update_distribution(&mut self) {
        let n = self.n;
        let p = &self.params;
        let nf = n as f64;
        let (cc, cs, c1, cmu, mueff) = (p.cc, p.cs, p.c1, p.cmu, p.mueff);

        self.mean_old.copy_from_slice(&self.mean);
        self.mean.iter_mut().for_each(|m| *m = 0.0);
        for k in 0..p.mu {
            let w = p.weights[k];
            let x = &self.geno[self.order[k] * n..(self.order[k] + 1) * n];
            for (m, xi) in self.mean.iter_mut().zip(x) {
                *m += w * xi;
            }
        }

        // Step-size path from the isotropic mean shift, with B and D from before this update.
        for i in 0..n {
            self.tmp2[i] = (self.mean[i] - self.mean_old[i]) / self.scaling[i];
        }
        let shift = &mut self.tmp3;
        Self::inv_sqrt_c(n, &self.b, &self.d, &self.tmp2, &mut self.tmp, Some(shift));
        let fac = (cs * (2.0 - cs)).sqrt() * mueff.sqrt() / self.sigma;
        for (ps, s) in self.ps.iter_mut().zip(&self.tmp3) {
            *ps = (1.0 - cs) * *ps + fac * s;
        }
        let ps_norm2: f64 = self.ps.iter().map(|v| v * v).sum();
        let t = self.generation as f64;
        let hsig = ps_norm2 / (1.0 - (1.0 - cs).powf(2.0 * t)) / nf - 1.0 < 1.0 + 4.0 / (nf + 1.0);
        let hsig = if hsig { 1.0 } else { 0.0 };

        let fac = hsig * (cc * (2.0 - cc) * mueff).sqrt() / self.sigma;
        for i in 0..n {
            self.pc[i] = (1.0 - cc) * self.pc[i] + fac * self.tmp2[i];
        }

        // C ← (1 - c1a - cμ Σw) C + c1 pc pcᵀ + cμ Σ w°_k y_k y_kᵀ (lower triangle, mirrored below).
        let c1a = c1 * (1.0 - (1.0 - hsig * hsig) * cc * (2.0 - cc));
        let decay = 1.0 - c1a - cmu * p.weights.iter().sum::<f64>();
        for i in 0..n {
            for j in 0..=i {
                self.c[i * n + j] = decay * self.c[i * n + j] + c1 * self.pc[i] * self.pc[j];
            }
        }
        let y = &mut self.tmp3;
        for k in 0..p.popsize {
            let mut w = cmu * p.weights[k];
            if w == 0.0 {
                continue;
            }
            let x = &self.geno[self.order[k] * n..(self.order[k] + 1) * n];
            for i in 0..n {
                y[i] = (x[i] - self.mean_old[i]) / (self.sigma * self.scaling[i]);
            }
            if w < 0.0 {
                let norm = Self::inv_sqrt_c(n, &self.b, &self.d, y, &mut self.tmp, None).sqrt();
                w *= nf / (norm + 1e-9).powi(2);
            }
            for i in 0..n {
                let wy = w * y[i];
                let row = &mut self.c[i * n..i * n + i + 1];
                for (cij, yj) in row.iter_mut().zip(y.iter()) {
                    *cij += wy * yj;
                }
            }
        }
        for i in 0..n {
            for j in 0..i {
                self.c[j * n + i] = self.c[i * n + j];
            }
        }
        self.updates += 1;

        let s = ((ps_norm2.sqrt() / self.params.chi_n - 1.0) * cs / p.damps).clamp(-1.0, 1.0);
        self.sigma *= s.exp();
        self.stds_into_limits();
        if !self.sigma.is_finite() || self.c.iter().any(|v| !v.is_finite()) {
            self.numerical_error = true;
        }
    }

    /// Cap coordinate standard deviations at a third of the bound range by shrinking `scaling`
    /// (pycma's `_stds_into_limits`; its slack `e^1e-4` in the first two generations keeps the
    /// initial distribution untouched when σ0 sits exactly at the cap).
    fn stds_into_limits(&mut self) {
        let Some(max_std) = &self.max_std else { return };
        let slack = if self.generation <= 2 { 1e-4f64.exp() } else { 1.0 };
        let n = self.n;
        for (i, (scale, max)) in self.scaling.iter_mut().zip(max_std).enumerate() {
            let s = self.sigma * *scale * self.c[i * n + i].sqrt();
            if s > max * slack && s > 0.0 && s.is_finite() {
                *scale *= max / s;
            }
        }
    }

    /// Best-so-far, fitness history, flat-fitness and early-stopping counters.
    fn bookkeeping(&mut self) {
        let best_k = self.order[0];
        let best_now = self.fitness[best_k];
        if best_now < self.best_f {
            self.best_f = best_now;
            self.best_x.copy_from_slice(&self.pheno[best_k]);
        }
        self.history.push_front(best_now);
        while self.history.len() > self.history_len {
            self.history.pop_back();
        }
        let quartile = self.fitness[self.order[(0.75 * self.params.popsize as f64) as usize]];
        if best_now < quartile {
            self.flat_generations = 0;
        } else {
            self.flat_generations += 1;
        }
        if let Some(early) = self.config.early_stop {
            if self.best_f < self.early_reference - early.min_delta {
                self.early_reference = self.best_f;
                self.stale_generations = 0;
            } else {
                self.stale_generations += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(
                (t.transform_i(*x, 0) - w).abs() < 1e-14,
                "transform({x}) = {} != {w}",
                t.transform_i(*x, 0)
            );
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
        let r = es.run(|_| f64::NAN, &AtomicBool::new(false));
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
        let r = es.run(|x| 1e-4 * sphere(x), &AtomicBool::new(false));
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
        let r = es.run(sphere, &AtomicBool::new(false));
        assert_eq!((r.stop, r.evaluations, r.generations), (StopReason::MaxEvaluations, 90, 9));

        let mut es = Cmaes::new(base.clone().with_max_generations(7)).unwrap();
        let r = es.run(sphere, &AtomicBool::new(false));
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
        let r = es.run(sphere, &abort);
        assert_eq!((r.stop, r.evaluations), (StopReason::Aborted, 0));

        let abort = AtomicBool::new(false);
        let mut es = Cmaes::new(CmaesConfig::new(vec![1.0; 3], 0.5).with_popsize(8)).unwrap();
        let mut calls = 0;
        let r = es.run(
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
        let r = es.run(score, &AtomicBool::new(false));
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
        assert!(
            es.mean().iter().zip(&x0).all(|(m, x)| (m - x).abs() < 1e-12),
            "the start maps back onto itself"
        );
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
        assert!(
            Cmaes::new(CmaesConfig::new(vec![0.0], 0.1).with_unit_box()).is_ok(),
            "x0 on a bound is fine"
        );
    }
}
