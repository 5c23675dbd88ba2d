//! OSC over UDP: decode `/fxmatch/...` messages into daemon [`Command`]s, encode [`Reply`]s,
//! and keep the subscriber list. The address space is documented in `docs/osc.md`.
//!
//! Every message is answered to its sender. Subscribers (`/fxmatch/subscribe [port [host]]`)
//! get a copy of every reply plus the unsolicited `/fxmatch/progress` and `/fxmatch/result`: a
//! monitor for a UI, and the way one-shot senders such as liblo's `oscsend` (which exits
//! without listening) read answers on a port of their choosing (e.g. `oscdump -L PORT`).
//!
//! Loops and floods are cut here, at the edge: the daemon never subscribes its own socket, drops
//! datagrams that come from it, never answers a message sent to one of its own reply addresses
//! (two daemons subscribed to each other stay quiet), hands commands to the control thread
//! through a bounded queue (a full queue is answered `/fxmatch/error … busy`), and rate-limits
//! its warnings. Every datagram up to the UDP maximum is read whole, so a bundle is never cut.
//! With `[osc] secret` set, a sender must first `/fxmatch/auth SECRET`; until then it only gets
//! a bare `/fxmatch/auth` back (never more bytes than it sent: no traffic reflection).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use rosc::{OscMessage, OscPacket, OscType};

use crate::daemon::{Aborted, Client, Command, Event, List, Reply};
pub use crate::daemon::{WarnLimiter, WARNINGS_PER_WINDOW, WARNING_WINDOW};
use crate::error::{Error, Result};

/// Address prefix of every message.
pub const PREFIX: &str = "/fxmatch/";

/// Most subscribers kept; further subscriptions are refused with an error until one
/// unsubscribes (a stranger cannot evict a live subscriber, nor grow the list without bound).
pub const MAX_SUBSCRIBERS: usize = 16;

/// Most authenticated senders remembered (with `[osc] secret`); the longest-unseen is forgotten
/// beyond this and has to authenticate again.
pub const MAX_AUTHENTICATED: usize = 64;

/// Commands waiting for the control thread at most; beyond this a command is refused with
/// `/fxmatch/error … busy` instead of piling up (a flood must not delay `status` by seconds).
pub const COMMAND_QUEUE: usize = 256;

/// The receive buffer: the largest UDP payload (65,535 − 8 − 20 bytes), so no datagram is cut.
const MAX_DATAGRAM: usize = 65_507;

/// Addresses the daemon itself sends (replies and news). A message arriving at one of them that
/// is not also a valid command is somebody's reply (or our own, looped back): it is dropped
/// without an answer, since answering it with an error is how two endpoints loop forever.
pub const REPLY_ADDRESSES: &[&str] = &[
    "ok",
    "error",
    "status",
    "stats",
    "progress",
    "result",
    "aborted",
    "param",
    "reference/list",
    "preset/list",
    "list/more",
    "subscribed",
    "unsubscribed",
    "pong",
    "auth",
    "authenticated",
];

/// A decoded message: for the daemon, or for the OSC layer itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A daemon command.
    Daemon(Command),
    /// Add a subscriber; `None`: the sender.
    Subscribe(Option<SocketAddr>),
    /// Remove a subscriber; `None`: the sender.
    Unsubscribe(Option<SocketAddr>),
    /// Liveness check, answered `/fxmatch/pong`.
    Ping,
    /// The shared secret (`[osc] secret`), answered `/fxmatch/authenticated` when it matches.
    Auth(String),
}

fn describe(args: &[OscType]) -> String {
    let tags: String = args
        .iter()
        .map(|a| match a {
            OscType::Int(_) => 'i',
            OscType::Float(_) => 'f',
            OscType::String(_) => 's',
            OscType::Double(_) => 'd',
            OscType::Long(_) => 'h',
            OscType::Bool(true) => 'T',
            OscType::Bool(false) => 'F',
            OscType::Blob(_) => 'b',
            _ => '?',
        })
        .collect();
    if tags.is_empty() {
        "no arguments".into()
    } else {
        format!("type tags `{tags}`")
    }
}

fn as_str(a: &OscType) -> Option<String> {
    match a {
        OscType::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn as_f32(a: &OscType) -> Option<f32> {
    match *a {
        OscType::Float(v) => Some(v),
        OscType::Double(v) => Some(v as f32),
        OscType::Int(v) => Some(v as f32),
        OscType::Long(v) => Some(v as f32),
        _ => None,
    }
}

fn as_int(a: &OscType) -> Option<i64> {
    match *a {
        OscType::Int(v) => Some(v as i64),
        OscType::Long(v) => Some(v),
        OscType::Bool(b) => Some(b as i64),
        OscType::Float(v) if v.fract() == 0.0 => Some(v as i64),
        _ => None,
    }
}

fn target(args: &[OscType]) -> Option<Option<SocketAddr>> {
    match args {
        [] => Some(None),
        [p] => {
            let port = u16::try_from(as_int(p)?).ok().filter(|&p| p > 0)?;
            Some(Some(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port)))
        }
        [p, h] => {
            let port = u16::try_from(as_int(p)?).ok().filter(|&p| p > 0)?;
            let host: IpAddr = as_str(h)?.parse().ok()?;
            Some(Some(SocketAddr::new(host, port)))
        }
        _ => None,
    }
}

const LIST_USAGE: &str =
    "with no argument, or i offset (where the previous /fxmatch/list/more said to go on)";

/// The offset of a list request: none means 0.
fn list_offset(args: &[OscType]) -> Option<usize> {
    match args {
        [] => Some(0),
        [v] => usize::try_from(as_int(v)?).ok(),
        _ => None,
    }
}

/// Decode one message. Errors say what was wrong (unknown address, wrong arguments) and what
/// the address takes.
pub fn parse(msg: &OscMessage) -> Result<Request> {
    let Some(addr) = msg.addr.strip_prefix(PREFIX) else {
        return Err(Error::invalid(
            format!("unknown address `{}`: fxmatch listens under {PREFIX}", msg.addr),
            "send e.g. /fxmatch/status (docs/osc.md lists every address)",
        ));
    };
    let a = &msg.args[..];
    let s = |i: usize| a.get(i).and_then(as_str);
    let usage = |signature: &str| {
        Error::invalid(format!("{} got {}", msg.addr, describe(a)), format!("send {} {signature}", msg.addr))
    };
    let one_name = |what: &str| -> Result<String> {
        match a {
            [OscType::String(name)] => Ok(name.clone()),
            _ => Err(usage(&format!("with one string argument ({what})"))),
        }
    };
    let request = match addr {
        "match" => match a {
            [] => Command::Match(None),
            [OscType::String(name)] => Command::Match(Some(name.clone())),
            _ => return Err(usage("with no argument, or one string (a reference name)")),
        },
        "cancel" if a.is_empty() => Command::Cancel,
        "status" if a.is_empty() => Command::Status,
        "stats" if a.is_empty() => Command::Stats,
        "stats/reset" if a.is_empty() => Command::StatsReset,
        "reference/list" => Command::ReferenceList(list_offset(a).ok_or_else(|| usage(LIST_USAGE))?),
        "reference/next" if a.is_empty() => Command::ReferenceNext,
        "reference/select" => Command::ReferenceSelect(one_name("a reference name")?),
        "reference/add" => Command::ReferenceAdd(one_name("the new reference's name")?),
        "reference/remove" => Command::ReferenceRemove(one_name("a reference name")?),
        "bypass" => match a {
            [v] if as_int(v).is_some() => Command::Bypass(None, as_int(v) != Some(0)),
            [OscType::String(e), v] if as_int(v).is_some() => {
                Command::Bypass(Some(e.clone()), as_int(v) != Some(0))
            }
            _ => return Err(usage("i (1 bypass, 0 enable) for the chain, or s i for one effect")),
        },
        "param/get" => match (s(0), s(1), a.len()) {
            (Some(e), Some(p), 2) => Command::ParamGet(e, p),
            _ => return Err(usage("s s (effect id, parameter id)")),
        },
        "param/set" => match (s(0), s(1), a.get(2).and_then(as_f32), a.len()) {
            (Some(e), Some(p), Some(v), 3) => Command::ParamSet(e, p, v),
            _ => return Err(usage("s s f (effect id, parameter id, value in plain units)")),
        },
        "preset/save" => Command::PresetSave(one_name("a preset name")?),
        "preset/load" => Command::PresetLoad(one_name("a preset name")?),
        "preset/list" => Command::PresetList(list_offset(a).ok_or_else(|| usage(LIST_USAGE))?),
        "subscribe" => {
            return target(a)
                .map(Request::Subscribe)
                .ok_or_else(|| usage("with no argument (the sender), i port, or i port s host"))
        }
        "unsubscribe" => {
            return target(a)
                .map(Request::Unsubscribe)
                .ok_or_else(|| usage("with no argument (the sender), i port, or i port s host"))
        }
        "ping" => return Ok(Request::Ping),
        "auth" => return Ok(Request::Auth(one_name("the shared secret of [osc] secret")?)),
        "cancel" | "status" | "stats" | "stats/reset" | "reference/next" => {
            return Err(usage("without arguments"))
        }
        _ => return Err(Error::invalid(
            format!("unknown address `{}`", msg.addr),
            "use one of /fxmatch/match, cancel, status, stats, stats/reset, reference/{list,select,next,add,remove}, bypass, \
                 param/{get,set}, preset/{save,load,list}, subscribe, unsubscribe, ping, auth (docs/osc.md)",
        )),
    };
    Ok(Request::Daemon(request))
}

/// The address (under `/fxmatch/`) of a list's pages.
fn list_address(list: List) -> &'static str {
    match list {
        List::References => "reference/list",
        List::Presets => "preset/list",
    }
}

/// A reply's address (under `/fxmatch/`) and arguments: the one place the reply protocol is
/// written out (docs/osc.md describes it).
pub fn address_and_args(reply: &Reply) -> (&'static str, Vec<OscType>) {
    let s = |v: &str| OscType::String(v.to_string());
    let count = |v: usize| OscType::Int(i32::try_from(v).unwrap_or(i32::MAX));
    let long = |v: u64| OscType::Long(v.min(i64::MAX as u64) as i64);
    match reply {
        Reply::Ok { command, details } => {
            ("ok", std::iter::once(s(command)).chain(details.iter().map(|d| s(d))).collect())
        }
        Reply::Error(message) => ("error", vec![s(message)]),
        Reply::Status { phase, progress, similarity, reference, bypass } => (
            "status",
            vec![
                s(phase.name()),
                OscType::Float(*progress),
                OscType::Float(similarity.unwrap_or(f32::NAN)),
                s(reference.as_deref().unwrap_or_default()),
                OscType::Int(*bypass as i32),
            ],
        ),
        Reply::Stats { blocks, overruns, xruns, peak_load, connected, reconnects, mean_load } => (
            "stats",
            vec![
                long(*blocks),
                long(*overruns),
                long(*xruns),
                OscType::Float(*peak_load),
                OscType::Int(i32::from(*connected)),
                OscType::Int(*reconnects as i32),
                OscType::Float(*mean_load),
            ],
        ),
        Reply::Param { effect, param, value } => ("param", vec![s(effect), s(param), OscType::Float(*value)]),
        Reply::List { list, names } => (list_address(*list), names.iter().map(|n| s(n)).collect()),
        Reply::ListMore { list, next, total } => {
            ("list/more", vec![s(list_address(*list)), count(*next), count(*total)])
        }
        Reply::Progress { progress, best_similarity, generation, max_generations } => (
            "progress",
            vec![
                OscType::Float(*progress),
                OscType::Float(*best_similarity),
                OscType::Int(*generation as i32),
                OscType::Int(*max_generations as i32),
            ],
        ),
        Reply::Result { similarity, reference, from, evaluations, latency } => (
            "result",
            vec![
                OscType::Float(*similarity),
                s(reference),
                OscType::Float(*from),
                OscType::Int(*evaluations as i32),
                OscType::Float(*latency),
            ],
        ),
        Reply::Aborted(why) => (
            "aborted",
            vec![s(match why {
                Aborted::Superseded => "superseded",
                Aborted::Cancelled => "cancelled",
            })],
        ),
        Reply::Pong => ("pong", vec![]),
        Reply::AuthRequired => ("auth", vec![]),
        Reply::Authenticated(note) => ("authenticated", note.iter().map(|n| s(n)).collect()),
        Reply::Subscribed(to) => ("subscribed", vec![s(&to.to_string())]),
        Reply::Unsubscribed(to) => ("unsubscribed", vec![s(&to.to_string())]),
    }
}

/// Encode a reply as an OSC message under `/fxmatch/`.
pub fn encode(reply: &Reply) -> Vec<u8> {
    let (address, args) = address_and_args(reply);
    let msg = OscMessage { addr: format!("{PREFIX}{address}"), args };
    rosc::encoder::encode(&OscPacket::Message(msg)).expect("a message of strings and numbers always encodes")
}

/// Decode a UDP datagram into its messages (a bundle's contents, flattened).
pub fn decode(packet: &[u8]) -> Result<Vec<OscMessage>> {
    let (_, packet) = rosc::decoder::decode_udp(packet).map_err(|e| {
        Error::invalid(
            format!("malformed OSC packet ({} bytes): {e}", packet.len()),
            "send an OSC 1.0 message, e.g. `oscsend 127.0.0.1 9000 /fxmatch/status`",
        )
    })?;
    let mut out = Vec::new();
    let mut stack = vec![packet];
    while let Some(p) = stack.pop() {
        match p {
            OscPacket::Message(m) => out.push(m),
            OscPacket::Bundle(b) => stack.extend(b.content.into_iter().rev()),
        }
    }
    Ok(out)
}

/// The OSC endpoint: one UDP socket, the subscriber list, the authenticated senders.
pub struct OscServer {
    socket: UdpSocket,
    local: SocketAddr,
    subscribers: Vec<SocketAddr>,
    secret: Option<String>,
    /// Senders that gave the secret, most recently seen last.
    authenticated: VecDeque<SocketAddr>,
    warnings: WarnLimiter,
}

impl OscServer {
    /// Bind the UDP socket; the error says what to do when the port is taken.
    pub fn bind(addr: SocketAddr) -> Result<Self> {
        let socket = UdpSocket::bind(addr).map_err(|e| {
            Error::invalid(
                format!("cannot listen for OSC on udp {addr}: {e}"),
                "choose another [osc] port in the config, or stop the program using it (`ss -ulpn`)",
            )
        })?;
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .map_err(|e| Error::invalid(format!("udp socket: {e}"), "report this as a bug"))?;
        let local = socket
            .local_addr()
            .map_err(|e| Error::invalid(format!("udp socket: {e}"), "report this as a bug"))?;
        Ok(Self {
            socket,
            local,
            subscribers: Vec::new(),
            secret: None,
            authenticated: VecDeque::new(),
            warnings: WarnLimiter::default(),
        })
    }

    /// Require `/fxmatch/auth SECRET` from every sender before anything else (`None`: open).
    pub fn with_secret(mut self, secret: Option<String>) -> Self {
        self.secret = secret;
        self
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Current subscribers.
    pub fn subscribers(&self) -> &[SocketAddr] {
        &self.subscribers
    }

    /// Serve until `stop` is set or the daemon's channels close: decode datagrams into
    /// commands for the daemon, and send the daemon's events to their client and subscribers.
    pub fn run(
        &mut self,
        commands: SyncSender<(Command, Client)>,
        events: Receiver<Event>,
        stop: &AtomicBool,
    ) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if self.datagram(&buf[..n], from, &commands).is_err() {
                        return; // the daemon has stopped
                    }
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => self.warn(None, &format!("osc receive: {e}")),
            }
            loop {
                match events.try_recv() {
                    Ok(event) => self.deliver(event.to, &event.reply),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
                }
            }
        }
    }

    fn warn(&mut self, from: Option<SocketAddr>, message: &str) {
        if self.warnings.allow() {
            match from {
                Some(from) => tracing::warn!(%from, "{message}"),
                None => tracing::warn!("{message}"),
            }
        }
    }

    /// Whether `addr` is this server's own socket: a datagram from there is our own reply
    /// looped back, and a subscription to there would loop every reply forever.
    fn is_own(&self, addr: SocketAddr) -> bool {
        addr.port() == self.local.port()
            && (addr.ip() == self.local.ip()
                || addr.ip().is_unspecified()
                || (self.local.ip().is_unspecified() && is_local_ip(addr.ip())))
    }

    /// With a secret set: whether `from` has authenticated (and mark it recently seen).
    fn admitted(&mut self, from: SocketAddr) -> bool {
        if self.secret.is_none() {
            return true;
        }
        match self.authenticated.iter().position(|a| *a == from) {
            Some(i) => {
                let a = self.authenticated.remove(i).expect("index from position");
                self.authenticated.push_back(a);
                true
            }
            None => false,
        }
    }

    fn datagram(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        commands: &SyncSender<(Command, Client)>,
    ) -> std::result::Result<(), ()> {
        if self.is_own(from) {
            return Ok(()); // our own reply, looped back: never answered
        }
        let messages = match decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.warn(Some(from), &e.to_string());
                if self.admitted(from) {
                    self.deliver(Some(from), &Reply::error(e));
                }
                return Ok(());
            }
        };
        for msg in messages {
            let request = parse(&msg);
            if let Ok(Request::Auth(secret)) = &request {
                self.authenticate(from, secret);
                continue;
            }
            if !self.admitted(from) {
                // A bare `/fxmatch/auth` (20 bytes, no more than the smallest OSC message the
                // sender sent): "authenticate first", without reflecting traffic.
                if self.warnings.allow() {
                    tracing::warn!(%from, "OSC message from a sender that has not authenticated (send /fxmatch/auth s SECRET)");
                }
                self.send_to(from, &Reply::AuthRequired);
                return Ok(());
            }
            match request {
                Ok(Request::Daemon(c)) => match commands.try_send((c, Some(from))) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        self.warn(Some(from), "command queue full; command refused");
                        let e = Error::invalid(
                            format!("busy: {COMMAND_QUEUE} commands are already waiting; this one was dropped"),
                            "send fewer commands per second (a parameter's last value is what counts) and send it again",
                        );
                        self.deliver(Some(from), &Reply::error(e));
                    }
                    Err(TrySendError::Disconnected(_)) => return Err(()),
                },
                Ok(Request::Ping) => self.deliver(Some(from), &Reply::Pong),
                Ok(Request::Auth(_)) => unreachable!("handled above"),
                Ok(Request::Subscribe(to)) => {
                    let reply = self.subscribe(resolve(to, from));
                    self.deliver(Some(from), &reply);
                }
                Ok(Request::Unsubscribe(to)) => {
                    let to = resolve(to, from);
                    self.deliver(Some(from), &Reply::Unsubscribed(to));
                    self.subscribers.retain(|s| *s != to);
                }
                Err(e) => {
                    let address = msg.addr.strip_prefix(PREFIX).unwrap_or("");
                    if REPLY_ADDRESSES.contains(&address) {
                        // Somebody's reply (or a subscriber's echo): never answered, or two
                        // endpoints answer each other's errors forever.
                        tracing::debug!(%from, "ignored a message at reply address {}", msg.addr);
                        continue;
                    }
                    self.warn(Some(from), &e.to_string());
                    self.deliver(Some(from), &Reply::error(e));
                }
            }
        }
        Ok(())
    }

    fn authenticate(&mut self, from: SocketAddr, secret: &str) {
        let Some(expected) = &self.secret else {
            self.deliver(Some(from), &Reply::Authenticated(Some("no secret is set")));
            return;
        };
        if constant_time_eq(expected.as_bytes(), secret.as_bytes()) {
            self.authenticated.retain(|a| *a != from);
            if self.authenticated.len() == MAX_AUTHENTICATED {
                self.authenticated.pop_front();
            }
            self.authenticated.push_back(from);
            tracing::info!(%from, "OSC sender authenticated");
            self.deliver(Some(from), &Reply::Authenticated(None));
        } else {
            self.warn(Some(from), "OSC authentication failed: wrong secret");
            self.send_to(from, &Reply::AuthRequired);
        }
    }

    fn subscribe(&mut self, to: SocketAddr) -> Reply {
        if self.is_own(to) {
            return Reply::error(Error::invalid(
                format!("cannot subscribe {to}: that is the daemon's own OSC address (every reply would loop back forever)"),
                "subscribe the port your client listens on, e.g. `oscdump -L 9100` and /fxmatch/subscribe i 9100",
            ));
        }
        if !self.subscribers.contains(&to) {
            if self.subscribers.len() == MAX_SUBSCRIBERS {
                return Reply::error(Error::invalid(
                    format!("cannot subscribe {to}: all {MAX_SUBSCRIBERS} subscriber places are taken"),
                    "send /fxmatch/unsubscribe from a client that no longer listens, or restart the daemon",
                ));
            }
            self.subscribers.push(to);
            if self.warnings.allow() {
                tracing::info!(%to, "subscribed");
            }
        }
        Reply::Subscribed(to)
    }

    /// Send to `to` and every subscriber, once each.
    fn deliver(&mut self, to: Client, reply: &Reply) {
        let targets: Vec<SocketAddr> =
            to.into_iter().chain(self.subscribers.iter().copied().filter(|s| Some(*s) != to)).collect();
        for t in targets {
            self.send_to(t, reply);
        }
    }

    fn send_to(&mut self, to: SocketAddr, reply: &Reply) {
        let bytes = encode(reply);
        if bytes.len() > MAX_DATAGRAM {
            // The daemon pages its lists; anything else this large is a bug worth a line.
            self.warn(
                Some(to),
                &format!(
                    "/fxmatch/{} reply of {} bytes does not fit a UDP datagram; not sent",
                    address_and_args(reply).0,
                    bytes.len()
                ),
            );
            return;
        }
        if let Err(e) = self.socket.send_to(&bytes, to) {
            tracing::debug!(%to, "osc send: {e}");
        }
    }
}

/// Whether `ip` is one of this machine's addresses (binding to it succeeds).
fn is_local_ip(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// Compare secrets in time independent of where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A subscribe target: a port alone means the sender's host.
fn resolve(to: Option<SocketAddr>, from: SocketAddr) -> SocketAddr {
    match to {
        None => from,
        Some(t) if t.ip().is_unspecified() => SocketAddr::new(from.ip(), t.port()),
        Some(t) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(addr: &str, args: Vec<OscType>) -> OscMessage {
        OscMessage { addr: addr.into(), args }
    }

    fn cmd(addr: &str, args: Vec<OscType>) -> Command {
        match parse(&msg(addr, args)).unwrap() {
            Request::Daemon(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn s(v: &str) -> OscType {
        OscType::String(v.into())
    }

    #[test]
    fn decodes_every_command() {
        assert_eq!(cmd("/fxmatch/match", vec![]), Command::Match(None));
        assert_eq!(cmd("/fxmatch/match", vec![s("crunch")]), Command::Match(Some("crunch".into())));
        assert_eq!(cmd("/fxmatch/status", vec![]), Command::Status);
        assert_eq!(cmd("/fxmatch/stats", vec![]), Command::Stats);
        assert_eq!(cmd("/fxmatch/stats/reset", vec![]), Command::StatsReset);
        assert_eq!(cmd("/fxmatch/bypass", vec![OscType::Int(1)]), Command::Bypass(None, true));
        assert_eq!(
            cmd("/fxmatch/bypass", vec![s("reverb"), OscType::Bool(false)]),
            Command::Bypass(Some("reverb".into()), false)
        );
        assert_eq!(
            cmd("/fxmatch/param/set", vec![s("eq"), s("low_gain"), OscType::Int(3)]),
            Command::ParamSet("eq".into(), "low_gain".into(), 3.0)
        );
        assert_eq!(cmd("/fxmatch/preset/save", vec![s("a")]), Command::PresetSave("a".into()));
        assert_eq!(parse(&msg("/fxmatch/subscribe", vec![])).unwrap(), Request::Subscribe(None));
        let sub = parse(&msg("/fxmatch/subscribe", vec![OscType::Int(9100)])).unwrap();
        let Request::Subscribe(Some(t)) = sub else { panic!() };
        let from: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(resolve(Some(t), from), "127.0.0.1:9100".parse().unwrap());
    }

    #[test]
    fn errors_name_cause_and_fix() {
        let e = parse(&msg("/fxmatch/param/set", vec![s("eq"), s("low_gain"), s("loud")])).unwrap_err();
        let t = e.to_string();
        assert!(t.contains("`ssss`") || t.contains("`sss`"), "{t}");
        assert!(t.contains("fix: send /fxmatch/param/set s s f"), "{t}");
        let t = parse(&msg("/fxmatch/frobnicate", vec![])).unwrap_err().to_string();
        assert!(t.contains("unknown address `/fxmatch/frobnicate`") && t.contains("status"), "{t}");
        let t = parse(&msg("/other/thing", vec![])).unwrap_err().to_string();
        assert!(t.contains("/fxmatch/"), "{t}");
        let t = parse(&msg("/fxmatch/status", vec![OscType::Int(1)])).unwrap_err().to_string();
        assert!(t.contains("without arguments"), "{t}");
        let t = parse(&msg("/fxmatch/subscribe", vec![OscType::Int(70000)])).unwrap_err().to_string();
        assert!(t.contains("i port"), "{t}");
        let t = decode(b"\x00garbage").unwrap_err().to_string();
        assert!(t.contains("malformed OSC packet") && t.contains("fix:"), "{t}");
    }

    #[test]
    fn encodes_replies_and_bundles() {
        let r = Reply::Status {
            phase: crate::daemon::Phase::Idle,
            progress: 0.5,
            similarity: Some(0.25),
            reference: Some("crunch".into()),
            bypass: true,
        };
        let bytes = encode(&r);
        let m = decode(&bytes).unwrap();
        assert_eq!(m[0].addr, "/fxmatch/status");
        assert_eq!(
            m[0].args,
            vec![s("idle"), OscType::Float(0.5), OscType::Float(0.25), s("crunch"), OscType::Int(1)]
        );
        let bundle = OscPacket::Bundle(rosc::OscBundle {
            timetag: rosc::OscTime { seconds: 0, fractional: 1 },
            content: vec![
                OscPacket::Message(msg("/fxmatch/status", vec![])),
                OscPacket::Message(msg("/fxmatch/cancel", vec![])),
            ],
        });
        let m = decode(&rosc::encoder::encode(&bundle).unwrap()).unwrap();
        assert_eq!(
            m.iter().map(|m| m.addr.as_str()).collect::<Vec<_>>(),
            ["/fxmatch/status", "/fxmatch/cancel"]
        );
    }

    #[test]
    fn list_pages_fit_a_datagram_and_cover_every_name_once() {
        let names: Vec<String> = (0..1000).map(|i| format!("preset-{i:04}-{}", "x".repeat(i % 60))).collect();
        let mut offset = 0;
        let mut seen = Vec::new();
        loop {
            let (page, next) = crate::daemon::protocol::list_page(&names, offset);
            assert!(!page.is_empty());
            let reply = Reply::List { list: List::Presets, names: page.to_vec() };
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
        assert_eq!(crate::daemon::protocol::list_page(&names[..3], 0), (&names[..3], None));
        assert_eq!(crate::daemon::protocol::list_page(&names[..3], 7), (&names[..0], None));
    }

    /// A server on a free loopback port and a client socket that reads its replies.
    fn server_and_client() -> (OscServer, UdpSocket) {
        let server = OscServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        (server, client)
    }

    /// Replies waiting at `client` (address and arguments), until a short silence.
    fn replies(client: &UdpSocket) -> Vec<OscMessage> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut out = Vec::new();
        while let Ok(n) = client.recv(&mut buf) {
            out.extend(decode(&buf[..n]).unwrap());
        }
        out
    }

    fn bytes(addr: &str, args: Vec<OscType>) -> Vec<u8> {
        rosc::encoder::encode(&OscPacket::Message(msg(addr, args))).unwrap()
    }

    #[test]
    fn never_subscribes_itself_nor_answers_its_own_packets() {
        let (mut server, client) = server_and_client();
        let (tx, _rx) = std::sync::mpsc::sync_channel(4);
        let me = client.local_addr().unwrap();
        let own_port = OscType::Int(i32::from(server.local_addr().port()));
        // A subscription of the server's own port: answered, its replies would come back to it
        // as requests and loop the daemon forever.
        server.datagram(&bytes("/fxmatch/subscribe", vec![own_port.clone()]), me, &tx).unwrap();
        server.datagram(&bytes("/fxmatch/subscribe", vec![own_port, s("0.0.0.0")]), me, &tx).unwrap();
        assert!(server.subscribers().is_empty(), "{:?}", server.subscribers());
        let r = replies(&client);
        assert_eq!(r.len(), 2, "{r:?}");
        for m in &r {
            assert_eq!(m.addr, "/fxmatch/error");
            let OscType::String(t) = &m.args[0] else { panic!() };
            assert!(t.contains("own OSC address") && t.contains("fix:"), "{t}");
        }
        // A datagram from the server's own socket (its reply looped back) is not answered.
        server.datagram(&bytes("/fxmatch/frobnicate", vec![]), server.local_addr(), &tx).unwrap();
        server.subscribers.push(me); // watch what would go to subscribers
        server.datagram(&bytes("/fxmatch/frobnicate", vec![]), server.local_addr(), &tx).unwrap();
        assert!(replies(&client).is_empty());
    }

    #[test]
    fn replies_sent_to_it_are_not_answered() {
        let (mut server, client) = server_and_client();
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let me = client.local_addr().unwrap();
        // Another daemon's replies, e.g. two daemons subscribed to each other.
        for (addr, args) in [
            ("/fxmatch/error", vec![s("x")]),
            ("/fxmatch/ok", vec![s("match")]),
            ("/fxmatch/status", vec![s("idle"), OscType::Float(0.0)]),
            ("/fxmatch/preset/list", vec![s("a"), s("b")]),
            ("/fxmatch/list/more", vec![s("preset/list"), OscType::Int(3), OscType::Int(9)]),
            ("/fxmatch/pong", vec![]),
        ] {
            server.datagram(&bytes(addr, args), me, &tx).unwrap();
        }
        assert!(replies(&client).is_empty());
        assert!(rx.try_recv().is_err(), "no command reached the daemon");
        // A real command at a reply address still works, and a real mistake is still answered.
        server.datagram(&bytes("/fxmatch/status", vec![]), me, &tx).unwrap();
        assert_eq!(rx.try_recv().unwrap().0, Command::Status);
        server.datagram(&bytes("/fxmatch/frobnicate", vec![]), me, &tx).unwrap();
        assert_eq!(replies(&client)[0].addr, "/fxmatch/error");
    }

    #[test]
    fn a_full_queue_is_refused_with_a_reply() {
        let (mut server, client) = server_and_client();
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let me = client.local_addr().unwrap();
        for _ in 0..5 {
            server.datagram(&bytes("/fxmatch/status", vec![]), me, &tx).unwrap();
        }
        assert_eq!(rx.try_iter().count(), 2);
        let r = replies(&client);
        assert_eq!(r.len(), 3, "{r:?}");
        let OscType::String(t) = &r[0].args[0] else { panic!() };
        assert!(t.starts_with("busy") && t.contains("fix:"), "{t}");
    }

    #[test]
    fn subscribers_are_kept_and_newcomers_refused_when_full() {
        let (mut server, client) = server_and_client();
        let (tx, _rx) = std::sync::mpsc::sync_channel(4);
        let me = client.local_addr().unwrap();
        for port in 20_000..20_000 + MAX_SUBSCRIBERS as i32 {
            server.datagram(&bytes("/fxmatch/subscribe", vec![OscType::Int(port)]), me, &tx).unwrap();
        }
        let first: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        assert_eq!(server.subscribers().len(), MAX_SUBSCRIBERS);
        server.datagram(&bytes("/fxmatch/subscribe", vec![OscType::Int(30_000)]), me, &tx).unwrap();
        assert_eq!(server.subscribers().len(), MAX_SUBSCRIBERS);
        assert!(server.subscribers().contains(&first), "a live subscriber was evicted");
        let r = replies(&client);
        let last = r.last().unwrap();
        assert_eq!(last.addr, "/fxmatch/error");
        let OscType::String(t) = &last.args[0] else { panic!() };
        assert!(t.contains("subscriber places are taken") && t.contains("unsubscribe"), "{t}");
    }

    #[test]
    fn with_a_secret_strangers_get_only_a_bare_auth_reply() {
        let (server, client) = server_and_client();
        let mut server = server.with_secret(Some("correct horse".into()));
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let me = client.local_addr().unwrap();
        let status = bytes("/fxmatch/status", vec![]);
        server.datagram(&status, me, &tx).unwrap();
        server.datagram(b"\x00garbage", me, &tx).unwrap();
        server.datagram(&bytes("/fxmatch/auth", vec![s("wrong horse")]), me, &tx).unwrap();
        assert!(rx.try_recv().is_err(), "nothing reaches the daemon before authentication");
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n = client.recv(&mut buf).unwrap();
        assert!(n <= status.len(), "reply of {n} bytes to a request of {}: reflection", status.len());
        assert_eq!(decode(&buf[..n]).unwrap()[0].addr, "/fxmatch/auth");
        replies(&client);
        server.datagram(&bytes("/fxmatch/auth", vec![s("correct horse")]), me, &tx).unwrap();
        assert_eq!(replies(&client)[0].addr, "/fxmatch/authenticated");
        server.datagram(&status, me, &tx).unwrap();
        assert_eq!(rx.try_recv().unwrap().0, Command::Status);
    }

    #[test]
    fn list_requests_take_an_offset() {
        assert_eq!(cmd("/fxmatch/preset/list", vec![]), Command::PresetList(0));
        assert_eq!(cmd("/fxmatch/reference/list", vec![OscType::Int(40)]), Command::ReferenceList(40));
        let t = parse(&msg("/fxmatch/preset/list", vec![OscType::Int(-1)])).unwrap_err().to_string();
        assert!(t.contains("i offset"), "{t}");
    }
}
