//! Style-metric cost per 3 s stereo segment at 48 kHz on one core: the encoder float32 and int8
//! (front end included), the MFCC baseline, and a render of the default chain for scale. Prints
//! the ratios measured in this one run (the machines are shared; ratios travel better than times).
//!
//! `cargo bench --bench encoder`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::metric::{Encoder, MfccMetric, StyleMetric};

const RATE: u32 = 48_000;

fn segment() -> (Vec<f32>, Vec<f32>) {
    // A plucked-ish tone with noise: content with structure, so no path is trivially cheap.
    let mut x = 1u32;
    (0..3 * RATE as usize)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let t = i as f32 / RATE as f32;
            let env = (-(t % 0.5) * 6.0).exp();
            let n = (x as f32 / u32::MAX as f32 - 0.5) * 0.05;
            let v = 0.4 * env * (std::f32::consts::TAU * 196.0 * t).sin();
            (v + n, 0.8 * v - n)
        })
        .unzip()
}

fn metrics() -> Vec<(String, Box<dyn StyleMetric>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, Box<dyn StyleMetric>)> = Vec::new();
    for (name, file) in
        [("encoder float32", "models/encoder.onnx"), ("encoder int8", "models/encoder-int8.onnx")]
    {
        match Encoder::load(root.join(file)) {
            Ok(e) => out.push((name.into(), Box::new(e))),
            Err(e) => eprintln!("skipping {name}: {e}"),
        }
    }
    out.push(("mfcc".into(), Box::new(MfccMetric::new())));
    out
}

fn bench_metrics(c: &mut Criterion) {
    let (l, r) = segment();
    for (name, mut metric) in metrics() {
        c.bench_function(&format!("{name}, 3 s stereo"), |b| {
            b.iter(|| metric.embed(black_box(&l), black_box(&r), RATE).unwrap())
        });
    }
}

fn median_of(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Medians measured back to back in one run, and their ratios.
fn summary() {
    let (l, r) = segment();
    let spec =
        ChainSpec::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/chains/default.toml")).unwrap();
    let mut chain = Chain::from_spec(&spec).unwrap();
    chain.prepare(RATE as f32, 1024);
    chain.set_normalized(&vec![0.5; chain.num_free()]);
    let render = median_of(31, || {
        let (mut a, mut b) = (l.clone(), r.clone());
        chain.reset();
        for (x, y) in a.chunks_mut(1024).zip(b.chunks_mut(1024)) {
            chain.process(x, y);
        }
        black_box((a, b));
    });
    println!("\nmedian of 31 runs, one core, 3 s stereo at 48 kHz:");
    println!("  render, default chain: {:>8.2} ms", render.as_secs_f64() * 1e3);
    let mut float = None;
    for (name, mut metric) in metrics() {
        let t = median_of(31, || {
            black_box(metric.embed(&l, &r, RATE).unwrap());
        });
        let vs_float = float.map_or(String::new(), |f: Duration| {
            format!(", {:.2}× the float encoder", t.as_secs_f64() / f.as_secs_f64())
        });
        if name == "encoder float32" {
            float = Some(t);
        }
        println!(
            "  {name:<16} {:>8.2} ms = {:.2}× a render{vs_float}",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / render.as_secs_f64()
        );
    }
}

criterion_group!(benches, bench_metrics);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
