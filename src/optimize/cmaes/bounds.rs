//! The box constraints: pycma's smooth map from the unbounded genotype into the box.

use crate::error::{Error, Result};

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
    pub(super) al: Vec<f64>,
    pub(super) au: Vec<f64>,
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
