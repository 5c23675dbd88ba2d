//! The daemon end to end: the real `fxmatch daemon` binary on the offline clock, driven over
//! OSC with liblo's `oscsend`, replies read with `oscdump -L` on a subscribed port (oscsend
//! exits without listening, so replies reach it through `/fxmatch/subscribe i PORT`).

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::daemon::*;

#[test]
fn status_match_errors_and_trigger_storm() {
    let _one = one_at_a_time();
    require_tools();
    let s = setup();
    let listen = free_udp_port();
    let mut dump = Dump::start(listen);
    let mut daemon = start_daemon(&s);
    subscribe(&mut dump, s.port, listen);

    oscsend(s.port, &["/fxmatch/status"]);
    let status = dump.expect("/fxmatch/status", Duration::from_secs(5));
    assert_eq!(status[0], "idle", "{status:?}");
    assert_eq!(status[3], "acoustic", "the only reference is selected: {status:?}");

    // Malformed packet, unknown address, wrong types: error replies, daemon alive.
    send_raw(s.port, b"\x00\x01garbage");
    let e = dump.expect("/fxmatch/error", Duration::from_secs(5)).join(" ");
    assert!(e.contains("malformed") && e.contains("fix"), "{e}");
    oscsend(s.port, &["/fxmatch/frobnicate"]);
    let e = dump.expect("/fxmatch/error", Duration::from_secs(5)).join(" ");
    assert!(e.contains("unknown address"), "{e}");
    oscsend(s.port, &["/fxmatch/param/set", "sss", "eq", "low_gain", "loud"]);
    let e = dump.expect("/fxmatch/error", Duration::from_secs(5)).join(" ");
    assert!(e.contains("param/set s s f"), "{e}");
    oscsend(s.port, &["/fxmatch/match", "s", "nope"]);
    let e = dump.expect("/fxmatch/error", Duration::from_secs(5)).join(" ");
    assert!(e.contains("nope") && e.contains("acoustic"), "{e}");
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon died");

    // Let the offline clock play more than the capture length, then match.
    std::thread::sleep(Duration::from_millis(2500));
    let t = Instant::now();
    oscsend(s.port, &["/fxmatch/match", "s", "acoustic"]);
    let result = dump.expect("/fxmatch/result", Duration::from_secs(60));
    let latency = t.elapsed();
    let similarity: f32 = result[0].parse().expect("first argument is the similarity");
    assert!(similarity > 0.0 && similarity <= 1.0, "{result:?}");
    assert_eq!(result[1], "acoustic");
    eprintln!("match: similarity {similarity} (dry {}), trigger to result {latency:?}", result[2]);

    // The applied parameters are the daemon's state and can be saved as a preset.
    oscsend(s.port, &["/fxmatch/preset/save", "s", "matched"]);
    dump.expect("/fxmatch/ok", Duration::from_secs(5));
    oscsend(s.port, &["/fxmatch/param/get", "ss", "compressor", "ratio"]);
    let p = dump.expect("/fxmatch/param", Duration::from_secs(5));
    assert_eq!(p[..2], ["compressor", "ratio"]);

    // Trigger storm: 100 matches within a second from one client: coalesced into few searches,
    // ending in one result, and the daemon answers status meanwhile.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let storm = Instant::now();
    for _ in 0..100 {
        sock.send_to(&osc_bytes("/fxmatch/match", vec![]), ("127.0.0.1", s.port)).unwrap();
        std::thread::sleep(Duration::from_millis(8));
    }
    assert!(storm.elapsed() < Duration::from_millis(1500));
    oscsend(s.port, &["/fxmatch/status"]);
    let st = dump.expect("/fxmatch/status", Duration::from_secs(5));
    assert_eq!(st[0], "matching", "{st:?}");
    dump.expect("/fxmatch/result", Duration::from_secs(60));
    let more = dump.count("/fxmatch/result", Duration::from_secs(3));
    assert_eq!(more, 0, "a storm must end in one result");
    oscsend(s.port, &["/fxmatch/status"]);
    assert_eq!(dump.expect("/fxmatch/status", Duration::from_secs(5))[0], "idle");

    // SIGTERM: a clean stop with the state saved.
    stop_with_sigterm(&mut daemon);
    let state = std::fs::read_to_string(s.state.join("state.toml")).unwrap();
    assert!(state.contains("reference = \"acoustic\"") && state.contains("[params.compressor]"), "{state}");
    assert!(s.state.join("presets/matched.params.toml").exists());
}

/// The hostile probe's findings (issue 20): one self-subscription packet, a flood of parameter
/// changes, a bundle larger than the old receive buffer, a list too long for one datagram. The
/// daemon stays quiet, answers, applies the last value, and pages the list.
#[test]
fn hostile_packets_leave_the_daemon_answering() {
    let _one = one_at_a_time();
    require_tools();
    let s = setup();
    let listen = free_udp_port();
    let mut dump = Dump::start(listen);
    let log_path = s.state.parent().unwrap().join("daemon.log");
    let mut daemon = start_daemon_logged(&s, &log_path);
    subscribe(&mut dump, s.port, listen);

    // 1. The packet that used to send the daemon into an endless loop of answering itself.
    oscsend(s.port, &["/fxmatch/subscribe", "i", &s.port.to_string()]);
    let e = dump.expect("/fxmatch/error", Duration::from_secs(5)).join(" ");
    assert!(e.contains("own OSC address"), "{e}");
    std::thread::sleep(Duration::from_millis(500));
    let before = std::fs::metadata(&log_path).unwrap().len();
    assert_eq!(dump.count("/fxmatch/error", Duration::from_secs(1)), 0, "errors keep coming: a loop");
    let grown = std::fs::metadata(&log_path).unwrap().len() - before;
    assert!(grown < 4096, "the log grew {grown} bytes in a quiet second: a loop");
    oscsend(s.port, &["/fxmatch/status"]);
    dump.expect("/fxmatch/status", Duration::from_secs(5));

    // 2. A flood of 5,000 parameter changes: answered (or refused as busy), then status is
    //    answered promptly and the last value is the one that holds, in the engine and the state.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..5000 {
        let v = (i % 13) as f32 - 6.0;
        let m = param_set_bytes("eq", "low_gain", v);
        sock.send_to(&m, ("127.0.0.1", s.port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    oscsend(s.port, &["/fxmatch/param/set", "ssf", "eq", "low_gain", "4.5"]);
    oscsend(s.port, &["/fxmatch/status"]);
    dump.expect("/fxmatch/status", Duration::from_secs(5));
    oscsend(s.port, &["/fxmatch/param/get", "ss", "eq", "low_gain"]);
    let p = loop {
        let p = dump.expect("/fxmatch/param", Duration::from_secs(5));
        if p.len() == 3 && p[2].parse::<f32>().unwrap() == 4.5 {
            break p;
        }
    };
    assert_eq!(p[..2], ["eq", "low_gain"]);

    // 3. A bundle larger than a 1,536-byte buffer: executed whole, its last message included.
    let set = |v: f32| {
        rosc::OscPacket::Message(rosc::OscMessage {
            addr: "/fxmatch/param/set".into(),
            args: vec![
                rosc::OscType::String("eq".into()),
                rosc::OscType::String("low_gain".into()),
                rosc::OscType::Float(v),
            ],
        })
    };
    let mut content: Vec<_> = (0..80).map(|_| set(1.0)).collect();
    content.push(set(-2.5));
    let bundle = rosc::encoder::encode(&rosc::OscPacket::Bundle(rosc::OscBundle {
        timetag: rosc::OscTime { seconds: 0, fractional: 1 },
        content,
    }))
    .unwrap();
    assert!(bundle.len() > 3000, "{}", bundle.len());
    send_raw(s.port, &bundle);
    std::thread::sleep(Duration::from_millis(300));
    oscsend(s.port, &["/fxmatch/param/get", "ss", "eq", "low_gain"]);
    loop {
        let p = dump.expect("/fxmatch/param", Duration::from_secs(5));
        if p.len() == 3 && p[2].parse::<f32>().unwrap() == -2.5 {
            break;
        }
    }

    // 4. A preset list far over one datagram comes in pages that add up to every preset.
    let names: Vec<String> = (0..120).map(|i| format!("preset-{i:03}-{}", "long".repeat(12))).collect();
    for name in &names {
        sock.send_to(
            &osc_bytes("/fxmatch/preset/save", vec![rosc::OscType::String(name.clone())]),
            ("127.0.0.1", s.port),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut listed = Vec::new();
    let mut offset = 0;
    loop {
        oscsend(s.port, &["/fxmatch/preset/list", "i", &offset.to_string()]);
        listed.extend(dump.expect("/fxmatch/preset/list", Duration::from_secs(5)));
        if listed.len() == names.len() {
            break;
        }
        let more = dump.expect("/fxmatch/list/more", Duration::from_secs(5));
        assert_eq!(more[0], "preset/list");
        offset = more[1].parse().unwrap();
        assert_eq!(offset, listed.len(), "{more:?}");
        assert_eq!(more[2], names.len().to_string());
    }
    listed.sort();
    assert_eq!(listed, names);
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon died");

    // The debounced state holds the last value once the daemon stops.
    stop_with_sigterm(&mut daemon);
    let state = std::fs::read_to_string(s.state.join("state.toml")).unwrap();
    assert!(state.contains("low_gain = -2.5"), "{state}");
}

#[test]
fn broken_config_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[osc]\nport = 9000\nbnid = \"0.0.0.0\"\n").unwrap();
    let out = common::fxmatch().args(["daemon", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("bad.toml:3") && err.contains("bnid") && err.contains("fix:"), "{err}");
}

/// `[match] mode` on the default chain (its predictor is built in): `auto` runs hybrid, `predict`
/// answers without a search, `hybrid` with fewer evaluations than `search`; every mode applies a
/// result over OSC. On a chain the predictor was not trained for, `auto` searches and `hybrid`
/// refuses to start, naming the predictor, the chain and the fix.
#[test]
fn match_modes_search_predict_hybrid_and_auto() {
    let _one = one_at_a_time();
    require_tools();
    let mut evaluations = std::collections::BTreeMap::new();
    for mode in ["auto", "search", "predict", "hybrid"] {
        let s = setup_with_chain("config/chains/default.toml");
        let text = std::fs::read_to_string(&s.config).unwrap();
        std::fs::write(&s.config, text.replace("[match]\n", &format!("[match]\nmode = \"{mode}\"\n")))
            .unwrap();
        if mode == "predict" {
            // A reference set: a folder of clips of one production, read together.
            let set = s.dir.path().join("refs").join("pair");
            std::fs::create_dir_all(&set).unwrap();
            for clip in ["content/guitar_acoustic.wav", "content/synth_lead.wav"] {
                std::fs::copy(
                    common::root().join("assets/audio").join(clip),
                    set.join(clip.rsplit('/').next().unwrap()),
                )
                .unwrap();
            }
        }
        let log = s.dir.path().join("daemon.log");
        let listen = free_udp_port();
        let mut dump = Dump::start(listen);
        let mut daemon = start_daemon_logged(&s, &log);
        subscribe(&mut dump, s.port, listen);
        std::thread::sleep(Duration::from_millis(2500));
        oscsend(s.port, &["/fxmatch/match", "s", "acoustic"]);
        let result = dump.expect("/fxmatch/result", Duration::from_secs(120));
        let similarity: f32 = result[0].parse().unwrap();
        assert!(similarity > 0.0 && similarity <= 1.0, "{mode}: {result:?}");
        evaluations.insert(mode, result[3].parse::<usize>().expect("evaluations"));
        if mode == "predict" {
            oscsend(s.port, &["/fxmatch/match", "s", "pair"]);
            let set_result = dump.expect("/fxmatch/result", Duration::from_secs(120));
            assert_eq!(set_result[3], "0", "predicted, not searched: {set_result:?}");
            assert_ne!(set_result[0], result[0], "the set is another reference than one of its clips");
        }
        assert!(daemon.0.try_wait().unwrap().is_none(), "{mode}: the daemon died");
        drop(daemon);
        let log = std::fs::read_to_string(&log).unwrap();
        let expected =
            if mode == "auto" { "match mode hybrid (auto" } else { &*format!("match mode {mode}") };
        assert!(log.contains(expected), "{mode}: {log}");
    }
    eprintln!("evaluations per mode: {evaluations:?}");
    assert_eq!(evaluations["predict"], 0, "{evaluations:?}");
    assert!(evaluations["hybrid"] < evaluations["search"], "{evaluations:?}");

    // eq-comp: no predictor is built in for it, so hybrid is refused with the way out.
    let s = setup();
    let text = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, text.replace("[match]\n", "[match]\nmode = \"hybrid\"\n")).unwrap();
    let out = common::fxmatch()
        .args(["daemon", "--backend", "offline", "--config"])
        .arg(&s.config)
        .arg("--input")
        .arg(&s.input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("mode = \"hybrid\"")
            && err.contains("no predictor is built in for chain `eq-comp`")
            && err.contains("mode = \"search\""),
        "{err}"
    );
    let log = s.dir.path().join("auto.log");
    std::fs::write(&s.config, text).unwrap();
    let daemon = start_daemon_logged(&s, &log);
    let t = Instant::now();
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("match mode")
        && t.elapsed().as_secs() < 30
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(daemon);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("match mode search (no predictor for chain `eq-comp`"), "{log}");
}

/// A build without the `gpio` feature refuses a config that enables GPIO, naming the feature.
#[cfg(not(feature = "gpio"))]
#[test]
fn gpio_without_the_feature_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gpio.toml");
    std::fs::write(&cfg, "[gpio]\nenabled = true\n\n[[gpio.map]]\nline = 17\naction = \"match\"\n").unwrap();
    let out = common::fxmatch().args(["daemon", "--backend", "jack", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("`gpio` cargo feature") && err.contains("cargo build --release --features gpio"),
        "{err}"
    );
}

/// JACK ports whose names start with `prefix`, from `jack_lsp` on `server`.
fn jack_ports(server: &str, prefix: &str) -> Vec<String> {
    let out = Command::new("jack_lsp").env("JACK_DEFAULT_SERVER", server).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(prefix)).map(String::from).collect()
}

/// Whether `jack_lsp -c` on `server` lists a connection from port `from` to port `to`.
fn jack_connected(server: &str, from: &str, to: &str) -> bool {
    let out = Command::new("jack_lsp").arg("-c").env("JACK_DEFAULT_SERVER", server).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut current = "";
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            if current == from && line.trim() == to {
                return true;
            }
        } else {
            current = line.trim();
        }
    }
    false
}

/// A JACK client of the test: plays a steady 220 Hz sine into the daemon and records what comes
/// out into a buffer allocated up front (`pos` frames written so far).
struct Probe {
    out_l: jack::Port<jack::AudioOut>,
    out_r: jack::Port<jack::AudioOut>,
    in_l: jack::Port<jack::AudioIn>,
    in_r: jack::Port<jack::AudioIn>,
    phase: f64,
    recorded: (Vec<f32>, Vec<f32>),
    pos: Arc<AtomicUsize>,
}

impl jack::ProcessHandler for Probe {
    fn process(&mut self, _: &jack::Client, ps: &jack::ProcessScope) -> jack::Control {
        let step = std::f64::consts::TAU * 220.0 / 48_000.0;
        let (ol, or) = (self.out_l.as_mut_slice(ps), self.out_r.as_mut_slice(ps));
        for (l, r) in ol.iter_mut().zip(or.iter_mut()) {
            let v = (0.3 * self.phase.sin()) as f32;
            self.phase = (self.phase + step) % std::f64::consts::TAU;
            (*l, *r) = (v, 0.8 * v);
        }
        let pos = self.pos.load(Ordering::Relaxed);
        let (il, ir) = (self.in_l.as_slice(ps), self.in_r.as_slice(ps));
        let n = il.len().min(self.recorded.0.len().saturating_sub(pos));
        self.recorded.0[pos..pos + n].copy_from_slice(&il[..n]);
        self.recorded.1[pos..pos + n].copy_from_slice(&ir[..n]);
        self.pos.store(pos + n, Ordering::Release);
        jack::Control::Continue
    }
}

/// Largest sample-to-sample step in `range` of either channel: a click is a step far above what
/// the steady signal makes.
fn max_step(rec: &(Vec<f32>, Vec<f32>), range: std::ops::Range<usize>) -> f32 {
    [&rec.0, &rec.1]
        .iter()
        .flat_map(|ch| ch[range.clone()].windows(2).map(|w| (w[1] - w[0]).abs()))
        .fold(0.0, f32::max)
}

/// Largest jump in `range` of either channel: |x[n] − 2x[n−1] + x[n−2]|, how far a sample lands
/// from the line through the two before it. A smooth level change (a gain ramp, a compressor
/// settling to new settings) barely moves it; a discontinuity, i.e. a click, shows as a jump
/// of the size of the step itself.
fn max_jump(rec: &(Vec<f32>, Vec<f32>), range: std::ops::Range<usize>) -> f32 {
    [&rec.0, &rec.1]
        .iter()
        .flat_map(|ch| ch[range.clone()].windows(3).map(|w| (w[2] - 2.0 * w[1] + w[0]).abs()))
        .fold(0.0, f32::max)
}

/// The test's [`Probe`] on `server` (`seconds` of recording), connected both ways to the
/// daemon's audio ports once the daemon has registered them; `pos` counts the frames recorded.
fn start_probe(server: &str, seconds: usize) -> (jack::AsyncClient<(), Probe>, Arc<AtomicUsize>) {
    std::env::set_var("JACK_DEFAULT_SERVER", server);
    let (client, _) = jack::Client::new("probe", jack::ClientOptions::NO_START_SERVER).unwrap();
    let pos = Arc::new(AtomicUsize::new(0));
    let probe = Probe {
        out_l: client.register_port("out_l", jack::AudioOut::default()).unwrap(),
        out_r: client.register_port("out_r", jack::AudioOut::default()).unwrap(),
        in_l: client.register_port("in_l", jack::AudioIn::default()).unwrap(),
        in_r: client.register_port("in_r", jack::AudioIn::default()).unwrap(),
        phase: 0.0,
        recorded: (vec![0.0; seconds * 48_000], vec![0.0; seconds * 48_000]),
        pos: pos.clone(),
    };
    let probe = client.activate_async((), probe).unwrap();
    wait_until(Duration::from_secs(10), "the daemon registered no ports", || {
        jack_ports(server, "fxmatch:").len() >= 5
    });
    for (a, b) in [
        ("probe:out_l", "fxmatch:in_l"),
        ("probe:out_r", "fxmatch:in_r"),
        ("fxmatch:out_l", "probe:in_l"),
        ("fxmatch:out_r", "probe:in_r"),
    ] {
        probe.as_client().connect_ports_by_name(a, b).unwrap();
    }
    (probe, pos)
}

/// The daemon as a client of a real `jackd -d dummy` server: ports named `fxmatch:*`, a click
/// track from `jack_metro` into its inputs, a match over OSC that ends in a result with no
/// systematic callback overrun, a match from a MIDI footswitch note
/// (`jack_midiseq` into `fxmatch:midi_in`), and the JACK server stopping and coming back: the
/// daemon keeps answering OSC, reconnects by itself, and its ports and audio come back.
#[test]
fn match_on_a_real_jack_dummy_server() {
    let _one = one_at_a_time();
    require_tools();
    let s = setup();
    let (jackd, mut dump, daemon) = daemon_on_jack(&s, "fxmatch-test");
    let server = jackd.name.clone();
    let jack = |tool: &str| jack_tool(&server, tool);
    let log = s.dir.path().join("daemon.log");
    // The probe plays a steady sine through the daemon and records its output (60 s at most).
    let (probe, pos) = start_probe(&server, 60);
    // Autoconnect (on by default): the dummy driver's system ports, in order; the test's probe
    // is connected as well (the dummy capture ports carry silence).
    for (from, to) in [
        ("system:capture_1", "fxmatch:in_l"),
        ("system:capture_2", "fxmatch:in_r"),
        ("fxmatch:out_l", "system:playback_1"),
        ("fxmatch:out_r", "system:playback_2"),
    ] {
        wait_until(Duration::from_secs(5), &format!("autoconnect made no {from} -> {to}"), || {
            jack_connected(&server, from, to)
        });
    }
    std::thread::sleep(Duration::from_millis(3000));
    oscsend(s.port, &["/fxmatch/status"]);
    assert_eq!(dump.expect("/fxmatch/status", Duration::from_secs(5))[0], "idle");

    // The scheduling class of the daemon's threads (FF: JACK's real-time process thread).
    let ps = Command::new("ps")
        .args(["-L", "-o", "cls,rtprio,ni,comm", "-p"])
        .arg(daemon.0.id().to_string())
        .output();
    eprintln!(
        "daemon threads:\n{}",
        ps.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    );
    let server_xruns0 = jackd.logged_xruns();

    // 1. A match over OSC while audio runs: the engine's counters before and after.
    let (blocks0, overruns0, xruns0, _, connected, _) = stats(&mut dump, s.port);
    assert_eq!(connected, 1);
    assert!(blocks0 > 0, "the JACK callback runs");
    let frames = || pos.load(Ordering::Acquire);
    let at_trigger = frames();
    oscsend(s.port, &["/fxmatch/match"]);
    let result = dump.expect("/fxmatch/result", Duration::from_secs(60));
    let at_result = frames();
    let similarity: f32 = result[0].parse().unwrap();
    assert!(similarity > 0.0 && similarity <= 1.0, "{result:?}");
    std::thread::sleep(Duration::from_millis(2200));
    let (blocks1, overruns1, xruns1, peak, _, _) = stats(&mut dump, s.port);
    eprintln!(
        "JACK match: {} blocks during the match, overruns {overruns0}->{overruns1}, xruns {xruns0}->{xruns1}, \
         peak load {:.1}% of a 128-frame block, similarity {similarity}",
        blocks1 - blocks0,
        peak * 100.0
    );
    eprintln!("jackd logged {} xruns during the match", jackd.logged_xruns() - server_xruns0);
    // Timing on this shared 2-core VM is the host's: a CI-like run saw 1 callback overrun
    // (a preempted callback at ~2 % load) and tests/engine_jack.rs saw 27 server xruns in 4.7 s
    // during a parallel build. So no single overrun or xrun fails the test; a callback that
    // blocks or starves (a lock, an allocation, the match on the audio thread) overruns on a
    // large share of blocks, and that does. Xrun-free operation is measured on a quiet machine.
    let overran = overruns1 - overruns0;
    assert!(
        overran * 100 <= blocks1 - blocks0,
        "{overran} of {} callbacks overran while matching",
        blocks1 - blocks0
    );

    // Clicks at the hot-swap, measured at the daemon's output, 1 s either side of the result
    // against the steady output before the match and after the swap: the largest plain step
    // (the measure; it may exceed both steady states a little while the compressor
    // settles to its new settings, which is no click) and the largest jump off the line through
    // the two samples before (`max_jump`: a level change barely moves it, a discontinuity shows
    // at once). Before the EQ's coefficients moved per sample and the glides reached the effects
    // as S-curves, xrun-free runs measured jumps 10–75× the steady ones here. An xrun is a
    // discontinuity of its own, so runs with one are printed, not judged. The jump bound is the
    // one the offline swap test allows when every parameter of a chain moves at once
    // (`large_moves_glide_without_ticks`, 6×): xrun-free runs here measured 2.21× and 4.00×
    // (the match moves several parameters, how far depends on the captured segment).
    let server_xruns = jackd.logged_xruns() - server_xruns0;
    let (_, _, p) = probe.deactivate().unwrap();
    let rec = p.recorded;
    let sr = 48_000;
    assert!(frames() >= at_result + 2 * sr && at_trigger >= 2 * sr, "the probe recorded throughout");
    let came_through = max_step(&rec, at_trigger - 2 * sr..at_trigger);
    assert!(came_through > 0.001, "the sine came through the daemon: {came_through}");
    let steady = |f: fn(&(Vec<f32>, Vec<f32>), std::ops::Range<usize>) -> f32| {
        f(&rec, at_trigger - 2 * sr..at_trigger).max(f(&rec, at_result + sr..at_result + 2 * sr))
    };
    let step_ratio = max_step(&rec, at_result - sr..at_result + sr) / steady(max_step);
    let jump_ratio = max_jump(&rec, at_result - sr..at_result + sr) / steady(max_jump).max(1e-9);
    eprintln!(
        "around the swap / steady: step {step_ratio:.2}×, jump {jump_ratio:.2}× \
         ({} engine xruns, {server_xruns} server xruns during the match)",
        xruns1 - xruns0
    );
    if xruns1 == xruns0 && server_xruns == 0 {
        assert!(step_ratio <= 1.5, "a click at the swap: steps {step_ratio:.2}× the steady ones");
        assert!(jump_ratio <= 6.0, "a click at the swap: jumps {jump_ratio:.2}× the steady ones");
    } else {
        eprintln!("click measure not judged: the server had xruns (busy machine)");
    }
    let metro = Guard(jack("jack_metro").args(["-b", "240", "-f", "440", "-a", "0.5"]).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(500));
    for port in ["fxmatch:in_l", "fxmatch:in_r"] {
        assert!(jack("jack_connect").args(["metro:240_bpm", port]).status().unwrap().success());
    }
    std::thread::sleep(Duration::from_millis(2500));

    // 2. The MIDI footswitch: note 60 (mapped to `match`) from jack_midiseq, 1 s after it
    // starts (its loop is 10 minutes long, so it fires once), into fxmatch:midi_in.
    let seq =
        Guard(jack("jack_midiseq").args(["footswitch", "28800000", "48000", "60", "4800"]).spawn().unwrap());
    let end = Instant::now() + Duration::from_secs(5);
    let out = loop {
        if let Some(p) = jack_ports(&server, "footswitch:").into_iter().next() {
            break p;
        }
        assert!(Instant::now() < end, "jack_midiseq registered no port");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(jack("jack_connect").args([&out, "fxmatch:midi_in"]).status().unwrap().success());
    let ok = dump.expect("/fxmatch/ok", Duration::from_secs(10));
    assert_eq!(ok[0], "match", "the footswitch triggered a match: {ok:?}");
    let result = dump.expect("/fxmatch/result", Duration::from_secs(60));
    assert!(result[0].parse::<f32>().unwrap() > 0.0, "{result:?}");
    oscsend(s.port, &["/fxmatch/param/get", "ss", "compressor", "ratio"]);
    let ratio = dump.expect("/fxmatch/param", Duration::from_secs(5))[2].clone();

    // 3. The JACK server stops (SIGTERM) and comes back under the same name. The click track
    // stays connected up to the end, so the daemon has noted that connection.
    drop(seq);
    drop(jackd);
    drop(metro);
    // libjack takes its client timeout (seconds) to close a client whose server died; the daemon
    // closes it on a thread of its own, but the first reconnect attempt can still hold the
    // control thread (seen: over 1 s under load), so allow 5 s and print the slowest answer.
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let asked = Instant::now();
        oscsend(s.port, &["/fxmatch/status"]);
        dump.expect("/fxmatch/status", Duration::from_secs(5));
        slowest = slowest.max(asked.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("slowest /fxmatch/status answer while the server was gone: {slowest:?}");
    let (_, _, _, _, connected, _) = stats(&mut dump, s.port);
    assert_eq!(connected, 0, "the daemon noticed the server is gone");
    let jackd = common::JackServer::start(&server);
    let back = Instant::now();
    let end = back + Duration::from_secs(15);
    while jack_ports(&jackd.name, "fxmatch:").len() < 5 {
        oscsend(s.port, &["/fxmatch/status"]);
        dump.expect("/fxmatch/status", Duration::from_secs(2));
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(Instant::now() < end, "the daemon did not reconnect in 15 s; its log:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("reconnected {:?} after the server came back", back.elapsed());
    let (b0, _, _, _, connected, reconnects) = stats(&mut dump, s.port);
    assert_eq!((connected, reconnects), (1, 1));
    std::thread::sleep(Duration::from_millis(500));
    let (b1, overruns, _, _, _, _) = stats(&mut dump, s.port);
    assert!(b1 - b0 > 100, "audio resumes: {} blocks in 0.5 s", b1 - b0);
    assert!(overruns * 100 <= b1, "{overruns} of {b1} callbacks overran");
    oscsend(s.port, &["/fxmatch/param/get", "ss", "compressor", "ratio"]);
    assert_eq!(dump.expect("/fxmatch/param", Duration::from_secs(5))[2], ratio, "same parameters");
    // The capture history heard before the outage came over: a match of the 2 s segment works
    // with only ~0.5 s heard since the reconnect (the dummy server's inputs are silent since,
    // so the segment's start is the click track from before).
    oscsend(s.port, &["/fxmatch/match"]);
    let result = dump.expect("/fxmatch/result", Duration::from_secs(60));
    assert!(result[0].parse::<f32>().unwrap() > 0.0, "match after the reconnect: {result:?}");
    // The connections made by hand before the outage are re-made once their ports are back.
    let _metro = Guard(jack("jack_metro").args(["-b", "240", "-f", "440", "-a", "0.5"]).spawn().unwrap());
    wait_until(Duration::from_secs(10), "the daemon did not re-make metro:240_bpm -> fxmatch:in_*", || {
        jack_connected(&jackd.name, "metro:240_bpm", "fxmatch:in_l")
            && jack_connected(&jackd.name, "metro:240_bpm", "fxmatch:in_r")
    });
    let log = std::fs::read_to_string(&log).unwrap();
    // What happened, and while the server was down, the failed attempts with the fix.
    for line in log.lines().filter(|l| l.contains("audio server")) {
        eprintln!("daemon log: {line}");
    }
    assert!(log.contains("gone away") && log.contains("reconnected"), "{log}");
    assert!(log.contains("cannot reconnect") && log.contains("jackd -d"), "{log}");
}

/// ST-ITO's LV2 chain (ZamEQ2 → ZamCompX2 → ZamDelay, real Debian plugins) in the daemon on a
/// real JACK server: a match over OSC moves the plugins' parameters, their output changes and
/// stays finite, and the callback keeps up.
#[test]
fn lv2_chain_matches_in_the_daemon_on_a_real_jack_server() {
    let _one = one_at_a_time();
    require_tools();
    let o = common::fxmatch().args(["plugins", "urn:zamaudio:ZamCompX2"]).output().unwrap();
    assert!(
        o.status.success(),
        "zam-plugins is not installed: `apt install zam-plugins` (scripts/setup.sh does)"
    );
    let s = setup_with_chain("config/chains/zam.toml");
    let jackd = common::JackServer::start(&format!("fxmatch-lv2-{}", std::process::id()));
    let server = jackd.name.clone();
    let listen = free_udp_port();
    let mut dump = Dump::start(listen);
    let log = s.dir.path().join("daemon.log");
    let _daemon = start_daemon_on_jack(&s, &server, &log);
    subscribe(&mut dump, s.port, listen);
    // The match renders every candidate through freshly instantiated plugins: slower than the
    // built-in chain on a busy machine, so record for up to 150 s.
    let (probe, pos) = start_probe(&server, 150);
    std::thread::sleep(Duration::from_millis(3000));
    let get = |dump: &mut Dump, effect: &str, param: &str| -> f32 {
        oscsend(s.port, &["/fxmatch/param/get", "ss", effect, param]);
        dump.expect("/fxmatch/param", Duration::from_secs(5))[2].parse().unwrap()
    };
    let before: Vec<f32> = [("eq", "boost1"), ("comp", "thr"), ("delay", "time")]
        .iter()
        .map(|(e, p)| get(&mut dump, e, p))
        .collect();
    let (blocks0, overruns0, _, _, connected, _) = stats(&mut dump, s.port);
    assert_eq!(connected, 1);
    let frames = || pos.load(Ordering::Acquire);
    let at_trigger = frames();
    oscsend(s.port, &["/fxmatch/match", "s", "acoustic"]);
    let result = dump.expect("/fxmatch/result", Duration::from_secs(120));
    let at_result = frames();
    let similarity: f32 = result[0].parse().unwrap();
    assert!(similarity > 0.0 && similarity <= 1.0, "{result:?}");
    std::thread::sleep(Duration::from_millis(2500));
    let after: Vec<f32> = [("eq", "boost1"), ("comp", "thr"), ("delay", "time")]
        .iter()
        .map(|(e, p)| get(&mut dump, e, p))
        .collect();
    let (blocks1, overruns1, _, peak, _, _) = stats(&mut dump, s.port);
    let (_, _, p) = probe.deactivate().unwrap();
    let rec = p.recorded;
    let sr = 48_000;
    assert!(frames() >= at_result + 2 * sr, "the probe recorded 2 s past the result");
    let rms = |range: std::ops::Range<usize>| {
        let n = range.len() as f64;
        let e: f64 = range.map(|i| (rec.0[i] as f64).powi(2) + (rec.1[i] as f64).powi(2)).sum();
        (e / (2.0 * n)).sqrt()
    };
    let (rms_before, rms_after) = (rms(at_trigger - sr..at_trigger), rms(at_result + sr..at_result + 2 * sr));
    eprintln!(
        "LV2 chain on JACK: similarity {similarity}, params {before:?} -> {after:?}, output rms \
         {rms_before:.4} -> {rms_after:.4}, peak load {:.1}%, {} of {} callbacks overran",
        peak * 100.0,
        overruns1 - overruns0,
        blocks1 - blocks0
    );
    assert_ne!(before, after, "the match moved the plugins' parameters");
    let all_finite = rec.0[..frames()].iter().chain(&rec.1[..frames()]).all(|x| x.is_finite());
    assert!(all_finite, "the hosted plugins' output stays finite");
    assert!(
        rms_before > 1e-3 && rms_after > 1e-3,
        "the sine comes through the plugins: {rms_before} / {rms_after}"
    );
    assert!(
        (rms_after / rms_before - 1.0).abs() > 0.01,
        "the output carries the new settings: rms {rms_before} -> {rms_after}"
    );
    assert!((overruns1 - overruns0) * 100 <= blocks1 - blocks0, "callbacks overran while matching");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}
