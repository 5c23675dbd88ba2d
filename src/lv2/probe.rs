//! Crash isolation for hosted plugins: a pre-flight probe of each LV2 plugin in a child process.
//!
//! A hosted plugin is native code in fxmatch's own process. NaN and infinite output are caught
//! ([`Lv2Effect`] replaces them by silence), but a plugin that dereferences a null pointer,
//! aborts or divides by zero kills the whole process, live daemon included, and all the user
//! would see is `Segmentation fault`. So before a chain's plugins are instantiated in-process,
//! each URI is first exercised in a throw-away child process:
//!
//! - [`run_probe`] is the probe itself, what the hidden `fxmatch plugins probe URI [--rate R]
//!   [--block B]` runs: it builds the plugin through the normal [`Lv2Effect`] path, prepares
//!   (instantiates) it, runs 1 s of stereo noise through it in blocks at the default settings,
//!   then with every continuous control at its minimum and at its maximum (all together for
//!   1 s, then each alone for 0.1 s), resets and re-instantiates it, and frees it. It prints a
//!   one-line JSON summary and exits 0; on an error it prints a one-line [`ProbeFailure`] and
//!   exits 1.
//! - [`probe_in_child`] runs that subcommand in a child process of the fxmatch binary with a
//!   timeout ([`PROBE_TIMEOUT`], or `FXMATCH_PROBE_TIMEOUT` seconds) and turns a death by signal
//!   (named: SIGSEGV, SIGABRT, SIGFPE, …), a timeout or a failure into an error that
//!   names the plugin, what happened and at which stage, and the fix. Results are cached per
//!   URI for the life of the process, so the daemon's reconnects and the matcher's workers do
//!   not probe again.
//! - [`crate::chain::probe_chain`] probes every LV2 effect of a chain with it; `fxmatch render`,
//!   `fxmatch match`, `fxmatch eval transfer|match` and `fxmatch daemon` call it right after
//!   loading the chain file, before anything instantiates a plugin, and never on the audio
//!   thread.
//!
//! # Finding the binary
//! The child is the binary given to [`set_probe_binary`], else this very executable when it is
//! the `fxmatch` binary (every CLI command; through `/proc/self/exe`, so that the probe runs the
//! same code even if the file was replaced since start), else the path in `FXMATCH_BIN`
//! (integration tests can pass `env!("CARGO_BIN_EXE_fxmatch")` either way). With none of these
//! (a library user's own program, the unit tests) the probe is skipped with a `tracing` warning
//! and the plugin is trusted as before.
//!
//! # Switching it off
//! `FXMATCH_NO_PROBE=1` skips the probe (each check costs one child process start, one lilv
//! world load and a few seconds of audio per plugin, typically well under a second).
//!
//! # What it cannot catch
//! A plugin that crashes only under some later input, parameter combination or block size
//! still takes the process down. The daemon's systemd unit restarts it (`Restart=on-failure`),
//! and the last state is restored from the state file.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::plugin::Lv2Effect;
use super::world::{package_hint, Layout};
use crate::effect::{Effect, Mapping};
use crate::error::{Error, Result};

/// How long the child may take before it is killed and the plugin refused.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Set to `1` to skip the probe.
pub const NO_PROBE_ENV: &str = "FXMATCH_NO_PROBE";
/// Path of the fxmatch binary that runs the probe when this process is not fxmatch itself.
pub const BIN_ENV: &str = "FXMATCH_BIN";
/// Seconds before a probe times out (default [`PROBE_TIMEOUT`]).
pub const TIMEOUT_ENV: &str = "FXMATCH_PROBE_TIMEOUT";
/// Prefix of the progress lines the probe writes to stderr (the parent reports the last one).
pub const STAGE_PREFIX: &str = "probe stage: ";

/// Sample rate the probe uses when the caller has none in mind.
pub const DEFAULT_RATE: u32 = 48_000;
/// Block size the probe uses when the caller has none in mind.
pub const DEFAULT_BLOCK: usize = 512;

/// What a successful probe did (printed as one line of JSON by `fxmatch plugins probe`).
#[derive(Debug, Clone, Serialize)]
pub struct ProbeSummary {
    /// Always true (a failed probe prints an error instead).
    pub ok: bool,
    /// The plugin's URI.
    pub uri: String,
    /// Its name.
    pub name: String,
    /// How it ran.
    pub layout: Layout,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Frames per block.
    pub block: usize,
    /// Settings run: defaults, all at min, all at max, each continuous control at min and max.
    pub passes: usize,
    /// Continuous controls swept.
    pub continuous_controls: usize,
    /// Frames processed in all (per channel).
    pub frames: usize,
    /// Non-finite output samples (replaced by silence, not a failure).
    pub nonfinite_samples: u64,
    /// Wall-clock seconds the probe took, instantiation included.
    pub seconds: f64,
}

/// What a failed probe prints on stdout (one line of JSON), for the parent to pass on.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ProbeFailure {
    /// Always false.
    pub ok: bool,
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl From<&Error> for ProbeFailure {
    fn from(e: &Error) -> Self {
        Self { ok: false, message: e.message(), fix: e.fix().to_string() }
    }
}

impl From<&ProbeFailure> for Error {
    fn from(f: &ProbeFailure) -> Self {
        Error::invalid(f.message.clone(), f.fix.clone())
    }
}

/// Deterministic noise at -6 dBFS peak.
fn noise(frames: usize, seed: u64) -> Vec<f32> {
    crate::audio::white_noise(frames, 0.5, seed)
}

/// Run plugin `uri` in this process: instantiate it at `rate` Hz for blocks of `block` frames
/// and run noise through it at its defaults and at the extremes of every continuous control
/// (see the module docs). `stage` is told what is about to happen, so that a crash can be
/// pinned to a stage. A plugin that crashes takes this process with it: call this in a child
/// process ([`probe_in_child`]) unless that is the point.
pub fn run_probe(uri: &str, rate: u32, block: usize, stage: &mut dyn FnMut(&str)) -> Result<ProbeSummary> {
    let start = Instant::now();
    let block = block.max(1);
    stage("load");
    let mut effect = Lv2Effect::new(uri)?;
    stage("instantiate");
    effect.prepare(rate as f32, block);
    if let Some(e) = effect.prepare_error() {
        return Err(Error::Invalid {
            message: format!("LV2 plugin `{uri}` could not be instantiated: {e}"),
            fix: "remove it from the chain, or check it with `fxmatch plugins URI`".into(),
        });
    }
    let specs = effect.params().to_vec();
    let defaults: Vec<f32> = specs.iter().map(|s| s.default).collect();
    let continuous: Vec<usize> =
        (0..specs.len()).filter(|&i| specs[i].mapping != Mapping::Discrete).collect();
    let second = rate as usize;
    let (left, right) = (noise(second, 1), noise(second, 2));
    let mut frames = 0;
    let mut passes = 0;
    let mut pass =
        |effect: &mut Lv2Effect, stage: &mut dyn FnMut(&str), label: &str, values: &[f32], len: usize| {
            stage(label);
            for (i, &v) in values.iter().enumerate() {
                effect.set_param(i, v);
            }
            effect.snap();
            let (mut l, mut r) = (left[..len].to_vec(), right[..len].to_vec());
            for (bl, br) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                effect.process(bl, br);
            }
            frames += len;
            passes += 1;
        };
    pass(&mut effect, stage, "run at the defaults", &defaults, second);
    stage("reset (deactivate, activate)");
    effect.reset();
    stage("re-instantiate");
    effect.reinitialize();
    if let Some(e) = effect.prepare_error() {
        return Err(Error::Invalid {
            message: format!("LV2 plugin `{uri}` could not be instantiated a second time: {e}"),
            fix: "remove it from the chain (offline renders instantiate each plugin anew)".into(),
        });
    }
    if !continuous.is_empty() {
        for (label, pick) in [("min", true), ("max", false)] {
            let mut values = defaults.clone();
            for &i in &continuous {
                values[i] = if pick { specs[i].min } else { specs[i].max };
            }
            pass(
                &mut effect,
                stage,
                &format!("run with every continuous control at its {label}"),
                &values,
                second,
            );
        }
        for &i in &continuous {
            for (label, v) in [("min", specs[i].min), ("max", specs[i].max)] {
                let mut values = defaults.clone();
                values[i] = v;
                pass(
                    &mut effect,
                    stage,
                    &format!("run with `{}` at its {label} ({v})", specs[i].id),
                    &values,
                    second / 10,
                );
            }
        }
    }
    let nonfinite_samples = effect.nonfinite_samples();
    let (name, layout) =
        (super::world::plugin_info(uri).map(|i| i.name.clone()).unwrap_or_default(), effect.layout());
    stage("free the instance");
    drop(effect);
    Ok(ProbeSummary {
        ok: true,
        uri: uri.to_string(),
        name,
        layout,
        sample_rate: rate,
        block,
        passes,
        continuous_controls: continuous.len(),
        frames,
        nonfinite_samples,
        seconds: start.elapsed().as_secs_f64(),
    })
}

static BINARY: OnceLock<PathBuf> = OnceLock::new();

/// Run the probe with this fxmatch binary (a program that embeds the library, or an
/// integration test: `set_probe_binary(env!("CARGO_BIN_EXE_fxmatch"))`). Only the first call
/// counts; it takes precedence over everything else.
pub fn set_probe_binary(path: impl Into<PathBuf>) {
    let _ = BINARY.set(path.into());
}

/// The fxmatch binary to run the probe with, or `None`: the one given to
/// [`set_probe_binary`], else this process's executable when it is called `fxmatch`, else
/// `FXMATCH_BIN`.
pub fn probe_binary() -> Option<PathBuf> {
    if let Some(path) = BINARY.get() {
        return Some(path.clone());
    }
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == "fxmatch" || n == "fxmatch (deleted)") {
            // This very program, even when its file has been replaced since it started (an
            // upgrade, a rebuild): in the child, Linux's /proc/self/exe still names it.
            let this = std::path::Path::new("/proc/self/exe");
            return Some(if this.exists() { this.to_path_buf() } else { exe });
        }
    }
    std::env::var_os(BIN_ENV).filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// The probe is switched off by `FXMATCH_NO_PROBE`.
fn disabled() -> bool {
    std::env::var(NO_PROBE_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn timeout() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(PROBE_TIMEOUT, Duration::from_secs_f64)
}

/// The name and meaning of a signal that kills processes.
pub fn signal_name(signal: i32) -> String {
    let (name, what) = match signal {
        libc::SIGSEGV => ("SIGSEGV", "segmentation fault: an invalid memory access"),
        libc::SIGABRT => ("SIGABRT", "abort: a failed assertion or abort() in the plugin"),
        libc::SIGFPE => ("SIGFPE", "arithmetic exception, e.g. an integer division by zero"),
        libc::SIGBUS => ("SIGBUS", "bus error: a misaligned or unmapped memory access"),
        libc::SIGILL => ("SIGILL", "illegal instruction, e.g. code built for another CPU"),
        libc::SIGTRAP => ("SIGTRAP", "trap, e.g. a debug break in the plugin"),
        libc::SIGSYS => ("SIGSYS", "bad system call"),
        libc::SIGKILL => ("SIGKILL", "killed, e.g. by the out-of-memory killer"),
        libc::SIGTERM => ("SIGTERM", "terminated from outside"),
        libc::SIGPIPE => ("SIGPIPE", "broken pipe"),
        libc::SIGXCPU => ("SIGXCPU", "CPU time limit exceeded"),
        n => return format!("signal {n}"),
    };
    format!("{name} ({what})")
}

/// The fix for a plugin that failed the probe with a `what` (crash, hang).
fn crash_fix(uri: &str, what: &str) -> String {
    let upstream = match package_hint(uri) {
        Some(pkg) => format!("report the {what} upstream (Debian package `{pkg}`)"),
        None => format!("report the {what} to the plugin's authors"),
    };
    format!(
        "remove the effect with `uri = \"{uri}\"` from the chain file (or use another plugin), and \
         {upstream}; `fxmatch plugins probe {uri}` reproduces it"
    )
}

/// Run the probe of `uri` in a child process of the fxmatch binary (see the module docs).
/// `Ok` when it passed, was passed before in this process, is switched off
/// (`FXMATCH_NO_PROBE=1`) or no fxmatch binary is known (a warning is logged); otherwise why
/// the plugin is refused: the signal that killed the child, a timeout, or the child's error.
pub fn probe_in_child(uri: &str, rate: u32, block: usize) -> Result<()> {
    // A failure is kept as its message and fix: the crate's error is not `Clone`.
    static CACHE: OnceLock<Mutex<HashMap<String, Result<(), ProbeFailure>>>> = OnceLock::new();
    if disabled() {
        return Ok(());
    }
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(uri) {
        return r.as_ref().map_err(Error::from).copied();
    }
    let Some(bin) = probe_binary() else {
        tracing::warn!(
            uri,
            "LV2 crash probe skipped: this process is not the fxmatch binary and {BIN_ENV} is not set; \
             a crashing plugin will take the process down"
        );
        return Ok(());
    };
    let result = run_child(&bin, uri, rate, block);
    let kept = result.as_ref().map_err(ProbeFailure::from).copied();
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(uri.to_string(), kept);
    result
}

/// Spawn `bin plugins probe URI`, wait for it (killing it after the timeout) and judge it.
fn run_child(bin: &std::path::Path, uri: &str, rate: u32, block: usize) -> Result<()> {
    let start = Instant::now();
    let limit = timeout();
    let mut child = Command::new(bin)
        .args(["plugins", "probe", uri, "--rate", &rate.to_string(), "--block", &block.to_string()])
        .env_remove(NO_PROBE_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Invalid {
            message: format!(
                "cannot start the crash probe of LV2 plugin `{uri}` ({} plugins probe): {e}",
                bin.display()
            ),
            fix: format!("point {BIN_ENV} at the fxmatch binary, or set {NO_PROBE_ENV}=1 to skip the probe"),
        })?;
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped")));
    let stderr = reader(Box::new(child.stderr.take().expect("piped")));
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let stage = stderr.lines().rev().find_map(|l| l.strip_prefix(STAGE_PREFIX)).unwrap_or("start-up");
    // What the plugin (or lilv) printed during the last stage, e.g. a failed assertion.
    let printed: Vec<&str> = stderr
        .lines()
        .rev()
        .take_while(|l| !l.starts_with(STAGE_PREFIX))
        .filter(|l| !l.trim().is_empty())
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let printed =
        if printed.is_empty() { String::new() } else { format!("; it printed: {}", printed.join(" | ")) };
    let Some(status) = status else {
        return Err(Error::Invalid {
            message: format!(
                "LV2 plugin `{uri}` did not finish the crash probe in {:.0} s (stuck during `{stage}`{printed}): \
                 it hangs, or is far too slow for real time",
                limit.as_secs_f64()
            ),
            fix: format!("{}; or allow more time with {TIMEOUT_ENV}=SECONDS", crash_fix(uri, "hang")),
        });
    };
    if let Some(signal) = status.signal() {
        return Err(Error::Invalid {
            message: format!(
                "LV2 plugin `{uri}` crashed the probe process with {} during `{stage}`{printed}; fxmatch \
                 refuses to load it, as it would take the whole process down",
                signal_name(signal)
            ),
            fix: crash_fix(uri, "crash"),
        });
    }
    if !status.success() {
        // The child's own error, a `ProbeFailure` line on stdout; else what it printed.
        let failure = stdout.lines().rev().find_map(|l| serde_json::from_str::<ProbeFailure>(l).ok());
        let (why, fix) = match failure {
            Some(f) => (format!(": {}", f.message), f.fix),
            None => (printed, crash_fix(uri, "failure")),
        };
        return Err(Error::Invalid {
            message: format!("LV2 plugin `{uri}` failed the crash probe ({status}) during `{stage}`{why}"),
            fix,
        });
    }
    tracing::info!(uri, seconds, summary = stdout.trim(), "LV2 plugin passed the crash probe");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVERDRIVE: &str = "http://drobilla.net/plugins/mda/Overdrive";

    #[test]
    fn overdrive_passes_the_probe_in_process_through_every_stage() {
        let mut stages = Vec::new();
        let s = run_probe(OVERDRIVE, 48_000, 256, &mut |s| stages.push(s.to_string())).unwrap_or_else(|e| {
            panic!("{} (fix: {}; scripts/setup.sh installs mda-lv2)", e.message(), e.fix())
        });
        // drive, muffle, output: defaults, all at min, all at max, each alone at min and max.
        assert_eq!((s.continuous_controls, s.passes), (3, 3 + 6));
        assert_eq!(s.frames, 3 * 48_000 + 6 * 4_800);
        assert_eq!(s.layout, Layout::Stereo);
        assert_eq!(stages.first().map(String::as_str), Some("load"));
        assert!(stages.iter().any(|s| s == "run with `drive` at its max (1)"), "{stages:?}");
        assert_eq!(stages.last().map(String::as_str), Some("free the instance"));
    }

    #[test]
    fn an_unknown_uri_fails_the_probe_with_the_package() {
        let e =
            run_probe("http://drobilla.net/plugins/mda/NoSuchThing", 48_000, 256, &mut |_| {}).unwrap_err();
        assert!(e.message().contains("NoSuchThing") && e.fix().contains("mda-lv2"), "{e:?}");
    }

    #[test]
    fn signals_are_named() {
        assert!(signal_name(libc::SIGSEGV).starts_with("SIGSEGV (segmentation fault"));
        assert!(signal_name(libc::SIGFPE).starts_with("SIGFPE"));
        assert_eq!(signal_name(1000), "signal 1000");
    }
}
