//! GPIO footswitches: lines of a Linux GPIO character device (uAPI v2) mapped to actions by the
//! config's `[gpio]` section, debounced in software ([`Debouncer`], a pure function of
//! timestamped edges, so it is tested without a chip).
//!
//! Reading the chip needs the `gpio` cargo feature (`cargo build --release --features gpio`,
//! crate `gpiocdev`); without it, [`spawn`] refuses a config that enables GPIO and says how to
//! build with it. Each accepted press sends the mapped [`Command`] (`Command::from(action)`) to
//! the control thread, as the MIDI footswitch does (replies go to OSC subscribers).

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use crate::config::DaemonConfig;
use crate::daemon::{Client, Command};
use crate::error::{Error, Result};

/// Software debounce of one switch, fed with its edges as they arrive.
///
/// Leading-edge debounce: the first edge after a quiet period is taken at once (no added
/// latency), and every edge within `debounce` of the previous edge (taken or not) is contact
/// bounce and ignored, so the window lasts until the contacts have been quiet for `debounce`.
/// A press edge that is taken fires the action; releases never fire.
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce_ns: u64,
    last_edge: Option<u64>,
}

impl Debouncer {
    /// A switch whose contacts settle within `debounce_ms`.
    pub fn new(debounce_ms: u32) -> Self {
        Self { debounce_ns: u64::from(debounce_ms) * 1_000_000, last_edge: None }
    }

    /// An edge at `t_ns` (monotonic nanoseconds, non-decreasing): `pressed` is true for a
    /// release→press edge. Returns whether this is a press to act on.
    pub fn edge(&mut self, t_ns: u64, pressed: bool) -> bool {
        let bounce = self.last_edge.is_some_and(|last| t_ns.saturating_sub(last) < self.debounce_ns);
        self.last_edge = Some(t_ns);
        pressed && !bounce
    }
}

/// The presses acted on among `edges` (time in ns, pressed), in order: [`Debouncer`] over a list.
pub fn debounce(edges: &[(u64, bool)], debounce_ms: u32) -> Vec<u64> {
    let mut d = Debouncer::new(debounce_ms);
    edges.iter().filter(|&&(t, pressed)| d.edge(t, pressed)).map(|&(t, _)| t).collect()
}

/// Start reading the configured GPIO lines on a thread that sends their commands to
/// `commands` until `stop` is set. Does nothing (Ok(None)) when `[gpio] enabled = false`.
/// Without the `gpio` feature, an enabled `[gpio]` is an error that names the feature.
pub fn spawn(
    config: &DaemonConfig,
    commands: SyncSender<(Command, Client)>,
    stop: Arc<AtomicBool>,
) -> Result<Option<std::thread::JoinHandle<()>>> {
    if !config.gpio.enabled {
        return Ok(None);
    }
    if config.gpio.map.is_empty() {
        return Err(Error::config(
            &config.path,
            None,
            "[gpio] enabled = true but no [[gpio.map]] line is mapped",
            "add e.g. `[[gpio.map]]` with `line = 17` and `action = \"match\"`, or set enabled = false",
        ));
    }
    imp::spawn(config, commands, stop)
}

#[cfg(not(feature = "gpio"))]
mod imp {
    use super::*;

    pub(super) fn spawn(
        config: &DaemonConfig,
        _: SyncSender<(Command, Client)>,
        _: Arc<AtomicBool>,
    ) -> Result<Option<std::thread::JoinHandle<()>>> {
        Err(Error::config(
            &config.path,
            None,
            "[gpio] enabled = true, but this fxmatch was built without GPIO support (the `gpio` cargo feature)",
            "build with `cargo build --release --features gpio` (Linux GPIO character device v2), or set \
             [gpio] enabled = false and use a MIDI footswitch",
        ))
    }
}

#[cfg(feature = "gpio")]
mod imp {
    use std::collections::HashMap;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use crate::config::Action;
    use gpiocdev::line::{Bias, EdgeDetection, EdgeKind};

    use super::*;

    pub(super) fn spawn(
        config: &DaemonConfig,
        commands: SyncSender<(Command, Client)>,
        stop: Arc<AtomicBool>,
    ) -> Result<Option<std::thread::JoinHandle<()>>> {
        let chip = &config.gpio.chip;
        let fix = "check the chip path (`ls /dev/gpiochip*`, `gpioinfo`), the line numbers, that no other \
                   program holds the lines, and that the daemon's user may open the device (group gpio)";
        let mut builder = gpiocdev::Request::builder();
        builder.on_chip(chip).with_consumer("fxmatch");
        for m in &config.gpio.map {
            builder.with_line(m.line).as_input().with_edge_detection(EdgeDetection::BothEdges);
            if m.active_low {
                // A switch to ground with the pull-up on: pressed = low.
                builder.as_active_low().with_bias(Bias::PullUp);
            } else {
                builder.with_bias(Bias::PullDown);
            }
        }
        let request = builder.request().map_err(|e| {
            Error::invalid(format!("cannot request GPIO lines on {}: {e}", chip.display()), fix)
        })?;
        let actions: HashMap<u32, Action> = config.gpio.map.iter().map(|m| (m.line, m.action)).collect();
        let debounce_ms = config.gpio.debounce_ms;
        tracing::info!(chip = %chip.display(), lines = ?actions, debounce_ms, "GPIO footswitches");
        let thread = std::thread::Builder::new()
            .name("fxmatch-gpio".into())
            .spawn(move || {
                let mut debouncers: HashMap<u32, Debouncer> =
                    actions.keys().map(|&l| (l, Debouncer::new(debounce_ms))).collect();
                while !stop.load(Ordering::Relaxed) {
                    match request.wait_edge_event(Duration::from_millis(100)) {
                        Ok(false) => continue,
                        Ok(true) => {}
                        Err(e) => {
                            tracing::error!("GPIO footswitches stopped: {e}; fix: {fix}");
                            return;
                        }
                    }
                    let event = match request.read_edge_event() {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::error!("GPIO footswitches stopped: {e}; fix: {fix}");
                            return;
                        }
                    };
                    let pressed = event.kind == EdgeKind::Rising;
                    let Some(d) = debouncers.get_mut(&event.offset) else { continue };
                    if d.edge(event.timestamp_ns, pressed) {
                        let action = actions[&event.offset];
                        tracing::info!(line = event.offset, ?action, "GPIO footswitch");
                        if commands.send((Command::from(action), None)).is_err() {
                            return;
                        }
                    }
                }
            })
            .map_err(|e| Error::invalid(format!("cannot start the GPIO thread: {e}"), "free memory"))?;
        Ok(Some(thread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_clean_press_fires_once_at_once() {
        assert_eq!(debounce(&[(100 * MS, true), (400 * MS, false)], 30), [100 * MS]);
    }

    #[test]
    fn contact_bounce_on_press_and_release_is_ignored() {
        // Press at 100 ms bouncing for 4 ms, release at 500 ms bouncing for 5 ms.
        let edges = [
            (100 * MS, true),
            (101 * MS, false),
            (102 * MS, true),
            (103 * MS, false),
            (104 * MS, true),
            (500 * MS, false),
            (502 * MS, true),
            (505 * MS, false),
        ];
        assert_eq!(debounce(&edges, 30), [100 * MS]);
    }

    #[test]
    fn bounce_longer_than_the_window_extends_it() {
        // Edges every 20 ms for 100 ms with a 30 ms window: all one press.
        let edges: Vec<(u64, bool)> = (0..6).map(|i| ((100 + 20 * i) * MS, i % 2 == 0)).collect();
        assert_eq!(debounce(&edges, 30), [100 * MS]);
    }

    #[test]
    fn separate_presses_fire_separately() {
        let edges = [(0, true), (150 * MS, false), (300 * MS, true), (450 * MS, false), (600 * MS, true)];
        assert_eq!(debounce(&edges, 30), [0, 300 * MS, 600 * MS]);
    }

    #[test]
    fn a_release_lost_in_bounce_does_not_swallow_the_next_press() {
        // Pressed, a quick tap released within the window, then a real press later.
        let edges = [(0, true), (10 * MS, false), (200 * MS, true)];
        assert_eq!(debounce(&edges, 30), [0, 200 * MS]);
    }

    #[test]
    fn zero_debounce_takes_every_press() {
        assert_eq!(debounce(&[(0, true), (1, false), (2, true)], 0), [0, 2]);
    }

    #[cfg(not(feature = "gpio"))]
    #[test]
    fn enabled_gpio_without_the_feature_names_the_feature() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.toml");
        std::fs::write(&p, "[gpio]\nenabled = true\n[[gpio.map]]\nline = 17\naction = \"match\"\n").unwrap();
        let config = DaemonConfig::load(&p).unwrap();
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        let e = spawn(&config, tx, Arc::new(AtomicBool::new(false))).unwrap_err().to_string();
        assert!(e.contains("--features gpio") && e.contains("`gpio` cargo feature"), "{e}");
    }
}
