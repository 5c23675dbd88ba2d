//! OSC over UDP: decode `/fxmatch/...` messages into daemon [`Command`]s, encode [`Reply`]s,
//! and keep the subscriber list. The address space is documented in `docs/osc.md`.
//!
//! Every message is answered to its sender. Subscribers (`/fxmatch/subscribe [port [host]]`)
//! get a copy of every reply plus the unsolicited `/fxmatch/progress` and `/fxmatch/result`: a
//! monitor for a UI, and the way one-shot senders such as liblo's `oscsend` (which exits
//! without listening) read answers on a port of their choosing (e.g. `oscdump -L PORT`).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use rosc::{OscMessage, OscPacket, OscType};

use crate::daemon::{Arg, Client, Command, Event, Reply};
use crate::error::{Error, Result};

/// Address prefix of every message.
pub const PREFIX: &str = "/fxmatch/";

/// Most subscribers kept; the oldest is dropped beyond this (a misbehaving client cannot grow
/// the list without bound).
pub const MAX_SUBSCRIBERS: usize = 16;

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
        "reference/list" if a.is_empty() => Command::ReferenceList,
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
        "preset/list" if a.is_empty() => Command::PresetList,
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
        "cancel" | "status" | "stats" | "stats/reset" | "reference/list" | "reference/next" | "preset/list" => {
            return Err(usage("without arguments"))
        }
        _ => return Err(Error::invalid(
            format!("unknown address `{}`", msg.addr),
            "use one of /fxmatch/match, cancel, status, stats, stats/reset, reference/{list,select,next,add,remove}, bypass, \
                 param/{get,set}, preset/{save,load,list}, subscribe, unsubscribe, ping (docs/osc.md)",
        )),
    };
    Ok(Request::Daemon(request))
}

/// Encode a reply as an OSC message under `/fxmatch/`.
pub fn encode(reply: &Reply) -> Vec<u8> {
    let args = reply
        .args
        .iter()
        .map(|a| match a {
            Arg::Str(s) => OscType::String(s.clone()),
            Arg::Float(f) => OscType::Float(*f),
            Arg::Int(i) => OscType::Int(*i),
            Arg::Long(i) => OscType::Long(*i),
        })
        .collect();
    let msg = OscMessage { addr: format!("{PREFIX}{}", reply.address), args };
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

/// The OSC endpoint: one UDP socket, the subscriber list.
pub struct OscServer {
    socket: UdpSocket,
    subscribers: Vec<SocketAddr>,
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
        Ok(Self { socket, subscribers: Vec::new() })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("a bound socket has an address")
    }

    /// Current subscribers.
    pub fn subscribers(&self) -> &[SocketAddr] {
        &self.subscribers
    }

    /// Serve until `stop` is set or the daemon's channels close: decode datagrams into
    /// commands for the daemon, and send the daemon's events to their client and subscribers.
    pub fn run(&mut self, commands: Sender<(Command, Client)>, events: Receiver<Event>, stop: &AtomicBool) {
        let mut buf = vec![0u8; rosc::decoder::MTU];
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if self.datagram(&buf[..n], from, &commands).is_err() {
                        return; // the daemon has stopped
                    }
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => tracing::warn!("osc receive: {e}"),
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

    fn datagram(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        commands: &Sender<(Command, Client)>,
    ) -> std::result::Result<(), ()> {
        let messages = match decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%from, "{e}");
                self.deliver(Some(from), &Reply::error(e));
                return Ok(());
            }
        };
        for msg in messages {
            match parse(&msg) {
                Ok(Request::Daemon(c)) => commands.send((c, Some(from))).map_err(|_| ())?,
                Ok(Request::Ping) => {
                    self.deliver(Some(from), &Reply { address: "pong".into(), args: vec![] })
                }
                Ok(Request::Subscribe(to)) => {
                    let to = resolve(to, from);
                    if !self.subscribers.contains(&to) {
                        if self.subscribers.len() == MAX_SUBSCRIBERS {
                            self.subscribers.remove(0);
                        }
                        self.subscribers.push(to);
                    }
                    tracing::info!(%to, "subscribed");
                    let reply = Reply { address: "subscribed".into(), args: vec![Arg::Str(to.to_string())] };
                    self.deliver(Some(from), &reply);
                }
                Ok(Request::Unsubscribe(to)) => {
                    let to = resolve(to, from);
                    let reply =
                        Reply { address: "unsubscribed".into(), args: vec![Arg::Str(to.to_string())] };
                    self.deliver(Some(from), &reply);
                    self.subscribers.retain(|s| *s != to);
                }
                Err(e) => {
                    tracing::warn!(%from, "{e}");
                    self.deliver(Some(from), &Reply::error(e));
                }
            }
        }
        Ok(())
    }

    /// Send to `to` and every subscriber, once each.
    fn deliver(&self, to: Client, reply: &Reply) {
        let bytes = encode(reply);
        let targets = to.into_iter().chain(self.subscribers.iter().copied().filter(|s| Some(*s) != to));
        for t in targets {
            if let Err(e) = self.socket.send_to(&bytes, t) {
                tracing::debug!(to = %t, "osc send: {e}");
            }
        }
    }
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
        let r = Reply {
            address: "status".into(),
            args: vec![Arg::Str("idle".into()), Arg::Float(0.5), Arg::Int(1)],
        };
        let bytes = encode(&r);
        let m = decode(&bytes).unwrap();
        assert_eq!(m[0].addr, "/fxmatch/status");
        assert_eq!(m[0].args, vec![s("idle"), OscType::Float(0.5), OscType::Int(1)]);
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
}
