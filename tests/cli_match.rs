//! `fxmatch match` end to end: a synthetic case with known settings, reproducibility, and bad
//! input (silent, too short, no free parameter, a budget below one generation).

mod common;

use std::sync::atomic::AtomicBool;

use common::*;
use fxmatch::audio::read_wav;
use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::metric::{similarity, Embedding, MfccMetric, StyleMetric};
use fxmatch::optimize::{MatchConfig, Matcher, Start};
use fxmatch::render::render;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

fn clip(name: &str) -> fxmatch::audio::AudioBuffer {
    read_wav(root().join("assets/audio").join(name)).unwrap().0
}

/// Reference = other content through the eq-comp chain at known settings; the match on the
/// input must come close to the oracle (the input through those same settings).
#[test]
fn match_recovers_most_of_the_oracle_similarity_on_a_synthetic_case() {
    let spec = ChainSpec::load(chain("eq-comp.toml")).unwrap();
    let truth: Vec<f64> = vec![0.8, 0.3, 0.5, 0.4, 0.6, 0.25, 0.7, 0.6, 0.5, 0.5, 0.3, 0.4];
    let mut chain_ = Chain::from_spec(&spec).unwrap();
    chain_.set_normalized(&truth);
    let reference = render(&mut chain_, &clip("content/guitar_acoustic.wav"), 0.0).unwrap();
    let input = clip("dry/guitar_clean.wav");
    let oracle = render(&mut chain_, &input, 0.0).unwrap();

    let mut metric = MfccMetric::new();
    let emb = |m: &mut MfccMetric, a: &fxmatch::audio::AudioBuffer| {
        let (l, r) = a.to_stereo();
        m.embed(&l, &r, a.sample_rate).unwrap()
    };
    let z_ref = emb(&mut metric, &reference);
    let s_oracle = similarity(&emb(&mut metric, &oracle), &z_ref);
    let s_input = similarity(&emb(&mut metric, &input), &z_ref);

    let config = MatchConfig {
        population: 24,
        max_generations: 15,
        seed: 3,
        patience: None,
        ..MatchConfig::default()
    };
    let mut matcher = Matcher::new(&spec, &metric, config).unwrap();
    let (l, r) = input.to_stereo();
    let out = matcher.run(&l, &r, input.sample_rate, &z_ref, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert!(out.similarity > s_input, "the match improves on the dry input: {} vs {s_input}", out.similarity);
    assert!(
        out.similarity >= s_oracle - 0.02,
        "match {:.4} within 0.02 of the oracle {s_oracle:.4} (input {s_input:.4})",
        out.similarity
    );
    assert_eq!(out.generations, 15);
    assert_eq!(out.evaluations, 15 * 24 + 1 + out.selection_evaluations);
    assert!(out.selection_evaluations <= 2 * 2, "at most two trials per effect");
    assert!(out.history.windows(2).all(|w| w[1] >= w[0]), "best-so-far never drops");
}

/// The eq-comp chain, the MFCC metric, synth_lead's embedding and the first `frames` of the
/// piano clip: a case where the search moves.
fn piano_to_synth_lead(frames: usize) -> (ChainSpec, MfccMetric, Embedding, Vec<f32>, Vec<f32>) {
    let spec = ChainSpec::load(chain("eq-comp.toml")).unwrap();
    let mut metric = MfccMetric::new();
    let (rl, rr) = clip("content/synth_lead.wav").to_stereo();
    let z_ref = metric.embed(&rl, &rr, 48_000).unwrap();
    let (mut l, mut r) = clip("dry/piano_chords.wav").to_stereo();
    l.truncate(frames);
    r.truncate(frames);
    (spec, metric, z_ref, l, r)
}

#[test]
fn same_seed_same_result_and_abort_returns_the_start() {
    let (spec, metric, z_ref, l, r) = piano_to_synth_lead(48_000);
    let (l, r) = (&l[..], &r[..]);
    let config =
        MatchConfig { population: 8, max_generations: 3, seed: 11, threads: 2, ..MatchConfig::default() };
    let run = |threads: usize| {
        let mut m = Matcher::new(&spec, &metric, MatchConfig { threads, ..config.clone() }).unwrap();
        m.run(l, r, 48_000, &z_ref, &AtomicBool::new(false), &mut |_| {}).unwrap()
    };
    let (a, b) = (run(2), run(1));
    assert_eq!(a.x, b.x, "same seed: same parameters, whatever the thread count");
    assert_eq!(a.similarity, b.similarity);

    assert_eq!(a.effects.len(), 2, "one usage entry per effect");
    for (ea, eb) in a.effects.iter().zip(&b.effects) {
        assert_eq!((ea.distance_db, ea.used, ea.deselected), (eb.distance_db, eb.used, eb.deselected));
    }

    let mut m = Matcher::new(&spec, &metric, config).unwrap();
    let aborted = m.run(l, r, 48_000, &z_ref, &AtomicBool::new(true), &mut |_| {}).unwrap();
    assert_eq!(aborted.generations, 0);
    assert_eq!(aborted.stop_reason, "aborted");
    let neutral = Chain::from_spec(&spec).unwrap().start_point();
    assert_eq!(aborted.x, neutral, "an aborted match returns the best so far: the neutral start");
    assert_eq!(aborted.used_effects(), Vec::<&str>::new(), "at the neutral start no effect is used");
}

/// The hybrid match's pull toward its start point (the prediction): with a heavy weight the
/// search stays near the start, without it the similarity drags it away; a negative weight is
/// refused with the fix.
#[test]
fn start_prior_holds_the_search_near_its_start() {
    let (spec, metric, z_ref, l, r) = piano_to_synth_lead(72_000);
    let (l, r) = (&l[..], &r[..]);
    let start = vec![0.5; 12];
    let config = MatchConfig {
        population: 12,
        max_generations: 6,
        seed: 5,
        patience: None,
        prior: 0.0,
        selection_margin: None,
        start_at: Some(start.clone()),
        ..MatchConfig::default()
    };
    let distance = |x: &[f64]| x.iter().zip(&start).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
    let run = |start_prior: f64| {
        let mut m = Matcher::new(&spec, &metric, MatchConfig { start_prior, ..config.clone() }).unwrap();
        m.run(l, r, 48_000, &z_ref, &AtomicBool::new(false), &mut |_| {}).unwrap()
    };
    let (free, held) = (run(0.0), run(10.0));
    assert!(distance(&free.x) > 0.05, "without the pull the search moves: {}", distance(&free.x));
    assert!(
        distance(&held.x) < distance(&free.x) / 4.0,
        "held {:.4} vs free {:.4}",
        distance(&held.x),
        distance(&free.x)
    );
    assert!((held.penalty - 10.0 * distance(&held.x)).abs() < 1e-9, "the report's penalty counts it");
    // The effect selection counts the pull too: it does not set the prediction's effects back
    // to neutral for a similarity that barely moves.
    let mut m = Matcher::new(
        &spec,
        &metric,
        MatchConfig { start_prior: 10.0, selection_margin: Some(0.05), ..config.clone() },
    )
    .unwrap();
    let selected = m.run(l, r, 48_000, &z_ref, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert!(selected.effects.iter().all(|e| !e.deselected), "{:?}", selected.effects);
    assert!(distance(&selected.x) < distance(&free.x) / 4.0);

    let e = Matcher::new(&spec, &metric, MatchConfig { start_prior: -1.0, ..config }).err().unwrap();
    assert!(e.to_string().contains("start prior"), "{e}");
}

/// The neutral start is transparent: matching a clip to itself leaves every effect unused. From
/// mid-range without prior or selection (ST-ITO's search) the same match processes audibly,
/// and the usage report says so.
#[test]
fn a_clip_matched_to_itself_uses_no_effect() {
    let spec = ChainSpec::load(chain("default.toml")).unwrap();
    let input = clip("dry/guitar_clean.wav");
    let (l, r) = input.to_stereo();
    let (l, r) = (&l[..72_000], &r[..72_000]);
    let mut metric = MfccMetric::new();
    let z_ref = metric.embed(l, r, 48_000).unwrap();
    let config = MatchConfig { population: 8, max_generations: 3, seed: 2, ..MatchConfig::default() };
    let mut m = Matcher::new(&spec, &metric, config.clone()).unwrap();
    let out = m.run(l, r, 48_000, &z_ref, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert!(
        out.similarity_start > 0.999,
        "the neutral chain leaves the clip's style: {}",
        out.similarity_start
    );
    assert_eq!(out.used_effects(), Vec::<&str>::new(), "{:?}", out.effects);

    let st_ito = MatchConfig { start: Start::Middle, prior: 0.0, selection_margin: None, ..config };
    let mut m = Matcher::new(&spec, &metric, st_ito).unwrap();
    let out = m.run(l, r, 48_000, &z_ref, &AtomicBool::new(false), &mut |_| {}).unwrap();
    assert!(out.similarity < 0.999, "mid-range processing changes the style: {}", out.similarity);
    assert!(!out.used_effects().is_empty(), "{:?}", out.effects);
}

#[test]
fn cli_match_writes_output_params_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    let report = dir.path().join("report.json");
    let input = root().join("assets/audio/dry/speech_en_us.wav");
    let reference = root().join("assets/audio/content/speech_en_gb_f.wav");
    let o = run(&[
        "match",
        s(&input),
        s(&reference),
        "--chain",
        &chain("eq-comp.toml"),
        "-o",
        s(&out),
        "--report",
        s(&report),
        "--population",
        "8",
        "--generations",
        "2",
        "--seed",
        "5",
        "--segment",
        "1.5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for key in ["similarity_input", "similarity_output", "evaluations", "generations", "seconds"] {
        assert!(r.get(key).is_some(), "report has {key}: {r}");
    }
    assert_eq!(r["evaluations"], 17 + r["search"]["selection_evaluations"].as_u64().unwrap());
    assert!(r["effects_used"].is_array() && r["search"]["effects"].as_array().unwrap().len() == 2, "{r}");
    assert!(r["search"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["param"] == "threshold" && p["unit"] == "dB"));
    // The params file renders back to the same output.
    let params = out.with_extension("params.toml");
    let again = dir.path().join("again.wav");
    let o = run(&[
        "render",
        "--chain",
        &chain("eq-comp.toml"),
        "--params",
        s(&params),
        "--format",
        "f32",
        s(&input),
        s(&again),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, _) = read_wav(&out).unwrap();
    let (b, _) = read_wav(&again).unwrap();
    let worst = a
        .channels
        .iter()
        .flatten()
        .zip(b.channels.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-4, "params file reproduces the match output (worst {worst})");
}

#[test]
fn cli_match_refuses_what_it_cannot_match() {
    let dir = tempfile::tempdir().unwrap();
    let good = root().join("assets/audio/dry/bass_finger.wav");
    let silent =
        write_test_wav(dir.path(), "silent.wav", &fxmatch::audio::AudioBuffer::silence(48_000, 2, 48_000));
    let short = write_test_wav(dir.path(), "short.wav", &test_signal(48_000, 0.1));
    let fixed_only = dir.path().join("fixed.toml");
    std::fs::write(&fixed_only, "[[effect]]\ntype = \"gain\"\n").unwrap();
    let out = dir.path().join("out.wav");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![s(&silent).into(), s(&good).into()], "input is silent"),
        (vec![s(&good).into(), s(&silent).into()], "reference is silent"),
        (vec![s(&short).into(), s(&good).into()], "at least 0.5 s"),
        (
            vec![s(&good).into(), s(&good).into(), "--chain".into(), s(&fixed_only).into()],
            "no free parameter",
        ),
        (vec![s(&good).into(), s(&good).into(), "--budget".into(), "0".into()], "less than one generation"),
    ];
    for (mut args, expect) in cases {
        args.splice(0..0, ["match".to_string()]);
        args.extend(["-o".into(), s(&out).into()]);
        if !args.iter().any(|a| a == "--chain") {
            args.extend(["--chain".into(), chain("eq-comp.toml")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(expect) && err.contains("fix:"), "{args:?}: {err}");
        assert!(!out.exists(), "no output for a refused match");
    }
}

/// `fxmatch eval match --quick`: the synthetic benchmark runs end to end and reports the
/// oracle gap, per-parameter errors and the time split for every profile.
#[test]
fn eval_match_quick_reports_gap_errors_and_speed() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "eval",
        "match",
        "--quick",
        "--chain",
        &chain("eq-comp.toml"),
        "--profile",
        "live",
        "--metric",
        "mfcc",
        "--out",
        s(dir.path()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("match.json")).unwrap()).unwrap();
    assert_eq!(r["results"].as_array().unwrap().len(), 1, "one metric asked for");
    assert_eq!(r["results"][0]["metric"], "mfcc");
    let live = &r["results"][0]["profiles"][0];
    assert_eq!(live["profile"], "live");
    assert_eq!(live["cases"].as_array().unwrap().len(), 2);
    assert_eq!(live["param_error"].as_object().unwrap().len(), 12, "one error per free parameter");
    for case in live["cases"].as_array().unwrap() {
        let (out, input) =
            (case["similarity_output"].as_f64().unwrap(), case["similarity_input"].as_f64().unwrap());
        assert!(out > input, "the match improves on the dry input: {case}");
        // The effect selection adds at most two trials per effect (eq-comp has two).
        let evaluations = case["evaluations"].as_u64().unwrap();
        assert!((3 * 16 + 1..=3 * 16 + 1 + 4).contains(&evaluations), "{case}");
    }
    let share = live["render_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "time split reported: {share}");
    assert!(std::fs::read_to_string(dir.path().join("match.md")).unwrap().contains("| live | 16 × 3 |"));
}

#[test]
fn cli_match_rejects_an_unknown_profile() {
    let good = root().join("assets/audio/dry/bass_finger.wav");
    let o = run(&["match", s(&good), s(&good), "--profile", "turbo", "-o", "/tmp/never.wav"]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("unknown match profile `turbo`") && err.contains("st-ito, live"),
        "{err}"
    );
}

/// Different sample rates and channel counts are matched (each file analysed at its own rate,
/// mono fed to both channels), with a warning; a clipped input is matched with a warning.
#[test]
fn cli_match_accepts_mixed_rates_channels_and_clipping_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let mut mono = test_signal(44_100, 1.5);
    mono.channels.truncate(1);
    let input = write_test_wav(dir.path(), "mono44k.wav", &mono);
    let mut loud = test_signal(48_000, 1.5);
    for x in loud.channels.iter_mut().flatten() {
        *x = (*x * 8.0).clamp(-1.0, 1.0);
    }
    let reference = write_test_wav(dir.path(), "clipped48k.wav", &loud);
    let out = dir.path().join("out.wav");
    let report = dir.path().join("r.json");
    let o = run(&[
        "match",
        s(&input),
        s(&reference),
        "--chain",
        &chain("eq-comp.toml"),
        "-o",
        s(&out),
        "--report",
        s(&report),
        "--population",
        "6",
        "--generations",
        "2",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("44100 Hz") && err.contains("48000 Hz"), "rate warning: {err}");
    assert!(err.contains("reference is clipped"), "clipping warning: {err}");
    let (audio, _) = read_wav(&out).unwrap();
    assert_eq!((audio.sample_rate, audio.num_channels()), (44_100, 2), "output at the input's rate, stereo");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["warnings"].as_array().unwrap().len(), 2, "{r}");
}

/// A reference much shorter than the segment the input is judged on is matched, with a warning
/// that says why the result may be less reliable and how long a reference should be.
#[test]
fn cli_match_warns_about_a_short_reference() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_test_wav(dir.path(), "in.wav", &test_signal(48_000, 3.0));
    let reference = write_test_wav(dir.path(), "short.wav", &test_signal(48_000, 1.0));
    let out = dir.path().join("out.wav");
    let o = run(&[
        "match",
        s(&input),
        s(&reference),
        "--chain",
        &chain("eq-comp.toml"),
        "-o",
        s(&out),
        "--population",
        "4",
        "--generations",
        "1",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("reference lasts 1.0 s, less than half the 3.0 s segment"), "{err}");
}

/// Run from a folder that is not the repository (as an installed binary is), `match` with its
/// default chain finds the chain built into the binary; a chain path
/// that is no bundled chain's is still an error naming it.
#[test]
fn cli_match_finds_its_default_chain_outside_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let input = root().join("assets/audio/dry/guitar_clean.wav");
    let reference = root().join("assets/audio/content/synth_lead.wav");
    let o = fxmatch()
        .current_dir(dir.path())
        .args(["match", s(&input), s(&reference), "-o", "out.wav", "--report", "r.json", "--mode", "predict"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(r["chain"], "config/chains/default.toml");
    assert!(dir.path().join("out.wav").exists());
    let o = fxmatch()
        .current_dir(dir.path())
        .args(["match", s(&input), s(&reference), "-o", "x.wav", "--chain", "config/chains/nope.toml"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("config/chains/nope.toml") && err.contains("fix:"), "{err}");
}
