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

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::linalg::SymmetricEigen;
use crate::error::{Error, Result};

mod bounds;
mod config;
mod stop;
mod strategy;
#[cfg(test)]
mod tests;
mod update;

pub use bounds::BoundTransform;
pub use config::{Bounds, CmaesConfig, EarlyStop};
pub use stop::StopReason;
pub use strategy::StrategyParams;

/// Cap on the coordinate-wise standard deviation relative to the bound range (pycma's
/// `maxstd_boundrange`).
const MAX_STD_BOUND_RANGE: f64 = 1.0 / 3.0;

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
        let popsize = config.checked_popsize()?;
        let bounds = config.bound_transform()?;
        let mut es = Self::initial(config, popsize, bounds);
        es.stds_into_limits();
        Ok(es)
    }

    /// The state before the first generation: the mean at `x0` (as a genotype), C = I, empty
    /// paths and history. `config` is valid.
    fn initial(config: CmaesConfig, popsize: usize, bounds: Option<BoundTransform>) -> Self {
        let n = config.x0.len();
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
        Cmaes {
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
        }
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
}
