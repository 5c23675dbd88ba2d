//! Matches: what the daemon is doing ([`Activity`]: idle, capturing the next seconds, or
//! searching with at most one request queued behind), and the worker thread that searches.
//!
//! A trigger while matching aborts the running search (between generations) and queues the new
//! one; further triggers only replace the queued request, so a storm of triggers costs one
//! aborted generation and one new match, not a pile of work.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::protocol::{Aborted, Client, Phase, Reply};
use super::strategy::Strategy;
use super::Daemon;
use crate::audio::AudioBuffer;
use crate::error::Result;
use crate::metric::Embedding;
use crate::optimize::{check_audio, MatchOutcome, Matcher, Progress};

/// A match asked for: who asked, against what, since when.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub client: Client,
    pub reference: String,
    pub embedding: Embedding,
    /// The reference's WAVs: one, or a set's clips (the predictor reads them with its own
    /// analysers).
    pub clips: Vec<PathBuf>,
    pub triggered: Instant,
}

/// Waiting for the next N seconds of input, for a request.
#[derive(Debug)]
pub(super) struct Capture {
    until: Instant,
    request: Request,
}

/// The search on the worker: its id, request and abort flag, how far it got, and the request
/// that replaces it once it has stopped (coalesced triggers).
#[derive(Debug)]
pub(super) struct Search {
    id: u64,
    request: Request,
    abort: Arc<AtomicBool>,
    progress: f32,
    next: Option<(Request, AudioBuffer)>,
}

/// What the daemon is doing about matches.
#[derive(Debug, Default)]
pub(super) enum Activity {
    /// Nothing.
    #[default]
    Idle,
    /// Capturing the next N seconds (`capture_mode = "next"`).
    Capturing(Capture),
    /// Searching; a capture for the next trigger may run meanwhile.
    Matching { search: Search, capture: Option<Capture> },
}

impl Activity {
    /// The phase `/fxmatch/status` reports.
    pub fn phase(&self) -> Phase {
        match self {
            Activity::Idle => Phase::Idle,
            Activity::Capturing(_) => Phase::Capturing,
            Activity::Matching { .. } => Phase::Matching,
        }
    }

    /// The running search's progress, 0–1 (0 when none runs).
    pub fn progress(&self) -> f32 {
        match self {
            Activity::Matching { search, .. } => search.progress,
            _ => 0.0,
        }
    }

    /// Ask the running search, if any, to stop.
    pub fn abort(&self) {
        if let Activity::Matching { search, .. } = self {
            search.abort.store(true, Ordering::Relaxed);
        }
    }

    /// Drop a pending capture and a queued request; abort the search. Idle unless a search has
    /// yet to stop.
    fn cancel(&mut self) {
        match std::mem::take(self) {
            Activity::Matching { mut search, .. } => {
                search.abort.store(true, Ordering::Relaxed);
                search.next = None;
                *self = Activity::Matching { search, capture: None };
            }
            Activity::Idle | Activity::Capturing(_) => {}
        }
    }

    /// Take the pending capture out when its seconds are in.
    fn take_due_capture(&mut self, now: Instant) -> Option<Capture> {
        match std::mem::take(self) {
            Activity::Capturing(c) if now >= c.until => Some(c),
            Activity::Matching { search, capture: Some(c) } if now >= c.until => {
                *self = Activity::Matching { search, capture: None };
                Some(c)
            }
            other => {
                *self = other;
                None
            }
        }
    }
}

/// A job for the worker.
pub(super) struct Job {
    id: u64,
    segment: AudioBuffer,
    reference: Embedding,
    reference_clips: Vec<PathBuf>,
    abort: Arc<AtomicBool>,
}

/// News from the worker.
pub(super) enum WorkerMsg {
    Progress(u64, Progress),
    Done(u64, Result<MatchOutcome>),
}

impl Daemon {
    /// A trigger: start the search on the last seconds, or capture the next ones first.
    pub(super) fn trigger(&mut self, request: Request, next_seconds: bool) -> Result<()> {
        if !next_seconds {
            let segment = self.capture()?;
            self.start(request, segment);
            return Ok(());
        }
        let capture =
            Capture { until: Instant::now() + Duration::from_secs_f32(self.config.capture_seconds), request };
        let client = capture.request.client;
        let old = match std::mem::take(&mut self.activity) {
            Activity::Idle => {
                self.activity = Activity::Capturing(capture);
                None
            }
            Activity::Capturing(old) => {
                self.activity = Activity::Capturing(capture);
                Some(old)
            }
            Activity::Matching { search, capture: old } => {
                self.activity = Activity::Matching { search, capture: Some(capture) };
                old
            }
        };
        if let Some(old) = old {
            self.superseded(old.request.client, client);
        }
        Ok(())
    }

    /// `/fxmatch/cancel`: returns the phase it was in.
    pub(super) fn cancel(&mut self) -> Phase {
        let was = self.activity.phase();
        self.activity.cancel();
        was
    }

    /// Tell `old` its request was replaced by one of `new` (not when they are the same client).
    fn superseded(&self, old: Client, new: Client) {
        if old != new {
            self.send(old, Reply::Aborted(Aborted::Superseded));
        }
    }

    /// The last capture-seconds of input, checked (not silent, finite).
    pub(super) fn capture(&mut self) -> Result<AudioBuffer> {
        let segment = self.audio.capture_last(self.config.capture_seconds)?;
        check_audio(&segment, "captured input")?;
        Ok(segment)
    }

    /// Hand a request and its segment to the worker, or queue it behind the running search.
    fn start(&mut self, request: Request, segment: AudioBuffer) {
        if let Activity::Matching { search, .. } = &mut self.activity {
            search.abort.store(true, Ordering::Relaxed);
            let client = request.client;
            if let Some((old, _)) = search.next.replace((request, segment)) {
                self.superseded(old.client, client);
            }
            return;
        }
        self.next_id += 1;
        let abort = Arc::new(AtomicBool::new(false));
        let job = Job {
            id: self.next_id,
            segment,
            reference: request.embedding.clone(),
            reference_clips: request.clips.clone(),
            abort: abort.clone(),
        };
        if self.jobs.send(job).is_err() {
            self.send(request.client, Reply::error("the match thread has stopped; restart the daemon"));
            return;
        }
        let search = Search { id: self.next_id, request, abort, progress: 0.0, next: None };
        let capture = match std::mem::take(&mut self.activity) {
            Activity::Capturing(c) => Some(c),
            _ => None,
        };
        self.activity = Activity::Matching { search, capture };
    }

    /// The capture deadline and the worker's news: called every tick.
    pub(super) fn poll_matching(&mut self) {
        if let Some(Capture { request, .. }) = self.activity.take_due_capture(Instant::now()) {
            match self.capture() {
                Ok(segment) => self.start(request, segment),
                Err(e) => self.send(request.client, Reply::error(e)),
            }
        }
        while let Ok(msg) = self.results.try_recv() {
            match msg {
                WorkerMsg::Progress(id, p) => {
                    let Activity::Matching { search, .. } = &mut self.activity else { continue };
                    if search.id != id {
                        continue;
                    }
                    search.progress = p.generation as f32 / p.max_generations.max(1) as f32;
                    let reply = Reply::Progress {
                        progress: search.progress,
                        best_similarity: p.best_similarity,
                        generation: p.generation,
                        max_generations: p.max_generations,
                    };
                    let client = search.request.client;
                    self.send(client, reply);
                }
                WorkerMsg::Done(id, outcome) => self.finished(id, outcome),
            }
        }
    }

    fn finished(&mut self, id: u64, outcome: Result<MatchOutcome>) {
        let (search, capture) = match std::mem::take(&mut self.activity) {
            Activity::Matching { search, capture } if search.id == id => (search, capture),
            other => {
                self.activity = other;
                return;
            }
        };
        self.activity = capture.map_or(Activity::Idle, Activity::Capturing);
        let request = search.request;
        if let Some((next, segment)) = search.next {
            // Superseded by a newer trigger: tell the old requester, start the new search.
            self.superseded(request.client, next.client);
            self.start(next, segment);
            return;
        }
        if search.abort.load(Ordering::Relaxed) {
            self.send(request.client, Reply::Aborted(Aborted::Cancelled));
            return;
        }
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => return self.send(request.client, Reply::error(e)),
        };
        if let Err(e) = self.audio.apply_normalized(&outcome.x) {
            return self.send(request.client, Reply::error(e));
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
        let reply = Reply::Result {
            similarity: outcome.similarity,
            reference: request.reference,
            from: outcome.similarity_input,
            evaluations: outcome.evaluations,
            latency,
        };
        self.send(request.client, reply);
    }
}

/// The match thread: one matcher, reused for every job; below normal priority so the control
/// thread and the rest of the system stay responsive (the audio thread is real-time anyway).
pub(super) fn worker(
    mut matcher: Matcher,
    mut strategy: Strategy,
    jobs: Receiver<Job>,
    results: Sender<WorkerMsg>,
) {
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
        let outcome = strategy.run(
            &mut matcher,
            (&l, &r),
            job.segment.sample_rate,
            &job.reference,
            &job.reference_clips,
            &job.abort,
            &mut |p| {
                let _ = progress_tx.send(WorkerMsg::Progress(id, p.clone()));
            },
        );
        if results.send(WorkerMsg::Done(id, outcome)).is_err() {
            return;
        }
    }
}
