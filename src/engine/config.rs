//! [`EngineConfig`]: how the engine runs (block size, capture length, swap times, JACK client).

use serde::Deserialize;

/// Engine settings, read from the `[engine]` table of the daemon config. Every field has a
/// default, so an empty table (or none) is a working config.
///
/// ```
/// use fxmatch::engine::EngineConfig;
/// let c: EngineConfig = toml::from_str("capture_seconds = 10.0\nmono = true").unwrap();
/// assert_eq!(c.capture_seconds, 10.0);
/// assert!(c.mono);
/// assert_eq!(c.max_block, 4096);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Sample rate in Hz. `None` (the default): take the backend's (JACK's server rate; the
    /// offline clock uses its input's rate). A JACK server at another rate is an error.
    pub sample_rate: Option<u32>,
    /// Largest block the audio callback may hand over, in frames (default 4096). Buffers are
    /// sized for it up front; larger callbacks are processed in pieces of this size.
    pub max_block: usize,
    /// Length of the capture history in seconds (default 30): the most that
    /// `capture_last` can return. Memory: 8 bytes per frame (48 kHz, 30 s: 11 MB).
    pub capture_seconds: f32,
    /// Longest parameter ramp of a hot-swap in ms (default 50). The built-in effects ramp their
    /// parameters themselves in 20 ms (reverb size and damping: 50 ms); a larger value makes the
    /// engine glide the values there in steps, so a swap never takes less than the effects' own
    /// ramps. Values below the effects' ramps have no effect.
    pub ramp_ms: f32,
    /// Duration of the crossfade between two chain states in ms (default 50), used where a
    /// parameter cannot be ramped (see `ParamSpec::needs_crossfade`). Linear (see `engine::swap`).
    pub crossfade_ms: f32,
    /// How long the new chain of a crossfade runs muted on the live input before the fade
    /// starts, in ms (default 200): fills its delay lines and settles its compressor, so it
    /// does not fade in from an empty state. Adds to a crossfaded swap's latency.
    pub crossfade_warmup_ms: f32,
    /// JACK client name (default `fxmatch`).
    pub client_name: String,
    /// One input and one output port (`in`, `out`) instead of stereo pairs (default false).
    pub mono: bool,
    /// Connect the inputs to `system:capture_*` and the outputs to `system:playback_*` on start
    /// (default false).
    pub autoconnect: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            sample_rate: None,
            max_block: 4096,
            capture_seconds: 30.0,
            ramp_ms: 50.0,
            crossfade_ms: 50.0,
            crossfade_warmup_ms: 200.0,
            client_name: "fxmatch".into(),
            mono: false,
            autoconnect: false,
        }
    }
}

impl EngineConfig {
    /// Check the values; errors name the field and the fix.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        if self.max_block == 0 || self.max_block > 1 << 16 {
            return Err(Error::invalid(
                format!("engine.max_block = {} is outside 1..65536", self.max_block),
                "set engine.max_block to the largest JACK period you use (default 4096)",
            ));
        }
        if !(self.capture_seconds.is_finite() && self.capture_seconds > 0.0 && self.capture_seconds <= 600.0)
        {
            return Err(Error::invalid(
                format!("engine.capture_seconds = {} is outside (0, 600]", self.capture_seconds),
                "set engine.capture_seconds to a few tens of seconds (default 30)",
            ));
        }
        for (name, v) in [
            ("ramp_ms", self.ramp_ms),
            ("crossfade_ms", self.crossfade_ms),
            ("crossfade_warmup_ms", self.crossfade_warmup_ms),
        ] {
            if !(v.is_finite() && (0.0..=5000.0).contains(&v)) {
                return Err(Error::invalid(
                    format!("engine.{name} = {v} is outside 0..5000 ms"),
                    format!("set engine.{name} to a few tens of ms (default 50)"),
                ));
            }
        }
        if self.sample_rate.is_some_and(|r| !(8_000..=384_000).contains(&r)) {
            return Err(Error::invalid(
                format!("engine.sample_rate = {:?} is outside 8000..384000 Hz", self.sample_rate),
                "leave engine.sample_rate out to take the backend's rate",
            ));
        }
        if self.client_name.is_empty() || self.client_name.len() > 60 {
            return Err(Error::invalid(
                "engine.client_name is empty or longer than 60 characters",
                "use a short client name such as `fxmatch`",
            ));
        }
        Ok(())
    }
}
