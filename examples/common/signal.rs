//! The examples' test signal (included with `#[path = "common/signal.rs"] mod signal;`).

/// `frames` of decorrelated stereo noise plus a chord at `sample_rate`: a stand-in for a rendered
/// candidate or a live input. Deterministic.
pub fn noise_and_chord(frames: usize, sample_rate: u32) -> (Vec<f32>, Vec<f32>) {
    let mut state = 1u32;
    let mut rnd = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let (mut left, mut right) = (Vec::with_capacity(frames), Vec::with_capacity(frames));
    for i in 0..frames {
        let t = i as f32 / sample_rate as f32;
        let chord: f32 = [220.0f32, 277.2, 329.6].iter().map(|f| (std::f32::consts::TAU * f * t).sin()).sum();
        let common = 0.1 * chord + 0.2 * rnd();
        left.push(common + 0.05 * rnd());
        right.push(common + 0.05 * rnd());
    }
    (left, right)
}
