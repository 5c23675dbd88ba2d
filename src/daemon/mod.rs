//! The daemon: the control side of a live effects box.
//!
//! One control thread owns the engine's control side ([`AudioControl`], which also owns the
//! chain's settings), the reference library, the presets and what the daemon is doing about
//! matches (idle, capturing, matching). Commands arrive over a channel (from OSC, see
//! `crate::control`) and from the footswitch (polled MIDI); every command is answered with a
//! [`Reply`] addressed to its sender, and match progress and results also go to subscribers.
//! The search runs on a worker thread that owns one [`Matcher`]
//! (built once, reused) at a lower scheduling priority than normal threads; the audio thread
//! is the backend's real-time thread and never waits for any of this.
//!
//! By concern: [`protocol`] (commands and typed replies), `commands` (doing them), `matching`
//! (captures, searches, the worker), `strategy` (search, predict or hybrid), `reconnect` (a lost
//! audio server), [`config`] (the daemon's config file), [`references`] and [`presets`] (what
//! it keeps on disk).

mod commands;
pub mod config;
mod matching;
pub mod presets;
pub mod protocol;
mod reconnect;
pub mod references;
mod strategy;
mod warnings;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::engine::{AudioControl, MidiEvent};
use crate::error::{Error, Result};
use crate::metric::load_metric;
use crate::optimize::Matcher;
use config::DaemonConfig;
use matching::{Activity, Job, WorkerMsg};
use reconnect::Connection;
use strategy::Strategy;

pub use presets::{DaemonState, PresetStore};
pub use protocol::{Aborted, Client, Command, Event, List, Phase, Reply, LIST_PAGE_BYTES};
pub use references::ReferenceLibrary;
pub use warnings::{WarnLimiter, WARNINGS_PER_WINDOW, WARNING_WINDOW};

/// A changed state is written at most this often (and at exit, and before a match): a flood of
/// parameter changes costs one file write, not one fsync each (SD-card wear, a stalled loop).
pub const STATE_WRITE_DELAY: Duration = Duration::from_millis(300);

/// Commands taken from the queue in one go; parameter changes within it are coalesced.
const COMMAND_BATCH: usize = 256;

/// The daemon's control side. Build with [`Daemon::new`], drive with [`Daemon::run`].
pub struct Daemon {
    config: DaemonConfig,
    /// The engine's control side: also the one owner of the chain's settings.
    audio: Box<dyn AudioControl>,
    refs: ReferenceLibrary,
    presets: PresetStore,
    state: DaemonState,
    /// Idle, capturing or matching (see [`matching`]).
    activity: Activity,
    next_id: u64,
    last_similarity: Option<f32>,
    jobs: Sender<Job>,
    results: Receiver<WorkerMsg>,
    events: Sender<Event>,
    midi: Vec<MidiEvent>,
    /// Since when the state has changes not yet written (see [`STATE_WRITE_DELAY`]).
    state_dirty: Option<Instant>,
    /// Rate limit for the warnings logged per error reply.
    warnings: WarnLimiter,
    /// The backend's outages and reconnects.
    connection: Connection,
}

impl Daemon {
    /// Load the references, presets and last state named by `config`; build the matcher for
    /// the chain `audio` runs and start its worker thread. Returns the daemon, the receiver of
    /// its outgoing messages, and warnings (skipped references, a state file that no longer
    /// fits the chain) that the caller should log.
    pub fn new(
        config: DaemonConfig,
        audio: Box<dyn AudioControl>,
    ) -> Result<(Self, Receiver<Event>, Vec<String>)> {
        let metric = load_metric(&config.metric, config.model.as_deref())?;
        let (refs, mut warnings) = ReferenceLibrary::open(&config.references, &*metric)?;
        let presets = PresetStore::open(&config.state)?;
        let (strategy, match_config, mode) = Strategy::resolve(&config, audio.spec())?;
        tracing::info!("{mode}");
        let matcher = Matcher::new(audio.spec(), &*metric, match_config)?;
        let (jobs, job_rx) = mpsc::channel();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("fxmatch-match".into())
            .spawn(move || matching::worker(matcher, strategy, job_rx, result_tx))
            .map_err(|e| Error::invalid(format!("cannot start the match thread: {e}"), "free memory"))?;
        let (events, event_rx) = mpsc::channel();
        let mut daemon = Self {
            audio,
            refs,
            presets,
            state: DaemonState::default(),
            activity: Activity::Idle,
            next_id: 0,
            last_similarity: None,
            jobs,
            results,
            events,
            midi: Vec::with_capacity(64),
            state_dirty: None,
            warnings: Default::default(),
            connection: Connection::default(),
            config,
        };
        warnings.extend(daemon.restore());
        Ok((daemon, event_rx, warnings))
    }

    /// Restore `state.toml` into the engine, in one call; warnings where it no longer fits.
    fn restore(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        let saved = match self.presets.load_state(self.audio.settings()) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(format!("last state not restored (starting from the chain's values): {e}"));
                None
            }
        };
        let state = saved.unwrap_or_else(|| DaemonState {
            params: self.audio.settings().params(),
            reference: self.config.default_reference.clone(),
            ..Default::default()
        });
        let mut next = self.audio.settings().clone();
        if let Err(e) = next.apply_params(&state.params) {
            warnings.push(format!("last parameters not restored: {e}"));
            next = self.audio.settings().clone();
        }
        self.state.reference = state.reference.filter(|r| {
            let known = self.refs.get(r).is_ok();
            if !known {
                warnings.push(format!("reference `{r}` from the last state is gone; none selected"));
            }
            known
        });
        if self.state.reference.is_none() {
            self.state.reference = self.refs.next_name(None);
        }
        if state.bypass {
            next.set_whole_bypass(true);
            self.state.bypass = true;
        }
        for effect in &state.bypassed_effects {
            match next.slot_of(effect) {
                Ok(slot) => {
                    next.set_bypass(slot, true);
                    self.state.bypassed_effects.insert(effect.clone());
                }
                Err(e) => warnings.push(e.to_string()),
            }
        }
        if let Err(e) = self.audio.apply_settings(&next) {
            warnings.push(format!("last state not restored: {e}"));
        }
        warnings
    }

    /// Where the daemon is.
    pub fn phase(&self) -> Phase {
        self.activity.phase()
    }

    /// Run until `stop` is set or the command channel closes; then abort any match and save
    /// the state.
    pub fn run(&mut self, commands: Receiver<(Command, Client)>, stop: &AtomicBool) {
        let tick = Duration::from_millis(5);
        let mut batch = Vec::with_capacity(COMMAND_BATCH);
        while !stop.load(Ordering::Relaxed) {
            match commands.recv_timeout(tick) {
                Ok(first) => {
                    batch.push(first);
                    batch.extend(commands.try_iter().take(COMMAND_BATCH - 1));
                    self.handle_batch(&mut batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.poll();
        }
        self.activity.abort();
        self.save_state();
    }

    fn send(&self, to: Client, reply: Reply) {
        if let Reply::Error(message) = &reply {
            if self.warnings.allow() {
                tracing::warn!(client = ?to, "{message}");
            }
        }
        // The receiver only goes away when the daemon is shutting down.
        let _ = self.events.send(Event { to, reply });
    }

    /// Backend, debounced state write, footswitch, capture deadline and worker news: called
    /// every tick.
    fn poll(&mut self) {
        self.watch_backend();
        if self.state_dirty.is_some_and(|since| since.elapsed() >= STATE_WRITE_DELAY) {
            self.save_state();
        }
        let mut midi = std::mem::take(&mut self.midi);
        midi.clear();
        self.audio.poll_midi(&mut midi);
        for event in &midi {
            if let Some(action) = self.config.midi_action(event) {
                tracing::info!(?event, ?action, "footswitch");
                let reply = self.handle(Command::from(action), None);
                self.send(None, reply);
            }
        }
        self.midi = midi;
        self.poll_matching();
    }

    /// The reference library.
    pub fn references(&self) -> &ReferenceLibrary {
        &self.refs
    }

    /// The engine's counters.
    pub fn engine_stats(&self) -> crate::engine::EngineStats {
        self.audio.stats()
    }

    /// Bypassed effect ids.
    pub fn bypassed_effects(&self) -> &BTreeSet<String> {
        &self.state.bypassed_effects
    }
}
