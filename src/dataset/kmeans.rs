//! k-means (k-means++ seeding, Lloyd iterations), deterministic for a given RNG.

use rand::Rng;

/// Squared Euclidean distance.
fn dist2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| ((x - y) as f64).powi(2)).sum()
}

/// Index of the centroid nearest to `p`, and its squared distance.
fn nearest(p: &[f32], centroids: &[Vec<f32>]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, c) in centroids.iter().enumerate() {
        let d = dist2(p, c);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

/// Clusters `points` (all the same length, at least `k` of them) into `k` clusters and returns
/// the centroids. k-means++ seeding, then Lloyd iterations until the assignment stops changing
/// (at most `max_iter`). An emptied cluster is re-seeded with the point farthest from its
/// centroid.
pub fn kmeans(points: &[Vec<f32>], k: usize, max_iter: usize, rng: &mut impl Rng) -> Vec<Vec<f32>> {
    assert!(k >= 1 && points.len() >= k, "k-means needs at least k points");
    let dim = points[0].len();
    let mut centroids = vec![points[rng.random_range(0..points.len())].clone()];
    let mut d2: Vec<f64> = points.iter().map(|p| dist2(p, &centroids[0])).collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().sum();
        let next = if total > 0.0 {
            let mut r = rng.random::<f64>() * total;
            let mut pick = points.len() - 1;
            for (i, &d) in d2.iter().enumerate() {
                if r < d {
                    pick = i;
                    break;
                }
                r -= d;
            }
            pick
        } else {
            rng.random_range(0..points.len())
        };
        centroids.push(points[next].clone());
        for (d, p) in d2.iter_mut().zip(points) {
            *d = d.min(dist2(p, &centroids[centroids.len() - 1]));
        }
    }
    let mut assign = vec![usize::MAX; points.len()];
    for _ in 0..max_iter {
        let mut changed = false;
        for (a, p) in assign.iter_mut().zip(points) {
            let (j, _) = nearest(p, &centroids);
            changed |= *a != j;
            *a = j;
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0.0f64; dim]; k];
        let mut counts = vec![0usize; k];
        for (&a, p) in assign.iter().zip(points) {
            counts[a] += 1;
            for (s, &x) in sums[a].iter_mut().zip(p) {
                *s += x as f64;
            }
        }
        for j in 0..k {
            if counts[j] == 0 {
                let far = (0..points.len())
                    .max_by(|&a, &b| {
                        nearest(&points[a], &centroids).1.total_cmp(&nearest(&points[b], &centroids).1)
                    })
                    .unwrap_or(0);
                centroids[j] = points[far].clone();
            } else {
                centroids[j] = sums[j].iter().map(|&s| (s / counts[j] as f64) as f32).collect();
            }
        }
    }
    centroids
}

/// For each centroid, the index of the nearest point not already taken by an earlier centroid
/// (so the `k` picks are distinct points).
pub fn nearest_distinct(points: &[Vec<f32>], centroids: &[Vec<f32>]) -> Vec<usize> {
    let mut taken = vec![false; points.len()];
    centroids
        .iter()
        .map(|c| {
            let i = (0..points.len())
                .filter(|&i| !taken[i])
                .min_by(|&a, &b| dist2(&points[a], c).total_cmp(&dist2(&points[b], c)))
                .expect("at least as many points as centroids");
            taken[i] = true;
            i
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn finds_well_separated_clusters() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let centres = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let points: Vec<Vec<f32>> = (0..300)
            .map(|i| {
                let c = centres[i % 3];
                vec![c[0] + rng.random::<f32>() - 0.5, c[1] + rng.random::<f32>() - 0.5]
            })
            .collect();
        let found = kmeans(&points, 3, 100, &mut ChaCha8Rng::seed_from_u64(7));
        for c in centres {
            assert!(found.iter().any(|f| dist2(f, &c) < 0.1), "{c:?} not found in {found:?}");
        }
        let picks = nearest_distinct(&points, &found);
        let mut sorted = picks.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3);
    }
}
