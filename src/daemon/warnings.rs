//! [`WarnLimiter`]: a rate limit for repeated warnings, so that a flood (bad packets, refused
//! commands) cannot fill an SD card with log.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// At most [`WARNINGS_PER_WINDOW`] warnings are logged per [`WARNING_WINDOW`]; the rest are
/// counted and summed up in one line when the window ends (a flood of bad packets must not fill
/// an SD card with log).
pub const WARNINGS_PER_WINDOW: u32 = 20;
/// See [`WARNINGS_PER_WINDOW`].
pub const WARNING_WINDOW: Duration = Duration::from_secs(10);

/// Rate limit for repeated warnings (usable through `&self`: the daemon logs from `&self`
/// methods).
#[derive(Debug)]
pub struct WarnLimiter {
    window_start: Cell<Instant>,
    logged: Cell<u32>,
    suppressed: Cell<u64>,
}

impl Default for WarnLimiter {
    fn default() -> Self {
        Self { window_start: Cell::new(Instant::now()), logged: Cell::new(0), suppressed: Cell::new(0) }
    }
}

impl WarnLimiter {
    /// Whether to log one more warning now; when a window closes with warnings held back, says
    /// how many first.
    pub fn allow(&self) -> bool {
        if self.window_start.get().elapsed() >= WARNING_WINDOW {
            let suppressed = self.suppressed.replace(0);
            if suppressed > 0 {
                tracing::warn!(
                    suppressed,
                    "{suppressed} more warnings like the ones above were not logged (rate limit)"
                );
            }
            self.window_start.set(Instant::now());
            self.logged.set(0);
        }
        if self.logged.get() < WARNINGS_PER_WINDOW {
            self.logged.set(self.logged.get() + 1);
            true
        } else {
            self.suppressed.set(self.suppressed.get() + 1);
            false
        }
    }
}
