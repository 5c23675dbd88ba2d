//! The training front end (training/frontend.py) and the Rust one (src/metric/frontend.rs) agree.
//!
//! `training/golden/frontend.json` holds the log-mel spectrograms that the PyTorch port computes
//! for test signals defined by formula (regenerate with
//! `python training/frontend.py training/data/<dataset>/frontend.json training/golden/frontend.json`).

mod common;

use common::golden_signal;
use fxmatch::metric::{FrontEnd, FrontEndSettings};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    frontend: FrontEndSettings,
    signals: Vec<Signal>,
}

#[derive(Deserialize)]
struct Signal {
    name: String,
    frames: usize,
    mid: Vec<f32>,
    side: Vec<f32>,
}

const SR: usize = 48_000;

#[test]
fn pytorch_front_end_matches_rust() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/training/golden/frontend.json"))
        .expect("golden file");
    let golden: Golden = serde_json::from_str(&text).expect("golden JSON");
    assert_eq!(golden.frontend, FrontEndSettings::default(), "training uses the default front end");
    let mut fe = FrontEnd::new(&golden.frontend, SR as u32).unwrap();
    for s in &golden.signals {
        let (l, r) = golden_signal(&s.name);
        let mel = fe.log_mel_ms(&l, &r).unwrap();
        assert_eq!(mel.n_frames, s.frames, "{}", s.name);
        for (ours, theirs, what) in [(&mel.mid, &s.mid, "mid"), (&mel.side, &s.side, "side")] {
            let mut worst = 0.0f32;
            for (&a, &b) in ours.iter().zip(theirs.iter()) {
                // Above -60 dB the spectra agree to float rounding; below, f32 FFT noise of
                // different FFT algorithms differs in dB terms, so only a loose bound applies.
                let tol = if a.max(b) > -60.0 { 0.01 } else { 3.0 };
                assert!((a - b).abs() <= tol, "{} {what}: rust {a} dB, pytorch {b} dB", s.name);
                worst = worst.max((a - b).abs());
            }
            eprintln!("{} {what}: max |diff| {worst:.5} dB", s.name);
        }
    }
}
