//! Cost of one MFCC style embedding of a 3 s stereo segment.
//!
//! `cargo run --release --example metric_speed [sample_rate] [runs] [hop_48k]` (defaults 48000,
//! 300, the default hop).
//! Prints min and median milliseconds per embed (one core), and the front end's share.

use std::time::Instant;

use fxmatch::metric::{FrontEnd, MfccMetric, MfccSettings, StyleMetric};

#[path = "common/signal.rs"]
mod signal;

fn main() -> fxmatch::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sr: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(48_000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);

    // 3 s of decorrelated noise plus a chord: a stand-in for a rendered candidate.
    let n = 3 * sr as usize;
    let (left, right) = signal::noise_and_chord(n, sr);

    let mut settings = MfccSettings::default();
    if let Some(hop) = args.get(3).and_then(|s| s.parse().ok()) {
        settings.front_end.hop_48k = hop;
    }
    let mut metric = MfccMetric::with_settings(settings)?;
    let mut sink = 0.0f32;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs + 10 {
        let t0 = Instant::now();
        let e = metric.embed(&left, &right, sr)?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        sink += e.mid[1];
    }
    times.drain(..10);
    times.sort_by(|a, b| a.total_cmp(b));

    let mut fe = FrontEnd::new(&metric.settings().front_end, sr)?;
    let mut fe_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        fe.process_ms(&left, &right, |fr| sink += fr.mid_db[3])?;
        fe_times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    fe_times.sort_by(|a, b| a.total_cmp(b));

    let (w, h, nfft) = fe.sizes();
    println!(
        "mfcc embed, 3 s stereo at {sr} Hz ({} frames, window {w}, hop {h}, fft {nfft}), {runs} runs: \
         min {:.3} ms, median {:.3} ms; front end alone: min {:.3} ms, median {:.3} ms  (sink {sink:.1})",
        fe.n_frames(n),
        times[0],
        times[times.len() / 2],
        fe_times[0],
        fe_times[fe_times.len() / 2],
    );
    Ok(())
}
