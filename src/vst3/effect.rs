//! [`Vst3Effect`]: a VST3 plugin as an [`Effect`] of a chain.

use std::sync::Arc;

use super::instance::Instance;
use super::plugin::{plugin_desc, Layout, PluginDesc};
use super::Vst3Error;
use crate::effect::{Effect, Mapping, ParamSpec};

/// Frames per control step while a parameter ramps (as for LV2 plugins).
pub const RAMP_CHUNK: usize = 32;
/// How long a parameter ramp lasts.
pub const RAMP_SECONDS: f32 = 0.020;

/// Magic prefix of saved state.
const STATE_MAGIC: &[u8; 4] = b"FXV3";

struct Host {
    inst: Instance,
    /// The value (in spec units) last queued for each parameter; NaN = never.
    sent: Vec<f32>,
}

struct Runtime {
    hosts: Vec<Host>,
    sample_rate: f32,
    max_block: usize,
    ramp_steps: u32,
}

/// A VST3 plugin run as an [`Effect`].
///
/// - **Audio layout**: stereo main buses, or mono ones run *dual-mono* (two instances with the
///   same parameter values, one per channel). Side-chain input buses are fed silence.
/// - **Parameters** are the controller's parameters in normalised units (see
///   [`param_spec`](super::plugin::param_spec)), by symbol (from the title), exact title or
///   VST3 id. Changes reach the plugin as points in the process call's `IParameterChanges`
///   queues. Continuous parameters ramp linearly over 20 ms in 32-frame steps: while a ramp
///   runs, the block is cut into 32-frame process calls at fixed positions of the stream, each
///   with one point at offset 0, so plugins that read one value per call and plugins that
///   interpolate between points hear the same steps, and the output does not depend on the
///   host's block size. Discrete (stepped) parameters jump and are marked to crossfade live.
/// - **Instances** are created in [`Effect::prepare`] (the sample rate is known only then); a
///   failure leaves the effect passing audio through and is reported by
///   [`Effect::prepare_error`]. [`Effect::reinitialize`] creates fresh instances.
/// - **Errors** from `process` (a result other than `kResultOk`) leave that block dry and are
///   counted ([`Effect::process_errors`]); non-finite output is replaced by 0 and counted.
pub struct Vst3Effect {
    desc: Arc<PluginDesc>,
    target: Vec<f32>,
    current: Vec<f32>,
    step: Vec<f32>,
    steps_left: Vec<u32>,
    ramping: bool,
    frames_to_step: usize,
    tail: Option<f32>,
    runtime: Option<Runtime>,
    prepare_error: Option<String>,
    nonfinite: u64,
    process_errors: u64,
    process_calls: u64,
    last_error: vst3::Steinberg::tresult,
}

impl Vst3Effect {
    /// The plugin named by `reference` (a bundle path, or a name found in the VST3 search
    /// paths), ready for [`Effect::prepare`]. Errors name the plugin and the reason.
    pub fn new(reference: &str) -> Result<Self, Vst3Error> {
        Ok(Self::from_desc(plugin_desc(reference)?))
    }

    /// An effect for an already described plugin.
    pub fn from_desc(desc: Arc<PluginDesc>) -> Self {
        let target: Vec<f32> = desc.specs.iter().map(|s| s.default).collect();
        let n = target.len();
        Self {
            desc,
            current: target.clone(),
            target,
            step: vec![0.0; n],
            steps_left: vec![0; n],
            ramping: false,
            frames_to_step: 0,
            tail: None,
            runtime: None,
            prepare_error: None,
            nonfinite: 0,
            process_errors: 0,
            process_calls: 0,
            last_error: vst3::Steinberg::kResultOk,
        }
    }

    /// The plugin's description.
    pub fn desc(&self) -> &PluginDesc {
        &self.desc
    }

    /// Override [`Effect::tail_seconds`] (chain files: `tail = 2.0`).
    pub fn set_tail(&mut self, seconds: f32) {
        self.tail = Some(seconds.max(0.0));
    }

    /// Number of plugin instances (1 stereo, 2 dual-mono; 0 before a successful prepare).
    pub fn instances(&self) -> usize {
        self.runtime.as_ref().map_or(0, |r| r.hosts.len())
    }

    /// Process calls made to the plugin's instances since [`Effect::prepare`] (errors included;
    /// see [`Effect::process_errors`]).
    pub fn process_calls(&self) -> u64 {
        self.process_calls
    }

    /// The error code of the last process call that failed (`kResultOk` while none has).
    pub fn last_process_error(&self) -> vst3::Steinberg::tresult {
        self.last_error
    }

    /// The value of parameter `index` (spec units) for a plain value of the plugin
    /// (`plainParamToNormalized`; discrete parameters: the nearest step). Needs a prepared
    /// effect; off the audio thread.
    pub fn plain_to_param(&self, index: usize, plain: f64) -> Option<f32> {
        let p = self.desc.params.get(index)?;
        let n = self.runtime.as_ref()?.hosts.first()?.inst.plain_to_normalized(p.id, plain)?;
        let spec = &self.desc.specs[index];
        Some(from_normalized(spec, n))
    }

    /// The plugin's state (component and, for split plugins, controller), as bytes. Needs a
    /// prepared effect; off the audio thread.
    pub fn save_state(&self) -> Result<Vec<u8>, Vst3Error> {
        let host = self.runtime.as_ref().and_then(|r| r.hosts.first()).ok_or_else(|| self.not_prepared())?;
        let (component, controller) = host.inst.save_state().map_err(|e| self.error(e))?;
        let mut out = STATE_MAGIC.to_vec();
        out.extend_from_slice(&(component.len() as u64).to_le_bytes());
        out.extend_from_slice(&component);
        out.extend_from_slice(&controller);
        Ok(out)
    }

    /// Restore state saved by [`Vst3Effect::save_state`] into every instance and take the
    /// parameter values from it. Needs a prepared effect; off the audio thread.
    pub fn load_state(&mut self, state: &[u8]) -> Result<(), Vst3Error> {
        let bad = || {
            Vst3Error::new(
                format!("the saved state for VST3 plugin `{}` is damaged", self.desc.name()),
                "save the state again",
            )
        };
        if state.len() < 12 || &state[..4] != STATE_MAGIC {
            return Err(bad());
        }
        let len = u64::from_le_bytes(state[4..12].try_into().map_err(|_| bad())?) as usize;
        let component = state.get(12..12 + len).ok_or_else(bad)?;
        let controller = &state[12 + len..];
        let Some(rt) = &mut self.runtime else { return Err(self.not_prepared()) };
        for h in &mut rt.hosts {
            h.inst
                .load_state(component, controller)
                .map_err(|e| Vst3Error::new(e, "check the saved state"))?;
        }
        // The controller now holds the restored values: they become the targets.
        for (i, p) in self.desc.params.iter().enumerate() {
            if let Some(n) = rt.hosts[0].inst.param_normalized(p.id) {
                self.target[i] = from_normalized(&self.desc.specs[i], n);
            }
        }
        for h in &mut rt.hosts {
            h.sent.copy_from_slice(&self.target);
        }
        self.current.copy_from_slice(&self.target);
        self.steps_left.iter_mut().for_each(|s| *s = 0);
        self.ramping = false;
        Ok(())
    }

    fn error(&self, why: String) -> Vst3Error {
        Vst3Error::new(format!("VST3 plugin `{}`: {why}", self.desc.name()), "see the plugin's documentation")
    }

    fn not_prepared(&self) -> Vst3Error {
        Vst3Error::new(
            format!(
                "VST3 plugin `{}` is not running (not prepared, or its preparation failed)",
                self.desc.name()
            ),
            "prepare the effect first",
        )
    }

    fn make_hosts(&self, sample_rate: f32, max_block: usize) -> Result<Vec<Host>, String> {
        let n = self.desc.specs.len();
        (0..self.desc.layout.instances())
            .map(|_| {
                Instance::new(
                    &self.desc.module,
                    &self.desc.class,
                    sample_rate,
                    max_block,
                    self.desc.layout.arrangement(),
                )
                .map(|inst| Host { inst, sent: vec![f32::NAN; n] })
                .map_err(|e| {
                    format!("VST3 plugin `{}` ({}): {e}", self.desc.name(), self.desc.module.bundle.display())
                })
            })
            .collect()
    }

    fn continuous(&self, i: usize) -> bool {
        let s = &self.desc.specs[i];
        s.mapping != Mapping::Discrete && !s.needs_crossfade
    }

    fn advance_ramps(&mut self) {
        let mut any = false;
        for i in 0..self.current.len() {
            if self.steps_left[i] > 0 {
                self.steps_left[i] -= 1;
                self.current[i] =
                    if self.steps_left[i] == 0 { self.target[i] } else { self.current[i] + self.step[i] };
                any |= self.steps_left[i] > 0;
            }
        }
        self.ramping = any;
    }

    fn run_chunk(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let Some(rt) = &mut self.runtime else { return };
        let stereo = self.desc.layout == Layout::Stereo;
        for (k, h) in rt.hosts.iter_mut().enumerate() {
            for (i, p) in self.desc.params.iter().enumerate() {
                let v = self.current[i];
                if h.sent[i].to_bits() != v.to_bits()
                    && h.inst.queue_param(p.id, 0, to_normalized(&self.desc.specs[i], v))
                {
                    h.sent[i] = v;
                }
            }
            if stereo {
                h.inst.input(0)[..n].copy_from_slice(left);
                h.inst.input(1)[..n].copy_from_slice(right);
            } else {
                h.inst.input(0)[..n].copy_from_slice(if k == 0 { left } else { right });
            }
            self.process_calls += 1;
            let r = h.inst.process(n);
            if r != vst3::Steinberg::kResultOk {
                self.process_errors += 1;
                self.last_error = r;
                continue;
            }
            if stereo {
                self.nonfinite += copy_sanitized(&h.inst.output(0)[..n], left);
                self.nonfinite += copy_sanitized(&h.inst.output(1)[..n], right);
            } else {
                let out = if k == 0 { &mut *left } else { &mut *right };
                self.nonfinite += copy_sanitized(&h.inst.output(0)[..n], out);
            }
        }
    }
}

/// Spec units (normalised, or a step) to the plugin's normalised value.
fn to_normalized(spec: &ParamSpec, v: f32) -> f64 {
    match spec.mapping {
        Mapping::Discrete => (v.round() / spec.max) as f64,
        _ => (v as f64).clamp(0.0, 1.0),
    }
}

/// The plugin's normalised value to spec units.
fn from_normalized(spec: &ParamSpec, n: f64) -> f32 {
    let n = n.clamp(0.0, 1.0) as f32;
    match spec.mapping {
        Mapping::Discrete => (n * spec.max).round(),
        _ => n,
    }
}

/// Copy `from` into `to`, replacing NaN and infinities by 0; returns how many were replaced.
fn copy_sanitized(from: &[f32], to: &mut [f32]) -> u64 {
    let mut bad = 0;
    for (o, &x) in to.iter_mut().zip(from) {
        if x.is_finite() {
            *o = x;
        } else {
            *o = 0.0;
            bad += 1;
        }
    }
    bad
}

impl Effect for Vst3Effect {
    crate::effect::effect_identity!(super::VST3_KIND, desc.specs);

    fn prepare(&mut self, sample_rate: f32, max_block: usize) {
        self.runtime = None;
        self.prepare_error = None;
        (self.nonfinite, self.process_errors, self.process_calls) = (0, 0, 0);
        self.last_error = vst3::Steinberg::kResultOk;
        let max_block = max_block.max(1);
        let result = if !(sample_rate.is_finite() && sample_rate > 0.0) {
            Err(format!("VST3 plugin `{}`: invalid sample rate {sample_rate}", self.desc.name()))
        } else {
            self.make_hosts(sample_rate, max_block)
        };
        match result {
            Ok(hosts) => {
                let ramp_steps = ((RAMP_SECONDS * sample_rate / RAMP_CHUNK as f32).round() as u32).max(1);
                self.runtime = Some(Runtime { hosts, sample_rate, max_block, ramp_steps });
            }
            Err(e) => {
                tracing::error!("{e}");
                self.prepare_error = Some(e);
            }
        }
        self.frames_to_step = 0;
        self.snap();
    }

    fn reset(&mut self) {
        if let Some(rt) = &mut self.runtime {
            for h in &mut rt.hosts {
                h.inst.reactivate();
            }
        }
        self.frames_to_step = 0;
        self.snap();
    }

    fn reinitialize(&mut self) {
        if let Some((rate, block)) = self.runtime.as_ref().map(|r| (r.sample_rate, r.max_block)) {
            // The old instances go first: some plugins keep per-process state per instance.
            self.runtime = None;
            match self.make_hosts(rate, block) {
                Ok(hosts) => {
                    let ramp_steps = ((RAMP_SECONDS * rate / RAMP_CHUNK as f32).round() as u32).max(1);
                    self.runtime = Some(Runtime { hosts, sample_rate: rate, max_block: block, ramp_steps });
                }
                Err(e) => {
                    tracing::error!("{e}");
                    self.prepare_error = Some(e);
                }
            }
        }
        self.frames_to_step = 0;
        self.snap();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        if index >= self.desc.specs.len() {
            return;
        }
        self.target[index] = value;
        match &self.runtime {
            Some(rt) if self.continuous(index) && self.current[index] != value => {
                self.steps_left[index] = rt.ramp_steps;
                self.step[index] = (value - self.current[index]) / rt.ramp_steps as f32;
                self.ramping = true;
            }
            _ => {
                self.current[index] = value;
                self.steps_left[index] = 0;
            }
        }
    }

    fn param(&self, index: usize) -> f32 {
        self.target.get(index).copied().unwrap_or(0.0)
    }

    fn snap(&mut self) {
        self.current.copy_from_slice(&self.target);
        self.steps_left.iter_mut().for_each(|s| *s = 0);
        self.ramping = false;
    }

    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let Some(max_block) = self.runtime.as_ref().map(|r| r.max_block) else { return };
        let n = left.len().min(right.len());
        let mut pos = 0;
        while pos < n {
            let mut len = (n - pos).min(max_block);
            if self.ramping {
                if self.frames_to_step == 0 {
                    self.advance_ramps();
                    self.frames_to_step = RAMP_CHUNK;
                }
                len = len.min(self.frames_to_step);
                self.frames_to_step -= len;
            }
            self.run_chunk(&mut left[pos..pos + len], &mut right[pos..pos + len]);
            pos += len;
        }
    }

    fn tail_seconds(&self) -> f32 {
        if let Some(t) = self.tail {
            return t;
        }
        let sub = self.desc.class.sub_categories.to_ascii_lowercase();
        if sub.contains("delay") || sub.contains("reverb") {
            2.0
        } else {
            0.0
        }
    }

    fn prepare_error(&self) -> Option<&str> {
        self.prepare_error.as_deref()
    }

    fn nonfinite_samples(&self) -> u64 {
        self.nonfinite
    }

    fn process_errors(&self) -> u64 {
        self.process_errors
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dsp::testutil::{self, noise, process_in_blocks};

    /// The installed plugin, or a failure that names the package to install.
    pub(crate) fn effect(name: &str) -> Vst3Effect {
        Vst3Effect::new(name)
            .unwrap_or_else(|e| panic!("{e} (scripts/setup.sh installs zam-plugins, with its VST3 bundles)"))
    }

    fn index(e: &Vst3Effect, name: &str) -> usize {
        e.desc().find_param(name).unwrap_or_else(|| {
            let known: Vec<&str> = e.params().iter().map(|p| p.id.as_str()).collect();
            panic!("{} has no parameter `{name}` ({known:?})", e.desc().name())
        })
    }

    /// Settings in the plugins' plain units, by LV2 symbol (ST-ITO's Zam chain, away from the
    /// defaults).
    /// (VST3 name, LV2 URI, plain settings by LV2 symbol)
    type Case = (&'static str, &'static str, &'static [(&'static str, f64)]);

    pub(crate) const ZAM_SETTINGS: [Case; 3] = [
        (
            "ZamEQ2",
            "urn:zamaudio:ZamEQ2",
            &[
                ("boostl", -3.0),
                ("boost1", 6.0),
                ("f1", 800.0),
                ("bw1", 1.2),
                ("boost2", -5.0),
                ("f2", 5000.0),
                ("boosth", 4.0),
            ],
        ),
        (
            "ZamCompX2",
            "urn:zamaudio:ZamCompX2",
            &[("thr", -25.0), ("rat", 4.0), ("att", 5.0), ("rel", 120.0), ("mak", 6.0)],
        ),
        (
            "ZamDelay",
            "urn:zamaudio:ZamDelay",
            &[("time", 250.0), ("feedb", 0.4), ("drywet", 0.4), ("sync", 0.0)],
        ),
    ];

    /// The same plugin as LV2 and as VST3 (zam-plugins builds both from one DSP source), at the
    /// same plain settings, renders the same audio: the VST3 side gets its normalised values
    /// from the plugin's own `plainParamToNormalized`.
    #[test]
    fn lv2_and_vst3_builds_of_the_zam_plugins_render_the_same_audio() {
        let rate = 48_000.0;
        let x = noise(48_000, 0.3, 21);
        let y = noise(48_000, 0.3, 22);
        for (name, uri, settings) in ZAM_SETTINGS {
            let mut lv2 = crate::lv2::Lv2Effect::new(uri).unwrap_or_else(|e| panic!("{e}"));
            let mut vst = effect(name);
            lv2.prepare(rate, 256);
            vst.prepare(rate, 256);
            assert!(vst.prepare_error().is_none(), "{:?}", vst.prepare_error());
            for &(symbol, plain) in settings {
                let li = lv2.params().iter().position(|p| p.id == symbol).unwrap();
                lv2.set_param(li, plain as f32);
                // LV2 port names are DPF's parameter names, which are the VST3 titles.
                let title = lv2.params()[li].name.clone();
                let vi = index(&vst, &title);
                let v = vst.plain_to_param(vi, plain).unwrap();
                vst.set_param(vi, v);
            }
            lv2.snap();
            vst.snap();
            let (ll, lr) = process_in_blocks(&mut lv2, &x, &y, 256);
            let (vl, vr) = process_in_blocks(&mut vst, &x, &y, 256);
            let max = ll
                .iter()
                .chain(&lr)
                .zip(vl.iter().chain(&vr))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let peak = ll.iter().chain(&lr).fold(0.0f32, |m, v| m.max(v.abs()));
            let dry = ll.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            eprintln!(
                "{name}: LV2 vs VST3 max abs difference {max:e} (output peak {peak}, change from dry {dry})"
            );
            assert!(dry > 0.05, "{name}: the settings change the sound (max change {dry})");
            assert!(max < 1e-4, "{name}: LV2 and VST3 differ by up to {max}");
        }
    }

    #[test]
    fn zam_plugins_load_with_their_layouts_and_parameters() {
        let eq = effect("ZamEQ2");
        assert_eq!(eq.desc().layout, Layout::DualMono);
        let comp = effect("/usr/lib/vst3/ZamCompX2.vst3");
        assert_eq!(comp.desc().layout, Layout::Stereo);
        for e in [&eq, &comp] {
            let d = e.desc();
            eprintln!(
                "{}: {:?}, {} side-chain inputs, split {}, sub-categories {}",
                d.name(),
                d.layout,
                d.side_chain_inputs,
                d.split,
                d.class.sub_categories
            );
            for (p, why) in &d.all_params {
                eprintln!(
                    "  {:>3} {:<20} steps {} default {:.3} plain {}..{} {} {:?}",
                    p.id, p.title, p.step_count, p.default_normalized, p.plain_min, p.plain_max, p.units, why
                );
            }
        }
        // By symbol, exact title and VST3 id, all the same parameter.
        let i = index(&comp, "threshold");
        assert_eq!(comp.desc().find_param(&comp.desc().params[i].title), Some(i));
        assert_eq!(comp.desc().find_param(&comp.desc().params[i].id.to_string()), Some(i));
    }

    #[test]
    fn zam_vst3_plugins_are_realtime_safe_and_finite() {
        for name in ["ZamEQ2", "ZamCompX2"] {
            testutil::assert_realtime_safe(&|| Box::new(effect(name)));
        }
    }

    #[test]
    fn parameter_ramps_do_not_depend_on_the_block_size() {
        let e = effect("ZamCompX2");
        let settings = [(index(&e, "threshold"), 0.2), (index(&e, "makeup"), 0.7)];
        testutil::assert_block_size_invariant(&|| Box::new(effect("ZamCompX2")), &settings);
    }

    #[test]
    fn state_saved_from_one_instance_restores_the_sound_in_another() {
        let x = noise(9600, 0.3, 5);
        let mut a = effect("ZamEQ2");
        a.prepare(48_000.0, 512);
        let boost = index(&a, "boost_cut_1");
        let max = a.params()[boost].max;
        a.set_param(boost, 0.9 * max);
        a.snap();
        process_in_blocks(&mut a, &x, &x, 512);
        let state = a.save_state().unwrap();
        a.reinitialize();
        let (want, _) = process_in_blocks(&mut a, &x, &x, 512);
        let mut b = effect("ZamEQ2");
        b.prepare(48_000.0, 512);
        let (defaults, _) = process_in_blocks(&mut b, &x, &x, 512);
        b.reinitialize();
        b.load_state(&state).unwrap();
        assert!((b.param(boost) - 0.9 * max).abs() < 1e-6, "the parameter comes back: {}", b.param(boost));
        let (got, _) = process_in_blocks(&mut b, &x, &x, 512);
        assert_eq!(want, got, "same state, same sound");
        assert_ne!(want, defaults);
        assert!(b.load_state(b"nonsense").unwrap_err().message.contains("ZamEQ2"));
    }

    #[test]
    fn reinitialize_and_reset_start_from_the_same_state() {
        let mut e = effect("ZamDelay");
        e.prepare(48_000.0, 512);
        let x = noise(24_000, 0.5, 3);
        let (first, _) = process_in_blocks(&mut e, &x, &x, 512);
        e.reinitialize();
        let (again, _) = process_in_blocks(&mut e, &x, &x, 512);
        assert_eq!(first, again);
        e.reset();
        let (after_reset, _) = process_in_blocks(&mut e, &x, &x, 512);
        assert_eq!(first, after_reset);
        assert_eq!(e.instances(), e.desc().layout.instances());
    }

    #[test]
    fn a_refused_bus_arrangement_names_the_plugin_and_the_arrangement() {
        // ZamEQ2 has mono buses: asked for stereo only, it refuses, and the error says so.
        let e = crate::vst3::describe_with_layout("ZamEQ2", Layout::Stereo).err().unwrap();
        assert!(
            e.message.contains("ZamEQ2") && e.message.contains("refused the bus arrangement stereo"),
            "{e}"
        );
        assert!(e.message.contains("1 channels") || e.message.contains("mono"), "{e}");
        assert!(crate::vst3::describe_with_layout("ZamEQ2", Layout::DualMono).is_ok());
    }

    #[test]
    fn an_invalid_sample_rate_fails_prepare_with_the_plugin_named() {
        let mut e = effect("ZamEQ2");
        e.prepare(f32::NAN, 256);
        assert!(e.prepare_error().is_some_and(|m| m.contains("ZamEQ2") && m.contains("sample rate")));
        let (mut l, mut r) = (vec![0.25f32; 64], vec![0.5f32; 64]);
        e.process(&mut l, &mut r);
        assert!(
            l.iter().all(|&v| v == 0.25) && r.iter().all(|&v| v == 0.5),
            "a failed effect passes audio through"
        );
    }

    /// The live engine runs the VST3 Zam chain without allocating on the audio thread (this test
    /// binary's allocator aborts on any allocation inside `assert_no_alloc`), through parameter
    /// glides, a crossfaded swap to freshly created instances, a stepped parameter and a bypass;
    /// the output stays finite and every change is heard.
    #[test]
    fn engine_runs_the_vst3_zam_chain_allocation_free_through_glides_and_swaps() {
        use crate::engine::{engine, AudioControl, EngineConfig};
        let spec = crate::chain::ChainSpec::load(format!(
            "{}/config/chains/zam-vst3.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_else(|e| panic!("{e} (scripts/setup.sh installs zam-plugins)"));
        let (mut h, mut p) = engine(&spec, &EngineConfig::default()).unwrap();
        let x = noise(9600, 0.3, 4);
        let run = |p: &mut crate::engine::AudioProcessor| {
            let (mut ol, mut or) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            for ((i, bl), br) in x.chunks(128).zip(ol.chunks_mut(128)).zip(or.chunks_mut(128)) {
                assert_no_alloc::assert_no_alloc(|| p.process(i, i, bl, br));
            }
            assert!(ol.iter().chain(&or).all(|v| v.is_finite()));
            ol
        };
        let n = h.normalized().len();
        let base = run(&mut p);
        h.apply_normalized(&vec![0.9; n]).unwrap();
        let glided = run(&mut p);
        h.apply_normalized_crossfade(&vec![0.2; n]).unwrap();
        let swapped = run(&mut p);
        h.set_param("delay", "invert", 1.0).unwrap();
        let inverted = run(&mut p);
        h.set_bypass(Some("comp"), true).unwrap();
        let bypassed = run(&mut p);
        let differs = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q).abs()).sum::<f32>() > 1.0;
        assert!(differs(&base, &glided) && differs(&glided, &swapped));
        assert!(differs(&swapped, &inverted) && differs(&inverted, &bypassed));
        h.collect_garbage();
    }
}
