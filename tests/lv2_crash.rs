//! Crash isolation with real crashing LV2 plugins: a bundle of tiny C plugins, compiled here
//! with `cc` against the LV2 headers (`lv2-dev`), that segfault in `run`, abort in
//! `instantiate`, segfault only with their control at its maximum, or hang. `fxmatch render`
//! and `fxmatch daemon` must refuse them with the URI, the signal and the fix (exit 1), not
//! die with them; the hidden `fxmatch plugins probe` itself does die; well-behaved plugins
//! (mda Overdrive, the bundle's own pass-through) pass.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;

const OVERDRIVE: &str = "http://drobilla.net/plugins/mda/Overdrive";
const OK: &str = "urn:fxmatch:test:crashy:ok";
const CRASH_RUN: &str = "urn:fxmatch:test:crashy:segfault-in-run";
const CRASH_INSTANTIATE: &str = "urn:fxmatch:test:crashy:abort-in-instantiate";
const CRASH_AT_MAX: &str = "urn:fxmatch:test:crashy:segfault-at-max-gain";
const HANG: &str = "urn:fxmatch:test:crashy:hang-in-run";
/// In the order of `lv2_descriptor`'s indices (the C `enum mode`).
const URIS: [&str; 5] = [OK, CRASH_RUN, CRASH_INSTANTIATE, CRASH_AT_MAX, HANG];

const SOURCE: &str = r#"
#if __has_include(<lv2/core/lv2.h>)
#include <lv2/core/lv2.h>
#else
#include <lv2/lv2plug.in/ns/lv2core/lv2.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum mode { OK, CRASH_RUN, CRASH_INSTANTIATE, CRASH_AT_MAX, HANG, MODES };
static const char *const uris[MODES] = { URIS };
static LV2_Descriptor descriptors[MODES];

typedef struct {
    int mode;
    const float *in[2];
    float *out[2];
    const float *gain;
} Crashy;

static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *path,
                              const LV2_Feature *const *features) {
    (void)rate; (void)path; (void)features;
    int mode = (int)(d - descriptors);
    if (mode == CRASH_INSTANTIATE) {
        fprintf(stderr, "crashy: instantiate gives up\n");
        abort();
    }
    Crashy *c = calloc(1, sizeof *c);
    if (c) c->mode = mode;
    return c;
}

static void connect_port(LV2_Handle h, uint32_t port, void *data) {
    Crashy *c = h;
    if (port < 2) c->in[port] = data;
    else if (port < 4) c->out[port - 2] = data;
    else c->gain = data;
}

static void run(LV2_Handle h, uint32_t n) {
    Crashy *c = h;
    float g = c->gain ? *c->gain : 1.0f;
    if (c->mode == CRASH_RUN || (c->mode == CRASH_AT_MAX && g >= 1.0f)) {
        volatile float *null = NULL;
        *null = g;
    }
    if (c->mode == HANG) {
        volatile unsigned long spin = 0;
        for (;;) spin++;
    }
    for (int ch = 0; ch < 2; ch++)
        for (uint32_t i = 0; i < n; i++) c->out[ch][i] = g * c->in[ch][i];
}

static void cleanup(LV2_Handle h) { free(h); }

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index) {
    if (index >= MODES) return NULL;
    LV2_Descriptor *d = &descriptors[index];
    d->URI = uris[index];
    d->instantiate = instantiate;
    d->connect_port = connect_port;
    d->run = run;
    d->cleanup = cleanup;
    return d;
}
"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Fixture {
    dir: tempfile::TempDir,
    /// The bundle's parent and /usr/lib/lv2 (for mda Overdrive).
    lv2_path: String,
    /// A stereo 48 kHz test WAV.
    input: PathBuf,
}

/// Build the bundle once per test process; fail (not skip) naming the package when `cc` or
/// the LV2 headers are missing.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("crashy.lv2");
        std::fs::create_dir(&bundle).unwrap();
        let prefixes = "@prefix lv2: <http://lv2plug.in/ns/lv2core#> .\n\
                        @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n\
                        @prefix doap: <http://usefulinc.com/ns/doap#> .\n";
        let mut manifest = prefixes.to_string();
        let mut plugins = prefixes.to_string();
        for uri in URIS {
            manifest += &format!("<{uri}> a lv2:Plugin ; lv2:binary <crashy.so> ; rdfs:seeAlso <plugin.ttl> .\n");
            plugins += &format!(
                "<{uri}> a lv2:Plugin, lv2:AmplifierPlugin ; doap:name \"crashy {uri}\" ;\n\
                 lv2:port [ a lv2:AudioPort, lv2:InputPort ; lv2:index 0 ; lv2:symbol \"in_l\" ; lv2:name \"In L\" ] ,\n\
                 [ a lv2:AudioPort, lv2:InputPort ; lv2:index 1 ; lv2:symbol \"in_r\" ; lv2:name \"In R\" ] ,\n\
                 [ a lv2:AudioPort, lv2:OutputPort ; lv2:index 2 ; lv2:symbol \"out_l\" ; lv2:name \"Out L\" ] ,\n\
                 [ a lv2:AudioPort, lv2:OutputPort ; lv2:index 3 ; lv2:symbol \"out_r\" ; lv2:name \"Out R\" ] ,\n\
                 [ a lv2:ControlPort, lv2:InputPort ; lv2:index 4 ; lv2:symbol \"gain\" ; lv2:name \"Gain\" ;\n\
                   lv2:default 0.5 ; lv2:minimum 0.0 ; lv2:maximum 1.0 ] .\n"
            );
        }
        std::fs::write(bundle.join("manifest.ttl"), manifest).unwrap();
        std::fs::write(bundle.join("plugin.ttl"), plugins).unwrap();
        let uris: Vec<String> = URIS.iter().map(|u| format!("\"{u}\"")).collect();
        let source = bundle.join("crashy.c");
        std::fs::write(&source, SOURCE.replace("{ URIS }", &format!("{{ {} }}", uris.join(", ")))).unwrap();
        let o = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(bundle.join("crashy.so"))
            .arg(&source)
            .output()
            .expect("`cc` not found: `apt install gcc` (scripts/setup.sh does)");
        assert!(
            o.status.success(),
            "compiling the crashing test plugin failed (the LV2 headers come from `apt install lv2-dev`):\n{}",
            stderr(&o)
        );
        let input = write_test_wav(dir.path(), "in.wav", &test_signal(48_000, 0.5));
        let lv2_path = format!("{}:/usr/lib/lv2", dir.path().display());
        Fixture { dir, lv2_path, input }
    })
}

/// `fxmatch ARGS` with the bundle on LV2_PATH (and `envs`), killed after a minute: a binary
/// that runs the hanging plugin in-process must fail the test, not hang it. (With a target
/// directory shared between branches, `CARGO_BIN_EXE_fxmatch` may be another branch's build.)
fn fx(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let f = fixture();
    let mut child = fxmatch()
        .args(args)
        .env("LV2_PATH", &f.lv2_path)
        .env_remove("FXMATCH_NO_PROBE")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            pipe.read_to_end(&mut v).unwrap();
            v
        })
    };
    let (out, err) =
        (read(Box::new(child.stdout.take().unwrap())), read(Box::new(child.stderr.take().unwrap())));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            let e = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!("`fxmatch {}` did not finish in 60 s (killed):\n{e}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// A one-effect chain file for `uri`.
fn chain_of(uri: &str, name: &str) -> PathBuf {
    let path = fixture().dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, format!("name = \"{name}\"\n[[effect]]\ntype = \"lv2\"\nuri = \"{uri}\"\n"))
        .unwrap();
    path
}

/// `fxmatch render` through a one-effect chain of `uri`: (output, whether OUT.wav was written,
/// seconds).
fn render(uri: &str, name: &str, envs: &[(&str, &str)]) -> (Output, bool, f64) {
    let f = fixture();
    let chain = chain_of(uri, name);
    let out = f.dir.path().join(format!("{name}.out.wav"));
    let t0 = Instant::now();
    let o = fx(&["render", "--chain", s(&chain), s(&f.input), s(&out)], envs);
    (o, out.exists(), t0.elapsed().as_secs_f64())
}

/// fxmatch itself exits with 1 and a message, not by a signal.
fn assert_refused(o: &Output, wrote: bool) -> String {
    let e = stderr(o);
    assert_eq!(o.status.signal(), None, "fxmatch itself died by a signal: {e}");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(!wrote, "no output is written");
    e
}

#[test]
fn the_bundle_builds_and_its_well_behaved_plugin_renders() {
    let (o, wrote, secs) = render(OK, "ok", &[]);
    assert!(o.status.success() && wrote, "{}", stderr(&o));
    eprintln!("render with the probe of a passing plugin: {secs:.2} s");
}

#[test]
fn render_refuses_a_plugin_that_segfaults_in_run() {
    let (o, wrote, secs) = render(CRASH_RUN, "segv", &[]);
    let e = assert_refused(&o, wrote);
    assert!(e.contains(CRASH_RUN) && e.contains("segv.toml"), "names the plugin and the chain: {e}");
    assert!(e.contains("SIGSEGV (segmentation fault"), "names the signal: {e}");
    assert!(e.contains("during `run at the defaults`"), "names the stage: {e}");
    assert!(e.contains("fix: remove the effect") && e.contains("report the crash"), "gives the fix: {e}");
    eprintln!("refused in {secs:.2} s");
}

#[test]
fn render_refuses_a_plugin_that_aborts_in_instantiate() {
    let (o, wrote, _) = render(CRASH_INSTANTIATE, "abrt", &[]);
    let e = assert_refused(&o, wrote);
    assert!(
        e.contains(CRASH_INSTANTIATE) && e.contains("SIGABRT") && e.contains("during `instantiate`"),
        "{e}"
    );
}

#[test]
fn a_crash_only_at_a_control_extreme_is_caught() {
    let (o, wrote, _) = render(CRASH_AT_MAX, "at-max", &[]);
    let e = assert_refused(&o, wrote);
    assert!(e.contains(CRASH_AT_MAX) && e.contains("SIGSEGV"), "{e}");
    assert!(e.contains("during `run with every continuous control at its max`"), "{e}");
}

#[test]
fn a_hanging_plugin_times_out() {
    let (o, wrote, secs) = render(HANG, "hang", &[("FXMATCH_PROBE_TIMEOUT", "1")]);
    let e = assert_refused(&o, wrote);
    assert!(e.contains(HANG) && e.contains("did not finish the crash probe in 1 s"), "{e}");
    assert!(e.contains("stuck during `run at the defaults`") && e.contains("FXMATCH_PROBE_TIMEOUT"), "{e}");
    assert!(e.contains("report the hang"), "{e}");
    assert!(secs < 15.0, "the hung child was killed after the timeout ({secs:.1} s)");
}

#[test]
fn the_probe_subcommand_itself_dies_by_the_signal() {
    for (uri, signal) in [(CRASH_RUN, libc::SIGSEGV), (CRASH_INSTANTIATE, libc::SIGABRT)] {
        let o = fx(&["plugins", "probe", uri], &[]);
        assert_eq!(o.status.signal(), Some(signal), "{uri}: {:?} {}", o.status, stderr(&o));
    }
}

#[test]
fn well_behaved_plugins_pass_the_probe() {
    require_overdrive();
    for (uri, passes) in [(OVERDRIVE, 9), (OK, 5)] {
        let t0 = Instant::now();
        let o = fx(&["plugins", "probe", uri, "--rate", "44100", "--block", "128"], &[]);
        let secs = t0.elapsed().as_secs_f64();
        assert!(o.status.success(), "{uri}: {}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!((v["ok"].as_bool(), v["uri"].as_str()), (Some(true), Some(uri)), "{v}");
        assert_eq!((v["sample_rate"].as_u64(), v["block"].as_u64()), (Some(44_100), Some(128)), "{v}");
        assert_eq!(v["passes"].as_u64(), Some(passes), "{v}");
        eprintln!("probe of {uri}: {secs:.2} s wall, {} s inside", v["seconds"]);
    }
}

#[test]
fn the_library_probe_runs_in_a_child_and_caches() {
    require_overdrive();
    fxmatch::lv2::probe::set_probe_binary(env!("CARGO_BIN_EXE_fxmatch"));
    let t0 = Instant::now();
    fxmatch::lv2::probe_in_child(OVERDRIVE, 48_000, 512).unwrap_or_else(|e| panic!("{e}"));
    let first = t0.elapsed();
    let t1 = Instant::now();
    fxmatch::lv2::probe_in_child(OVERDRIVE, 48_000, 512).unwrap();
    let cached = t1.elapsed();
    assert!(cached < first / 10, "the second call is cached ({cached:?} vs {first:?})");
    // This process has no LV2_PATH to the bundle: the child's own error comes back, with the fix.
    let e =
        fxmatch::lv2::probe_in_child("http://drobilla.net/plugins/mda/NoSuchThing", 48_000, 512).unwrap_err();
    assert!(e.message().contains("NoSuchThing") && e.message().contains("during `load`"), "{e}");
    assert!(e.fix().contains("apt install mda-lv2"), "{e}");
    eprintln!("library probe of {OVERDRIVE}: {first:?} (cached: {cached:?})");
}

#[test]
fn the_daemon_refuses_a_crashing_chain_at_start() {
    let f = fixture();
    let chain = chain_of(CRASH_RUN, "daemon-segv");
    let config = f.dir.path().join("daemon.toml");
    std::fs::write(
        &config,
        format!("chain = \"{}\"\nreferences = \"refs\"\nstate = \"state\"\n", chain.display()),
    )
    .unwrap();
    std::fs::create_dir_all(f.dir.path().join("refs")).unwrap();
    let t0 = Instant::now();
    let o = fx(
        &[
            "daemon",
            "--backend",
            "offline",
            "--osc-port",
            "0",
            "--config",
            s(&config),
            "--input",
            s(&f.input),
        ],
        &[],
    );
    let e = assert_refused(&o, false);
    assert!(e.contains(CRASH_RUN) && e.contains("SIGSEGV") && e.contains("daemon-segv.toml"), "{e}");
    eprintln!("daemon refused in {:.2} s", t0.elapsed().as_secs_f64());
}

#[test]
fn without_the_probe_the_crash_takes_fxmatch_down() {
    // What the probe prevents: FXMATCH_NO_PROBE=1 loads the plugin in-process, and fxmatch
    // itself dies by SIGSEGV.
    let (o, wrote, _) = render(CRASH_RUN, "segv-noprobe", &[("FXMATCH_NO_PROBE", "1")]);
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{:?} {}", o.status, stderr(&o));
    assert!(!wrote);
    // A good plugin renders the same with the probe off.
    let (o, wrote, _) = render(OK, "ok-noprobe", &[("FXMATCH_NO_PROBE", "1")]);
    assert!(o.status.success() && wrote, "{}", stderr(&o));
}

/// Fail (not skip) when mda Overdrive is missing, naming the package (as tests/lv2_host.rs).
fn require_overdrive() {
    let o = fx(&["plugins", OVERDRIVE], &[]);
    assert!(
        o.status.success(),
        "{OVERDRIVE} is not installed: `apt install mda-lv2` (scripts/setup.sh does)\n{}",
        stderr(&o)
    );
}
