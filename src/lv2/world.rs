//! The process-wide LV2 world: which plugins are installed, what their ports are, and whether
//! fxmatch can host them.
//!
//! # One shared world
//! Loading every installed bundle's TTL takes a noticeable fraction of a second, and the
//! matcher builds one chain per worker thread from the same spec, so the world is loaded once
//! per process and shared behind a [`Mutex`]. The `lilv` crate already serialises its own calls
//! on a per-world lock, and lilv itself is not documented as thread-safe, so the extra mutex
//! costs nothing and makes the rule explicit: the world is only touched off the audio thread
//! (chain parsing and [`crate::effect::Effect::prepare`]). Running instances never call into the
//! world, so worker threads process in parallel without contention.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use super::ports::{control_param, read_ports, PortInfo, PortKind, Uris};
use crate::effect::ParamSpec;

/// How fxmatch runs a plugin's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Two main inputs and two main outputs: one instance processes left and right.
    Stereo,
    /// One main input and one main output: two instances with the same control values, one
    /// for the left channel and one for the right.
    DualMono,
}

/// Everything fxmatch knows about one installed plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The plugin's URI.
    pub uri: String,
    /// Its name.
    pub name: String,
    /// Its class label, e.g. `Equaliser Plugin`.
    pub class: String,
    /// Main (not side-chain) audio inputs.
    pub audio_inputs: usize,
    /// Main audio outputs.
    pub audio_outputs: usize,
    /// Side-chain audio inputs (fed silence).
    pub side_chain_inputs: usize,
    /// Features the plugin cannot run without.
    pub required_features: Vec<String>,
    /// Options (`opts:requiredOption`) the plugin cannot run without.
    pub required_options: Vec<String>,
    /// How fxmatch runs it, or why it cannot.
    pub layout: Result<Layout, String>,
    /// Every port.
    pub ports: Vec<PortInfo>,
    /// Control inputs that can be parameters, in port order (see [`control_param`]).
    #[serde(skip)]
    pub params: Vec<(usize, ParamSpec)>,
}

impl PluginInfo {
    /// The plugin can be hosted.
    pub fn hostable(&self) -> bool {
        self.layout.is_ok()
    }

    /// The parameter specs, in port order.
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        self.params.iter().map(|(_, s)| s.clone()).collect()
    }
}

/// Features fxmatch (through livi) gives plugins: `urid:map`, `urid:unmap`, `options` (see
/// [`SUPPORTED_OPTIONS`]), `bufsz:boundedBlockLength`, `worker:schedule`, `state:loadDefaultState`.
/// `lv2core#hardRTCapable` is a plugin property that some plugins list as a feature.
pub fn supported_features() -> Vec<&'static str> {
    let mut v: Vec<&str> = livi::Features::supported_features().into_iter().collect();
    v.push("http://lv2plug.in/ns/lv2core#hardRTCapable");
    v.sort_unstable();
    v
}

/// The entries of the `options` feature every plugin instance gets: min, max and nominal block
/// length and the sample rate (the last two through the patched livi, vendor/livi/PATCHED.md).
/// A plugin that lists another `opts:requiredOption` is refused, naming it.
pub const SUPPORTED_OPTIONS: [&str; 4] = [
    "http://lv2plug.in/ns/ext/buf-size#minBlockLength",
    "http://lv2plug.in/ns/ext/buf-size#maxBlockLength",
    "http://lv2plug.in/ns/ext/buf-size#nominalBlockLength",
    "http://lv2plug.in/ns/ext/parameters#sampleRate",
];

/// The options of `required` that fxmatch does not give.
fn missing_options(required: &[String]) -> Vec<&str> {
    required.iter().map(String::as_str).filter(|o| !SUPPORTED_OPTIONS.contains(o)).collect()
}

struct Shared {
    world: livi::World,
    cache: HashMap<String, Arc<PluginInfo>>,
}

static WORLD: OnceLock<Mutex<Shared>> = OnceLock::new();

/// Run `f` with the loaded world (loaded on first use; `LV2_PATH` is honoured).
pub(crate) fn with_world<R>(f: impl FnOnce(&livi::World) -> R) -> R {
    let shared = shared();
    let guard = shared.lock().unwrap_or_else(|e| e.into_inner());
    f(&guard.world)
}

fn shared() -> &'static Mutex<Shared> {
    WORLD.get_or_init(|| Mutex::new(Shared { world: livi::World::new(), cache: HashMap::new() }))
}

fn describe(world: &livi::World, plugin: &livi::lilv::plugin::Plugin, uris: &Uris) -> PluginInfo {
    let uri = plugin.uri().as_uri().unwrap_or("").to_string();
    let name = plugin.name().as_str().unwrap_or("").to_string();
    let class = plugin.class().label().as_str().unwrap_or("").to_string();
    let ports = read_ports(plugin, uris);
    let required_features: Vec<String> =
        plugin.required_features().iter().filter_map(|n| n.as_uri().map(String::from)).collect();
    let audio = |input: bool, side: bool| {
        ports.iter().filter(|p| p.kind == PortKind::Audio && p.input == input && p.side_chain == side).count()
    };
    let (audio_inputs, audio_outputs, side_chain_inputs) =
        (audio(true, false), audio(false, false), audio(true, true));
    let required_options: Vec<String> =
        plugin.value(&uris.required_option).iter().filter_map(|n| n.as_uri().map(String::from)).collect();
    let supported = supported_features();
    let missing: Vec<&str> =
        required_features.iter().map(String::as_str).filter(|f| !supported.contains(f)).collect();
    let missing_options = missing_options(&required_options);
    let layout = if !missing.is_empty() {
        Err(format!("requires the LV2 feature(s) {}, which fxmatch does not provide", missing.join(", ")))
    } else if !missing_options.is_empty() {
        Err(format!("requires the LV2 option(s) {}, which fxmatch does not give", missing_options.join(", ")))
    } else if let Some(p) = ports.iter().find(|p| p.kind == PortKind::Other) {
        Err(format!("port `{}` is of a type fxmatch cannot connect", p.symbol))
    } else if world.plugin_by_uri(&uri).is_none() {
        Err("livi cannot connect its ports (e.g. an atom port that is not an atom:Sequence)".into())
    } else {
        match (audio_inputs, audio_outputs) {
            (2, 2) => Ok(Layout::Stereo),
            (1, 1) => Ok(Layout::DualMono),
            (i, o) => Err(format!(
                "has {i} audio input(s) and {o} output(s); fxmatch hosts stereo (2 in, 2 out) \
                 or mono (1 in, 1 out, run dual-mono) effects"
            )),
        }
    };
    let params = ports.iter().filter_map(|p| control_param(p).ok().map(|s| (p.index, s))).collect();
    PluginInfo {
        uri,
        name,
        class,
        audio_inputs,
        audio_outputs,
        side_chain_inputs,
        required_features,
        required_options,
        layout,
        ports,
        params,
    }
}

/// The installed plugin with this URI, described (cached per process), or `None`.
pub fn plugin_info(uri: &str) -> Option<Arc<PluginInfo>> {
    let mut guard = shared().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(info) = guard.cache.get(uri) {
        return Some(info.clone());
    }
    let info = {
        let world = &guard.world;
        let raw = world.raw();
        let node = raw.new_uri(uri);
        let plugin = raw.plugins().plugin(&node)?;
        Arc::new(describe(world, &plugin, &Uris::new(raw)))
    };
    guard.cache.insert(uri.to_string(), info.clone());
    Some(info)
}

/// Every installed plugin, sorted by URI.
pub fn list_plugins() -> Vec<PluginInfo> {
    with_world(|world| {
        let raw = world.raw();
        let uris = Uris::new(raw);
        let mut all: Vec<PluginInfo> = raw.plugins().iter().map(|p| describe(world, &p, &uris)).collect();
        all.sort_by(|a, b| a.uri.cmp(&b.uri));
        all
    })
}

/// The Debian package that ships plugins under this URI, when known.
pub fn package_hint(uri: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("http://drobilla.net/plugins/mda/", "mda-lv2"),
        ("urn:zamaudio:", "zam-plugins"),
        ("http://plugin.org.uk/swh-plugins/", "swh-lv2"),
        ("http://gareus.org/oss/lv2/", "x42-plugins"),
        ("http://calf.sourceforge.net/plugins/", "calf-plugins"),
        ("http://lsp-plug.in/", "lsp-plugins-lv2"),
        ("http://guitarix.sourceforge.net/", "guitarix-lv2"),
    ];
    KNOWN.iter().find(|(prefix, _)| uri.starts_with(prefix)).map(|(_, pkg)| *pkg)
}

/// The fix for an unknown URI: where to look, what to install.
pub fn unknown_uri_fix(uri: &str) -> String {
    match package_hint(uri) {
        Some(pkg) => format!("install it (`apt install {pkg}`), or use a URI that `fxmatch plugins` lists"),
        None => "use a URI that `fxmatch plugins` lists (`lv2ls` too), or install the plugin's package \
                 (e.g. `apt install mda-lv2 zam-plugins`)"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_fxmatch_gives_are_not_missing() {
        let required = vec![
            "http://lv2plug.in/ns/ext/buf-size#nominalBlockLength".to_string(),
            "http://lv2plug.in/ns/ext/parameters#sampleRate".to_string(),
            "http://example.org/options#frobnication".to_string(),
        ];
        assert_eq!(missing_options(&required), ["http://example.org/options#frobnication"]);
    }
}
