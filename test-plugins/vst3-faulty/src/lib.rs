//! A test-only VST3 module for fxmatch's tests of bad plugins: one audio-effect class per fault,
//! each a single-component stereo (or mono) gain with one parameter, `Gain` (normalised 0..1,
//! gain 2 × value: unity at the default 0.5), that misbehaves in exactly one way:
//!
//! | class            | fault                                                             |
//! |------------------|-------------------------------------------------------------------|
//! | `FaultyGain`     | none: the well-behaved control                                    |
//! | `RefuseBuses`    | `setBusArrangements` returns `kResultFalse` for every arrangement |
//! | `RefuseRate`     | `setupProcessing` returns `kResultFalse` above 48 kHz             |
//! | `InitError`      | `initialize` returns `kInternalError`                             |
//! | `ActivateError`  | `setActive(true)` returns `kResultFalse`                          |
//! | `ProcessError`   | every `process` returns `kInternalError`                          |
//! | `FlakyProcess`   | every second `process` returns `kInternalError` (output untouched)|
//! | `NanOutput`      | `process` writes NaN                                              |
//! | `AbortOnCreate`  | the factory's `createInstance` aborts the process                 |
//! | `AbortOnProcess` | the first `process` aborts the process                            |
//!
//! Aborting stands in for a C++ exception escaping a plugin, which also ends in `abort()`.
//! The tests put the built library into a bundle, `NAME.vst3/Contents/x86_64-linux/NAME.so`.
#![allow(non_snake_case)]

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::{ptr, slice};

use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{uid, Class, ComWrapper};

/// The faults, in factory class order (the class index is the last word of the class id).
const FAULTS: [&str; 10] = [
    "FaultyGain",
    "RefuseBuses",
    "RefuseRate",
    "InitError",
    "ActivateError",
    "ProcessError",
    "FlakyProcess",
    "NanOutput",
    "AbortOnCreate",
    "AbortOnProcess",
];

/// Highest sample rate `RefuseRate` accepts.
const REFUSE_RATE_ABOVE: f64 = 48_000.0;

fn cid(index: usize) -> TUID {
    uid(0x4658_4D54, 0x4641_554C, 0x5459_0000, index as u32)
}

fn copy_cstring(src: &str, dst: &mut [c_char]) {
    let n = src.len().min(dst.len() - 1);
    for (d, s) in dst.iter_mut().zip(src.bytes().take(n)) {
        *d = s as c_char;
    }
    dst[n] = 0;
}

fn copy_wstring(src: &str, dst: &mut [TChar]) {
    let (mut n, room) = (0, dst.len() - 1);
    for (d, s) in dst.iter_mut().take(room).zip(src.encode_utf16()) {
        *d = s as TChar;
        n += 1;
    }
    dst[n] = 0;
}

/// One plugin instance: component, audio processor and edit controller in one object.
struct Plugin {
    fault: &'static str,
    gain: Cell<f64>,
    channels: Cell<i32>,
    calls: Cell<u64>,
}

impl Class for Plugin {
    type Interfaces = (IComponent, IAudioProcessor, IEditController);
}

impl IPluginBaseTrait for Plugin {
    unsafe fn initialize(&self, _context: *mut FUnknown) -> tresult {
        if self.fault == "InitError" {
            return kInternalError;
        }
        kResultOk
    }

    unsafe fn terminate(&self) -> tresult {
        kResultOk
    }
}

impl IComponentTrait for Plugin {
    unsafe fn getControllerClassId(&self, _class_id: *mut TUID) -> tresult {
        kNotImplemented
    }

    unsafe fn setIoMode(&self, _mode: IoMode) -> tresult {
        kResultOk
    }

    unsafe fn getBusCount(&self, media_type: MediaType, _dir: BusDirection) -> i32 {
        i32::from(media_type == MediaTypes_::kAudio as MediaType)
    }

    unsafe fn getBusInfo(
        &self,
        media_type: MediaType,
        dir: BusDirection,
        index: i32,
        bus: *mut BusInfo,
    ) -> tresult {
        if media_type != MediaTypes_::kAudio as MediaType || index != 0 || bus.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: the host passes a valid BusInfo to fill (checked non-null above).
        let bus = &mut *bus;
        bus.mediaType = media_type;
        bus.direction = dir;
        bus.channelCount = self.channels.get();
        copy_wstring(
            if dir == BusDirections_::kInput as BusDirection { "Input" } else { "Output" },
            &mut bus.name,
        );
        bus.busType = BusTypes_::kMain as BusType;
        bus.flags = BusInfo_::BusFlags_::kDefaultActive;
        kResultOk
    }

    unsafe fn getRoutingInfo(&self, _in_info: *mut RoutingInfo, _out_info: *mut RoutingInfo) -> tresult {
        kNotImplemented
    }

    unsafe fn activateBus(
        &self,
        _media_type: MediaType,
        _dir: BusDirection,
        _index: i32,
        _state: TBool,
    ) -> tresult {
        kResultOk
    }

    unsafe fn setActive(&self, state: TBool) -> tresult {
        if state != 0 && self.fault == "ActivateError" {
            return kResultFalse;
        }
        kResultOk
    }

    unsafe fn setState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }
}

impl IAudioProcessorTrait for Plugin {
    unsafe fn setBusArrangements(
        &self,
        inputs: *mut SpeakerArrangement,
        num_ins: i32,
        outputs: *mut SpeakerArrangement,
        num_outs: i32,
    ) -> tresult {
        if self.fault == "RefuseBuses" || num_ins != 1 || num_outs != 1 {
            return kResultFalse;
        }
        // SAFETY: the host passes one arrangement per bus (one each, checked above).
        let (i, o) = (*inputs, *outputs);
        if i != o || !(i == SpeakerArr::kStereo || i == SpeakerArr::kMono) {
            return kResultFalse;
        }
        self.channels.set(i.count_ones() as i32);
        kResultTrue
    }

    unsafe fn getBusArrangement(
        &self,
        _dir: BusDirection,
        index: i32,
        arr: *mut SpeakerArrangement,
    ) -> tresult {
        if index != 0 || arr.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: a valid out-pointer from the host (checked non-null).
        *arr = if self.channels.get() == 1 { SpeakerArr::kMono } else { SpeakerArr::kStereo };
        kResultOk
    }

    unsafe fn canProcessSampleSize(&self, size: i32) -> tresult {
        if size == SymbolicSampleSizes_::kSample32 as i32 {
            kResultOk
        } else {
            kNotImplemented
        }
    }

    unsafe fn getLatencySamples(&self) -> u32 {
        0
    }

    unsafe fn setupProcessing(&self, setup: *mut ProcessSetup) -> tresult {
        // SAFETY: the host passes a valid setup (null is refused).
        if setup.is_null() || (self.fault == "RefuseRate" && (*setup).sampleRate > REFUSE_RATE_ABOVE) {
            return kResultFalse;
        }
        kResultOk
    }

    unsafe fn setProcessing(&self, _state: TBool) -> tresult {
        kResultOk
    }

    unsafe fn process(&self, data: *mut ProcessData) -> tresult {
        let call = self.calls.get();
        self.calls.set(call + 1);
        match self.fault {
            "AbortOnProcess" => std::process::abort(),
            "ProcessError" => return kInternalError,
            "FlakyProcess" if call % 2 == 1 => return kInternalError,
            _ => {}
        }
        // SAFETY: the host passes valid process data for the call.
        let data = &*data;
        if let Some(changes) = vst3::ComRef::from_raw(data.inputParameterChanges) {
            for i in 0..changes.getParameterCount() {
                let Some(queue) = vst3::ComRef::from_raw(changes.getParameterData(i)) else { continue };
                let (mut offset, mut value) = (0, 0.0);
                let points = queue.getPointCount();
                if queue.getParameterId() == 0
                    && points > 0
                    && queue.getPoint(points - 1, &mut offset, &mut value) == kResultOk
                {
                    self.gain.set(value);
                }
            }
        }
        if data.numInputs < 1 || data.numOutputs < 1 || data.numSamples <= 0 {
            return kResultOk;
        }
        let n = data.numSamples as usize;
        let gain = (2.0 * self.gain.get()) as f32;
        // SAFETY: bus 0 of each direction holds `numChannels` channel pointers to `numSamples`
        // frames each (the host's side of the process contract).
        let (ins, outs) = (&*data.inputs, &*data.outputs);
        let channels = ins.numChannels.min(outs.numChannels).max(0) as usize;
        let ins = slice::from_raw_parts(ins.__field0.channelBuffers32, channels);
        let outs = slice::from_raw_parts(outs.__field0.channelBuffers32, channels);
        for (&i, &o) in ins.iter().zip(outs) {
            let (i, o) = (slice::from_raw_parts(i, n), slice::from_raw_parts_mut(o, n));
            for (o, i) in o.iter_mut().zip(i) {
                *o = if self.fault == "NanOutput" { f32::NAN } else { gain * i };
            }
        }
        kResultOk
    }

    unsafe fn getTailSamples(&self) -> u32 {
        0
    }
}

impl IEditControllerTrait for Plugin {
    unsafe fn setComponentState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn setState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getParameterCount(&self) -> i32 {
        1
    }

    unsafe fn getParameterInfo(&self, index: i32, info: *mut ParameterInfo) -> tresult {
        if index != 0 || info.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: a valid ParameterInfo to fill (checked non-null).
        let info = &mut *info;
        info.id = 0;
        copy_wstring("Gain", &mut info.title);
        copy_wstring("Gain", &mut info.shortTitle);
        copy_wstring("x", &mut info.units);
        info.stepCount = 0;
        info.defaultNormalizedValue = 0.5;
        info.unitId = 0;
        info.flags = ParameterInfo_::ParameterFlags_::kCanAutomate;
        kResultOk
    }

    unsafe fn getParamStringByValue(&self, _id: u32, _value: f64, _string: *mut String128) -> tresult {
        kNotImplemented
    }

    unsafe fn getParamValueByString(&self, _id: u32, _string: *mut TChar, _value: *mut f64) -> tresult {
        kNotImplemented
    }

    unsafe fn normalizedParamToPlain(&self, _id: u32, value: f64) -> f64 {
        2.0 * value
    }

    unsafe fn plainParamToNormalized(&self, _id: u32, plain: f64) -> f64 {
        (plain / 2.0).clamp(0.0, 1.0)
    }

    unsafe fn getParamNormalized(&self, id: u32) -> f64 {
        if id == 0 {
            self.gain.get()
        } else {
            0.0
        }
    }

    unsafe fn setParamNormalized(&self, id: u32, value: f64) -> tresult {
        if id != 0 {
            return kInvalidArgument;
        }
        self.gain.set(value);
        kResultOk
    }

    unsafe fn setComponentHandler(&self, _handler: *mut IComponentHandler) -> tresult {
        kResultOk
    }

    unsafe fn createView(&self, _name: *const c_char) -> *mut IPlugView {
        ptr::null_mut()
    }
}

struct Factory;

impl Class for Factory {
    type Interfaces = (IPluginFactory,);
}

impl IPluginFactoryTrait for Factory {
    unsafe fn getFactoryInfo(&self, info: *mut PFactoryInfo) -> tresult {
        // SAFETY: a valid PFactoryInfo to fill (the host's).
        let info = &mut *info;
        copy_cstring("fxmatch tests", &mut info.vendor);
        copy_cstring("", &mut info.url);
        copy_cstring("", &mut info.email);
        info.flags = PFactoryInfo_::FactoryFlags_::kUnicode as int32;
        kResultOk
    }

    unsafe fn countClasses(&self) -> i32 {
        FAULTS.len() as i32
    }

    unsafe fn getClassInfo(&self, index: i32, info: *mut PClassInfo) -> tresult {
        let Some(name) = usize::try_from(index).ok().and_then(|i| FAULTS.get(i)) else {
            return kInvalidArgument;
        };
        // SAFETY: a valid PClassInfo to fill (the host's).
        let info = &mut *info;
        info.cid = cid(index as usize);
        info.cardinality = PClassInfo_::ClassCardinality_::kManyInstances as int32;
        copy_cstring("Audio Module Class", &mut info.category);
        copy_cstring(name, &mut info.name);
        kResultOk
    }

    unsafe fn createInstance(&self, class: FIDString, iid: FIDString, obj: *mut *mut c_void) -> tresult {
        // SAFETY: class ids are 16 bytes (the VST3 contract for FIDString class ids).
        let class = *(class as *const TUID);
        let Some(index) = (0..FAULTS.len()).find(|&i| cid(i) == class) else {
            return kInvalidArgument;
        };
        let fault = FAULTS[index];
        if fault == "AbortOnCreate" {
            std::process::abort();
        }
        let plugin = Plugin { fault, gain: Cell::new(0.5), channels: Cell::new(2), calls: Cell::new(0) };
        let Some(unknown) = ComWrapper::new(plugin).to_com_ptr::<FUnknown>() else {
            return kInternalError;
        };
        let p = unknown.as_ptr();
        // SAFETY: `p` is a live FUnknown; queryInterface adds the reference the caller owns.
        ((*(*p).vtbl).queryInterface)(p, iid as *mut TUID, obj)
    }
}

/// Linux module entry point (the SDK's `ModuleEntry`).
#[no_mangle]
extern "system" fn ModuleEntry(_library_handle: *mut c_void) -> bool {
    true
}

/// Linux module exit point (the SDK's `ModuleExit`).
#[no_mangle]
extern "system" fn ModuleExit() -> bool {
    true
}

/// The module's class factory (an owned reference).
#[no_mangle]
extern "system" fn GetPluginFactory() -> *mut IPluginFactory {
    ComWrapper::new(Factory).to_com_ptr::<IPluginFactory>().map_or(ptr::null_mut(), |f| f.into_raw())
}
