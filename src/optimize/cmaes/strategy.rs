//! The strategy parameters that dimension and population size set (pycma's defaults): weights,
//! learning rates, damping.

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
pub(super) fn expected_norm(n: usize) -> f64 {
    let mut c = (2.0 / std::f64::consts::PI).sqrt(); // c(1)
    for k in 1..n {
        c = k as f64 / c;
    }
    c
}
