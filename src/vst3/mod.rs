//! Hosting VST3 plugins as effects of a chain (`type = "vst3"` in chain files), on the COM
//! bindings of the `vst3` crate.
//!
//! - [`module`]: bundles in the standard search paths, loading a module (`dlopen`,
//!   `ModuleEntry`, `GetPluginFactory`) and its audio-effect classes.
//! - [`host`]: the COM objects fxmatch gives plugins: host context, component handler,
//!   preallocated parameter-change queues, a memory stream for state.
//! - [`instance`]: one plugin instance: component and edit controller (single or split),
//!   bus arrangement (stereo or mono main buses, side-chains fed silence), process setup,
//!   activation, the process call, state.
//! - [`plugin`]: [`PluginDesc`], what fxmatch reads from a plugin once (layout, parameters), and
//!   the listing for `fxmatch plugins`.
//! - [`effect`]: [`Vst3Effect`], the [`Effect`](crate::effect::Effect) that runs a plugin.
//! - [`probe`]: crash isolation: each plugin is first loaded, instantiated and run in a child
//!   process, so that one that crashes, aborts or hangs is refused with a clear error instead of
//!   taking fxmatch down.

pub mod effect;
pub mod host;
pub mod instance;
pub mod module;
pub mod plugin;
pub mod probe;

pub use effect::Vst3Effect;
pub use instance::ParamInfo;
pub use module::{installed_bundles, search_paths, ClassInfo, Module};
pub use plugin::{describe_with_layout, list_plugins, param_spec, plugin_desc, Layout, PluginDesc};
pub use probe::probe_in_child;

/// The effect type of hosted VST3 plugins in chain files.
pub const VST3_KIND: &str = "vst3";

/// Why a VST3 plugin cannot be found, loaded or hosted.
#[derive(Debug, Clone, PartialEq)]
pub struct Vst3Error {
    /// What is wrong (naming the plugin or bundle).
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl Vst3Error {
    pub(crate) fn new(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { message: message.into(), fix: fix.into() }
    }
}

impl std::fmt::Display for Vst3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n  fix: {}", self.message, self.fix)
    }
}

impl std::error::Error for Vst3Error {}
