//! One generation's arithmetic: sampling, the update of mean, paths, C and σ, the lazy
//! eigendecomposition, the max-std cap and the stop bookkeeping.

use rand_distr::{Distribution, StandardNormal};

use super::Cmaes;

impl Cmaes {
    /// Recompute B and D from C when enough updates have accumulated (pycma's lazy update).
    pub(super) fn update_eigen(&mut self) {
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
    pub(super) fn sample(&mut self) {
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
    pub(super) fn inv_sqrt_c(
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
    pub(super) fn update_distribution(&mut self) {
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
    pub(super) fn stds_into_limits(&mut self) {
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
    pub(super) fn bookkeeping(&mut self) {
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
