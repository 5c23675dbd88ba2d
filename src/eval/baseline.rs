//! The rule-based, chain-free style-transfer baseline (after DeepAFx-ST's): a linear-phase FIR
//! matching EQ from averaged, smoothed spectra, then a compressor whose threshold is found by
//! hill-climbing, then a gain that matches the reference's loudness.
//!
//! 1. **Matching EQ**: Welch power spectra (4096-point Hann frames, 50 % overlap) of the input's
//!    and the reference's mid channel, each smoothed over ±1/6 octave (third-octave smoothing);
//!    the EQ's magnitude is `sqrt(P_ref / P_in)` limited to ±24 dB, normalised to 0 dB mean
//!    over 100 Hz–10 kHz (level is the last step's job). The FIR is that magnitude at zero phase,
//!    made causal and Hann-windowed (4095 taps), applied to both channels by FFT convolution
//!    with its delay removed.
//! 2. **Compressor**: fxmatch's own compressor (ratio 4, knee 6 dB, attack 5 ms, release 100 ms,
//!    no makeup). Its threshold steps down from 0 dB to −60 dB in 1 dB steps and
//!    the step whose output's loudness spread (the standard deviation of its 100 ms level, what
//!    compression narrows) comes closest to the reference's wins (a hill-climb that does not stop
//!    on the plateau above the signal's peaks). Level is RMS, not K-weighted LUFS: the
//!    baseline needs no more to do its job.
//! 3. **Gain**: the output's RMS set to the reference's.

use realfft::RealFftPlanner;

use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec};
use crate::error::Result;
use crate::render::render;

const FFT: usize = 4096;
const TAPS: usize = FFT - 1;
const MAX_DB: f64 = 24.0;

/// Welch power spectrum of the mid channel, `FFT / 2 + 1` bins.
fn average_spectrum(audio: &AudioBuffer) -> Vec<f64> {
    let (l, r) = audio.to_stereo();
    let mid: Vec<f64> = l.iter().zip(&r).map(|(a, b)| 0.5 * (*a as f64 + *b as f64)).collect();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(FFT);
    let window = crate::audio::hann(FFT);
    let mut power = vec![0.0; FFT / 2 + 1];
    let mut frame = vec![0.0; FFT];
    let mut spectrum = fft.make_output_vec();
    let mut frames = 0;
    let mut start = 0;
    loop {
        frame
            .iter_mut()
            .enumerate()
            .for_each(|(i, f)| *f = mid.get(start + i).copied().unwrap_or(0.0) * window[i]);
        fft.process(&mut frame, &mut spectrum).expect("sizes from the plan");
        power.iter_mut().zip(&spectrum).for_each(|(p, c)| *p += c.norm_sqr());
        frames += 1;
        start += FFT / 2;
        if start + FFT > mid.len() {
            break;
        }
    }
    power.iter_mut().for_each(|p| *p /= frames as f64);
    power
}

/// Third-octave smoothing: each bin becomes the mean over bins within ±1/6 octave.
fn smooth(power: &[f64]) -> Vec<f64> {
    let mut prefix = vec![0.0; power.len() + 1];
    for (i, p) in power.iter().enumerate() {
        prefix[i + 1] = prefix[i] + p;
    }
    let ratio = 2f64.powf(1.0 / 6.0);
    (0..power.len())
        .map(|k| {
            let lo = ((k as f64 / ratio).floor() as usize).min(k);
            let hi = ((k as f64 * ratio).ceil() as usize).clamp(k + 1, power.len());
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

/// The matching EQ's magnitude per bin (linear), limited and normalised (see the module docs).
fn matching_magnitude(input: &AudioBuffer, reference: &AudioBuffer) -> Vec<f64> {
    let (p_in, p_ref) = (smooth(&average_spectrum(input)), smooth(&average_spectrum(reference)));
    let floor = 1e-20;
    let mut db: Vec<f64> = p_in
        .iter()
        .zip(&p_ref)
        .map(|(a, b)| (10.0 * ((b + floor) / (a + floor)).log10()).clamp(-MAX_DB, MAX_DB))
        .collect();
    let bin_hz = input.sample_rate as f64 / FFT as f64;
    let band: Vec<usize> =
        (0..db.len()).filter(|&k| (100.0..=10_000.0).contains(&(k as f64 * bin_hz))).collect();
    let mean = band.iter().map(|&k| db[k]).sum::<f64>() / band.len().max(1) as f64;
    db.iter_mut().for_each(|d| *d = (*d - mean).clamp(-MAX_DB, MAX_DB));
    db.iter().map(|d| 10f64.powf(d / 20.0)).collect()
}

/// Linear-phase FIR taps for a zero-phase magnitude response.
fn fir_from_magnitude(magnitude: &[f64]) -> Vec<f64> {
    let ifft = RealFftPlanner::<f64>::new().plan_fft_inverse(FFT);
    let mut spectrum: Vec<realfft::num_complex::Complex<f64>> =
        magnitude.iter().map(|&m| realfft::num_complex::Complex::new(m, 0.0)).collect();
    let mut impulse = vec![0.0; FFT];
    ifft.process(&mut spectrum, &mut impulse).expect("sizes from the plan");
    // Zero phase is centred on sample 0; rotate to the middle and window to TAPS samples.
    let half = TAPS / 2;
    (0..TAPS)
        .map(|n| {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * (n + 1) as f64 / (TAPS + 1) as f64).cos();
            impulse[(n + FFT - half) % FFT] / FFT as f64 * w
        })
        .collect()
}

/// `signal` convolved with the linear-phase `taps`, delay removed, same length.
fn convolve(signal: &[f32], taps: &[f64]) -> Vec<f32> {
    let n = (signal.len() + taps.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let mut a: Vec<f64> = signal.iter().map(|&x| x as f64).chain(std::iter::repeat(0.0)).take(n).collect();
    let mut b: Vec<f64> = taps.iter().copied().chain(std::iter::repeat(0.0)).take(n).collect();
    let (mut fa, mut fb) = (fwd.make_output_vec(), fwd.make_output_vec());
    fwd.process(&mut a, &mut fa).expect("sizes from the plan");
    fwd.process(&mut b, &mut fb).expect("sizes from the plan");
    fa.iter_mut().zip(&fb).for_each(|(x, y)| *x *= y);
    inv.process(&mut fa, &mut a).expect("sizes from the plan");
    let delay = taps.len() / 2;
    (0..signal.len()).map(|i| (a[i + delay] / n as f64) as f32).collect()
}

/// Loudness spread in dB: the standard deviation of the short-term level (RMS over 100 ms
/// windows, hop 50 ms, windows below -70 dBFS gated out). Compression narrows it.
fn loudness_spread(audio: &AudioBuffer) -> f64 {
    let win = (audio.sample_rate as usize / 10).max(1);
    let frames = audio.frames();
    let levels: Vec<f64> = (0..frames.saturating_sub(win) + 1)
        .step_by(win / 2)
        .map(|start| {
            let power = audio
                .channels
                .iter()
                .flat_map(|c| &c[start..(start + win).min(frames)])
                .map(|&x| (x as f64).powi(2))
                .sum::<f64>()
                / (win * audio.channels.len()) as f64;
            10.0 * power.max(1e-30).log10()
        })
        .filter(|&l| l > -70.0)
        .collect();
    let n = levels.len().max(1) as f64;
    let mean = levels.iter().sum::<f64>() / n;
    (levels.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// The baseline's output for `input` given `reference` (stereo, the input's rate and length).
pub fn rule_based_transfer(input: &AudioBuffer, reference: &AudioBuffer) -> Result<AudioBuffer> {
    let taps = fir_from_magnitude(&matching_magnitude(input, reference));
    let (l, r) = input.to_stereo();
    let equalised = AudioBuffer::stereo(input.sample_rate, convolve(&l, &taps), convolve(&r, &taps));

    let spec = ChainSpec::parse(
        "[[effect]]\ntype = \"compressor\"\n[effect.fixed]\nratio = 4.0\nknee = 6.0\nattack = 5.0\nrelease = 100.0\nmakeup = 0.0\n",
        "rule-based baseline",
    )?;
    let mut compressor = Chain::from_spec(&spec)?;
    let target = loudness_spread(reference);
    let mut compress = |threshold: f32| -> Result<AudioBuffer> {
        compressor.set_plain("compressor", "threshold", threshold)?;
        render(&mut compressor, &equalised, 0.0)
    };
    let mut best = compress(0.0)?;
    let mut best_error = (loudness_spread(&best) - target).abs();
    for step in 1..=60 {
        let candidate = compress(-(step as f32))?;
        let error = (loudness_spread(&candidate) - target).abs();
        if error < best_error {
            (best, best_error) = (candidate, error);
        }
    }
    let gain = (reference.rms() / best.rms().max(1e-9)).min(1e3);
    best.channels.iter_mut().flatten().for_each(|x| *x *= gain);
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::{high_shelf, Biquad};

    fn db(x: f64) -> f64 {
        20.0 * x.max(1e-12).log10()
    }

    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as f32 / u32::MAX as f32 - 0.5
            })
            .collect()
    }

    fn band_db(audio: &AudioBuffer, lo: f64, hi: f64) -> f64 {
        let p = average_spectrum(audio);
        let bin_hz = audio.sample_rate as f64 / FFT as f64;
        let sel: Vec<f64> = p
            .iter()
            .enumerate()
            .filter(|(k, _)| (lo..hi).contains(&(*k as f64 * bin_hz)))
            .map(|(_, v)| *v)
            .collect();
        10.0 * (sel.iter().sum::<f64>() / sel.len() as f64).log10()
    }

    #[test]
    fn matching_eq_copies_a_spectral_tilt_and_the_loudness() {
        let sr = 48_000;
        let input = AudioBuffer::stereo(sr, noise(4 * sr as usize, 1), noise(4 * sr as usize, 2));
        // The reference: other noise through a +12 dB high shelf at 3 kHz, quieter.
        let mut shelf = Biquad::new(high_shelf(sr as f64, 3000.0, 0.707, 12.0));
        let (mut refl, mut refr) = (noise(4 * sr as usize, 3), noise(4 * sr as usize, 4));
        refl.iter_mut().chain(refr.iter_mut()).for_each(|x| *x *= 0.3);
        shelf.process(&mut refl, &mut refr);
        let reference = AudioBuffer::stereo(sr, refl, refr);
        let out = rule_based_transfer(&input, &reference).unwrap();
        let tilt = |a: &AudioBuffer| band_db(a, 8000.0, 12000.0) - band_db(a, 200.0, 800.0);
        assert!((tilt(&out) - tilt(&reference)).abs() < 1.5, "tilt {} vs {}", tilt(&out), tilt(&reference));
        assert!((db(out.rms() as f64) - db(reference.rms() as f64)).abs() < 0.1, "loudness matched");
        assert_eq!(out.frames(), input.frames());
    }

    #[test]
    fn compressor_threshold_follows_the_references_dynamics() {
        let sr = 48_000u32;
        // Bursts: loud 100 ms hits over a quiet bed; the reference is the same squashed flat.
        let x: Vec<f32> = (0..3 * sr as usize)
            .map(|i| {
                let t = i as f32 / sr as f32;
                let env = if t % 0.5 < 0.1 { 0.9 } else { 0.05 };
                env * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            })
            .collect();
        let input = AudioBuffer::stereo(sr, x.clone(), x);
        let mut chain = Chain::from_spec(
            &ChainSpec::parse("[[effect]]\ntype = \"compressor\"\n[effect.fixed]\nthreshold = -40.0\nratio = 20.0\nknee = 0.0\nattack = 0.5\nrelease = 50.0\nmakeup = 0.0\n", "t").unwrap(),
        )
        .unwrap();
        let reference = render(&mut chain, &input, 0.0).unwrap();
        let out = rule_based_transfer(&input, &reference).unwrap();
        let (before, after, goal) =
            (loudness_spread(&input), loudness_spread(&out), loudness_spread(&reference));
        assert!(
            (after - goal).abs() < (before - goal).abs() - 2.0,
            "loudness spread {before:.1} -> {after:.1} dB, goal {goal:.1}"
        );
    }
}
