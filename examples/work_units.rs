//! Fixed units of work for instruction counting (scripts/count_instructions.sh): run under
//! `valgrind --tool=callgrind` (x86-64) or qemu with an instruction-count plugin (aarch64), once
//! with N1 and once with N2 units; (I2 − I1) / (N2 − N1) is the count per unit, start-up and
//! model loading cancelled out. Single-threaded and deterministic.
//!
//! ```text
//! cargo run --release --example work_units -- chain-blocks N          # N 64-frame stereo blocks, default chain
//! cargo run --release --example work_units -- embed N MODEL.onnx|mfcc  # N embeddings of a 3 s stereo segment
//! ```

use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::metric::{Encoder, MfccMetric, StyleMetric};

#[path = "common/signal.rs"]
mod signal;

const SR: u32 = 48_000;
const BLOCK: usize = 64;

fn main() -> fxmatch::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: work_units chain-blocks N | embed N MODEL.onnx|mfcc";
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{usage}"));
    let mut sink = 0.0f32;
    match args.first().map(String::as_str) {
        Some("chain-blocks") => {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/config/chains/default.toml");
            let mut chain = Chain::from_spec(&ChainSpec::load(root)?)?;
            chain.prepare(SR as f32, BLOCK);
            // Every effect active at mid settings, the parameters settled before counting.
            chain.set_normalized(&vec![0.5; chain.num_free()]);
            let (sl, sr) = signal::noise_and_chord(SR as usize, SR);
            let (mut l, mut r) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
            for b in 0..n {
                let start = (b * BLOCK) % (sl.len() - BLOCK);
                l.copy_from_slice(&sl[start..start + BLOCK]);
                r.copy_from_slice(&sr[start..start + BLOCK]);
                chain.process(&mut l, &mut r);
                sink += l[0] + r[BLOCK - 1];
            }
        }
        Some("embed") => {
            let which = args.get(2).unwrap_or_else(|| panic!("{usage}"));
            let mut metric: Box<dyn StyleMetric> =
                if which == "mfcc" { Box::new(MfccMetric::new()) } else { Box::new(Encoder::load(which)?) };
            let (l, r) = signal::noise_and_chord(3 * SR as usize, SR);
            for _ in 0..n {
                sink += metric.embed(&l, &r, SR)?.mid[0];
            }
        }
        _ => panic!("{usage}"),
    }
    println!("{n} units done (checksum {sink})");
    Ok(())
}
