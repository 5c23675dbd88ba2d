//! Effect chains: the [`Effect`] trait, parameter specs and their `[0, 1]` mapping, chain files,
//! params files and the [`Chain`] that runs them.

mod effect;
mod param;
mod params_file;
mod runtime;
mod spec;

pub use effect::Effect;
pub use param::{Mapping, ParamRange, ParamSpec};
pub use params_file::Params;
pub use runtime::{Chain, FreeParam};
pub use spec::{instantiate, instantiate_spec, ChainSpec, EffectSpec, LV2_KIND, MAX_EFFECTS};
