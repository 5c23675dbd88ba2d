//! Dense symmetric eigendecomposition for CMA-ES's covariance matrix.
//!
//! Householder reduction to tridiagonal form followed by the implicit QL algorithm with
//! Wilkinson shifts (the EISPACK `tred2`/`tql2` pair, as in JAMA), written out here so the
//! crate needs no linear-algebra dependency. Cost is about 9 n³ flops; CMA-ES calls it only every
//! few generations (see the lazy update in [`super::cmaes`]).

/// Why an eigendecomposition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EigenError {
    /// The input held NaN or infinity.
    NotFinite,
    /// The QL iteration did not converge (only possible for pathological input).
    NoConvergence,
}

/// Eigendecomposition of a symmetric `n`×`n` matrix, reusing its buffers between calls.
#[derive(Debug, Clone)]
pub struct SymmetricEigen {
    n: usize,
    /// Eigenvectors: column `j` of this row-major matrix belongs to `values[j]`.
    vectors: Vec<f64>,
    /// Eigenvalues in ascending order.
    values: Vec<f64>,
    off: Vec<f64>,
    order: Vec<usize>,
    scratch: Vec<f64>,
}

impl SymmetricEigen {
    /// Buffers for matrices of size `n`×`n`.
    pub fn new(n: usize) -> Self {
        SymmetricEigen {
            n,
            vectors: vec![0.0; n * n],
            values: vec![0.0; n],
            off: vec![0.0; n],
            order: (0..n).collect(),
            scratch: vec![0.0; n * n],
        }
    }

    /// Eigenvalues, ascending.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Eigenvectors as the columns of a row-major `n`×`n` matrix (orthonormal), column `j`
    /// belonging to `values()[j]`.
    pub fn vectors(&self) -> &[f64] {
        &self.vectors
    }

    /// Decompose the symmetric row-major matrix `a` (only its lower triangle is read).
    pub fn compute(&mut self, a: &[f64]) -> Result<(), EigenError> {
        let n = self.n;
        assert_eq!(a.len(), n * n, "matrix must be {n}x{n}");
        if n == 0 {
            return Ok(());
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(EigenError::NotFinite);
        }
        for i in 0..n {
            for j in 0..=i {
                self.vectors[i * n + j] = a[i * n + j];
                self.vectors[j * n + i] = a[i * n + j];
            }
        }
        // Both stages work on the transpose of the eigenvector matrix (contiguous inner loops).
        tred2(n, &mut self.vectors, &mut self.values, &mut self.off);
        tql2(n, &mut self.vectors, &mut self.values, &mut self.off)?;
        transpose(n, &mut self.vectors);
        self.sort();
        Ok(())
    }

    /// Sort eigenpairs ascending (QL leaves them nearly sorted; a stable sort keeps it cheap).
    fn sort(&mut self) {
        let n = self.n;
        self.order.clear();
        self.order.extend(0..n);
        let values = &self.values;
        self.order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        if self.order.iter().enumerate().all(|(i, &o)| i == o) {
            return;
        }
        self.scratch.copy_from_slice(&self.vectors);
        for (new, &old) in self.order.iter().enumerate() {
            self.off[new] = self.values[old];
            for row in 0..n {
                self.vectors[row * n + new] = self.scratch[row * n + old];
            }
        }
        self.values.copy_from_slice(&self.off);
    }
}

fn transpose(n: usize, a: &mut [f64]) {
    for i in 0..n {
        for j in 0..i {
            a.swap(i * n + j, j * n + i);
        }
    }
}

/// Householder tridiagonalisation (EISPACK `tred2`), written on the transpose `w = Vᵀ` of the
/// textbook's working matrix so that every inner loop runs over contiguous memory. Input: the
/// symmetric matrix (equal to its transpose). On return `w` holds the transpose of the
/// orthogonal transformation, `d` the diagonal and `e[1..]` the subdiagonal of the tridiagonal
/// matrix.
fn tred2(n: usize, w: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    for j in 0..n {
        d[j] = w[j * n + n - 1];
    }
    for i in (1..n).rev() {
        let mut scale = 0.0;
        let mut h = 0.0;
        for dk in d.iter().take(i) {
            scale += dk.abs();
        }
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = w[j * n + i - 1];
                w[j * n + i] = 0.0;
                w[i * n + j] = 0.0;
            }
        } else {
            for dk in d.iter_mut().take(i) {
                *dk /= scale;
                h += *dk * *dk;
            }
            let f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for ej in e.iter_mut().take(i) {
                *ej = 0.0;
            }
            for j in 0..i {
                let f = d[j];
                w[i * n + j] = f;
                let col = &w[j * n..j * n + i];
                let mut g = e[j] + col[j] * f;
                for k in j + 1..i {
                    g += col[k] * d[k];
                    e[k] += col[k] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let f = d[j];
                let g = e[j];
                let col = &mut w[j * n..j * n + i];
                for k in j..i {
                    col[k] -= f * e[k] + g * d[k];
                }
                d[j] = w[j * n + i - 1];
                w[j * n + i] = 0.0;
            }
        }
        d[i] = h;
    }
    // Accumulate the transformations.
    for i in 0..n - 1 {
        w[i * n + n - 1] = w[i * n + i];
        w[i * n + i] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = w[(i + 1) * n + k] / h;
            }
            for j in 0..=i {
                let (head, tail) = w.split_at_mut((i + 1) * n);
                let next = &tail[..=i];
                let col = &mut head[j * n..j * n + i + 1];
                let g: f64 = next.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
                for (c, dk) in col.iter_mut().zip(d.iter()) {
                    *c -= g * dk;
                }
            }
        }
        for k in 0..=i {
            w[(i + 1) * n + k] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = w[j * n + n - 1];
        w[j * n + n - 1] = 0.0;
    }
    w[(n - 1) * n + n - 1] = 1.0;
    e[0] = 0.0;
}

/// Implicit QL on the tridiagonal matrix from [`tred2`], accumulating rotations into `vt`, the
/// transpose of tred2's transformation (eigenvectors end up in its rows).
fn tql2(n: usize, vt: &mut [f64], d: &mut [f64], e: &mut [f64]) -> Result<(), EigenError> {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            let mut iterations = 0;
            loop {
                iterations += 1;
                if iterations > 60 {
                    return Err(EigenError::NoConvergence);
                }
                // Wilkinson shift.
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for di in d.iter_mut().take(n).skip(l + 2) {
                    *di -= h;
                }
                f += h;
                // Implicit QL transformation.
                p = d[m];
                let mut c = 1.0;
                let mut c2 = c;
                let mut c3 = c;
                let el1 = e[l + 1];
                let mut s = 0.0;
                let mut s2 = 0.0;
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    let (head, tail) = vt.split_at_mut((i + 1) * n);
                    let row_i = &mut head[i * n..];
                    let row_i1 = &mut tail[..n];
                    for (a, b) in row_i.iter_mut().zip(row_i1.iter_mut()) {
                        let h = *b;
                        *b = s * *a + c * h;
                        *a = c * *a - s * h;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    if d.iter().any(|x| !x.is_finite()) {
        return Err(EigenError::NotFinite);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// max |A V - V Λ| and max |VᵀV - I| for a decomposition of `a`.
    fn residuals(n: usize, a: &[f64], eig: &SymmetricEigen) -> (f64, f64) {
        let (v, w) = (eig.vectors(), eig.values());
        let mut res: f64 = 0.0;
        let mut orth: f64 = 0.0;
        for i in 0..n {
            for j in 0..n {
                let av: f64 = (0..n).map(|k| a[i * n + k] * v[k * n + j]).sum();
                res = res.max((av - v[i * n + j] * w[j]).abs());
                let vtv: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
                orth = orth.max((vtv - if i == j { 1.0 } else { 0.0 }).abs());
            }
        }
        (res, orth)
    }

    fn random_spd(n: usize, seed: u64, cond: f64) -> Vec<f64> {
        // Q diag(λ) Qᵀ with Q from Gram-Schmidt on a random matrix.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut q: Vec<f64> = (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        for j in 0..n {
            for k in 0..j {
                let dot: f64 = (0..n).map(|i| q[i * n + j] * q[i * n + k]).sum();
                for i in 0..n {
                    q[i * n + j] -= dot * q[i * n + k];
                }
            }
            let norm: f64 = (0..n).map(|i| q[i * n + j].powi(2)).sum::<f64>().sqrt();
            for i in 0..n {
                q[i * n + j] /= norm;
            }
        }
        let lambda: Vec<f64> =
            (0..n).map(|i| cond.powf(if n > 1 { i as f64 / (n - 1) as f64 } else { 0.0 })).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| q[i * n + k] * lambda[k] * q[j * n + k]).sum();
            }
        }
        a
    }

    #[test]
    fn decomposes_random_matrices() {
        for (n, seed, cond) in [(1, 1, 1.0), (2, 2, 10.0), (5, 3, 1e3), (17, 4, 1e6), (60, 5, 1e12)] {
            let a = random_spd(n, seed, cond);
            let mut eig = SymmetricEigen::new(n);
            eig.compute(&a).unwrap();
            let scale = cond;
            let (res, orth) = residuals(n, &a, &eig);
            assert!(res < 1e-11 * scale, "n={n}: residual {res}");
            assert!(orth < 1e-12, "n={n}: orthogonality {orth}");
            assert!(eig.values().windows(2).all(|w| w[0] <= w[1]), "not sorted: {:?}", eig.values());
            let lo = eig.values()[0];
            let hi = eig.values()[n - 1];
            // Backward stable: eigenvalue errors scale with eps·‖A‖ (the test matrix itself
            // carries rounding errors of that size).
            let tol = 1e-13 * cond * n as f64;
            assert!((lo - 1.0).abs() < tol && (hi - cond).abs() < tol, "range {lo} {hi}");
        }
    }

    #[test]
    fn handles_diagonal_repeated_and_indefinite() {
        let n = 4;
        let mut a = vec![0.0; n * n];
        for (i, v) in [3.0, 1.0, 3.0, -2.0].into_iter().enumerate() {
            a[i * n + i] = v;
        }
        let mut eig = SymmetricEigen::new(n);
        eig.compute(&a).unwrap();
        assert_eq!(eig.values(), &[-2.0, 1.0, 3.0, 3.0]);
        let (res, orth) = residuals(n, &a, &eig);
        assert!(res < 1e-14 && orth < 1e-14);
        // All-equal off-diagonal: eigenvalues n-1 (once) and -1 (n-1 times) for ones - I.
        let a: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 0.0 } else { 1.0 }).collect();
        eig.compute(&a).unwrap();
        for (got, want) in eig.values().iter().zip([-1.0, -1.0, -1.0, 3.0]) {
            assert!((got - want).abs() < 1e-13, "{:?}", eig.values());
        }
        let mut bad = a.clone();
        bad[5] = f64::NAN;
        assert_eq!(eig.compute(&bad), Err(EigenError::NotFinite));
    }
}
