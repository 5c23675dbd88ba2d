//! Evaluation: the ST-ITO benchmark tasks (`shared/BENCHMARK.md`) run on fxmatch's own effects.

pub mod styles;
pub mod synthetic;
pub mod zero_shot;
