//! The shipped spectrogram beta-VAE (models/vae/): parity with the training code, the input
//! policy, bad model files, and `--metric vae` in similarity, match and eval.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use fxmatch::metric::{cosine, similarity, StyleMetric, Vae, VaeModel};
use serde::Deserialize;

fn model_path() -> PathBuf {
    root().join("models/vae/vae.onnx")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[derive(Deserialize)]
struct Golden {
    sample_rate: u32,
    signals: Vec<GoldenSignal>,
}

#[derive(Deserialize)]
struct GoldenSignal {
    name: String,
    frames: usize,
    spec_sum_mid: f64,
    spec_sum_side: f64,
    mid: Vec<f32>,
    side: Vec<f32>,
}

/// `training/vae.py export` wrote the latent means of signals defined by formula (and the sums
/// of their spectrograms, to tell a front-end mismatch from a network one); Rust reproduces
/// them from the audio: the spectrogram's sum within 1 %, the latent means with cosine
/// ≥ 0.999 and the same length within 1 %.
#[test]
fn golden_latents_match_the_training_code() {
    let golden: Golden =
        serde_json::from_str(&std::fs::read_to_string(root().join("models/vae/golden.json")).unwrap())
            .unwrap();
    let mut vae = Vae::load(model_path()).unwrap();
    assert_eq!(golden.signals.len(), 3);
    for g in &golden.signals {
        let (l, r) = golden_signal(&g.name);
        let (spec, frames) = vae.spectrogram(&l, &r, golden.sample_rate).unwrap();
        assert_eq!(frames, g.frames, "{}", g.name);
        let half = spec.len() / 2;
        for (what, part, theirs) in
            [("mid", &spec[..half], g.spec_sum_mid), ("side", &spec[half..], g.spec_sum_side)]
        {
            let ours: f64 = part.iter().map(|&v| v as f64).sum();
            let rel = (ours - theirs).abs() / theirs.abs().max(1e-9);
            eprintln!("{} spectrogram {what}: sum {ours:.4} vs {theirs:.4} ({rel:.2e})", g.name);
            // f32 FFTs differ in their noise floor, which |X|^0.3 lifts: 1 % on the sum.
            assert!(rel < 1e-2, "{} {what}: {ours} vs {theirs}", g.name);
        }
        let e = vae.embed(&l, &r, golden.sample_rate).unwrap();
        for (what, ours, theirs) in [("mid", &e.mid, &g.mid), ("side", &e.side, &g.side)] {
            let c = cosine(ours, theirs);
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            eprintln!("{} {what}: cosine {c:.6}, norms {} / {}", g.name, norm(ours), norm(theirs));
            assert!(c >= 0.999, "{} {what}: cosine {c}", g.name);
            assert!((norm(ours) / norm(theirs) - 1.0).abs() < 0.01, "{} {what}", g.name);
        }
    }
}

fn noise(seconds: f32, sample_rate: u32, seed: u32) -> (Vec<f32>, Vec<f32>) {
    let mut x = seed.max(1);
    let n = (seconds * sample_rate as f32) as usize;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x as f32 / u32::MAX as f32 - 0.5) * 0.5
    };
    (0..n).map(|_| (next(), next())).unzip()
}

/// The input policy: any length (empty, shorter than a window, chunked), levels normalised,
/// 44.1 and 48 kHz alike, bad samples refused with a fix; the built-in model is the file.
#[test]
fn input_policy_edge_cases() {
    let mut vae = Vae::load(model_path()).unwrap();
    let finite = |e: &fxmatch::metric::Embedding| {
        e.mid.len() == 128 && e.mid.iter().chain(&e.side).all(|v| v.is_finite())
    };
    assert!(finite(&vae.embed(&[], &[], 48_000).unwrap()));
    assert!(finite(&vae.embed(&vec![0.0; 48_000], &vec![0.0; 48_000], 48_000).unwrap()));
    let (l, r) = noise(0.01, 48_000, 1);
    assert!(finite(&vae.embed(&l, &r, 48_000).unwrap()));
    let mut bad = l.clone();
    bad[7] = f32::INFINITY;
    let e = vae.embed(&bad, &r, 48_000).unwrap_err().to_string();
    assert!(e.contains("sample 7") && e.contains("fix:"), "{e}");
    assert!(vae.embed(&l, &r[1..], 48_000).unwrap_err().to_string().contains("equal length"));
    assert!(vae.embed(&l, &r, 4_000).unwrap_err().to_string().contains("sample rate"));

    // Peak normalisation: the level does not change the embedding.
    let (l, r) = noise(3.0, 48_000, 2);
    let quiet: (Vec<f32>, Vec<f32>) =
        (l.iter().map(|v| v * 0.05).collect(), r.iter().map(|v| v * 0.05).collect());
    let (a, b) = (vae.embed(&l, &r, 48_000).unwrap(), vae.embed(&quiet.0, &quiet.1, 48_000).unwrap());
    assert!(similarity(&a, &b) > 0.9999, "{}", similarity(&a, &b));
    // 44.1 kHz noise embeds like 48 kHz noise (window and hop in seconds, bins in Hz).
    let (c0, c1) = noise(3.0, 44_100, 3);
    let c = vae.embed(&c0, &c1, 44_100).unwrap();
    assert!(similarity(&a, &c) > 0.98, "white noise at 48 and 44.1 kHz: {}", similarity(&a, &c));
    // Long audio is chunked and streamed in the same chunks.
    let (l, r) = noise(25.0, 44_100, 5);
    let mut source = fxmatch::audio::SliceSource::new(&l, &r, 44_100);
    let streamed = vae.embed_source(&mut source).unwrap();
    assert_eq!(streamed, vae.embed(&l, &r, 44_100).unwrap());
    let one_chunk = vae.embed(&l[..l.len() / 3], &r[..r.len() / 3], 44_100).unwrap();
    let sim = similarity(&streamed, &one_chunk);
    eprintln!(
        "25 s of noise vs its first third: {sim}; vs 3 s of other noise: {}",
        similarity(&streamed, &c)
    );
    assert!(sim > 0.98, "stationary noise: chunks agree ({sim})");

    let mut builtin = Vae::builtin().unwrap();
    let (l, r) = golden_signal("tones_1s");
    assert_eq!(builtin.embed(&l, &r, 48_000).unwrap(), vae.embed(&l, &r, 48_000).unwrap());
    assert_eq!(builtin.fingerprint(), vae.fingerprint());
    assert!(vae.fingerprint().starts_with("vae:"));
}

#[test]
fn missing_and_corrupt_models_are_refused_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let e = VaeModel::load(dir.path().join("nope.onnx")).unwrap_err().to_string();
    assert!(e.contains("nope.onnx") && e.contains("fix:") && e.contains("vae.py"), "{e}");
    let onnx = std::fs::read(model_path()).unwrap();
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, &onnx[..onnx.len() / 2]).unwrap();
    std::fs::copy(root().join("models/vae/vae.json"), dir.path().join("bad.json")).unwrap();
    let e = VaeModel::load(&bad).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch") && e.contains("fix:"), "{e}");
    // The encoder's sidecar is not a VAE's.
    let enc = dir.path().join("enc.onnx");
    std::fs::write(&enc, std::fs::read(root().join("models/encoder.onnx")).unwrap()).unwrap();
    std::fs::copy(root().join("models/encoder.json"), dir.path().join("enc.json")).unwrap();
    let e = VaeModel::load(&enc).unwrap_err().to_string();
    assert!(e.contains("fix:"), "{e}");
}

/// `--metric vae` on the command line: similarity, a match and the zero-shot eval.
#[test]
fn vae_metric_in_similarity_match_and_eval() {
    let dir = tempfile::tempdir().unwrap();
    let a = root().join("assets/audio/dry/guitar_clean.wav");
    let b = root().join("assets/audio/content/speech_en_gb_f.wav");
    let o = run(&["similarity", "--metric", "vae", "--json", s(&a), s(&a)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((v["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-5, "{v}");
    assert_eq!(v["metric"], "vae");
    let o = run(&["similarity", "--metric", "vae", "--json", s(&a), s(&b)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["similarity"].as_f64().unwrap() < 0.999, "{v}");

    let report = dir.path().join("report.json");
    let o = run(&[
        "match",
        s(&a),
        s(&b),
        "--chain",
        s(&root().join("config/chains/eq-comp.toml")),
        "-o",
        s(&dir.path().join("out.wav")),
        "--report",
        s(&report),
        "--metric",
        "vae",
        "--population",
        "8",
        "--generations",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["metric"], "vae");

    let o = run(&["eval", "zero-shot", "--quick", "--metric", "vae", "--out", s(dir.path())]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.path().join("zero-shot.md")).unwrap();
    assert!(md.contains("| vae | speech |"), "{md}");
}
