//! What fxmatch knows about a VST3 plugin before running it ([`PluginDesc`]: layout,
//! parameters as [`ParamSpec`]s), read once from a probe instance and cached, and the listing
//! of installed plugins.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::instance::{
    Instance, ParamInfo, MONO, PARAM_BYPASS, PARAM_HIDDEN, PARAM_PROGRAM_CHANGE, PARAM_READ_ONLY, STEREO,
};
use super::module::{self, ClassInfo, Module};
use super::Vst3Error;
use crate::effect::{Mapping, ParamSpec};

/// How a plugin's audio is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// One instance with stereo main buses.
    Stereo,
    /// Mono main buses: two instances, one per channel, with the same parameter values.
    DualMono,
}

impl Layout {
    pub(crate) fn arrangement(self) -> vst3::Steinberg::Vst::SpeakerArrangement {
        match self {
            Layout::Stereo => STEREO,
            Layout::DualMono => MONO,
        }
    }

    pub(crate) fn instances(self) -> usize {
        match self {
            Layout::Stereo => 1,
            Layout::DualMono => 2,
        }
    }
}

/// A hostable VST3 plugin: where it is, how it runs, its parameters.
pub struct PluginDesc {
    /// The loaded module.
    pub module: Arc<Module>,
    /// The plugin's class in the module's factory.
    pub class: ClassInfo,
    /// Stereo or dual-mono.
    pub layout: Layout,
    /// Auxiliary (side-chain) input buses, fed silence.
    pub side_chain_inputs: usize,
    /// Component and controller are separate objects.
    pub split: bool,
    /// Latency the plugin reports, in samples (at 48 kHz).
    pub latency: u32,
    /// Every parameter the controller lists, with the reason it is not a free parameter.
    pub all_params: Vec<(ParamInfo, Option<&'static str>)>,
    /// The usable parameters, in [`PluginDesc::specs`] order.
    pub params: Vec<ParamInfo>,
    /// The usable parameters as fxmatch parameters (see [`param_spec`]).
    pub specs: Vec<ParamSpec>,
}

impl PluginDesc {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.class.name
    }

    /// Index of a parameter by symbol, title (exact) or VST3 id (`"17"`).
    pub fn find_param(&self, name: &str) -> Option<usize> {
        self.specs
            .iter()
            .position(|s| s.id == name)
            .or_else(|| self.params.iter().position(|p| p.title == name))
            .or_else(|| name.parse::<u32>().ok().and_then(|id| self.params.iter().position(|p| p.id == id)))
    }
}

/// Why a parameter cannot be searched (read-only meters, hidden, program change, bypass).
fn unusable(p: &ParamInfo) -> Option<&'static str> {
    if p.flags & PARAM_READ_ONLY != 0 {
        Some("read-only (an output)")
    } else if p.flags & PARAM_BYPASS != 0 {
        Some("the plugin's bypass (fxmatch bypasses effects itself)")
    } else if p.flags & PARAM_PROGRAM_CHANGE != 0 {
        Some("a program change")
    } else if p.flags & PARAM_HIDDEN != 0 {
        Some("hidden")
    } else {
        None
    }
}

/// A parameter symbol from its title: lower case, runs of other characters as `_`.
fn symbol(title: &str, id: u32) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') && !s.is_empty() {
            s.push('_');
        }
    }
    let s = s.trim_end_matches('_').to_string();
    if s.is_empty() {
        format!("p{id}")
    } else {
        s
    }
}

/// A VST3 parameter as an fxmatch parameter, in the plugin's normalised units:
/// - continuous parameters (`stepCount` 0) range over `0..1` (linear: the plugin's own
///   normalised value, whatever curve it maps onto its plain units);
/// - stepped ones (`stepCount` N) are discrete over `0..N` (the step; the plugin receives
///   step / N) and change live by crossfade;
/// - the neutral value is the plugin's default, except a continuous wet/dry mix (`mix` or
///   `wet` in the title), which is neutral fully dry (normalised 0).
pub fn param_spec(p: &ParamInfo, id: &str) -> ParamSpec {
    let words = p.title.to_ascii_lowercase();
    if p.step_count > 0 {
        let max = p.step_count as f32;
        let default = (p.default_normalized as f32 * max).round().clamp(0.0, max);
        ParamSpec::new(id, &p.title, "step", 0.0, max, default, Mapping::Discrete).with_neutral(default)
    } else {
        let default = (p.default_normalized as f32).clamp(0.0, 1.0);
        let dry = (words.contains("mix") || words.contains("wet")) && p.plain_min <= p.plain_max;
        ParamSpec::new(id, &p.title, "", 0.0, 1.0, default, Mapping::Linear).with_neutral(if dry {
            0.0
        } else {
            default
        })
    }
}

fn describe(
    module: &Arc<Module>,
    class: &ClassInfo,
    require: Option<Layout>,
) -> Result<PluginDesc, Vst3Error> {
    let tries: Vec<Layout> = match require {
        Some(l) => vec![l],
        None => vec![Layout::Stereo, Layout::DualMono],
    };
    let mut why = Vec::new();
    let mut found = None;
    for layout in tries {
        match Instance::new(module, class, DESCRIBE_RATE, DESCRIBE_BLOCK, layout.arrangement()) {
            Ok(inst) => {
                found = Some((layout, inst));
                break;
            }
            Err(e) => why.push(e),
        }
    }
    let Some((layout, inst)) = found else {
        // Both layouts fail alike when the plugin fails before its buses are arranged.
        why.dedup();
        let fix = if why.iter().all(|w| w.contains("refused the bus arrangement")) {
            "choose another plugin: fxmatch runs effects with stereo or mono main buses (`fxmatch plugins` lists them)"
        } else {
            "remove the effect from the chain file (or use another plugin), or update the plugin: it fails \
             before it processes any audio"
        };
        return Err(Vst3Error::new(
            format!(
                "VST3 plugin `{}` ({}) cannot be hosted: {}",
                class.name,
                module.bundle.display(),
                why.join("; and ")
            ),
            fix,
        ));
    };
    let all = inst.params();
    let mut params = Vec::new();
    let mut specs: Vec<ParamSpec> = Vec::new();
    let mut all_params = Vec::new();
    for p in all {
        let reason = unusable(&p);
        if reason.is_none() {
            let mut id = symbol(&p.title, p.id);
            if specs.iter().any(|s| s.id == id) {
                id = format!("{id}_{}", p.id);
            }
            specs.push(param_spec(&p, &id));
            params.push(p.clone());
        }
        all_params.push((p, reason));
    }
    Ok(PluginDesc {
        module: module.clone(),
        class: class.clone(),
        layout,
        side_chain_inputs: inst.side_chain_inputs,
        split: inst.split,
        latency: inst.latency,
        all_params,
        params,
        specs,
    })
}

/// Described plugins by module binary and class id.
type DescCache = Vec<(PathBuf, [std::ffi::c_char; 16], Arc<PluginDesc>)>;
static DESCS: Mutex<DescCache> = Mutex::new(Vec::new());

/// The plugin a chain file names (bundle path or name, see [`module::find`]), described once
/// per process and cached. Describing loads and instantiates the plugin in this process, so it
/// is first run by the crash probe in a child process ([`super::probe::probe_in_child`], at
/// the rate and block size of the description): a plugin that crashes there is an error here.
pub fn plugin_desc(reference: &str) -> Result<Arc<PluginDesc>, Vst3Error> {
    super::probe::probe_in_child(reference, DESCRIBE_RATE as u32, DESCRIBE_BLOCK)
        .map_err(|e| Vst3Error::new(e.message(), e.fix()))?;
    let (module, class) = module::find(reference)?;
    desc_of(&module, &class)
}

/// Sample rate of the instance a plugin is described with.
pub const DESCRIBE_RATE: f32 = 48_000.0;
/// Block size of the instance a plugin is described with.
pub const DESCRIBE_BLOCK: usize = 512;

/// Describe a found plugin in this process (no crash probe), cached.
pub(crate) fn desc_of(module: &Arc<Module>, class: &ClassInfo) -> Result<Arc<PluginDesc>, Vst3Error> {
    let mut cache = DESCS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, d)) = cache.iter().find(|(b, c, _)| *b == module.binary && *c == class.cid) {
        return Ok(d.clone());
    }
    let d = Arc::new(describe(module, class, None)?);
    cache.push((module.binary.clone(), class.cid, d.clone()));
    Ok(d)
}

/// Describe a plugin with one layout only (tests: a layout the plugin refuses).
pub fn describe_with_layout(reference: &str, layout: Layout) -> Result<PluginDesc, Vst3Error> {
    let (module, class) = module::find(reference)?;
    describe(&module, &class, Some(layout))
}

/// Every VST3 plugin in the search paths: described, or why not (a bundle that does not load,
/// a plugin that cannot be hosted).
pub fn list_plugins() -> Vec<Result<Arc<PluginDesc>, (PathBuf, Vst3Error)>> {
    let mut out = Vec::new();
    for bundle in module::installed_bundles() {
        match module::load(&bundle) {
            Ok(m) if m.classes.is_empty() => out.push(Err((
                bundle.clone(),
                Vst3Error::new("offers no audio effect class", "choose an effect plugin"),
            ))),
            Ok(m) => {
                for class in &m.classes {
                    out.push(desc_of(&m, class).map_err(|e| (bundle.clone(), e)));
                }
            }
            Err(e) => out.push(Err((bundle.clone(), e))),
        }
    }
    out
}
