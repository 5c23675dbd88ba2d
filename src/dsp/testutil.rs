//! Checks every built-in effect must pass: block-size invariance, no allocation in `process`,
//! finite output for any finite input at any setting. Used by each effect's unit tests.

use crate::effect::Effect;

/// Deterministic white noise in `[-amp, amp]` ([`crate::audio::white_noise`]).
pub fn noise(frames: usize, amp: f32, seed: u64) -> Vec<f32> {
    crate::audio::white_noise(frames, amp, seed)
}

/// A sine of `freq` Hz at `amp`.
#[allow(dead_code)]
pub fn sine(frames: usize, freq: f32, sample_rate: f32, amp: f32) -> Vec<f32> {
    (0..frames).map(|i| amp * (2.0 * std::f32::consts::PI * freq * i as f32 / sample_rate).sin()).collect()
}

/// Process `left`/`right` through `effect` in blocks of `block` frames.
pub fn process_in_blocks(
    effect: &mut dyn Effect,
    left: &[f32],
    right: &[f32],
    block: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (mut l, mut r) = (left.to_vec(), right.to_vec());
    for (cl, cr) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        effect.process(cl, cr);
    }
    (l, r)
}

/// Set `settings` (parameter index, plain value) on a freshly prepared effect; `snap` decides
/// whether the run starts at the targets or ramps from the defaults.
pub fn prepared(
    make: &dyn Fn() -> Box<dyn Effect>,
    rate: f32,
    max_block: usize,
    settings: &[(usize, f32)],
    snap: bool,
) -> Box<dyn Effect> {
    let mut e = make();
    e.prepare(rate, max_block);
    for &(i, v) in settings {
        e.set_param(i, v);
    }
    if snap {
        e.snap();
    }
    e
}

/// Output for one block of 4096 frames equals output for blocks of 1, 7, 64 and 129 frames,
/// both settled and while parameters ramp from their defaults.
pub fn assert_block_size_invariant(make: &dyn Fn() -> Box<dyn Effect>, settings: &[(usize, f32)]) {
    let rate = 48_000.0;
    let l = noise(4096, 0.5, 1);
    let r = noise(4096, 0.5, 2);
    for snap in [true, false] {
        let mut whole = prepared(make, rate, 4096, settings, snap);
        let (wl, wr) = process_in_blocks(&mut *whole, &l, &r, 4096);
        for block in [1, 7, 64, 129] {
            let mut e = prepared(make, rate, 4096, settings, snap);
            let (bl, br) = process_in_blocks(&mut *e, &l, &r, block);
            for i in 0..l.len() {
                assert!(
                    (bl[i] - wl[i]).abs() <= 1e-5 && (br[i] - wr[i]).abs() <= 1e-5,
                    "{}: block {block} (snap {snap}) differs at frame {i}: {} vs {}",
                    whole.kind(),
                    bl[i],
                    wl[i]
                );
            }
        }
    }
}

/// `process`, `set_param`, `snap` and `reset` never allocate (checked by `assert_no_alloc`),
/// and output stays finite for full-scale noise, silence, DC, and huge finite input at the
/// minimum, maximum, default and random settings, including parameter jumps between blocks.
pub fn assert_realtime_safe(make: &dyn Fn() -> Box<dyn Effect>) {
    let specs = make().params().to_vec();
    let n = specs.len();
    let mut settings: Vec<Vec<f32>> = vec![
        specs.iter().map(|s| s.min).collect(),
        specs.iter().map(|s| s.max).collect(),
        specs.iter().map(|s| s.default).collect(),
    ];
    let u = noise(8 * n.max(1), 1.0, 7);
    for k in 0..8 {
        settings.push(
            specs
                .iter()
                .enumerate()
                .map(|(i, s)| s.range().to_plain(0.5 + 0.5 * u[k * n + i] as f64))
                .collect(),
        );
    }
    let inputs: Vec<(&str, Vec<f32>)> = vec![
        ("full-scale noise", noise(9600, 1.0, 3)),
        ("silence", vec![0.0; 9600]),
        ("DC", vec![1.0; 9600]),
        ("huge", noise(9600, 1.0e4, 4)),
        ("tiny", noise(9600, 1.0e-30, 5)),
    ];
    for rate in [44_100.0, 96_000.0] {
        for values in &settings {
            let mut e = make();
            e.prepare(rate, 512);
            for (name, input) in &inputs {
                let (mut l, mut r) = (input.clone(), input.clone());
                assert_no_alloc::assert_no_alloc(|| {
                    for (i, &v) in values.iter().enumerate() {
                        e.set_param(i, v);
                    }
                    for (cl, cr) in l.chunks_mut(500).zip(r.chunks_mut(500)) {
                        e.process(cl, cr);
                    }
                    // Jump back to defaults mid-signal and keep going.
                    for (i, s) in specs.iter().enumerate() {
                        e.set_param(i, s.default);
                    }
                    e.process(&mut l[..1], &mut r[..1]);
                    e.snap();
                    e.reset();
                });
                let bad = l.iter().chain(r.iter()).position(|x| !x.is_finite());
                assert!(
                    bad.is_none(),
                    "{} at {rate} Hz gave non-finite output for {name} with settings {values:?}",
                    e.kind()
                );
            }
        }
    }
}
