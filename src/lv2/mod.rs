//! Hosting third-party LV2 plugins as effects of a chain (`type = "lv2"` in chain files), and
//! fxmatch's own effects as LV2 plugins ([`export`]).
//!
//! - [`world`]: the process-wide lilv world, plugin lookup and listing (`fxmatch plugins`).
//! - [`ports`]: port descriptions from the TTL and how control inputs become parameters.
//! - [`plugin`]: [`Lv2Effect`], the [`Effect`](crate::effect::Effect) that runs a plugin
//!   (stereo, or dual-mono for mono plugins).
//! - [`presets`]: a plugin's LV2 presets and their port values, read by lilv
//!   (`preset = "..."` in chain files).
//! - [`probe`]: crash isolation: each plugin is first run in a child process, so that one that
//!   crashes (SIGSEGV, SIGABRT, …) or hangs is refused with a clear error instead of taking
//!   fxmatch down.
//!
//! Hosting goes through the `livi` crate (on lilv; vendored with a small patch, see
//! vendor/livi/PATCHED.md), which gives plugins `urid:map`/`unmap`, `options` (min, max and
//! nominal block length, sample rate), `bufsz:boundedBlockLength`, `worker:schedule` and
//! `state:loadDefaultState`; a plugin that requires any other feature or option is refused,
//! naming it.

pub mod export;
pub mod plugin;
pub mod ports;
pub mod presets;
pub mod probe;
pub mod world;

pub use plugin::Lv2Effect;
pub use ports::{control_param, PortInfo, PortKind};
pub use presets::{load_preset, plugin_presets, PresetInfo, PresetValues};
pub use probe::probe_in_child;
pub use world::{
    list_plugins, package_hint, plugin_info, supported_features, Layout, PluginInfo, SUPPORTED_OPTIONS,
};
