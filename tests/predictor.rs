//! The parameter predictor (models/predictor/): parity with the training code, the checks that
//! tie it to its chain and VAE, its training examples, and `fxmatch match --mode predict|hybrid`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::metric::{Embedding, VaeModel};
use fxmatch::predict::features::STYLE_STATS_LEN;
use fxmatch::predict::{Description, Predictor};
use serde::Deserialize;

fn model_path() -> PathBuf {
    root().join("models/predictor/default.onnx")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[derive(Deserialize)]
struct Golden {
    z: Vec<f32>,
    p: Vec<f32>,
}

/// `training/predictor.py export` wrote outputs for fixed inputs; tract reproduces them (1e-4),
/// and every output is a normalised setting (the sigmoid's [0.01, 0.99], pulled toward the
/// neutral setting by `predictor.py calibrate` where a model is calibrated: still within [0, 1]). For each shipped predictor (the default
/// chain's and the mda-lv2 chain's), loaded from its file and as built into the binary.
#[test]
fn golden_predictions_match_the_training_code() {
    for name in ["default", "mda"] {
        let golden: Vec<Golden> = serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("models/predictor/{name}.golden.json"))).unwrap(),
        )
        .unwrap();
        let file = Predictor::load(
            root().join(format!("models/predictor/{name}.onnx")),
            VaeModel::builtin().unwrap(),
        )
        .unwrap();
        let builtin = Predictor::builtin_for(name).unwrap();
        assert_eq!(builtin.meta().onnx_sha256, file.meta().onnx_sha256, "{name}: rebuild after re-exporting");
        for p in [file, builtin] {
            let dim = p.meta().dim;
            let (n_stats, n_style) = (p.meta().stats_len(), p.style_len());
            assert_eq!(golden.len(), 2);
            for g in &golden {
                assert_eq!(g.z.len(), 4 * dim + 2 * n_stats + 2 * n_style, "{name}: golden input width");
                let e = |k: usize| g.z[k * dim..(k + 1) * dim].to_vec();
                let stats = |k: usize| g.z[4 * dim + k * n_stats..4 * dim + (k + 1) * n_stats].to_vec();
                let style_at = 4 * dim + 2 * n_stats;
                let style = |k: usize| g.z[style_at + k * n_style..style_at + (k + 1) * n_style].to_vec();
                let describe = |k: usize| Description {
                    latent: Embedding { mid: e(2 * k), side: e(2 * k + 1) },
                    stats: stats(k),
                    style: style(k),
                };
                let (input, reference) = (describe(0), describe(1));
                let x = p.predict(&input, &reference).unwrap();
                assert_eq!(x.len(), g.p.len());
                for (ours, theirs) in x.iter().zip(&g.p) {
                    assert!((ours - *theirs as f64).abs() < 1e-4, "{name}: {ours} vs {theirs}");
                    assert!((0.0..=1.0).contains(ours), "{ours}");
                }
            }
        }
    }
}

/// Each built-in predictor fits its shipped chain file; a chain without one is a clear error.
#[test]
fn builtin_predictors_fit_their_chains() {
    for name in ["default", "mda"] {
        let spec = ChainSpec::load(chain(&format!("{name}.toml"))).unwrap();
        assert_eq!(spec.name, name);
        let p = Predictor::builtin_for(&spec.name).unwrap();
        p.check_chain(&Chain::from_spec(&spec).unwrap()).unwrap();
    }
    let e = Predictor::builtin_for("eq-comp").unwrap_err().to_string();
    assert!(e.contains("no predictor is built in for chain `eq-comp`") && e.contains("default, mda"), "{e}");
}

/// A predictor drives only the chain and reads only the VAE it was trained for.
#[test]
fn other_chains_and_vaes_are_refused_with_a_fix() {
    let p = Predictor::load(model_path(), VaeModel::builtin().unwrap()).unwrap();
    let default = Chain::from_spec(&ChainSpec::load(chain("default.toml")).unwrap()).unwrap();
    p.check_chain(&default).unwrap();
    let other = Chain::from_spec(&ChainSpec::load(chain("eq-comp.toml")).unwrap()).unwrap();
    let e = p.check_chain(&other).unwrap_err().to_string();
    assert!(e.contains("trained for chain") && e.contains("fix:"), "{e}");

    // The same predictor beside a sidecar whose `key` names another model: the load's error.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model_path(), dir.path().join("p.onnx")).unwrap();
    let refused = |key: &str| {
        let mut meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("models/predictor/default.json")).unwrap(),
        )
        .unwrap();
        meta[key] = "00".repeat(32).into();
        std::fs::write(dir.path().join("p.json"), meta.to_string()).unwrap();
        Predictor::load(dir.path().join("p.onnx"), VaeModel::builtin().unwrap()).unwrap_err().to_string()
    };
    let e = refused("vae_sha256");
    assert!(e.contains("VAE") && e.contains("retrain"), "{e}");
    // A style encoder that is not built in.
    let e = refused("encoder_sha256");
    assert!(e.contains("no style encoder with sha256 0000") && e.contains("models/real/encoder.onnx"), "{e}");
}

/// `fxmatch predictor dataset --encoder`: after the latents (no statistics here), each row holds
/// the encoder's mid and side embeddings of the input excerpt and of the reference, exactly as
/// the encoder embeds the replayed input; the manifest names the encoder and the width.
#[test]
fn dataset_rows_hold_the_encoder_embeddings() {
    use fxmatch::dataset::content::Content;
    use fxmatch::metric::{Encoder, StyleMetric};
    use fxmatch::predict::dataset::{draw_example, PredictDatasetConfig};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let encoder_path = root().join("models/real/encoder.onnx");
    let content_dir = root().join("assets/audio/dry");
    let o = run(&[
        "predictor",
        "dataset",
        s(&content_dir),
        s(&out),
        "--chain",
        &chain("default.toml"),
        "--n",
        "3",
        "--seconds",
        "1",
        "--threads",
        "1",
        "--no-stats",
        "--encoder",
        s(&encoder_path),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("predict-dataset.json")).unwrap()).unwrap();
    let mut encoder = Encoder::load(&encoder_path).unwrap();
    let dim = meta["dim"].as_u64().unwrap() as usize;
    let style_len = 2 * encoder.model().meta().dim;
    assert_eq!(meta["style_len"].as_u64().unwrap() as usize, style_len);
    assert_eq!(meta["stats_len"].as_u64().unwrap(), 0);
    assert_eq!(meta["encoder_sha256"].as_str().unwrap(), encoder.model().meta().onnx_sha256);
    let chain = Chain::from_spec(&ChainSpec::load(chain("default.toml")).unwrap()).unwrap();
    let row = 4 * dim + 2 * style_len + chain.num_free();
    let bytes = std::fs::read(out.join("examples.f32")).unwrap();
    assert_eq!(bytes.len(), 3 * row * 4);
    let values: Vec<f32> = bytes.chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let config: PredictDatasetConfig = serde_json::from_value(meta["config"].clone()).unwrap();
    let content = Content::load(&content_dir, 48_000).unwrap();
    for (i, r) in values.chunks(row).enumerate() {
        let input = draw_example(&chain, &content, 48_000, &config, i).input;
        let e = encoder.embed(&input.left, &input.right, 48_000).unwrap();
        let ours = &r[4 * dim..4 * dim + style_len];
        assert_eq!(ours, [e.mid, e.side].concat().as_slice(), "example {i}: the input's embedding");
        // The reference's block is an embedding too: mid and side each of unit length.
        let reference = &r[4 * dim + style_len..4 * dim + 2 * style_len];
        for half in reference.chunks(style_len / 2) {
            let norm = half.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "example {i}: |reference embedding| {norm}");
        }
    }
}

/// `fxmatch predictor dataset`: rows of 4 latents, the input's and the reference's style
/// statistics, and the chain's parameters; an effect that is off sits at the match's start
/// point, one that is on lies in [0.01, 0.99].
#[test]
fn dataset_rows_hold_latents_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let o = run(&[
        "predictor",
        "dataset",
        s(&root().join("assets/audio/dry")),
        s(&out),
        "--chain",
        &chain("default.toml"),
        "--n",
        "6",
        "--seconds",
        "1",
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("predict-dataset.json")).unwrap()).unwrap();
    let chain = Chain::from_spec(&ChainSpec::load(chain("default.toml")).unwrap()).unwrap();
    let n_params = chain.num_free();
    assert_eq!(meta["params"].as_array().unwrap().len(), n_params);
    let dim = meta["dim"].as_u64().unwrap() as usize;
    assert_eq!(meta["stats"], fxmatch::predict::features::STYLE_STATS);
    assert_eq!(meta["stats_len"].as_u64().unwrap() as usize, STYLE_STATS_LEN);
    let bytes = std::fs::read(out.join("examples.f32")).unwrap();
    let stats_at = 4 * dim;
    let row = stats_at + 2 * STYLE_STATS_LEN + n_params;
    assert_eq!(bytes.len(), 6 * row * 4);
    let values: Vec<f32> = bytes.chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let start = chain.start_point();
    for r in values.chunks(row) {
        assert!(r.iter().all(|v| v.is_finite()));
        // The input's statistics are those of a dry excerpt: mean band levels in dBFS.
        assert!(r[stats_at..stats_at + 24].iter().all(|v| (-91.0..=6.0).contains(v)));
        let p = &r[stats_at + 2 * STYLE_STATS_LEN..];
        // Per effect: all at the start point (off) or all inside [0.01, 0.99] (on).
        let mut i = 0;
        while i < n_params {
            let slot = chain.free_params()[i].slot;
            let members: Vec<usize> =
                (i..n_params).take_while(|&j| chain.free_params()[j].slot == slot).collect();
            let off = members.iter().all(|&j| (p[j] as f64 - start[j]).abs() < 1e-6);
            let on = members.iter().all(|&j| (0.01..=0.99).contains(&p[j]));
            assert!(
                off || on,
                "effect at slot {slot}: {:?}",
                members.iter().map(|&j| p[j]).collect::<Vec<_>>()
            );
            i += members.len();
        }
    }
}

/// `match --mode predict` (no evaluation) and `--mode hybrid` (a search from the prediction)
/// run end to end and report the prediction.
#[test]
fn match_modes_predict_and_hybrid() {
    let dir = tempfile::tempdir().unwrap();
    let input = root().join("assets/audio/dry/guitar_clean.wav");
    let reference = root().join("assets/audio/content/synth_lead.wav");
    // `fxmatch match` of the input to the reference on a bundled chain, output NAME.wav.
    let match_on = |chain_file: &str, name: &str, more: &[&str]| {
        let out = dir.path().join(format!("{name}.wav"));
        let mut args = vec!["match", s(&input), s(&reference), "--chain"];
        let chain_path = chain(chain_file);
        args.extend([chain_path.as_str(), "-o", s(&out)]);
        args.extend_from_slice(more);
        run(&args)
    };
    let model = model_path();
    let go = |mode: &str| -> serde_json::Value {
        let report = dir.path().join(format!("{mode}.json"));
        let o = match_on(
            "default.toml",
            mode,
            &[
                "--report",
                s(&report),
                "--mode",
                mode,
                "--predictor",
                s(&model),
                "--population",
                "6",
                "--generations",
                "2",
            ],
        );
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
    };
    let predict = go("predict");
    assert_eq!(predict["mode"], "predict");
    assert_eq!(predict["evaluations"], 0);
    let x: Vec<f64> = predict["prediction"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let found: Vec<f64> =
        predict["parameters"].as_array().unwrap().iter().map(|p| p["normalized"].as_f64().unwrap()).collect();
    assert_eq!(x, found, "predict renders the prediction as it is");
    let hybrid = go("hybrid");
    assert_eq!(hybrid["mode"], "hybrid");
    assert_eq!(hybrid["prediction"], predict["prediction"], "the same prediction starts the hybrid search");
    assert_eq!(hybrid["config"]["sigma0"], 0.1);
    assert!(hybrid["evaluations"].as_u64().unwrap() > 0);

    // A chain the predictor was not trained for is refused before any work.
    let o = match_on("eq-comp.toml", "x", &["--mode", "predict", "--predictor", s(&model)]);
    assert!(!o.status.success() && stderr(&o).contains("trained for chain"), "{}", stderr(&o));

    // Without --predictor, the one built in for the chain's name: mda-lv2's for config/chains/mda.toml
    // (real LV2 plugins), and none for eq-comp.
    let report = dir.path().join("mda.json");
    let o = match_on("mda.toml", "mda", &["--report", s(&report), "--mode", "predict"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mda: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let names: Vec<&str> =
        mda["parameters"].as_array().unwrap().iter().map(|p| p["param"].as_str().unwrap()).collect();
    assert_eq!(mda["prediction"].as_array().unwrap().len(), names.len());
    assert!(names.iter().any(|n| n.contains("feedback")), "{names:?}");
    let o = match_on("eq-comp.toml", "y", &["--mode", "hybrid"]);
    assert!(!o.status.success() && stderr(&o).contains("no predictor is built in"), "{}", stderr(&o));
}

/// `fxmatch eval transfer --predictor`: the systems `predict` and `hybrid:PROFILE` join the
/// searches, each scored on every case with a parameter error on the chain's own references.
#[test]
fn eval_transfer_scores_predict_and_hybrid() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "eval",
        "transfer",
        "--quick",
        "--metric",
        "mfcc",
        "--source",
        "fxmatch-chain",
        "--profile",
        "live",
        "--predictor",
        s(&model_path()),
        "--out",
        s(dir.path()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("transfer.json")).unwrap()).unwrap();
    let systems = r["results"][0]["result"]["systems"].as_array().unwrap();
    let names: Vec<&str> = systems.iter().map(|s| s["system"].as_str().unwrap()).collect();
    assert_eq!(names, ["input", "random", "rule-based", "match:live", "predict", "hybrid:live", "oracle"]);
    for s in &systems[3..6] {
        let e = s["mean_param_error"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&e), "{}: {e}", s["system"]);
        assert!(s["mean_seconds"].as_f64().unwrap() > 0.0);
        assert_eq!(s["similarities"].as_array().unwrap().len(), 2, "2 presets, 1 pair each");
    }
}

/// Several reference WAVs are clips of one production, read together: the same clip twice is
/// that clip (their mean is itself), two different clips give another prediction than either,
/// and a broken one is refused by name before any work.
#[test]
fn match_reads_several_references_together() {
    let dir = tempfile::tempdir().unwrap();
    let input = root().join("assets/audio/dry/guitar_clean.wav");
    let synth = root().join("assets/audio/content/synth_lead.wav");
    let piano = root().join("assets/audio/dry/piano_chords.wav");
    let default_chain = chain("default.toml");
    let predict = |name: &str, refs: &[&std::path::Path]| -> std::process::Output {
        let mut args = vec!["match", s(&input)];
        args.extend(refs.iter().map(|r| s(r)));
        let out = dir.path().join(format!("{name}.wav"));
        let report = dir.path().join(format!("{name}.json"));
        args.extend(["--chain", &default_chain, "-o", s(&out), "--mode", "predict", "--report", s(&report)]);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let report = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("{name}.json"))).unwrap())
            .unwrap()
    };
    for (name, refs) in [
        ("synth", vec![synth.as_path()]),
        ("synth-twice", vec![synth.as_path(), synth.as_path()]),
        ("piano", vec![piano.as_path()]),
        ("both", vec![synth.as_path(), piano.as_path()]),
    ] {
        let o = predict(name, &refs);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
    let (one, twice, piano_only, both) =
        (report("synth"), report("synth-twice"), report("piano"), report("both"));
    assert_eq!(twice["prediction"], one["prediction"], "the mean of one clip twice is that clip");
    assert_eq!(both["references"].as_array().unwrap().len(), 2);
    assert_eq!(both["reference"], one["reference"], "`reference` stays the first WAV");
    assert_ne!(both["prediction"], one["prediction"]);
    assert_ne!(both["prediction"], piano_only["prediction"]);

    let broken = dir.path().join("broken.wav");
    std::fs::write(&broken, b"RIFF not really").unwrap();
    let o = predict("broken", &[synth.as_path(), broken.as_path()]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("broken.wav"), "{err}");
}
