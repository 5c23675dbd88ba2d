//! Bad VST3 plugins, for real: `test-plugins/vst3-faulty` is a VST3 module (built here with
//! cargo and put into a bundle, `FxmatchFaulty.vst3/Contents/x86_64-linux/FxmatchFaulty.so`, in
//! a temp dir on `VST3_PATH`) with one audio-effect class per fault: refused bus arrangements, a
//! refused sample rate, error codes from `initialize`, `setActive` and `process`, NaN output,
//! and aborts (the end of an uncaught C++ exception) in `createInstance` and in `process`.
//!
//! For each, `fxmatch plugins probe --vst3` (the crash probe's child) shows the fault; `fxmatch
//! render`, `fxmatch match`, `fxmatch daemon` and the library's chain loading refuse the broken
//! ones with an error naming the plugin, its bundle and the reason, and never die themselves;
//! the occasionally failing and the NaN plugins run, their failed blocks left dry and their NaN
//! replaced by silence, counted and warned about. Without the probe (`FXMATCH_NO_PROBE=1`) the
//! aborting plugin does take fxmatch down: that is what the probe prevents.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use fxmatch::audio::{read_wav, write_wav, SampleFormat};
use fxmatch::chain::ChainSpec;

/// The module's classes that cannot be used, with what the error must say.
const REFUSED: [(&str, &str); 6] = [
    ("RefuseBuses", "refused the bus arrangement stereo main input and output (setBusArrangements returned 1 (kResultFalse)"),
    ("InitError", "initialize (component) returned error code 4 (kInternalError)"),
    ("ActivateError", "setActive(true) returned error code 1 (kResultFalse)"),
    ("ProcessError", "answered every process call with an error code"),
    ("AbortOnCreate", "crashed the probe process with SIGABRT"),
    ("AbortOnProcess", "crashed the probe process with SIGABRT"),
];

struct Fixture {
    _dir: tempfile::TempDir,
    /// The folder holding the bundle (the tests' `VST3_PATH`).
    plugins: PathBuf,
    bundle: PathBuf,
    work: PathBuf,
    /// A stereo 32-bit float test WAV at 48 kHz, and one at 96 kHz.
    input: PathBuf,
    input_96k: PathBuf,
}

/// Build the module with this run's profile (reusing its build of the `vst3` crate) and put it
/// into a bundle, once per test process.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let o = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--profile", "test", "-p", "fxmatch-vst3-faulty", "--lib"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "building test-plugins/vst3-faulty failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
        let so = target.join("debug/libfxmatch_vst3_faulty.so");
        assert!(so.is_file(), "{} was not built", so.display());
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("vst3");
        let bundle = plugins.join("FxmatchFaulty.vst3");
        let arch = bundle.join("Contents").join(format!("{}-linux", std::env::consts::ARCH));
        std::fs::create_dir_all(&arch).unwrap();
        std::fs::copy(&so, arch.join("FxmatchFaulty.so")).unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let input = work.join("in.wav");
        write_wav(&input, &test_signal(48_000, 1.0), SampleFormat::F32).unwrap();
        let input_96k = work.join("in96k.wav");
        write_wav(&input_96k, &test_signal(96_000, 0.5), SampleFormat::F32).unwrap();
        // For the library's own chain loading in this process (each test calls `fixture` first).
        std::env::set_var("VST3_PATH", &plugins);
        fxmatch::probe::set_probe_binary(env!("CARGO_BIN_EXE_fxmatch"));
        Fixture { _dir: dir, plugins, bundle, work, input, input_96k }
    })
}

/// `fxmatch ARGS` with the faulty bundle on `VST3_PATH`.
fn fx(args: &[&str]) -> Command {
    let mut c = fxmatch();
    c.env("VST3_PATH", &fixture().plugins).env_remove("FXMATCH_NO_PROBE").args(args);
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A chain file of one VST3 effect, with extra TOML after `plugin = ...`.
fn chain_file(plugin: &str, extra: &str) -> PathBuf {
    let p = fixture().work.join(format!("{plugin}-{}.toml", extra.len()));
    std::fs::write(&p, format!("[[effect]]\ntype = \"vst3\"\nplugin = \"{plugin}\"\n{extra}")).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// fxmatch ran to the end of its own error handling: exit code 1, not a signal.
fn assert_refused(o: &Output, plugin: &str, why: &str) -> String {
    let e = stderr(o);
    assert_eq!(o.status.signal(), None, "fxmatch itself died by a signal: {e}");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains(&format!("VST3 plugin `{plugin}`")), "names the plugin: {e}");
    assert!(e.contains(s(&fixture().bundle)), "names the bundle: {e}");
    assert!(e.contains(why), "says why ({why}): {e}");
    assert!(e.contains("fix: "), "gives the fix: {e}");
    e
}

#[test]
fn the_probe_child_shows_each_fault() {
    let f = fixture();
    for (plugin, why) in REFUSED {
        let o = fx(&["plugins", "probe", "--vst3", plugin]).output().unwrap();
        if plugin.starts_with("Abort") {
            // The fault is real: the probe's child itself dies.
            assert_eq!(o.status.signal(), Some(libc::SIGABRT), "{plugin}: {:?} {}", o.status, stderr(&o));
            continue;
        }
        assert_eq!(o.status.code(), Some(1), "{plugin}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let message = v["message"].as_str().unwrap();
        assert_eq!(v["ok"].as_bool(), Some(false));
        assert!(message.contains(plugin) && message.contains(why), "{plugin}: {message}");
    }
    let summary = |plugin: &str, extra: &[&str]| -> serde_json::Value {
        let o = fx(&["plugins", "probe", "--vst3", plugin]).args(extra).output().unwrap();
        assert!(o.status.success(), "{plugin}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let gain = summary("FaultyGain", &[]);
    assert_eq!((gain["bundle"].as_str(), gain["layout"].as_str()), (Some(s(&f.bundle)), Some("stereo")));
    assert_eq!((gain["process_errors"].as_u64(), gain["nonfinite_samples"].as_u64()), (Some(0), Some(0)));
    // 1 s at the defaults, 0.25 s at the minimum and at the maximum, in 512-frame calls.
    assert_eq!((gain["frames"].as_u64(), gain["process_calls"].as_u64()), (Some(72_000), Some(94 + 2 * 24)));
    let flaky = summary("FlakyProcess", &[]);
    assert_eq!(
        flaky["process_errors"].as_u64(),
        Some(flaky["process_calls"].as_u64().unwrap() / 2),
        "{flaky}"
    );
    assert_eq!(summary("NanOutput", &[])["nonfinite_samples"].as_u64(), Some(2 * 72_000));
    assert_eq!(summary("RefuseRate", &["--rate", "44100", "--block", "64"])["block"].as_u64(), Some(64));
    let o = fx(&["plugins", "probe", "--vst3", "RefuseRate", "--rate", "96000"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("refused the process setup (96000 Hz"), "{}", stderr(&o));
}

#[test]
fn render_refuses_each_broken_plugin_with_the_reason_and_does_not_crash() {
    let f = fixture();
    for (plugin, why) in REFUSED {
        let chain = chain_file(plugin, "");
        let out = f.work.join(format!("out-{plugin}.wav"));
        let o = fx(&["render", "--chain", s(&chain), s(&f.input), s(&out)]).output().unwrap();
        let e = assert_refused(&o, plugin, why);
        assert!(e.contains(s(&chain)), "names the chain file: {e}");
        assert!(!out.exists(), "{plugin}: no output is written");
        if plugin.starts_with("Abort") {
            let stage = if plugin == "AbortOnCreate" {
                "during `describe"
            } else {
                "during `process at the defaults`"
            };
            assert!(e.contains(stage), "names the stage: {e}");
            assert!(
                e.contains(&format!("remove the effect with `plugin = \"{plugin}\"`"))
                    && e.contains("update the plugin"),
                "{e}"
            );
        }
    }
}

#[test]
fn a_refused_sample_rate_is_found_at_the_rate_of_the_run() {
    let f = fixture();
    let chain = chain_file("RefuseRate", "");
    let out = f.work.join("rate-96k.wav");
    // Parsing describes the plugin at 48 kHz (which it accepts); the render runs at 96 kHz.
    let o = fx(&["render", "--chain", s(&chain), s(&f.input_96k), s(&out)]).output().unwrap();
    assert_refused(&o, "RefuseRate", "refused the process setup (96000 Hz, blocks up to 512 frames): setupProcessing returned error code 1 (kResultFalse)");
    assert!(!out.exists());
    let out = f.work.join("rate-48k.wav");
    let o = fx(&["render", "--chain", s(&chain), s(&f.input), s(&out)]).output().unwrap();
    assert!(o.status.success() && out.is_file(), "{}", stderr(&o));
}

#[test]
fn match_refuses_the_aborting_plugin_and_render_an_unknown_parameter() {
    let f = fixture();
    let chain = chain_file("AbortOnProcess", "[effect.free]\ngain = true\n");
    let out = f.work.join("match-out.wav");
    let o = fx(&["match", "--chain", s(&chain), "--metric", "mfcc", s(&f.input), s(&f.input), "-o", s(&out)])
        .output()
        .unwrap();
    assert_refused(&o, "AbortOnProcess", "SIGABRT");
    assert!(!out.exists());
    let chain = chain_file("FaultyGain", "[effect.free]\nloudness = true\n");
    let o = fx(&["render", "--chain", s(&chain), s(&f.input), s(&out)]).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("VST3 plugin `FaultyGain`") && e.contains("loudness"), "{e}");
}

#[test]
fn without_the_probe_the_aborting_plugin_takes_fxmatch_down() {
    let f = fixture();
    let chain = chain_file("AbortOnProcess", "");
    let out = f.work.join("no-probe.wav");
    let o = fx(&["render", "--chain", s(&chain), s(&f.input), s(&out)])
        .env("FXMATCH_NO_PROBE", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGABRT), "{:?} {}", o.status, stderr(&o));
}

/// Frames per render block (`fxmatch::render::OFFLINE_BLOCK`).
const BLOCK: usize = 512;

#[test]
fn failed_process_calls_leave_their_blocks_dry_and_are_counted() {
    let f = fixture();
    // Gain 2 (normalised 1): a processed block is twice the input, a failed one the input.
    let chain = chain_file("FlakyProcess", "[effect.fixed]\ngain = 1.0\n");
    let out = f.work.join("flaky.wav");
    let o = fx(&["render", "--chain", s(&chain), "--format", "f32", s(&f.input), s(&out)]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (input, _) = read_wav(&f.input).unwrap();
    let (output, _) = read_wav(&out).unwrap();
    let (mut wet, mut dry) = (0, 0);
    for (b, (i, o)) in input.channels[0].chunks(BLOCK).zip(output.channels[0].chunks(BLOCK)).enumerate() {
        let is = |k: f32| i.iter().zip(o).all(|(x, y)| (k * x - y).abs() < 1e-6);
        match (is(2.0), is(1.0)) {
            (true, false) => wet += 1,
            (false, true) => dry += 1,
            other => panic!("block {b} is neither processed nor dry: {other:?}"),
        }
    }
    assert!(wet > 0 && dry > 0, "wet {wet}, dry {dry}");
    let e = stderr(&o);
    let warning =
        format!("effect `flakyprocess` (a hosted plugin) answered {dry} process calls with an error code");
    assert!(e.contains(&warning), "warns with the count ({dry}): {e}");
}

#[test]
fn nan_output_is_replaced_by_silence_and_counted() {
    let f = fixture();
    let chain = chain_file("NanOutput", "");
    let out = f.work.join("nan.wav");
    let o = fx(&["render", "--chain", s(&chain), "--format", "f32", s(&f.input), s(&out)]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (output, _) = read_wav(&out).unwrap();
    assert!(output.channels.iter().flatten().all(|&x| x == 0.0), "silence");
    let frames = output.channels[0].len();
    assert!(stderr(&o).contains(&format!("warning: {} non-finite samples", 2 * frames)), "{}", stderr(&o));
}

#[test]
fn the_library_refuses_them_when_loading_and_probing_a_chain() {
    let f = fixture();
    for (plugin, why) in REFUSED {
        let e = ChainSpec::load(chain_file(plugin, "")).err().unwrap_or_else(|| panic!("{plugin} loads"));
        let e = format!("{e}");
        assert!(e.contains(&format!("VST3 plugin `{plugin}`")) && e.contains(why), "{plugin}: {e}");
        assert!(e.contains(s(&f.bundle)), "{e}");
    }
    let spec = ChainSpec::load(chain_file("RefuseRate", "")).unwrap();
    fxmatch::chain::probe_chain(&spec, 48_000, 512).unwrap();
    let e = fxmatch::chain::probe_chain(&spec, 96_000, 512).unwrap_err();
    assert!(e.message().contains("RefuseRate") && e.message().contains("96000 Hz"), "{e}");
    let e = ChainSpec::load(chain_file("FaultyGain", "[effect.free]\nloudness = true\n")).unwrap_err();
    assert!(format!("{e}").contains("VST3 plugin `FaultyGain`"), "{e}");
}

#[test]
fn the_effect_counts_process_errors_and_keeps_those_blocks_dry() {
    use fxmatch::effect::Effect;
    fixture();
    let noise = fxmatch::audio::white_noise(BLOCK * 8, 0.5, 7);
    for (plugin, dry_every) in [("ProcessError", 1), ("FlakyProcess", 2)] {
        // In this process, without the probe (which refuses `ProcessError` outright).
        let desc = fxmatch::vst3::describe_with_layout(plugin, fxmatch::vst3::Layout::Stereo).unwrap();
        let mut e = fxmatch::vst3::Vst3Effect::from_desc(std::sync::Arc::new(desc));
        e.prepare(48_000.0, BLOCK);
        e.set_param(0, 1.0);
        e.snap();
        for (k, chunk) in noise.chunks(BLOCK).enumerate() {
            let (mut l, mut r) = (chunk.to_vec(), chunk.to_vec());
            e.process(&mut l, &mut r);
            let gain = if k % dry_every == dry_every - 1 { 1.0 } else { 2.0 };
            assert!(l.iter().zip(chunk).all(|(y, x)| (gain * x - y).abs() < 1e-6), "{plugin}: block {k}");
        }
        assert_eq!(e.process_calls(), 8);
        assert_eq!(e.process_errors(), 8 / dry_every as u64, "{plugin}");
        assert_eq!(e.last_process_error(), vst3::Steinberg::kInternalError);
    }
}

#[test]
fn the_daemon_refuses_the_aborting_plugin_and_runs_on_with_a_misbehaving_one() {
    let _one = daemon::one_at_a_time();
    fixture();
    for (plugin, refused) in [("AbortOnProcess", true), ("NanOutput", false), ("FlakyProcess", false)] {
        let chain = chain_file(plugin, "[effect.free]\ngain = true\n");
        let s = daemon::setup_with_chain(chain.to_str().unwrap());
        let log = s.dir.path().join("daemon.log");
        let mut d = daemon::Guard(
            fx(&["daemon", "--backend", "offline", "--config"])
                .arg(&s.config)
                .arg("--input")
                .arg(&s.input)
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let text = || std::fs::read_to_string(&log).unwrap_or_default();
        if refused {
            let start = Instant::now();
            let status = loop {
                if let Some(st) = d.0.try_wait().unwrap() {
                    break st;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the daemon neither started nor stopped: {}",
                    text()
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            assert_eq!((status.signal(), status.code()), (None, Some(1)), "{}", text());
            let e = text();
            assert!(e.contains("VST3 plugin `AbortOnProcess`") && e.contains("SIGABRT"), "{e}");
            continue;
        }
        daemon::wait_until(Duration::from_secs(30), "the daemon did not get ready", || {
            text().contains("fxmatch daemon ready")
        });
        std::thread::sleep(Duration::from_secs(2));
        assert!(d.0.try_wait().unwrap().is_none(), "{plugin}: the daemon stopped: {}", text());
        assert!(text().contains("crash probe"), "{plugin}: the probe's warning is logged: {}", text());
    }
}
