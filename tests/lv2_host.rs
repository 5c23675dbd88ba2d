//! Hosting real Debian LV2 plugins (mda-lv2, zam-plugins; `scripts/setup.sh` installs them):
//! loading, audible control changes, dual-mono, refusals, chain-file errors, block-size
//! invariance, and `fxmatch render` / `fxmatch match` / `fxmatch plugins` on LV2 chains.

mod common;

use common::*;
use fxmatch::audio::{read_wav, AudioBuffer};
use fxmatch::chain::{Chain, ChainSpec};

const OVERDRIVE: &str = "http://drobilla.net/plugins/mda/Overdrive";
const ZAM_EQ2: &str = "urn:zamaudio:ZamEQ2";

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Fail (not skip) when a plugin the tests need is missing, naming the package.
fn require(uri: &str, package: &str) {
    let o = run(&["plugins", uri]);
    assert!(
        o.status.success(),
        "LV2 plugin {uri} is not installed: `apt install {package}` (scripts/setup.sh does)\n{}",
        stderr(&o)
    );
}

fn chain_of(toml: &str) -> Chain {
    let spec = ChainSpec::parse(toml, "inline.toml").unwrap_or_else(|e| panic!("{e}"));
    Chain::from_spec(&spec).unwrap()
}

/// Magnitude of the DFT of `x` at `freq` (exact for whole periods).
fn tone(x: &[f32], freq: f32, rate: f32) -> f64 {
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (n, &v) in x.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * freq as f64 * n as f64 / rate as f64;
        re += v as f64 * ph.cos();
        im -= v as f64 * ph.sin();
    }
    (re * re + im * im).sqrt() * 2.0 / x.len() as f64
}

/// Total harmonic distortion (harmonics 2..=10 over the fundamental).
fn thd(x: &[f32], f0: f32, rate: f32) -> f64 {
    let h: f64 = (2..=10).map(|k| tone(x, f0 * k as f32, rate).powi(2)).sum();
    h.sqrt() / tone(x, f0, rate)
}

fn sine(freq: f32, amp: f32, frames: usize) -> Vec<f32> {
    (0..frames).map(|i| amp * (2.0 * std::f32::consts::PI * freq * i as f32 / 48_000.0).sin()).collect()
}

fn process(chain: &mut Chain, x: &[f32], block: usize) -> (Vec<f32>, Vec<f32>) {
    chain.prepare(48_000.0, block);
    chain.reset();
    chain.snap();
    let (mut l, mut r) = (x.to_vec(), x.to_vec());
    chain.process(&mut l, &mut r);
    (l, r)
}

#[test]
fn plugins_lists_mda_and_zam_with_layouts_and_free_ranges() {
    require(OVERDRIVE, "mda-lv2");
    require(ZAM_EQ2, "zam-plugins");
    let o = run(&["plugins", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let find = |uri: &str| all.as_array().unwrap().iter().find(|p| p["uri"] == uri).cloned().unwrap();
    let od = find(OVERDRIVE);
    assert_eq!((od["hostable"].as_bool(), od["layout"].as_str()), (Some(true), Some("stereo")));
    assert_eq!((od["audio_inputs"].as_u64(), od["audio_outputs"].as_u64()), (Some(2), Some(2)));
    let drive = od["params"].as_array().unwrap().iter().find(|p| p["symbol"] == "drive").unwrap();
    assert_eq!((drive["min"].as_f64(), drive["max"].as_f64()), (Some(0.0), Some(1.0)));
    let eq = find(ZAM_EQ2);
    assert_eq!(eq["layout"].as_str(), Some("dual-mono"));
    let f1 = eq["params"].as_array().unwrap().iter().find(|p| p["symbol"] == "f1").unwrap();
    assert_eq!(
        (f1["min"].as_f64(), f1["max"].as_f64(), f1["mapping"].as_str()),
        (Some(20.0), Some(14000.0), Some("log"))
    );
    // Instruments (no audio input) are listed but refused, with the reason.
    let piano = find("http://drobilla.net/plugins/mda/Piano");
    assert_eq!(piano["hostable"].as_bool(), Some(false));
    assert!(piano["refused"].as_str().unwrap().contains("0 audio input"), "{piano}");

    let missing = run(&["plugins", "urn:zamaudio:ZamNope"]);
    let e = stderr(&missing);
    assert!(
        !missing.status.success()
            && e.contains("urn:zamaudio:ZamNope")
            && e.contains("apt install zam-plugins"),
        "{e}"
    );
    let hostable = run(&["plugins", "--hostable", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&hostable.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert!(listed.iter().all(|p| p["hostable"] == true) && listed.len() < all.as_array().unwrap().len());

    let text = run(&["plugins", "urn:zamaudio:ZamCompX2"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("yes (stereo)") && out.contains("side-chain"), "{out}");
    assert!(out.contains("thr") && out.contains("-80"), "control ports with ranges: {out}");
}

#[test]
fn overdrive_drive_raises_harmonic_distortion() {
    require(OVERDRIVE, "mda-lv2");
    let x = sine(375.0, 0.5, 48_000);
    let thd_at = |drive: f32| {
        let mut c = chain_of(&format!(
            "[[effect]]\ntype = \"lv2\"\nuri = \"{OVERDRIVE}\"\n[effect.fixed]\ndrive = {drive}\n"
        ));
        let (l, r) = process(&mut c, &x, 512);
        assert!(l.iter().chain(&r).all(|v| v.is_finite()));
        thd(&l[4800..], 375.0, 48_000.0)
    };
    let (clean, driven) = (thd_at(0.0), thd_at(1.0));
    println!("mda Overdrive THD: drive 0 -> {:.2} %, drive 1 -> {:.2} %", clean * 100.0, driven * 100.0);
    assert!(driven > 3.0 * clean && driven > 0.05, "drive 1 THD {driven:.4} vs drive 0 {clean:.4}");
}

#[test]
fn zam_eq2_boost_raises_its_band_by_the_set_gain() {
    require(ZAM_EQ2, "zam-plugins");
    let x = sine(1000.0, 0.1, 48_000);
    let level = |boost: f32| {
        let mut c = chain_of(&format!(
            "[[effect]]\ntype = \"lv2\"\nuri = \"{ZAM_EQ2}\"\n[effect.fixed]\nf1 = 1000.0\nbw1 = 1.0\nboost1 = {boost}\n"
        ));
        let (l, r) = process(&mut c, &x, 512);
        (20.0 * tone(&l[4800..], 1000.0, 48_000.0).log10(), 20.0 * tone(&r[4800..], 1000.0, 48_000.0).log10())
    };
    let (flat_l, flat_r) = level(0.0);
    let (boost_l, boost_r) = level(12.0);
    println!(
        "ZamEQ2 at 1 kHz: +12 dB boost measures {:+.2} dB (left), {:+.2} dB (right)",
        boost_l - flat_l,
        boost_r - flat_r
    );
    assert!((boost_l - flat_l - 12.0).abs() < 0.5, "left: {:.2} dB", boost_l - flat_l);
    assert!((boost_r - flat_r - 12.0).abs() < 0.5, "dual-mono: right follows the same setting");
    // A band an octave and a half away moves much less.
    let y = sine(125.0, 0.1, 48_000);
    let mut c = chain_of(&format!(
        "[[effect]]\ntype = \"lv2\"\nuri = \"{ZAM_EQ2}\"\n[effect.fixed]\nf1 = 1000.0\nbw1 = 1.0\nboost1 = 12.0\n"
    ));
    let (l, _) = process(&mut c, &y, 512);
    let far = 20.0 * (tone(&l[4800..], 125.0, 48_000.0) / tone(&y[4800..], 125.0, 48_000.0)).log10();
    assert!(far < 3.0, "125 Hz moved {far:.2} dB");
}

#[test]
fn output_does_not_depend_on_the_block_size() {
    require(OVERDRIVE, "mda-lv2");
    require(ZAM_EQ2, "zam-plugins");
    let x: Vec<f32> =
        sine(220.0, 0.4, 48_000).iter().zip(sine(3100.0, 0.2, 48_000)).map(|(a, b)| a + b).collect();
    for (name, toml) in [
        ("mda Overdrive", format!("[[effect]]\ntype = \"lv2\"\nuri = \"{OVERDRIVE}\"\n[effect.fixed]\ndrive = 0.7\nmuffle = 0.4\n")),
        ("ZamEQ2", format!("[[effect]]\ntype = \"lv2\"\nuri = \"{ZAM_EQ2}\"\n[effect.fixed]\nboost1 = 9.0\nboosth = -6.0\n")),
    ] {
        let (a, _) = process(&mut chain_of(&toml), &x, 64);
        let (b, _) = process(&mut chain_of(&toml), &x, 1024);
        let max = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        println!("{name}: 64- vs 1024-frame blocks differ by at most {max:e}");
        assert!(max <= 1e-6, "{name}: max diff {max}");
        let changed = a.iter().zip(&x).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(changed > 0.01, "{name} changes the signal");
    }
}

#[test]
fn chain_file_errors_name_the_uri_symbol_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_test_wav(dir.path(), "in.wav", &test_signal(48_000, 0.2));
    let out = dir.path().join("out.wav");
    let bad_uri = dir.path().join("bad_uri.toml");
    std::fs::write(
        &bad_uri,
        "[[effect]]\ntype = \"eq\"\n\n[[effect]]\ntype = \"lv2\"\nuri = \"urn:zamaudio:ZamNope\"\n",
    )
    .unwrap();
    let o = run(&["render", "--chain", s(&bad_uri), s(&input), s(&out)]);
    let e = stderr(&o);
    assert!(!o.status.success() && !out.exists());
    assert!(e.contains("bad_uri.toml:6") && e.contains("urn:zamaudio:ZamNope"), "{e}");
    assert!(e.contains("apt install zam-plugins") && e.contains("fxmatch plugins"), "{e}");

    require(ZAM_EQ2, "zam-plugins");
    let bad_symbol = dir.path().join("bad_symbol.toml");
    std::fs::write(
        &bad_symbol,
        format!("[[effect]]\ntype = \"lv2\"\nuri = \"{ZAM_EQ2}\"\n[effect.free]\nboots1 = true\n"),
    )
    .unwrap();
    let o = run(&["chain", "show", s(&bad_symbol)]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(e.contains("bad_symbol.toml:5") && e.contains("boots1") && e.contains("`zameq2`"), "{e}");
    assert!(e.contains("boost1") && e.contains("f1") && e.contains("master"), "lists the symbols: {e}");

    let no_uri = dir.path().join("no_uri.toml");
    std::fs::write(&no_uri, "[[effect]]\ntype = \"lv2\"\n").unwrap();
    let e = stderr(&run(&["chain", "show", s(&no_uri)]));
    assert!(e.contains("no_uri.toml:2") && e.contains("uri"), "{e}");

    let uri_on_builtin = dir.path().join("builtin_uri.toml");
    std::fs::write(&uri_on_builtin, "[[effect]]\ntype = \"eq\"\ntail = 1.0\n").unwrap();
    let e = stderr(&run(&["chain", "show", s(&uri_on_builtin)]));
    assert!(e.contains("builtin_uri.toml:3") && e.contains("for `lv2` effects"), "{e}");

    let out_of_range = dir.path().join("range.toml");
    std::fs::write(&out_of_range, format!("[[effect]]\ntype = \"lv2\"\nuri = \"{ZAM_EQ2}\"\n[effect.free]\nf1 = {{ min = 5.0, max = 900.0 }}\n"))
        .unwrap();
    let e = stderr(&run(&["chain", "show", s(&out_of_range)]));
    assert!(e.contains("range.toml:5") && e.contains("20..14000"), "TTL range enforced: {e}");
}

/// A factory preset of a Debian plugin, read by lilv: ZamCompX2's "VocalLeveller" (zam-plugins'
/// presets.ttl: att 50, rel 400, kn 8, rat 5, thr -16, mak 9).
#[test]
fn chain_files_start_lv2_plugins_from_their_presets() {
    const COMP: &str = "urn:zamaudio:ZamCompX2";
    require(COMP, "zam-plugins");
    let text = String::from_utf8_lossy(&run(&["plugins", COMP]).stdout).into_owned();
    assert!(text.contains("VocalLeveller") && text.contains("urn:zamaudio:ZamCompX2#preset003"), "{text}");

    let spec = |extra: &str| {
        let toml =
            format!("[[effect]]\ntype = \"lv2\"\nuri = \"{COMP}\"\npreset = \"vocalleveller\"\n{extra}");
        ChainSpec::parse(&toml, "preset.toml")
    };
    let value =
        |spec: &ChainSpec, sym: &str| spec.effects[0].fixed.iter().find(|(k, _)| k == sym).map(|(_, v)| *v);
    let plain = spec("").unwrap_or_else(|e| panic!("{e}"));
    for (sym, v) in [("att", 50.0), ("rel", 400.0), ("kn", 8.0), ("rat", 5.0), ("thr", -16.0), ("mak", 9.0)] {
        assert_eq!(value(&plain, sym), Some(v), "{sym} from the preset (label matched case-insensitively)");
    }
    // [effect.fixed] wins over the preset; a free parameter is searched, not fixed.
    let overridden = spec("[effect.fixed]\nthr = -30.0\n[effect.free]\nmak = true\n").unwrap();
    assert_eq!(value(&overridden, "thr"), Some(-30.0));
    assert_eq!(value(&overridden, "mak"), None);
    assert_eq!(overridden.effects[0].free[0].0, "mak");
    // The preset changes the sound: the default (thr 0 dB) against VocalLeveller (-16 dB, +9 dB).
    let x = sine(440.0, 0.5, 48_000);
    let mut default = chain_of(&format!("[[effect]]\ntype = \"lv2\"\nuri = \"{COMP}\"\n"));
    let mut preset = Chain::from_spec(&plain).unwrap();
    let rms = |v: &[f32]| (v[24_000..].iter().map(|s| s * s).sum::<f32>() / 24_000.0).sqrt();
    let (d, p) = (rms(&process(&mut default, &x, 256).0), rms(&process(&mut preset, &x, 256).0));
    eprintln!("ZamCompX2 on a -6 dBFS sine: default rms {d:.4}, VocalLeveller rms {p:.4}");
    assert!((d - p).abs() > 0.01, "the preset's settings reach the plugin: {d} vs {p}");

    let e = spec("")
        .map(|_| ())
        .and(ChainSpec::parse(
            &format!("[[effect]]\ntype = \"lv2\"\nuri = \"{COMP}\"\npreset = \"Shouty\"\n"),
            "bad_preset.toml",
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad_preset.toml:4")
            && e.contains("no preset `Shouty`")
            && e.contains("\"VocalLeveller\""),
        "{e}"
    );
    assert!(e.contains(&format!("fxmatch plugins {COMP}")), "names the fix: {e}");
    let e =
        ChainSpec::parse("[[effect]]\ntype = \"eq\"\npreset = \"x\"\n", "p.toml").unwrap_err().to_string();
    assert!(e.contains("for `lv2` effects"), "{e}");
}

#[test]
fn plugin_requiring_an_unsupported_feature_is_refused_by_name() {
    // No installed Debian plugin requires a feature fxmatch lacks, so this bundle declares one
    // (instance-access) on an otherwise ordinary mono plugin; lilv finds it through LV2_PATH.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("fxtest.lv2");
    std::fs::create_dir(&bundle).unwrap();
    let uri = "urn:fxmatch:test:needs-instance-access";
    std::fs::write(
        bundle.join("manifest.ttl"),
        format!(
            "@prefix lv2: <http://lv2plug.in/ns/lv2core#> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\
             <{uri}> a lv2:Plugin ; lv2:binary <fxtest.so> ; rdfs:seeAlso <plugin.ttl> .\n"
        ),
    )
    .unwrap();
    std::fs::write(
        bundle.join("plugin.ttl"),
        format!(
            "@prefix lv2: <http://lv2plug.in/ns/lv2core#> .\n@prefix doap: <http://usefulinc.com/ns/doap#> .\n\
             <{uri}> a lv2:Plugin, lv2:AmplifierPlugin ; doap:name \"needs instance-access\" ;\n\
             lv2:requiredFeature <http://lv2plug.in/ns/ext/instance-access> ;\n\
             lv2:port [ a lv2:AudioPort, lv2:InputPort ; lv2:index 0 ; lv2:symbol \"in\" ; lv2:name \"In\" ] ,\n\
             [ a lv2:AudioPort, lv2:OutputPort ; lv2:index 1 ; lv2:symbol \"out\" ; lv2:name \"Out\" ] .\n"
        ),
    )
    .unwrap();
    let lv2_path = format!("{}:/usr/lib/lv2", dir.path().display());
    let chain_file = dir.path().join("c.toml");
    std::fs::write(&chain_file, format!("[[effect]]\ntype = \"lv2\"\nuri = \"{uri}\"\n")).unwrap();
    let o = fxmatch().args(["chain", "show", s(&chain_file)]).env("LV2_PATH", &lv2_path).output().unwrap();
    let e = stderr(&o);
    assert!(!o.status.success(), "refused");
    assert!(e.contains("c.toml:3") && e.contains(uri), "{e}");
    assert!(e.contains("http://lv2plug.in/ns/ext/instance-access") && e.contains("does not provide"), "{e}");
    let o = fxmatch().args(["plugins", uri]).env("LV2_PATH", &lv2_path).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("hostable: no") && text.contains("instance-access"), "{text}");
}

#[test]
fn render_mixes_a_builtin_eq_with_lv2_plugins() {
    require(OVERDRIVE, "mda-lv2");
    require(ZAM_EQ2, "zam-plugins");
    let dir = tempfile::tempdir().unwrap();
    let input = write_test_wav(dir.path(), "in.wav", &test_signal(48_000, 1.0));
    let chain_file = dir.path().join("mixed.toml");
    std::fs::write(
        &chain_file,
        format!(
            "[[effect]]\ntype = \"eq\"\n[effect.fixed]\nlow_gain = 6.0\n\n\
             [[effect]]\ntype = \"lv2\"\nuri = \"{OVERDRIVE}\"\nid = \"od\"\n[effect.fixed]\ndrive = 0.6\n\n\
             [[effect]]\ntype = \"lv2\"\nuri = \"{ZAM_EQ2}\"\nid = \"zeq\"\n[effect.free]\nboosth = true\n"
        ),
    )
    .unwrap();
    let show = run(&["chain", "show", s(&chain_file)]);
    assert!(show.status.success(), "{}", stderr(&show));
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("[1] od : lv2 http://drobilla.net/plugins/mda/Overdrive"), "{text}");
    assert!(text.contains("x[ 0] boosth") && text.contains("-50 .. 20"), "{text}");

    let params = dir.path().join("p.toml");
    let mut outs = Vec::new();
    for (name, boost) in [("flat.wav", 0.0), ("bright.wav", 12.0)] {
        std::fs::write(&params, format!("[zeq]\nboosth = {boost}\n[od]\nmuffle = 0.0\n")).unwrap();
        let out = dir.path().join(name);
        let o = run(&[
            "render",
            "--chain",
            s(&chain_file),
            "--params",
            s(&params),
            "--format",
            "f32",
            s(&input),
            s(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let (b, _) = read_wav(&out).unwrap();
        assert_eq!(b.frames(), 48_000);
        assert!(b.channels.iter().flatten().all(|v| v.is_finite()));
        outs.push(b);
    }
    let (inp, _) = read_wav(&input).unwrap();
    let diff = |a: &AudioBuffer, b: &AudioBuffer| {
        a.channels[0].iter().zip(&b.channels[0]).map(|(x, y)| (x - y).abs()).sum::<f32>()
    };
    assert!(diff(&outs[0], &inp) > 1.0, "the chain changes the signal");
    assert!(diff(&outs[0], &outs[1]) > 1.0, "the free LV2 parameter set from the params file acts");
}

#[test]
fn match_runs_on_the_zam_chain_and_writes_its_outputs() {
    require(ZAM_EQ2, "zam-plugins");
    require("urn:zamaudio:ZamCompX2", "zam-plugins");
    require("urn:zamaudio:ZamDelay", "zam-plugins");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("matched.wav");
    let report = dir.path().join("report.json");
    let o = run(&[
        "match",
        s(&root().join("assets/audio/dry/guitar_clean.wav")),
        s(&root().join("assets/audio/content/synth_lead.wav")),
        "--chain",
        &chain("zam.toml"),
        "--population",
        "8",
        "--generations",
        "2",
        "--threads",
        "2",
        "-o",
        s(&out),
        "--report",
        s(&report),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let (before, after) = (r["similarity_input"].as_f64().unwrap(), r["similarity_output"].as_f64().unwrap());
    println!("zam.toml match (8 x 2): similarity {before:.4} -> {after:.4}");
    assert!(after.is_finite() && before.is_finite());
    let (rendered, _) = read_wav(&out).unwrap();
    assert!(rendered.channels.iter().flatten().all(|v| v.is_finite()) && rendered.rms() > 0.001);
    let params = std::fs::read_to_string(out.with_extension("params.toml")).unwrap();
    for key in ["[eq]", "boost1", "[comp]", "thr", "[delay]", "feedb"] {
        assert!(params.contains(key), "params file has {key}: {params}");
    }
    // The params file renders back through the same chain.
    let again = dir.path().join("again.wav");
    let o = run(&[
        "render",
        "--chain",
        &chain("zam.toml"),
        "--params",
        s(&out.with_extension("params.toml")),
        s(&root().join("assets/audio/dry/guitar_clean.wav")),
        s(&again),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bundled_lv2_chains_load_and_render_finite_audio() {
    require(OVERDRIVE, "mda-lv2");
    require(ZAM_EQ2, "zam-plugins");
    let input = test_signal(48_000, 1.0);
    for name in ["mda.toml", "zam.toml"] {
        let spec = ChainSpec::load(chain(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut c = Chain::from_spec(&spec).unwrap();
        assert!(c.num_free() >= 10, "{name} has a search space");
        c.set_normalized(&vec![0.7; c.num_free()]);
        let tail = c.tail_seconds();
        let out = fxmatch::render::render(&mut c, &input, tail).unwrap();
        assert!(out.channels.iter().flatten().all(|v| v.is_finite()), "{name}");
        assert!(out.frames() > input.frames(), "{name}: the delay's tail is rendered");
        assert_eq!(c.nonfinite_samples(), 0, "{name}: no sanitised samples");
        // The matcher renders every candidate through the same chain after a reset: a second
        // render must not hear the first one's delay lines or envelopes.
        let again = fxmatch::render::render(&mut c, &input, tail).unwrap();
        assert_eq!(out.channels, again.channels, "{name}: reset clears every plugin's state");
    }
}
