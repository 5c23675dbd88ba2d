//! [`EngineHandle`]: the control side of an engine. It owns the one copy of the running chain's
//! [`ChainSettings`] (for validation and read-back), builds crossfade chains, sends commands to
//! the audio thread and drops what comes back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::capture::CaptureReader;
use super::realtime::{Command, RtChain, SharedStats, RETURN_CAPACITY, WHOLE_CHAIN};
use super::settings::{ChainSettings, Change};
use super::{AudioControl, EngineConfig, EngineStats, MidiEvent};
use crate::audio::AudioBuffer;
use crate::chain::{Chain, ChainSpec};
use crate::error::{Error, Result};

/// How long a call waits for the audio thread to make room in a queue before giving up.
const QUEUE_WAIT: Duration = Duration::from_millis(500);

/// The control side of an engine (built by [`super::engine`]). Implements [`AudioControl`]; the
/// backends wrap it. Every method runs off the audio thread.
pub struct EngineHandle {
    spec: ChainSpec,
    config: EngineConfig,
    sample_rate: u32,
    /// The state the audio thread is at or heading to: targets of every parameter and bypass.
    /// Changed only once the audio thread has the commands that make it true.
    settings: ChainSettings,
    commands: rtrb::Producer<Command>,
    returns: rtrb::Consumer<RtChain>,
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
        settings: ChainSettings,
        commands: rtrb::Producer<Command>,
        returns: rtrb::Consumer<RtChain>,
        capture: CaptureReader,
        stats: Arc<SharedStats>,
    ) -> Self {
        Self {
            spec,
            config,
            sample_rate,
            settings,
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
        self.settings.whole_bypass()
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
        self.settings.check_vector(x)?;
        let mut next = self.settings.clone();
        next.set_normalized(x);
        self.crossfade(next)
    }

    fn check_same_chain(&self, settings: &ChainSettings) -> Result<()> {
        if self.settings.same_chain(settings) {
            return Ok(());
        }
        Err(Error::invalid(
            "the settings are for another chain than the engine runs",
            "take the settings from this engine (`AudioControl::settings`) and change them",
        ))
    }

    /// Move to `next` in one go: glides where every changed parameter can glide, else one
    /// crossfade to a chain at `next`; bypass switches fade. Nothing is sent when nothing
    /// changes; on an error (queue full) nothing changes.
    fn apply(&mut self, next: ChainSettings) -> Result<()> {
        self.check_same_chain(&next)?;
        let changes = self.settings.changes(&next);
        if changes.is_empty() {
            return Ok(());
        }
        if changes.iter().any(|c| matches!(c, Change::Param { needs_crossfade: true, .. })) {
            return self.crossfade(next);
        }
        let cmds = changes.iter().map(|&c| command(c)).collect();
        self.send(cmds)?;
        self.settings = next;
        Ok(())
    }

    /// Crossfade to a chain at `next` (a whole-chain bypass switch fades alongside).
    fn crossfade(&mut self, next: ChainSettings) -> Result<()> {
        self.check_same_chain(&next)?;
        let whole = (next.whole_bypass() != self.settings.whole_bypass())
            .then(|| command(Change::WholeBypass(next.whole_bypass())));
        self.wait_for(|h| {
            h.collect_garbage();
            h.outstanding + 1 < RETURN_CAPACITY && h.commands.slots() > whole.iter().len()
        })?;
        let mut chain = Chain::from_spec(&self.spec)?;
        next.write_to(&mut chain);
        chain.prepare(self.sample_rate as f32, self.config.max_block);
        chain.snap();
        if self.commands.push(Command::Swap(RtChain::new(Box::new(chain)))).is_err() {
            return Err(queue_full());
        }
        self.outstanding += 1;
        if let Some(cmd) = whole {
            // Room checked above: this push cannot fail.
            let _ = self.commands.push(cmd);
        }
        self.settings = next;
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

/// The audio thread's command for one change.
fn command(change: Change) -> Command {
    match change {
        Change::Param { slot, index, normalized, .. } => {
            Command::SetParam { slot: slot as u16, index: index as u16, normalized }
        }
        Change::Bypass { slot, bypass } => Command::Bypass { slot: slot as u16, bypass },
        Change::WholeBypass(bypass) => Command::Bypass { slot: WHOLE_CHAIN, bypass },
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

    fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    fn settings(&self) -> &ChainSettings {
        &self.settings
    }

    fn apply_settings(&mut self, next: &ChainSettings) -> Result<()> {
        self.apply(next.clone())
    }

    fn crossfade_to(&mut self, next: &ChainSettings) -> Result<()> {
        if self.settings.changes(next).is_empty() {
            return self.check_same_chain(next);
        }
        self.crossfade(next.clone())
    }

    fn apply_normalized(&mut self, x: &[f64]) -> Result<()> {
        self.settings.check_vector(x)?;
        let mut next = self.settings.clone();
        next.set_normalized(x);
        self.apply(next)
    }

    fn normalized(&self) -> Vec<f64> {
        self.settings.normalized()
    }

    fn set_param(&mut self, effect_id: &str, param_id: &str, value: f32) -> Result<()> {
        // Validate (unknown ids, range) on a copy: the settings change only once the audio
        // thread has the command.
        let mut next = self.settings.clone();
        next.set(effect_id, param_id, value)?;
        self.apply(next)
    }

    fn param(&self, effect_id: &str, param_id: &str) -> Result<f32> {
        self.settings.get(effect_id, param_id)
    }

    fn set_bypass(&mut self, effect_id: Option<&str>, bypass: bool) -> Result<()> {
        let mut next = self.settings.clone();
        match effect_id {
            Some(id) => next.set_bypass(self.settings.slot_of(id)?, bypass),
            None => next.set_whole_bypass(bypass),
        }
        self.apply(next)
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
