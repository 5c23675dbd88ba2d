//! The log-mel front end: STFT, triangular mel filterbank, power in dB.
//!
//! Every style metric (the MFCC baseline now, the trained encoder later) sees audio through this
//! code, and a trained encoder ships its [`FrontEndSettings`] with the model, so what is computed
//! here is a contract. The exact definition, for a mono signal `x` at sample rate `sr`:
//!
//! 1. **Window**: `W = round(window_48k · sr / 48000)` samples, periodic Hann
//!    `w[n] = 0.5 − 0.5·cos(2πn/W)`; hop `H = round(hop_48k · sr / 48000)`. Window and hop are fixed
//!    in *seconds*, so every rate sees the same time/frequency resolution (2048/1024 at 48 kHz:
//!    42.7 ms / 21.3 ms). The frame is zero-padded to `N = W.next_power_of_two()` for the FFT.
//!    The default hop is half the window, not a quarter: Hann at 50 % overlap already weights every
//!    sample equally, the mean/std summaries over a 3 s clip barely change, and it halves the
//!    FFTs (1.5 ms instead of 2.9 ms per 3 s stereo embed, which the matcher pays thousands of
//!    times per match).
//! 2. **Frames**: frame `t` covers samples `t·H .. t·H+W`, `t = 0 .. 1 + (len−W)/H` (integer
//!    division); the last `< H` samples that do not fill a frame are not analysed. A clip shorter
//!    than `W` (including an empty one) gives exactly one frame, the clip centred in it, zeros around.
//! 3. **Power spectrum**: `P[k] = |FFT_N(x·w)[k]|² · 2 / (N · Σw²)` (the Nyquist bin with factor 1).
//!    This scaling makes the band powers independent of `W`, `N` and `sr`: a sine of amplitude `A`
//!    gives its mean-square power `A²/2`, white noise of variance `σ²` gives `σ²·Δf/(sr/2)` in a
//!    band of width `Δf`.
//! 4. **Mel bands**: `n_mels` triangles, equally spaced on the HTK mel scale
//!    `mel(f) = 2595·log10(1 + f/700)` between `f_min_hz` and `f_max_hz` (`n_mels + 2` edge points;
//!    band `b` rises from edge `b` to 1 at edge `b+1` and falls to 0 at edge `b+2`). Peak 1, no area
//!    normalisation: between the first and the last centre the triangles sum to exactly 1 at every
//!    frequency (partition of unity), so a band value is the signal's power in that band and the
//!    bands add up to the total power. A sine at `f` splits its power between the two bands whose
//!    centres enclose `f`, linearly in Hz (the triangles are straight in Hz, as in HTK and librosa). Band edges are in Hz, independent of `sr`; bins above
//!    Nyquist do not exist, so at rates below `2·f_max_hz` the top bands are empty (at the floor).
//! 5. **dB**: `10·log10(max(P_band, 10^(floor_db/10)))`; 0 dB is the power of a constant ±1
//!    signal (a full-scale sine is −3 dB). The logarithm is [`fast_ln`] (error < 1e-5 dB).
//!
//! Stereo input is analysed as mid `(L+R)/2` and side `(L−R)/2`. The planner runs once per
//! instance; every buffer is allocated in [`FrontEnd::new`] and reused, so analysing audio does not
//! allocate.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Lowest sample rate the front end accepts.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest sample rate the front end accepts.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Largest accepted sample magnitude (+120 dBFS). Anything larger is a broken render or unscaled
/// integer data, and squaring it would overflow the FFT's f32 range.
pub const MAX_ABS_SAMPLE: f32 = 1.0e6;

/// Front-end settings. Serialised with a trained model, so the defaults must never change
/// meaning; add fields with defaults instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontEndSettings {
    /// Window length in samples at 48 kHz (other rates scale it, keeping the length in seconds).
    pub window_48k: usize,
    /// Hop in samples at 48 kHz (scaled like the window); 1024 = 50 % overlap.
    pub hop_48k: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lower edge of the lowest band, Hz.
    pub f_min_hz: f32,
    /// Upper edge of the highest band, Hz (fixed, so embeddings at 44.1 and 48 kHz compare).
    pub f_max_hz: f32,
    /// Band powers are floored here (dB re a constant ±1 signal), so silence is finite.
    pub floor_db: f32,
}

impl Default for FrontEndSettings {
    fn default() -> Self {
        Self {
            window_48k: 2048,
            hop_48k: 1024,
            n_mels: 64,
            f_min_hz: 20.0,
            f_max_hz: 16_000.0,
            floor_db: -100.0,
        }
    }
}

impl FrontEndSettings {
    /// Checks the settings; the error says which field is wrong and what range it takes.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String, fix: &str| Err(Error::invalid(what, fix));
        if !(64..=65_536).contains(&self.window_48k) {
            return bad(
                format!("front end: window_48k = {} is out of range", self.window_48k),
                "use 64..=65536 samples (2048 = 42.7 ms)",
            );
        }
        if self.hop_48k == 0 || self.hop_48k > self.window_48k {
            return bad(
                format!("front end: hop_48k = {} is out of range", self.hop_48k),
                "use 1..=window_48k samples",
            );
        }
        if !(2..=512).contains(&self.n_mels) {
            return bad(format!("front end: n_mels = {} is out of range", self.n_mels), "use 2..=512 bands");
        }
        let (lo, hi) = (self.f_min_hz, self.f_max_hz);
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo < hi && hi <= 96_000.0) {
            return bad(
                format!("front end: band range {lo}..{hi} Hz is invalid"),
                "use 0 <= f_min_hz < f_max_hz <= 96000",
            );
        }
        if !(self.floor_db.is_finite() && (-300.0..=0.0).contains(&self.floor_db)) {
            return bad(
                format!("front end: floor_db = {} is out of range", self.floor_db),
                "use -300..=0 dB (-100 is usual)",
            );
        }
        Ok(())
    }

    /// The `n_mels + 2` band edge frequencies in Hz (edge `b+1` is band `b`'s centre).
    pub fn band_edges_hz(&self) -> Vec<f64> {
        let (m_lo, m_hi) = (hz_to_mel(self.f_min_hz as f64), hz_to_mel(self.f_max_hz as f64));
        let n = self.n_mels + 1;
        (0..=n).map(|i| mel_to_hz(m_lo + (m_hi - m_lo) * i as f64 / n as f64)).collect()
    }

    /// Window and hop in samples at `sample_rate`.
    pub fn window_and_hop(&self, sample_rate: u32) -> (usize, usize) {
        let scale = |n: usize| ((n as f64 * sample_rate as f64 / 48_000.0).round() as usize).max(1);
        let window = scale(self.window_48k).max(16);
        (window, scale(self.hop_48k).min(window))
    }
}

/// HTK mel scale.
pub fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// Natural logarithm of a positive, finite, normal `x`, vectorisable.
///
/// `x = m·2^e` with `m` in [√½, √2); `ln m = 2·atanh(u)`, `u = (m−1)/(m+1)`, `|u| ≤ 0.172`, by its
/// series to `u⁷`: truncation error `≤ 2u⁹/9 < 3e-8`. Measured error: < 5e-7 plus one f32 ulp of
/// the result (from adding `e·ln 2`), i.e. below 1e-5 dB for any band level. No fitted constants.
#[inline(always)]
pub fn fast_ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1 } else { e };
    let u = (m - 1.0) / (m + 1.0);
    let u2 = u * u;
    let series = 2.0 * u * (1.0 + u2 * (1.0 / 3.0 + u2 * (1.0 / 5.0 + u2 * (1.0 / 7.0))));
    e as f32 * std::f32::consts::LN_2 + series
}

/// One band's triangle: `weights[w..w+len]` apply to `power[start..start+len]`.
#[derive(Debug, Clone, Copy)]
struct Band {
    start: usize,
    len: usize,
    w: usize,
}

/// Read-only tables shared by all frames.
#[derive(Clone)]
struct Tables {
    window: Vec<f32>,
    /// First FFT bin in the band range; `power[i]` is bin `k_lo + i`.
    k_lo: usize,
    /// Number of bins in the band range.
    n_range: usize,
    /// Triangle weights of all bands, back to back (each bin appears in at most two bands).
    weights: Vec<f32>,
    bands: Vec<Band>,
    /// Index into `power` of the Nyquist bin, when it lies in the band range (weight 1 not 2).
    nyquist: Option<usize>,
    power_scale: f32,
    floor_power: f32,
    n_mels: usize,
}

/// Mutable per-frame work buffers.
#[derive(Clone)]
struct Scratch {
    /// The frame: mid (or mono) in the real part, side in the imaginary part; FFT in place.
    buf: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    power_a: Vec<f32>,
    power_b: Vec<f32>,
}

/// One analysed stereo frame: band powers (linear, floored) and dB values of mid and side.
#[derive(Debug, Clone, Copy)]
pub struct MsFrame<'a> {
    /// Mid band powers, floored at the front end's floor.
    pub mid_power: &'a [f32],
    /// Side band powers, floored.
    pub side_power: &'a [f32],
    /// Mid band levels in dB.
    pub mid_db: &'a [f32],
    /// Side band levels in dB.
    pub side_db: &'a [f32],
}

/// A log-mel spectrogram of mid and side, frames × bands, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    /// Number of frames.
    pub n_frames: usize,
    /// Bands per frame.
    pub n_mels: usize,
    /// Mid, dB, `n_frames × n_mels`.
    pub mid: Vec<f32>,
    /// Side, dB, `n_frames × n_mels`.
    pub side: Vec<f32>,
}

/// The front end, planned for one sample rate. Clone it for another thread.
///
/// Mid and side are real, so one complex FFT of `mid + i·side` gives both spectra
/// (`M[k] = (Z[k] + Z*[N−k])/2`, `S[k] = (Z[k] − Z*[N−k])/2i`): that costs about two thirds of two
/// real FFTs, whose post-processing pass (realfft's) measured 28 % of the whole embed. The FFT is
/// rustfft's, the engine realfft wraps.
#[derive(Clone)]
pub struct FrontEnd {
    settings: FrontEndSettings,
    sample_rate: u32,
    window_len: usize,
    hop: usize,
    n_fft: usize,
    fft: Arc<dyn Fft<f32>>,
    tables: Tables,
    scratch: Scratch,
    a_power: Vec<f32>,
    a_db: Vec<f32>,
    b_power: Vec<f32>,
    b_db: Vec<f32>,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd")
            .field("sample_rate", &self.sample_rate)
            .field("window_len", &self.window_len)
            .field("hop", &self.hop)
            .field("n_fft", &self.n_fft)
            .field("settings", &self.settings)
            .finish()
    }
}

impl FrontEnd {
    /// Plans the FFT and builds the filterbank for `sample_rate` (8 kHz..=192 kHz).
    pub fn new(settings: &FrontEndSettings, sample_rate: u32) -> Result<Self> {
        settings.validate()?;
        check_sample_rate(sample_rate)?;
        let (window_len, hop) = settings.window_and_hop(sample_rate);
        let n_fft = window_len.next_power_of_two();
        let fft = FftPlanner::<f32>::new().plan_fft_forward(n_fft);

        let window: Vec<f32> = crate::audio::hann(window_len).into_iter().map(|w| w as f32).collect();
        let sum_w2: f64 = window.iter().map(|&w| w as f64 * w as f64).sum();
        // 2/(N·Σw²) for the one-sided power, and 1/4 from separating the pair.
        let power_scale = (0.25 * 2.0 / (n_fft as f64 * sum_w2)) as f32;

        // Bins strictly inside the outer edges, up to Nyquist.
        let edges = settings.band_edges_hz();
        let bin_hz = sample_rate as f64 / n_fft as f64;
        let n_bins = n_fft / 2 + 1;
        let k_lo = ((edges[0] / bin_hz).floor() as usize + 1).min(n_bins);
        let last = edges[edges.len() - 1];
        let n_range = (k_lo..n_bins).take_while(|&k| (k as f64 * bin_hz) < last).count();
        let nyquist = (n_range > 0 && k_lo + n_range == n_bins).then(|| n_range - 1);
        // Each band's weights over the bins strictly inside its outer edges.
        let (mut weights, mut bands) = (Vec::new(), Vec::new());
        for e in edges.windows(3) {
            let (l, c, u) = (e[0], e[1], e[2]);
            let w = weights.len();
            let mut start = None;
            for i in 0..n_range {
                let f = (k_lo + i) as f64 * bin_hz;
                if f > l && f < u {
                    start.get_or_insert(i);
                    weights.push(if f <= c { (f - l) / (c - l) } else { (u - f) / (u - c) } as f32);
                }
            }
            bands.push(Band { start: start.unwrap_or(0), len: weights.len() - w, w });
        }
        let n_mels = settings.n_mels;
        let tables = Tables {
            window,
            k_lo,
            power_scale,
            floor_power: 10f32.powf(settings.floor_db / 10.0),
            n_mels,
            nyquist,
            n_range,
            weights,
            bands,
        };
        let zero = Complex::new(0.0f32, 0.0);
        let scratch = Scratch {
            buf: vec![zero; n_fft],
            fft_scratch: vec![zero; fft.get_inplace_scratch_len()],
            power_a: vec![0.0; tables.n_range],
            power_b: vec![0.0; tables.n_range],
        };
        Ok(Self {
            settings: settings.clone(),
            sample_rate,
            window_len,
            hop,
            n_fft,
            fft,
            tables,
            scratch,
            a_power: vec![0.0; n_mels],
            a_db: vec![0.0; n_mels],
            b_power: vec![0.0; n_mels],
            b_db: vec![0.0; n_mels],
        })
    }

    /// The settings this front end was built with.
    pub fn settings(&self) -> &FrontEndSettings {
        &self.settings
    }

    /// The sample rate this front end was planned for.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Window length, hop and FFT size in samples.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.window_len, self.hop, self.n_fft)
    }

    /// Number of mel bands.
    pub fn n_mels(&self) -> usize {
        self.tables.n_mels
    }

    /// Number of frames for a clip of `len` samples (at least 1).
    pub fn n_frames(&self, len: usize) -> usize {
        if len < self.window_len {
            1
        } else {
            1 + (len - self.window_len) / self.hop
        }
    }

    /// Sum of the filterbank weights over the FFT bins, per band (for checks: a band with weight 0
    /// sees no bin).
    pub fn band_weight_sums(&self) -> Vec<f32> {
        let t = &self.tables;
        t.bands.iter().map(|b| t.weights[b.w..b.w + b.len].iter().sum()).collect()
    }

    /// Analyses stereo audio as mid and side, calling `f` once per frame in time order; returns the
    /// number of frames. Errors on unequal lengths or non-finite or huge samples (nothing is
    /// analysed then).
    pub fn process_ms<F: FnMut(&MsFrame<'_>)>(
        &mut self,
        left: &[f32],
        right: &[f32],
        mut f: F,
    ) -> Result<usize> {
        if left.len() != right.len() {
            return Err(Error::invalid(
                format!(
                    "left and right channels differ in length ({} vs {} samples)",
                    left.len(),
                    right.len()
                ),
                "pass two channels of the same length",
            ));
        }
        check_samples(left, "left")?;
        check_samples(right, "right")?;
        let n_frames = self.n_frames(left.len());
        for t in 0..n_frames {
            let (dst, src, n) = self.frame_span(t, left.len());
            let w = &self.tables.window[dst..dst + n];
            let (l, r) = (&left[src..src + n], &right[src..src + n]);
            let buf = &mut self.scratch.buf;
            buf[..dst].fill(Complex::new(0.0, 0.0));
            // Track whether mid or side is exactly zero (silence, or L == R): then that channel is
            // the floor exactly, free of the pair separation's rounding (~1e-14 of the other's power).
            let (mut mid_any, mut side_any) = (0u32, 0u32);
            for (((z, &wv), &lv), &rv) in buf[dst..dst + n].iter_mut().zip(w).zip(l).zip(r) {
                let hw = 0.5 * wv;
                let (m, s) = ((lv + rv) * hw, (lv - rv) * hw);
                mid_any |= m.to_bits() << 1;
                side_any |= s.to_bits() << 1;
                *z = Complex::new(m, s);
            }
            buf[dst + n..].fill(Complex::new(0.0, 0.0));
            self.analyse_pair(mid_any != 0, side_any != 0);
            f(&MsFrame {
                mid_power: &self.a_power,
                side_power: &self.b_power,
                mid_db: &self.a_db,
                side_db: &self.b_db,
            });
        }
        Ok(n_frames)
    }

    /// Analyses one channel, calling `f(band powers, band dB)` once per frame; returns the number
    /// of frames. Gives exactly what [`FrontEnd::process_ms`] gives for mid when `left == right`.
    /// Errors on non-finite or huge samples.
    pub fn process_mono<F: FnMut(&[f32], &[f32])>(&mut self, x: &[f32], mut f: F) -> Result<usize> {
        check_samples(x, "input")?;
        let n_frames = self.n_frames(x.len());
        for t in 0..n_frames {
            let (dst, src, n) = self.frame_span(t, x.len());
            let buf = &mut self.scratch.buf;
            buf[..dst].fill(Complex::new(0.0, 0.0));
            let mut any = 0u32;
            for ((z, &wv), &xv) in
                buf[dst..dst + n].iter_mut().zip(&self.tables.window[dst..dst + n]).zip(&x[src..src + n])
            {
                // The same arithmetic as mid = (l + r)·(0.5·w) with l = r = x.
                let m = (xv + xv) * (0.5 * wv);
                any |= m.to_bits() << 1;
                *z = Complex::new(m, 0.0);
            }
            buf[dst + n..].fill(Complex::new(0.0, 0.0));
            self.analyse_pair(any != 0, false);
            f(&self.a_power, &self.a_db);
        }
        Ok(n_frames)
    }

    /// The whole mid/side log-mel spectrogram (allocates; for encoders and inspection).
    pub fn log_mel_ms(&mut self, left: &[f32], right: &[f32]) -> Result<LogMel> {
        let n_mels = self.tables.n_mels;
        let cap = self.n_frames(left.len()) * n_mels;
        let (mut mid, mut side) = (Vec::with_capacity(cap), Vec::with_capacity(cap));
        let n_frames = self.process_ms(left, right, |fr| {
            mid.extend_from_slice(fr.mid_db);
            side.extend_from_slice(fr.side_db);
        })?;
        Ok(LogMel { n_frames, n_mels, mid, side })
    }

    /// Where frame `t` of a `len`-sample clip goes: (offset in the frame, offset in the clip, count).
    fn frame_span(&self, t: usize, len: usize) -> (usize, usize, usize) {
        if len < self.window_len {
            ((self.window_len - len) / 2, 0, len)
        } else {
            (0, t * self.hop, self.window_len)
        }
    }

    /// FFT of the frame in `scratch.buf`, separated into the real part's (a) and the imaginary
    /// part's (b) band powers and dB. A channel flagged silent is set to the floor.
    fn analyse_pair(&mut self, a_live: bool, b_live: bool) {
        let (t, s) = (&self.tables, &mut self.scratch);
        self.fft.process_with_scratch(&mut s.buf, &mut s.fft_scratch);
        let n = s.power_a.len();
        if n > 0 {
            // Bin k pairs with bin N−k: bins k_lo.. forward against N−k_lo.. backward.
            let (lo, n_fft) = (t.k_lo, s.buf.len());
            let bins = &s.buf[lo..lo + n];
            let mirror = &s.buf[n_fft + 1 - lo - n..=n_fft - lo];
            for (((pa, pb), z), m) in
                s.power_a.iter_mut().zip(s.power_b.iter_mut()).zip(bins).zip(mirror.iter().rev())
            {
                let (sr, di) = (z.re + m.re, z.im - m.im);
                let (dr, si) = (z.re - m.re, z.im + m.im);
                *pa = sr * sr + di * di;
                *pb = dr * dr + si * si;
            }
            if let Some(i) = t.nyquist {
                s.power_a[i] *= 0.5;
                s.power_b[i] *= 0.5;
            }
        }
        bands(t, &s.power_a, a_live, &mut self.a_power, &mut self.a_db);
        bands(t, &s.power_b, b_live, &mut self.b_power, &mut self.b_db);
    }
}

/// Bin powers → floored band powers and dB.
fn bands(t: &Tables, power: &[f32], live: bool, out_power: &mut [f32], out_db: &mut [f32]) {
    for (o, b) in out_power.iter_mut().zip(&t.bands) {
        let p = if live { dot(&power[b.start..b.start + b.len], &t.weights[b.w..b.w + b.len]) } else { 0.0 };
        *o = (p * t.power_scale).max(t.floor_power);
    }
    const DB_PER_NEPER: f32 = 10.0 / std::f32::consts::LN_10;
    for (d, &p) in out_db.iter_mut().zip(out_power.iter()) {
        *d = DB_PER_NEPER * fast_ln(p);
    }
}

/// Dot product with independent accumulators, so it vectorises.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = 0.0f32;
    for (&x, &y) in ar.iter().zip(br) {
        s += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + s
}

/// Errors unless `sample_rate` is within [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
pub fn check_sample_rate(sample_rate: u32) -> Result<()> {
    if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("sample rate {sample_rate} Hz is outside the front end's range"),
            format!("resample to a rate within {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz"),
        ))
    }
}

/// Errors on the first NaN, infinite or huge sample, naming channel and index.
pub(crate) fn check_samples(x: &[f32], channel: &str) -> Result<()> {
    // A branch-free pass first (vectorises); locate only when something is wrong.
    let ok = x.iter().fold(true, |ok, v| ok & (v.abs() <= MAX_ABS_SAMPLE));
    if ok {
        return Ok(());
    }
    let (i, v) = x
        .iter()
        .enumerate()
        .find(|(_, v)| v.is_nan() || v.abs() > MAX_ABS_SAMPLE)
        .map(|(i, v)| (i, *v))
        .unwrap_or((0, f32::NAN));
    Err(Error::invalid(
        format!("{channel} channel sample {i} is {v}: audio must be finite with |x| <= {MAX_ABS_SAMPLE}"),
        "the audio (or the effect chain that rendered it) produced NaN, infinite or runaway values; fix or discard that render",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(f: f64, amp: f32, sr: u32, secs: f64) -> Vec<f32> {
        let n = (secs * sr as f64) as usize;
        (0..n)
            .map(|i| (amp as f64 * (std::f64::consts::TAU * f * i as f64 / sr as f64).sin()) as f32)
            .collect()
    }

    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f64 / 4_294_967_296.0 - 0.5) as f32
            })
            .collect()
    }

    /// Mean band powers (linear) over frames.
    fn mean_power(fe: &mut FrontEnd, x: &[f32]) -> Vec<f64> {
        let mut acc = vec![0.0f64; fe.n_mels()];
        let n = fe
            .process_mono(x, |p, _| {
                for (a, &v) in acc.iter_mut().zip(p) {
                    *a += v as f64;
                }
            })
            .unwrap();
        acc.iter().map(|a| a / n as f64).collect()
    }

    fn db(p: f64) -> f64 {
        10.0 * p.log10()
    }

    #[test]
    fn sine_lands_in_the_band_centred_nearest_it_with_its_power() {
        let settings = FrontEndSettings::default();
        let centres: Vec<f64> = settings.band_edges_hz()[1..=settings.n_mels].to_vec();
        for sr in [48_000, 44_100] {
            let mut fe = FrontEnd::new(&settings, sr).unwrap();
            for f in [80.0, 150.0, 440.0, 1000.0, 1234.0, 2500.0, 5000.0, 7777.0, 12_000.0, 15_000.0] {
                let amp = 0.5f32;
                let p = mean_power(&mut fe, &sine(f, amp, sr, 1.0));
                let total: f64 = p.iter().sum();
                let expected = (amp as f64).powi(2) / 2.0;
                assert!(
                    (total / expected - 1.0).abs() < 0.02,
                    "{sr} Hz, {f} Hz: total band power {total} vs A²/2 = {expected}"
                );
                let argmax = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
                let nearest = (0..centres.len())
                    .min_by(|&a, &b| (centres[a] - f).abs().total_cmp(&(centres[b] - f).abs()))
                    .unwrap();
                // Skip near-ties, where leakage may tip the balance.
                let j = centres.partition_point(|&c| c <= f);
                let alpha = (f - centres[j - 1]) / (centres[j] - centres[j - 1]);
                if (alpha - 0.5).abs() > 0.1 {
                    assert_eq!(
                        argmax, nearest,
                        "{sr} Hz: sine at {f} Hz peaks in band {argmax}, nearest centre is band {nearest}"
                    );
                }
                // The two enclosing bands hold the power, split linearly in Hz.
                let two = p[j - 1] + p[j];
                let min_share = if f < 200.0 { 0.9 } else { 0.99 };
                assert!(
                    two / total > min_share,
                    "{sr} Hz, {f} Hz: enclosing bands hold only {:.3}",
                    two / total
                );
                if f >= 400.0 {
                    assert!((p[j] / two - alpha).abs() < 0.03, "{f} Hz: split {} vs {alpha}", p[j] / two);
                }
            }
        }
    }

    #[test]
    fn filters_cover_the_range_and_sum_to_one() {
        let settings = FrontEndSettings::default();
        let edges = settings.band_edges_hz();
        let (c_first, c_last) = (edges[1], edges[settings.n_mels]);
        for sr in [8_000, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000] {
            let fe = FrontEnd::new(&settings, sr).unwrap();
            let t = &fe.tables;
            let bin_hz = sr as f64 / fe.n_fft as f64;
            let mut cover = vec![0.0f32; t.n_range];
            for b in &t.bands {
                for (c, w) in cover[b.start..b.start + b.len].iter_mut().zip(&t.weights[b.w..b.w + b.len]) {
                    *c += w;
                }
            }
            for (i, c) in cover.iter().enumerate() {
                let f = (t.k_lo + i) as f64 * bin_hz;
                if f >= c_first && f <= c_last {
                    assert!((c - 1.0).abs() < 1e-5, "{sr} Hz: coverage {c} at {f} Hz");
                }
                assert!(*c <= 1.0 + 1e-5);
            }
            let sums = fe.band_weight_sums();
            let nyquist = sr as f64 / 2.0;
            for (b, w) in sums.iter().enumerate() {
                if edges[b + 1] < 0.95 * nyquist {
                    assert!(
                        *w > 0.5,
                        "{sr} Hz: band {b} (centre {:.0} Hz) sees almost no bin: {w}",
                        edges[b + 1]
                    );
                }
                if edges[b] >= nyquist {
                    assert_eq!(*w, 0.0, "{sr} Hz: band {b} lies above Nyquist");
                }
            }
        }
    }

    #[test]
    fn white_noise_band_powers_follow_bandwidth() {
        // σ² of uniform [−0.5, 0.5) is 1/12; band power = σ²·(Σ weights·bin_hz)/(sr/2).
        for sr in [44_100, 48_000] {
            let settings = FrontEndSettings::default();
            let mut fe = FrontEnd::new(&settings, sr).unwrap();
            let p = mean_power(&mut fe, &noise(4 * sr as usize, 7));
            let bin_hz = sr as f64 / fe.n_fft as f64;
            for (b, w) in fe.band_weight_sums().iter().enumerate().skip(8) {
                let expected = (1.0 / 12.0) * (*w as f64 * bin_hz) / (sr as f64 / 2.0);
                let err = db(p[b]) - db(expected);
                assert!(err.abs() < 0.5, "{sr} Hz band {b}: {:.2} dB vs {:.2} dB", db(p[b]), db(expected));
            }
        }
    }

    #[test]
    fn same_sine_at_44k1_and_48k_gives_the_same_profile() {
        let settings = FrontEndSettings::default();
        let mut worst = 0.0f64;
        for f in [220.0, 1000.0, 3300.0, 9000.0] {
            let mut profiles = Vec::new();
            for sr in [44_100, 48_000] {
                let mut fe = FrontEnd::new(&settings, sr).unwrap();
                profiles.push(
                    mean_power(&mut fe, &sine(f, 0.3, sr, 2.0)).iter().map(|&p| db(p)).collect::<Vec<_>>(),
                );
            }
            let peak = profiles[0].iter().cloned().fold(f64::MIN, f64::max);
            for (b, (a, c)) in profiles[0].iter().zip(&profiles[1]).enumerate() {
                let d = (a - c).abs();
                // The bands that hold the sine agree closely; the skirts within 30 dB depend on
                // how each rate's bin grid samples the window's main lobe, to about 2 dB.
                if a.max(*c) > peak - 3.0 {
                    assert!(d < 0.3, "{f} Hz, band {b}: {a:.2} dB at 44.1k vs {c:.2} dB at 48k");
                }
                if a.max(*c) > peak - 30.0 {
                    worst = worst.max(d);
                    assert!(d < 2.0, "{f} Hz, band {b}: {a:.2} dB at 44.1k vs {c:.2} dB at 48k");
                }
            }
        }
        eprintln!("44.1 vs 48 kHz sine profiles: worst band difference {worst:.3} dB (bands within 30 dB of the peak)");

        // A harmonic tone (30 partials of 110 Hz, 1/n amplitudes): broadband, so the grid effects
        // average out.
        let tone = |sr: u32| -> Vec<f32> {
            (0..2 * sr as usize)
                .map(|i| {
                    let t = i as f64 / sr as f64;
                    (1..=30)
                        .map(|n| (std::f64::consts::TAU * 110.0 * n as f64 * t).sin() / n as f64)
                        .sum::<f64>() as f32
                        * 0.2
                })
                .collect()
        };
        let p: Vec<Vec<f64>> = [44_100, 48_000]
            .iter()
            .map(|&sr| {
                mean_power(&mut FrontEnd::new(&settings, sr).unwrap(), &tone(sr))
                    .iter()
                    .map(|&p| db(p))
                    .collect()
            })
            .collect();
        let peak = p[0].iter().cloned().fold(f64::MIN, f64::max);
        let diffs: Vec<f64> =
            p[0].iter().zip(&p[1]).filter(|(a, _)| **a > peak - 20.0).map(|(a, c)| a - c).collect();
        // Above 300 Hz the bands are wide against the window's main lobe and agree closely; the
        // lowest few bands (2–4 bins) see a partial's main-lobe skirt through each rate's own bin
        // grid and can differ by several dB where they sit between partials (a known limit).
        let edges = settings.band_edges_hz();
        let rms = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        let mut abs: Vec<f64> = diffs.iter().map(|d| d.abs()).collect();
        abs.sort_by(f64::total_cmp);
        let median = abs[abs.len() / 2];
        let worst_above_300 = p[0]
            .iter()
            .zip(&p[1])
            .enumerate()
            .filter(|(b, (a, _))| edges[*b] > 300.0 && **a > peak - 40.0)
            .map(|(_, (a, c))| (a - c).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "44.1 vs 48 kHz harmonic tone: median {median:.3} dB, RMS {rms:.3} dB over {} bands; worst above 300 Hz {worst_above_300:.3} dB",
            diffs.len()
        );
        assert!(median < 0.1, "harmonic tone profiles: median difference {median:.2} dB");
        assert!(
            worst_above_300 < 0.3,
            "harmonic tone profiles differ by {worst_above_300:.2} dB above 300 Hz"
        );
    }

    #[test]
    fn fast_ln_matches_ln() {
        // Error against the exact value, less one f32 ulp of the result's own rounding.
        let err = |x: f32| {
            let exact = (x as f64).ln();
            (fast_ln(x) as f64 - exact).abs() - exact.abs() * f32::EPSILON as f64
        };
        let mut worst = 0.0f64;
        let mut x = 1e-30f32;
        while x < 1e30 {
            worst = worst.max(err(x));
            x *= 1.0137;
        }
        for x in [
            1.0f32,
            std::f32::consts::SQRT_2,
            std::f32::consts::FRAC_1_SQRT_2,
            0.707_106_6,
            1e-10,
            2.0,
            0.5,
            0.999_999_9,
            1.000_000_1,
        ] {
            worst = worst.max(err(x));
        }
        assert!(worst < 5e-7, "fast_ln error {worst} beyond f32 rounding");
    }

    #[test]
    fn pair_separation_matches_separate_analysis() {
        let sr = 48_000;
        let n = sr as usize;
        let a = noise(n, 3);
        let b: Vec<f32> =
            noise(n, 11).iter().zip(sine(700.0, 0.2, sr, 1.0)).map(|(x, y)| 0.01 * x + y).collect();
        let (left, right): (Vec<f32>, Vec<f32>) = a.iter().zip(&b).map(|(x, y)| (x + y, x - y)).unzip();
        let mut fe = FrontEnd::new(&FrontEndSettings::default(), sr).unwrap();
        let ms = fe.log_mel_ms(&left, &right).unwrap();
        let mut mono = |x: &[f32]| {
            let mut v = Vec::new();
            fe.process_mono(x, |_, d| v.extend_from_slice(d)).unwrap();
            v
        };
        let (mid, side) = (mono(&a), mono(&b));
        let worst = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(worst(&ms.mid, &mid) < 1e-3, "mid differs by {} dB", worst(&ms.mid, &mid));
        assert!(worst(&ms.side, &side) < 1e-2, "side differs by {} dB", worst(&ms.side, &side));
    }

    #[test]
    fn mono_input_gives_exact_floor_side_and_the_mono_path() {
        let sr = 44_100;
        let x: Vec<f32> =
            noise(sr as usize, 5).iter().zip(sine(300.0, 0.5, sr, 1.0)).map(|(a, b)| a + b).collect();
        let mut fe = FrontEnd::new(&FrontEndSettings::default(), sr).unwrap();
        let ms = fe.log_mel_ms(&x, &x).unwrap();
        assert!(
            ms.side.iter().all(|&d| d == ms.side[0]) && (ms.side[0] + 100.0).abs() < 1e-3,
            "side of mono is not the floor"
        );
        let mut mono = Vec::new();
        fe.process_mono(&x, |_, d| mono.extend_from_slice(d)).unwrap();
        assert_eq!(ms.mid, mono);
    }

    #[test]
    fn short_empty_and_odd_clips_are_defined() {
        let settings = FrontEndSettings::default();
        let mut fe = FrontEnd::new(&settings, 48_000).unwrap();
        for len in [0usize, 1, 480, 2047, 2048, 2049, 3071, 3072] {
            let x = sine(1000.0, 0.5, 48_000, len as f64 / 48_000.0 + 1e-9);
            let x = &x[..len.min(x.len())];
            let m = fe.log_mel_ms(x, x).unwrap();
            assert_eq!(m.n_frames, fe.n_frames(len));
            assert_eq!(m.n_frames, if len < 2048 { 1 } else { 1 + (len - 2048) / 1024 });
            assert!(m.mid.iter().chain(&m.side).all(|v| v.is_finite() && *v >= -100.0 - 1e-3));
            if len == 0 {
                assert!(m.mid.iter().all(|&v| (v + 100.0).abs() < 1e-3), "empty clip is not silence");
            }
            if len == 480 {
                // A 10 ms sine, centred in the window, still shows up at 1 kHz.
                let peak = (0..m.n_mels).max_by(|&a, &b| m.mid[a].total_cmp(&m.mid[b])).unwrap();
                let c = settings.band_edges_hz()[peak + 1];
                assert!((800.0..1250.0).contains(&c), "10 ms sine peaks at band centre {c} Hz");
            }
        }
    }

    #[test]
    fn bad_input_is_an_error_that_names_it() {
        let mut fe = FrontEnd::new(&FrontEndSettings::default(), 48_000).unwrap();
        let mut x = vec![0.1f32; 5000];
        x[1234] = f32::NAN;
        let good = vec![0.1f32; 5000];
        let e = fe.process_ms(&good, &x, |_| {}).unwrap_err().to_string();
        assert!(e.contains("right channel sample 1234 is NaN"), "{e}");
        x[1234] = f32::INFINITY;
        let e = fe.process_ms(&x, &good, |_| {}).unwrap_err().to_string();
        assert!(e.contains("left channel sample 1234 is inf"), "{e}");
        x[1234] = 2e6;
        assert!(fe.process_mono(&x, |_, _| {}).is_err());
        let e = fe.process_ms(&good, &good[..10], |_| {}).unwrap_err().to_string();
        assert!(e.contains("differ in length"), "{e}");
        for sr in [7_999, 192_001, 0] {
            assert!(FrontEnd::new(&FrontEndSettings::default(), sr)
                .unwrap_err()
                .to_string()
                .contains("sample rate"));
        }
        let bad = FrontEndSettings { n_mels: 1, ..Default::default() };
        assert!(FrontEnd::new(&bad, 48_000).unwrap_err().to_string().contains("n_mels"));
    }

    #[test]
    fn analysis_does_not_allocate() {
        let mut fe = FrontEnd::new(&FrontEndSettings::default(), 48_000).unwrap();
        let (l, r) = (noise(48_000, 1), noise(48_000, 2));
        let mut sum = 0.0f32;
        assert_no_alloc::assert_no_alloc(|| {
            fe.process_ms(&l, &r, |fr| sum += fr.mid_db[0] + fr.side_power[5]).unwrap();
            fe.process_mono(&l, |_, d| sum += d[1]).unwrap();
        });
        assert!(sum.is_finite());
    }

    #[test]
    fn settings_round_trip_and_reject_unknown_fields() {
        let s = FrontEndSettings { n_mels: 96, hop_48k: 512, ..Default::default() };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<FrontEndSettings>(&json).unwrap(), s);
        let partial: FrontEndSettings = toml::from_str("n_mels = 40").unwrap();
        assert_eq!(partial, FrontEndSettings { n_mels: 40, ..Default::default() });
        assert!(toml::from_str::<FrontEndSettings>("n_mel = 40").is_err());
        let (w, h) = FrontEndSettings::default().window_and_hop(44_100);
        assert_eq!((w, h), (1882, 941));
    }
}
