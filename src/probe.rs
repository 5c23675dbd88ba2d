//! Crash isolation for hosted plugins (LV2 and VST3): what both formats' pre-flight probes
//! share. A hosted plugin is native code in fxmatch's own process; one that dereferences a null
//! pointer, aborts (a failed assertion, a C++ exception nobody catches) or divides by zero kills
//! the whole process, live daemon included, and all the user would see is `Segmentation fault`.
//! So before a chain's plugins are instantiated in-process, each is first exercised in a
//! throw-away child process: the hidden `fxmatch plugins probe` subcommand, run by
//! [`probe_cached`], which waits for it with a timeout and turns a death by signal (named:
//! SIGSEGV, SIGABRT, SIGFPE, …), a timeout or a failure into an error naming the plugin, what
//! happened, at which stage, and the fix. The format-specific parts (what the child runs, how
//! the plugin is named) are [`crate::lv2::probe`] and [`crate::vst3::probe`].
//!
//! # The child's protocol
//! The child writes `probe stage: WHAT` to stderr before each stage (the parent reports the last
//! one, and what the plugin printed after it), optionally `probe plugin: WHERE` once it knows
//! where the plugin lives (a VST3 bundle), and on stdout one line of JSON: its summary (exit 0)
//! or a [`ProbeFailure`] (exit 1).
//!
//! # Finding the binary
//! The child is the binary given to [`set_probe_binary`], else this very executable when it is
//! the `fxmatch` binary (every CLI command; through `/proc/self/exe`, so that the probe runs the
//! same code even if the file was replaced since start), else the path in `FXMATCH_BIN`
//! (integration tests can pass `env!("CARGO_BIN_EXE_fxmatch")` either way). With none of these
//! (a library user's own program, the unit tests) the probe is skipped with a `tracing` warning
//! and the plugin is trusted.
//!
//! # Switching it off
//! `FXMATCH_NO_PROBE=1` skips the probe (each check costs one child process start, one plugin
//! load and a few seconds of audio, typically well under a second).
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
/// Prefix of the line where the child says where the plugin lives (a VST3 bundle).
pub const PLUGIN_PREFIX: &str = "probe plugin: ";

/// Sample rate the probe uses when the caller has none in mind.
pub const DEFAULT_RATE: u32 = 48_000;
/// Block size the probe uses when the caller has none in mind.
pub const DEFAULT_BLOCK: usize = 512;

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
        libc::SIGABRT => {
            ("SIGABRT", "abort: a failed assertion, abort() or an uncaught C++ exception in the plugin")
        }
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

/// One plugin to probe in a child process.
pub struct Subject<'a> {
    /// The plugin format, for messages: `LV2`, `VST3`.
    pub format: &'a str,
    /// The plugin as the chain file names it (URI, name or bundle path).
    pub name: &'a str,
    /// The arguments after `fxmatch plugins probe`.
    pub args: Vec<String>,
    /// The fix for a plugin that failed with a `what` (`crash`, `hang`, `failure`).
    pub fix: &'a dyn Fn(&str) -> String,
    /// Pass the child's own error (a plugin that refused to load, cleanly) on unchanged, as the
    /// same load in this process would have reported it; otherwise it is put after "failed the
    /// crash probe (exit status) during `STAGE`".
    pub pass_errors_through: bool,
}

/// Probe `subject` in a child process of the fxmatch binary, once per `key` for the life of this
/// process. `Ok(Some(summary))` (the child's JSON line) when it passed just now, `Ok(None)` when
/// it passed before in this process, is switched off (`FXMATCH_NO_PROBE=1`) or no fxmatch binary
/// is known (a warning is logged); otherwise why the plugin is refused: the signal that killed
/// the child, a timeout, or the child's error.
pub fn probe_cached(subject: &Subject, key: &str) -> Result<Option<String>> {
    // A failure is kept as its message and fix: the crate's error is not `Clone`.
    static CACHE: OnceLock<Mutex<HashMap<String, Result<(), ProbeFailure>>>> = OnceLock::new();
    if disabled() {
        return Ok(None);
    }
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(key) {
        return r.as_ref().map(|_| None).map_err(Error::from);
    }
    let Some(bin) = probe_binary() else {
        tracing::warn!(
            plugin = subject.name,
            "{} crash probe skipped: this process is not the fxmatch binary and {BIN_ENV} is not set; \
             a crashing plugin will take the process down",
            subject.format
        );
        return Ok(None);
    };
    let result = run_child(&bin, subject);
    let kept = result.as_ref().map(|_| ()).map_err(ProbeFailure::from);
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), kept);
    result.map(Some)
}

/// Spawn `bin plugins probe ARGS`, wait for it (killing it after the timeout) and judge it;
/// the child's summary line on success.
fn run_child(bin: &std::path::Path, subject: &Subject) -> Result<String> {
    let (format, name) = (subject.format, subject.name);
    let start = Instant::now();
    let limit = timeout();
    let mut child = Command::new(bin)
        .args(["plugins", "probe"])
        .args(&subject.args)
        .env_remove(NO_PROBE_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Invalid {
            message: format!(
                "cannot start the crash probe of {format} plugin `{name}` ({} plugins probe): {e}",
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
    let plugin = match stderr.lines().rev().find_map(|l| l.strip_prefix(PLUGIN_PREFIX)) {
        Some(at) => format!("{format} plugin `{name}` ({at})"),
        None => format!("{format} plugin `{name}`"),
    };
    // What the plugin printed during the last stage, e.g. a failed assertion.
    let printed: Vec<&str> = stderr
        .lines()
        .rev()
        .take_while(|l| !l.starts_with(STAGE_PREFIX))
        .filter(|l| !l.trim().is_empty() && !l.starts_with(PLUGIN_PREFIX))
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
                "{plugin} did not finish the crash probe in {:.0} s (stuck during `{stage}`{printed}): \
                 it hangs, or is far too slow for real time",
                limit.as_secs_f64()
            ),
            fix: format!("{}; or allow more time with {TIMEOUT_ENV}=SECONDS", (subject.fix)("hang")),
        });
    };
    if let Some(signal) = status.signal() {
        return Err(Error::Invalid {
            message: format!(
                "{plugin} crashed the probe process with {} during `{stage}`{printed}; fxmatch \
                 refuses to load it, as it would take the whole process down",
                signal_name(signal)
            ),
            fix: (subject.fix)("crash"),
        });
    }
    if !status.success() {
        // The child's own error, a `ProbeFailure` line on stdout; else what it printed.
        let failure = stdout.lines().rev().find_map(|l| serde_json::from_str::<ProbeFailure>(l).ok());
        if let (Some(f), true) = (&failure, subject.pass_errors_through) {
            return Err(Error::from(f));
        }
        let (why, fix) = match failure {
            Some(f) => (format!(": {}", f.message), f.fix),
            None => (printed, (subject.fix)("failure")),
        };
        return Err(Error::Invalid {
            message: format!("{plugin} failed the crash probe ({status}) during `{stage}`{why}"),
            fix,
        });
    }
    tracing::info!(plugin = name, seconds, summary = stdout.trim(), "{format} plugin passed the crash probe");
    Ok(stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named() {
        assert!(signal_name(libc::SIGSEGV).starts_with("SIGSEGV (segmentation fault"));
        assert!(signal_name(libc::SIGABRT).contains("C++ exception"));
        assert!(signal_name(libc::SIGFPE).starts_with("SIGFPE"));
        assert_eq!(signal_name(1000), "signal 1000");
    }
}

/// One pass of a probe: `effect` set to `values` (snapped), then the first `len` frames of the
/// noise `input` processed in `block`-frame calls. Shared by the LV2 and VST3 probes.
pub(crate) fn exercise(
    effect: &mut dyn crate::effect::Effect,
    values: &[f32],
    input: (&[f32], &[f32]),
    len: usize,
    block: usize,
) {
    for (i, &v) in values.iter().enumerate() {
        effect.set_param(i, v);
    }
    effect.snap();
    let (mut l, mut r) = (input.0[..len].to_vec(), input.1[..len].to_vec());
    for (bl, br) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        effect.process(bl, br);
    }
}
