//! LV2 presets read by lilv itself: the presets a plugin's bundles list (factory presets such as
//! ZamCompX2's "VocalLeveller", or bundles written by `fxmatch preset export`), and one preset's
//! port values, so that a chain file can start a plugin from a preset (`preset = "..."`).
//!
//! Port values only: fxmatch hosts plugins by their control ports, so preset properties saved
//! through the LV2 State interface (sample paths, internal blobs) are not restored; a preset that
//! carries only such properties is refused, naming it.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};

use livi::lilv::state::{SetPortValue, Value};
use lv2_raw::{LV2Urid, LV2UridMap, LV2UridMapHandle};

use super::world::with_world;

const PRESET_CLASS: &str = "http://lv2plug.in/ns/ext/presets#Preset";
const RDFS_LABEL: &str = "http://www.w3.org/2000/01/rdf-schema#label";

/// One preset a plugin lists.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PresetInfo {
    /// The preset's URI.
    pub uri: String,
    /// Its label (`rdfs:label`), empty when it has none.
    pub label: String,
}

/// A preset's control-port values, as lilv read them.
#[derive(Debug, Clone, PartialEq)]
pub struct PresetValues {
    /// The preset.
    pub preset: PresetInfo,
    /// (port symbol, value) in the order lilv emits them.
    pub values: Vec<(String, f32)>,
}

/// The presets of the installed plugin `plugin_uri`, sorted by label. Errors name a plugin that
/// is not installed.
pub fn plugin_presets(plugin_uri: &str) -> Result<Vec<PresetInfo>, String> {
    with_world(|world| {
        let raw = world.raw();
        let plugin = raw
            .plugins()
            .plugin(&raw.new_uri(plugin_uri))
            .ok_or_else(|| format!("LV2 plugin `{plugin_uri}` is not installed"))?;
        let (class, label) = (raw.new_uri(PRESET_CLASS), raw.new_uri(RDFS_LABEL));
        let mut presets: Vec<PresetInfo> = Vec::new();
        for node in plugin.related(Some(&class)).iter().flat_map(|nodes| nodes.iter()) {
            let Some(uri) = node.as_uri().map(String::from) else { continue };
            // A preset's port values live in the file its manifest points to (rdfs:seeAlso).
            // None: nothing more to load (the data may be in the manifest already).
            let _ = raw.load_resource(&node);
            let label = raw
                .get(Some(&node), Some(&label), None)
                .and_then(|l| l.as_str().map(String::from))
                .unwrap_or_default();
            presets.push(PresetInfo { uri, label });
        }
        presets.sort_by(|a, b| a.label.cmp(&b.label).then_with(|| a.uri.cmp(&b.uri)));
        Ok(presets)
    })
}

/// The port values of the preset `preset` (its URI, or its label, case-insensitive) of the
/// plugin `plugin_uri`. The error names what is missing and, for an unknown preset, lists the
/// ones there are.
pub fn load_preset(plugin_uri: &str, preset: &str) -> Result<PresetValues, String> {
    let presets = plugin_presets(plugin_uri)?;
    let found = presets
        .iter()
        .find(|p| p.uri == preset)
        .or_else(|| presets.iter().find(|p| p.label.eq_ignore_ascii_case(preset)))
        .cloned()
        .ok_or_else(|| {
            if presets.is_empty() {
                format!("LV2 plugin `{plugin_uri}` has no presets, so `{preset}` is not one of them")
            } else {
                let labels: Vec<String> = presets.iter().map(|p| format!("\"{}\"", p.label)).collect();
                format!(
                    "LV2 plugin `{plugin_uri}` has no preset `{preset}`; its presets: {}",
                    labels.join(", ")
                )
            }
        })?;
    let mut table = UridTable::default();
    let mut map = LV2UridMap { handle: (&mut table as *mut UridTable).cast::<c_void>(), map: map_uri };
    let values = with_world(|world| {
        let raw = world.raw();
        let state = raw
            .new_state(&mut map, &raw.new_uri(&found.uri))
            .ok_or_else(|| format!("lilv could not read the preset `{}`", found.uri))?;
        let applies_to = state.plugin_uri().as_uri().map(String::from).unwrap_or_default();
        if applies_to != plugin_uri {
            return Err(format!("preset `{}` is for `{applies_to}`, not `{plugin_uri}`", found.uri));
        }
        let mut collector =
            Collector { types: TypeIds::from(&table), values: Vec::new(), errors: Vec::new() };
        state.emit_port_values(Some(&mut collector));
        if let Some(e) = collector.errors.first() {
            return Err(format!("preset `{}`: {e}", found.uri));
        }
        if collector.values.is_empty() {
            return Err(format!(
                "preset `{}` sets no control port (plugin state properties are not restored by fxmatch)",
                found.uri
            ));
        }
        Ok(collector.values)
    })?;
    Ok(PresetValues { preset: found, values })
}

/// URIs to numbers while lilv reads one preset (lilv maps the value types through it).
#[derive(Default)]
struct UridTable {
    ids: HashMap<Vec<u8>, LV2Urid>,
}

impl UridTable {
    fn get(&self, uri: &str) -> Option<LV2Urid> {
        self.ids.get(uri.as_bytes()).copied()
    }
}

extern "C" fn map_uri(handle: LV2UridMapHandle, uri: *const c_char) -> LV2Urid {
    if handle.is_null() || uri.is_null() {
        return 0;
    }
    // SAFETY: `handle` is the `UridTable` that `load_preset` owns and lends to lilv only for
    // the `new_state` call, on this thread; nothing else touches the table meanwhile.
    let table = unsafe { &mut *handle.cast::<UridTable>() };
    // SAFETY: lilv passes a NUL-terminated URI string that outlives the call.
    let key = unsafe { CStr::from_ptr(uri) }.to_bytes().to_vec();
    let next = table.ids.len() as LV2Urid + 1;
    *table.ids.entry(key).or_insert(next)
}

/// The URIDs of the atom types a port value can come as (`None`: lilv never mapped it).
struct TypeIds {
    float: Option<LV2Urid>,
    double: Option<LV2Urid>,
    int: Option<LV2Urid>,
    long: Option<LV2Urid>,
    bool: Option<LV2Urid>,
}

impl From<&UridTable> for TypeIds {
    fn from(t: &UridTable) -> Self {
        let atom = |name: &str| t.get(&format!("http://lv2plug.in/ns/ext/atom#{name}"));
        Self {
            float: atom("Float"),
            double: atom("Double"),
            int: atom("Int"),
            long: atom("Long"),
            bool: atom("Bool"),
        }
    }
}

struct Collector {
    types: TypeIds,
    values: Vec<(String, f32)>,
    errors: Vec<String>,
}

impl SetPortValue for Collector {
    fn set_port_value(&mut self, port_symbol: &str, value: Value, size: u32, type_: u32) {
        let t = Some(type_);
        let fits = |n: usize| !value.is_null() && size as usize >= n;
        // SAFETY (each read below): lilv hands a pointer to `size` bytes holding one value of
        // the atom type `type_`; `fits` checked the pointer and the size, and
        // `read_unaligned` does not assume alignment.
        let v = if t == self.types.float && fits(4) {
            Some(unsafe { value.cast::<f32>().read_unaligned() })
        } else if t == self.types.double && fits(8) {
            Some(unsafe { value.cast::<f64>().read_unaligned() } as f32)
        } else if (t == self.types.int || t == self.types.bool) && fits(4) {
            Some(unsafe { value.cast::<i32>().read_unaligned() } as f32)
        } else if t == self.types.long && fits(8) {
            Some(unsafe { value.cast::<i64>().read_unaligned() } as f32)
        } else {
            None
        };
        match v {
            Some(v) if v.is_finite() => self.values.push((port_symbol.to_string(), v)),
            _ => {
                self.errors.push(format!("port `{port_symbol}` has a value fxmatch cannot read as a number"))
            }
        }
    }
}
