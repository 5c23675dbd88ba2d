//! Hand-made style statistics of a stereo signal, the predictor's second input beside the VAE
//! latents.
//!
//! The VAE latent of a 3 s excerpt is a blurred picture of its spectrogram: it tells a bright
//! excerpt from a dark one, but barely a compressed one from an open one, or a signal with an
//! echo from one without (the default chain's predictor on latents alone stopped at a validation
//! parameter error of 0.147 with a train error of 0.138: limited by its input, not by fitting).
//! These statistics measure directly what the chain's effects change: the long-term spectrum
//! (EQ, distortion, tone), its spread over time per band and the level distribution (compression,
//! makeup), the side-to-mid ratio (reverb, width), the onset function's autocorrelation (delay
//! time and feedback), the level's decay slopes (reverb tails, release) and the spectral
//! flatness (distortion, noise). The network sees them for the input and for the reference, so
//! their difference is one linear layer away.
//!
//! Frequencies and times are in Hz and seconds, so the figures hardly depend on the sample rate.
//! Every value is finite, for any input (silence gives the floor values).

use realfft::RealFftPlanner;

use crate::audio::hann;

/// The name of this feature set, written in a predictor's sidecar and dataset manifest.
pub const STYLE_STATS: &str = "style-stats/1";

/// Bands of the long-term spectrum: log-spaced from [`LOW_HZ`] to [`HIGH_HZ`].
pub const BANDS: usize = 24;
/// Broad bands of the side-to-mid ratio (each joins `BANDS / WIDTH_BANDS` bands).
pub const WIDTH_BANDS: usize = 6;
/// Lag bins of the onset autocorrelation, log-spaced from one frame to [`MAX_LAG_SECONDS`].
pub const LAG_BINS: usize = 16;
/// Lowest band edge, Hz.
pub const LOW_HZ: f64 = 40.0;
/// Highest band edge, Hz (or 95 % of Nyquist, if lower).
pub const HIGH_HZ: f64 = 20_000.0;
/// Longest lag of the onset autocorrelation: the default chain's delay reaches 1 s.
pub const MAX_LAG_SECONDS: f64 = 1.2;
/// Power floor (−90 dBFS), so that silence has finite statistics.
const FLOOR: f64 = 1e-9;

/// Number of values [`style_stats`] returns.
pub const STYLE_STATS_LEN: usize = 2 * BANDS + WIDTH_BANDS + 8 + LAG_BINS + 3 + 4;

/// The style statistics of `(left, right)` at `sample_rate`: [`STYLE_STATS_LEN`] values, in order
/// - the mid signal's mean band level, dB ([`BANDS`]);
/// - its standard deviation over frames, dB ([`BANDS`]);
/// - the side-to-mid power ratio, dB ([`WIDTH_BANDS`]);
/// - frame RMS percentiles 5, 25, 50, 75, 95, the overall RMS, the peak and the crest factor, dB;
/// - the onset function's normalised autocorrelation, the maximum in each lag bin ([`LAG_BINS`]);
/// - the mean falling slope of the frame level (dB per frame), its 10th and 90th percentiles;
/// - the spectral centroid (octaves above 1 kHz) and flatness (dB), mean and standard deviation.
///
/// STFT of about 43 ms (2048 samples at 48 kHz), hop a quarter of it.
pub fn style_stats(left: &[f32], right: &[f32], sample_rate: u32) -> Vec<f32> {
    let sr = sample_rate.max(1) as f64;
    let n = left.len().min(right.len());
    let mid: Vec<f64> = (0..n).map(|i| 0.5 * (left[i] as f64 + right[i] as f64)).collect();
    let side: Vec<f64> = (0..n).map(|i| 0.5 * (left[i] as f64 - right[i] as f64)).collect();
    let size = ((2048.0 * sr / 48_000.0).round() as usize).next_power_of_two().max(64);
    let hop = size / 4;
    let window = hann(size);
    let window_energy: f64 = window.iter().map(|w| w * w).sum();
    let starts: Vec<usize> = if n <= size { vec![0] } else { (0..=n - size).step_by(hop).collect() };

    // Band edges as FFT bins, each band at least one bin wide.
    let bin_hz = sr / size as f64;
    let top = HIGH_HZ.min(0.95 * sr / 2.0).max(2.0 * LOW_HZ);
    let mut edges = Vec::with_capacity(BANDS + 1);
    for b in 0..=BANDS {
        let hz = LOW_HZ * (top / LOW_HZ).powf(b as f64 / BANDS as f64);
        let bin = ((hz / bin_hz).round() as usize).clamp(1, size / 2);
        let prev: usize = edges.last().copied().unwrap_or(0);
        edges.push(if b == 0 { bin } else { bin.max(prev + 1).min(size / 2 + 1) });
    }

    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(size);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut power = |x: &[f64], start: usize| -> Vec<f64> {
        for (i, v) in input.iter_mut().enumerate() {
            *v = x.get(start + i).map_or(0.0, |&s| s) * window[i];
        }
        fft.process(&mut input, &mut spectrum).expect("buffers sized by the plan");
        // Scaled so that a band's power is the mean square of its signal (Parseval, one-sided):
        // a sine of amplitude A reads A²/2, as the frame RMS does.
        let scale = 2.0 / (size as f64 * window_energy);
        spectrum.iter().map(|c| c.norm_sqr() * scale).collect()
    };

    let frames = starts.len();
    let mut band_db = vec![vec![0.0f64; BANDS]; frames];
    let mut side_sum = [0.0f64; WIDTH_BANDS];
    let mut mid_sum = [0.0f64; WIDTH_BANDS];
    let mut centroid = Vec::with_capacity(frames);
    let mut flatness = Vec::with_capacity(frames);
    for (t, &start) in starts.iter().enumerate() {
        let pm = power(&mid, start);
        let ps = power(&side, start);
        for b in 0..BANDS {
            let (lo, hi) = (edges[b], edges[b + 1].max(edges[b] + 1).min(pm.len()));
            let m: f64 = pm[lo.min(hi - 1)..hi].iter().sum();
            let s: f64 = ps[lo.min(hi - 1)..hi].iter().sum();
            band_db[t][b] = db(m);
            mid_sum[b * WIDTH_BANDS / BANDS] += m;
            side_sum[b * WIDTH_BANDS / BANDS] += s;
        }
        let (lo, hi) = (edges[0], edges[BANDS].min(pm.len()));
        let bins = &pm[lo..hi.max(lo + 1)];
        let total: f64 = bins.iter().sum::<f64>() + FLOOR;
        let weighted: f64 = bins.iter().enumerate().map(|(k, p)| p * (lo + k) as f64 * bin_hz).sum();
        centroid.push(((weighted / total).max(LOW_HZ) / 1000.0).log2());
        let log_mean = bins.iter().map(|p| (p + FLOOR).ln()).sum::<f64>() / bins.len() as f64;
        flatness.push(10.0 * (log_mean.exp() / (total / bins.len() as f64)).log10());
    }

    let mut out = Vec::with_capacity(STYLE_STATS_LEN);
    let columns: Vec<Vec<f64>> = (0..BANDS).map(|b| band_db.iter().map(|f| f[b]).collect()).collect();
    out.extend(columns.iter().map(|c| mean(c)));
    out.extend(columns.iter().map(|c| std(c)));
    for w in 0..WIDTH_BANDS {
        out.push(db(side_sum[w]) - db(mid_sum[w]));
    }

    // Level distribution over hop-long blocks of the mid signal.
    let block_db: Vec<f64> = if n == 0 {
        vec![db(0.0)]
    } else {
        mid.chunks(hop).map(|c| db(c.iter().map(|v| v * v).sum::<f64>() / c.len() as f64)).collect()
    };
    let mut sorted = block_db.clone();
    sorted.sort_by(f64::total_cmp);
    for q in [0.05, 0.25, 0.5, 0.75, 0.95] {
        out.push(percentile(&sorted, q));
    }
    let rms_db = db(mid.iter().map(|v| v * v).sum::<f64>() / n.max(1) as f64);
    let peak = left[..n].iter().chain(&right[..n]).fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let peak_db = db(peak * peak);
    out.extend([rms_db, peak_db, peak_db - rms_db]);

    // Onset function: the positive band-level increases, summed over bands.
    let onset: Vec<f64> =
        (1..frames).map(|t| (0..BANDS).map(|b| (band_db[t][b] - band_db[t - 1][b]).max(0.0)).sum()).collect();
    out.extend(lag_profile(&onset, hop as f64 / sr));

    // Level slopes between frames where the signal is above the floor.
    let slopes: Vec<f64> = block_db.windows(2).filter(|w| w[0] > -80.0).map(|w| w[1] - w[0]).collect();
    let falling: Vec<f64> = slopes.iter().copied().filter(|d| *d < 0.0).collect();
    let mut sorted_slopes = slopes.clone();
    sorted_slopes.sort_by(f64::total_cmp);
    out.push(if falling.is_empty() { 0.0 } else { mean(&falling) });
    out.push(percentile(&sorted_slopes, 0.1));
    out.push(percentile(&sorted_slopes, 0.9));

    out.extend([mean(&centroid), std(&centroid), mean(&flatness), std(&flatness)]);
    debug_assert_eq!(out.len(), STYLE_STATS_LEN);
    out.into_iter().map(|v| if v.is_finite() { v as f32 } else { 0.0 }).collect()
}

/// The normalised autocorrelation of `x` (mean removed) at lags of one frame up to
/// [`MAX_LAG_SECONDS`], the maximum in each of [`LAG_BINS`] log-spaced bins; 0 where undefined.
fn lag_profile(x: &[f64], frame_seconds: f64) -> Vec<f64> {
    let max_lag = ((MAX_LAG_SECONDS / frame_seconds).round() as usize).max(LAG_BINS);
    let mut bins = vec![0.0; LAG_BINS];
    let m = mean(x);
    let centred: Vec<f64> = x.iter().map(|v| v - m).collect();
    let energy: f64 = centred.iter().map(|v| v * v).sum();
    if energy <= 1e-12 || centred.len() < 2 {
        return bins;
    }
    let mut filled = [false; LAG_BINS];
    for lag in 1..=max_lag.min(centred.len() - 1) {
        let r: f64 = centred[lag..].iter().zip(&centred).map(|(a, b)| a * b).sum::<f64>() / energy;
        // Lag 1 → bin 0, max_lag → the last bin, log-spaced between.
        let pos = (lag as f64).ln() / (max_lag as f64).ln() * (LAG_BINS - 1) as f64;
        let b = (pos.round() as usize).min(LAG_BINS - 1);
        bins[b] = if filled[b] { f64::max(bins[b], r) } else { r };
        filled[b] = true;
    }
    // Bins no integer lag falls in take their lower neighbour's value.
    for b in 1..LAG_BINS {
        if !filled[b] {
            bins[b] = bins[b - 1];
        }
    }
    bins
}

fn db(power: f64) -> f64 {
    10.0 * (power + FLOOR).log10()
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

fn std(x: &[f64]) -> f64 {
    let m = mean(x);
    if x.len() < 2 {
        0.0
    } else {
        (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }
}

/// The `q` quantile of sorted `x` (nearest rank); 0 for an empty slice.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, amp: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * 48_000.0) as usize)
            .map(|i| (amp * (std::f64::consts::TAU * hz * i as f64 / 48_000.0).sin()) as f32)
            .collect()
    }

    fn band_of(hz: f64) -> usize {
        let top = HIGH_HZ.min(0.95 * 24_000.0);
        ((hz / LOW_HZ).ln() / (top / LOW_HZ).ln() * BANDS as f64) as usize
    }

    #[test]
    fn silence_and_short_input_are_finite() {
        for n in [0, 10, 48_000] {
            let z = vec![0.0f32; n];
            let s = style_stats(&z, &z, 48_000);
            assert_eq!(s.len(), STYLE_STATS_LEN);
            assert!(s.iter().all(|v| v.is_finite()), "{s:?}");
        }
    }

    #[test]
    fn a_sine_lights_its_band_and_reads_its_level() {
        let x = sine(1000.0, 0.5, 2.0);
        let s = style_stats(&x, &x, 48_000);
        let band = band_of(1000.0);
        let loudest = (0..BANDS).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(loudest, band);
        // A steady sine: amplitude 0.5 has a mean square of −9 dB, the same in every frame; mono,
        // so no side.
        assert!((s[band] + 9.03).abs() < 1.0, "{}", s[band]);
        let rms = s[2 * BANDS + WIDTH_BANDS + 5];
        assert!((rms + 9.03).abs() < 0.1, "{rms}");
        assert!(s[BANDS + band] < 0.5, "{}", s[BANDS + band]);
        let width = s[2 * BANDS + band * WIDTH_BANDS / BANDS];
        assert!(width < -60.0, "{width}");
        let crest = s[2 * BANDS + WIDTH_BANDS + 7];
        assert!((crest - 3.0).abs() < 0.5, "sine crest {crest}");
    }

    /// An echo at 250 ms shows in the lag bin of 250 ms, not in the input without it.
    #[test]
    fn an_echo_shows_in_the_lag_profile() {
        let sr = 48_000;
        let mut dry = vec![0.0f32; 3 * sr];
        // Clicks at irregular times, so the dry signal has no periodicity of its own.
        let mut t = 1000usize;
        let mut k = 0;
        while t + 2000 < dry.len() {
            for (i, v) in dry[t..t + 2000].iter_mut().enumerate() {
                *v = (0.5 * (-(i as f64) / 300.0).exp() * ((i * 7919 % 97) as f64 / 48.0 - 1.0)) as f32;
            }
            t += [17_000, 23_000, 31_000, 19_000, 41_000][k % 5];
            k += 1;
        }
        let lag = sr / 4;
        let mut wet = dry.clone();
        for i in lag..wet.len() {
            wet[i] += 0.7 * dry[i - lag];
        }
        let at = |x: &[f32]| {
            let s = style_stats(x, x, sr as u32);
            let profile = &s[2 * BANDS + WIDTH_BANDS + 8..][..LAG_BINS];
            let max_lag: f64 = (MAX_LAG_SECONDS / (512.0 / 48_000.0)).round();
            let frames: f64 = 0.25 / (512.0 / 48_000.0);
            profile[(frames.ln() / max_lag.ln() * (LAG_BINS - 1) as f64).round() as usize]
        };
        let (d, w) = (at(&dry), at(&wet));
        assert!(w > d + 0.2, "echo bin: dry {d}, wet {w}");
    }

    #[test]
    fn side_rises_with_width() {
        let l = sine(500.0, 0.3, 1.0);
        let r: Vec<f32> = l.iter().map(|v| -0.5 * v).collect();
        let wide = style_stats(&l, &r, 48_000);
        let mono = style_stats(&l, &l, 48_000);
        let w = 2 * BANDS + band_of(500.0) * WIDTH_BANDS / BANDS;
        assert!(wide[w] > mono[w] + 40.0, "{} vs {}", wide[w], mono[w]);
    }

    #[test]
    fn other_sample_rates_read_alike() {
        let x48 = sine(1000.0, 0.5, 2.0);
        let x44: Vec<f32> = (0..88_200)
            .map(|i| (0.5 * (std::f64::consts::TAU * 1000.0 * i as f64 / 44_100.0).sin()) as f32)
            .collect();
        let a = style_stats(&x48, &x48, 48_000);
        let b = style_stats(&x44, &x44, 44_100);
        let band = band_of(1000.0);
        assert!((a[band] - b[band]).abs() < 1.5, "{} vs {}", a[band], b[band]);
    }
}
