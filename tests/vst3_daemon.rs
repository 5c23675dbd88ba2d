//! ST-ITO's Zam chain as VST3 plugins (config/chains/zam-vst3.toml) in the daemon on a real
//! `jackd -d dummy` server, driven over OSC with liblo's `oscsend` and `oscdump`: a match moves
//! the plugins' parameters, the output changes and stays finite, the callback keeps up. The same
//! pattern as the LV2 chain's test in tests/daemon_osc.rs.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::daemon::*;

fn jack_ports(server: &str, prefix: &str) -> Vec<String> {
    let out = Command::new("jack_lsp").env("JACK_DEFAULT_SERVER", server).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(prefix)).map(String::from).collect()
}

/// A JACK client of the test: plays a 220 Hz sine into the daemon and records what comes out
/// into a buffer allocated up front (`pos` frames written so far).
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

#[test]
fn vst3_chain_matches_in_the_daemon_on_a_real_jack_server() {
    let _one = one_at_a_time();
    require_tools();
    let o = common::fxmatch().args(["plugins", "ZamCompX2"]).output().unwrap();
    assert!(
        o.status.success(),
        "the Zam VST3 plugins are not installed: `apt install zam-plugins` (scripts/setup.sh does): {}",
        common::stderr(&o)
    );
    let s = setup_with_chain("config/chains/zam-vst3.toml");
    let jackd = common::JackServer::start(&format!("fxmatch-vst3-{}", std::process::id()));
    let server = jackd.name.clone();
    let listen = free_udp_port();
    let mut dump = Dump::start(listen);
    let log = s.dir.path().join("daemon.log");
    let _daemon = start_daemon_on_jack(&s, &server, &log);
    subscribe(&mut dump, s.port, listen);
    let (probe, pos) = start_probe(&server, 150);
    std::thread::sleep(Duration::from_millis(3000));
    let params = [("eq", "boost_cut_1"), ("comp", "threshold"), ("comp", "ratio"), ("delay", "time")];
    let get = |dump: &mut Dump, effect: &str, param: &str| -> f32 {
        oscsend(s.port, &["/fxmatch/param/get", "ss", effect, param]);
        dump.expect("/fxmatch/param", Duration::from_secs(5))[2].parse().unwrap()
    };
    let before: Vec<f32> = params.iter().map(|(e, p)| get(&mut dump, e, p)).collect();
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
    let after: Vec<f32> = params.iter().map(|(e, p)| get(&mut dump, e, p)).collect();
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
        "VST3 chain on JACK: similarity {similarity}, params {before:?} -> {after:?}, output rms \
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
