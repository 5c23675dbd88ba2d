//! The live audio engine: the chain running in an audio callback (JACK, or an offline clock),
//! input capture for matches, and click-free parameter hot-swaps.
//!
//! The engine is split like fundsp's front and back end: the audio-thread side ([`realtime`]:
//! everything that runs in the callback, and nothing else) owns the real-time chain and never
//! allocates, locks or blocks; the control side ([`EngineHandle`], behind [`AudioControl`])
//! owns the chain's [`ChainSettings`], builds everything (`build`), sends it in through
//! wait-free channels and drops what comes back. The daemon (`crate::daemon`) only talks to
//! the control side, through the [`AudioControl`] trait, so the same daemon runs on JACK and on
//! the offline clock.

/// The [`AudioControl`] methods a backend forwards unchanged to its `handle: EngineHandle`
/// field; backends add what differs (the JACK backend's `is_running` and `reconnect`).
macro_rules! forward_audio_control_to_handle {
    () => {
        fn sample_rate(&self) -> u32 {
            self.handle.sample_rate()
        }
        fn spec(&self) -> &$crate::chain::ChainSpec {
            AudioControl::spec(&self.handle)
        }
        fn settings(&self) -> &$crate::engine::ChainSettings {
            self.handle.settings()
        }
        fn apply_settings(&mut self, next: &$crate::engine::ChainSettings) -> Result<()> {
            self.handle.apply_settings(next)
        }
        fn crossfade_to(&mut self, next: &$crate::engine::ChainSettings) -> Result<()> {
            self.handle.crossfade_to(next)
        }
        fn apply_normalized(&mut self, x: &[f64]) -> Result<()> {
            self.handle.apply_normalized(x)
        }
        fn normalized(&self) -> Vec<f64> {
            self.handle.normalized()
        }
        fn set_param(&mut self, effect_id: &str, param_id: &str, value: f32) -> Result<()> {
            self.handle.set_param(effect_id, param_id, value)
        }
        fn param(&self, effect_id: &str, param_id: &str) -> Result<f32> {
            self.handle.param(effect_id, param_id)
        }
        fn set_bypass(&mut self, effect_id: Option<&str>, bypass: bool) -> Result<()> {
            self.handle.set_bypass(effect_id, bypass)
        }
        fn capture_last(&mut self, seconds: f32) -> Result<AudioBuffer> {
            self.handle.capture_last(seconds)
        }
        fn poll_midi(&mut self, out: &mut Vec<MidiEvent>) {
            self.handle.poll_midi(out)
        }
        fn stats(&self) -> EngineStats {
            self.handle.stats()
        }
        fn reset_load(&mut self) {
            self.handle.reset_load()
        }
    };
}

mod build;
mod capture;
mod config;
mod handle;
mod jack_backend;
mod offline;
pub mod realtime;
mod settings;

pub use build::engine;
pub use capture::{capture_ring, CaptureReader, CaptureWriter};
pub use config::EngineConfig;
pub use handle::EngineHandle;
pub use jack_backend::JackEngine;
pub use offline::{OfflineEngine, OfflineOptions, Pacing};
pub use realtime::jack_callback::parse_midi;
pub use realtime::{swap, AudioProcessor};
pub use settings::ChainSettings;

use crate::audio::AudioBuffer;
use crate::chain::ChainSpec;
use crate::error::Result;

/// A footswitch or controller event seen by the engine's MIDI input, forwarded to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidiEvent {
    /// Note on (velocity > 0): channel 0–15, note.
    NoteOn {
        /// MIDI channel, 0-based.
        channel: u8,
        /// Note number.
        note: u8,
    },
    /// Control change: channel 0–15, controller, value.
    ControlChange {
        /// MIDI channel, 0-based.
        channel: u8,
        /// Controller number.
        controller: u8,
        /// Value 0–127.
        value: u8,
    },
}

/// Counters the engine keeps on the audio thread and publishes atomically.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineStats {
    /// Blocks processed.
    pub blocks: u64,
    /// Callbacks whose processing took longer than the block's real-time budget.
    pub overruns: u64,
    /// Xruns reported by the backend (JACK's xrun callback), where it reports them.
    pub xruns: u64,
    /// Largest share of the block budget used by one callback so far (0–1).
    pub peak_load: f32,
    /// Time in callbacks over the real time they covered (0–1), since the start or the last
    /// [`AudioControl::reset_load`].
    pub mean_load: f32,
}

/// The control side of a running engine: what the daemon needs from the audio graph.
/// Every method is called off the audio thread and may allocate; none blocks the audio thread.
pub trait AudioControl: Send {
    /// The engine's sample rate (Hz).
    fn sample_rate(&self) -> u32;

    /// The chain spec the engine runs (loaded once, by whoever started the engine).
    fn spec(&self) -> &ChainSpec;

    /// What the running chain is at (or heading to): every parameter, every bypass. The one
    /// copy; change a clone and hand it to [`AudioControl::apply_settings`].
    fn settings(&self) -> &ChainSettings;

    /// Move the running chain to `next` (settings of this engine's chain) in one call:
    /// parameter glides where every changed parameter can glide, else one crossfade.
    fn apply_settings(&mut self, next: &ChainSettings) -> Result<()>;

    /// Like [`AudioControl::apply_settings`], but always by one crossfade between two chain
    /// states (a preset load that changes everything at once). Nothing when nothing changes.
    fn crossfade_to(&mut self, next: &ChainSettings) -> Result<()>;

    /// Move the running chain to the normalised vector `x` (the chain's free parameters, in
    /// search order), click-free: per-parameter ramps, or a crossfade between two chain states
    /// where a parameter cannot be ramped.
    fn apply_normalized(&mut self, x: &[f64]) -> Result<()>;

    /// The free parameters the running chain is at (or heading to), normalised.
    fn normalized(&self) -> Vec<f64>;

    /// Set one parameter in plain units (click-free). Errors name an unknown effect or
    /// parameter, or a value out of range, with the fix.
    fn set_param(&mut self, effect_id: &str, param_id: &str, value: f32) -> Result<()>;

    /// A parameter's current target in plain units.
    fn param(&self, effect_id: &str, param_id: &str) -> Result<f32>;

    /// Bypass or re-enable one effect (by id), or the whole chain (`None`), click-free.
    fn set_bypass(&mut self, effect_id: Option<&str>, bypass: bool) -> Result<()>;

    /// The last `seconds` of input (stereo), taken from the capture ring. Errors when the
    /// engine has not yet heard that much input or the ring is shorter.
    fn capture_last(&mut self, seconds: f32) -> Result<AudioBuffer>;

    /// MIDI events received since the last call (footswitch input).
    fn poll_midi(&mut self, out: &mut Vec<MidiEvent>);

    /// The engine's counters.
    fn stats(&self) -> EngineStats;

    /// Start the load figures of [`AudioControl::stats`] (peak and mean) afresh.
    fn reset_load(&mut self);

    /// Whether the backend still runs the chain (false once a JACK server has shut down).
    /// Backends that cannot lose their clock always return true.
    fn is_running(&self) -> bool {
        true
    }

    /// Backend housekeeping, called on every control tick while the backend runs (the JACK
    /// backend notes its port connections, and re-makes them after a reconnect).
    fn maintain(&mut self) {}

    /// After [`AudioControl::is_running`] turned false: connect again with the same
    /// parameters and bypass states. Errors (the server is still down) carry the fix; the
    /// caller retries with a backoff.
    fn reconnect(&mut self) -> Result<()> {
        Ok(())
    }
}
