//! fxmatch: a style-matching effects box.
//!
//! An effect chain ([`chain`]) of built-in effects ([`dsp`]) runs on live audio; on a trigger the
//! chain's free parameters are searched so that the processed input takes on the production
//! style of a reference recording.
//!
//! The layout follows the data path: [`audio`] reads and writes files, [`chain`] describes and
//! runs effect chains, [`dsp`] holds the effects themselves, [`metric`] scores production style,
//! [`optimize`] searches parameters, [`eval`] runs the benchmark. [`engine`] runs the chain live,
//! [`daemon`] drives it (capture, match, apply, presets, references), [`config`] reads its config
//! and [`control`] is how it is reached (OSC).
#![deny(missing_docs)]

pub mod audio;
pub mod chain;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dataset;
pub mod dsp;
pub mod engine;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod lv2;
pub mod metric;
pub mod optimize;
pub mod render;

pub use error::{Error, Result};

// Unit tests run with allocation checks: `assert_no_alloc(|| ...)` aborts on any allocation.
#[cfg(all(test, debug_assertions))]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;
