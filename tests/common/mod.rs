//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fxmatch::audio::{write_wav, AudioBuffer, SampleFormat};

pub mod daemon;

/// Path of the `fxmatch` binary built for this test run.
pub fn fxmatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fxmatch"))
}

/// Run `fxmatch` with `args`.
pub fn run(args: &[&str]) -> Output {
    fxmatch().args(args).output().expect("fxmatch runs")
}

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled chain file.
pub fn chain(name: &str) -> String {
    root().join("config/chains").join(name).to_string_lossy().into_owned()
}

/// Deterministic test signal: a decaying plucked chord plus noise bursts, stereo.
pub fn test_signal(sample_rate: u32, seconds: f32) -> AudioBuffer {
    let n = (sample_rate as f32 * seconds) as usize;
    let mut l = vec![0.0f32; n];
    let mut r = vec![0.0f32; n];
    let mut s: u32 = 12345;
    for i in 0..n {
        let t = i as f32 / sample_rate as f32;
        let note_t = t % 0.5;
        let env = (-note_t * 6.0).exp();
        let f = [196.0, 246.9, 293.7][(t / 0.5) as usize % 3];
        let tone = (0..6)
            .map(|h| ((h + 1) as f32 * f * 2.0 * std::f32::consts::PI * t).sin() / (h + 1) as f32)
            .sum::<f32>();
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let noise = (s as f32 / u32::MAX as f32 - 0.5) * (-note_t * 40.0).exp();
        l[i] = 0.25 * env * tone + 0.1 * noise;
        r[i] = 0.22 * env * tone + 0.08 * noise;
    }
    AudioBuffer::stereo(sample_rate, l, r)
}

/// Write `audio` to `dir/name` as 24-bit WAV and return the path.
pub fn write_test_wav(dir: &Path, name: &str, audio: &AudioBuffer) -> PathBuf {
    let p = dir.join(name);
    write_wav(&p, audio, SampleFormat::I24).unwrap();
    p
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Files in `dir` (names), to check that nothing half-written was left behind.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A real `jackd -d dummy -r 48000 -p 128` server under its own name (no sound card needed),
/// stopped with SIGTERM on drop so that it removes itself from JACK's shared-memory registry
/// (a SIGKILLed server stays registered, and JACK refuses new servers after a few of those).
pub struct JackServer {
    child: std::process::Child,
    /// The server name: give it to clients as `JACK_DEFAULT_SERVER`.
    pub name: String,
    log: PathBuf,
}

impl JackServer {
    /// Start the server and wait until `jack_lsp` reaches it; panics with jackd's own output
    /// (and the fix) when it does not come up in 20 s.
    ///
    /// At the first start in a test binary, when no `jackd` runs on the machine, JACK's files in
    /// `/dev/shm` can only be left over from killed servers; they can make a new server refuse
    /// to start or hang, so they are removed. Only then: later in the process our own JACK
    /// clients still map those files (a client reconnecting to a restarted server needs them).
    /// Starts are serialised within a test binary so that this never races a server that another
    /// test is bringing up.
    pub fn start(name: &str) -> Self {
        static STARTING: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
        let mut cleaned = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let removed = if *cleaned { Vec::new() } else { remove_stale_jack_files() };
        *cleaned = true;
        let log = std::env::temp_dir().join(format!("{name}.jackd.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new("jackd")
            .args(["-n", name, "-d", "dummy", "-r", "48000", "-p", "128"])
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect("jackd not found: install jackd2 (bash scripts/setup.sh does)");
        let mut server = Self { child, name: name.to_string(), log };
        let start = std::time::Instant::now();
        loop {
            let up = Command::new("jack_lsp")
                .env("JACK_DEFAULT_SERVER", name)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return server;
            }
            let exited = server.child.try_wait().ok().flatten().is_some();
            if exited || start.elapsed() > std::time::Duration::from_secs(20) {
                let out = std::fs::read_to_string(&server.log).unwrap_or_default();
                let others = jackd_pids();
                panic!(
                    "jackd -n {name} did not come up (exited: {exited}):\n{out}\n\
                     stale JACK files removed first: {removed:?}; other jackd processes: {others:?}\n\
                     fix: stop the other JACK servers (or `rm -f /dev/shm/jack*` when none runs) and rerun"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Xruns the server has logged so far (jackd's dummy driver prints one line per xrun).
    pub fn logged_xruns(&self) -> usize {
        std::fs::read_to_string(&self.log).unwrap_or_default().matches("xrun").count()
    }
}

/// PIDs of the `jackd` processes running on this machine (from `/proc`, so no procps needed).
fn jackd_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == "jackd").then_some(pid)
    })
    .collect()
}

/// With no `jackd` running, remove JACK's registry, semaphores and server folders from `/dev/shm`
/// (all left by killed servers); returns what was removed.
fn remove_stale_jack_files() -> Vec<String> {
    if !jackd_pids().is_empty() {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/dev/shm") else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("jack") {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        if gone.is_ok() {
            removed.push(name);
        }
    }
    removed
}

impl Drop for JackServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a PID we spawned and still own (not yet waited for).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Test signals defined by formula, the same as `golden_signal` in training/frontend.py
/// (float64, then rounded to f32), so golden files need not store audio.
pub fn golden_signal(name: &str) -> (Vec<f32>, Vec<f32>) {
    use std::f64::consts::TAU;
    const SR: usize = 48_000;
    let t = |i: usize| i as f64 / SR as f64;
    match name {
        "tones_1s" => (0..SR)
            .map(|i| {
                let t = t(i);
                let l = 0.5 * (TAU * 440.0 * t).sin() + 0.1 * (TAU * 3000.0 * t).sin();
                let r = 0.3 * (TAU * 440.0 * t + 1.0).sin() + 0.05 * (TAU * 12000.0 * t).sin();
                (l as f32, r as f32)
            })
            .unzip(),
        "chirp_3s" => (0..3 * SR)
            .map(|i| {
                let t = t(i);
                let l = 0.4 * (TAU * (50.0 * t + 1000.0 * t * t)).sin();
                ((l) as f32, (l * (-t).exp()) as f32)
            })
            .unzip(),
        "short_10ms" => (0..480)
            .map(|i| {
                let v = (0.8 * (TAU * 1000.0 * t(i)).sin()) as f32;
                (v, v)
            })
            .unzip(),
        other => panic!("unknown golden signal {other}"),
    }
}
