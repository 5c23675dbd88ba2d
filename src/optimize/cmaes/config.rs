//! The settings of one CMA-ES run ([`CmaesConfig`]), with its box ([`Bounds`]) and early stop
//! ([`EarlyStop`]).

use super::BoundTransform;
use crate::error::{Error, Result};

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

    /// The population size λ, after checking the start point, σ0 and λ: a non-empty, finite
    /// `x0` (no free parameter otherwise), a positive σ0, λ ≥ 2.
    pub(super) fn checked_popsize(&self) -> Result<usize> {
        let n = self.x0.len();
        if n == 0 {
            return Err(Error::invalid(
                "no free parameter to optimise (the start point x0 is empty)",
                "unlock at least one parameter of the chain for matching",
            ));
        }
        if let Some(i) = self.x0.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                format!("start point x0[{i}] is {}", self.x0[i]),
                "use finite start values",
            ));
        }
        if !(self.sigma0.is_finite() && self.sigma0 > 0.0) {
            return Err(Error::invalid(
                format!("initial step size sigma0 = {} is not positive", self.sigma0),
                "use sigma0 of about a quarter of the search range, e.g. 0.25 in [0, 1]",
            ));
        }
        let popsize = self.popsize.unwrap_or_else(|| CmaesConfig::default_popsize(n));
        if popsize < 2 {
            return Err(Error::invalid(
                format!("population size {popsize} is below 2"),
                "use a population of at least 2",
            ));
        }
        Ok(popsize)
    }

    /// The transform into the bounds (`None` unbounded), after checking that there is one
    /// bound of each side per coordinate and that `x0` lies inside them.
    pub(super) fn bound_transform(&self) -> Result<Option<BoundTransform>> {
        let Some(b) = &self.bounds else { return Ok(None) };
        let n = self.x0.len();
        if b.lower.len() != n || b.upper.len() != n {
            return Err(Error::invalid(
                format!("{n} parameters but {} lower and {} upper bounds", b.lower.len(), b.upper.len()),
                "give one lower and one upper bound per parameter",
            ));
        }
        let t = BoundTransform::new(&b.lower, &b.upper)?;
        if let Some(i) = (0..n).find(|&i| !(b.lower[i] <= self.x0[i] && self.x0[i] <= b.upper[i])) {
            return Err(Error::invalid(
                format!("start point x0[{i}] = {} lies outside [{}, {}]", self.x0[i], b.lower[i], b.upper[i]),
                "start inside the bounds",
            ));
        }
        Ok(Some(t))
    }
}
