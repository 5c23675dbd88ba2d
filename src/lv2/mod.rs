//! Hosting third-party LV2 plugins as effects of a chain (`type = "lv2"` in chain files), and
//! fxmatch's own effects as LV2 plugins ([`export`]).
//!
//! - [`world`]: the process-wide lilv world, plugin lookup and listing (`fxmatch plugins`).
//! - [`ports`]: port descriptions from the TTL and how control inputs become parameters.
//! - [`plugin`]: [`Lv2Effect`], the [`Effect`](crate::chain::Effect) that runs a plugin
//!   (stereo, or dual-mono for mono plugins).
//! - [`probe`]: crash isolation: each plugin is first run in a child process, so that one that
//!   crashes (SIGSEGV, SIGABRT, …) or hangs is refused with a clear error instead of taking
//!   fxmatch down.
//!
//! Hosting goes through the `livi` crate (on lilv), which gives plugins `urid:map`/`unmap`,
//! `options` (min/max block length), `bufsz:boundedBlockLength`, `worker:schedule` and
//! `state:loadDefaultState`; a plugin that requires anything else is refused, naming the
//! feature.

pub mod export;
pub mod plugin;
pub mod ports;
pub mod probe;
pub mod world;

pub use plugin::{Lv2Effect, Lv2Error};
pub use ports::{control_param, PortInfo, PortKind};
pub use probe::{probe_chain, probe_in_child};
pub use world::{list_plugins, package_hint, plugin_info, supported_features, Layout, PluginInfo};
