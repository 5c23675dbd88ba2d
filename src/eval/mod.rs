//! Evaluation: the ST-ITO benchmark tasks (`shared/BENCHMARK.md`) run on fxmatch's own effects.

pub mod baseline;
pub mod bootstrap;
pub mod compare;
pub mod content;
pub mod external;
pub mod fidelity;
pub mod param_est;
pub mod plot;
pub mod report;
pub mod retrieval;
pub mod styles;
pub mod synthetic;
pub mod transfer;
pub mod zero_shot;
