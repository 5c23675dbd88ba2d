//! The crash probe of VST3 plugins: each plugin a chain names is first loaded, instantiated
//! and run in a child process ([`crate::probe`] runs it and judges the outcome), so that one
//! that crashes, aborts (an uncaught C++ exception ends in `abort()`) or hangs while loading,
//! instantiating, setting up, activating or processing is refused with a clear error instead of
//! taking fxmatch down.
//!
//! - [`run_probe`] is the probe itself, what the hidden `fxmatch plugins probe --vst3 NAME|PATH
//!   [--rate R] [--block B]` runs: find and load the module, describe the plugin (an instance at
//!   48 kHz, as every chain file load does), create the instances fxmatch runs at `rate` and
//!   `block` (set up, activated), process 1 s of stereo noise at the defaults and 0.25 s with
//!   every continuous parameter at its minimum and at its maximum, reset, re-instantiate, free.
//!   A plugin that answers every process call with an error code is refused; some failed calls
//!   (their blocks pass through dry) and non-finite output (replaced by silence) are counted in
//!   the summary, and the parent logs a warning.
//! - [`probe_in_child`] runs it in a child process, once per plugin, rate and block size for the
//!   life of the process. [`plugin_desc`](super::plugin_desc) calls it before a chain file's
//!   VST3 plugin is first loaded in this process, and [`crate::chain::probe_chain`] at the rate
//!   and block size a command will run the chain at.
//!
//! A plugin's own clean refusal (a bus arrangement, a sample rate, an error code from
//! `initialize` or `setActive`) reaches the parent as the same error a load in this process
//! would give.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::instance::result_name;
use super::plugin::{desc_of, Layout};
use super::{module, Vst3Effect};
use crate::effect::{Effect, Mapping};
use crate::error::{Error, Result};
use crate::probe::{probe_cached, Subject};

/// What a successful probe did (printed as one line of JSON by `fxmatch plugins probe --vst3`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// Always true (a failed probe prints an error instead).
    pub ok: bool,
    /// The plugin's name (its class in the module's factory).
    pub plugin: String,
    /// Its bundle.
    pub bundle: String,
    /// How it ran.
    pub layout: Layout,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Frames per block.
    pub block: usize,
    /// Frames processed in all (per channel).
    pub frames: usize,
    /// Process calls made (all instances).
    pub process_calls: u64,
    /// Process calls the plugin answered with an error code (the block passed through dry).
    pub process_errors: u64,
    /// Non-finite output samples (replaced by silence).
    pub nonfinite_samples: u64,
    /// Wall-clock seconds the probe took, loading included.
    pub seconds: f64,
}

/// The fix for a plugin a chain names as `reference` that failed with a `what`.
fn crash_fix(reference: &str, what: &str) -> String {
    format!(
        "remove the effect with `plugin = \"{reference}\"` from the chain file (or use another plugin), \
         or update the plugin, and report the {what} to its authors; `fxmatch plugins probe --vst3 \
         {reference}` reproduces it"
    )
}

fn refused(message: String, reference: &str) -> Error {
    Error::invalid(
        message,
        format!(
            "remove the effect with `plugin = \"{reference}\"` from the chain file (or use another plugin), \
             or update the plugin"
        ),
    )
}

/// Run VST3 plugin `reference` (a name or bundle path) in this process at `rate` Hz for blocks
/// of `block` frames (see the module docs). `stage` is told what is about to happen, and
/// `located` the plugin's bundle once it is found, so that a crash can be pinned down. A plugin
/// that crashes takes this process with it: call this in a child process ([`probe_in_child`])
/// unless that is the point.
pub fn run_probe(
    reference: &str,
    rate: u32,
    block: usize,
    stage: &mut dyn FnMut(&str),
    located: &mut dyn FnMut(&str),
) -> Result<ProbeSummary> {
    let start = Instant::now();
    let block = block.max(1);
    let vst3_error = |e: super::Vst3Error| Error::invalid(e.message, e.fix);
    stage("find and load the module");
    let (module, class) = module::find(reference).map_err(vst3_error)?;
    let bundle = module.bundle.display().to_string();
    located(&bundle);
    stage("describe (instantiate at 48000 Hz, read the parameters)");
    let desc = desc_of(&module, &class).map_err(vst3_error)?;
    let name = format!("VST3 plugin `{}` ({bundle})", class.name);
    stage(&format!("instantiate at {rate} Hz, blocks up to {block} frames (set up, activate)"));
    let mut effect = Vst3Effect::from_desc(desc.clone());
    effect.prepare(rate as f32, block);
    if let Some(e) = effect.prepare_error() {
        return Err(refused(e.to_string(), reference));
    }
    let specs = effect.params().to_vec();
    let defaults: Vec<f32> = specs.iter().map(|s| s.default).collect();
    let second = rate as usize;
    let (left, right) =
        (crate::audio::white_noise(second, 0.5, 1), crate::audio::white_noise(second, 0.5, 2));
    let mut frames = 0;
    let mut pass =
        |effect: &mut Vst3Effect, stage: &mut dyn FnMut(&str), label: &str, values: &[f32], len| {
            stage(label);
            crate::probe::exercise(effect, values, (&left, &right), len, block);
            frames += len;
        };
    pass(&mut effect, stage, "process at the defaults", &defaults, second);
    for (label, min) in [("minimum", true), ("maximum", false)] {
        let values: Vec<f32> = specs
            .iter()
            .zip(&defaults)
            .map(|(s, &d)| match (s.mapping, min) {
                (Mapping::Discrete, _) => d,
                (_, true) => s.min,
                (_, false) => s.max,
            })
            .collect();
        pass(
            &mut effect,
            stage,
            &format!("process with every continuous parameter at its {label}"),
            &values,
            second / 4,
        );
    }
    let (calls, errors) = (effect.process_calls(), effect.process_errors());
    if calls > 0 && errors == calls {
        return Err(refused(
            format!(
                "{name} answered every process call with an error code ({errors} of {calls}, the last \
                 {}): it processes no audio",
                result_name(effect.last_process_error())
            ),
            reference,
        ));
    }
    let nonfinite_samples = effect.nonfinite_samples();
    stage("reset (deactivate, activate)");
    effect.reset();
    stage("re-instantiate");
    effect.reinitialize();
    if let Some(e) = effect.prepare_error() {
        return Err(refused(format!("{e} (on its second instantiation)"), reference));
    }
    stage("free the instances");
    drop(effect);
    Ok(ProbeSummary {
        ok: true,
        plugin: class.name.clone(),
        bundle,
        layout: desc.layout,
        sample_rate: rate,
        block,
        frames,
        process_calls: calls,
        process_errors: errors,
        nonfinite_samples,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Run the probe of VST3 plugin `reference` (a name or bundle path) in a child process of the
/// fxmatch binary ([`crate::probe`]), once per plugin, rate and block size. `Ok` when it passed
/// (a warning is logged for failed process calls and non-finite output), passed before, is
/// switched off (`FXMATCH_NO_PROBE=1`) or no fxmatch binary is known; otherwise why the plugin
/// is refused: the signal that killed the child, a timeout, or the plugin's own error.
pub fn probe_in_child(reference: &str, rate: u32, block: usize) -> Result<()> {
    let fix = |what: &str| crash_fix(reference, what);
    let subject = Subject {
        format: "VST3",
        name: reference,
        args: vec![
            "--vst3".into(),
            reference.to_string(),
            "--rate".into(),
            rate.to_string(),
            "--block".into(),
            block.to_string(),
        ],
        fix: &fix,
        pass_errors_through: true,
    };
    let Some(line) = probe_cached(&subject, &format!("vst3 {reference} {rate} {block}"))? else {
        return Ok(());
    };
    if let Ok(s) = serde_json::from_str::<ProbeSummary>(&line) {
        if s.process_errors > 0 {
            tracing::warn!(
                "VST3 plugin `{}` ({}) answered {} of {} process calls of the crash probe with an error \
                 code; those blocks pass through dry",
                s.plugin,
                s.bundle,
                s.process_errors,
                s.process_calls
            );
        }
        if s.nonfinite_samples > 0 {
            tracing::warn!(
                "VST3 plugin `{}` ({}) wrote {} non-finite samples (NaN or infinite) in the crash probe; \
                 they are replaced by silence",
                s.plugin,
                s.bundle,
                s.nonfinite_samples
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_and_fixes_name_what_they_mean() {
        assert_eq!(result_name(vst3::Steinberg::kInternalError), "4 (kInternalError)");
        assert_eq!(result_name(vst3::Steinberg::kResultFalse), "1 (kResultFalse)");
        assert_eq!(result_name(77), "77");
        let fix = crash_fix("/x/Y.vst3", "crash");
        assert!(fix.contains("`plugin = \"/x/Y.vst3\"`") && fix.contains("probe --vst3 /x/Y.vst3"), "{fix}");
    }
}
