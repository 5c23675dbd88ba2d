//! VST3 hosting through the `fxmatch` binary: `fxmatch plugins` lists the Zam VST3 plugins, a
//! chain file names them, and bad input (a bundle that is not VST3, a bundle without its module,
//! a file that is not a loadable module, an unknown plugin or parameter) ends with an error that
//! names the plugin or bundle and the reason.

mod common;

use common::{run, stderr};

fn require_zam() {
    assert!(
        std::path::Path::new("/usr/lib/vst3/ZamEQ2.vst3").exists(),
        "the Zam VST3 plugins are not installed: `apt install zam-plugins` (scripts/setup.sh does)"
    );
}

/// `fxmatch chain show` on a chain file with `body`, in a fresh directory.
fn show(body: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.toml");
    std::fs::write(&path, body).unwrap();
    (run(&["chain", "show", path.to_str().unwrap()]), dir)
}

#[test]
fn plugins_lists_the_zam_vst3_plugins_with_layouts_and_parameters() {
    require_zam();
    let o = run(&["plugins", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let find = |name: &str| {
        all.as_array().unwrap().iter().find(|p| p["format"] == "vst3" && p["name"] == name).cloned().unwrap()
    };
    let eq = find("ZamEQ2");
    assert_eq!((eq["layout"].as_str(), eq["hostable"].as_bool()), (Some("dual-mono"), Some(true)));
    assert_eq!(eq["plugin"].as_str(), Some("/usr/lib/vst3/ZamEQ2.vst3"));
    let boost = eq["params"].as_array().unwrap().iter().find(|p| p["symbol"] == "boost_cut_1").unwrap();
    assert_eq!((boost["min"].as_f64(), boost["max"].as_f64()), (Some(0.0), Some(1.0)));
    assert_eq!((boost["plain_min"].as_f64(), boost["plain_max"].as_f64()), (Some(-50.0), Some(20.0)));
    let comp = find("ZamCompX2");
    assert_eq!((comp["layout"].as_str(), comp["side_chain_inputs"].as_u64()), (Some("stereo"), Some(1)));
    // Stepped parameters are discrete, meters are not parameters.
    let params = comp["params"].as_array().unwrap();
    let sc = params.iter().find(|p| p["symbol"] == "sidechain").unwrap();
    assert_eq!((sc["mapping"].as_str(), sc["max"].as_f64()), (Some("discrete"), Some(1.0)));
    assert!(!params.iter().any(|p| p["symbol"] == "gain_reduction"), "read-only meters are not parameters");

    let text = run(&["plugins", "ZamDelay"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("dual-mono") && out.contains("feedback") && out.contains("8000 ms"), "{out}");
    let listing = String::from_utf8_lossy(&run(&["plugins"]).stdout).into_owned();
    assert!(listing.contains("VST3 plugins found") && listing.contains("/usr/lib/vst3/ZamCompX2.vst3"));
}

#[test]
fn chain_files_name_vst3_plugins_by_name_or_path_and_parameters_by_symbol_title_or_id() {
    require_zam();
    let o = run(&["chain", "show", &common::chain("zam-vst3.toml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("15 free parameters") && out.contains("vst3 ZamEQ2"), "{out}");
    let (o, _d) = show(
        "[[effect]]\ntype = \"vst3\"\nplugin = \"/usr/lib/vst3/ZamCompX2.vst3\"\n[effect.free]\n\
         \"Threshold\" = { min = 0.5 }\n8 = true\n[effect.fixed]\nsidechain = 1\n",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("zamcompx2 : vst3") && out.contains("threshold") && out.contains("makeup"), "{out}");
}

#[test]
fn bad_vst3_input_names_the_plugin_and_the_reason() {
    require_zam();
    // An LV2 bundle is not a VST3 bundle.
    let (o, _d) = show("[[effect]]\ntype = \"vst3\"\nplugin = \"/usr/lib/lv2/ZamEQ2.lv2\"\n");
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("ZamEQ2.lv2") && e.contains("is not a VST3 bundle"), "{e}");
    assert!(e.contains("chain.toml:3:"), "the line of `plugin`: {e}");

    // A bundle without its module for this machine.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("Broken.vst3");
    std::fs::create_dir_all(bundle.join("Contents/x86_64-win")).unwrap();
    let (o, _d) = show(&format!("[[effect]]\ntype = \"vst3\"\nplugin = \"{}\"\n", bundle.display()));
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("Broken.vst3") && e.contains(".so` is missing"), "{e}");

    // A module file that is not a shared library.
    let arch = format!("{}-linux", std::env::consts::ARCH);
    std::fs::create_dir_all(bundle.join("Contents").join(&arch)).unwrap();
    std::fs::write(bundle.join("Contents").join(&arch).join("Broken.so"), b"not an ELF file").unwrap();
    let (o, _d) = show(&format!("[[effect]]\ntype = \"vst3\"\nplugin = \"{}\"\n", bundle.display()));
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("Broken.vst3") && e.contains("not a usable VST3 module"),
        "{e}"
    );

    // A shared library that is not a VST3 module (no GetPluginFactory).
    let libm = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if let Some(libm) = libm {
        std::fs::copy(libm, bundle.join("Contents").join(&arch).join("Broken.so")).unwrap();
        let (o, _d) = show(&format!("[[effect]]\ntype = \"vst3\"\nplugin = \"{}\"\n", bundle.display()));
        let e = stderr(&o);
        assert!(!o.status.success() && e.contains("exports no `GetPluginFactory`"), "{e}");
    }

    // An unknown plugin name, an unknown parameter, a missing `plugin`.
    let (o, _d) = show("[[effect]]\ntype = \"vst3\"\nplugin = \"ZamNope\"\n");
    let e = stderr(&o);
    assert!(
        !o.status.success() && e.contains("no VST3 plugin `ZamNope`") && e.contains("/usr/lib/vst3"),
        "{e}"
    );
    let (o, _d) = show("[[effect]]\ntype = \"vst3\"\nplugin = \"ZamEQ2\"\n[effect.free]\nboost1 = true\n");
    let e = stderr(&o);
    assert!(
        !o.status.success()
            && e.contains("VST3 plugin `ZamEQ2`")
            && e.contains("no parameter `boost1`")
            && e.contains("boost_cut_1"),
        "{e}"
    );
    let (o, _d) = show("[[effect]]\ntype = \"vst3\"\n");
    assert!(!o.status.success() && stderr(&o).contains("needs its `plugin`"), "{}", stderr(&o));
    let (o, _d) = show("[[effect]]\ntype = \"eq\"\nplugin = \"ZamEQ2\"\n");
    assert!(!o.status.success() && stderr(&o).contains("`plugin` is for `vst3` effects"), "{}", stderr(&o));
    // A normalised value outside 0..1.
    let (o, _d) =
        show("[[effect]]\ntype = \"vst3\"\nplugin = \"ZamEQ2\"\n[effect.fixed]\nmaster_gain = 3.0\n");
    assert!(!o.status.success() && stderr(&o).contains("outside 0..1"), "{}", stderr(&o));
}

#[test]
fn render_and_match_run_on_the_vst3_chain() {
    require_zam();
    let dir = tempfile::tempdir().unwrap();
    let input = common::write_test_wav(dir.path(), "in.wav", &common::test_signal(48_000, 2.0));
    let params = dir.path().join("p.toml");
    std::fs::write(&params, "[eq]\nboost_cut_h = 0.9\nboost_cut_l = 0.55\n[comp]\nthreshold = 0.6\nratio = 0.4\nmakeup = 0.3\n[delay]\ndry_wet = 0.4\nfeedback = 0.4\n")
        .unwrap();
    let reference = dir.path().join("ref.wav");
    let chain = common::chain("zam-vst3.toml");
    let o = run(&[
        "render",
        "--chain",
        &chain,
        "--params",
        params.to_str().unwrap(),
        input.to_str().unwrap(),
        reference.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out.wav");
    let report = dir.path().join("r.json");
    let o = run(&[
        "match",
        input.to_str().unwrap(),
        reference.to_str().unwrap(),
        "--chain",
        &chain,
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--budget",
        "200",
        "--no-selection",
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let (before, after) = (r["similarity_input"].as_f64().unwrap(), r["similarity_output"].as_f64().unwrap());
    eprintln!("zam-vst3 match (mfcc, 200 evaluations, no selection): similarity {before:.4} -> {after:.4}");
    assert!(after > before, "the match brings the output closer: {before} -> {after}");
}
