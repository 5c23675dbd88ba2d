//! 2× polyphase IIR half-band filters for oversampling (two allpass paths, minimum phase).
//!
//! A half-band low-pass is written as `H(z) = ½·(A0(z²) + z⁻¹·A1(z²))`, where each path is a
//! chain of first-order allpass sections `(a + z⁻²)/(1 + a·z⁻²)`. Upsampling by two runs both
//! paths at the low rate on the same input (path 0 gives the even output sample, path 1 the
//! odd one); downsampling runs path 0 on the odd input and path 1 on the even input and
//! averages. The coefficients are the elliptic half-band design of Valenzuela & Constantinides
//! ("Digital signal processing schemes for efficient interpolation and decimation", IEE Proc.
//! 1983), in the closed form that Laurent de Soras' HIIR library popularised.
//!
//! Being IIR the filters add no fixed latency, only a small low-frequency group delay (see
//! [`group_delay`]), which is why they suit an effect that is crossfaded against its dry input.

use std::f64::consts::PI;

/// Elliptic half-band coefficients for `n_coefs` allpass sections (even indices for path 0,
/// odd for path 1) and normalised transition bandwidth `transition` (stopband edge minus
/// passband edge, as a fraction of the high sample rate; `0 < transition < 0.5`).
pub(crate) fn design(n_coefs: usize, transition: f64) -> Vec<f64> {
    let (k, q) = transition_params(transition);
    let order = 2 * n_coefs + 1;
    (0..n_coefs).map(|i| coef(i + 1, k, q, order)).collect()
}

/// Stopband attenuation in dB that [`design`] reaches with these settings.
#[cfg(test)]
pub(crate) fn attenuation_db(n_coefs: usize, transition: f64) -> f64 {
    let (_, q) = transition_params(transition);
    let order = (2 * n_coefs + 1) as f64;
    let a = 4.0 * (order * 0.5 * q.ln()).exp();
    -10.0 * (a / (1.0 + a)).log10()
}

/// Group delay in samples of the high rate of one half-band filter at `f` (fraction of the high
/// sample rate), i.e. the delay of path 0 (the filter's overall low-pass delay in its passband).
pub(crate) fn group_delay(coefs: &[f64], f: f64) -> f64 {
    let w = 2.0 * PI * f;
    coefs.iter().step_by(2).map(|&a| 2.0 * (1.0 - a * a) / (a * a + 2.0 * a * (2.0 * w).cos() + 1.0)).sum()
}

fn transition_params(transition: f64) -> (f64, f64) {
    let t = transition.clamp(1e-4, 0.4999);
    let k = ((1.0 - 2.0 * t) * PI / 4.0).tan().powi(2);
    let kk = (1.0 - k * k).powf(0.25);
    let e = 0.5 * (1.0 - kk) / (1.0 + kk);
    let e4 = e.powi(4);
    // Series for the elliptic nome, truncated where the terms fall below double precision.
    let q = e * (1.0 + e4 * (2.0 + e4 * (15.0 + 150.0 * e4)));
    (k, q)
}

fn coef(c: usize, k: f64, q: f64, order: usize) -> f64 {
    let (c, n) = (c as f64, order as f64);
    // Theta-function sums; q < 0.2 in practice, so a few terms reach 1e-100.
    let mut num = 0.0;
    for i in 0..64i32 {
        let term = q.powi(i * (i + 1)) * ((2 * i + 1) as f64 * c * PI / n).sin();
        num += if i % 2 == 0 { term } else { -term };
        if term.abs() < 1e-100 {
            break;
        }
    }
    let mut den = 0.0;
    for i in 1..64i32 {
        let term = q.powi(i * i) * ((2 * i) as f64 * c * PI / n).cos();
        den += if i % 2 == 1 { -term } else { term };
        if term.abs() < 1e-100 {
            break;
        }
    }
    let ww = num * q.powf(0.25) / (den + 0.5);
    let ww2 = ww * ww;
    let x = ((1.0 - ww2 * k) * (1.0 - ww2 / k)).sqrt() / (1.0 + ww2);
    (1.0 - x) / (1.0 + x)
}

/// One stereo 2× half-band stage with `S` allpass sections per path. Lanes are
/// `[left path 0, left path 1, right path 0, right path 1]`, so both channels and both paths
/// run in one 4-wide loop that compilers vectorise.
///
/// The block functions are `#[inline(never)]`: inlined all into one `process`, the state no
/// longer stayed in registers and the distortion got ~20 % slower (measured).
#[derive(Clone, Copy)]
pub(crate) struct HalfBand<const S: usize> {
    coef: [[f32; 4]; S],
    x1: [[f32; 4]; S],
    y1: [[f32; 4]; S],
}

impl<const S: usize> HalfBand<S> {
    /// A stage for `transition` (see [`design`]); state cleared.
    pub(crate) fn new(transition: f64) -> Self {
        let c = design(2 * S, transition);
        let mut coef = [[0.0; 4]; S];
        for (k, lane) in coef.iter_mut().enumerate() {
            let (a0, a1) = (c[2 * k] as f32, c[2 * k + 1] as f32);
            *lane = [a0, a1, a0, a1];
        }
        Self { coef, x1: [[0.0; 4]; S], y1: [[0.0; 4]; S] }
    }

    /// Clear the filter memories.
    pub(crate) fn reset(&mut self) {
        self.x1 = [[0.0; 4]; S];
        self.y1 = [[0.0; 4]; S];
    }

    /// Upsample base-rate samples in place: each entry holds one sample per channel in lanes
    /// 0 (left) and 2 (right) and becomes `[l0, l1, r0, r1]` at the high rate.
    #[inline(never)]
    pub(crate) fn up_in_place(&mut self, buf: &mut [[f32; 4]]) {
        let (coef, mut x1, mut y1) = (self.coef, self.x1, self.y1);
        for e in buf.iter_mut() {
            *e = step(&coef, &mut x1, &mut y1, [e[0], e[0], e[2], e[2]]);
        }
        (self.x1, self.y1) = (x1, y1);
    }

    /// Downsample packed entries to one sample per channel each.
    #[inline(never)]
    pub(crate) fn down_to(&mut self, input: &[[f32; 4]], left: &mut [f32], right: &mut [f32]) {
        let (coef, mut x1, mut y1) = (self.coef, self.x1, self.y1);
        for ((i, l), r) in input.iter().zip(left.iter_mut()).zip(right.iter_mut()) {
            let v = step(&coef, &mut x1, &mut y1, [i[1], i[0], i[3], i[2]]);
            *l = 0.5 * (v[0] + v[1]);
            *r = 0.5 * (v[2] + v[3]);
        }
        (self.x1, self.y1) = (x1, y1);
    }

    /// Upsample a block in packed form: each input entry `[l0, l1, r0, r1]` holds two
    /// consecutive samples per channel; `output` receives two entries per input entry.
    #[inline(never)]
    pub(crate) fn up_block(&mut self, input: &[[f32; 4]], output: &mut [[f32; 4]]) {
        // Filter state in locals so that it stays in registers across the loop.
        let (coef, mut x1, mut y1) = (self.coef, self.x1, self.y1);
        for (v, o) in input.iter().zip(output.chunks_exact_mut(2)) {
            o[0] = step(&coef, &mut x1, &mut y1, [v[0], v[0], v[2], v[2]]);
            o[1] = step(&coef, &mut x1, &mut y1, [v[1], v[1], v[3], v[3]]);
        }
        (self.x1, self.y1) = (x1, y1);
    }

    /// Downsample a packed block: two input entries (four samples per channel) give one
    /// output entry (two samples per channel).
    #[inline(never)]
    pub(crate) fn down_block(&mut self, input: &[[f32; 4]], output: &mut [[f32; 4]]) {
        let (coef, mut x1, mut y1) = (self.coef, self.x1, self.y1);
        for (i, o) in input.chunks_exact(2).zip(output.iter_mut()) {
            let a = step(&coef, &mut x1, &mut y1, [i[0][1], i[0][0], i[0][3], i[0][2]]);
            let b = step(&coef, &mut x1, &mut y1, [i[1][1], i[1][0], i[1][3], i[1][2]]);
            *o = [0.5 * (a[0] + a[1]), 0.5 * (b[0] + b[1]), 0.5 * (a[2] + a[3]), 0.5 * (b[2] + b[3])];
        }
        (self.x1, self.y1) = (x1, y1);
    }
}

/// One step of `S` cascaded allpass sections on four lanes.
#[inline(always)]
fn step<const S: usize>(
    coef: &[[f32; 4]; S],
    x1: &mut [[f32; 4]; S],
    y1: &mut [[f32; 4]; S],
    mut v: [f32; 4],
) -> [f32; 4] {
    for k in 0..S {
        let a = coef[k];
        let mut y = [0.0; 4];
        for j in 0..4 {
            // (a·x + x1) does not depend on the previous output: only one multiply and one
            // subtraction sit on the recursive path.
            y[j] = (a[j] * v[j] + x1[k][j]) - a[j] * y1[k][j];
        }
        x1[k] = v;
        y1[k] = y;
        v = y;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// |H(e^jw)| of the half-band with path 0 on even coefficients.
    fn magnitude(coefs: &[f64], f: f64) -> f64 {
        let w = 2.0 * PI * f;
        let z2 = (-2.0 * w).cos();
        let z2i = (-2.0 * w).sin();
        let section = |a: f64| {
            // (a + z^-2) / (1 + a z^-2)
            let (nr, ni) = (a + z2, z2i);
            let (dr, di) = (1.0 + a * z2, a * z2i);
            let d = dr * dr + di * di;
            ((nr * dr + ni * di) / d, (ni * dr - nr * di) / d)
        };
        let mul = |(ar, ai): (f64, f64), (br, bi): (f64, f64)| (ar * br - ai * bi, ar * bi + ai * br);
        let mut p0 = (1.0, 0.0);
        let mut p1 = ((-w).cos(), (-w).sin());
        for (i, &a) in coefs.iter().enumerate() {
            if i % 2 == 0 {
                p0 = mul(p0, section(a));
            } else {
                p1 = mul(p1, section(a));
            }
        }
        0.5 * ((p0.0 + p1.0).powi(2) + (p0.1 + p1.1).powi(2)).sqrt()
    }

    #[test]
    fn design_meets_its_stopband_and_passband() {
        for (n, tbw) in [(4, 0.22), (8, 0.06), (10, 0.06), (12, 0.04)] {
            let c = design(n, tbw);
            let att = attenuation_db(n, tbw);
            let mut worst_stop = f64::MAX;
            let mut worst_pass: f64 = 0.0;
            for i in 0..=1000 {
                let f_stop = 0.25 + tbw / 2.0 + (0.5 - 0.25 - tbw / 2.0) * i as f64 / 1000.0;
                worst_stop = worst_stop.min(-20.0 * magnitude(&c, f_stop.min(0.4999)).log10());
                let f_pass = (0.25 - tbw / 2.0) * i as f64 / 1000.0;
                worst_pass = worst_pass.max((20.0 * magnitude(&c, f_pass).log10()).abs());
            }
            println!("n {n} tbw {tbw}: predicted {att:.1} dB, stopband {worst_stop:.1} dB, passband ripple {worst_pass:.2e} dB, gd(1/96) {:.2}", group_delay(&c, 1.0 / 96.0));
            assert!(worst_stop > att - 0.5, "stopband {worst_stop} below predicted {att}");
            assert!(worst_pass < 1e-3);
        }
    }

    #[test]
    fn up_then_down_passes_low_frequencies() {
        let (mut up1, mut up2) = (HalfBand::<4>::new(0.045), HalfBand::<2>::new(0.22));
        let (mut down1, mut down2) = (HalfBand::<4>::new(0.045), HalfBand::<2>::new(0.22));
        let n = 4800;
        let x: Vec<f32> = (0..n).map(|i| (2.0 * PI * 1000.0 * i as f64 / 48_000.0).sin() as f32).collect();
        let mut b1: Vec<[f32; 4]> = x.iter().map(|&v| [v, 0.0, -v, 0.0]).collect();
        let mut b2 = vec![[0.0f32; 4]; 2 * n];
        up1.up_in_place(&mut b1);
        up2.up_block(&b1, &mut b2);
        down2.down_block(&b2, &mut b1);
        let (mut l, mut r) = (vec![0.0; n], vec![0.0; n]);
        down1.down_to(&b1, &mut l, &mut r);
        assert!(l.iter().zip(&r).all(|(a, b)| (a + b).abs() < 1e-6));
        let peak = l[2400..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((peak - 1.0).abs() < 1e-3, "peak {peak}");
        // Delayed by the filters' group delay (about 5 samples), not more.
        let lag = (0..20).max_by(|&a, &b| {
            let c = |d: usize| (2400..4000).map(|i| l[i] * x[i - d]).sum::<f32>();
            c(a).partial_cmp(&c(b)).unwrap()
        });
        assert!(matches!(lag, Some(4..=6)), "lag {lag:?}");
    }
}
