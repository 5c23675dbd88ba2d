//! The crash probe of LV2 plugins (crash isolation: see [`crate::probe`], which runs it in a
//! child process and judges the outcome).
//!
//! - [`run_probe`] is the probe itself, what the hidden `fxmatch plugins probe URI [--rate R]
//!   [--block B]` runs: it builds the plugin through the normal [`Lv2Effect`] path, prepares
//!   (instantiates) it, runs 1 s of stereo noise through it in blocks at the default settings,
//!   then with every continuous control at its minimum and at its maximum (all together for
//!   1 s, then each alone for 0.1 s), resets and re-instantiates it, and frees it. It prints a
//!   one-line JSON summary and exits 0; on an error it prints a one-line [`ProbeFailure`] and
//!   exits 1.
//! - [`probe_in_child`] runs that subcommand in a child process of the fxmatch binary with a
//!   timeout ([`PROBE_TIMEOUT`], or `FXMATCH_PROBE_TIMEOUT` seconds) and turns a death by signal,
//!   a timeout or a failure into an error that names the plugin, what happened and at which
//!   stage, and the fix (the plugin's Debian package when known). Results are cached per URI for
//!   the life of the process, so the daemon's reconnects and the matcher's workers do not probe
//!   again.
//! - [`crate::chain::probe_chain`] probes every LV2 (and VST3) effect of a chain; `fxmatch
//!   render`, `fxmatch match`, `fxmatch eval transfer|match` and `fxmatch daemon` call it right
//!   after loading the chain file, before anything instantiates a plugin, and never on the audio
//!   thread.
//!
//! `FXMATCH_NO_PROBE=1` skips it; without a known fxmatch binary (a library user's program, the
//! unit tests) it is skipped with a warning ([`crate::probe`] says how the binary is found).

use std::time::Instant;

use serde::Serialize;

use super::plugin::Lv2Effect;
use super::world::{package_hint, Layout};
use crate::effect::{Effect, Mapping};
use crate::error::{Error, Result};
pub use crate::probe::{
    probe_binary, set_probe_binary, signal_name, ProbeFailure, BIN_ENV, DEFAULT_BLOCK, DEFAULT_RATE,
    NO_PROBE_ENV, PROBE_TIMEOUT, STAGE_PREFIX, TIMEOUT_ENV,
};

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
            crate::probe::exercise(effect, values, (&left, &right), len, block);
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

/// Run the probe of `uri` in a child process of the fxmatch binary ([`crate::probe`]).
/// `Ok` when it passed, was passed before in this process, is switched off
/// (`FXMATCH_NO_PROBE=1`) or no fxmatch binary is known (a warning is logged); otherwise why
/// the plugin is refused: the signal that killed the child, a timeout, or the child's error.
pub fn probe_in_child(uri: &str, rate: u32, block: usize) -> Result<()> {
    let fix = |what: &str| crash_fix(uri, what);
    let subject = crate::probe::Subject {
        format: "LV2",
        name: uri,
        args: vec![uri.to_string(), "--rate".into(), rate.to_string(), "--block".into(), block.to_string()],
        fix: &fix,
        pass_errors_through: false,
    };
    crate::probe::probe_cached(&subject, &format!("lv2 {uri}")).map(|_| ())
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
}
