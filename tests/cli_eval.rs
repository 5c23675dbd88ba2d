//! `fxmatch eval … --quick`: every benchmark task runs end to end on the bundled clips and
//! writes a machine-readable result, a markdown table (and plots where the task has them).

mod common;

use common::*;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Run `fxmatch eval TASK --quick --metric mfcc --out DIR` and return the parsed TASK.json and
/// TASK.md (the encoder's rows are tested in tests/encoder.rs).
fn quick(task: &str, dir: &std::path::Path) -> (serde_json::Value, String) {
    let o = run(&["eval", task, "--quick", "--metric", "mfcc", "--out", s(dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json = std::fs::read_to_string(dir.join(format!("{task}.json"))).unwrap();
    let md = std::fs::read_to_string(dir.join(format!("{task}.md"))).unwrap();
    (serde_json::from_str(&json).unwrap(), md)
}

#[test]
fn zero_shot_quick_reports_every_style_per_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let (r, md) = quick("zero-shot", dir.path());
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "speech and music");
    for res in results {
        assert_eq!(res["trials"], 10);
        let per_style = res["per_style"].as_object().unwrap();
        assert_eq!(per_style.keys().cloned().collect::<Vec<_>>(), ["BC", "BR", "NT", "TL", "WM"]);
        let confusion: u64 = res["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(confusion, 10, "every trial lands in the confusion matrix");
    }
    assert!(md.contains("| mfcc | speech |") && md.contains("AFx-Rep 0.86"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("zero-shot-mfcc.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("music WM") && svg.contains("speech average"), "{svg}");
    assert!(md.contains("(zero-shot-mfcc.svg)"), "{md}");
}

#[test]
fn retrieval_quick_reports_accuracy_per_n_and_set_size_with_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let (r, md) = quick("retrieval", dir.path());
    let acc = r["results"][0]["accuracy"].as_array().unwrap();
    assert_eq!(acc.len(), 5, "N = 1…5");
    for row in acc {
        let row: Vec<f64> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(row.len(), 5, "M = 1…5 in the quick run");
        assert!(row.windows(2).all(|w| w[1] <= w[0]), "more distractors never help: {row:?}");
        assert!(row.iter().all(|a| (0.0..=1.0).contains(a)));
    }
    assert!(md.contains("| N | M=1 | M=2 | M=5 |"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("retrieval-mfcc.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 5, "one line per N");
}

#[test]
fn param_est_quick_reports_mse_and_correlation_per_effect() {
    let dir = tempfile::tempdir().unwrap();
    let (r, md) = quick("param-est", dir.path());
    let effects = r["results"][0]["effects"].as_array().unwrap();
    let names: Vec<&str> = effects.iter().map(|e| e["effect"].as_str().unwrap()).collect();
    assert_eq!(names, ["eq", "compressor", "mda Overdrive"], "2 built-ins and 1 unseen LV2 plugin");
    assert_eq!(effects[2]["uri"], "http://drobilla.net/plugins/mda/Overdrive");
    for e in effects {
        let est = e["estimates"].as_array().unwrap();
        assert_eq!(est.len(), 2, "2 targets × 1 trial");
        let mse = e["mse"].as_f64().unwrap();
        let manual =
            est.iter().map(|p| (p[0].as_f64().unwrap() - p[1].as_f64().unwrap()).powi(2)).sum::<f64>() / 2.0;
        assert!((mse - manual).abs() < 1e-12, "MSE is the mean squared error of the estimates");
        assert!((-1.0..=1.0).contains(&e["pearson"].as_f64().unwrap()));
    }
    assert!(md.contains("| eq | mid1_gain |") && md.contains("AFx-Rep MSE 0.048"), "{md}");
    assert!(md.contains("| mda Overdrive (LV2, unseen) | drive | 0…1 |"), "{md}");
    assert!(md.contains("*mean, built-in effects*") && md.contains("*mean, unseen LV2 plugins*"), "{md}");
    let (b, l) = (&r["results"][0]["builtin"], &r["results"][0]["unseen_lv2"]);
    let mse = |e: &serde_json::Value| e["mse"].as_f64().unwrap();
    assert!((mse(b) - (mse(&effects[0]) + mse(&effects[1])) / 2.0).abs() < 1e-12);
    assert!((mse(l) - mse(&effects[2])).abs() < 1e-12);
    let svg = std::fs::read_to_string(dir.path().join("param-est-mfcc.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 4, "the ideal line and one line per effect");
}

#[test]
fn eval_refuses_a_content_folder_with_too_few_clips() {
    let dir = tempfile::tempdir().unwrap();
    write_test_wav(dir.path(), "only.wav", &test_signal(48_000, 1.0));
    let out = dir.path().join("results");
    let o = run(&["eval", "retrieval", "--quick", "--content", s(dir.path()), "--out", s(&out)]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("at least 2 content clips") && err.contains("fix:"), "{err}");
    assert!(!out.exists(), "no results folder for a refused run");
}

#[test]
fn transfer_quick_scores_every_system_and_the_match_beats_the_dry_input() {
    let dir = tempfile::tempdir().unwrap();
    let (r, md) = quick("transfer", dir.path());
    let result = &r["results"][0]["result"];
    let systems = result["systems"].as_array().unwrap();
    let names: Vec<&str> = systems.iter().map(|s| s["system"].as_str().unwrap()).collect();
    assert_eq!(names, ["input", "random", "rule-based", "match:st-ito", "match:live", "oracle"]);
    let sim = |i: usize| systems[i]["mean_similarity"].as_f64().unwrap();
    assert!(sim(3) > sim(0) && sim(4) > sim(0), "the match improves on the dry input: {md}");
    // 2 presets of the chain, then the first sox and the first lv2file chain, 1 pair each.
    let pairs = result["pairs"].as_array().unwrap();
    let sources: Vec<&str> = pairs.iter().map(|p| p["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["fxmatch-chain", "fxmatch-chain", "sox", "lv2file"], "{md}");
    for s in systems {
        assert_eq!(s["similarities"].as_array().unwrap().len(), 4, "4 cases");
        let is_match = s["system"].as_str().unwrap().starts_with("match:");
        assert_eq!(s["mean_param_error"].is_number(), is_match, "parameter error for matches only");
        let gains: Vec<f64> = s["gains"].as_array().unwrap().iter().map(|g| g.as_f64().unwrap()).collect();
        assert_eq!(gains.len(), 4);
        // Each gain is 1 − d(output, oracle) / d(input, oracle), from the reported distances.
        for ((g, d), p) in gains.iter().zip(s["distances"].as_array().unwrap()).zip(pairs) {
            let (d_out, d_in) =
                (d["total"].as_f64().unwrap(), p["input_distance"]["total"].as_f64().unwrap());
            assert!(g.is_finite() && d_out >= 0.0 && d_in > 0.0, "{g} {d_out} {d_in}");
            assert!((g - (1.0 - d_out / d_in)).abs() < 1e-9);
            let parts = ["spectral", "dynamics", "width"].map(|k| d[k].as_f64().unwrap());
            assert!((parts.iter().sum::<f64>() - d_out).abs() < 1e-9, "d is the sum of its terms");
        }
        let mut sorted = gains.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((s["median_gain"].as_f64().unwrap() - (sorted[1] + sorted[2]) / 2.0).abs() < 1e-12);
        let closer = gains.iter().filter(|&&g| g > 0.0).count() as f64 / 4.0;
        assert_eq!(s["share_closer"].as_f64().unwrap(), closer);
        let groups: Vec<(&str, u64)> = s["by_source"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["source"].as_str().unwrap(), g["cases"].as_u64().unwrap()))
            .collect();
        assert_eq!(groups, [("fxmatch-chain", 2), ("sox", 1), ("lv2file", 1), ("external", 2)]);
    }
    // The input is the zero of the scale and the oracle its one, in every case.
    let gains = |i: usize| -> Vec<f64> {
        systems[i]["gains"].as_array().unwrap().iter().map(|g| g.as_f64().unwrap()).collect()
    };
    assert_eq!(gains(0), [0.0; 4]);
    assert_eq!(gains(5), [1.0; 4]);
    assert_eq!(systems[0]["share_closer"], 0.0);
    assert_eq!(systems[5]["share_closer"], 1.0);
    assert!(
        md.contains("| system | similarity to the reference | median gain | 90 % interval | closer |"),
        "{md}"
    );
    assert!(md.contains("| system | fxmatch-chain (2) | sox (1) | lv2file (1) | external (2) |"), "{md}");
    assert!(
        std::fs::read_to_string(dir.path().join("transfer-mfcc.svg")).unwrap().matches("<rect").count() == 7
    );
    // Each searched system's settings, with the chain cases' true settings, give back its
    // parameter error: mean |found − true| over the chain cases.
    let n_params = result["params"].as_array().unwrap().len();
    assert!(n_params > 10, "{n_params} free parameters");
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
    };
    for p in pairs {
        assert_eq!(p["true_setting"].is_array(), p["source"] == "fxmatch-chain", "{p}");
    }
    for s in systems {
        let settings = s["settings"].as_array().unwrap();
        if !s["system"].as_str().unwrap().starts_with("match:") {
            assert!(settings.is_empty(), "{}", s["system"]);
            continue;
        }
        assert_eq!(settings.len(), 4);
        let errors: Vec<f64> = pairs
            .iter()
            .zip(settings)
            .filter(|(p, _)| p["true_setting"].is_array())
            .map(|(p, x)| {
                let (x, t) = (floats(x), floats(&p["true_setting"]));
                assert_eq!((x.len(), t.len()), (n_params, n_params));
                x.iter().zip(&t).map(|(x, t)| (x - t).abs()).sum::<f64>() / n_params as f64
            })
            .collect();
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        assert!(
            (mean - s["mean_param_error"].as_f64().unwrap()).abs() < 1e-9,
            "{mean} {}",
            s["mean_param_error"]
        );
    }
    // `eval compare` reads what transfer wrote: the oracle against the input is +1 on every
    // case, so every difference and its interval are exactly 1.
    let json = dir.path().join("transfer.json");
    let o = run(&["eval", "compare", s(&json), s(&json), "--base-system", "input", "--system", "oracle"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("| all (4) | 0.000 | 1.000 | +1.000 [+1.000, +1.000] | 100 % | 0 % |"), "{out}");
    assert!(out.contains("| external (2) |"), "{out}");
    // Pairs of files after the first are further draws, pooled: twice the cases.
    let o = run(&[
        "eval",
        "compare",
        s(&json),
        s(&json),
        s(&json),
        s(&json),
        "--base-system",
        "input",
        "--system",
        "oracle",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("| all (8) | 0.000 | 1.000 | +1.000 ["), "{out}");
    let o = run(&["eval", "compare", s(&json), s(&json), "--system", "hybrid:live"]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("no system `hybrid:live`") && err.contains("match:live"),
        "{err}"
    );
}

#[test]
fn transfer_refuses_an_empty_preset_folder() {
    let dir = tempfile::tempdir().unwrap();
    let o =
        run(&["eval", "transfer", "--quick", "--presets", s(dir.path()), "--out", s(&dir.path().join("r"))]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("no presets") && err.contains("fix:"), "{err}");
}

/// The cases (input clip, reference content) come from their own random stream: a chain with one
/// more free parameter (the default chain with its reverb's width freed) is judged on the same
/// cases, so two chains' figures compare case by case.
#[test]
fn transfer_cases_do_not_depend_on_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let default = std::fs::read_to_string(chain("default.toml")).unwrap();
    let freed = default
        .replace("width = 1.0\n", "")
        .replace("[effect.fixed]\npredelay", "width = true\n[effect.fixed]\npredelay");
    assert_ne!(freed, default);
    let wider = dir.path().join("width-free.toml");
    std::fs::write(&wider, freed).unwrap();
    let cases = |chain: &str, out: &str| {
        let out = dir.path().join(out);
        let mut args: Vec<&str> =
            "eval transfer --quick --metric mfcc --source fxmatch-chain --source sox".split(' ').collect();
        args.extend(["--chain", chain, "--out", s(&out)]);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("transfer.json")).unwrap()).unwrap();
        let pairs = r["results"][0]["result"]["pairs"].as_array().unwrap().clone();
        pairs
            .iter()
            .map(|p| (p["input"].as_u64().unwrap(), p["reference"].as_u64().unwrap()))
            .collect::<Vec<_>>()
    };
    let a = cases(&chain("default.toml"), "a");
    assert_eq!(a.len(), 3, "2 presets and 1 sox chain, 1 pair each");
    assert_eq!(a, cases(s(&wider), "b"));
}

/// A run of some sources judges each of their styles on the cases a run of every source gives
/// it (styles left out still draw theirs), so runs of different `--source`s compare case by case.
#[test]
fn transfer_cases_do_not_depend_on_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let cases = |sources: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args: Vec<&str> = "eval transfer --quick --metric mfcc".split(' ').collect();
        for source in sources {
            args.extend(["--source", source]);
        }
        args.extend(["--out", s(&out)]);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("transfer.json")).unwrap()).unwrap();
        r["results"][0]["result"]["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["source"].as_str().unwrap().to_string(),
                    p["input"].as_u64().unwrap(),
                    p["reference"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let all = cases(&["fxmatch-chain", "sox", "lv2file"], "all");
    assert_eq!(all.len(), 4, "2 presets, 1 sox and 1 lv2file chain, 1 pair each");
    let sox = cases(&["sox"], "sox");
    assert_eq!(sox, all[2..3]);
    let lv2 = cases(&["lv2file"], "lv2");
    assert_eq!(lv2, all[3..4]);
}

/// Further references per case (`--references K`) are other content through the same
/// processing, never the input's content or the case's own reference content, and they leave
/// the cases as they are, so runs with one reference and with several compare case by case.
/// Both ways of reading them run through the predictor.
#[test]
fn further_references_are_other_content_and_keep_the_cases() {
    let dir = tempfile::tempdir().unwrap();
    let run_with = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args: Vec<&str> =
            "eval transfer --quick --metric mfcc --profile live --source fxmatch-chain --source sox"
                .split(' ')
                .collect();
        args.extend(["--predictor", "models/predictor/default.onnx", "--out", s(&out)]);
        args.extend(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let md = std::fs::read_to_string(out.join("transfer.md")).unwrap();
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("transfer.json")).unwrap()).unwrap();
        (r["results"][0]["result"]["pairs"].as_array().unwrap().clone(), md)
    };
    let (one, md) = run_with(&[], "one");
    assert!(one.iter().all(|p| p.get("extra_references").is_none()), "{one:?}");
    assert!(!md.contains("References per case"), "{md}");
    for pool in ["features", "predictions"] {
        let (three, md) = run_with(&["--references", "3", "--reference-pool", pool], pool);
        assert!(md.contains("References per case: 3"), "{md}");
        assert_eq!(three.len(), one.len());
        for (a, b) in one.iter().zip(&three) {
            assert_eq!((&a["input"], &a["reference"]), (&b["input"], &b["reference"]));
            let mut used: Vec<u64> = b["extra_references"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .chain([b["input"].as_u64().unwrap(), b["reference"].as_u64().unwrap()])
                .collect();
            used.sort_unstable();
            used.dedup();
            assert_eq!(
                used.len(),
                4,
                "two further references, distinct from the input and the reference: {b}"
            );
        }
    }
    // Eight bundled clips: eight references and the input need nine.
    let o = run(&["eval", "transfer", "--quick", "--references", "8", "--out", s(&dir.path().join("x"))]);
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("at least 9 content clips") && err.contains("fix:"), "{err}");
}

/// `--judge-fit N` adds the row `judge-fit`: the chain fitted to each case's oracle with the
/// fidelity distance itself as the loss, from the neutral setting (which it keeps when nothing
/// beats it on the searched segment), so no case ends far below doing nothing.
#[test]
fn the_judge_fit_row_fits_the_chain_to_the_judge() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    let o = run(&[
        "eval",
        "transfer",
        "--quick",
        "--metric",
        "mfcc",
        "--profile",
        "live",
        "--source",
        "fxmatch-chain",
        "--source",
        "sox",
        "--judge-fit",
        "30",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("transfer.json")).unwrap()).unwrap();
    let systems = r["results"][0]["result"]["systems"].as_array().unwrap();
    let names: Vec<&str> = systems.iter().map(|s| s["system"].as_str().unwrap()).collect();
    assert_eq!(names[names.len() - 2..], ["judge-fit", "oracle"], "{names:?}");
    let gains: Vec<f64> =
        systems[names.len() - 2]["gains"].as_array().unwrap().iter().map(|g| g.as_f64().unwrap()).collect();
    assert_eq!(gains.len(), 3, "2 presets and 1 sox chain");
    assert!(gains.iter().all(|&g| g > -0.1), "{gains:?}");
    assert!(std::fs::read_to_string(out.join("transfer.md")).unwrap().contains("| judge-fit |"));
}
