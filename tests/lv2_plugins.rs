//! fxmatch's built-in effects as LV2 plugins (`lv2-plugins/`), checked in a real LV2 host:
//! `scripts/install_lv2.sh` installs the bundle into a temp dir; `lv2ls` lists the six plugins;
//! `lv2_validate` finds no errors in the TTL; for every effect, `lv2apply` (lilv-utils) with
//! non-default controls renders exactly what `fxmatch render --params` renders with the same
//! values; and `fxmatch preset export` writes presets that lilv attaches to the plugins and that,
//! applied with `lv2apply`, reproduce `fxmatch render --params` of the whole chain.
//!
//! `lv2apply` runs plugins one frame per `run` call; fxmatch renders in 512-frame blocks. Both
//! start from a reset effect with the controls applied at once, and both outputs are as long as
//! the input (no tail: `fxmatch render` appends none without `--tail`, `lv2apply` never does),
//! so the comparison is sample by sample over the whole file. The built-ins report no latency.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use fxmatch::audio::{read_wav, write_wav, AudioBuffer, SampleFormat};
use fxmatch::dsp::BUILTIN_KINDS;
use fxmatch::lv2::export::plugin_uri;

/// Largest difference accepted between a plugin's and `fxmatch render`'s output.
const TOLERANCE: f32 = 1e-6;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run a tool, failing (not skipping) with the package to install when it is missing.
fn tool(name: &str, package: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "`{name}` not found: `apt install {package}` (scripts/setup.sh does)");
    Command::new(name)
}

struct Fixture {
    _dir: tempfile::TempDir,
    /// Parent of the bundle: the LV2_PATH of the plugins.
    plugins: PathBuf,
    bundle: PathBuf,
    /// A stereo 32-bit float test WAV at 48 kHz.
    input: PathBuf,
    work: PathBuf,
}

/// Install the bundle once per test process (the script builds the cdylib with the test
/// profile, reusing this run's build of the fxmatch library).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        let bundle = plugins.join("fxmatch.lv2");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let o = Command::new("bash")
            .arg(root().join("scripts/install_lv2.sh"))
            .arg(&bundle)
            .env("FXMATCH_LV2_PROFILE", "test")
            .env("FXMATCH_BIN", env!("CARGO_BIN_EXE_fxmatch"))
            .env("CARGO", cargo)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "install_lv2.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let input = work.join("in.wav");
        write_wav(&input, &test_signal(48_000, 1.5), SampleFormat::F32).unwrap();
        Fixture { plugins, bundle, input, work, _dir: dir }
    })
}

/// `lv2apply` of `uri` with these controls from `input` into `output`.
fn lv2apply(f: &Fixture, uri: &str, controls: &[(&str, f32)], input: &Path, output: &Path) {
    let mut c = tool("lv2apply", "lilv-utils");
    c.env("LV2_PATH", &f.plugins).arg("-i").arg(input).arg("-o").arg(output);
    for (sym, v) in controls {
        c.arg("-c").arg(sym).arg(v.to_string());
    }
    let o = c.arg(uri).output().unwrap();
    assert!(
        o.status.success() && output.is_file(),
        "lv2apply {uri} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Largest sample difference of two stereo renders of equal length and rate.
fn max_diff(a: &AudioBuffer, b: &AudioBuffer) -> f32 {
    assert_eq!(a.sample_rate, b.sample_rate);
    assert_eq!(a.channels.len(), 2);
    assert_eq!(b.channels.len(), 2);
    assert_eq!(a.channels[0].len(), b.channels[0].len(), "renders differ in length");
    a.channels
        .iter()
        .zip(&b.channels)
        .flat_map(|(x, y)| x.iter().zip(y))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn render(f: &Fixture, chain: &Path, params: &Path, output: &Path) -> AudioBuffer {
    let o = run(&["render", "--chain", s(chain), "--params", s(params), s(&f.input), s(output)]);
    assert!(o.status.success(), "fxmatch render: {}", stderr(&o));
    read_wav(output).unwrap().0
}

/// Non-default settings per effect (several parameters each, in plain units).
fn settings(kind: &str) -> Vec<(&'static str, f32)> {
    match kind {
        "gain" => vec![("gain", -7.5)],
        "eq" => vec![
            ("low_gain", 6.0),
            ("low_freq", 200.0),
            ("mid1_gain", -9.0),
            ("mid1_freq", 800.0),
            ("mid1_q", 2.0),
            ("mid3_gain", 5.0),
            ("high_gain", 4.0),
            ("high_freq", 6000.0),
        ],
        "compressor" => vec![
            ("threshold", -30.0),
            ("ratio", 6.0),
            ("attack", 3.0),
            ("release", 150.0),
            ("knee", 3.0),
            ("makeup", 4.0),
        ],
        "distortion" => vec![("drive", 24.0), ("tone", 0.7), ("level", -6.0)],
        "modulation" => vec![
            ("rate", 1.5),
            ("depth", 0.6),
            ("delay", 3.0),
            ("feedback", -0.4),
            ("mix", 0.5),
            ("tremolo", 0.3),
            ("spread", 120.0),
        ],
        "delay" => vec![("time", 120.0), ("feedback", 0.5), ("mix", 0.4), ("damping", 0.2)],
        "reverb" => vec![("size", 0.7), ("damping", 0.3), ("predelay", 20.0), ("width", 0.8), ("mix", 0.35)],
        other => panic!("no settings for {other}"),
    }
}

fn one_effect_files(f: &Fixture, kind: &str, values: &[(&str, f32)]) -> (PathBuf, PathBuf) {
    // Unique names per call: the tests share the fixture's folder and run in parallel, and
    // `fs::write` truncates first, so a shared name let one test read another's half-written
    // (empty) chain file ("the chain has no effects").
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let chain = f.work.join(format!("{kind}-{n}.chain.toml"));
    std::fs::write(&chain, format!("[[effect]]\ntype = \"{kind}\"\n")).unwrap();
    let mut p = format!("[{kind}]\n");
    for (sym, v) in values {
        p.push_str(&format!("{sym} = {v:?}\n"));
    }
    let params = f.work.join(format!("{kind}-{n}.params.toml"));
    std::fs::write(&params, p).unwrap();
    (chain, params)
}

#[test]
fn lv2ls_lists_exactly_the_six_plugins() {
    let f = fixture();
    let o = tool("lv2ls", "lilv-utils").env("LV2_PATH", &f.plugins).output().unwrap();
    assert!(o.status.success());
    let mut listed: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
    listed.sort();
    let mut want: Vec<String> = BUILTIN_KINDS.iter().map(|k| plugin_uri(k)).collect();
    want.sort();
    assert_eq!(listed, want);
}

#[test]
fn plugin_binary_needs_only_the_c_runtime() {
    // fxmatch's library links lilv, JACK and tract; the plugin must not drag them into hosts.
    let so = fixture().bundle.join(fxmatch::lv2::export::BINARY_NAME);
    let o = tool("ldd", "libc-bin").arg(&so).output().unwrap();
    let deps = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "ldd {}: {}", so.display(), String::from_utf8_lossy(&o.stderr));
    for line in deps.lines() {
        let lib = line.split_whitespace().next().unwrap_or("");
        let allowed =
            ["linux-vdso", "libc.so", "libm.so", "libgcc_s.so", "ld-linux", "libpthread.so", "libdl.so"];
        assert!(allowed.iter().any(|a| lib.contains(a)), "plugin links {lib}:\n{deps}");
    }
    let o = Command::new("nm").args(["-D", "--defined-only"]).arg(&so).output();
    if let Some(o) = o.ok().filter(|o| o.status.success()) {
        let exported: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains(" T "))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect();
        assert_eq!(exported, ["lv2_descriptor"], "exported functions");
    }
}

#[test]
fn lv2_validate_finds_no_errors() {
    let f = fixture();
    let mut ttl: Vec<PathBuf> = std::fs::read_dir(&f.bundle)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ttl"))
        .collect();
    ttl.sort();
    assert_eq!(ttl.len(), 1 + BUILTIN_KINDS.len());
    let o = tool("lv2_validate", "lv2-dev").args(&ttl).output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "lv2_validate failed:\n{out}");
    assert!(out.contains("Found 0 errors"), "lv2_validate:\n{out}");
    assert!(!out.lines().any(|l| l.contains("error:") || l.contains("warning:")), "lv2_validate:\n{out}");
}

#[test]
fn every_plugin_in_lv2apply_equals_fxmatch_render() {
    let f = fixture();
    let input = read_wav(&f.input).unwrap().0;
    for kind in BUILTIN_KINDS {
        let values = settings(kind);
        let (chain, params) = one_effect_files(f, kind, &values);
        let reference = render(f, &chain, &params, &f.work.join(format!("{kind}.render.wav")));
        let out = f.work.join(format!("{kind}.lv2apply.wav"));
        lv2apply(f, &plugin_uri(kind), &values, &f.input, &out);
        let plugin = read_wav(&out).unwrap().0;
        let d = max_diff(&plugin, &reference);
        eprintln!("{kind}: max |lv2apply - fxmatch render| = {d:e}");
        assert!(d <= TOLERANCE, "{kind}: plugin output differs from fxmatch render by {d}");
        // The settings matter: the output is not the input, and not the default settings' render.
        assert!(max_diff(&plugin, &input) > 1e-3, "{kind}: plugin output is its input");
        let defaults = f.work.join(format!("{kind}.defaults.wav"));
        lv2apply(f, &plugin_uri(kind), &[], &f.input, &defaults);
        let d = max_diff(&read_wav(&defaults).unwrap().0, &reference);
        assert!(d > 1e-3, "{kind}: default controls render like the chosen ones ({d})");
    }
}

#[test]
fn a_different_control_value_is_caught() {
    // The comparison is sharp enough to see a 0.1 dB gain difference.
    let f = fixture();
    let (chain, params) = one_effect_files(f, "gain", &[("gain", -7.5)]);
    let reference = render(f, &chain, &params, &f.work.join("gain-off.render.wav"));
    let out = f.work.join("gain-off.lv2apply.wav");
    lv2apply(f, &plugin_uri("gain"), &[("gain", -7.4)], &f.input, &out);
    assert!(max_diff(&read_wav(&out).unwrap().0, &reference) > 10.0 * TOLERANCE);
}

/// Port symbol → value of a preset file, through `sordi` (which must parse it).
fn preset_values(ttl: &Path) -> Vec<(String, f32)> {
    let o = tool("sordi", "sordi").arg(ttl).output().unwrap();
    assert!(
        o.status.success(),
        "sordi cannot parse {}: {}",
        ttl.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let mut symbols = std::collections::BTreeMap::new();
    let mut values = std::collections::BTreeMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.splitn(3, ' ').collect();
        if parts.len() < 3 {
            continue;
        }
        let literal =
            parts[2].trim_end_matches(" .").split("^^").next().unwrap().trim_matches('"').to_string();
        match parts[1] {
            "<http://lv2plug.in/ns/lv2core#symbol>" => {
                symbols.insert(parts[0].to_string(), literal);
            }
            "<http://lv2plug.in/ns/ext/presets#value>" => {
                values.insert(parts[0].to_string(), literal.parse::<f32>().unwrap());
            }
            _ => {}
        }
    }
    assert!(!symbols.is_empty(), "no port values in {}:\n{text}", ttl.display());
    symbols.into_iter().map(|(node, sym)| (sym, values[&node])).collect()
}

#[test]
fn exported_presets_reproduce_fxmatch_render_in_lv2apply() {
    let f = fixture();
    let chain = root().join("config/chains/eq-comp.toml");
    let params = f.work.join("matched.params.toml");
    std::fs::write(
        &params,
        "[eq]\nlow_gain = 5.5\nlow_freq = 180.0\nmid1_gain = -6.0\nhigh_gain = 3.0\n\n\
         [compressor]\nthreshold = -28.0\nratio = 5.0\nattack = 4.0\nmakeup = 3.0\n",
    )
    .unwrap();
    let presets = f.work.join("presets").join("matched.lv2");
    let o = run(&["preset", "export", s(&params), "--chain", s(&chain), "--out", s(&presets)]);
    assert!(o.status.success(), "preset export: {}", stderr(&o));
    // stdout: one "PRESET_URI<TAB>PLUGIN_URI" line per exported effect, in chain order.
    let listed: Vec<(String, String)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect();
    assert_eq!(
        listed.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        [plugin_uri("eq"), plugin_uri("compressor")]
    );
    assert!(!preset_values(&presets.join("eq.ttl")).is_empty());
    let manifest = tool("sordi", "sordi").arg(presets.join("manifest.ttl")).output().unwrap();
    assert!(manifest.status.success(), "sordi: manifest.ttl");

    // lilv attaches the presets to the plugins (lv2info lists them under the plugin).
    let lv2_path =
        std::env::join_paths([f.plugins.clone(), presets.parent().unwrap().to_path_buf()]).unwrap();
    for (preset_uri, plugin) in &listed {
        let o = tool("lv2info", "lilv-utils").env("LV2_PATH", &lv2_path).arg(plugin).output().unwrap();
        let info = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && info.contains("Presets:"), "lv2info {plugin}:\n{info}");
        let id = preset_uri.rsplit('/').next().unwrap().trim_end_matches(".ttl");
        assert!(info.contains(&format!("matched: {id}")), "preset `matched: {id}` not listed:\n{info}");
    }

    // The chain's effects one after the other in lv2apply, each with its preset's values.
    let mut current = f.input.clone();
    for (i, (preset_uri, plugin)) in listed.iter().enumerate() {
        let file = presets.join(preset_uri.rsplit('/').next().unwrap());
        let values = preset_values(&file);
        let controls: Vec<(&str, f32)> = values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let out = f.work.join(format!("preset-stage{i}.wav"));
        lv2apply(f, plugin, &controls, &current, &out);
        current = out;
    }
    let reference = render(f, &chain, &params, &f.work.join("preset.render.wav"));
    let d = max_diff(&read_wav(&current).unwrap().0, &reference);
    eprintln!("eq-comp presets: max |lv2apply - fxmatch render| = {d:e}");
    assert!(d <= TOLERANCE, "presets in lv2apply differ from fxmatch render by {d}");

    // fxmatch hosting the plugins, each started from its preset as lilv reads it (the first by
    // its label, the second by its URI): the same sound again.
    let mut toml = String::new();
    for (i, (preset_uri, plugin)) in listed.iter().enumerate() {
        let id = preset_uri.rsplit('/').next().unwrap().trim_end_matches(".ttl");
        let preset = if i == 0 { format!("matched: {id}") } else { preset_uri.clone() };
        toml += &format!(
            "[[effect]]\ntype = \"lv2\"\nuri = \"{plugin}\"\nid = \"{id}\"\npreset = \"{preset}\"\n\n"
        );
    }
    let hosted = f.work.join("preset.hosted.toml");
    std::fs::write(&hosted, toml).unwrap();
    let out = f.work.join("preset.hosted.wav");
    let o = fxmatch()
        .env("LV2_PATH", &lv2_path)
        .args(["render", "--chain", s(&hosted), s(&f.input), s(&out)])
        .output()
        .unwrap();
    assert!(o.status.success(), "fxmatch render with presets: {}", stderr(&o));
    let d = max_diff(&read_wav(&out).unwrap().0, &reference);
    eprintln!("eq-comp presets loaded by lilv in fxmatch: max |hosted - fxmatch render| = {d:e}");
    assert!(d <= TOLERANCE, "presets loaded through lilv differ from fxmatch render by {d}");
}

#[test]
fn preset_export_skips_hosted_lv2_effects_with_a_note() {
    let f = fixture();
    let chain = f.work.join("mixed.chain.toml");
    std::fs::write(
        &chain,
        "[[effect]]\ntype = \"gain\"\n\n[[effect]]\ntype = \"lv2\"\nuri = \"http://drobilla.net/plugins/mda/Overdrive\"\nid = \"od\"\n",
    )
    .unwrap();
    let params = f.work.join("mixed.params.toml");
    std::fs::write(&params, "[gain]\ngain = -3.0\n").unwrap();
    let out = f.work.join("mixed.lv2");
    let o = run(&["preset", "export", s(&params), "--chain", s(&chain), "--out", s(&out)]);
    assert!(o.status.success(), "preset export: {}", stderr(&o));
    assert!(stderr(&o).contains("skipped `od`"), "{}", stderr(&o));
    assert!(out.join("gain.ttl").is_file() && !out.join("od.ttl").exists());
    assert_eq!(preset_values(&out.join("gain.ttl")), vec![("gain".to_string(), -3.0)]);
}

#[test]
fn fxmatch_hosting_its_own_plugins_renders_like_the_builtins() {
    // fxmatch's LV2 host runs the plugins in 512-frame blocks with the `options` feature
    // (bufsz:maxBlockLength), unlike lv2apply's one frame per run and no features.
    let f = fixture();
    for kind in BUILTIN_KINDS {
        let mut fixed = String::from("[effect.fixed]\n");
        for (sym, v) in settings(kind) {
            fixed.push_str(&format!("{sym} = {v:?}\n"));
        }
        let builtin = f.work.join(format!("{kind}.builtin.toml"));
        std::fs::write(&builtin, format!("[[effect]]\ntype = \"{kind}\"\n{fixed}")).unwrap();
        let hosted = f.work.join(format!("{kind}.hosted.toml"));
        let uri = plugin_uri(kind);
        std::fs::write(
            &hosted,
            format!("[[effect]]\ntype = \"lv2\"\nuri = \"{uri}\"\nid = \"{kind}\"\n{fixed}"),
        )
        .unwrap();
        let mut outs = Vec::new();
        for chain in [&builtin, &hosted] {
            let out = chain.with_extension("wav");
            let o = fxmatch()
                .env("LV2_PATH", &f.plugins)
                .args(["render", "--chain", s(chain), s(&f.input), s(&out)])
                .output()
                .unwrap();
            assert!(o.status.success(), "fxmatch render {}: {}", chain.display(), stderr(&o));
            outs.push(read_wav(&out).unwrap().0);
        }
        let d = max_diff(&outs[0], &outs[1]);
        eprintln!("{kind}: max |fxmatch hosting the plugin - built-in| = {d:e}");
        assert!(d <= TOLERANCE, "{kind}: hosted plugin differs from the built-in by {d}");
    }
}
