//! The fixed probe signal that preset clustering renders every random setting through.
//!
//! Synthetic and independent of the content folder, so presets depend on the seed alone: plucked
//! harmonic tones at three pitches (bass, middle, treble), each decaying over 0.4 s, two noise
//! bursts (drum-like transients), and 0.5 s of silence at the end so delay and reverb tails show.
//! Mono content in both channels, peak about −6 dBFS.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Probe length in seconds.
pub const PROBE_SECONDS: f32 = 3.0;

/// The probe at `sample_rate` (mono; feed it to both channels).
pub fn probe(sample_rate: u32) -> Vec<f32> {
    let sr = sample_rate as f32;
    let n = (PROBE_SECONDS * sr) as usize;
    let mut x = vec![0.0f32; n];
    // (start s, fundamental Hz) of the plucks.
    let notes = [(0.0, 110.0), (0.5, 440.0), (1.0, 1760.0), (1.5, 220.0), (1.75, 330.0)];
    for (start, f0) in notes {
        let s0 = (start * sr) as usize;
        for i in 0..((0.45 * sr) as usize).min(n - s0) {
            let t = i as f32 / sr;
            let env = (-t / 0.12).exp() * (1.0 - (-t / 0.002).exp());
            let mut v = 0.0;
            for h in 1..=12 {
                let f = f0 * h as f32;
                if f < 0.45 * sr {
                    v += (std::f32::consts::TAU * f * t).sin() / h as f32;
                }
            }
            x[s0 + i] += 0.25 * env * v;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_9e0b);
    for start in [2.0f32, 2.25] {
        let s0 = (start * sr) as usize;
        for i in 0..((0.2 * sr) as usize).min(n - s0) {
            let t = i as f32 / sr;
            x[s0 + i] += 0.5 * (-t / 0.03).exp() * (rng.random::<f32>() * 2.0 - 1.0);
        }
    }
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
    x.iter_mut().for_each(|v| *v *= 0.5 / peak);
    x
}
