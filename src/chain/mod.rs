//! Effect chains: chain files ([`ChainSpec`]), the factory that builds their effects
//! ([`instantiate_spec`]), params files and the [`Chain`] that runs effects in series.
//!
//! The effects themselves and what they share ([`Effect`], [`ParamSpec`]) sit below this module,
//! in [`crate::effect`].

mod factory;
mod params_file;
mod runtime;
mod spec;

pub use factory::{
    chain_uris, chain_vst3_plugins, instantiate, instantiate_spec, lv2_effect, probe_chain, LV2_KIND,
};
pub use params_file::Params;
pub use runtime::{Chain, FreeParam};
pub use spec::{ChainSpec, EffectSpec, MAX_EFFECTS};

// The chain's own API speaks of these types (free ranges, the effect in a slot); kept here so
// that code built on chains needs one import.
pub use crate::effect::{Effect, Mapping, ParamRange, ParamSpec};
