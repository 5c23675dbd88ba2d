//! The MFCC baseline style metric.
//!
//! # Feature definition
//! Per channel (mid, side), with `B` mel bands (64), `K` coefficients (20), `G = √B / 2` (4),
//! and `T` frames from the [front end](super::frontend) (log-mel in dB, floored at −100 dB):
//!
//! 1. **Pink-relative log-mel**: `x[t][b] = dB[t][b] − pink[b]`, where `pink[b]` is the band level
//!    of pink noise (power density ∝ 1/f) through the same triangles, in closed form
//!    (`∫ tri_b(f)/f df`), shifted to mean 0 over bands. Music's long-term spectrum is roughly pink,
//!    so this centres the features: "flat" means "as balanced as pink noise", and cosine similarity
//!    then compares deviations in the manner of a correlation instead of being dominated by the
//!    spectral tilt that nearly every recording shares.
//! 2. **MFCC**: `c[t][k] = Σ_b D[k][b]·x[t][b]`, orthonormal DCT-II
//!    (`D[k][b] = s_k·cos(πk(b+½)/B)`, `s_0 = √(1/B)`, `s_k = √(2/B)`), `k = 0..K`.
//!    Orthonormal means Parseval: Euclidean distances between coefficient vectors are L2 distances
//!    between the (cepstrally smoothed) log-mel spectra, in dB. This *is* the standardisation:
//!    every coefficient is in the same unit, so no per-coefficient constant is fitted. We do not
//!    lifter (the usual 1 + L/2·sin(πk/L) boost of high coefficients): high quefrencies carry
//!    pitch and formant detail, i.e. content, while EQ, tilt and band-limiting — style — live in
//!    the low coefficients that the plain orthonormal scale already weights most.
//! 3. **Summaries** over frames: mean `μ_k` and population standard deviation `σ_k` of each `c_k`.
//! 4. **Embedding** (length `2K`):
//!    - `[0]` mid: **level** `G·20·tanh((ℓ + 20)/20)`, `ℓ` = energy-mean power of the band sum in
//!      dB (re a constant ±1 signal), i.e. RMS level within 20 Hz–16 kHz. It replaces `μ_0`, which
//!      is `√B`× the level and would dominate: level is style, so it stays, but centred on the −20
//!      dBFS alignment level, bounded to ±20 dB and weighted `G` — a 1 dB level change counts like a
//!      1 dB shelf over a quarter of the bands.
//!    - `[0]` side: **width** `G·20·(2ρ − 1)`, `ρ = (P_mid − P_side)/(P_mid + P_side)` over the whole
//!      clip (the correlation meter reading: 1 mono, 0 unrelated channels, −1 anti-phase), so
//!      stereo width is measured relative to the mid, independent of loudness. Silence counts as mono.
//!    - `[1..K]`: spectral shape `μ_1..μ_{K−1}` in dB, unclipped (a band-limit is real style).
//!    - `[K]`: **level dynamics** `G·12·tanh(((σ_0 − n_0)/√B)/12)`: `σ_0/√B` is the standard
//!      deviation of the frame level (mean band dB) over time; less the
//!      value `n_0/√B` that stationary white noise shows, soft-clipped at 12 dB (digital silence
//!      between notes would otherwise give tens of dB and swamp everything else).
//!    - `[K+k]`, `k = 1..K`: **shape dynamics** `24·tanh((σ_k − n_k)/24)`.
//!
//!    `n_k` is the standard deviation of `c_k` for stationary white noise through the same front
//!    end (8 s at 48 kHz from a fixed xorshift32 seed, computed when the metric is built): the
//!    estimation noise of a short-time spectrum, present in every signal. Subtracting it puts the
//!    zero of the dynamics features at "as steady as noise" instead of letting that constant
//!    offset inflate every similarity. Compression and reverb lower `σ`, gating raises it.
//!
//! # Limits
//! Fixed features cannot separate content from style: an EQ adds the same vector `Δ` to every
//! content's shape features, so "A+EQ is nearer B+EQ than B" fails whenever B already differs from A
//! along `Δ` by more than about `|Δ|/2` (a +24 dB shelf brightens a dark pluck *towards* pink
//! noise bursts). Strong band-limiting (a 1 kHz low-pass) wins for every pair in the tests; the
//! shelf wins 9 of 12. Cosine on centred features is also scale-blind: a deviation from pink and
//! twice that deviation score 1.
//!
//! Both mid and side get the same treatment, so a mono signal's side is silence at the floor: its
//! embedding is a fixed, non-zero vector and two mono signals' sides have similarity exactly 1.
//! Embeddings at different sample rates compare directly (bands are fixed in Hz), except that
//! rates below 32 kHz have empty (floored) bands above their Nyquist frequency, and say so.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::frontend::{dot, FrontEnd, FrontEndSettings};
use super::{Embedding, StyleMetric};
use crate::audio::StereoSource;
use crate::{Error, Result};

/// Settings of [`MfccMetric`]. Defaults are the documented metric; changing any makes
/// embeddings incomparable with ones made under other settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfccSettings {
    /// The log-mel front end.
    pub front_end: FrontEndSettings,
    /// MFCCs per frame, `c_0..c_{K−1}` (embedding length per channel is twice this).
    pub n_coeffs: usize,
    /// Level that maps to 0 in the level feature, dB re a constant ±1 signal (RMS dBFS).
    pub level_ref_db: f32,
    /// Soft-clip range of the level feature, dB.
    pub level_range_db: f32,
    /// Range of the width feature: correlation 1 (mono) and 0 map to ±this, in dB-equivalents.
    pub width_range_db: f32,
    /// Soft-clip range of the level-dynamics feature, dB.
    pub level_dyn_range_db: f32,
    /// Soft-clip range of the shape-dynamics features, dB (orthonormal-DCT units).
    pub shape_dyn_range_db: f32,
}

impl Default for MfccSettings {
    fn default() -> Self {
        Self {
            front_end: FrontEndSettings::default(),
            n_coeffs: 20,
            level_ref_db: -20.0,
            level_range_db: 20.0,
            width_range_db: 20.0,
            level_dyn_range_db: 12.0,
            shape_dyn_range_db: 24.0,
        }
    }
}

impl MfccSettings {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.front_end.validate()?;
        if self.n_coeffs < 2 || self.n_coeffs > self.front_end.n_mels {
            return Err(Error::invalid(
                format!("mfcc: n_coeffs = {} is out of range", self.n_coeffs),
                format!("use 2..=n_mels ({}) coefficients", self.front_end.n_mels),
            ));
        }
        let ranges = [
            ("level_range_db", self.level_range_db),
            ("width_range_db", self.width_range_db),
            ("level_dyn_range_db", self.level_dyn_range_db),
            ("shape_dyn_range_db", self.shape_dyn_range_db),
        ];
        for (name, v) in ranges {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::invalid(
                    format!("mfcc: {name} = {v} must be positive"),
                    "use a positive number of dB",
                ));
            }
        }
        if !self.level_ref_db.is_finite() {
            return Err(Error::invalid("mfcc: level_ref_db is not finite", "use a level in dB, e.g. -20"));
        }
        Ok(())
    }
}

/// Orthonormal DCT-II of `n_in` points, first `n_out` coefficients, as a dense matrix.
#[derive(Debug, Clone)]
pub struct Dct {
    n_in: usize,
    n_out: usize,
    matrix: Vec<f32>,
}

impl Dct {
    /// `out[k] = s_k·Σ_b x[b]·cos(πk(b+½)/n_in)`, `s_0 = √(1/n_in)`, `s_k = √(2/n_in)`.
    pub fn new(n_in: usize, n_out: usize) -> Self {
        let mut matrix = Vec::with_capacity(n_in * n_out);
        for k in 0..n_out {
            let s = if k == 0 { (1.0 / n_in as f64).sqrt() } else { (2.0 / n_in as f64).sqrt() };
            for b in 0..n_in {
                matrix.push(
                    (s * (std::f64::consts::PI * k as f64 * (b as f64 + 0.5) / n_in as f64).cos()) as f32,
                );
            }
        }
        Self { n_in, n_out, matrix }
    }

    /// Writes the first `n_out` coefficients of `x` (length `n_in`) into `out` (length `n_out`).
    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(x.len(), self.n_in);
        for (o, row) in out.iter_mut().zip(self.matrix.chunks_exact(self.n_in)).take(self.n_out) {
            *o = dot(row, x);
        }
    }
}

/// Band levels (dB, mean 0 over bands) of pink noise through the triangles with these edges.
pub fn pink_reference_db(edges_hz: &[f64]) -> Vec<f32> {
    let levels: Vec<f64> = edges_hz
        .windows(3)
        .map(|e| {
            let (l, c, u) = (e[0], e[1], e[2]);
            // ∫_l^c (f−l)/(c−l)/f df and ∫_c^u (u−f)/(u−c)/f df.
            let rising = if l > 0.0 { 1.0 - l / (c - l) * (c / l).ln() } else { 1.0 };
            let falling = u / (u - c) * (u / c).ln() - 1.0;
            10.0 * (rising + falling).log10()
        })
        .collect();
    let mean = levels.iter().sum::<f64>() / levels.len() as f64;
    levels.iter().map(|v| (v - mean) as f32).collect()
}

/// Everything derived from the settings alone; shared between clones.
#[derive(Debug)]
struct Constants {
    dct: Dct,
    pink: Vec<f32>,
    /// Standard deviation of each `c_k` for stationary white noise.
    noise_std: Vec<f32>,
}

/// Running sums of one channel over frames.
#[derive(Debug, Clone)]
struct Sums {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    /// Σ over frames of the band-power sum above the floor.
    power: f64,
}

impl Sums {
    fn new(k: usize) -> Self {
        Self { sum: vec![0.0; k], sum_sq: vec![0.0; k], power: 0.0 }
    }

    fn clear(&mut self) {
        self.sum.fill(0.0);
        self.sum_sq.fill(0.0);
        self.power = 0.0;
    }

    /// Adds one frame: pink-relative dB → MFCC → sums; and the frame's power.
    fn add(
        &mut self,
        consts: &Constants,
        x: &mut [f32],
        c: &mut [f32],
        db: &[f32],
        power: &[f32],
        floor: f32,
    ) {
        for ((xv, &d), &p) in x.iter_mut().zip(db).zip(&consts.pink) {
            *xv = d - p;
        }
        consts.dct.apply(x, c);
        for ((s, q), &v) in self.sum.iter_mut().zip(self.sum_sq.iter_mut()).zip(c.iter()) {
            let v = v as f64;
            *s += v;
            *q += v * v;
        }
        self.power += power.iter().map(|&p| (p - floor).max(0.0)).sum::<f32>() as f64;
    }

    fn mean(&self, k: usize, n: f64) -> f32 {
        (self.sum[k] / n) as f32
    }

    fn std(&self, k: usize, n: f64) -> f32 {
        let m = self.sum[k] / n;
        (self.sum_sq[k] / n - m * m).max(0.0).sqrt() as f32
    }
}

/// How many front ends (one per sample rate) a metric keeps planned.
const FRONT_END_CACHE: usize = 4;

/// The MFCC baseline [`StyleMetric`]; see the [module docs](self) for the exact features.
#[derive(Clone)]
pub struct MfccMetric {
    settings: MfccSettings,
    consts: Arc<Constants>,
    front_ends: Vec<FrontEnd>,
    x: Vec<f32>,
    c: Vec<f32>,
    mid: Sums,
    side: Sums,
}

impl std::fmt::Debug for MfccMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfccMetric").field("settings", &self.settings).finish()
    }
}

impl MfccMetric {
    /// The metric with default settings.
    pub fn new() -> Self {
        Self::with_settings(MfccSettings::default()).expect("default MFCC settings are valid")
    }

    /// The metric with these settings (validated). Calibrates the noise floor of the dynamics
    /// features, which takes a few milliseconds.
    pub fn with_settings(settings: MfccSettings) -> Result<Self> {
        settings.validate()?;
        let n_mels = settings.front_end.n_mels;
        let k = settings.n_coeffs;
        let mut consts = Constants {
            dct: Dct::new(n_mels, k),
            pink: pink_reference_db(&settings.front_end.band_edges_hz()),
            noise_std: vec![0.0; k],
        };
        let mut fe = FrontEnd::new(&settings.front_end, 48_000)?;
        consts.noise_std = noise_std(&mut fe, &consts)?;
        Ok(Self {
            consts: Arc::new(consts),
            front_ends: vec![fe],
            x: vec![0.0; n_mels],
            c: vec![0.0; k],
            mid: Sums::new(k),
            side: Sums::new(k),
            settings,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &MfccSettings {
        &self.settings
    }

    /// Embedding length per channel.
    pub fn dim(&self) -> usize {
        2 * self.settings.n_coeffs
    }

    /// The planned front end for `sample_rate`, building (and caching) it if needed.
    fn front_end_index(&mut self, sample_rate: u32) -> Result<usize> {
        if let Some(i) = self.front_ends.iter().position(|f| f.sample_rate() == sample_rate) {
            return Ok(i);
        }
        let fe = FrontEnd::new(&self.settings.front_end, sample_rate)?;
        if self.front_ends.len() >= FRONT_END_CACHE {
            self.front_ends.remove(0);
        }
        self.front_ends.push(fe);
        Ok(self.front_ends.len() - 1)
    }
}

impl Default for MfccMetric {
    fn default() -> Self {
        Self::new()
    }
}

/// Standard deviation of each `c_k` for 8 s of white noise at 48 kHz (xorshift32, fixed seed).
fn noise_std(fe: &mut FrontEnd, consts: &Constants) -> Result<Vec<f32>> {
    let mut state: u32 = 0x9E37_79B9;
    let noise: Vec<f32> = (0..8 * 48_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Uniform in [−0.5, 0.5): RMS −15 dB, far above the floor in every band.
            (state as f64 / 4_294_967_296.0 - 0.5) as f32
        })
        .collect();
    let k = consts.noise_std.len();
    let mut sums = Sums::new(k);
    let (mut x, mut c) = (vec![0.0; fe.n_mels()], vec![0.0; k]);
    let floor = 10f32.powf(fe.settings().floor_db / 10.0);
    let n = fe.process_mono(&noise, |power, db| sums.add(consts, &mut x, &mut c, db, power, floor))? as f64;
    Ok((0..k).map(|i| sums.std(i, n)).collect())
}

impl StyleMetric for MfccMetric {
    fn name(&self) -> &str {
        "mfcc"
    }

    fn embed(&mut self, left: &[f32], right: &[f32], sample_rate: u32) -> Result<Embedding> {
        let i = self.front_end_index(sample_rate)?;
        let Self { settings, consts, front_ends, x, c, mid, side } = self;
        let fe = &mut front_ends[i];
        let floor = 10f32.powf(settings.front_end.floor_db / 10.0);
        mid.clear();
        side.clear();
        let n = fe.process_ms(left, right, |fr| {
            mid.add(consts, x, c, fr.mid_db, fr.mid_power, floor);
            side.add(consts, x, c, fr.side_db, fr.side_power, floor);
        })? as f64;
        Ok(summarise(settings, consts, mid, side, n))
    }

    /// Streams: frames are analysed a few thousand at a time as the source delivers them, in
    /// the same order with the same sums as [`MfccMetric::embed`], so the embedding is the same.
    fn embed_source(&mut self, source: &mut dyn StereoSource) -> Result<Embedding> {
        let i = self.front_end_index(source.sample_rate())?;
        let total = source.frames() as usize;
        let (window, hop, _) = self.front_ends[i].sizes();
        if total < window {
            let (l, r) = super::read_all(source)?;
            return self.embed(&l, &r, source.sample_rate());
        }
        let Self { settings, consts, front_ends, x, c, mid, side } = self;
        let fe = &mut front_ends[i];
        let floor = 10f32.powf(settings.front_end.floor_db / 10.0);
        mid.clear();
        side.clear();
        let n_frames = fe.n_frames(total);
        let per_pass = (crate::render::STREAM_FRAMES / hop).max(1);
        let span = (per_pass - 1) * hop + window;
        let (mut l, mut r) = (vec![0.0f32; span], vec![0.0f32; span]);
        let (mut have, mut done) = (0, 0);
        while done < n_frames {
            let k = per_pass.min(n_frames - done);
            let need = (k - 1) * hop + window;
            super::read_exact(source, &mut l[have..need], &mut r[have..need])?;
            let got = fe.process_ms(&l[..need], &r[..need], |fr| {
                mid.add(consts, x, c, fr.mid_db, fr.mid_power, floor);
                side.add(consts, x, c, fr.side_db, fr.side_power, floor);
            })?;
            debug_assert_eq!(got, k);
            // The next frame starts k hops on; keep what it and later frames overlap.
            l.copy_within(k * hop..need, 0);
            r.copy_within(k * hop..need, 0);
            have = need - k * hop;
            done += k;
        }
        // Samples after the last whole frame are not analysed but are checked, as embed does.
        loop {
            let n = source.read_stereo(&mut l, &mut r)?;
            if n == 0 {
                break;
            }
            super::frontend::check_samples(&l[..n], "left")?;
            super::frontend::check_samples(&r[..n], "right")?;
        }
        Ok(summarise(settings, consts, mid, side, n_frames as f64))
    }

    fn boxed_clone(&self) -> Box<dyn StyleMetric> {
        Box::new(self.clone())
    }
}

/// The embedding from the per-frame sums of `n` frames (module docs, step 4).
fn summarise(s: &MfccSettings, consts: &Constants, mid: &Sums, side: &Sums, n: f64) -> Embedding {
    let floor = 10f32.powf(s.front_end.floor_db / 10.0);
    let k = s.n_coeffs;
    let sqrt_b = (s.front_end.n_mels as f32).sqrt();
    let g = 0.5 * sqrt_b;
    let soft = |v: f32, range: f32| range * (v / range).tanh();

    let level_db = 10.0 * (mid.power / n).max(floor as f64).log10() as f32;
    let (pm, ps) = (mid.power, side.power);
    let rho = if pm + ps > 0.0 { ((pm - ps) / (pm + ps)) as f32 } else { 1.0 };
    let heads =
        [g * soft(level_db - s.level_ref_db, s.level_range_db), g * s.width_range_db * (2.0 * rho - 1.0)];

    let build = |sums: &Sums, head: f32| {
        let mut v = Vec::with_capacity(2 * k);
        v.push(head);
        v.extend((1..k).map(|i| sums.mean(i, n)));
        let level_dyn = (sums.std(0, n) - consts.noise_std[0]) / sqrt_b;
        v.push(g * soft(level_dyn, s.level_dyn_range_db));
        v.extend((1..k).map(|i| soft(sums.std(i, n) - consts.noise_std[i], s.shape_dyn_range_db)));
        v
    };
    Embedding { mid: build(mid, heads[0]), side: build(side, heads[1]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{similarity, similarity_parts};
    use std::f64::consts::{PI, TAU};

    const SR: u32 = 48_000;

    /// Deterministic uniform noise in [−0.5, 0.5).
    struct Rng(u32);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f64 / 4_294_967_296.0 - 0.5) as f32
        }
    }

    /// RBJ-cookbook biquad, direct form I.
    #[derive(Clone, Copy)]
    struct Biquad {
        b: [f64; 3],
        a: [f64; 2],
    }
    impl Biquad {
        fn lowpass(f: f64, q: f64, sr: u32) -> Self {
            let w = TAU * f / sr as f64;
            let alpha = w.sin() / (2.0 * q);
            let a0 = 1.0 + alpha;
            let c = w.cos();
            Self {
                b: [(1.0 - c) / 2.0 / a0, (1.0 - c) / a0, (1.0 - c) / 2.0 / a0],
                a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            }
        }
        fn high_shelf(f: f64, gain_db: f64, sr: u32) -> Self {
            let a = 10f64.powf(gain_db / 40.0);
            let w = TAU * f / sr as f64;
            let (s, c) = (w.sin(), w.cos());
            let alpha = s / 2.0 * 2f64.sqrt(); // shelf slope 1
            let k = 2.0 * a.sqrt() * alpha;
            let a0 = (a + 1.0) - (a - 1.0) * c + k;
            Self {
                b: [
                    a * ((a + 1.0) + (a - 1.0) * c + k) / a0,
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * c) / a0,
                    a * ((a + 1.0) + (a - 1.0) * c - k) / a0,
                ],
                a: [2.0 * ((a - 1.0) - (a + 1.0) * c) / a0, ((a + 1.0) - (a - 1.0) * c - k) / a0],
            }
        }
        fn low_shelf(f: f64, gain_db: f64, sr: u32) -> Self {
            let a = 10f64.powf(gain_db / 40.0);
            let w = TAU * f / sr as f64;
            let (s, c) = (w.sin(), w.cos());
            let alpha = s / 2.0 * 2f64.sqrt(); // shelf slope 1
            let k = 2.0 * a.sqrt() * alpha;
            let a0 = (a + 1.0) + (a - 1.0) * c + k;
            Self {
                b: [
                    a * ((a + 1.0) - (a - 1.0) * c + k) / a0,
                    2.0 * a * ((a - 1.0) - (a + 1.0) * c) / a0,
                    a * ((a + 1.0) - (a - 1.0) * c - k) / a0,
                ],
                a: [-2.0 * ((a - 1.0) + (a + 1.0) * c) / a0, ((a + 1.0) + (a - 1.0) * c - k) / a0],
            }
        }
        fn run(&self, x: &[f32]) -> Vec<f32> {
            let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
            x.iter()
                .map(|&v| {
                    let v = v as f64;
                    let y = self.b[0] * v + self.b[1] * x1 + self.b[2] * x2 - self.a[0] * y1 - self.a[1] * y2;
                    (x2, x1, y2, y1) = (x1, v, y1, y);
                    y as f32
                })
                .collect()
        }
    }

    type Stereo = (Vec<f32>, Vec<f32>);

    fn secs(s: f64, sr: u32) -> usize {
        (s * sr as f64) as usize
    }

    /// Decaying pink-noise bursts (drum-like), partly decorrelated between channels.
    fn noise_bursts(sr: u32, seed: u32) -> Stereo {
        let n = secs(3.0, sr);
        let mut rng = Rng(seed);
        let (mut l, mut r) = (vec![0.0f32; n], vec![0.0f32; n]);
        // Paul Kellet's economy pink filter: −3 dB/octave within about ±0.5 dB.
        let mut pink_state = [[0.0f32; 3]; 2];
        let mut pink = |white: f32, ch: usize| {
            let b = &mut pink_state[ch];
            b[0] = 0.99765 * b[0] + white * 0.099_046;
            b[1] = 0.963 * b[1] + white * 0.296_516_4;
            b[2] = 0.57 * b[2] + white * 1.052_691_3;
            b[0] + b[1] + b[2] + white * 0.1848
        };
        let mut start = 0usize;
        while start < n {
            let amp = 0.2 + 0.4 * (rng.next() + 0.5);
            let tau = 0.02 + 0.08 * (rng.next() + 0.5) as f64;
            for i in start..n.min(start + secs(0.4, sr)) {
                let env = amp * (-((i - start) as f64 / sr as f64) / tau).exp() as f32;
                let common = rng.next();
                let (a, b) = (rng.next(), rng.next());
                l[i] += env * pink(common + 0.3 * a, 0);
                r[i] += env * pink(common + 0.3 * b, 1);
            }
            start += secs(0.15 + 0.2 * (rng.next() + 0.5) as f64, sr);
        }
        (l, r)
    }

    /// Karplus–Strong plucked notes (a bright, steel-string loop filter), panned slightly.
    fn plucks(sr: u32, seed: u32) -> Stereo {
        let n = secs(3.0, sr);
        let mut rng = Rng(seed);
        let mut mono = vec![0.0f32; n];
        let notes = [196.0, 246.9, 293.7, 392.0, 329.6, 261.6];
        for (j, f) in notes.iter().enumerate() {
            let start = j * n / notes.len();
            let period = (sr as f64 / f).round() as usize;
            let mut line: Vec<f32> = (0..period).map(|_| rng.next()).collect();
            for (i, m) in mono[start..].iter_mut().enumerate() {
                let k = i % period;
                let v = line[k];
                line[k] = 0.998 * (0.85 * v + 0.15 * line[(k + 1) % period]);
                *m += 0.8 * v;
            }
        }
        let r: Vec<f32> = mono.iter().map(|v| 0.8 * v).collect();
        (mono, r)
    }

    /// A sustained triad of bright additive tones (1/n partials to 12 kHz), swelling in and out.
    fn chord(sr: u32, root: f64) -> Stereo {
        let n = secs(3.0, sr);
        let freqs = [root, root * 1.26, root * 1.498];
        let (mut l, mut r) = (vec![0.0f32; n], vec![0.0f32; n]);
        for (j, &f) in freqs.iter().enumerate() {
            let pan = 0.3 + 0.2 * j as f32;
            for h in 1..=((12_000.0 / f) as usize) {
                let (fh, amp) = (f * h as f64, 0.15 / h as f64);
                let w = TAU * fh / sr as f64;
                let phase = h as f64 * 0.7;
                for i in 0..n {
                    let v = (amp * (w * i as f64 + phase).sin()) as f32;
                    l[i] += v * (1.0 - pan);
                    r[i] += v * pan;
                }
            }
        }
        for i in 0..n {
            let env = (PI * i as f64 / n as f64).sin().powf(0.5) as f32;
            l[i] *= env;
            r[i] *= env;
        }
        (l, r)
    }

    /// Vowel-like syllables: a 120 Hz pulse train through two formant resonators, 4 per second.
    fn syllables(sr: u32, seed: u32) -> Stereo {
        let n = secs(3.0, sr);
        let mut rng = Rng(seed);
        let period = sr as usize / 120;
        let pulses: Vec<f32> =
            (0..n).map(|i| if i % period == 0 { 1.0 } else { 0.0 } + 0.02 * rng.next()).collect();
        let f1 = Biquad::lowpass(700.0, 8.0, sr).run(&pulses);
        let f2 = Biquad::lowpass(1200.0, 6.0, sr).run(&pulses);
        let mono: Vec<f32> = (0..n)
            .map(|i| {
                let syl = (TAU * 4.0 * i as f64 / sr as f64).sin().max(0.0) as f32;
                0.05 * syl * (f1[i] + 0.6 * f2[i])
            })
            .collect();
        (mono.clone(), mono)
    }

    /// Scaled to −20 dB RMS over both channels, like real program material.
    fn normalised(x: Stereo) -> Stereo {
        let p = x.0.iter().chain(&x.1).map(|v| (*v as f64).powi(2)).sum::<f64>() / (2 * x.0.len()) as f64;
        let g = (0.01 / p).sqrt() as f32;
        process(&x, |c| c.iter().map(|v| v * g).collect())
    }

    fn process(x: &Stereo, f: impl Fn(&[f32]) -> Vec<f32>) -> Stereo {
        (f(&x.0), f(&x.1))
    }

    /// 4th-order Butterworth low-pass at 1 kHz.
    fn lowpassed(x: &Stereo) -> Stereo {
        let (a, b) = (Biquad::lowpass(1000.0, 0.5412, SR), Biquad::lowpass(1000.0, 1.3066, SR));
        process(x, |c| b.run(&a.run(c)))
    }

    const SHELF_HZ: f64 = 2000.0;
    const SHELF_DB: f64 = 24.0;

    /// +24 dB high shelf at 2 kHz.
    fn shelved(x: &Stereo) -> Stereo {
        let s = Biquad::high_shelf(SHELF_HZ, SHELF_DB, SR);
        process(x, |c| s.run(c))
    }

    /// BENCHMARK.md's "bright" style at its middle: −23 dB low shelf at 300 Hz, +23 dB high shelf
    /// at 6 kHz.
    fn bright(x: &Stereo) -> Stereo {
        let (lo, hi) = (Biquad::low_shelf(300.0, -23.0, SR), Biquad::high_shelf(6000.0, 23.0, SR));
        process(x, |c| hi.run(&lo.run(c)))
    }

    fn embed(m: &mut MfccMetric, x: &Stereo, sr: u32) -> Embedding {
        m.embed(&x.0, &x.1, sr).unwrap()
    }

    fn finite(e: &Embedding) -> bool {
        e.mid.iter().chain(&e.side).all(|v| v.is_finite())
    }

    #[test]
    fn dct_matches_direct_reference_and_is_orthonormal() {
        let mut rng = Rng(42);
        for (n_in, n_out) in [(64, 20), (64, 64), (40, 13), (7, 7)] {
            let dct = Dct::new(n_in, n_out);
            let x: Vec<f32> = (0..n_in).map(|_| 100.0 * rng.next()).collect();
            let mut out = vec![0.0f32; n_out];
            dct.apply(&x, &mut out);
            for (k, &o) in out.iter().enumerate() {
                let s = if k == 0 { (1.0 / n_in as f64).sqrt() } else { (2.0 / n_in as f64).sqrt() };
                let reference: f64 = s
                    * (0..n_in)
                        .map(|b| x[b] as f64 * (PI * k as f64 * (b as f64 + 0.5) / n_in as f64).cos())
                        .sum::<f64>();
                assert!(
                    (o as f64 - reference).abs() < 1e-4 * reference.abs().max(10.0),
                    "n={n_in} k={k}: {o} vs {reference}"
                );
            }
            if n_in == n_out {
                // Orthonormal: Parseval holds.
                let ex: f64 = x.iter().map(|v| (*v as f64).powi(2)).sum();
                let eo: f64 = out.iter().map(|v| (*v as f64).powi(2)).sum();
                assert!((ex / eo - 1.0).abs() < 1e-5, "Parseval: {ex} vs {eo}");
            }
        }
    }

    #[test]
    fn pink_reference_matches_numeric_integration() {
        let settings = FrontEndSettings::default();
        let edges = settings.band_edges_hz();
        let closed = pink_reference_db(&edges);
        // ∫ tri(f)/f df by the midpoint rule, then the same mean removal.
        let numeric: Vec<f64> = edges
            .windows(3)
            .map(|e| {
                let (l, c, u) = (e[0], e[1], e[2]);
                let steps = 20_000;
                let h = (u - l) / steps as f64;
                let integral: f64 = (0..steps)
                    .map(|i| {
                        let f = l + (i as f64 + 0.5) * h;
                        let tri = if f <= c { (f - l) / (c - l) } else { (u - f) / (u - c) };
                        tri / f * h
                    })
                    .sum();
                10.0 * integral.log10()
            })
            .collect();
        let mean = numeric.iter().sum::<f64>() / numeric.len() as f64;
        for (b, (a, n)) in closed.iter().zip(&numeric).enumerate() {
            assert!((*a as f64 - (n - mean)).abs() < 1e-3, "band {b}: {a} vs {}", n - mean);
        }
        // Pink noise has equal power per octave: above ~1 kHz, where mel bands are nearly
        // constant-Q, neighbouring bands differ by much less than at the bottom.
        assert!((closed[63] - closed[62]).abs() < 0.2);
        assert!(closed[0] > closed[30]);
    }

    #[test]
    fn embed_is_deterministic_and_clones_agree() {
        let mut m = MfccMetric::new();
        let x = plucks(SR, 3);
        let y = noise_bursts(44_100, 9);
        let a = embed(&mut m, &x, SR);
        let b = embed(&mut m, &x, SR);
        assert_eq!(a, b);
        embed(&mut m, &y, 44_100);
        assert_eq!(embed(&mut m, &x, SR), a, "embedding changed after embedding other audio at another rate");
        let mut c = m.boxed_clone();
        assert_eq!(c.embed(&x.0, &x.1, SR).unwrap(), a);
        assert_eq!(c.name(), "mfcc");
        assert_eq!(a.mid.len(), m.dim());
        assert_eq!(a.side.len(), m.dim());
        assert_eq!(similarity(&a, &a), 1.0);
        let e = embed(&mut m, &chord(SR, 220.0), SR);
        assert!(similarity(&e, &e) > 1.0 - 1e-6);
        assert!(similarity(&a, &e) < 0.999);
    }

    /// Four contents at −20 dB RMS; each strong effect applied to every one of them. Processed A
    /// must be nearer processed B than dry B, for every ordered pair (A, B) — so "and vice versa"
    /// too. The low-pass must also be told from the shelf. A fixed-feature metric fails this where
    /// content B already differs from A along the effect's direction by more than half the
    /// effect (a dark pluck is brightened *towards* pink noise bursts); the +24 dB shelf meets that
    /// for a few pairs, so it must win 8 of the 12, with a positive mean margin.
    #[test]
    fn style_ranks_above_content() {
        let mut m = MfccMetric::new();
        let contents: Vec<(&str, Stereo)> = vec![
            ("bursts", normalised(noise_bursts(SR, 1))),
            ("plucks", normalised(plucks(SR, 2))),
            ("chord", normalised(chord(SR, 261.6))),
            ("syllables", normalised(syllables(SR, 3))),
        ];
        type Fx = fn(&Stereo) -> Stereo;
        let fxs: [(&str, Fx); 3] = [("lowpass", lowpassed), ("shelf", shelved), ("bright", bright)];
        let dry: Vec<Embedding> = contents.iter().map(|(_, x)| embed(&mut m, x, SR)).collect();
        let wet: Vec<Vec<Embedding>> = fxs
            .iter()
            .map(|(_, f)| contents.iter().map(|(_, x)| embed(&mut m, &f(x), SR)).collect())
            .collect();
        for (p, (fx_name, _)) in fxs.iter().enumerate() {
            let (mut wins, mut pairs, mut margin_sum, mut worst) = (0, 0, 0.0f32, f32::MAX);
            for a in 0..contents.len() {
                for b in (0..contents.len()).filter(|&b| b != a) {
                    let (na, nb) = (contents[a].0, contents[b].0);
                    let same_wet = similarity(&wet[p][a], &wet[p][b]);
                    let wet_vs_dry = similarity(&wet[p][a], &dry[b]);
                    let dry_dry = similarity(&dry[a], &dry[b]);
                    eprintln!(
                        "{fx_name:>8} {na:>9}→{nb:<9} fx(A)·fx(B) {same_wet:.3}  fx(A)·B {wet_vs_dry:.3}  A·B {dry_dry:.3}"
                    );
                    pairs += 1;
                    wins += usize::from(same_wet > wet_vs_dry);
                    margin_sum += same_wet - wet_vs_dry;
                    worst = worst.min(same_wet - wet_vs_dry);
                    if *fx_name == "lowpass" {
                        assert!(
                            same_wet > wet_vs_dry,
                            "lowpass: {na}+fx vs {nb}+fx = {same_wet:.3} <= vs dry {nb} = {wet_vs_dry:.3}"
                        );
                        let shelf_b = similarity(&wet[p][a], &wet[1][b]);
                        assert!(
                            same_wet > shelf_b,
                            "lowpass: {na}+fx nearer {nb}+shelf ({shelf_b:.3}) than {nb}+lowpass"
                        );
                    }
                }
            }
            let mean = margin_sum / pairs as f32;
            eprintln!("{fx_name}: processed-vs-processed wins {wins}/{pairs}, mean margin {mean:.3}, worst {worst:.3}");
            if *fx_name == "shelf" {
                assert!(
                    wins >= 8 && mean > 0.0,
                    "shelf: style won only {wins}/{pairs} pairs, mean margin {mean:.3}"
                );
            }
        }
    }

    /// A source that hands out at most 1000 frames per read, as a file reader may.
    struct Trickle<'a>(crate::audio::SliceSource<'a>);

    impl StereoSource for Trickle<'_> {
        fn sample_rate(&self) -> u32 {
            self.0.sample_rate()
        }
        fn frames(&self) -> u64 {
            self.0.frames()
        }
        fn read_stereo(&mut self, left: &mut [f32], right: &mut [f32]) -> Result<usize> {
            let n = left.len().min(1000);
            self.0.read_stereo(&mut left[..n], &mut right[..n])
        }
    }

    #[test]
    fn streamed_embedding_equals_the_whole_buffer_one() {
        let mut m = MfccMetric::new();
        for sr in [48_000, 44_100] {
            let (window, hop, _) = FrontEnd::new(&FrontEndSettings::default(), sr).unwrap().sizes();
            let (l, r) = plucks(sr, 9);
            let per_pass = crate::render::STREAM_FRAMES / hop;
            for len in
                [0, 100, window - 1, window, window + 3 * hop + 5, (per_pass + 1) * hop + window, l.len()]
            {
                let (l, r) = (&l[..len], &r[..len]);
                let whole = m.embed(l, r, sr).unwrap();
                let mut src = crate::audio::SliceSource::new(l, r, sr);
                assert_eq!(m.embed_source(&mut src).unwrap(), whole, "{len} frames at {sr} Hz");
                let mut src = Trickle(crate::audio::SliceSource::new(l, r, sr));
                assert_eq!(m.embed_source(&mut src).unwrap(), whole, "{len} frames at {sr} Hz, in pieces");
            }
        }
        // NaN after the last whole frame is still refused.
        let (mut l, r) = plucks(SR, 9);
        *l.last_mut().unwrap() = f32::NAN;
        let mut src = crate::audio::SliceSource::new(&l, &r, SR);
        assert!(m.embed_source(&mut src).is_err());
    }

    #[test]
    fn silence_short_mono_and_long_clips_are_defined() {
        let mut m = MfccMetric::new();
        let sr = SR;
        let silence = (vec![0.0f32; 3 * sr as usize], vec![0.0f32; 3 * sr as usize]);
        let s = embed(&mut m, &silence, sr);
        assert!(finite(&s));
        assert_eq!(similarity(&s, &s), 1.0);
        // Near-silence: finite, and close to silence.
        let tiny = process(&noise_bursts(sr, 5), |c| c.iter().map(|v| v * 1e-9).collect());
        let t = embed(&mut m, &tiny, sr);
        assert!(finite(&t));
        // 10 ms and empty clips.
        let short = noise_bursts(sr, 6);
        let e = m.embed(&short.0[..480], &short.1[..480], sr).unwrap();
        assert!(finite(&e));
        assert!(finite(&m.embed(&[], &[], sr).unwrap()));
        // Mono: the side is silence, so two different mono signals' sides are identical.
        let (p, _) = plucks(sr, 8);
        let (c, _) = chord(sr, 330.0);
        let mono_p = m.embed(&p, &p, sr).unwrap();
        let mono_c = m.embed(&c, &c, sr).unwrap();
        assert!(finite(&mono_p) && finite(&mono_c));
        let (_, mid, side) = similarity_parts(&mono_p, &mono_c);
        assert_eq!(side, 1.0);
        assert!(mid < 0.99);
        assert_eq!(mono_p.side, s.side, "side of a mono signal is not the same as silence's");
        // Width: mono reads ρ = 1, fully decorrelated noise ρ ≈ 0.
        let g = 0.5 * (m.settings().front_end.n_mels as f32).sqrt();
        assert!((mono_p.side[0] - g * 20.0).abs() < 1e-3);
        let n = 3 * sr as usize;
        let mut rng = Rng(77);
        let (l, r): (Vec<f32>, Vec<f32>) = (0..n).map(|_| (rng.next(), rng.next())).unzip();
        let wide = m.embed(&l, &r, sr).unwrap();
        assert!(
            (wide.side[0] + g * 20.0).abs() < 0.05 * g * 20.0,
            "width of decorrelated noise: {}",
            wide.side[0]
        );
    }

    #[test]
    fn ten_minute_clip_is_cheap_finite_and_matches_a_short_one() {
        // 10 minutes at 8 kHz (38 MB) of a stationary signal: the summary must equal the 3 s one's.
        let sr = 8_000;
        let n = 600 * sr as usize;
        let mut rng = Rng(11);
        let lp = Biquad::lowpass(1500.0, 0.7, sr);
        let raw: Vec<f32> =
            (0..n).map(|i| rng.next() + 0.3 * (TAU * 440.0 * i as f64 / sr as f64).sin() as f32).collect();
        let x = lp.run(&raw);
        let y: Vec<f32> = x.iter().map(|v| 0.7 * v).collect();
        let mut m = MfccMetric::new();
        let long = m.embed(&x, &y, sr).unwrap();
        let short = m.embed(&x[..3 * sr as usize], &y[..3 * sr as usize], sr).unwrap();
        assert!(finite(&long));
        let sim = similarity(&long, &short);
        assert!(sim > 0.99, "10 min vs 3 s of the same stationary signal: {sim}");
    }

    #[test]
    fn every_sample_rate_works_and_44k1_matches_48k() {
        let mut m = MfccMetric::new();
        for sr in [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000] {
            let e = embed(&mut m, &noise_bursts(sr, 4), sr);
            assert!(finite(&e), "{sr} Hz");
        }
        assert!(m.embed(&[0.0], &[0.0], 7_000).is_err());
        for (name, x44, x48) in [
            ("chord", chord(44_100, 196.0), chord(48_000, 196.0)),
            ("syllables", syllables(44_100, 1), syllables(48_000, 1)),
        ] {
            let (a, b) = (embed(&mut m, &x44, 44_100), embed(&mut m, &x48, 48_000));
            let sim = similarity(&a, &b);
            eprintln!("{name}: 44.1 vs 48 kHz similarity {sim:.4}");
            assert!(sim > 0.98, "{name}: the same content at 44.1 and 48 kHz: similarity {sim}");
        }
    }

    #[test]
    fn stationary_noise_has_zero_dynamics() {
        // The dynamics features are centred on white noise: other noise, another seed, another
        // rate and level, reads ≈ 0 there.
        let mut m = MfccMetric::new();
        let sr = 44_100;
        let mut rng = Rng(1234);
        let x: Vec<f32> = (0..3 * sr as usize).map(|_| 0.3 * rng.next()).collect();
        let e = m.embed(&x, &x, sr).unwrap();
        let k = m.settings().n_coeffs;
        let dynamics = &e.mid[k..];
        let worst = dynamics.iter().fold(0.0f32, |w, v| w.max(v.abs()));
        assert!(worst < 0.6, "dynamics of stationary noise: {dynamics:?}");
        // A gated version has strong positive level dynamics.
        let gated: Vec<f32> =
            x.iter().enumerate().map(|(i, v)| if (i / 4410) % 2 == 0 { *v } else { 0.01 * v }).collect();
        let g = m.embed(&gated, &gated, sr).unwrap();
        assert!(g.mid[k] > 10.0, "level dynamics of gated noise: {}", g.mid[k]);
    }

    #[test]
    fn level_is_bounded_and_bad_input_is_an_error() {
        let mut m = MfccMetric::new();
        let x = chord(SR, 300.0);
        let g = 0.5 * (m.settings().front_end.n_mels as f32).sqrt();
        let mut heads = Vec::new();
        for gain in [1e-4f32, 1e-2, 1.0, 100.0, 1e4] {
            let y = process(&x, |c| c.iter().map(|v| v * gain).collect());
            let e = embed(&mut m, &y, SR);
            assert!(finite(&e));
            assert!(e.mid[0].abs() <= g * 20.0);
            heads.push(e.mid[0]);
        }
        assert!(heads.windows(2).all(|w| w[1] > w[0]), "level feature not increasing with gain: {heads:?}");
        let mut l = x.0.clone();
        l[777] = f32::NAN;
        let err = m.embed(&l, &x.1, SR).unwrap_err().to_string();
        assert!(err.contains("left channel sample 777 is NaN"), "{err}");
        assert!(m.embed(&x.0, &x.1[..100], SR).is_err());
        // The metric is still usable after an error.
        assert!(finite(&embed(&mut m, &x, SR)));
    }

    #[test]
    fn settings_round_trip_and_validate() {
        let s = MfccSettings { n_coeffs: 13, ..Default::default() };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<MfccSettings>(&json).unwrap(), s);
        let t: MfccSettings = toml::from_str("n_coeffs = 30\n[front_end]\nn_mels = 80\n").unwrap();
        assert_eq!((t.n_coeffs, t.front_end.n_mels, t.front_end.hop_48k), (30, 80, 1024));
        let m = MfccMetric::with_settings(t).unwrap();
        assert_eq!(m.dim(), 60);
        assert!(MfccMetric::with_settings(MfccSettings { n_coeffs: 65, ..Default::default() }).is_err());
        assert!(
            MfccMetric::with_settings(MfccSettings { level_range_db: 0.0, ..Default::default() }).is_err()
        );
    }
}
