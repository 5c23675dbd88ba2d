//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fxmatch::audio::{write_wav, AudioBuffer, SampleFormat};

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
