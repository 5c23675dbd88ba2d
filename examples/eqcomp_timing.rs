//! Cost of the EQ and compressor in ns per stereo frame (quick check; benches live elsewhere).
//!
//! `cargo run --release --example eqcomp_timing`

use fxmatch::audio::white_noise;
use fxmatch::dsp::{compressor_param as cp, eq_param as ep, Compressor, DenormalGuard, ParametricEq};
use fxmatch::effect::Effect;
use std::time::Instant;

const FS: f32 = 48_000.0;
const BLOCK: usize = 256;

/// Best of five runs over 10 s of noise, in ns per stereo frame. `retarget` is called before
/// each block with the block number (to keep parameters ramping).
fn time(e: &mut dyn Effect, mut retarget: impl FnMut(&mut dyn Effect, usize)) -> f64 {
    let frames = FS as usize * 10;
    let (l0, r0) = (white_noise(frames, 0.5, 1), white_noise(frames, 0.5, 2));
    let _ftz = DenormalGuard::new();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let (mut l, mut r) = (l0.clone(), r0.clone());
        let t = Instant::now();
        for (k, (cl, cr)) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)).enumerate() {
            retarget(e, k);
            e.process(cl, cr);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / frames as f64);
        std::hint::black_box(&l);
    }
    best
}

fn with(mut e: impl Effect + 'static, settings: &[(usize, f32)]) -> Box<dyn Effect> {
    e.prepare(FS, BLOCK);
    for &(i, v) in settings {
        e.set_param(i, v);
    }
    e.snap();
    Box::new(e)
}

fn main() {
    let five = [
        (ep::LOW_GAIN, 8.0),
        (ep::LOW_FREQ, 150.0),
        (ep::MID1_GAIN, -12.0),
        (ep::MID1_FREQ, 500.0),
        (ep::MID1_Q, 3.0),
        (ep::MID2_GAIN, 6.0),
        (ep::MID3_GAIN, -20.0),
        (ep::MID3_Q, 6.0),
        (ep::HIGH_GAIN, 15.0),
        (ep::HIGH_FREQ, 12_000.0),
    ];
    let one = [(ep::MID1_GAIN, 6.0)];
    println!(
        "eq, 5 bands settled:   {:6.2} ns/frame",
        time(&mut *with(ParametricEq::new(), &five), |_, _| {})
    );
    println!(
        "eq, 1 band settled:    {:6.2} ns/frame",
        time(&mut *with(ParametricEq::new(), &one), |_, _| {})
    );
    println!("eq, flat (bypassed):   {:6.2} ns/frame", time(&mut *with(ParametricEq::new(), &[]), |_, _| {}));
    let ramping = time(&mut *with(ParametricEq::new(), &five), |e, k| {
        // New targets every 20 ms block group: all five bands always ramping.
        if k % 4 == 0 {
            let s = if k % 8 == 0 { 0.5 } else { 1.0 };
            for &(i, v) in &five {
                e.set_param(i, v * s);
            }
        }
    });
    println!("eq, 5 bands ramping:   {ramping:6.2} ns/frame");

    let comp =
        [(cp::THRESHOLD, -30.0), (cp::RATIO, 8.0), (cp::ATTACK, 1.0), (cp::RELEASE, 50.0), (cp::MAKEUP, 6.0)];
    println!(
        "compressor, compressing:     {:6.2} ns/frame",
        time(&mut *with(Compressor::new(), &comp), |_, _| {})
    );
    println!(
        "compressor, defaults:        {:6.2} ns/frame",
        time(&mut *with(Compressor::new(), &[]), |_, _| {})
    );
    println!(
        "compressor, below threshold: {:6.2} ns/frame",
        time(&mut *with(Compressor::new(), &[(cp::THRESHOLD, 0.0), (cp::KNEE, 0.0)]), |_, _| {})
    );
    println!(
        "compressor, ratio 1:         {:6.2} ns/frame",
        time(&mut *with(Compressor::new(), &[(cp::RATIO, 1.0)]), |_, _| {})
    );
    let ramping = time(&mut *with(Compressor::new(), &comp), |e, k| {
        if k % 4 == 0 {
            e.set_param(cp::THRESHOLD, if k % 8 == 0 { -40.0 } else { -30.0 });
        }
    });
    println!("compressor, ramping:         {ramping:6.2} ns/frame");
}
