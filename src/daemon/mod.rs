//! The daemon: the control side of a live effects box.
//!
//! One control thread owns the engine's control side ([`AudioControl`]), the reference library,
//! the presets and the state machine `Idle → Capturing → Matching → Applying`. Commands arrive
//! over a channel (from OSC, see `crate::control`) and from the footswitch (polled MIDI); every
//! command is answered with a [`Reply`] addressed to its sender, and match progress and results
//! also go to subscribers. The search runs on a worker thread that owns one [`Matcher`] (built
//! once, reused) at a lower scheduling priority than normal threads; the audio thread is the
//! backend's real-time thread and never waits for any of this.
//!
//! A trigger while matching aborts the running search (between generations) and queues the new
//! one; further triggers only replace the queued request, so a storm of triggers costs one
//! aborted generation and one new match, not a pile of work.

pub mod presets;
pub mod references;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audio::AudioBuffer;
use crate::config::{CaptureMode, DaemonConfig};
use crate::engine::{AudioControl, MidiEvent};
use crate::error::{Error, Result};
use crate::metric::{load_metric, Embedding};
use crate::optimize::{check_audio, MatchOutcome, Matcher, Progress};

pub use presets::{DaemonState, PresetStore};
pub use references::ReferenceLibrary;

/// Who sent a command (replies go there); `None` for the footswitch.
pub type Client = Option<SocketAddr>;

/// What the daemon can be asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Capture and match against `reference` (or the selected one).
    Match(Option<String>),
    /// Cancel a capture or match in progress (nothing is applied).
    Cancel,
    /// State, progress, last similarity, reference, bypass.
    Status,
    /// The engine's counters: blocks, callback overruns, server xruns, peak load, connection,
    /// reconnects, mean load.
    Stats,
    /// Start the load figures (peak and mean) afresh.
    StatsReset,
    /// Reference names, from this offset (a long list comes in pages: see [`LIST_PAGE_BYTES`]).
    ReferenceList(usize),
    /// Select a reference for the next match.
    ReferenceSelect(String),
    /// Select the next reference (wrapping).
    ReferenceNext,
    /// Learn the live input (the last capture-seconds) as a new reference.
    ReferenceAdd(String),
    /// Delete a reference.
    ReferenceRemove(String),
    /// Bypass (true) or enable the whole chain (`None`) or one effect.
    Bypass(Option<String>, bool),
    /// Toggle the whole chain's bypass (the footswitch).
    BypassToggle,
    /// A parameter's value in plain units.
    ParamGet(String, String),
    /// Set a parameter in plain units.
    ParamSet(String, String, f32),
    /// Save the current parameters as a preset.
    PresetSave(String),
    /// Load a preset into the running chain.
    PresetLoad(String),
    /// Preset names, from this offset (a long list comes in pages: see [`LIST_PAGE_BYTES`]).
    PresetList(usize),
}

/// One argument of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A string.
    Str(String),
    /// A float.
    Float(f32),
    /// An integer.
    Int(i32),
    /// A 64-bit integer (counters).
    Long(i64),
}

/// A message from the daemon: an address under `/fxmatch/` and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Address without the `/fxmatch/` prefix, e.g. `status`, `result`, `error`.
    pub address: String,
    /// Arguments.
    pub args: Vec<Arg>,
}

impl Reply {
    fn new(address: &str, args: Vec<Arg>) -> Self {
        Self { address: address.to_string(), args }
    }

    /// `/fxmatch/ok COMMAND [details…]`: a command without data to return was done.
    pub fn ok(command: &str, details: &[&str]) -> Self {
        let mut args = vec![Arg::Str(command.to_string())];
        args.extend(details.iter().map(|d| Arg::Str(d.to_string())));
        Self::new("ok", args)
    }

    /// `/fxmatch/error MESSAGE`: what went wrong and the fix, in one string.
    pub fn error(message: impl std::fmt::Display) -> Self {
        Self::new("error", vec![Arg::Str(message.to_string().replace('\n', " "))])
    }
}

/// A reply on its way out: to the command's sender (if any) and to every subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The sender of the command this answers; `None` for unsolicited news.
    pub to: Client,
    /// The message.
    pub reply: Reply,
}

/// Where the state machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a trigger.
    Idle,
    /// Recording the next N seconds.
    Capturing,
    /// Searching.
    Matching,
    /// Moving the chain to the result.
    Applying,
}

impl Phase {
    /// The name `/fxmatch/status` reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Capturing => "capturing",
            Phase::Matching => "matching",
            Phase::Applying => "applying",
        }
    }
}

/// Most bytes of names in one list reply: a page stays under a typical Ethernet MTU (1,500
/// bytes less IP/UDP headers and the OSC address), so no reply is ever fragmented or too large
/// for a datagram; `/fxmatch/list/more` tells the client where the next page starts.
pub const LIST_PAGE_BYTES: usize = 1200;

/// A changed state is written at most this often (and at exit, and before a match): a flood of
/// parameter changes costs one file write, not one fsync each (SD-card wear, a stalled loop).
pub const STATE_WRITE_DELAY: Duration = Duration::from_millis(300);

/// Commands taken from the queue in one go; parameter changes within it are coalesced.
const COMMAND_BATCH: usize = 256;

/// The page of `names` that starts at `offset`: the names that fit [`LIST_PAGE_BYTES`] (at least
/// one), and where the next page starts if any. A name costs its OSC size: the string, its
/// terminating zero, padding to 4 bytes, and its type tag.
fn list_page(names: &[String], offset: usize) -> (&[String], Option<usize>) {
    let rest = names.get(offset..).unwrap_or(&[]);
    let mut bytes = 0;
    let mut n = 0;
    for name in rest {
        bytes += (name.len() + 4) / 4 * 4 + 1;
        if n > 0 && bytes > LIST_PAGE_BYTES {
            break;
        }
        n += 1;
    }
    let next = (offset + n < names.len()).then_some(offset + n);
    (&rest[..n], next)
}

/// A match asked for: who asked, against what, since when.
#[derive(Debug, Clone)]
struct Request {
    client: Client,
    reference: String,
    embedding: Embedding,
    triggered: Instant,
}

struct Job {
    id: u64,
    segment: AudioBuffer,
    reference: Embedding,
    abort: Arc<AtomicBool>,
}

enum WorkerMsg {
    Progress(u64, Progress),
    Done(u64, Result<MatchOutcome>),
}

/// The daemon's control side. Build with [`Daemon::new`], drive with [`Daemon::run`].
pub struct Daemon {
    config: DaemonConfig,
    /// The engine's control side: also the one owner of the chain's settings.
    audio: Box<dyn AudioControl>,
    refs: ReferenceLibrary,
    presets: PresetStore,
    state: DaemonState,
    phase: Phase,
    /// Capturing the next N seconds: when they are in, and for whom.
    capture_until: Option<(Instant, Request)>,
    /// The running search: its id, request and abort flag.
    running: Option<(u64, Request, Arc<AtomicBool>)>,
    /// The request that replaces the running search once it has stopped (coalesced triggers).
    queued: Option<(Request, AudioBuffer)>,
    next_id: u64,
    progress: f32,
    last_similarity: Option<f32>,
    jobs: Sender<Job>,
    results: Receiver<WorkerMsg>,
    events: Sender<Event>,
    midi: Vec<MidiEvent>,
    /// Since when the state has changes not yet written (see [`STATE_WRITE_DELAY`]).
    state_dirty: Option<Instant>,
    /// Rate limit for the warnings logged per error reply.
    warnings: crate::control::osc::WarnLimiter,
    /// The backend lost its server (JACK shut down) and is being reconnected.
    outage: Option<Outage>,
    /// Successful reconnects since start.
    reconnects: u32,
    /// Counters of engines replaced by a reconnect (added to the live engine's).
    stats_before: crate::engine::EngineStats,
}

/// Shortest wait between two reconnect attempts; doubles after each failure.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
/// Longest wait between two reconnect attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A lost audio server: since when, how often we tried, when to try next.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    attempts: u32,
    next_try: Instant,
    backoff: Duration,
}

/// The wait after `backoff` failed: doubled, at most [`RECONNECT_MAX`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(RECONNECT_MAX)
}

impl Daemon {
    /// Load the references, presets and last state named by `config`; build the matcher for
    /// the chain `audio` runs and start its worker thread. Returns the
    /// daemon, the receiver of its outgoing messages, and warnings (skipped references, a
    /// state file that no longer fits the chain) that the caller should log.
    pub fn new(
        config: DaemonConfig,
        audio: Box<dyn AudioControl>,
    ) -> Result<(Self, Receiver<Event>, Vec<String>)> {
        let metric = load_metric(&config.metric, config.model.as_deref())?;
        let (refs, mut warnings) = ReferenceLibrary::open(&config.references, &*metric)?;
        let presets = PresetStore::open(&config.state)?;
        let matcher = Matcher::new(audio.spec(), &*metric, config.match_config()?)?;
        let (jobs, job_rx) = mpsc::channel();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("fxmatch-match".into())
            .spawn(move || worker(matcher, job_rx, result_tx))
            .map_err(|e| Error::invalid(format!("cannot start the match thread: {e}"), "free memory"))?;
        let (events, event_rx) = mpsc::channel();
        let mut daemon = Self {
            audio,
            refs,
            presets,
            state: DaemonState::default(),
            phase: Phase::Idle,
            capture_until: None,
            running: None,
            queued: None,
            next_id: 0,
            progress: 0.0,
            last_similarity: None,
            jobs,
            results,
            events,
            midi: Vec::with_capacity(64),
            state_dirty: None,
            warnings: Default::default(),
            outage: None,
            reconnects: 0,
            stats_before: Default::default(),
            config,
        };
        warnings.extend(daemon.restore());
        Ok((daemon, event_rx, warnings))
    }

    /// Restore `state.toml` into the engine; warnings where it no longer fits.
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

    /// Where the state machine is.
    pub fn phase(&self) -> Phase {
        self.phase
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
        if let Some((_, _, abort)) = &self.running {
            abort.store(true, Ordering::Relaxed);
        }
        self.save_state();
    }

    /// Do a batch of queued commands in order. A parameter set that a later one in the same
    /// batch overrides is checked and answered but not sent to the engine: a flood of changes
    /// moves the audio once, to the last value.
    fn handle_batch(&mut self, batch: &mut Vec<(Command, Client)>) {
        let n = batch.len();
        for i in 0..n {
            let (command, client) = &batch[i];
            let overridden = match command {
                Command::ParamSet(e, p, _) => batch[i + 1..]
                    .iter()
                    .any(|(c, _)| matches!(c, Command::ParamSet(e2, p2, _) if e2 == e && p2 == p)),
                _ => false,
            };
            let client = *client;
            let reply = match command {
                Command::ParamSet(effect, param, value) if overridden => {
                    match self.audio.settings().check_plain(effect, param, *value) {
                        Ok(_) => Reply::new(
                            "param",
                            vec![Arg::Str(effect.clone()), Arg::Str(param.clone()), Arg::Float(*value)],
                        ),
                        Err(e) => Reply::error(e),
                    }
                }
                _ => self.handle(command.clone(), client),
            };
            self.send(client, reply);
        }
        batch.clear();
    }

    fn send(&self, to: Client, reply: Reply) {
        if reply.address == "error" && self.warnings.allow() {
            tracing::warn!(client = ?to, "{:?}", reply.args);
        }
        // The receiver only goes away when the daemon is shutting down.
        let _ = self.events.send(Event { to, reply });
    }

    /// Notice a lost audio server and reconnect with a backoff (200 ms doubling to 5 s);
    /// the matcher, OSC and state keep working meanwhile.
    fn watch_backend(&mut self) {
        let now = Instant::now();
        if self.outage.is_none() {
            if self.audio.is_running() {
                self.audio.maintain();
                return;
            }
            tracing::warn!(
                "the audio server has gone away (JACK shut down or was restarted); audio stopped, \
                 reconnecting with the same parameters as soon as it is back"
            );
            self.outage = Some(Outage { since: now, attempts: 0, next_try: now, backoff: RECONNECT_FIRST });
        }
        let Some(mut outage) = self.outage else { return };
        if now < outage.next_try {
            return;
        }
        let before = self.audio.stats();
        outage.attempts += 1;
        match self.audio.reconnect() {
            Ok(()) => {
                self.reconnects += 1;
                self.stats_before.blocks += before.blocks;
                self.stats_before.overruns += before.overruns;
                self.stats_before.xruns += before.xruns;
                self.stats_before.peak_load = self.stats_before.peak_load.max(before.peak_load);
                tracing::info!(
                    attempts = outage.attempts,
                    down_s = outage.since.elapsed().as_secs_f32(),
                    "reconnected to the audio server; ports registered again; parameters, bypass states \
                     and the capture history restored; connections re-made as their ports come back"
                );
                self.outage = None;
            }
            Err(e) => {
                // Log the first failures and then about every 30 s, not every attempt.
                if outage.attempts <= 3 || outage.attempts % 6 == 0 {
                    tracing::warn!(
                        attempts = outage.attempts,
                        down_s = outage.since.elapsed().as_secs_f32(),
                        retry_in_s = outage.backoff.as_secs_f32(),
                        "cannot reconnect to the audio server yet: {e}"
                    );
                }
                outage.next_try = now + outage.backoff;
                outage.backoff = next_backoff(outage.backoff);
                self.outage = Some(outage);
            }
        }
    }

    /// Footswitch, capture deadline, worker news and the debounced state write: called every
    /// tick.
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
                let command = crate::control::gpio::command_for(action);
                let reply = self.handle(command, None);
                self.send(None, reply);
            }
        }
        self.midi = midi;

        if self.capture_until.as_ref().is_some_and(|(until, _)| Instant::now() >= *until) {
            let (_, request) = self.capture_until.take().expect("checked above");
            match self.capture() {
                Ok(segment) => self.start(request, segment),
                Err(e) => {
                    self.phase = Phase::Idle;
                    self.send(request.client, Reply::error(e));
                }
            }
        }

        while let Ok(msg) = self.results.try_recv() {
            match msg {
                WorkerMsg::Progress(id, p) => {
                    if let Some((run_id, request, _)) = &self.running {
                        if *run_id == id {
                            self.progress = p.generation as f32 / p.max_generations.max(1) as f32;
                            let args = vec![
                                Arg::Float(self.progress),
                                Arg::Float(p.best_similarity),
                                Arg::Int(p.generation as i32),
                                Arg::Int(p.max_generations as i32),
                            ];
                            self.send(request.client, Reply::new("progress", args));
                        }
                    }
                }
                WorkerMsg::Done(id, outcome) => self.finished(id, outcome),
            }
        }
    }

    fn finished(&mut self, id: u64, outcome: Result<MatchOutcome>) {
        let Some((run_id, request, abort)) = self.running.take() else { return };
        if run_id != id {
            self.running = Some((run_id, request, abort));
            return;
        }
        let aborted = abort.load(Ordering::Relaxed);
        if let Some((next, segment)) = self.queued.take() {
            // Superseded by a newer trigger: tell the old requester, start the new search.
            if request.client != next.client {
                self.send(request.client, Reply::new("aborted", vec![Arg::Str("superseded".into())]));
            }
            self.start(next, segment);
            return;
        }
        self.phase = Phase::Idle;
        self.progress = 0.0;
        if aborted {
            self.send(request.client, Reply::new("aborted", vec![Arg::Str("cancelled".into())]));
            return;
        }
        match outcome {
            Err(e) => self.send(request.client, Reply::error(e)),
            Ok(outcome) => {
                self.phase = Phase::Applying;
                let applied = self.audio.apply_normalized(&outcome.x);
                self.phase = Phase::Idle;
                if let Err(e) = applied {
                    self.send(request.client, Reply::error(e));
                    return;
                }
                self.last_similarity = Some(outcome.similarity);
                self.save_state();
                let latency = request.triggered.elapsed().as_secs_f32();
                tracing::info!(
                    reference = %request.reference,
                    similarity = outcome.similarity,
                    from = outcome.similarity_input,
                    evaluations = outcome.evaluations,
                    latency_s = latency,
                    "match applied"
                );
                let args = vec![
                    Arg::Float(outcome.similarity),
                    Arg::Str(request.reference.clone()),
                    Arg::Float(outcome.similarity_input),
                    Arg::Int(outcome.evaluations as i32),
                    Arg::Float(latency),
                ];
                self.send(request.client, Reply::new("result", args));
            }
        }
    }

    fn capture(&mut self) -> Result<AudioBuffer> {
        let segment = self.audio.capture_last(self.config.capture_seconds)?;
        check_audio(&segment, "captured input")?;
        Ok(segment)
    }

    /// Hand a request and its segment to the worker, or queue it behind the running search.
    fn start(&mut self, request: Request, segment: AudioBuffer) {
        if let Some((_, _, abort)) = &self.running {
            abort.store(true, Ordering::Relaxed);
            if let Some((old, _)) = self.queued.replace((request.clone(), segment)) {
                if old.client != request.client {
                    self.send(old.client, Reply::new("aborted", vec![Arg::Str("superseded".into())]));
                }
            }
            return;
        }
        self.next_id += 1;
        let abort = Arc::new(AtomicBool::new(false));
        let job =
            Job { id: self.next_id, segment, reference: request.embedding.clone(), abort: abort.clone() };
        if self.jobs.send(job).is_err() {
            self.send(request.client, Reply::error("the match thread has stopped; restart the daemon"));
            return;
        }
        self.phase = Phase::Matching;
        self.progress = 0.0;
        self.running = Some((self.next_id, request, abort));
    }

    /// Write the state now (at exit, before a match, when the debounce delay is over).
    fn save_state(&mut self) {
        self.state_dirty = None;
        self.state.params = self.audio.settings().params();
        if let Err(e) = self.presets.save_state(&self.state) {
            tracing::error!("state not saved: {e}");
        }
    }

    /// Note a change of the state; it is written within [`STATE_WRITE_DELAY`].
    fn state_changed(&mut self) {
        self.state_dirty.get_or_insert_with(Instant::now);
    }

    /// A list's page from `offset`: the page is sent, and when more follow the returned reply is
    /// `/fxmatch/list/more LIST NEXT TOTAL` (else the page itself is returned).
    fn list_reply(&self, address: &str, names: &[String], offset: usize, client: Client) -> Reply {
        let (page, next) = list_page(names, offset);
        let page = Reply::new(address, page.iter().cloned().map(Arg::Str).collect());
        let Some(next) = next else { return page };
        self.send(client, page);
        let total = i32::try_from(names.len()).unwrap_or(i32::MAX);
        let next = i32::try_from(next).unwrap_or(i32::MAX);
        Reply::new("list/more", vec![Arg::Str(address.into()), Arg::Int(next), Arg::Int(total)])
    }

    fn selected(&self, name: Option<String>) -> Result<(String, Embedding)> {
        let name = name.or_else(|| self.state.reference.clone()).ok_or_else(|| {
            Error::invalid(
                format!("no reference to match: {} holds no WAV", self.refs.dir().display()),
                "copy a reference WAV into that folder, or learn one with /fxmatch/reference/add NAME",
            )
        })?;
        let r = self.refs.get(&name)?;
        Ok((r.name.clone(), r.embedding.clone()))
    }

    /// Do one command; the reply goes to its sender.
    pub fn handle(&mut self, command: Command, client: Client) -> Reply {
        match self.try_handle(command, client) {
            Ok(reply) => reply,
            Err(e) => Reply::error(e),
        }
    }

    fn try_handle(&mut self, command: Command, client: Client) -> Result<Reply> {
        Ok(match command {
            Command::Match(name) => {
                let (reference, embedding) = self.selected(name)?;
                if self.state.reference.as_deref() != Some(&reference) {
                    self.state.reference = Some(reference.clone());
                    self.state_changed();
                }
                if self.state_dirty.is_some() {
                    self.save_state(); // a match may take long: what was set before it is kept
                }
                let request =
                    Request { client, reference: reference.clone(), embedding, triggered: Instant::now() };
                match self.config.capture_mode {
                    CaptureMode::Last => {
                        let segment = self.capture()?;
                        self.start(request, segment);
                    }
                    CaptureMode::Next => {
                        let until = Instant::now() + Duration::from_secs_f32(self.config.capture_seconds);
                        if let Some((_, old)) = self.capture_until.replace((until, request)) {
                            if old.client != client {
                                self.send(
                                    old.client,
                                    Reply::new("aborted", vec![Arg::Str("superseded".into())]),
                                );
                            }
                        }
                        if self.running.is_none() {
                            self.phase = Phase::Capturing;
                        }
                    }
                }
                Reply::ok("match", &[&reference])
            }
            Command::Cancel => {
                let was = self.phase;
                self.capture_until = None;
                self.queued = None;
                if let Some((_, _, abort)) = &self.running {
                    abort.store(true, Ordering::Relaxed);
                } else {
                    self.phase = Phase::Idle;
                }
                Reply::ok("cancel", &[was.name()])
            }
            Command::Status => Reply::new(
                "status",
                vec![
                    Arg::Str(self.phase.name().into()),
                    Arg::Float(self.progress),
                    Arg::Float(self.last_similarity.unwrap_or(f32::NAN)),
                    Arg::Str(self.state.reference.clone().unwrap_or_default()),
                    Arg::Int(self.state.bypass as i32),
                ],
            ),
            Command::Stats => {
                let now = self.audio.stats();
                let b = &self.stats_before;
                let long = |v: u64| Arg::Long(v.min(i64::MAX as u64) as i64);
                Reply::new(
                    "stats",
                    vec![
                        long(b.blocks + now.blocks),
                        long(b.overruns + now.overruns),
                        long(b.xruns + now.xruns),
                        Arg::Float(b.peak_load.max(now.peak_load)),
                        Arg::Int(i32::from(self.outage.is_none() && self.audio.is_running())),
                        Arg::Int(self.reconnects as i32),
                        Arg::Float(now.mean_load),
                    ],
                )
            }
            Command::StatsReset => {
                self.audio.reset_load();
                self.stats_before.peak_load = 0.0;
                Reply::ok("stats/reset", &[])
            }
            Command::ReferenceList(offset) => {
                let names: Vec<String> = self.refs.list().iter().map(|r| r.name.clone()).collect();
                self.list_reply("reference/list", &names, offset, client)
            }
            Command::ReferenceSelect(name) => {
                self.refs.get(&name)?;
                self.state.reference = Some(name.clone());
                self.state_changed();
                Reply::ok("reference/select", &[&name])
            }
            Command::ReferenceNext => {
                let name = self.refs.next_name(self.state.reference.as_deref()).ok_or_else(|| {
                    Error::invalid("the reference library is empty", "add a WAV or learn one (reference/add)")
                })?;
                self.state.reference = Some(name.clone());
                self.state_changed();
                Reply::ok("reference/select", &[&name])
            }
            Command::ReferenceAdd(name) => {
                let audio = self.capture()?;
                self.refs.add(&name, &audio)?;
                Reply::ok("reference/add", &[&name])
            }
            Command::ReferenceRemove(name) => {
                self.refs.remove(&name)?;
                if self.state.reference.as_deref() == Some(&name) {
                    self.state.reference = self.refs.next_name(None);
                    self.state_changed();
                }
                Reply::ok("reference/remove", &[&name])
            }
            Command::Bypass(effect, on) => {
                self.audio.set_bypass(effect.as_deref(), on)?;
                match &effect {
                    None => self.state.bypass = on,
                    Some(e) if on => {
                        self.state.bypassed_effects.insert(e.clone());
                    }
                    Some(e) => {
                        self.state.bypassed_effects.remove(e);
                    }
                }
                self.state_changed();
                let what = effect.unwrap_or_else(|| "chain".into());
                Reply::ok("bypass", &[&what, if on { "1" } else { "0" }])
            }
            Command::BypassToggle => {
                return self.try_handle(Command::Bypass(None, !self.state.bypass), client)
            }
            Command::ParamGet(effect, param) => {
                let v = self.audio.param(&effect, &param)?;
                Reply::new("param", vec![Arg::Str(effect), Arg::Str(param), Arg::Float(v)])
            }
            Command::ParamSet(effect, param, value) => {
                // The engine checks the value (its errors name the range) and keeps it.
                self.audio.set_param(&effect, &param, value)?;
                self.state_changed();
                Reply::new("param", vec![Arg::Str(effect), Arg::Str(param), Arg::Float(value)])
            }
            Command::PresetSave(name) => {
                let path = self.presets.save(&name, &self.audio.settings().params())?;
                Reply::ok("preset/save", &[&name, &path.display().to_string()])
            }
            Command::PresetLoad(name) => {
                let params = self.presets.load(&name, self.audio.settings())?;
                let mut next = self.audio.settings().clone();
                next.apply_params(&params)?;
                self.audio.crossfade_to(&next)?;
                self.state_changed();
                Reply::ok("preset/load", &[&name])
            }
            Command::PresetList(offset) => {
                let names = self.presets.list()?;
                self.list_reply("preset/list", &names, offset, client)
            }
        })
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

/// The match thread: one matcher, reused for every job; below normal priority so the control
/// thread and the rest of the system stay responsive (the audio thread is real-time anyway).
fn worker(mut matcher: Matcher, jobs: Receiver<Job>, results: Sender<WorkerMsg>) {
    // Nice 10 for this thread; the matcher's threads inherit it. Failure only costs priority.
    // SAFETY: setpriority with who = 0 changes the calling thread on Linux; no memory involved.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    while let Ok(job) = jobs.recv() {
        let (l, r) = job.segment.to_stereo();
        let id = job.id;
        let progress_tx = results.clone();
        let outcome = matcher.run(&l, &r, job.segment.sample_rate, &job.reference, &job.abort, &mut |p| {
            let _ = progress_tx.send(WorkerMsg::Progress(id, p.clone()));
        });
        if results.send(WorkerMsg::Done(id, outcome)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_backoff_doubles_up_to_its_cap() {
        let mut b = RECONNECT_FIRST;
        let mut waits = vec![b];
        for _ in 0..6 {
            b = next_backoff(b);
            waits.push(b);
        }
        let ms: Vec<u128> = waits.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn list_pages_fit_a_datagram_and_cover_every_name_once() {
        let names: Vec<String> = (0..1000).map(|i| format!("preset-{i:04}-{}", "x".repeat(i % 60))).collect();
        let mut offset = 0;
        let mut seen = Vec::new();
        loop {
            let (page, next) = list_page(&names, offset);
            assert!(!page.is_empty());
            let reply = Reply::new("preset/list", page.iter().cloned().map(Arg::Str).collect());
            let size = crate::control::osc::encode(&reply).len();
            assert!(size <= 1472, "a page of {size} bytes would be fragmented on Ethernet");
            seen.extend_from_slice(page);
            match next {
                Some(n) => offset = n,
                None => break,
            }
        }
        assert_eq!(seen, names);
        // A short list is one page; an offset past the end is an empty last page.
        assert_eq!(list_page(&names[..3], 0), (&names[..3], None));
        assert_eq!(list_page(&names[..3], 7), (&names[..0], None));
    }
}
