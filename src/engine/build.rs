//! Building an engine, off the audio thread: the chain instantiated and prepared, the queues,
//! the capture ring and the audio-thread state, optionally at settings and with a capture
//! history carried over from an engine that lost its server (a reconnect). Everything here
//! may allocate; nothing here runs in the callback (that is [`super::realtime`]).

use std::sync::Arc;

use super::capture::capture_ring;
use super::realtime::swap::{glide_ms, Crossfade, Glides};
use super::realtime::{AudioProcessor, RtChain, SharedStats, COMMAND_CAPACITY, RETURN_CAPACITY};
use super::{ChainSettings, EngineConfig, EngineHandle};
use crate::chain::{Chain, ChainSpec};
use crate::dsp::Smoothed;
use crate::error::{Error, Result};

/// Fade time of the whole-chain bypass.
const BYPASS_FADE_SECONDS: f32 = 0.010;

/// What a reconnect carries over into a fresh engine.
pub(crate) struct Carried {
    /// The settings the old engine was at.
    pub settings: ChainSettings,
    /// The capture history before the outage: (sample rate, (left, right)).
    pub history: Option<(u32, (Vec<f32>, Vec<f32>))>,
}

/// Build an engine for `spec`: the control side and the audio-thread side, connected by
/// wait-free queues. The chain is prepared at `config.sample_rate` (48 kHz when unset; the
/// backends fill in their own rate) and `config.max_block`, with the spec's values, settled.
pub fn engine(spec: &ChainSpec, config: &EngineConfig) -> Result<(EngineHandle, AudioProcessor)> {
    engine_from(spec, config, None)
}

/// [`engine`], settled at `carried`'s settings (parameters, bypasses, the whole chain's
/// bypass) and with its capture history (when recorded at the engine's rate) already heard.
pub(crate) fn engine_from(
    spec: &ChainSpec,
    config: &EngineConfig,
    carried: Option<Carried>,
) -> Result<(EngineHandle, AudioProcessor)> {
    config.validate()?;
    let sample_rate = config.sample_rate.unwrap_or(48_000);
    let mut chain = Box::new(Chain::from_spec(spec)?);
    let mut settings = ChainSettings::of(&chain);
    chain.prepare(sample_rate as f32, config.max_block);
    chain.snap();
    let mut wet = Smoothed::new(1.0);
    wet.prepare(sample_rate as f32, BYPASS_FADE_SECONDS);
    let (mut writer, reader) = capture_ring(sample_rate, config.capture_seconds);
    if let Some(carried) = carried {
        if !settings.same_chain(&carried.settings) {
            return Err(Error::invalid(
                "the settings carried over are for another chain than the engine runs",
                "restart the daemon",
            ));
        }
        settings = carried.settings;
        settings.write_to(&mut chain);
        chain.snap();
        wet.set_target(if settings.whole_bypass() { 0.0 } else { 1.0 });
        wet.snap();
        if let Some((rate, (l, r))) = carried.history {
            if rate == sample_rate {
                writer.write(&l, &r);
            }
        }
    }
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_CAPACITY);
    let (ret_tx, ret_rx) = rtrb::RingBuffer::new(RETURN_CAPACITY);
    let stats = Arc::new(SharedStats::default());
    let processor = AudioProcessor {
        glides: Glides::new(&chain, sample_rate, glide_ms(config.ramp_ms)),
        fade: Crossfade::new(sample_rate, config.crossfade_ms, config.crossfade_warmup_ms, config.max_block),
        chain: RtChain::new(chain),
        retired: None,
        commands: cmd_rx,
        returns: ret_tx,
        capture: writer,
        stats: stats.clone(),
        wet,
        max_block: config.max_block,
        sample_rate,
        mono_r: vec![0.0; config.max_block],
    };
    let handle =
        EngineHandle::new(spec.clone(), config.clone(), sample_rate, settings, cmd_tx, ret_rx, reader, stats);
    Ok((handle, processor))
}

/// Errors for a processor fed at the wrong rate (used by the backends).
pub(crate) fn rate_mismatch(configured: u32, backend: u32) -> Error {
    Error::invalid(
        format!("engine.sample_rate = {configured} Hz but the audio backend runs at {backend} Hz"),
        "leave engine.sample_rate out of the config to follow the backend, or restart the backend at that rate",
    )
}
