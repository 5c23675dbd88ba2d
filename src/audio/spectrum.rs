//! A plain multi-resolution log-spectral distance between two stereo signals: how far apart two
//! renders sound, in dB, without any learned or style-specific features. The matcher uses it to
//! say which effects a result audibly uses; evaluations can use it as an audio distance that
//! is not the metric being optimised.

use realfft::RealFftPlanner;

/// STFT sizes of [`log_spectral_distance`] (hop a quarter of each): short frames see attacks
/// and dynamics, long ones fine spectral detail.
pub const FFT_SIZES: [usize; 3] = [512, 2048, 8192];

/// Power below the louder signal's strongest bin by more than this (dB) is floored, so that
/// differences in the noise floor (or in digital silence) do not dominate.
pub const FLOOR_DB: f64 = 80.0;

/// The periodic Hann window of `n` samples (`0.5 − 0.5·cos(2πi/n)`), the STFT window of the
/// metrics, the distances and the losses.
pub fn hann(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()).collect()
}

/// Log-spectral distance in dB between `a` and `b` (each `(left, right)`, compared over the
/// shorter length): for each FFT size in [`FFT_SIZES`] and each channel, the mean over frames
/// of the RMS over bins of the difference of the two power spectra in dB (floored
/// [`FLOOR_DB`] below the strongest bin of either signal); then the mean over channels and
/// sizes. 0 for identical signals; a broadband level change of g dB gives g dB. Signals shorter
/// than the smallest frame are zero-padded into one frame.
pub fn log_spectral_distance(a: (&[f32], &[f32]), b: (&[f32], &[f32])) -> f64 {
    let n = a.0.len().min(a.1.len()).min(b.0.len()).min(b.1.len());
    let mut planner = RealFftPlanner::<f64>::new();
    let mut total = 0.0;
    for &size in &FFT_SIZES {
        let fft = planner.plan_fft_forward(size);
        let hop = size / 4;
        let window = hann(size);
        let starts: Vec<usize> = if n <= size { vec![0] } else { (0..=n - size).step_by(hop).collect() };
        let mut input = fft.make_input_vec();
        let mut spectrum = fft.make_output_vec();
        let mut power = |x: &[f32], start: usize| -> Vec<f64> {
            for (i, v) in input.iter_mut().enumerate() {
                *v = x.get(start + i).filter(|_| start + i < n).map_or(0.0, |&s| s as f64) * window[i];
            }
            fft.process(&mut input, &mut spectrum).expect("buffers sized by the plan");
            spectrum.iter().map(|c| c.norm_sqr()).collect()
        };
        for (xa, xb) in [(a.0, b.0), (a.1, b.1)] {
            let pa: Vec<Vec<f64>> = starts.iter().map(|&s| power(xa, s)).collect();
            let pb: Vec<Vec<f64>> = starts.iter().map(|&s| power(xb, s)).collect();
            let peak = pa.iter().chain(&pb).flatten().fold(0.0f64, |m, &p| m.max(p));
            let floor = (peak * 10f64.powf(-FLOOR_DB / 10.0)).max(f64::MIN_POSITIVE);
            let mut sum = 0.0;
            for (fa, fb) in pa.iter().zip(&pb) {
                let mean_sq = fa
                    .iter()
                    .zip(fb)
                    .map(|(&x, &y)| (10.0 * ((x + floor) / (y + floor)).log10()).powi(2))
                    .sum::<f64>()
                    / fa.len() as f64;
                sum += mean_sq.sqrt();
            }
            total += sum / starts.len() as f64;
        }
    }
    total / (2 * FFT_SIZES.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::white_noise;

    #[test]
    fn zero_for_equal_signals_and_the_level_change_for_a_gain() {
        let x = white_noise(48_000, 0.1, 1);
        let y = white_noise(48_000, 0.1, 2);
        assert_eq!(log_spectral_distance((&x, &y), (&x, &y)), 0.0);
        let louder: Vec<f32> = x.iter().map(|v| v * 10f32.powf(3.0 / 20.0)).collect();
        let d = log_spectral_distance((&x, &x), (&louder, &louder));
        assert!((d - 3.0).abs() < 0.05, "3 dB louder: {d}");
        // A tenth of the amplitude is 20 dB; the distance is symmetric.
        let quieter: Vec<f32> = x.iter().map(|v| v * 0.1).collect();
        assert!((log_spectral_distance((&x, &x), (&quieter, &quieter)) - 20.0).abs() < 0.1);
        assert_eq!(log_spectral_distance((&x, &y), (&y, &x)), log_spectral_distance((&y, &x), (&x, &y)));
    }

    #[test]
    fn short_and_silent_signals_are_defined() {
        let short = vec![0.1f32; 100];
        let silent = vec![0.0f32; 100];
        assert_eq!(log_spectral_distance((&silent, &silent), (&silent, &silent)), 0.0);
        let d = log_spectral_distance((&short, &short), (&silent, &silent));
        assert!(d.is_finite() && d > 10.0, "a signal against silence is far: {d}");
    }
}
