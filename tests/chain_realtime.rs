//! The bundled chains as a whole obey the real-time rules: no allocation in `process` (also
//! while parameters ramp and effects are bypassed), block-size invariance, finite output.

mod common;

use assert_no_alloc::assert_no_alloc;
use fxmatch::chain::{Chain, ChainSpec};

#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

fn chain(name: &str, max_block: usize) -> Chain {
    let spec = ChainSpec::load(common::chain(name)).unwrap();
    let mut c = Chain::from_spec(&spec).unwrap();
    c.prepare(48_000.0, max_block);
    c
}

fn render(c: &mut Chain, l: &[f32], r: &[f32], block: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut l, mut r) = (l.to_vec(), r.to_vec());
    for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        c.process(a, b);
    }
    (l, r)
}

#[test]
fn default_chain_is_block_size_invariant_while_ramping() {
    let input = common::test_signal(48_000, 0.5);
    for name in ["default.toml", "eq-comp.toml"] {
        let mut reference = chain(name, 4096);
        let x: Vec<f64> = (0..reference.num_free()).map(|i| (i as f64 * 0.37) % 1.0).collect();
        reference.set_normalized(&x); // ramps from the defaults: smoothing must not depend on blocks
        let (wl, wr) = render(&mut reference, &input.channels[0], &input.channels[1], 4096);
        for block in [1, 3, 64, 128, 1000] {
            let mut c = chain(name, 4096);
            c.set_normalized(&x);
            let (l, r) = render(&mut c, &input.channels[0], &input.channels[1], block);
            let worst =
                l.iter().zip(&wl).chain(r.iter().zip(&wr)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1e-4, "{name}: block {block} differs by {worst}");
        }
    }
}

#[test]
fn default_chain_never_allocates_or_emits_non_finite_samples() {
    let input = common::test_signal(48_000, 1.0);
    let mut c = chain("default.toml", 128);
    let n = c.num_free();
    let (mut l, mut r) = (input.channels[0].clone(), input.channels[1].clone());
    let mut loud: Vec<f32> = (0..l.len()).map(|i| if (i / 37) % 2 == 0 { 1.0 } else { -1.0 }).collect();
    let settings: Vec<Vec<f64>> =
        vec![vec![0.0; n], vec![1.0; n], vec![0.5; n], (0..n).map(|i| ((i * 7) % 5) as f64 / 4.0).collect()];
    assert_no_alloc(|| {
        for x in &settings {
            c.set_normalized(x);
            for (a, b) in l.chunks_mut(128).zip(r.chunks_mut(128)) {
                c.process(a, b);
            }
            c.set_bypass(1, true);
            for (a, b) in loud.chunks_mut(64).zip(r.chunks_mut(64)) {
                c.process(a, b);
            }
            c.set_bypass(1, false);
            c.reset();
        }
    });
    assert!(l.iter().chain(&r).chain(&loud).all(|x| x.is_finite()));
}

#[test]
fn bypass_switch_is_click_free() {
    // A quiet sine through a chain whose EQ adds +12 dB: switching the EQ's bypass crossfades,
    // so no sample-to-sample step exceeds the largest step of the louder steady state.
    let spec = ChainSpec::parse(
        "[[effect]]\ntype = \"eq\"\n[effect.fixed]\nlow_gain = 12.0\nlow_freq = 1000.0\n",
        "inline.toml",
    )
    .unwrap();
    let mut c = Chain::from_spec(&spec).unwrap();
    c.prepare(48_000.0, 256);
    let n = 48_000;
    let sine: Vec<f32> =
        (0..n).map(|i| 0.2 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 48_000.0).sin()).collect();
    let (mut l, mut r) = (sine.clone(), sine.clone());
    let half = n / 2;
    c.process(&mut l[..half], &mut r[..half]);
    c.set_bypass(0, true);
    c.process(&mut l[half..], &mut r[half..]);
    let step = |s: &[f32]| s.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
    let steady = step(&l[half - 4800..half]);
    let at_switch = step(&l[half - 10..half + 4800]);
    assert!(at_switch <= steady * 1.01, "step at the switch {at_switch} vs steady {steady}");
}

/// True for a subnormal (denormal) f32: nonzero and below the smallest normal magnitude.
fn is_subnormal(x: f32) -> bool {
    x != 0.0 && x.abs() < f32::MIN_POSITIVE
}

#[test]
fn denormals_are_flushed_through_the_chain() {
    // The FPU's flush-to-zero mode (x86-64 MXCSR FTZ/DAZ, aarch64 FPCR.FZ) is set by the chain's
    // own guard around `process`, not assumed. After a burst the chain's recursive parts (filter
    // states, envelopes, delay and reverb feedback) decay toward zero; with gradual underflow
    // they would pass through the denormal range, slowly (denormal arithmetic is up to 100x
    // slower on many cores). With the flush on, no output sample is ever subnormal, and
    // denormal-level input is treated as zero. Run on aarch64 under qemu by
    // scripts/cross_aarch64.sh.
    let tiny = f32::MIN_POSITIVE / 64.0;
    // The FPU does not flush by default, so a subnormal product here proves the check can fail.
    assert!(is_subnormal(std::hint::black_box(tiny) * std::hint::black_box(0.5f32)));

    let mut c = chain("default.toml", 64);
    let n = c.num_free();
    c.set_normalized(&vec![0.5; n]); // mid settings: every effect active, feedback paths non-zero
    let burst = common::test_signal(48_000, 0.25);
    let (mut l, mut r) = (burst.channels[0].clone(), burst.channels[1].clone());
    render_in_place(&mut c, &mut l, &mut r);
    // Then input at denormal level, one second at a time, until the output has been silent
    // for a whole second: every tail has decayed through the range where denormals appear.
    let mut subnormal_out = 0;
    let mut seconds = 0;
    loop {
        let mut l: Vec<f32> = (0..48_000).map(|i| if i % 2 == 0 { tiny } else { -tiny * 3.0 }).collect();
        let mut r = l.clone();
        render_in_place(&mut c, &mut l, &mut r);
        subnormal_out += l.iter().chain(&r).filter(|&&x| is_subnormal(x)).count();
        seconds += 1;
        if l.iter().chain(&r).all(|&x| x == 0.0) {
            break;
        }
        assert!(
            seconds < 60,
            "the chain's output is not silent after {seconds} s of denormal-level input \
             ({subnormal_out} subnormal samples): flush-to-zero is not in effect"
        );
    }
    eprintln!("silent after {seconds} s; {subnormal_out} subnormal output samples");
    assert_eq!(subnormal_out, 0, "{subnormal_out} subnormal output samples: flush-to-zero is not in effect");
    // The guard is scoped to `process`: outside it the thread computes denormals again.
    assert!(is_subnormal(std::hint::black_box(tiny) * std::hint::black_box(0.5f32)));
}

fn render_in_place(c: &mut Chain, l: &mut [f32], r: &mut [f32]) {
    for (a, b) in l.chunks_mut(64).zip(r.chunks_mut(64)) {
        c.process(a, b);
    }
}
