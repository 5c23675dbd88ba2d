//! `fxmatch daemon`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use fxmatch::audio::read_wav;
use fxmatch::chain::ChainSpec;
use fxmatch::config::DaemonConfig;
use fxmatch::control::osc::OscServer;
use fxmatch::daemon::Daemon;
use fxmatch::engine::{AudioControl, JackEngine, OfflineEngine, OfflineOptions};

/// Where the audio comes from.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Backend {
    /// A JACK client named by the config (needs a running JACK server).
    Jack,
    /// The offline clock: plays --input in a loop in real time, no sound card or server.
    Offline,
}

/// Run the effects box: the chain live, matches on footswitch or OSC triggers, presets.
///
/// Listens for OSC on the config's [osc] address (default 127.0.0.1:9000; see docs/osc.md).
/// SIGINT or SIGTERM stops it cleanly, saving the state it restores on the next start.
#[derive(Args)]
pub struct DaemonArgs {
    /// Daemon config file.
    #[arg(long, default_value = "config/default.toml")]
    config: PathBuf,
    /// Audio backend.
    #[arg(long, value_enum, default_value_t = Backend::Jack)]
    backend: Backend,
    /// Input WAV the offline backend plays (looped).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Override the config's OSC port (0: any free port, logged at start).
    #[arg(long)]
    osc_port: Option<u16>,
}

/// Start the audio backend on the config's chain. Every LV2 and VST3 plugin of the chain is first
/// run in a child process (`fxmatch::probe`), before the engine instantiates it: a plugin that
/// crashes or hangs there is refused with its URI, the signal and the fix, instead of taking
/// the daemon down.
fn open_backend(args: &DaemonArgs, config: &DaemonConfig) -> Result<Box<dyn AudioControl>> {
    let spec = ChainSpec::load(&config.chain)?;
    let engine = config.engine_config();
    let rate = engine.sample_rate.unwrap_or(fxmatch::lv2::probe::DEFAULT_RATE);
    Ok(match args.backend {
        Backend::Jack => {
            fxmatch::chain::probe_chain(&spec, rate, engine.max_block)?;
            Box::new(JackEngine::start(&spec, &engine)?)
        }
        Backend::Offline => {
            let path = args.input.as_ref().expect("checked in run");
            let (input, _) = read_wav(path)?;
            fxmatch::chain::probe_chain(&spec, input.sample_rate, engine.max_block)?;
            Box::new(OfflineEngine::start(&spec, &engine, input, OfflineOptions::default())?)
        }
    })
}

/// A non-loopback OSC address lets anyone on the network re-tune the box and delete its
/// references: say so loudly at every start, and more loudly without a secret.
fn warn_if_exposed(config: &DaemonConfig) {
    if config.osc.ip().is_loopback() {
        return;
    }
    if config.osc_secret.is_none() {
        tracing::warn!(
            osc = %config.osc,
            "OSC listens on {} with NO authentication: anyone who can reach this port can change \
             parameters, run matches and delete references. Set [osc] secret = \"…\" in the config \
             (clients then send /fxmatch/auth s SECRET first), or bind = \"127.0.0.1\"",
            config.osc
        );
    } else {
        tracing::warn!(
            osc = %config.osc,
            "OSC listens on {} (not only this machine); senders must authenticate with [osc] secret",
            config.osc
        );
    }
}

pub fn run(args: DaemonArgs) -> Result<()> {
    let mut config = DaemonConfig::load(&args.config)?;
    if let Some(port) = args.osc_port {
        config.osc.set_port(port);
    }
    if args.backend == Backend::Offline && args.input.is_none() {
        anyhow::bail!("--backend offline plays a WAV file\n  fix: add --input DRY.wav");
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Bounded: a flood is refused at the OSC edge instead of queueing seconds of work.
    let (commands, command_rx) = mpsc::sync_channel(fxmatch::control::osc::COMMAND_QUEUE);
    // GPIO footswitches (or the error naming the `gpio` feature) before anything slow.
    let gpio = fxmatch::control::gpio::spawn(&config, commands.clone(), stop.clone())?;
    // Bind before anything slow, so a taken port fails fast.
    let mut osc = OscServer::bind(config.osc)?.with_secret(config.osc_secret.clone());
    warn_if_exposed(&config);
    let audio = open_backend(&args, &config)?;
    let (mut daemon, events, warnings) = Daemon::new(config.clone(), audio)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let refs: Vec<&str> = daemon.references().list().iter().map(|r| r.name.as_str()).collect();
    tracing::info!(osc = %osc.local_addr(), references = ?refs, chain = %config.chain.display(), "fxmatch daemon ready");

    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handler")?;
    }
    let osc_stop = stop.clone();
    let osc_thread = std::thread::Builder::new()
        .name("fxmatch-osc".into())
        .spawn(move || osc.run(commands, events, &osc_stop))?;
    let control_stop = stop.clone();
    let control = std::thread::Builder::new()
        .name("fxmatch-control".into())
        .spawn(move || daemon.run(command_rx, &control_stop))?;
    control.join().map_err(|_| anyhow::anyhow!("the control thread panicked"))?;
    stop.store(true, Ordering::Relaxed);
    osc_thread.join().map_err(|_| anyhow::anyhow!("the OSC thread panicked"))?;
    if let Some(gpio) = gpio {
        gpio.join().map_err(|_| anyhow::anyhow!("the GPIO thread panicked"))?;
    }
    tracing::info!("stopped; state saved");
    Ok(())
}
