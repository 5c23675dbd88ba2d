//! Intervals for figures over few, grouped cases: a bootstrap that resamples whole groups.
//!
//! `eval transfer` has a few pairs per reference style, and the pairs of one style share its
//! processing, so they are not independent cases: resampling cases would understate the
//! noise. Every interval here resamples the groups (the styles) with replacement and takes
//! all the cases of each drawn group.

use rand::{Rng, SeedableRng};

use super::transfer::median;

/// Resamples per interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Fixed, so that an interval is the same on every run over the same cases.
const BOOTSTRAP_SEED: u64 = 0x0b00_75a4;

/// The 5th and 95th percentiles of `statistic` over [`BOOTSTRAP_RESAMPLES`] resamples of the
/// groups (`group[i]` is case `i`'s group): each resample draws as many groups as there are,
/// with replacement, and hands `statistic` the case indices of the drawn groups. Deterministic;
/// `[NaN, NaN]` when there are no cases.
pub fn group_bootstrap_interval(group: &[&str], mut statistic: impl FnMut(&[usize]) -> f64) -> [f64; 2] {
    let mut names: Vec<&str> = group.to_vec();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    let members: Vec<Vec<usize>> =
        names.iter().map(|n| (0..group.len()).filter(|&i| group[i] == *n).collect()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut drawn = Vec::with_capacity(group.len() * 2);
    let mut values: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            drawn.clear();
            for _ in 0..members.len() {
                drawn.extend_from_slice(&members[rng.random_range(0..members.len())]);
            }
            statistic(&drawn)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    [at(0.05), at(0.95)]
}

/// A 90 % interval of the median of `values` ([`group_bootstrap_interval`]; `group[i]` is
/// value `i`'s group, in `eval transfer` the reference style).
pub fn median_interval(values: &[f64], group: &[&str]) -> [f64; 2] {
    group_bootstrap_interval(group, |idx| median(&idx.iter().map(|&i| values[i]).collect::<Vec<_>>()))
}

/// How much higher the median of `new` is than the median of `base` on the same cases, and a
/// 90 % interval of that difference: both are resampled together (the same drawn groups), so
/// that what the two share (the cases' difficulty) cancels out of the interval.
pub fn paired_median_difference(base: &[f64], new: &[f64], group: &[&str]) -> (f64, [f64; 2]) {
    let at = |v: &[f64], idx: &[usize]| median(&idx.iter().map(|&i| v[i]).collect::<Vec<_>>());
    let difference = median(new) - median(base);
    (difference, group_bootstrap_interval(group, |idx| at(new, idx) - at(base, idx)))
}

#[cfg(test)]
mod tests {
    use super::{median_interval, paired_median_difference};
    use crate::eval::transfer::median;

    #[test]
    fn the_median_interval_resamples_styles_and_holds_the_median() {
        // Three styles, three cases each: the interval brackets the median and is
        // deterministic; one style alone gives the median of its own cases.
        let values = [0.1, 0.2, 0.3, -0.5, -0.4, -0.3, 0.6, 0.7, 0.8];
        let group = ["a", "a", "a", "b", "b", "b", "c", "c", "c"];
        let [lo, hi] = median_interval(&values, &group);
        assert!(lo <= median(&values) && median(&values) <= hi, "{lo} {hi}");
        assert!(lo < 0.0 && hi > 0.5, "resampling styles spans their spread: {lo} {hi}");
        assert_eq!(median_interval(&values, &group), [lo, hi]);
        assert_eq!(median_interval(&[0.1, 0.3, 0.2], &["a"; 3]), [0.2, 0.2]);
        // Styles all alike: no spread.
        assert_eq!(median_interval(&[0.4; 6], &["a", "a", "b", "b", "c", "c"]), [0.4, 0.4]);
        assert!(median_interval(&[], &[]).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn a_paired_difference_is_narrower_than_the_two_intervals_apart() {
        // The styles differ a lot in difficulty; `new` is `base` plus 0.1 on every case. Apart,
        // the two intervals overlap almost entirely; paired, the difference is exactly 0.1.
        let base = [0.1, 0.2, 0.3, -0.5, -0.4, -0.3, 0.6, 0.7, 0.8, -0.9, -1.0, -0.8];
        let new: Vec<f64> = base.iter().map(|g| g + 0.1).collect();
        let group = ["a", "a", "a", "b", "b", "b", "c", "c", "c", "d", "d", "d"];
        let [lo_base, hi_base] = median_interval(&base, &group);
        let [lo_new, _] = median_interval(&new, &group);
        assert!(lo_new < hi_base && hi_base - lo_base > 0.5, "{lo_base} {hi_base} {lo_new}");
        let (difference, [lo, hi]) = paired_median_difference(&base, &new, &group);
        assert!((difference - 0.1).abs() < 1e-12, "{difference}");
        assert!((lo - 0.1).abs() < 1e-12 && (hi - 0.1).abs() < 1e-12, "{lo} {hi}");
        // A change that helps one style and hurts another straddles zero.
        let mixed: Vec<f64> = base
            .iter()
            .zip(&group)
            .map(|(g, s)| {
                g + if *s == "a" {
                    0.5
                } else if *s == "c" {
                    -0.5
                } else {
                    0.0
                }
            })
            .collect();
        let (_, [lo, hi]) = paired_median_difference(&base, &mixed, &group);
        assert!(lo < 0.0 && hi > 0.0, "{lo} {hi}");
    }
}
