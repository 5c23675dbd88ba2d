//! One VST3 plugin instance: component and edit controller (one object or two), bus
//! arrangement, process setup, activation, the process call with its preallocated buffers and
//! parameter queues, and state.

use std::sync::Arc;

use vst3::Steinberg::Vst::{
    AudioBusBuffers, AudioBusBuffers__type0, BusInfo, IAudioProcessor, IAudioProcessorTrait, IComponent,
    IComponentHandler, IComponentTrait, IConnectionPoint, IConnectionPointTrait, IEditController,
    IEditControllerTrait, IParameterChanges, ParameterInfo, ProcessContext, ProcessData, ProcessSetup,
    SpeakerArrangement,
};
use vst3::Steinberg::{
    kResultOk, kResultTrue, tresult, FUnknown, IBStream, IPluginBaseTrait, IPluginFactoryTrait, TUID,
};
use vst3::{ComPtr, ComWrapper, Interface};

use super::host::{read_utf16, ComponentHandler, HostApp, MemStream, ParamChanges};
use super::module::{ClassInfo, Module, INSTANTIATE};

// SDK constants, spelled out where the bindings put them in deep modules.
const K_AUDIO: i32 = 0; // MediaTypes_::kAudio
const K_INPUT: i32 = 0; // BusDirections_::kInput
const K_OUTPUT: i32 = 1; // BusDirections_::kOutput
const K_MAIN: i32 = 0; // BusTypes_::kMain
const K_REALTIME: i32 = 0; // ProcessModes_::kRealtime
const K_SAMPLE32: i32 = 0; // SymbolicSampleSizes_::kSample32
/// `SpeakerArr::kStereo` and `kMono`.
pub const STEREO: SpeakerArrangement = 3;
/// `SpeakerArr::kMono`.
pub const MONO: SpeakerArrangement = 1 << 19;
// ProcessContext_::StatesAndFlags_: kTempoValid | kTimeSigValid.
const CONTEXT_FLAGS: u32 = (1 << 10) | (1 << 13);
/// ParameterInfo_::ParameterFlags_.
pub const PARAM_READ_ONLY: i32 = 2;
/// Hidden from the user.
pub const PARAM_HIDDEN: i32 = 16;
/// The plugin's program-change parameter.
pub const PARAM_PROGRAM_CHANGE: i32 = 1 << 15;
/// The plugin's own bypass (fxmatch bypasses effects itself).
pub const PARAM_BYPASS: i32 = 1 << 16;

/// What the controller says about one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    /// The parameter's VST3 id.
    pub id: u32,
    /// Title.
    pub title: String,
    /// Unit of the plain value (`dB`, `Hz`, …).
    pub units: String,
    /// 0 for continuous parameters; otherwise the number of steps (values `0..=step_count`).
    pub step_count: i32,
    /// Default, normalised.
    pub default_normalized: f64,
    /// ParameterFlags.
    pub flags: i32,
    /// Plain value at normalised 0 and 1 (`normalizedParamToPlain`), for people.
    pub plain_min: f64,
    /// See `plain_min`.
    pub plain_max: f64,
}

/// An active, processing instance with buffers for blocks up to `max_block` frames.
pub(crate) struct Instance {
    _module: Arc<Module>,
    pub name: String,
    // Fields drop in order: the interfaces cast from the component go before it (DPF counts
    // references to its audio processor separately and warns when the component goes first).
    processor: ComPtr<IAudioProcessor>,
    pub controller: Option<ComPtr<IEditController>>,
    component: ComPtr<IComponent>,
    /// Component and controller are separate objects (both initialised and terminated).
    pub split: bool,
    connected: Option<(ComPtr<IConnectionPoint>, ComPtr<IConnectionPoint>)>,
    _host: ComWrapper<HostApp>,
    _handler: ComWrapper<ComponentHandler>,
    in_changes: ComWrapper<ParamChanges>,
    out_changes: ComWrapper<ParamChanges>,
    /// Main-bus channels (1 or 2).
    pub channels: usize,
    /// Buffers of every input and output bus, channel by channel; bus 0 is the main bus.
    in_bufs: Vec<Vec<Vec<f32>>>,
    out_bufs: Vec<Vec<Vec<f32>>>,
    _in_ptrs: Vec<Vec<*mut f32>>,
    _out_ptrs: Vec<Vec<*mut f32>>,
    in_buses: Vec<AudioBusBuffers>,
    out_buses: Vec<AudioBusBuffers>,
    context: ProcessContext,
    pub side_chain_inputs: usize,
    pub latency: u32,
    active: bool,
}

// SAFETY: an Instance is owned by one effect and used by one thread at a time (created off the
// audio thread, then moved to it); the raw pointers point into its own buffers, and the COM
// objects it holds (plugin and host side) are not shared with other threads.
unsafe impl Send for Instance {}

thread_local! {
    static HOLDS_LOCK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` holding [`INSTANTIATE`] (re-entrant on this thread: an instance that fails half-way
/// through creation is torn down while the lock is held).
pub(crate) fn with_lock<T>(f: impl FnOnce() -> T) -> T {
    if HOLDS_LOCK.with(|h| h.get()) {
        return f();
    }
    let _guard = INSTANTIATE.lock().unwrap_or_else(|e| e.into_inner());
    HOLDS_LOCK.with(|h| h.set(true));
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            HOLDS_LOCK.with(|h| h.set(false));
        }
    }
    let _release = Release;
    f()
}

/// A VST3 result code with its SDK name (`4 (kInternalError)`).
pub fn result_name(r: tresult) -> String {
    use vst3::Steinberg::{
        kInternalError, kInvalidArgument, kNoInterface, kNotImplemented, kNotInitialized, kOutOfMemory,
        kResultFalse,
    };
    let names = [
        (kResultOk, "kResultOk"),
        (kResultFalse, "kResultFalse"),
        (kNoInterface, "kNoInterface"),
        (kInvalidArgument, "kInvalidArgument"),
        (kNotImplemented, "kNotImplemented"),
        (kInternalError, "kInternalError"),
        (kNotInitialized, "kNotInitialized"),
        (kOutOfMemory, "kOutOfMemory"),
    ];
    let Some((_, name)) = names.iter().find(|(code, _)| *code == r) else { return r.to_string() };
    format!("{r} ({name})")
}

fn check(what: &str, r: tresult) -> Result<(), String> {
    if r == kResultOk || r == kResultTrue {
        Ok(())
    } else {
        Err(format!("{what} returned error code {}", result_name(r)))
    }
}

/// Per bus: the channel buffers, the channel pointer arrays, and the bus structs pointing at them.
type BusBuffers = (Vec<Vec<Vec<f32>>>, Vec<Vec<*mut f32>>, Vec<AudioBusBuffers>);

fn buffers(channels: &[usize], max: usize) -> BusBuffers {
    let mut bufs: Vec<Vec<Vec<f32>>> = channels.iter().map(|&c| vec![vec![0.0f32; max]; c]).collect();
    let mut ptrs: Vec<Vec<*mut f32>> =
        bufs.iter_mut().map(|bus| bus.iter_mut().map(|ch| ch.as_mut_ptr()).collect()).collect();
    let buses = ptrs
        .iter_mut()
        .map(|p| AudioBusBuffers {
            numChannels: p.len() as i32,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 { channelBuffers32: p.as_mut_ptr() },
        })
        .collect();
    (bufs, ptrs, buses)
}

impl Instance {
    /// Create, initialise, arrange (main buses `main`: [`STEREO`] or [`MONO`]), set up and
    /// activate an instance. Errors say which step the plugin refused.
    pub fn new(
        module: &Arc<Module>,
        class: &ClassInfo,
        sample_rate: f32,
        max_block: usize,
        main: SpeakerArrangement,
    ) -> Result<Self, String> {
        with_lock(|| Self::create(module, class, sample_rate, max_block, main))
    }

    fn create(
        module: &Arc<Module>,
        class: &ClassInfo,
        sample_rate: f32,
        max_block: usize,
        main: SpeakerArrangement,
    ) -> Result<Self, String> {
        let host = ComWrapper::new(HostApp);
        let context =
            host.as_com_ref::<vst3::Steinberg::Vst::IHostApplication>().map(|r| r.as_ptr() as *mut FUnknown);
        let context = context.ok_or("the host context has no IHostApplication")?;
        let mut obj: *mut std::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `cid` comes from this factory's class list; the out-pointer is ours; the
        // factory returns an owned reference to an IComponent or fails.
        let component = unsafe {
            let r = module.factory.createInstance(
                class.cid.as_ptr(),
                IComponent::IID.as_ptr() as *const std::ffi::c_char,
                &mut obj,
            );
            check("creating the component", r)?;
            ComPtr::from_raw(obj as *mut IComponent).ok_or("the factory returned no component")?
        };
        // SAFETY: the host context lives as long as the instance (kept in `_host`).
        check("initialize (component)", unsafe { component.initialize(context) })?;
        let mut inst = Self::finish(module, class, component, host, context, sample_rate, max_block, main);
        if let Err(e) = &inst {
            tracing::debug!("VST3 `{}`: {e}", class.name);
        }
        if let Ok(i) = &mut inst {
            i.name = class.name.clone();
        }
        inst
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        module: &Arc<Module>,
        class: &ClassInfo,
        component: ComPtr<IComponent>,
        host: ComWrapper<HostApp>,
        context: *mut FUnknown,
        sample_rate: f32,
        max_block: usize,
        main: SpeakerArrangement,
    ) -> Result<Self, String> {
        let Some(processor) = component.cast::<IAudioProcessor>() else {
            // SAFETY: the component was initialised by the caller and is not used again.
            unsafe { component.terminate() };
            return Err("its component is not an IAudioProcessor".into());
        };
        let handler = ComWrapper::new(ComponentHandler);
        // From here on, Drop terminates whatever was initialised.
        let mut inst = Instance {
            _module: module.clone(),
            name: class.name.clone(),
            component,
            processor,
            controller: None,
            split: false,
            connected: None,
            _host: host,
            _handler: handler,
            in_changes: ComWrapper::new(ParamChanges::new(1)),
            out_changes: ComWrapper::new(ParamChanges::new(1)),
            channels: 0,
            in_bufs: Vec::new(),
            out_bufs: Vec::new(),
            _in_ptrs: Vec::new(),
            _out_ptrs: Vec::new(),
            in_buses: Vec::new(),
            out_buses: Vec::new(),
            // SAFETY: ProcessContext is a plain C struct; all-zero is a valid value.
            context: unsafe { std::mem::zeroed() },
            side_chain_inputs: 0,
            latency: 0,
            active: false,
        };
        // Single-component plugins implement the controller on the component; split ones name
        // a controller class to create and initialise separately.
        if let Some(c) = inst.component.cast::<IEditController>() {
            inst.controller = Some(c);
        } else {
            let mut cid: TUID = [0; 16];
            // SAFETY: out-pointer to a TUID of ours.
            let has = unsafe { inst.component.getControllerClassId(&mut cid) } == kResultOk && cid != [0; 16];
            if has {
                let mut obj: *mut std::ffi::c_void = std::ptr::null_mut();
                // SAFETY: as for the component: an owned IEditController or failure.
                let c = unsafe {
                    check(
                        "creating the edit controller",
                        module.factory.createInstance(
                            cid.as_ptr(),
                            IEditController::IID.as_ptr() as *const std::ffi::c_char,
                            &mut obj,
                        ),
                    )?;
                    ComPtr::from_raw(obj as *mut IEditController)
                        .ok_or("the factory returned no edit controller")?
                };
                // SAFETY: the host context outlives the controller.
                check("initialize (edit controller)", unsafe { c.initialize(context) })?;
                inst.controller = Some(c);
                inst.split = true;
            }
        }
        if inst.split {
            if let (Some(a), Some(b)) = (
                inst.component.cast::<IConnectionPoint>(),
                inst.controller.as_ref().and_then(|c| c.cast::<IConnectionPoint>()),
            ) {
                // SAFETY: both connection points are alive for as long as `connected` holds them.
                unsafe {
                    a.connect(b.as_ptr());
                    b.connect(a.as_ptr());
                }
                inst.connected = Some((a, b));
            }
            inst.sync_controller_to_component()?;
        }
        if let Some(c) = &inst.controller {
            let h =
                inst._handler.as_com_ref::<IComponentHandler>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
            // SAFETY: the handler lives as long as the instance.
            unsafe { c.setComponentHandler(h) };
        }
        let params = inst.param_count_all();
        inst.in_changes = ComWrapper::new(ParamChanges::new(params));
        inst.out_changes = ComWrapper::new(ParamChanges::new(params));
        inst.arrange(main)?;
        // SAFETY: kSample32 is a plain query.
        check("canProcessSampleSize(32-bit float)", unsafe {
            inst.processor.canProcessSampleSize(K_SAMPLE32)
        })
        .map_err(|_| "it cannot process 32-bit float samples".to_string())?;
        let mut setup = ProcessSetup {
            processMode: K_REALTIME,
            symbolicSampleSize: K_SAMPLE32,
            maxSamplesPerBlock: max_block as i32,
            sampleRate: sample_rate as f64,
        };
        // SAFETY: pointer to our setup struct, valid for the call.
        check("setupProcessing", unsafe { inst.processor.setupProcessing(&mut setup) }).map_err(|e| {
            format!("it refused the process setup ({sample_rate} Hz, blocks up to {max_block} frames): {e}")
        })?;
        inst.context.sampleRate = sample_rate as f64;
        inst.context.tempo = 120.0;
        inst.context.timeSigNumerator = 4;
        inst.context.timeSigDenominator = 4;
        inst.context.state = CONTEXT_FLAGS;
        let (ib, ip, ibus) = buffers(&inst.bus_channels(K_INPUT), max_block);
        let (ob, op, obus) = buffers(&inst.bus_channels(K_OUTPUT), max_block);
        (inst.in_bufs, inst._in_ptrs, inst.in_buses) = (ib, ip, ibus);
        (inst.out_bufs, inst._out_ptrs, inst.out_buses) = (ob, op, obus);
        inst.activate()?;
        // SAFETY: plain query.
        inst.latency = unsafe { inst.processor.getLatencySamples() };
        Ok(inst)
    }

    fn param_count_all(&self) -> usize {
        // SAFETY: plain query.
        self.controller.as_ref().map_or(0, |c| unsafe { c.getParameterCount() }.max(0) as usize)
    }

    /// Hand the component's state to a separate controller (the SDK's host sequence).
    fn sync_controller_to_component(&self) -> Result<(), String> {
        let (Some(c), true) = (&self.controller, self.split) else { return Ok(()) };
        let stream = ComWrapper::new(MemStream::default());
        let s = stream.as_com_ref::<IBStream>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
        // SAFETY: the stream lives across both calls.
        unsafe {
            if self.component.getState(s) == kResultOk {
                stream.rewind();
                c.setComponentState(s);
            }
        }
        Ok(())
    }

    fn bus_info(&self, dir: i32, index: i32) -> Option<BusInfo> {
        // SAFETY: BusInfo is a plain C struct; all-zero is valid; out-pointer is ours.
        unsafe {
            let mut info: BusInfo = std::mem::zeroed();
            (self.component.getBusInfo(K_AUDIO, dir, index, &mut info) == kResultOk).then_some(info)
        }
    }

    fn bus_count(&self, dir: i32) -> i32 {
        // SAFETY: plain query.
        unsafe { self.component.getBusCount(K_AUDIO, dir) }.max(0)
    }

    fn arrangement(&self, dir: i32, index: i32) -> Option<SpeakerArrangement> {
        let mut arr: SpeakerArrangement = 0;
        // SAFETY: out-pointer is ours.
        (unsafe { self.processor.getBusArrangement(dir, index, &mut arr) } == kResultOk).then_some(arr)
    }

    fn bus_channels(&self, dir: i32) -> Vec<usize> {
        (0..self.bus_count(dir))
            .map(|i| {
                self.arrangement(dir, i)
                    .map(|a| a.count_ones() as usize)
                    .or_else(|| self.bus_info(dir, i).map(|b| b.channelCount.max(0) as usize))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Main input and output as `main`, auxiliary (side-chain) buses as the plugin has them;
    /// every audio bus active (side-chains are fed silence).
    fn arrange(&mut self, main: SpeakerArrangement) -> Result<(), String> {
        let (n_in, n_out) = (self.bus_count(K_INPUT), self.bus_count(K_OUTPUT));
        if n_in < 1 || n_out < 1 {
            return Err(format!(
                "it has {n_in} audio input and {n_out} output buses; an effect needs at least one of each"
            ));
        }
        for dir in [K_INPUT, K_OUTPUT] {
            if self.bus_info(dir, 0).is_some_and(|b| b.busType != K_MAIN) {
                return Err("its first audio bus is not a main bus".into());
            }
        }
        let keep = |s: &Self, dir: i32, i: i32| s.arrangement(dir, i).unwrap_or(STEREO);
        let mut ins: Vec<SpeakerArrangement> =
            (0..n_in).map(|i| if i == 0 { main } else { keep(self, K_INPUT, i) }).collect();
        let mut outs: Vec<SpeakerArrangement> =
            (0..n_out).map(|i| if i == 0 { main } else { keep(self, K_OUTPUT, i) }).collect();
        // SAFETY: arrays of our own, with their lengths.
        let r =
            unsafe { self.processor.setBusArrangements(ins.as_mut_ptr(), n_in, outs.as_mut_ptr(), n_out) };
        let name = |a: SpeakerArrangement| match a {
            STEREO => "stereo".to_string(),
            MONO => "mono".to_string(),
            other => format!("{} channels", other.count_ones()),
        };
        if r != kResultOk
            || self.arrangement(K_INPUT, 0) != Some(main)
            || self.arrangement(K_OUTPUT, 0) != Some(main)
        {
            return Err(format!(
                "it refused the bus arrangement {} main input and output (setBusArrangements returned {}; it has {} in, {} out)",
                name(main),
                result_name(r),
                self.arrangement(K_INPUT, 0).map_or("?".into(), name),
                self.arrangement(K_OUTPUT, 0).map_or("?".into(), name),
            ));
        }
        self.channels = main.count_ones() as usize;
        self.side_chain_inputs = (n_in - 1) as usize;
        for (dir, n) in [(K_INPUT, n_in), (K_OUTPUT, n_out)] {
            for i in 0..n {
                // SAFETY: plain call; a plugin may refuse to activate an auxiliary bus, which
                // leaves it unused (still given silent buffers).
                let r = unsafe { self.component.activateBus(K_AUDIO, dir, i, 1) };
                if i == 0 && r != kResultOk {
                    return Err(format!(
                        "it refused to activate its main audio bus (code {})",
                        result_name(r)
                    ));
                }
            }
        }
        Ok(())
    }

    fn activate(&mut self) -> Result<(), String> {
        // SAFETY: plain calls on an initialised, set-up component.
        check("setActive(true)", unsafe { self.component.setActive(1) })?;
        self.active = true;
        // setProcessing may be unimplemented (kNotImplemented), which is fine.
        // SAFETY: as above.
        unsafe { self.processor.setProcessing(1) };
        Ok(())
    }

    fn deactivate(&mut self) {
        if self.active {
            // SAFETY: plain calls on an active component.
            unsafe {
                self.processor.setProcessing(0);
                self.component.setActive(0);
            }
            self.active = false;
        }
    }

    /// Deactivate and activate: the VST3 way to clear signal state. Not real-time safe by the
    /// API's rules; the engine does not reset effects on the audio thread.
    pub fn reactivate(&mut self) {
        self.deactivate();
        let _ = self.activate();
    }

    /// The controller's parameters (all of them, in its order).
    pub fn params(&self) -> Vec<ParamInfo> {
        let Some(c) = &self.controller else { return Vec::new() };
        (0..self.param_count_all() as i32)
            .filter_map(|i| {
                // SAFETY: ParameterInfo is a plain C struct; all-zero is valid; out-pointer ours.
                unsafe {
                    let mut info: ParameterInfo = std::mem::zeroed();
                    if c.getParameterInfo(i, &mut info) != kResultOk {
                        return None;
                    }
                    Some(ParamInfo {
                        id: info.id,
                        title: read_utf16(&info.title),
                        units: read_utf16(&info.units),
                        step_count: info.stepCount,
                        default_normalized: info.defaultNormalizedValue.clamp(0.0, 1.0),
                        flags: info.flags,
                        plain_min: c.normalizedParamToPlain(info.id, 0.0),
                        plain_max: c.normalizedParamToPlain(info.id, 1.0),
                    })
                }
            })
            .collect()
    }

    /// `plainParamToNormalized` of the controller.
    pub fn plain_to_normalized(&self, id: u32, plain: f64) -> Option<f64> {
        // SAFETY: plain query.
        self.controller.as_ref().map(|c| unsafe { c.plainParamToNormalized(id, plain) })
    }

    /// `getParamNormalized` of the controller.
    pub fn param_normalized(&self, id: u32) -> Option<f64> {
        // SAFETY: plain query.
        self.controller.as_ref().map(|c| unsafe { c.getParamNormalized(id) })
    }

    /// Queue a parameter change for the next [`Instance::process`] (at `offset` frames).
    /// Real-time safe.
    pub fn queue_param(&self, id: u32, offset: i32, normalized: f64) -> bool {
        self.in_changes.push(id, offset, normalized)
    }

    /// Main-bus input channel `ch` (to fill before [`Instance::process`]).
    pub fn input(&mut self, ch: usize) -> &mut [f32] {
        &mut self.in_bufs[0][ch]
    }

    /// Main-bus output channel `ch` (after [`Instance::process`]).
    pub fn output(&self, ch: usize) -> &[f32] {
        &self.out_bufs[0][ch]
    }

    /// Process `n` frames of the input buffers with the queued parameter changes, which are
    /// cleared afterwards. Real-time safe on the host side: nothing allocates. Returns the
    /// plugin's result code.
    pub fn process(&mut self, n: usize) -> tresult {
        self.out_changes.clear();
        let in_changes =
            self.in_changes.as_com_ref::<IParameterChanges>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
        let out_changes =
            self.out_changes.as_com_ref::<IParameterChanges>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
        let mut data = ProcessData {
            processMode: K_REALTIME,
            symbolicSampleSize: K_SAMPLE32,
            numSamples: n as i32,
            numInputs: self.in_buses.len() as i32,
            numOutputs: self.out_buses.len() as i32,
            inputs: self.in_buses.as_mut_ptr(),
            outputs: self.out_buses.as_mut_ptr(),
            inputParameterChanges: in_changes,
            outputParameterChanges: out_changes,
            inputEvents: std::ptr::null_mut(),
            outputEvents: std::ptr::null_mut(),
            processContext: &mut self.context,
        };
        for bus in self.in_buses.iter_mut().chain(self.out_buses.iter_mut()) {
            bus.silenceFlags = 0;
        }
        // SAFETY: every pointer in `data` points into buffers this instance owns, each channel
        // holds `max_block >= n` frames (callers keep n within it), and the parameter queues
        // and context live across the call.
        let r = unsafe { self.processor.process(&mut data) };
        self.context.projectTimeSamples += n as i64;
        self.context.continousTimeSamples += n as i64;
        self.in_changes.clear();
        r
    }

    /// The component's state, and a separate controller's (empty for single-component plugins).
    pub fn save_state(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let stream = ComWrapper::new(MemStream::default());
        let s = stream.as_com_ref::<IBStream>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
        // SAFETY: the stream lives across the call.
        check("getState (component)", unsafe { self.component.getState(s) })?;
        let component = stream.bytes();
        let mut controller = Vec::new();
        if let (true, Some(c)) = (self.split, &self.controller) {
            let stream = ComWrapper::new(MemStream::default());
            let s = stream.as_com_ref::<IBStream>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
            // SAFETY: as above.
            if unsafe { c.getState(s) } == kResultOk {
                controller = stream.bytes();
            }
        }
        Ok((component, controller))
    }

    /// Restore what [`Instance::save_state`] returned.
    pub fn load_state(&mut self, component: &[u8], controller: &[u8]) -> Result<(), String> {
        let stream = ComWrapper::new(MemStream::from_bytes(component.to_vec()));
        let s = stream.as_com_ref::<IBStream>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
        // SAFETY: the stream lives across the calls.
        check("setState (component)", unsafe { self.component.setState(s) })?;
        if let Some(c) = &self.controller {
            stream.rewind();
            // SAFETY: as above. A single-component plugin restores its controller side too.
            unsafe { c.setComponentState(s) };
            if self.split && !controller.is_empty() {
                let stream = ComWrapper::new(MemStream::from_bytes(controller.to_vec()));
                let s = stream.as_com_ref::<IBStream>().map_or(std::ptr::null_mut(), |r| r.as_ptr());
                // SAFETY: as above.
                unsafe { c.setState(s) };
            }
        }
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        with_lock(|| self.teardown());
    }
}

impl Instance {
    fn teardown(&mut self) {
        self.deactivate();
        // SAFETY: teardown in the SDK's order: disconnect, clear the handler, terminate the
        // controller (if separate) and the component; each object was initialised once.
        unsafe {
            if let Some((a, b)) = self.connected.take() {
                a.disconnect(b.as_ptr());
                b.disconnect(a.as_ptr());
            }
            if let Some(c) = &self.controller {
                c.setComponentHandler(std::ptr::null_mut());
                if self.split {
                    c.terminate();
                }
            }
            self.controller = None;
            self.component.terminate();
        }
    }
}
