//! [`JackEngine`]: the engine as a JACK client. Ports `in_l in_r out_l out_r` (mono: `in out`)
//! and a MIDI input `midi_in`; the process callback (`realtime::jack_callback`, on the audio
//! thread) runs the [`AudioProcessor`](super::AudioProcessor) and forwards note-on and
//! control-change events to the control side through a wait-free ring. This module is the
//! control side: connecting, noticing a lost server, reconnecting, re-making connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jack::{AudioIn, AudioOut, Client, ClientOptions, Control, MidiIn, PortFlags};

use super::build::{engine_from, Carried};
use super::realtime::jack_callback::{Ports, Process};
use super::realtime::SharedStats;
use super::{AudioControl, EngineConfig, EngineHandle, EngineStats, MidiEvent};
use crate::audio::AudioBuffer;
use crate::chain::ChainSpec;
use crate::error::{Error, Result};

/// Capacity of the MIDI ring (events between two `poll_midi` calls).
const MIDI_CAPACITY: usize = 1024;
/// How often the connections of the client's ports are noted while the server runs.
const NOTE_CONNECTIONS_EVERY: Duration = Duration::from_secs(1);
/// How long after a reconnect the noted connections are retried (the other clients come back
/// on their own schedule, e.g. restarted by systemd after jackd).
const RESTORE_CONNECTIONS_FOR: Duration = Duration::from_secs(120);

/// Server notifications: xruns and shutdown.
struct Notifications {
    stats: Arc<SharedStats>,
    running: Arc<AtomicBool>,
}

impl jack::NotificationHandler for Notifications {
    /// Only an atomic store: the one thing that is async-signal-safe enough here.
    unsafe fn shutdown(&mut self, _status: jack::ClientStatus, _reason: &str) {
        self.running.store(false, Ordering::Release);
    }

    fn xrun(&mut self, _: &Client) -> Control {
        self.stats.xruns.fetch_add(1, Ordering::Relaxed);
        Control::Continue
    }
}

/// The engine running as a JACK client. Deactivates and closes the client on drop.
pub struct JackEngine {
    handle: EngineHandle,
    client: Option<jack::AsyncClient<Notifications, Process>>,
    running: Arc<AtomicBool>,
    spec: ChainSpec,
    config: EngineConfig,
    /// The client's port connections as last noted, `(source, destination)`: made by hand
    /// (`jack_connect`, a patchbay) or by autoconnect; re-made after a reconnect.
    connections: Vec<(String, String)>,
    noted_at: Option<Instant>,
    /// After a reconnect: connections not re-made yet (the other end is not back), and until
    /// when to keep trying.
    to_restore: Vec<(String, String)>,
    restore_until: Option<Instant>,
}

fn server_name() -> String {
    std::env::var("JACK_DEFAULT_SERVER").unwrap_or_else(|_| "default".into())
}

impl JackEngine {
    /// Connect to the running JACK server (named by `JACK_DEFAULT_SERVER`, else `default`),
    /// register the ports, start processing, and auto-connect if the config asks.
    pub fn start(spec: &ChainSpec, config: &EngineConfig) -> Result<Self> {
        config.validate()?;
        let (handle, client, running) = connect(spec, config, None)?;
        Ok(Self {
            handle,
            client: Some(client),
            running,
            spec: spec.clone(),
            config: config.clone(),
            connections: Vec::new(),
            noted_at: None,
            to_restore: Vec::new(),
            restore_until: None,
        })
    }

    /// Whether the JACK server is still serving this client (false after a server shutdown).
    pub fn is_running(&self) -> bool {
        self.client.is_some() && self.running.load(Ordering::Acquire)
    }

    /// After the server went away and came back: close the dead client and connect a new one
    /// with the same parameters and bypass states, and the capture history heard before the
    /// outage (when the server still runs at the same rate), so a match or "learn this tone"
    /// right after a reconnect still has its segment. Does nothing while the connection is alive.
    pub fn reconnect(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let reader = self.handle.capture_reader();
        let heard = (reader.frames_heard().min(reader.capacity_frames() as u64)) as usize;
        let state = Carried {
            settings: self.handle.settings().clone(),
            // The old ring outlives its dead writer: copy out what it holds.
            history: reader.last_frames(heard).ok().map(|h| (reader.sample_rate(), h)),
        };
        if let Some(old) = self.client.take() {
            // The server is gone: deactivation may fail; closing the client is all that matters.
            // libjack waits out its server timeout (seconds) before it lets go of a client whose
            // server died. The close stays on this thread: closed on a thread of its own, it kept
            // the daemon from answering OSC for longer (over 5 s in the JACK test).
            let _ = old.deactivate();
        }
        let (handle, client, running) = connect(&self.spec, &self.config, Some(state))?;
        self.handle = handle;
        self.client = Some(client);
        self.running = running;
        // What was connected at the outage, plus what an earlier outage left to re-make.
        for c in std::mem::take(&mut self.connections) {
            if !self.to_restore.contains(&c) {
                self.to_restore.push(c);
            }
        }
        self.restore_until = Some(Instant::now() + RESTORE_CONNECTIONS_FOR);
        self.noted_at = None;
        self.restore_connections();
        Ok(())
    }

    /// Housekeeping while connected (call it every control tick): note the ports' connections
    /// about once a second, and after a reconnect re-make the noted ones as their other ends
    /// come back.
    pub fn maintain(&mut self) {
        if !self.is_running() || self.noted_at.is_some_and(|t| t.elapsed() < NOTE_CONNECTIONS_EVERY) {
            return;
        }
        self.noted_at = Some(Instant::now());
        if !self.to_restore.is_empty() {
            self.restore_connections();
        }
        self.connections = self.current_connections();
    }

    /// `(source, destination)` for every connection of the client's ports.
    fn current_connections(&self) -> Vec<(String, String)> {
        let Some(client) = self.client.as_ref().map(|c| c.as_client()) else { return Vec::new() };
        let (ins, outs, midi) = self.port_names();
        let mut all = Vec::new();
        for name in ins.iter().chain(std::iter::once(&midi)) {
            if let Some(port) = client.port_by_name(name) {
                all.extend(port.get_connections().into_iter().map(|other| (other, name.clone())));
            }
        }
        for name in &outs {
            if let Some(port) = client.port_by_name(name) {
                all.extend(port.get_connections().into_iter().map(|other| (name.clone(), other)));
            }
        }
        all
    }

    /// Re-make the noted connections whose ports exist again; give up after
    /// [`RESTORE_CONNECTIONS_FOR`] with a log line naming what is left.
    fn restore_connections(&mut self) {
        let Some(client) = self.client.as_ref().map(|c| c.as_client()) else { return };
        let existing = self.current_connections();
        self.to_restore.retain(|(src, dst)| {
            if existing.iter().any(|(s, d)| s == src && d == dst) {
                return false;
            }
            if client.port_by_name(src).is_none() || client.port_by_name(dst).is_none() {
                return true; // not back yet
            }
            match client.connect_ports_by_name(src, dst) {
                Ok(()) => {
                    tracing::info!("re-made the connection {src} -> {dst} after the reconnect");
                    false
                }
                Err(e) => {
                    tracing::warn!("cannot re-make the connection {src} -> {dst}: {e}");
                    false
                }
            }
        });
        if self.restore_until.is_some_and(|t| Instant::now() > t) && !self.to_restore.is_empty() {
            tracing::warn!(
                "gave up re-making {} connection(s) from before the outage, their other ports did not \
                 come back in {} s: {:?}; connect them by hand (jack_connect)",
                self.to_restore.len(),
                RESTORE_CONNECTIONS_FOR.as_secs(),
                self.to_restore
            );
            self.to_restore.clear();
        }
    }

    /// The control side (for what [`AudioControl`] does not cover).
    pub fn handle(&mut self) -> &mut EngineHandle {
        &mut self.handle
    }

    /// Full names of the client's ports: audio inputs, audio outputs, MIDI input.
    pub fn port_names(&self) -> (Vec<String>, Vec<String>, String) {
        let c = &self.config.client_name;
        let name = |p: &str| format!("{c}:{p}");
        if self.config.mono {
            (vec![name("in")], vec![name("out")], name("midi_in"))
        } else {
            (vec![name("in_l"), name("in_r")], vec![name("out_l"), name("out_r")], name("midi_in"))
        }
    }

    /// The JACK buffer size (frames per callback), when connected.
    pub fn buffer_size(&self) -> Option<u32> {
        self.client.as_ref().map(|c| c.as_client().buffer_size())
    }
}

/// A JACK error as fxmatch's, naming what was attempted.
fn jack_error(what: &str, e: jack::Error) -> Error {
    Error::invalid(
        format!("JACK: {what} failed: {e}"),
        "check the JACK server with `jack_lsp` and restart it if needed",
    )
}

type Connected = (EngineHandle, jack::AsyncClient<Notifications, Process>, Arc<AtomicBool>);

fn connect(spec: &ChainSpec, config: &EngineConfig, state: Option<Carried>) -> Result<Connected> {
    let (client, _status) =
        Client::new(&config.client_name, ClientOptions::NO_START_SERVER).map_err(|e| {
            Error::invalid(
                format!(
                    "cannot connect to the JACK server `{}` ({e}): no JACK server is running",
                    server_name()
                ),
                "start one first: `jackd -d alsa` on the board (add `-d hw:CARD` for the sound card), or \
             `jackd -d dummy -r 48000 -p 128` without a sound card; set JACK_DEFAULT_SERVER if it has a name",
            )
        })?;
    let rate = client.sample_rate();
    if let Some(want) = config.sample_rate {
        if want != rate {
            return Err(super::build::rate_mismatch(want, rate));
        }
    }
    let config = EngineConfig { sample_rate: Some(rate), ..config.clone() };
    let (mut handle, processor) = engine_from(spec, &config, state)?;
    let reg = |e| jack_error("registering a port", e);
    let ports = if config.mono {
        Ports::Mono {
            input: client.register_port("in", AudioIn::default()).map_err(reg)?,
            output: client.register_port("out", AudioOut::default()).map_err(reg)?,
        }
    } else {
        Ports::Stereo {
            in_l: client.register_port("in_l", AudioIn::default()).map_err(reg)?,
            in_r: client.register_port("in_r", AudioIn::default()).map_err(reg)?,
            out_l: client.register_port("out_l", AudioOut::default()).map_err(reg)?,
            out_r: client.register_port("out_r", AudioOut::default()).map_err(reg)?,
        }
    };
    let midi_in = client.register_port("midi_in", MidiIn::default()).map_err(reg)?;
    let (midi_tx, midi_rx) = rtrb::RingBuffer::new(MIDI_CAPACITY);
    handle.set_midi(midi_rx);
    let running = Arc::new(AtomicBool::new(true));
    let notifications = Notifications { stats: handle.shared_stats().clone(), running: running.clone() };
    let process = Process { processor, ports, midi_in, midi_tx };
    let active =
        client.activate_async(notifications, process).map_err(|e| jack_error("activating the client", e))?;
    if config.autoconnect {
        autoconnect(active.as_client(), &config)?;
    }
    Ok((handle, active, running))
}

fn autoconnect(client: &Client, config: &EngineConfig) -> Result<()> {
    let audio = Some("32 bit float mono audio");
    let capture = client.ports(Some("^system:capture_"), audio, PortFlags::IS_OUTPUT);
    let playback = client.ports(Some("^system:playback_"), audio, PortFlags::IS_INPUT);
    if capture.is_empty() || playback.is_empty() {
        return Err(Error::invalid(
            "engine.autoconnect is on but the JACK server has no system:capture_*/system:playback_* ports",
            "start jackd with a sound card driver (`jackd -d alsa`), or set engine.autoconnect = false and connect by hand",
        ));
    }
    let c = &config.client_name;
    let (ins, outs): (Vec<String>, Vec<String>) = if config.mono {
        (vec![format!("{c}:in")], vec![format!("{c}:out")])
    } else {
        (vec![format!("{c}:in_l"), format!("{c}:in_r")], vec![format!("{c}:out_l"), format!("{c}:out_r")])
    };
    let conn = |e| jack_error("connecting to the system ports", e);
    for (i, port) in ins.iter().enumerate() {
        client.connect_ports_by_name(&capture[i.min(capture.len() - 1)], port).map_err(conn)?;
    }
    for (i, port) in outs.iter().enumerate() {
        client.connect_ports_by_name(port, &playback[i.min(playback.len() - 1)]).map_err(conn)?;
    }
    // A mono output feeds both speakers.
    if config.mono && playback.len() > 1 {
        client.connect_ports_by_name(&outs[0], &playback[1]).map_err(conn)?;
    }
    Ok(())
}

/// How long the engine's drop waits for libjack to close the client.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

impl Drop for JackEngine {
    /// Deactivates and closes the client, on a helper thread given [`CLOSE_TIMEOUT`]: when the
    /// server dies while the client closes (a stop that sends SIGTERM to jackd and the daemon at
    /// once, as scripts/daemon_demo.sh's cleanup does), `jack_client_close` can wait forever on
    /// a lock that libjack's own client thread holds (seen: the daemon still up 10 minutes after
    /// SIGTERM, its state already saved). After the timeout the client is left to the OS, which
    /// releases it when the process exits a moment later.
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let closer = std::thread::Builder::new().name("fxmatch-jack-close".into()).spawn(move || {
            let _ = client.deactivate();
            let _ = done_tx.send(());
        });
        if closer.is_ok() && done_rx.recv_timeout(CLOSE_TIMEOUT).is_err() {
            tracing::warn!(
                "the JACK client did not close within {} s (the server went away while it closed); leaving it to the OS",
                CLOSE_TIMEOUT.as_secs()
            );
        }
    }
}

impl AudioControl for JackEngine {
    forward_audio_control_to_handle!();
    fn is_running(&self) -> bool {
        JackEngine::is_running(self)
    }
    fn maintain(&mut self) {
        JackEngine::maintain(self)
    }
    fn reconnect(&mut self) -> Result<()> {
        JackEngine::reconnect(self)
    }
}
