//! The fidelity distance: how far a processed recording is from the *oracle* (the same input
//! through the reference's true processing), measured without the style metric the match
//! optimises, so a search cannot score well here by gaming its own objective.
//!
//! `d(x, y)` compares two stereo recordings of the **same content** at the same sample rate (the
//! shorter length is used). It is the sum of three terms, each in dB:
//!
//! 0. **Level**: each recording is first scaled to −20 dBFS RMS (over both channels), so `d`
//!    ignores a broadband gain: `d(x, g·y) = d(x, y)` for any `g > 0`. The match itself does not
//!    normalise (both metrics see level: the MFCC metric has a bounded level feature centred on
//!    −20 dBFS), but the level that leaves an effect box is set by the player's volume knob and
//!    a reference's level says nothing of its processing, so fidelity leaves it out. The output's
//!    level error is still reported beside `d` ([`Distance::level_db`]), not counted in it.
//! 1. **Spectral** `S`: multi-resolution log-magnitude distance of the mid `(L+R)/2`. For each
//!    FFT size `N` in [`SPECTRAL_FFTS`] (512, 2048 and 8192 samples, 10.7 / 42.7 / 171 ms at
//!    48 kHz): periodic Hann frames, hop `N/4` (a clip shorter than `N` is one zero-padded
//!    frame); per frame, the power in third-octave bands (centres `1000·2^(k/3)` Hz,
//!    `k = −13…13`, i.e. 50 Hz…20 kHz; edges at `centre·2^(±1/6)`; a bin belongs to the band
//!    whose `[lo, hi)` holds its frequency; bands that no bin falls into at this `N` are
//!    skipped); in dB, floored at 60 dB below the loudest band-frame of either recording (what
//!    is that far down is inaudible in a mix). `S_N` = mean over frames and bands of the absolute
//!    dB difference; `S` = mean of `S_N` over the three sizes. EQ, filtering, distortion's added
//!    harmonics and a reverb's or delay's fill between notes all show here.
//! 2. **Dynamics** `E`: on the mid's short-term level `env(t)` = mean square over 20 ms windows
//!    every 5 ms, in dB, floored at 60 dB below the louder recording's loudest window:
//!    `E = (mean_t |env_x − env_y| + |range_x − range_y| + |crest_x − crest_y|) / 3`, where
//!    `range` is the 95th minus the 10th percentile of the windows above the floor (a
//!    loudness range: compression narrows it, a reverb's tail fills the gaps) and `crest` is
//!    `20·log10(peak |mid| / RMS mid)` over the whole recording (limiting and clipping lower it).
//! 3. **Stereo width** `W`: per octave band (centres `63·2^k` Hz, `k = 0…8`, i.e. 63 Hz…16 kHz,
//!    edges at `centre·2^(±1/2)`), the side-to-mid energy ratio `10·log10(P_side / P_mid)` of
//!    Welch spectra (2048-point Hann frames, hop 1024) of the side `(L−R)/2` and the mid,
//!    clamped to [[`WIDTH_FLOOR_DB`], [`WIDTH_CEIL_DB`]] (−20 dB of side is heard as mono; a
//!    side louder than the mid by more than 10 dB is all out of phase either way). `W` = mean
//!    over the bands holding energy (mid + side within 60 dB of the loudest band of either
//!    recording) of the absolute difference; 0 when no band does.
//!
//! `d = S + E + W`. It is symmetric, non-negative and 0 for identical recordings; the floors and
//! clamps make it a semi-metric (no triangle inequality is claimed). The **transfer gain** of an
//! output is `1 − d(output, oracle) / d(input, oracle)`: 1 is the oracle reached, 0 is doing
//! nothing, below 0 is worse than doing nothing.

use realfft::RealFftPlanner;
use serde::Serialize;

use crate::audio::AudioBuffer;
use crate::error::{Error, Result};

/// FFT sizes of the spectral term, in samples (at any rate; the bundled content is 48 kHz).
pub const SPECTRAL_FFTS: [usize; 3] = [512, 2048, 8192];
/// Side-to-mid ratio that counts as mono, dB (the width term's lower clamp).
pub const WIDTH_FLOOR_DB: f64 = -20.0;
/// Upper clamp of the side-to-mid ratio, dB.
pub const WIDTH_CEIL_DB: f64 = 10.0;
/// Range below the loudest value that the spectral and envelope terms look at, dB.
const RANGE_DB: f64 = 60.0;
/// The RMS both recordings are scaled to before comparing (−20 dBFS).
const ALIGN_RMS: f64 = 0.1;
/// Quieter than this (−100 dBFS RMS) is silence: there is no level to align.
const SILENCE_RMS: f64 = 1e-5;

/// `d(x, y)` and its terms (module docs), all in dB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distance {
    /// `d = spectral + dynamics + width`.
    pub total: f64,
    /// Multi-resolution third-octave log-spectral distance of the mid.
    pub spectral: f64,
    /// Short-term level envelope, loudness range and crest factor.
    pub dynamics: f64,
    /// Per-octave side-to-mid ratio.
    pub width: f64,
    /// RMS level of `x` minus that of `y`, dB: reported, not part of `total`.
    pub level_db: f64,
}

/// The transfer gain `1 − d(output, oracle) / d(input, oracle)`.
pub fn transfer_gain(output_to_oracle: f64, input_to_oracle: f64) -> f64 {
    1.0 - output_to_oracle / input_to_oracle
}

/// Mid and side of a recording scaled to −20 dBFS RMS, with its RMS level in dB.
fn mid_side(audio: &AudioBuffer, frames: usize, what: &str) -> Result<(Vec<f64>, Vec<f64>, f64)> {
    let (l, r) = audio.to_stereo();
    let rms = (l[..frames].iter().chain(&r[..frames]).map(|&v| v as f64 * v as f64).sum::<f64>()
        / (2 * frames) as f64)
        .sqrt();
    if !rms.is_finite() || rms < SILENCE_RMS {
        return Err(Error::invalid(
            format!("fidelity: the {what} recording is silent or not finite (RMS {rms:e})"),
            "compare recordings that hold sound: check the render that made it",
        ));
    }
    let g = ALIGN_RMS / rms;
    let mid = l[..frames].iter().zip(&r[..frames]).map(|(&a, &b)| 0.5 * g * (a as f64 + b as f64)).collect();
    let side = l[..frames].iter().zip(&r[..frames]).map(|(&a, &b)| 0.5 * g * (a as f64 - b as f64)).collect();
    Ok((mid, side, 20.0 * rms.log10()))
}

/// The fidelity distance `d(x, y)` (module docs).
pub fn distance(x: &AudioBuffer, y: &AudioBuffer) -> Result<Distance> {
    if x.sample_rate != y.sample_rate {
        return Err(Error::invalid(
            format!("fidelity: sample rates differ ({} vs {} Hz)", x.sample_rate, y.sample_rate),
            "render both recordings at the input's rate",
        ));
    }
    let frames = x.frames().min(y.frames());
    if frames == 0 {
        return Err(Error::invalid("fidelity: a recording is empty", "compare recordings that hold sound"));
    }
    let sr = x.sample_rate as f64;
    let (mx, sx, lx) = mid_side(x, frames, "first")?;
    let (my, sy, ly) = mid_side(y, frames, "second")?;
    let spectral = SPECTRAL_FFTS.iter().map(|&n| spectral_term(&mx, &my, n, sr)).sum::<f64>()
        / SPECTRAL_FFTS.len() as f64;
    let dynamics = dynamics_term(&mx, &my, sr);
    let width = width_term((&mx, &sx), (&my, &sy), sr);
    Ok(Distance { total: spectral + dynamics + width, spectral, dynamics, width, level_db: lx - ly })
}

/// Band `[lo, hi)` edges in Hz: centres `base·2^(k/per_octave)` for `k` in `ks`, half a band
/// either side.
fn bands(base: f64, per_octave: f64, ks: std::ops::RangeInclusive<i32>) -> Vec<(f64, f64)> {
    let half = 2f64.powf(0.5 / per_octave);
    ks.map(|k| base * 2f64.powf(k as f64 / per_octave)).map(|c| (c / half, c * half)).collect()
}

/// Power spectrogram of `x`: Hann frames of `n`, hop `hop`, `n/2 + 1` bins per frame.
fn spectrogram(x: &[f64], n: usize, hop: usize) -> Vec<Vec<f64>> {
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let window = crate::audio::hann(n);
    let (mut frame, mut spectrum) = (vec![0.0; n], fft.make_output_vec());
    let count = if x.len() <= n { 1 } else { 1 + (x.len() - n) / hop };
    (0..count)
        .map(|t| {
            // A clip shorter than one frame sits at the frame's start, zeros after it.
            frame
                .iter_mut()
                .enumerate()
                .for_each(|(i, f)| *f = x.get(t * hop + i).copied().unwrap_or(0.0) * window[i]);
            fft.process(&mut frame, &mut spectrum).expect("sizes from the plan");
            spectrum.iter().map(|c| c.norm_sqr()).collect()
        })
        .collect()
}

/// Sum of bins into bands; bands that hold no bin are left out (the same ones for both inputs).
fn band_powers(spec: &[Vec<f64>], edges: &[(f64, f64)], n: usize, sr: f64) -> Vec<Vec<f64>> {
    let bin_hz = sr / n as f64;
    let ranges: Vec<(usize, usize)> = edges
        .iter()
        .map(|&(lo, hi)| ((lo / bin_hz).ceil() as usize, ((hi / bin_hz).ceil() as usize).min(n / 2 + 1)))
        .filter(|(a, b)| a < b)
        .collect();
    spec.iter().map(|frame| ranges.iter().map(|&(a, b)| frame[a..b].iter().sum()).collect()).collect()
}

fn db(p: f64) -> f64 {
    10.0 * p.max(1e-30).log10()
}

/// `S_N`: mean |dB difference| of the third-octave band powers, over frames and bands.
fn spectral_term(x: &[f64], y: &[f64], n: usize, sr: f64) -> f64 {
    let edges = bands(1000.0, 3.0, -13..=13);
    let to_db = |s: &[f64]| -> Vec<Vec<f64>> {
        band_powers(&spectrogram(s, n, n / 4), &edges, n, sr)
            .into_iter()
            .map(|f| f.into_iter().map(db).collect())
            .collect()
    };
    let (a, b) = (to_db(x), to_db(y));
    let loudest = a.iter().chain(&b).flatten().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let floor = loudest - RANGE_DB;
    let (mut sum, mut count) = (0.0, 0usize);
    for (fa, fb) in a.iter().zip(&b) {
        for (va, vb) in fa.iter().zip(fb) {
            sum += (va.max(floor) - vb.max(floor)).abs();
            count += 1;
        }
    }
    sum / count.max(1) as f64
}

/// 20 ms mean-square level every 5 ms, dB.
fn envelope(x: &[f64], sr: f64) -> Vec<f64> {
    let win = ((0.020 * sr).round() as usize).max(1);
    let hop = ((0.005 * sr).round() as usize).max(1);
    let count = if x.len() <= win { 1 } else { 1 + (x.len() - win) / hop };
    (0..count)
        .map(|t| {
            let s = &x[t * hop..(t * hop + win).min(x.len())];
            db(s.iter().map(|v| v * v).sum::<f64>() / win as f64)
        })
        .collect()
}

/// The `q`-quantile (0…1) of `v` by linear interpolation; `v` must not be empty.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    if i + 1 < v.len() {
        v[i] * (1.0 - frac) + v[i + 1] * frac
    } else {
        v[i]
    }
}

/// `E`: envelope, loudness-range and crest differences (module docs).
fn dynamics_term(x: &[f64], y: &[f64], sr: f64) -> f64 {
    let (ex, ey) = (envelope(x, sr), envelope(y, sr));
    let loudest = ex.iter().chain(&ey).fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let floor = loudest - RANGE_DB;
    let env =
        ex.iter().zip(&ey).map(|(a, b)| (a.max(floor) - b.max(floor)).abs()).sum::<f64>() / ex.len() as f64;
    let range = |e: &[f64]| {
        let mut gated: Vec<f64> = e.iter().copied().filter(|&v| v >= floor).collect();
        if gated.is_empty() {
            0.0
        } else {
            quantile(&mut gated, 0.95) - quantile(&mut gated, 0.10)
        }
    };
    let crest = |s: &[f64]| {
        let peak = s.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let rms = (s.iter().map(|v| v * v).sum::<f64>() / s.len() as f64).sqrt();
        db(peak * peak) - db(rms * rms)
    };
    (env + (range(&ex) - range(&ey)).abs() + (crest(x) - crest(y)).abs()) / 3.0
}

/// `W`: per-octave side-to-mid ratio differences (module docs).
fn width_term(x: (&[f64], &[f64]), y: (&[f64], &[f64]), sr: f64) -> f64 {
    const N: usize = 2048;
    let edges = bands(63.0, 1.0, 0..=8);
    let welch = |s: &[f64]| -> Vec<f64> {
        let per_frame = band_powers(&spectrogram(s, N, N / 2), &edges, N, sr);
        (0..per_frame[0].len()).map(|b| per_frame.iter().map(|f| f[b]).sum()).collect()
    };
    let (xm, xs, ym, ys) = (welch(x.0), welch(x.1), welch(y.0), welch(y.1));
    let energy = |m: &[f64], s: &[f64]| -> Vec<f64> { m.iter().zip(s).map(|(a, b)| a + b).collect() };
    let (ex, ey) = (energy(&xm, &xs), energy(&ym, &ys));
    let loudest = ex.iter().chain(&ey).fold(0.0f64, |m, &v| m.max(v));
    let ratio = |m: f64, s: f64| {
        if m <= 0.0 {
            WIDTH_CEIL_DB
        } else {
            (10.0 * (s / m).max(1e-30).log10()).clamp(WIDTH_FLOOR_DB, WIDTH_CEIL_DB)
        }
    };
    let (mut sum, mut count) = (0.0, 0usize);
    for b in 0..ex.len() {
        if loudest > 0.0 && ex[b].max(ey[b]) >= loudest * 10f64.powf(-RANGE_DB / 10.0) {
            sum += (ratio(xm[b], xs[b]) - ratio(ym[b], ys[b])).abs();
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::white_noise;
    use crate::chain::{instantiate, Chain, ChainSpec, EffectSpec};
    use crate::render::render;

    const SR: u32 = 48_000;

    /// Two seconds of a plucked-note-like signal: decaying noise bursts on a tone, in stereo
    /// with a little width, so every term has something to measure.
    fn content() -> AudioBuffer {
        let n = 2 * SR as usize;
        let noise = white_noise(n, 1.0, 7);
        let noise2 = white_noise(n, 1.0, 8);
        let (mut l, mut r) = (vec![0.0f32; n], vec![0.0f32; n]);
        for i in 0..n {
            let t = i as f32 / SR as f32;
            let env = (-((t * 4.0).fract()) * 12.0).exp();
            let tone = (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 0.4 * (2.0 * std::f32::consts::PI * 1760.0 * t).sin();
            let m = env * (0.3 * tone + 0.1 * noise[i]);
            l[i] = m + 0.02 * env * noise2[i];
            r[i] = m - 0.02 * env * noise2[i];
        }
        AudioBuffer::stereo(SR, l, r)
    }

    /// `audio` through one built-in effect with the given settings (plain units).
    fn through(kind: &str, settings: &[(&str, f64)], audio: &AudioBuffer) -> AudioBuffer {
        instantiate(kind).unwrap();
        let fixed = settings.iter().map(|(k, v)| (k.to_string(), *v as f32)).collect();
        let spec = ChainSpec {
            name: "test".into(),
            description: String::new(),
            effects: vec![EffectSpec {
                id: kind.into(),
                kind: kind.into(),
                uri: None,
                tail: None,
                bypass: false,
                free: Vec::new(),
                fixed,
            }],
            path: None,
        };
        let mut chain = Chain::from_spec(&spec).unwrap();
        render(&mut chain, audio, 0.0).unwrap()
    }

    fn scaled(audio: &AudioBuffer, g: f32) -> AudioBuffer {
        let mut a = audio.clone();
        a.channels.iter_mut().flatten().for_each(|v| *v *= g);
        a
    }

    #[test]
    fn identical_recordings_are_at_distance_zero_whatever_their_level() {
        let x = content();
        let d = distance(&x, &x).unwrap();
        assert_eq!((d.total, d.spectral, d.dynamics, d.width, d.level_db), (0.0, 0.0, 0.0, 0.0, 0.0));
        let louder = distance(&x, &scaled(&x, 4.0)).unwrap();
        assert!(louder.total < 1e-6, "a gain is not a style difference: {louder:?}");
        assert!((louder.level_db + 20.0 * 4f64.log10()).abs() < 1e-3, "level reported: {louder:?}");
    }

    #[test]
    fn distance_is_symmetric() {
        let x = content();
        let y = through("eq", &[("mid1_gain", 9.0), ("mid1_freq", 1500.0)], &x);
        let (a, b) = (distance(&x, &y).unwrap(), distance(&y, &x).unwrap());
        assert!((a.total - b.total).abs() < 1e-9 && a.total > 0.0, "{a:?} vs {b:?}");
        assert!((a.level_db + b.level_db).abs() < 1e-9);
    }

    #[test]
    fn distance_grows_with_an_eq_difference() {
        let x = content();
        let d: Vec<f64> = [2.0, 6.0, 12.0]
            .iter()
            .map(|&g| distance(&x, &through("eq", &[("mid1_gain", g), ("mid1_freq", 1500.0)], &x)).unwrap())
            .map(|d| {
                assert!(d.spectral > d.width, "an EQ is mostly a spectral change: {d:?}");
                d.total
            })
            .collect();
        assert!(d[0] > 0.05 && d.windows(2).all(|w| w[1] > 1.5 * w[0]), "{d:?}");
    }

    #[test]
    fn distance_grows_with_reverb_and_sees_its_width() {
        let x = content();
        let d: Vec<Distance> = [0.15, 0.4, 0.7]
            .iter()
            .map(|&mix| {
                distance(&x, &through("reverb", &[("mix", mix), ("size", 0.8), ("width", 1.0)], &x)).unwrap()
            })
            .collect();
        assert!(d.windows(2).all(|w| w[1].total > w[0].total), "{d:?}");
        assert!(d[2].width > 1.0 && d[2].dynamics > 0.5, "a wide reverb widens and fills: {:?}", d[2]);
    }

    #[test]
    fn compression_shows_in_the_dynamics_term() {
        let x = content();
        let squashed = through(
            "compressor",
            &[("threshold", -30.0), ("ratio", 8.0), ("attack", 1.0), ("release", 50.0), ("makeup", 0.0)],
            &x,
        );
        let d = distance(&x, &squashed).unwrap();
        assert!(d.dynamics > 1.0, "{d:?}");
    }

    #[test]
    fn a_gain_change_inside_the_input_is_not_hidden_by_level_alignment() {
        // Second half 12 dB quieter: same spectrum shape, different dynamics.
        let x = content();
        let mut y = x.clone();
        let half = y.frames() / 2;
        y.channels.iter_mut().for_each(|c| c[half..].iter_mut().for_each(|v| *v *= 0.25));
        let d = distance(&x, &y).unwrap();
        assert!(d.dynamics > 2.0 && d.spectral > 2.0, "{d:?}");
    }

    #[test]
    fn transfer_gain_is_zero_for_the_input_and_one_for_the_oracle() {
        assert_eq!(transfer_gain(3.0, 3.0), 0.0);
        assert_eq!(transfer_gain(0.0, 3.0), 1.0);
        assert!(transfer_gain(6.0, 3.0) < 0.0);
    }

    #[test]
    fn silence_and_mismatched_rates_are_refused_with_a_fix() {
        let x = content();
        let silent = AudioBuffer::silence(SR, 2, x.frames());
        let e = distance(&x, &silent).unwrap_err().to_string();
        assert!(e.contains("silent") && e.contains("fix:"), "{e}");
        let other = AudioBuffer { sample_rate: 44_100, ..x.clone() };
        let e = distance(&x, &other).unwrap_err().to_string();
        assert!(e.contains("sample rates differ") && e.contains("fix:"), "{e}");
    }
}
