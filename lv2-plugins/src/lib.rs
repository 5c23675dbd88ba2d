//! fxmatch's built-in effects (gain, eq, compressor, distortion, modulation, delay, reverb) as LV2
//! plugins, running exactly the DSP code of fxmatch's chains (`fxmatch::dsp`).
//!
//! # Plugins and ports
//! One plugin per built-in effect, URI `https://fxmatch.dev/plugins/KIND`
//! ([`fxmatch::lv2::export::PLUGIN_URI_BASE`]). Ports: 0/1 left/right audio in, 2/3 left/right
//! audio out, then one control input per parameter in the effect's parameter order, its symbol
//! the parameter id. The TTL is generated from the same `ParamSpec`s by `fxmatch lv2 ttl DIR`
//! (`fxmatch::lv2::export`); `scripts/install_lv2.sh` builds this crate and assembles the
//! bundle.
//!
//! # Host interface (plain FFI)
//! The LV2 C ABI needed here is four small structs and one exported function
//! ([`lv2_descriptor`]), so it is written out by hand rather than pulling in the `lv2` crate
//! family (unmaintained since 2022, and its port/URID machinery is more than a few fixed-layout
//! plugins need).
//!
//! - `instantiate` allocates: it creates the effect and calls `prepare` with the host's sample
//!   rate (22.05 to 192 kHz, as fxmatch's renders; other rates are refused) and the largest
//!   block: `bufsz:maxBlockLength` from the `options` feature when the host gives it (and
//!   `urid:map`), else [`DEFAULT_MAX_BLOCK`]. `run` splits longer calls into chunks, so any
//!   block length works.
//! - `activate` resets the effect (clears delay lines, envelopes, filters). The first `run`
//!   after it applies the control values at once (no glide), like fxmatch's offline renders
//!   (`render` sets parameters, then snaps); later changes glide as in fxmatch's live engine.
//! - `run` reads the control ports, calls `set_param` only for values that changed (clamped and,
//!   for whole-number parameters, rounded as in fxmatch), and processes in place in the output
//!   buffers with flush-to-zero on (`DenormalGuard`, as fxmatch's chain does). It neither
//!   allocates nor locks. In-place hosts (input and output the same buffer) are supported.
//!
//! # Depending on the whole `fxmatch` library
//! This crate depends on `fxmatch` as is, rather than behind a feature that would cut out its
//! heavy parts (tract-onnx, lilv through livi, JACK): the linker keeps only what the plugins
//! reach (the DSP, about 0.8 MB stripped), and it needs only the C runtime: no lilv, JACK or
//! ONNX library (`tests/lv2_plugins.rs` checks the installed binary with `ldd`). A feature
//! split would have touched many modules of the main crate for no change in what the plugins
//! run; the price is compile time (the plugin crate builds the whole fxmatch library).

#![deny(missing_docs)]

use std::ffi::{c_char, c_void, CStr};

use fxmatch::dsp::{builtin, DenormalGuard, BUILTIN_KINDS};
use fxmatch::effect::{Effect, ParamSpec};
use fxmatch::lv2::export::{FIRST_CONTROL_PORT, PORT_IN_L, PORT_IN_R, PORT_OUT_L, PORT_OUT_R};
use fxmatch::render::SUPPORTED_RATES;

/// Largest block prepared for when the host gives no `bufsz:maxBlockLength`; longer `run`
/// calls are processed in chunks of this size.
pub const DEFAULT_MAX_BLOCK: usize = 4096;

/// Upper bound on the host's `bufsz:maxBlockLength` (memory per instance stays bounded; longer
/// runs are chunked anyway).
const MAX_PREPARED_BLOCK: usize = 1 << 16;

const URID_MAP_URI: &CStr = c"http://lv2plug.in/ns/ext/urid#map";
const OPTIONS_URI: &CStr = c"http://lv2plug.in/ns/ext/options#options";
const MAX_BLOCK_URI: &CStr = c"http://lv2plug.in/ns/ext/buf-size#maxBlockLength";
const ATOM_INT_URI: &CStr = c"http://lv2plug.in/ns/ext/atom#Int";

/// `LV2_Feature` (lv2core): a host feature, by URI.
#[repr(C)]
pub struct Lv2Feature {
    /// Feature URI.
    pub uri: *const c_char,
    /// Feature data (meaning given by the URI).
    pub data: *mut c_void,
}

/// `LV2_URID_Map` (urid): the host's URI → integer map.
#[repr(C)]
struct Lv2UridMap {
    handle: *mut c_void,
    map: Option<unsafe extern "C" fn(*mut c_void, *const c_char) -> u32>,
}

/// `LV2_Options_Option` (options).
#[repr(C)]
struct Lv2OptionsOption {
    context: u32,
    subject: u32,
    key: u32,
    size: u32,
    type_: u32,
    value: *const c_void,
}

/// Opaque instance handle given to the host.
pub type Lv2Handle = *mut c_void;

/// `LV2_Descriptor` (lv2core): one plugin's entry points.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Lv2Descriptor {
    /// Plugin URI.
    pub uri: *const c_char,
    /// Create an instance.
    pub instantiate: unsafe extern "C" fn(
        descriptor: *const Lv2Descriptor,
        sample_rate: f64,
        bundle_path: *const c_char,
        features: *const *const Lv2Feature,
    ) -> Lv2Handle,
    /// Connect a port to a buffer.
    pub connect_port: unsafe extern "C" fn(instance: Lv2Handle, port: u32, data: *mut c_void),
    /// Reset, before running.
    pub activate: unsafe extern "C" fn(instance: Lv2Handle),
    /// Process `sample_count` frames.
    pub run: unsafe extern "C" fn(instance: Lv2Handle, sample_count: u32),
    /// Stop running.
    pub deactivate: unsafe extern "C" fn(instance: Lv2Handle),
    /// Free the instance.
    pub cleanup: unsafe extern "C" fn(instance: Lv2Handle),
    /// Extension interfaces (none).
    pub extension_data: unsafe extern "C" fn(uri: *const c_char) -> *const c_void,
}

// SAFETY: a descriptor is immutable static data (a pointer to a static C string and function
// pointers); sharing it between threads is what LV2 hosts do.
unsafe impl Sync for Lv2Descriptor {}

/// Plugin URIs as C strings, in [`BUILTIN_KINDS`] order (a unit test checks both against
/// `fxmatch::lv2::export::plugin_uri`).
const URIS: [&CStr; BUILTIN_KINDS.len()] = [
    c"https://fxmatch.dev/plugins/gain",
    c"https://fxmatch.dev/plugins/eq",
    c"https://fxmatch.dev/plugins/compressor",
    c"https://fxmatch.dev/plugins/distortion",
    c"https://fxmatch.dev/plugins/modulation",
    c"https://fxmatch.dev/plugins/delay",
    c"https://fxmatch.dev/plugins/reverb",
];

const fn descriptor(i: usize) -> Lv2Descriptor {
    Lv2Descriptor {
        uri: URIS[i].as_ptr(),
        instantiate,
        connect_port,
        activate,
        run,
        deactivate,
        cleanup,
        extension_data,
    }
}

static DESCRIPTORS: [Lv2Descriptor; BUILTIN_KINDS.len()] = {
    let mut d = [descriptor(0); BUILTIN_KINDS.len()];
    let mut i = 1;
    while i < d.len() {
        d[i] = descriptor(i);
        i += 1;
    }
    d
};

/// The LV2 entry point: descriptor `index` (one per built-in kind), or null past the last.
///
/// # Safety
/// Callable from any thread; it only reads static data.
#[no_mangle]
pub extern "C" fn lv2_descriptor(index: u32) -> *const Lv2Descriptor {
    DESCRIPTORS.get(index as usize).map_or(std::ptr::null(), |d| d as *const Lv2Descriptor)
}

/// One plugin instance.
struct Instance {
    effect: Box<dyn Effect>,
    specs: Vec<ParamSpec>,
    controls: Vec<*const f32>,
    /// The value last given to `set_param` per parameter (clamped).
    applied: Vec<f32>,
    input: [*const f32; 2],
    output: [*mut f32; 2],
    max_block: usize,
    /// Activated and not run since: apply the controls without gliding.
    fresh: bool,
}

/// The host's `bufsz:maxBlockLength`, if it passes `options` with it and `urid:map`.
///
/// # Safety
/// `features` is null or a null-terminated array of valid features (LV2's contract).
unsafe fn host_max_block(features: *const *const Lv2Feature) -> Option<usize> {
    if features.is_null() {
        return None;
    }
    let mut map: *const Lv2UridMap = std::ptr::null();
    let mut options: *const Lv2OptionsOption = std::ptr::null();
    let mut f = features;
    // SAFETY: the array is null-terminated and each entry points to a valid feature whose URI is
    // a C string (LV2 core); we stop at the terminating null.
    unsafe {
        while !(*f).is_null() {
            let feature = &**f;
            if !feature.uri.is_null() {
                let uri = CStr::from_ptr(feature.uri);
                if uri == URID_MAP_URI {
                    map = feature.data as *const Lv2UridMap;
                } else if uri == OPTIONS_URI {
                    options = feature.data as *const Lv2OptionsOption;
                }
            }
            f = f.add(1);
        }
    }
    if map.is_null() || options.is_null() {
        return None;
    }
    // SAFETY: `map` is the host's LV2_URID_Map (urid:map's data), valid during instantiate.
    let (handle, map_fn) = unsafe { ((*map).handle, (*map).map?) };
    // SAFETY: map_fn is the host's mapping function, called with its handle and C strings.
    let (key, int_type) =
        unsafe { (map_fn(handle, MAX_BLOCK_URI.as_ptr()), map_fn(handle, ATOM_INT_URI.as_ptr())) };
    let mut o = options;
    // SAFETY: the options array ends with an entry whose key is 0 and value null (options
    // extension); an atom:Int value points to an i32.
    unsafe {
        while (*o).key != 0 || !(*o).value.is_null() {
            let opt = &*o;
            if opt.key == key && opt.type_ == int_type && opt.size as usize >= 4 && !opt.value.is_null() {
                let v = *(opt.value as *const i32);
                return (v > 0).then_some(v as usize);
            }
            o = o.add(1);
        }
    }
    None
}

unsafe extern "C" fn instantiate(
    descriptor: *const Lv2Descriptor,
    sample_rate: f64,
    _bundle_path: *const c_char,
    features: *const *const Lv2Feature,
) -> Lv2Handle {
    let Some(index) = DESCRIPTORS.iter().position(|d| std::ptr::eq(d, descriptor)) else {
        return std::ptr::null_mut();
    };
    let rate = sample_rate.round();
    if !(rate >= *SUPPORTED_RATES.start() as f64 && rate <= *SUPPORTED_RATES.end() as f64) {
        eprintln!(
            "fxmatch LV2: sample rate {sample_rate} Hz is outside the supported {}..{} Hz",
            SUPPORTED_RATES.start(),
            SUPPORTED_RATES.end()
        );
        return std::ptr::null_mut();
    }
    let Some(mut effect) = builtin(BUILTIN_KINDS[index]) else {
        return std::ptr::null_mut();
    };
    // SAFETY: `features` comes from the host per LV2's contract (null-terminated array).
    let max_block =
        unsafe { host_max_block(features) }.unwrap_or(DEFAULT_MAX_BLOCK).clamp(1, MAX_PREPARED_BLOCK);
    effect.prepare(sample_rate as f32, max_block);
    let specs = effect.params().to_vec();
    let applied = specs.iter().map(|s| s.default).collect();
    let n = specs.len();
    let instance = Box::new(Instance {
        effect,
        specs,
        controls: vec![std::ptr::null(); n],
        applied,
        input: [std::ptr::null(); 2],
        output: [std::ptr::null_mut(); 2],
        max_block,
        fresh: true,
    });
    Box::into_raw(instance) as Lv2Handle
}

unsafe extern "C" fn connect_port(instance: Lv2Handle, port: u32, data: *mut c_void) {
    // SAFETY: `instance` came from `instantiate` (Box<Instance>) and LV2 forbids calling
    // connect_port concurrently with another function of the same instance.
    let inst = unsafe { &mut *(instance as *mut Instance) };
    match port {
        PORT_IN_L => inst.input[0] = data as *const f32,
        PORT_IN_R => inst.input[1] = data as *const f32,
        PORT_OUT_L => inst.output[0] = data as *mut f32,
        PORT_OUT_R => inst.output[1] = data as *mut f32,
        p => {
            if let Some(slot) = inst.controls.get_mut((p - FIRST_CONTROL_PORT) as usize) {
                *slot = data as *const f32;
            }
        }
    }
}

unsafe extern "C" fn activate(instance: Lv2Handle) {
    // SAFETY: as in `connect_port`.
    let inst = unsafe { &mut *(instance as *mut Instance) };
    inst.effect.reset();
    inst.fresh = true;
}

unsafe extern "C" fn run(instance: Lv2Handle, sample_count: u32) {
    // SAFETY: as in `connect_port`; `run` is never called concurrently on one instance.
    let inst = unsafe { &mut *(instance as *mut Instance) };
    let _ftz = DenormalGuard::new();
    for (i, port) in inst.controls.iter().enumerate() {
        if port.is_null() {
            continue;
        }
        // SAFETY: a connected control port points to one f32 that is valid during `run`.
        let raw = unsafe { port.read() };
        let v = inst.specs[i].clamp(raw);
        if v.to_bits() != inst.applied[i].to_bits() {
            inst.effect.set_param(i, v);
            inst.applied[i] = v;
        }
    }
    if inst.fresh {
        inst.effect.snap();
        inst.fresh = false;
    }
    let n = sample_count as usize;
    let [in_l, in_r] = inst.input;
    let [out_l, out_r] = inst.output;
    if n == 0 || in_l.is_null() || in_r.is_null() || out_l.is_null() || out_r.is_null() {
        return;
    }
    // SAFETY: connected audio ports hold `sample_count` floats during `run`. `ptr::copy` allows
    // overlap (in-place hosts pass the same buffer for input and output); when the right input
    // is the left output buffer, it is copied first so that it is not overwritten.
    unsafe {
        if std::ptr::eq(in_r, out_l) {
            std::ptr::copy(in_r, out_r, n);
            std::ptr::copy(in_l, out_l, n);
        } else {
            std::ptr::copy(in_l, out_l, n);
            std::ptr::copy(in_r, out_r, n);
        }
    }
    if std::ptr::eq(out_l, out_r) {
        // Both outputs on one buffer: no valid stereo layout; leave the copied input.
        return;
    }
    // SAFETY: the two output buffers are distinct, each holds `n` floats, and nothing else
    // accesses them during `run`.
    let (left, right) =
        unsafe { (std::slice::from_raw_parts_mut(out_l, n), std::slice::from_raw_parts_mut(out_r, n)) };
    for (l, r) in left.chunks_mut(inst.max_block).zip(right.chunks_mut(inst.max_block)) {
        inst.effect.process(l, r);
    }
}

unsafe extern "C" fn deactivate(_instance: Lv2Handle) {}

unsafe extern "C" fn cleanup(instance: Lv2Handle) {
    if !instance.is_null() {
        // SAFETY: `instance` came from Box::into_raw in `instantiate` and the host frees it once.
        drop(unsafe { Box::from_raw(instance as *mut Instance) });
    }
}

unsafe extern "C" fn extension_data(_uri: *const c_char) -> *const c_void {
    std::ptr::null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fxmatch::lv2::export::plugin_uri;

    #[test]
    fn descriptors_match_the_builtin_kinds_and_uris() {
        assert_eq!(BUILTIN_KINDS.len(), DESCRIPTORS.len());
        for (i, kind) in BUILTIN_KINDS.iter().enumerate() {
            let d = lv2_descriptor(i as u32);
            assert!(!d.is_null());
            // SAFETY: non-null descriptors point into DESCRIPTORS, whose URIs are C strings.
            let uri = unsafe { CStr::from_ptr((*d).uri) };
            assert_eq!(uri.to_str().unwrap(), plugin_uri(kind));
        }
        assert!(lv2_descriptor(DESCRIPTORS.len() as u32).is_null());
    }

    /// Run a plugin through its C entry points in odd block sizes, in place, and compare with
    /// the effect processed directly in one go.
    #[test]
    fn plugin_matches_the_effect_in_any_block_size_and_in_place() {
        let sr = 48_000.0;
        let n = 5000;
        let input: Vec<f32> =
            (0..n).map(|i| ((i as f32 * 0.031).sin() * 0.6) * ((i % 700) as f32 / 700.0)).collect();
        for (k, kind) in BUILTIN_KINDS.iter().enumerate() {
            let mut reference = builtin(kind).unwrap();
            reference.prepare(sr, 512);
            let mut values: Vec<f32> = reference.params().iter().map(|p| p.default).collect();
            // Non-default: 30 % of the way from min to max for every parameter.
            for (v, p) in values.iter_mut().zip(reference.params()) {
                *v = p.clamp(p.min + 0.3 * (p.max - p.min));
            }
            for (i, v) in values.iter().enumerate() {
                reference.set_param(i, *v);
            }
            reference.snap();
            let (mut rl, mut rr) = (input.clone(), input.iter().map(|x| -0.5 * x).collect::<Vec<_>>());
            for (l, r) in rl.chunks_mut(512).zip(rr.chunks_mut(512)) {
                reference.process(l, r);
            }

            let d = lv2_descriptor(k as u32);
            // SAFETY: a valid descriptor, features array with just the terminator, and buffers
            // that outlive every call; ports are connected before run.
            unsafe {
                let terminator: [*const Lv2Feature; 1] = [std::ptr::null()];
                let h = ((*d).instantiate)(d, sr as f64, c"".as_ptr(), terminator.as_ptr());
                assert!(!h.is_null());
                let mut l = input.clone();
                let mut r: Vec<f32> = input.iter().map(|x| -0.5 * x).collect();
                let mut controls = values.clone();
                ((*d).connect_port)(h, 0, l.as_mut_ptr() as *mut c_void);
                ((*d).connect_port)(h, 1, r.as_mut_ptr() as *mut c_void);
                ((*d).connect_port)(h, 2, l.as_mut_ptr() as *mut c_void);
                ((*d).connect_port)(h, 3, r.as_mut_ptr() as *mut c_void);
                for (i, c) in controls.iter_mut().enumerate() {
                    ((*d).connect_port)(h, FIRST_CONTROL_PORT + i as u32, c as *mut f32 as *mut c_void);
                }
                ((*d).activate)(h);
                let mut start = 0;
                for len in [1usize, 7, 64, 333, 4097].iter().cycle() {
                    if start >= n {
                        break;
                    }
                    let len = (*len).min(n - start);
                    ((*d).connect_port)(h, 0, l.as_mut_ptr().add(start) as *mut c_void);
                    ((*d).connect_port)(h, 1, r.as_mut_ptr().add(start) as *mut c_void);
                    ((*d).connect_port)(h, 2, l.as_mut_ptr().add(start) as *mut c_void);
                    ((*d).connect_port)(h, 3, r.as_mut_ptr().add(start) as *mut c_void);
                    ((*d).run)(h, len as u32);
                    start += len;
                }
                ((*d).deactivate)(h);
                ((*d).cleanup)(h);
                let max = l
                    .iter()
                    .zip(&rl)
                    .chain(r.iter().zip(&rr))
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(max <= 1e-6, "{kind}: plugin differs from the effect by {max}");
                assert!(l.iter().zip(&input).any(|(a, b)| a != b), "{kind}: output is the input");
            }
        }
    }
}
