//! Parameter search: the CMA-ES optimizer that the matcher drives.
//!
//! [`Cmaes`] is a (μ/μ_w, λ)-CMA-ES with pycma's default settings (negative weights,
//! cumulative step-size adaptation, lazy eigendecomposition) and pycma's smooth box-constraint
//! transformation ([`BoundTransform`]), behind an ask/tell interface so the caller decides how
//! candidates are evaluated (in parallel, abortable between generations): the matcher's loop.
//! `tests/cmaes_vs_pycma.rs` checks it against pycma.

pub mod cmaes;
pub mod linalg;
pub mod matcher;

pub use cmaes::{BoundTransform, Bounds, Cmaes, CmaesConfig, EarlyStop, StopReason, StrategyParams};
pub use matcher::{
    check_audio, loudest_window, EffectUse, FoundParam, MatchConfig, MatchOutcome, Matcher, Progress, Start,
    DEFAULT_PRIOR, DEFAULT_SELECTION_MARGIN, USED_DB,
};
