//! Cost of one audio block of the default chain at 48 kHz, 64 and 128 frames, and that cost as a
//! share of the block's real-time budget (the time the block lasts). Target: < 5 % of one core
//! at 64 frames. The same for `full.toml` (the default chain with the modulation stage), with its
//! cost relative to the default chain's in the same run.
//!
//! `cargo bench --bench audio_block`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use fxmatch::chain::{Chain, ChainSpec};

const RATE: f32 = 48_000.0;

/// The bundled chains measured: (label, file in config/chains).
const CHAINS: [(&str, &str); 2] = [("default chain", "default.toml"), ("full chain", "full.toml")];

fn bundled_chain(file: &str, block: usize) -> Chain {
    let path = format!("{}/config/chains/{file}", env!("CARGO_MANIFEST_DIR"));
    let spec = ChainSpec::load(path).expect("bundled chain loads");
    let mut chain = Chain::from_spec(&spec).expect("chain builds");
    chain.prepare(RATE, block);
    // Every effect active at mid settings: a realistic worst case, not bypassed work.
    chain.set_normalized(&vec![0.5; chain.num_free()]);
    chain.snap();
    chain
}

fn input(block: usize, offset: usize) -> (Vec<f32>, Vec<f32>) {
    let f = |i: usize, k: f32| 0.3 * ((i + offset) as f32 * k).sin();
    ((0..block).map(|i| f(i, 0.031)).collect(), (0..block).map(|i| f(i, 0.029)).collect())
}

fn bench_blocks(c: &mut Criterion) {
    for (label, file) in CHAINS {
        for block in [64usize, 128] {
            let mut chain = bundled_chain(file, block);
            let (l0, r0) = input(block, 0);
            let (mut l, mut r) = (l0.clone(), r0.clone());
            c.bench_function(&format!("{label}, {block} frames @ 48 kHz"), |b| {
                b.iter(|| {
                    l.copy_from_slice(&l0);
                    r.copy_from_slice(&r0);
                    chain.process(black_box(&mut l), black_box(&mut r));
                })
            });
        }
    }
}

/// Median time per block over many runs of a continuous signal.
fn median_block_time(file: &str, block: usize) -> Duration {
    let mut chain = bundled_chain(file, block);
    let blocks: Vec<(Vec<f32>, Vec<f32>)> = (0..100).map(|k| input(block, k * block)).collect();
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let mut work = blocks.clone();
        let t = Instant::now();
        for (l, r) in work.iter_mut() {
            chain.process(l, r);
        }
        times.push(t.elapsed() / 100);
        black_box(&work);
    }
    times.sort();
    times[times.len() / 2]
}

/// Each chain's median block time as a share of the budget, and the full chain's relative to
/// the default one's (measured one after the other in this run).
fn summary() {
    println!("\nshare of the real-time budget (one core, median of 200 runs of 100 blocks):");
    for block in [64usize, 128] {
        let budget = Duration::from_secs_f64(block as f64 / RATE as f64);
        let mut per_chain = Vec::new();
        for (label, file) in CHAINS {
            let per_block = median_block_time(file, block);
            println!(
                "  {label}, {block:>3} frames: {:>7.2} µs per block, budget {:>7.1} µs -> {:.2} % of one core",
                per_block.as_secs_f64() * 1e6,
                budget.as_secs_f64() * 1e6,
                100.0 * per_block.as_secs_f64() / budget.as_secs_f64()
            );
            per_chain.push(per_block.as_secs_f64());
        }
        println!("  {block:>3} frames: full / default = {:.2}", per_chain[1] / per_chain[0]);
    }
}

criterion_group!(benches, bench_blocks);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
