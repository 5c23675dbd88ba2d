//! When a run ends: [`StopReason`] and [`Cmaes::stop`], pycma's termination criteria in its
//! order.

use super::Cmaes;

/// Why a run stopped. [`Cmaes::stop`] reports the first that applies, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The caller's abort flag was set (for callers that drive the ask/tell loop; never
    /// reported by [`Cmaes::stop`]).
    Aborted,
    /// The covariance matrix became non-finite or could not be decomposed.
    NumericalError,
    /// The best fitness reached [`CmaesConfig::target`](super::CmaesConfig::target).
    TargetReached,
    /// Another generation would exceed [`CmaesConfig::max_evaluations`](super::CmaesConfig::max_evaluations).
    MaxEvaluations,
    /// [`CmaesConfig::max_generations`](super::CmaesConfig::max_generations) generations were done.
    MaxGenerations,
    /// [`CmaesConfig::early_stop`](super::CmaesConfig::early_stop): no sufficient improvement for `patience` generations.
    NoImprovement,
    /// Fitness values converged ([`CmaesConfig::tol_fun`](super::CmaesConfig::tol_fun)).
    TolFun,
    /// Recent best values converged ([`CmaesConfig::tol_fun_hist`](super::CmaesConfig::tol_fun_hist)).
    TolFunHist,
    /// The search distribution shrank below [`CmaesConfig::tol_x`](super::CmaesConfig::tol_x).
    TolX,
    /// Fitness was flat across most of the population ([`CmaesConfig::tol_flat_fitness`](super::CmaesConfig::tol_flat_fitness)).
    FlatFitness,
    /// A standard deviation grew beyond σ0 · [`CmaesConfig::tol_fac_up_x`](super::CmaesConfig::tol_fac_up_x).
    Diverging,
    /// The covariance matrix is too ill-conditioned ([`CmaesConfig::tol_condition`](super::CmaesConfig::tol_condition)).
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

impl Cmaes {
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
}
