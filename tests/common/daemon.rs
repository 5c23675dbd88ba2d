//! Helpers of the daemon tests: the real `fxmatch daemon` binary, OSC through liblo's
//! `oscsend` and `oscdump`, and a test config.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::{root, test_signal, write_test_wav};

/// A child process killed (by its own handle) when the test ends, pass or fail.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon tests each run a match (the matcher takes both cores of the test machine): run
/// them one at a time, so that the JACK test's xrun count measures its own daemon's match.
pub static ONE_DAEMON_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_DAEMON_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real tools these tests drive; missing ones fail the test with the fix (never a skip).
pub fn require_tools() {
    for tool in ["oscsend", "oscdump", "jackd", "jack_metro", "jack_connect", "jack_midiseq", "jack_lsp"] {
        let found = Command::new("which").arg(tool).output().is_ok_and(|o| o.status.success());
        assert!(found, "{tool} not found: install liblo-tools and jackd2 (bash scripts/setup.sh does)");
    }
}

/// `oscdump -L port`, its lines arriving on a channel.
pub struct Dump {
    _child: Guard,
    lines: Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Dump {
    pub fn start(port: u16) -> Self {
        let mut child = Command::new("oscdump")
            .args(["-L", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("oscdump runs (apt-get install liblo-tools)");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { _child: Guard(child), lines, seen: Vec::new() }
    }

    /// The next line whose address is `address`, within `timeout`; arguments after the types.
    pub fn expect(&mut self, address: &str, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else { break };
            self.seen.push(line.clone());
            // "TIMETAG ADDRESS TYPES ARG…"
            let mut parts = line.split_whitespace();
            let _ = parts.next();
            if parts.next() == Some(address) {
                let _types = parts.next();
                return parts.map(|s| s.trim_matches('"').to_string()).collect();
            }
        }
        panic!("no {address} within {timeout:?}; seen:\n{}", self.seen.join("\n"));
    }

    /// Lines with `address` arriving within `window`.
    pub fn count(&mut self, address: &str, window: Duration) -> usize {
        let end = Instant::now() + window;
        let mut n = 0;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else { break };
            n += usize::from(line.split_whitespace().nth(1) == Some(address));
            self.seen.push(line);
        }
        n
    }
}

pub fn oscsend(port: u16, args: &[&str]) {
    let st = Command::new("oscsend").arg("127.0.0.1").arg(port.to_string()).args(args).status().unwrap();
    assert!(st.success(), "oscsend {args:?}");
}

pub struct Setup {
    /// The temporary folder holding the config, state and references.
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub config: PathBuf,
    pub input: PathBuf,
    pub port: u16,
}

pub fn setup() -> Setup {
    setup_with_chain("config/chains/eq-comp.toml")
}

/// A daemon config for `chain` (relative to the repository root), its references and input.
pub fn setup_with_chain(chain: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs");
    std::fs::create_dir_all(&refs).unwrap();
    std::fs::copy(root().join("assets/audio/content/guitar_acoustic.wav"), refs.join("acoustic.wav"))
        .unwrap();
    let input = write_test_wav(dir.path(), "dry.wav", &test_signal(48_000, 6.0));
    let port = free_udp_port();
    let state = dir.path().join("state");
    let config = dir.path().join("daemon.toml");
    std::fs::write(
        &config,
        format!(
            "chain = \"{}\"\nreferences = \"refs\"\nstate = \"state\"\n\n[capture]\nseconds = 2.0\n\n\
             [match]\nprofile = \"live\"\nthreads = 2\n\n[osc]\nport = {port}\n\n\
             [[midi.map]]\nnote = 60\naction = \"match\"\n",
            root().join(chain).display()
        ),
    )
    .unwrap();
    Setup { dir, state, config, input, port }
}

/// `fxmatch daemon --backend offline` with the setup's config, its log (stderr) into `log`.
pub fn start_daemon_logged(s: &Setup, log: &std::path::Path) -> Guard {
    offline_daemon(s, std::fs::File::create(log).unwrap().into())
}

/// `fxmatch daemon --backend offline` with the setup's config, its log discarded.
pub fn start_daemon(s: &Setup) -> Guard {
    offline_daemon(s, Stdio::null())
}

fn offline_daemon(s: &Setup, stderr: Stdio) -> Guard {
    Guard(
        super::fxmatch()
            .args(["daemon", "--backend", "offline", "--config"])
            .arg(&s.config)
            .arg("--input")
            .arg(&s.input)
            .stderr(stderr)
            .spawn()
            .unwrap(),
    )
}

/// A JACK tool (`jack_metro`, `jack_connect`, …) as a client of `server`, its output discarded.
pub fn jack_tool(server: &str, tool: &str) -> Command {
    let mut c = Command::new(tool);
    c.env("JACK_DEFAULT_SERVER", server).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

/// `/fxmatch/param/set effect param value` as OSC bytes.
pub fn param_set_bytes(effect: &str, param: &str, value: f32) -> Vec<u8> {
    osc_bytes(
        "/fxmatch/param/set",
        vec![
            rosc::OscType::String(effect.into()),
            rosc::OscType::String(param.into()),
            rosc::OscType::Float(value),
        ],
    )
}

/// Subscribe `listen` until the daemon answers (it may still be starting).
pub fn subscribe(dump: &mut Dump, port: u16, listen: u16) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        oscsend(port, &["/fxmatch/subscribe", "i", &listen.to_string()]);
        if dump.count("/fxmatch/subscribed", Duration::from_millis(300)) > 0 {
            return;
        }
        assert!(Instant::now() < end, "the daemon never answered; seen:\n{}", dump.seen.join("\n"));
    }
}

pub fn send_raw(port: u16, bytes: &[u8]) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(bytes, ("127.0.0.1", port)).unwrap();
}

pub fn osc_bytes(addr: &str, args: Vec<rosc::OscType>) -> Vec<u8> {
    rosc::encoder::encode(&rosc::OscPacket::Message(rosc::OscMessage { addr: addr.into(), args })).unwrap()
}

/// `/fxmatch/stats`: blocks, overruns, xruns, peak load, connected, reconnects.
pub fn stats(dump: &mut Dump, port: u16) -> (i64, i64, i64, f32, i32, i32) {
    oscsend(port, &["/fxmatch/stats"]);
    let a = dump.expect("/fxmatch/stats", Duration::from_secs(5));
    let p = |i: usize| a[i].parse::<f64>().unwrap_or_else(|_| panic!("stats {a:?}"));
    (p(0) as i64, p(1) as i64, p(2) as i64, p(3) as f32, p(4) as i32, p(5) as i32)
}

/// Poll `done` every 50 ms until it holds; fail naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "{what} (waited {timeout:?})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `fxmatch daemon --backend jack` with the setup's config, a client of `server`, logging to `log`.
pub fn start_daemon_on_jack(s: &Setup, server: &str, log: &std::path::Path) -> Guard {
    Guard(
        super::fxmatch()
            .env("JACK_DEFAULT_SERVER", server)
            .args(["daemon", "--backend", "jack", "--config"])
            .arg(&s.config)
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// SIGTERM the daemon and wait (10 s at most) until it has exited.
pub fn stop_with_sigterm(daemon: &mut Guard) {
    let pid = daemon.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while daemon.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "the daemon did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A private `jackd -d dummy` server named `PREFIX-PID`, the daemon as its client (its log in
/// the setup's folder as `daemon.log`) and an `oscdump` subscribed to its replies.
pub fn daemon_on_jack(s: &Setup, prefix: &str) -> (super::JackServer, Dump, Guard) {
    let jackd = super::JackServer::start(&format!("{prefix}-{}", std::process::id()));
    let listen = free_udp_port();
    let mut dump = Dump::start(listen);
    let daemon = start_daemon_on_jack(s, &jackd.name, &s.dir.path().join("daemon.log"));
    subscribe(&mut dump, s.port, listen);
    (jackd, dump, daemon)
}
