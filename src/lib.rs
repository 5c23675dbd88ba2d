//! fxmatch: a style-matching effects box.
//!
//! An effect chain ([`chain`]) of built-in effects ([`dsp`]) runs on live audio; on a trigger the
//! chain's free parameters are searched so that the processed input takes on the production
//! style of a reference recording.
//!
//! # Module map
//!
//! The layout follows the data path. Every module of the crate:
//!
//! - [`audio`]: audio buffers and WAV files (read and written whole or block by block);
//!   [`audio::spectrum`] is the multi-resolution log-spectral distance that tells which effects a
//!   match's result uses.
//! - [`effect`]: what an effect is, below every effect: the [`effect::Effect`] trait and its
//!   real-time contract, parameter specs and their `[0, 1]` mapping, the shared parameter ramp
//!   time. [`dsp`] and [`lv2`] depend on it, not on [`chain`].
//! - [`chain`]: effect chains: chain files, params files, the factory that instantiates a chain
//!   file's effects, and the [`chain::Chain`] that runs them in series.
//! - [`dsp`]: the built-in effects (EQ, compressor, distortion, modulation, delay, reverb, gain) and the
//!   real-time parts they share (biquads, delay lines, oversampling, smoothing, denormal guard,
//!   fast math).
//! - [`lv2`]: LV2 plugins: hosting third-party plugins as chain effects ([`lv2::world`],
//!   [`lv2::ports`], [`lv2::plugin`], [`lv2::presets`]), the crash probe that runs each plugin in
//!   a child process first ([`lv2::probe`]), and fxmatch's own effects as LV2 plugins with preset
//!   export ([`lv2::export`]).
//! - [`vst3`]: VST3 plugins as chain effects: module loading, component and controller, bus
//!   arrangement, parameter queues, state ([`vst3::Vst3Effect`]), and their crash probe
//!   ([`vst3::probe`]).
//! - [`probe`]: crash isolation shared by both plugin formats: each hosted plugin is first run in
//!   a child process, and a crash, abort or hang there becomes an error naming the plugin.
//! - [`render`]: offline rendering of a buffer, or of a file block by block in constant memory,
//!   through a chain.
//! - [`metric`]: style metrics (audio → mid and side embeddings, and their similarity): the
//!   log-mel [`metric::frontend`], the trained [`metric::encoder`] (ONNX, run with tract) and the
//!   [`metric::mfcc`] baseline, and the second seed's spectrogram beta-VAE ([`metric::vae`]).
//! - [`predict`]: the one-pass parameter predictor (an MLP on the VAE latents of input and
//!   reference) and its training examples rendered through the chain ([`predict::dataset`]).
//! - [`optimize`]: the parameter search: [`optimize::cmaes`] (with [`optimize::linalg`] for its
//!   eigendecomposition) and [`optimize::matcher`], the match itself.
//! - [`eval`]: the benchmark tasks of `shared/BENCHMARK.md` (zero-shot classification, retrieval,
//!   parameter estimation, synthetic match cases, style transfer), their reports' tables and
//!   plots ([`eval::report`]), the fidelity distance
//!   ([`eval::fidelity`]), references made outside fxmatch ([`eval::external`]), the rule-based
//!   baseline ([`eval::baseline`]) and the results' plots.
//! - [`dataset`]: `fxmatch dataset`, the style encoder's pretext-task training pairs rendered by
//!   fxmatch's own effects (content excerpts, effect presets by k-means clustering, shards).
//! - [`engine`]: the live audio engine: the chain in an audio callback (JACK, or an offline
//!   clock), the capture ring for matches, and click-free hot-swaps ([`engine::swap`]), behind
//!   the [`engine::AudioControl`] trait. What runs on the audio thread is
//!   [`engine::realtime`], and only that; the chain's settings have one owner, the engine
//!   handle ([`engine::ChainSettings`]).
//! - [`daemon`]: the live box's control side, by concern: commands and typed replies
//!   ([`daemon::protocol`]), doing them, matches (idle, capturing, matching), reconnecting a
//!   lost audio server, its config file ([`daemon::config`], also reachable as [`config`]), the
//!   reference library ([`daemon::references`]), presets and the saved state
//!   ([`daemon::presets`]).
//! - [`control`]: how the daemon is reached: OSC over UDP ([`control::osc`]) and GPIO
//!   footswitches ([`control::gpio`]); MIDI footswitches arrive through the engine.
//! - [`fsutil`]: atomic file writes that refuse non-regular outputs and clean up after a crash.
//! - [`error`]: the crate's [`Error`], which names what went wrong, where, and the fix.
//!
//! The `fxmatch` command line itself (`src/cli`) is part of the binary, not of this library.
#![deny(missing_docs)]

pub mod audio;
pub mod chain;
pub use daemon::config;
pub mod control;
pub mod daemon;
pub mod dataset;
pub mod dsp;
pub mod effect;
pub mod engine;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod lv2;
pub mod metric;
pub mod optimize;
pub mod predict;
pub mod probe;
pub mod render;
pub mod vst3;

pub use error::{Error, Result};

// Unit tests run with allocation checks: `assert_no_alloc(|| ...)` aborts on any allocation.
#[cfg(all(test, debug_assertions))]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;
