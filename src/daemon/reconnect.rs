//! A lost audio server: noticed on every tick, reconnected with a backoff (200 ms doubling to
//! 5 s) while the matcher, OSC and the state keep working.

use std::time::{Duration, Instant};

use super::Daemon;
use crate::engine::EngineStats;

/// Shortest wait between two reconnect attempts; doubles after each failure.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
/// Longest wait between two reconnect attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A lost audio server: since when, how often we tried, when to try next.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outage {
    since: Instant,
    attempts: u32,
    next_try: Instant,
    backoff: Duration,
}

/// The backend's connection over the daemon's life: the outage in progress, the reconnects
/// so far, and the counters of the engines a reconnect replaced.
#[derive(Debug, Default)]
pub(super) struct Connection {
    outage: Option<Outage>,
    reconnects: u32,
    /// Counters of engines replaced by a reconnect (added to the live engine's).
    before: EngineStats,
}

/// The wait after `backoff` failed: doubled, at most [`RECONNECT_MAX`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(RECONNECT_MAX)
}

impl Connection {
    /// Whether no outage is in progress.
    pub fn is_up(&self) -> bool {
        self.outage.is_none()
    }

    /// Successful reconnects since start.
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// The live engine's counters `now` plus those of the engines it replaced.
    pub fn total(&self, now: EngineStats) -> EngineStats {
        let b = &self.before;
        EngineStats {
            blocks: b.blocks + now.blocks,
            overruns: b.overruns + now.overruns,
            xruns: b.xruns + now.xruns,
            peak_load: b.peak_load.max(now.peak_load),
            mean_load: now.mean_load,
        }
    }

    /// Start the peak load afresh (the live engine's is reset by the caller).
    pub fn reset_load(&mut self) {
        self.before.peak_load = 0.0;
    }
}

impl Daemon {
    /// Notice a lost audio server and reconnect with a backoff; the matcher, OSC and state
    /// keep working meanwhile.
    pub(super) fn watch_backend(&mut self) {
        let now = Instant::now();
        let link = &mut self.connection;
        if link.outage.is_none() {
            if self.audio.is_running() {
                self.audio.maintain();
                return;
            }
            tracing::warn!(
                "the audio server has gone away (JACK shut down or was restarted); audio stopped, \
                 reconnecting with the same parameters as soon as it is back"
            );
            link.outage = Some(Outage { since: now, attempts: 0, next_try: now, backoff: RECONNECT_FIRST });
        }
        let Some(mut outage) = link.outage else { return };
        if now < outage.next_try {
            return;
        }
        let before = self.audio.stats();
        outage.attempts += 1;
        match self.audio.reconnect() {
            Ok(()) => {
                link.reconnects += 1;
                link.before.blocks += before.blocks;
                link.before.overruns += before.overruns;
                link.before.xruns += before.xruns;
                link.before.peak_load = link.before.peak_load.max(before.peak_load);
                tracing::info!(
                    attempts = outage.attempts,
                    down_s = outage.since.elapsed().as_secs_f32(),
                    "reconnected to the audio server; ports registered again; parameters, bypass states \
                     and the capture history restored; connections re-made as their ports come back"
                );
                link.outage = None;
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
                link.outage = Some(outage);
            }
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
}
