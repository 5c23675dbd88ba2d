//! [`Lv2Effect`]: an installed LV2 plugin as an [`Effect`] of a chain.

use std::mem::ManuallyDrop;
use std::sync::Arc;

use livi::event::LV2AtomSequence;
use livi::{PortIndex, PortType};

use super::world::{plugin_info, unknown_uri_fix, with_world, Layout, PluginInfo};
use crate::effect::{Effect, Mapping, ParamSpec, PARAM_RAMP_SECONDS};
use crate::error::Error;

/// Frames per control step while a parameter ramps.
pub const RAMP_CHUNK: usize = 32;
/// Bytes of room in each atom output buffer.
const ATOM_CAPACITY: usize = 8192;

/// One plugin instance with every port connected to a buffer of its own.
struct Host {
    /// Freed under the world lock (see `Drop`).
    instance: ManuallyDrop<livi::Instance>,
    /// Audio input buffers in port order (main and side-chain inputs).
    audio_in: Vec<Vec<f32>>,
    /// Audio output buffers in port order.
    audio_out: Vec<Vec<f32>>,
    /// Positions of the main inputs and outputs in `audio_in`/`audio_out` (one or two).
    main_in: Vec<usize>,
    main_out: Vec<usize>,
    /// Empty sequences for atom inputs; scratch sequences for atom outputs.
    atom_in: Vec<LV2AtomSequence>,
    atom_out: Vec<LV2AtomSequence>,
    /// Silence for CV inputs; scratch for CV outputs.
    cv_in: Vec<Vec<f32>>,
    cv_out: Vec<Vec<f32>>,
}

impl Host {
    fn new(
        plugin: &livi::Plugin,
        info: &PluginInfo,
        features: &Arc<livi::Features>,
        rate: f32,
    ) -> Result<Self, String> {
        // SAFETY: the plugin comes from the installed, lilv-validated world; the sample rate is
        // finite and positive (checked by the caller); every port is connected to a buffer
        // this Host owns before each run (see `run`), and the features outlive the instance
        // (livi keeps an Arc). Native plugin code is trusted as every LV2 host trusts it.
        let instance = unsafe { plugin.instantiate(features.clone(), rate as f64) }
            .map_err(|e| format!("instantiating `{}` at {rate} Hz failed: {e}", info.uri))?;
        let max = features.max_block_length();
        let mut host = Host {
            instance: ManuallyDrop::new(instance),
            audio_in: Vec::new(),
            audio_out: Vec::new(),
            main_in: Vec::new(),
            main_out: Vec::new(),
            atom_in: Vec::new(),
            atom_out: Vec::new(),
            cv_in: Vec::new(),
            cv_out: Vec::new(),
        };
        // livi's port types, in port order: they decide the order of each buffer list.
        for port in plugin.ports() {
            let side_chain = info.ports.iter().any(|p| p.index == port.index.0 && p.side_chain);
            match port.port_type {
                PortType::AudioInput => {
                    if !side_chain {
                        host.main_in.push(host.audio_in.len());
                    }
                    host.audio_in.push(vec![0.0; max]);
                }
                PortType::AudioOutput => {
                    if !side_chain {
                        host.main_out.push(host.audio_out.len());
                    }
                    host.audio_out.push(vec![0.0; max]);
                }
                PortType::AtomSequenceInput => host.atom_in.push(LV2AtomSequence::new(features, 1024)),
                PortType::AtomSequenceOutput => {
                    host.atom_out.push(LV2AtomSequence::new(features, ATOM_CAPACITY))
                }
                PortType::CVInput => host.cv_in.push(vec![0.0; max]),
                PortType::CVOutput => host.cv_out.push(vec![0.0; max]),
                // livi connects control ports to its own values at instantiation.
                PortType::ControlInput | PortType::ControlOutput => {}
            }
        }
        Ok(host)
    }

    /// Run `n` frames from the input buffers into the output buffers. Real-time safe: livi
    /// checks the counts and connects the ports, nothing allocates.
    fn run(&mut self, n: usize) -> bool {
        for seq in &mut self.atom_in {
            seq.clear();
        }
        let ports = livi::EmptyPortConnections::new()
            .with_audio_inputs(self.audio_in.iter().map(|b| &b[..n]))
            .with_audio_outputs(self.audio_out.iter_mut().map(|b| &mut b[..n]))
            .with_atom_sequence_inputs(self.atom_in.iter())
            .with_atom_sequence_outputs(self.atom_out.iter_mut())
            .with_cv_inputs(self.cv_in.iter().map(|b| &b[..n]))
            .with_cv_outputs(self.cv_out.iter_mut().map(|b| &mut b[..n]));
        // SAFETY: every buffer lives in `self` for the whole call, audio and CV buffers hold at
        // least `n <= max_block_length` frames, each list is in ascending port order with the
        // exact count livi expects (built from the same `Plugin::ports` in `Host::new`), and
        // atom sequences were made with this instance's features (same URID map).
        unsafe { self.instance.run(n, ports) }.is_ok()
    }

    /// Reset the plugin's signal state: LV2 defines `deactivate` + `activate` as the way to
    /// reinitialise an instance.
    fn reactivate(&mut self) {
        let instance = self.instance.raw().instance();
        let handle = instance.handle();
        if let Some(d) = instance.descriptor() {
            if let Some(deactivate) = d.deactivate {
                deactivate(handle);
            }
            if let Some(activate) = d.activate {
                activate(handle);
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // lilv_instance_free drops the instance's reference to its plugin library, which
        // updates (and may dlclose and remove from) the world's library table: not safe while
        // another thread instantiates. Matcher workers create and free instances concurrently,
        // so freeing takes the same lock as instantiation. Never dropped with the lock held.
        with_world(|_| {
            // SAFETY: `instance` is dropped exactly once, here, and never used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.instance) }
        });
    }
}

struct Runtime {
    hosts: Vec<Host>,
    plugin: livi::Plugin,
    sample_rate: f32,
    max_block: usize,
    ramp_steps: u32,
    // Dropped after the hosts (fields drop in order); the instances hold their own Arc too.
    features: Arc<livi::Features>,
}

/// An installed LV2 plugin run as an [`Effect`].
///
/// - **Audio layout**: a plugin with two main audio inputs and outputs runs stereo; one with
///   one input and one output runs *dual-mono*: two instances with the same control values,
///   one per channel. Side-chain inputs are fed silence, CV inputs silence, atom inputs empty
///   sequences; extra outputs go to scratch buffers. Anything else is refused when the chain
///   is loaded.
/// - **Parameters** are the control inputs, by port symbol (see
///   [`control_param`](super::ports::control_param)). Continuous parameters ramp linearly over
///   20 ms in 32-frame control steps (the plugin sees a new value every 32 frames, at fixed
///   positions of the stream, so the output does not depend on the host's block size);
///   discrete ones (toggles, integers, enumerations) jump and are marked to crossfade live.
/// - **Instantiation** happens in [`Effect::prepare`] (the sample rate is known only then);
///   a failure leaves the effect passing audio through and is reported by
///   [`Effect::prepare_error`], which offline renders turn into an error.
/// - **Non-finite output** (NaN, ±inf) is replaced by 0 and counted
///   ([`Effect::nonfinite_samples`]) so one misbehaving plugin cannot blow up a live chain.
/// - **Reset** calls the plugin's `deactivate` and `activate`, LV2's way to reinitialise an
///   instance. LV2 does not promise these are real-time safe (the engine never resets on the
///   audio thread), and not every plugin clears all its state there (mda Ambience keeps its
///   reverb tail), so offline renders use [`Effect::reinitialize`], which instantiates the
///   plugin anew.
pub struct Lv2Effect {
    info: Arc<PluginInfo>,
    layout: Layout,
    specs: Vec<ParamSpec>,
    /// Control port index of each parameter.
    ports: Vec<usize>,
    target: Vec<f32>,
    current: Vec<f32>,
    step: Vec<f32>,
    steps_left: Vec<u32>,
    ramping: bool,
    /// Frames until the next control step of a ramp (counted across blocks).
    frames_to_step: usize,
    tail: Option<f32>,
    runtime: Option<Runtime>,
    prepare_error: Option<String>,
    nonfinite: u64,
}

impl Lv2Effect {
    /// The installed plugin `uri`, ready for [`Effect::prepare`]. Errors say why it cannot be
    /// hosted: not installed (with the package to install), an unsupported required feature
    /// (named), or an audio layout other than stereo or mono.
    pub fn new(uri: &str) -> crate::Result<Self> {
        let info = plugin_info(uri).ok_or_else(|| {
            Error::invalid(format!("no LV2 plugin `{uri}` is installed"), unknown_uri_fix(uri))
        })?;
        let layout = info.layout.clone().map_err(|why| {
            Error::invalid(
                format!("LV2 plugin `{uri}` ({}) cannot be hosted: it {why}", info.name),
                "choose another plugin: `fxmatch plugins` says which ones fxmatch can host",
            )
        })?;
        let specs = info.param_specs();
        let ports = info.params.iter().map(|(i, _)| *i).collect();
        let target: Vec<f32> = specs.iter().map(|s| s.default).collect();
        let n = specs.len();
        Ok(Self {
            info,
            layout,
            specs,
            ports,
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
        })
    }

    /// Override [`Effect::tail_seconds`] (chain files: `tail = 2.0`).
    pub fn set_tail(&mut self, seconds: f32) {
        self.tail = Some(seconds.max(0.0));
    }

    /// The plugin's URI.
    pub fn uri(&self) -> &str {
        &self.info.uri
    }

    /// How the plugin's audio is run.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Number of plugin instances (1 stereo, 2 dual-mono; 0 before a successful prepare).
    pub fn instances(&self) -> usize {
        self.runtime.as_ref().map_or(0, |r| r.hosts.len())
    }

    /// The instances for the layout (1 stereo, 2 dual-mono), each with its buffers.
    fn make_hosts(
        &self,
        plugin: &livi::Plugin,
        features: &Arc<livi::Features>,
        sample_rate: f32,
    ) -> Result<Vec<Host>, String> {
        let count = match self.layout {
            Layout::Stereo => 1,
            Layout::DualMono => 2,
        };
        (0..count).map(|_| with_world(|_| Host::new(plugin, &self.info, features, sample_rate))).collect()
    }

    fn continuous(&self, i: usize) -> bool {
        self.specs[i].mapping != Mapping::Discrete && !self.specs[i].needs_crossfade
    }

    fn write_controls(&mut self) {
        if let Some(rt) = &mut self.runtime {
            for host in &mut rt.hosts {
                for (port, &v) in self.ports.iter().zip(&self.current) {
                    host.instance.set_control_input(PortIndex(*port), v);
                }
            }
        }
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
        match self.layout {
            Layout::Stereo => {
                let h = &mut rt.hosts[0];
                h.audio_in[h.main_in[0]][..n].copy_from_slice(left);
                h.audio_in[h.main_in[1]][..n].copy_from_slice(right);
                if h.run(n) {
                    self.nonfinite += copy_sanitized(&h.audio_out[h.main_out[0]][..n], left);
                    self.nonfinite += copy_sanitized(&h.audio_out[h.main_out[1]][..n], right);
                }
            }
            Layout::DualMono => {
                for (h, channel) in rt.hosts.iter_mut().zip([left, right]) {
                    h.audio_in[h.main_in[0]][..n].copy_from_slice(channel);
                    if h.run(n) {
                        self.nonfinite += copy_sanitized(&h.audio_out[h.main_out[0]][..n], channel);
                    }
                }
            }
        }
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

impl Effect for Lv2Effect {
    crate::effect::effect_identity!("lv2");

    fn prepare(&mut self, sample_rate: f32, max_block: usize) {
        self.runtime = None;
        self.prepare_error = None;
        let max_block = max_block.max(1);
        let result = (|| -> Result<Runtime, String> {
            if !(sample_rate.is_finite() && sample_rate > 0.0) {
                return Err(format!("invalid sample rate {sample_rate}"));
            }
            let (plugin, features) = with_world(|w| {
                let features = w
                    .try_build_features(livi::FeaturesBuilder {
                        min_block_length: 1,
                        max_block_length: max_block,
                        // The engine runs whole blocks of the prepared size; shorter ones only
                        // at the end of an offline render.
                        nominal_block_length: Some(max_block),
                        sample_rate: Some(sample_rate as f64),
                    })
                    .map_err(|e| format!("LV2 features for blocks up to {max_block} frames: {e}"))?;
                let plugin = w
                    .plugin_by_uri(&self.info.uri)
                    .ok_or_else(|| format!("LV2 plugin `{}` disappeared from the world", self.info.uri))?;
                Ok::<_, String>((plugin, features))
            })?;
            let hosts = self.make_hosts(&plugin, &features, sample_rate)?;
            let ramp_steps = ((PARAM_RAMP_SECONDS * sample_rate / RAMP_CHUNK as f32).round() as u32).max(1);
            Ok(Runtime { hosts, plugin, sample_rate, max_block, ramp_steps, features })
        })();
        match result {
            Ok(rt) => self.runtime = Some(rt),
            Err(e) => {
                tracing::error!("{e}");
                self.prepare_error = Some(e);
            }
        }
        self.snap();
    }

    fn reset(&mut self) {
        if let Some(rt) = &mut self.runtime {
            for h in &mut rt.hosts {
                h.reactivate();
            }
        }
        self.frames_to_step = 0;
        self.snap();
    }

    fn reinitialize(&mut self) {
        if let Some(rt) = &self.runtime {
            match self.make_hosts(&rt.plugin, &rt.features, rt.sample_rate) {
                Ok(hosts) => {
                    if let Some(rt) = &mut self.runtime {
                        rt.hosts = hosts;
                    }
                }
                Err(e) => {
                    tracing::error!("{e}");
                    self.prepare_error = Some(e);
                    self.runtime = None;
                }
            }
        }
        self.frames_to_step = 0;
        self.snap();
    }

    fn set_param(&mut self, index: usize, value: f32) {
        if index >= self.specs.len() {
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
        self.write_controls();
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
            // Control values are written before every run (livi copies into its port values).
            self.write_controls();
            self.run_chunk(&mut left[pos..pos + len], &mut right[pos..pos + len]);
            pos += len;
        }
    }

    fn tail_seconds(&self) -> f32 {
        if let Some(t) = self.tail {
            return t;
        }
        // Delays and reverbs ring on; others are taken to stop with their input.
        let class = self.info.class.to_ascii_lowercase();
        if class.contains("delay") || class.contains("reverb") {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{self, noise, sine};

    pub(crate) const OVERDRIVE: &str = "http://drobilla.net/plugins/mda/Overdrive";
    pub(crate) const ZAM_EQ2: &str = "urn:zamaudio:ZamEQ2";

    /// The installed plugin, or a failure that names the package to install.
    fn effect(uri: &str) -> Lv2Effect {
        Lv2Effect::new(uri)
            .unwrap_or_else(|e| panic!("{} (fix: {}; scripts/setup.sh installs it)", e.message(), e.fix()))
    }

    fn index(e: &Lv2Effect, symbol: &str) -> usize {
        e.params().iter().position(|p| p.id == symbol).unwrap_or_else(|| panic!("no port `{symbol}`"))
    }

    #[test]
    fn plugins_are_realtime_safe_and_finite() {
        for uri in [OVERDRIVE, ZAM_EQ2] {
            testutil::assert_realtime_safe(&|| Box::new(effect(uri)));
        }
    }

    #[test]
    fn overdrive_is_block_size_invariant_settled_and_while_ramping() {
        let e = effect(OVERDRIVE);
        let settings = [(index(&e, "drive"), 0.8), (index(&e, "muffle"), 0.3), (index(&e, "output"), 0.7)];
        testutil::assert_block_size_invariant(&|| Box::new(effect(OVERDRIVE)), &settings);
    }

    #[test]
    fn mono_plugin_runs_dual_mono_with_independent_channels() {
        let mut e = effect(ZAM_EQ2);
        assert_eq!(e.layout(), Layout::DualMono);
        let boost = index(&e, "boost1");
        e.prepare(48_000.0, 256);
        assert_eq!(e.instances(), 2);
        e.set_param(boost, 12.0);
        e.snap();
        let x = noise(4800, 0.3, 9);
        // Signal on the left only: the right instance gets silence and stays silent.
        let (l1, r1) = testutil::process_in_blocks(&mut e, &x, &vec![0.0; x.len()], 256);
        assert!(r1.iter().all(|&v| v.abs() < 1e-9), "right channel leaked from the left");
        let diff: f32 = l1.iter().zip(&x).map(|(a, b)| (a - b).abs()).sum();
        assert!(diff > 10.0, "a +12 dB boost changes the left channel (diff {diff})");
        // The same signal on the right gives the same output there (same control values).
        e.reset();
        let (l2, r2) = testutil::process_in_blocks(&mut e, &vec![0.0; x.len()], &x, 256);
        assert!(l2.iter().all(|&v| v.abs() < 1e-9));
        let max = r2.iter().zip(&l1).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max < 1e-6, "both instances follow the same settings (max diff {max})");
    }

    #[test]
    fn reset_clears_signal_state() {
        let mut e = effect(ZAM_EQ2);
        let boost = index(&e, "boost1");
        e.prepare(48_000.0, 512);
        e.set_param(boost, 15.0);
        e.snap();
        let x = sine(2048, 500.0, 48_000.0, 0.5);
        let (first, _) = testutil::process_in_blocks(&mut e, &x, &x, 512);
        e.reset();
        let (again, _) = testutil::process_in_blocks(&mut e, &x, &x, 512);
        assert_eq!(first, again, "after reset the plugin starts from the same state");
    }

    #[test]
    fn reinitialize_clears_state_that_activate_keeps() {
        // mda Ambience keeps its reverb buffers across deactivate/activate; a fresh instance
        // does not, so offline renders (which reinitialize) do not depend on the previous one.
        let mut e = effect("http://drobilla.net/plugins/mda/Ambience");
        e.prepare(48_000.0, 512);
        let x = noise(4800, 0.5, 3);
        let (first, _) = testutil::process_in_blocks(&mut e, &x, &x, 512);
        e.reinitialize();
        let (again, _) = testutil::process_in_blocks(&mut e, &x, &x, 512);
        assert_eq!(first, again);
        assert_eq!(e.instances(), 1);
    }

    #[test]
    fn non_finite_output_is_replaced_and_counted() {
        let mut e = effect(OVERDRIVE);
        e.prepare(48_000.0, 128);
        let mut l = sine(512, 440.0, 48_000.0, 0.5);
        l[100] = f32::NAN;
        l[101] = f32::INFINITY;
        let mut r = l.clone();
        e.process(&mut l, &mut r);
        assert!(l.iter().chain(&r).all(|v| v.is_finite()), "the output is sanitised");
        assert!(e.nonfinite_samples() > 0, "and the replaced samples are counted");
    }

    #[test]
    fn continuous_params_ramp_over_20_ms_in_32_frame_steps() {
        let mut e = effect(ZAM_EQ2);
        let master = index(&e, "master");
        e.prepare(48_000.0, 512);
        let dc = vec![0.1f32; 4800];
        testutil::process_in_blocks(&mut e, &dc, &dc, 512);
        e.set_param(master, 12.0);
        let (out, _) = testutil::process_in_blocks(&mut e, &dc[..1920], &dc[..1920], 512);
        let full = 0.1 * 10f32.powf(12.0 / 20.0);
        assert!(out[0] < 0.5 * (0.1 + full), "no jump at the change: {}", out[0]);
        assert!((out[1919] - full).abs() < 1e-3 * full, "settled after 20 ms: {} vs {full}", out[1919]);
        // Within one 32-frame step the control value is constant.
        let steps: Vec<f32> = out[..960].chunks(32).map(|c| c[31]).collect();
        assert!(steps.windows(2).all(|w| w[1] >= w[0] - 1e-6), "rises monotonically: {steps:?}");
        assert!(steps.len() == 30 && steps[10] > out[0] && steps[10] < full, "in steps: {steps:?}");
    }

    #[test]
    fn discrete_ports_are_marked_to_crossfade() {
        let e = effect("urn:zamaudio:ZamDelay");
        let sync = &e.params()[index(&e, "sync")];
        assert_eq!((sync.mapping, sync.needs_crossfade), (Mapping::Discrete, true));
        let time = &e.params()[index(&e, "time")];
        assert_eq!((time.min, time.max, time.needs_crossfade), (1.0, 8000.0, false));
    }

    /// The live engine runs the Zam chain without allocating on the audio thread (this test
    /// binary's allocator aborts on any allocation inside `assert_no_alloc`), through parameter
    /// glides, a crossfaded swap to a freshly instantiated chain, a discrete port change and a
    /// bypass; the output stays finite and the changes are heard.
    #[test]
    fn engine_runs_the_zam_chain_allocation_free_through_glides_and_swaps() {
        use crate::engine::{engine, AudioControl, EngineConfig};
        let spec =
            crate::chain::ChainSpec::load(format!("{}/config/chains/zam.toml", env!("CARGO_MANIFEST_DIR")))
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
        h.set_param("zamdelay_not_there", "time", 1.0).unwrap_err();
        h.set_param("delay", "inv", 1.0).unwrap();
        let inverted = run(&mut p);
        h.set_bypass(Some("comp"), true).unwrap();
        let bypassed = run(&mut p);
        let differs = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q).abs()).sum::<f32>() > 1.0;
        assert!(differs(&base, &glided) && differs(&glided, &swapped));
        assert!(differs(&swapped, &inverted) && differs(&inverted, &bypassed));
        h.collect_garbage();
    }

    #[test]
    fn unknown_uri_names_the_uri_and_the_package() {
        let err = Lv2Effect::new("http://drobilla.net/plugins/mda/NoSuchThing").err().unwrap();
        assert!(err.message().contains("http://drobilla.net/plugins/mda/NoSuchThing"), "{err:?}");
        assert!(
            err.fix().contains("apt install mda-lv2") && err.fix().contains("fxmatch plugins"),
            "{err:?}"
        );
    }
}
