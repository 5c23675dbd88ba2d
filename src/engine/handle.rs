//! [`EngineHandle`]: the control side of an engine. It keeps a mirror of the running chain's
//! state (for validation and read-back), builds crossfade chains, sends commands to the audio
//! thread and drops what comes back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::capture::CaptureReader;
use super::processor::{Command, SharedStats, RETURN_CAPACITY, WHOLE_CHAIN};
use super::{AudioControl, EngineConfig, EngineStats, MidiEvent};
use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec};
use crate::error::{Error, Result};

/// How long a call waits for the audio thread to make room in a queue before giving up.
const QUEUE_WAIT: Duration = Duration::from_millis(500);

/// The control side of an engine (see [`super::engine`]). Implements [`AudioControl`]; the
/// backends wrap it. Every method runs off the audio thread.
pub struct EngineHandle {
    spec: ChainSpec,
    config: EngineConfig,
    sample_rate: u32,
    /// The state the audio thread is at or heading to: targets of every parameter and bypass.
    mirror: Chain,
    bypassed: bool,
    commands: rtrb::Producer<Command>,
    returns: rtrb::Consumer<Box<Chain>>,
    /// Chains sent in and not yet back.
    outstanding: usize,
    capture: CaptureReader,
    stats: Arc<SharedStats>,
    midi: Option<rtrb::Consumer<MidiEvent>>,
}

impl EngineHandle {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        spec: ChainSpec,
        config: EngineConfig,
        sample_rate: u32,
        mirror: Chain,
        commands: rtrb::Producer<Command>,
        returns: rtrb::Consumer<Box<Chain>>,
        capture: CaptureReader,
        stats: Arc<SharedStats>,
    ) -> Self {
        Self {
            spec,
            config,
            sample_rate,
            mirror,
            bypassed: false,
            commands,
            returns,
            outstanding: 0,
            capture,
            stats,
            midi: None,
        }
    }

    pub(crate) fn set_midi(&mut self, midi: rtrb::Consumer<MidiEvent>) {
        self.midi = Some(midi);
    }

    pub(crate) fn shared_stats(&self) -> &Arc<SharedStats> {
        &self.stats
    }

    /// The chain spec the engine runs.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The engine's config (with the sample rate filled in).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// A reader of the capture history (cloneable; for worker threads).
    pub fn capture_reader(&self) -> CaptureReader {
        self.capture.clone()
    }

    /// Frames of input heard since the start.
    pub fn frames_heard(&self) -> u64 {
        self.capture.frames_heard()
    }

    /// Crossfades completed by the audio thread so far.
    pub fn swaps_done(&self) -> u64 {
        self.stats.swaps_done.load(Ordering::Relaxed)
    }

    /// Chains sent to the audio thread that have not come back yet (a swap in progress).
    pub fn swaps_in_flight(&mut self) -> usize {
        self.collect_garbage();
        self.outstanding
    }

    /// Whether the whole chain is (heading to) bypassed.
    pub fn is_bypassed(&self) -> bool {
        self.bypassed
    }

    /// A copy of the control-side chain state (unprepared): every parameter's target.
    pub fn params(&self) -> crate::chain::Params {
        self.mirror.params()
    }

    /// Per-effect bypass targets, in chain order.
    pub fn bypass_states(&self) -> Vec<bool> {
        (0..self.mirror.len()).map(|s| self.mirror.is_bypassed(s)).collect()
    }

    /// Put a fresh engine (not yet running) into a saved state: parameters, bypasses.
    pub(crate) fn restore(
        &mut self,
        processor: &mut super::AudioProcessor,
        params: &crate::chain::Params,
        bypass: &[bool],
        whole: bool,
    ) -> Result<()> {
        self.mirror.apply_params(params)?;
        for (slot, &b) in bypass.iter().enumerate() {
            self.mirror.set_bypass(slot, b);
        }
        self.bypassed = whole;
        processor.restore(params, bypass, whole)
    }

    /// Drop the chains the audio thread has sent back.
    pub fn collect_garbage(&mut self) {
        while let Ok(chain) = self.returns.pop() {
            drop(chain);
            self.outstanding -= 1;
        }
    }

    /// Like [`AudioControl::apply_normalized`], but always by crossfading two chain states,
    /// whatever the parameters (e.g. to load a preset that changes everything at once).
    pub fn apply_normalized_crossfade(&mut self, x: &[f64]) -> Result<()> {
        self.check_vector(x)?;
        let mut next = self.mirror_clone()?;
        next.set_normalized(x);
        self.send_chain(next)
    }

    fn check_vector(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.mirror.num_free() {
            return Err(Error::invalid(
                format!(
                    "the parameter vector has {} values but the chain has {} free parameters",
                    x.len(),
                    self.mirror.num_free()
                ),
                "pass one value in [0, 1] per free parameter, in the order of `fxmatch chain show`",
            ));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                format!("value {i} of the parameter vector is {}", x[i]),
                "pass finite values in [0, 1]",
            ));
        }
        Ok(())
    }

    /// A fresh chain at the mirror's state (parameters and per-effect bypass), unprepared.
    fn mirror_clone(&self) -> Result<Chain> {
        let mut c = Chain::from_spec(&self.spec)?;
        c.apply_params(&self.mirror.params())?;
        for slot in 0..c.len() {
            c.set_bypass(slot, self.mirror.is_bypassed(slot));
        }
        Ok(c)
    }

    /// Prepare `chain` (mirror state plus changes) and send it in for a crossfade; on success
    /// it becomes the mirror.
    fn send_chain(&mut self, mut chain: Chain) -> Result<()> {
        self.wait_for(|h| {
            h.collect_garbage();
            h.outstanding + 1 < RETURN_CAPACITY && h.commands.slots() > 0
        })?;
        let mut mirror = Chain::from_spec(&self.spec)?;
        mirror.apply_params(&chain.params())?;
        for slot in 0..chain.len() {
            mirror.set_bypass(slot, chain.is_bypassed(slot));
        }
        chain.prepare(self.sample_rate as f32, self.config.max_block);
        chain.snap();
        if self.commands.push(Command::Swap(Box::new(chain))).is_err() {
            return Err(queue_full());
        }
        self.outstanding += 1;
        self.mirror = mirror;
        Ok(())
    }

    /// Send `cmds` in one go (all or none).
    fn send(&mut self, cmds: Vec<Command>) -> Result<()> {
        let n = cmds.len();
        self.wait_for(|h| h.commands.slots() >= n)?;
        for c in cmds {
            if self.commands.push(c).is_err() {
                return Err(queue_full());
            }
        }
        Ok(())
    }

    /// Wait (sleeping, never spinning hard) until `ready`, or fail after [`QUEUE_WAIT`].
    fn wait_for(&mut self, mut ready: impl FnMut(&mut Self) -> bool) -> Result<()> {
        let start = Instant::now();
        while !ready(self) {
            if start.elapsed() > QUEUE_WAIT {
                return Err(queue_full());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

fn queue_full() -> Error {
    Error::invalid(
        "the audio thread is not taking commands (its queue stayed full for 0.5 s)",
        "check that the engine is running (JACK server up, client active) and retry",
    )
}

impl AudioControl for EngineHandle {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn apply_normalized(&mut self, x: &[f64]) -> Result<()> {
        self.check_vector(x)?;
        let new = self.mirror.to_plain(x);
        let mut changed = Vec::new();
        let mut crossfade = false;
        for (p, &v) in self.mirror.free_params().iter().zip(&new) {
            if self.mirror.effect(p.slot).param(p.index) != v {
                crossfade |= self.mirror.effect(p.slot).params()[p.index].needs_crossfade;
                changed.push((p.slot, p.index, v));
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        if crossfade {
            return self.apply_normalized_crossfade(x);
        }
        let cmds = changed
            .iter()
            .map(|&(slot, index, value)| Command::SetParam { slot: slot as u16, index: index as u16, value })
            .collect();
        self.send(cmds)?;
        self.mirror.set_normalized(x);
        Ok(())
    }

    fn normalized(&self) -> Vec<f64> {
        self.mirror.normalized()
    }

    fn set_param(&mut self, effect_id: &str, param_id: &str, value: f32) -> Result<()> {
        let (slot, index) = self.mirror.locate(effect_id, param_id)?;
        // Validate (unknown ids, range) without changing anything: the mirror changes only once
        // the audio thread has the command.
        let value = self.mirror.check_plain(effect_id, param_id, value)?;
        if self.mirror.effect(slot).params()[index].needs_crossfade {
            // Only a parameter that cannot be ramped needs a second, prepared chain.
            let mut next = self.mirror_clone()?;
            next.set_plain(effect_id, param_id, value)?;
            return self.send_chain(next);
        }
        self.send(vec![Command::SetParam { slot: slot as u16, index: index as u16, value }])?;
        self.mirror.set_param(slot, index, value);
        Ok(())
    }

    fn param(&self, effect_id: &str, param_id: &str) -> Result<f32> {
        let (slot, index) = self.mirror.locate(effect_id, param_id)?;
        Ok(self.mirror.effect(slot).param(index))
    }

    fn set_bypass(&mut self, effect_id: Option<&str>, bypass: bool) -> Result<()> {
        let slot = match effect_id {
            Some(id) => self.mirror.slot_of(id)?,
            None => WHOLE_CHAIN as usize,
        };
        self.send(vec![Command::Bypass { slot: slot as u16, bypass }])?;
        match effect_id {
            Some(_) => self.mirror.set_bypass(slot, bypass),
            None => self.bypassed = bypass,
        }
        Ok(())
    }

    fn capture_last(&mut self, seconds: f32) -> Result<AudioBuffer> {
        self.capture.last(seconds)
    }

    fn poll_midi(&mut self, out: &mut Vec<MidiEvent>) {
        if let Some(midi) = &mut self.midi {
            while let Ok(e) = midi.pop() {
                out.push(e);
            }
        }
    }

    fn stats(&self) -> EngineStats {
        self.stats.snapshot()
    }
    fn reset_load(&mut self) {
        self.stats.reset_load()
    }
}
