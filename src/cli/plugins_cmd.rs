//! `fxmatch plugins [URI] [--json]`: the installed LV2 plugins and what fxmatch can do with them;
//! `fxmatch plugins probe URI` (hidden): the crash probe that runs in a child process (see
//! `fxmatch::lv2::probe`).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

use fxmatch::effect::{Mapping, ParamSpec};
use fxmatch::lv2::{
    list_plugins, plugin_info, plugin_presets, supported_features, Layout, PluginInfo, PortKind, PresetInfo,
    SUPPORTED_OPTIONS,
};

/// List installed LV2 plugins: URI, name, audio inputs/outputs, whether fxmatch can host them
/// and the control ports that can be free parameters (by symbol, with their ranges).
///
/// Use a plugin in a chain file with `type = "lv2"` and `uri = "..."`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PluginsArgs {
    #[command(subcommand)]
    command: Option<PluginsCommand>,
    /// Show one plugin in detail (every port, features, layout).
    uri: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// List only the plugins fxmatch can host.
    #[arg(long)]
    hostable: bool,
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Run one plugin in this process: instantiate it, run 1 s of stereo noise at its defaults
    /// and at the extremes of its continuous controls, free it; print a one-line JSON summary.
    /// A crashing plugin kills this process: fxmatch runs it in a child to find out.
    #[command(hide = true)]
    Probe(ProbeArgs),
}

#[derive(Args)]
struct ProbeArgs {
    /// The plugin's URI.
    uri: String,
    /// Sample rate in Hz.
    #[arg(long, default_value_t = fxmatch::lv2::probe::DEFAULT_RATE)]
    rate: u32,
    /// Frames per block.
    #[arg(long, default_value_t = fxmatch::lv2::probe::DEFAULT_BLOCK)]
    block: usize,
}

fn probe(args: ProbeArgs) -> Result<()> {
    use fxmatch::lv2::probe::{run_probe, ProbeFailure, STAGE_PREFIX};
    fxmatch::render::check_sample_rate(args.rate)?;
    match run_probe(&args.uri, args.rate, args.block, &mut |stage| eprintln!("{STAGE_PREFIX}{stage}")) {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        Err(e) => {
            // For the parent process (`probe_in_child`); stderr gets the usual error.
            println!("{}", serde_json::to_string(&ProbeFailure::from(&e))?);
            Err(e.into())
        }
    }
}

#[derive(Serialize)]
struct ParamJson<'a> {
    symbol: &'a str,
    name: &'a str,
    unit: &'a str,
    min: f32,
    max: f32,
    default: f32,
    mapping: Mapping,
    crossfade: bool,
}

#[derive(Serialize)]
struct PluginJson<'a> {
    uri: &'a str,
    name: &'a str,
    class: &'a str,
    audio_inputs: usize,
    audio_outputs: usize,
    side_chain_inputs: usize,
    hostable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    layout: Option<Layout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a str>,
    required_features: &'a [String],
    required_options: &'a [String],
    params: Vec<ParamJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<&'a [fxmatch::lv2::PortInfo]>,
    /// LV2 presets (detail view only): usable as `preset = "..."` in chain files.
    #[serde(skip_serializing_if = "Option::is_none")]
    presets: Option<Vec<PresetInfo>>,
}

fn param_json(s: &ParamSpec) -> ParamJson<'_> {
    ParamJson {
        symbol: &s.id,
        name: &s.name,
        unit: &s.unit,
        min: s.min,
        max: s.max,
        default: s.default,
        mapping: s.mapping,
        crossfade: s.needs_crossfade,
    }
}

fn to_json(p: &PluginInfo, detail: bool) -> PluginJson<'_> {
    PluginJson {
        uri: &p.uri,
        name: &p.name,
        class: &p.class,
        audio_inputs: p.audio_inputs,
        audio_outputs: p.audio_outputs,
        side_chain_inputs: p.side_chain_inputs,
        hostable: p.hostable(),
        layout: p.layout.as_ref().ok().copied(),
        refused: p.layout.as_ref().err().map(String::as_str),
        required_features: &p.required_features,
        required_options: &p.required_options,
        params: p.params.iter().map(|(_, s)| param_json(s)).collect(),
        ports: detail.then_some(p.ports.as_slice()),
        presets: detail.then(|| plugin_presets(&p.uri).unwrap_or_default()),
    }
}

fn status(p: &PluginInfo) -> String {
    match &p.layout {
        Ok(Layout::Stereo) => "yes (stereo)".into(),
        Ok(Layout::DualMono) => "yes (dual-mono)".into(),
        Err(why) => format!("no: {why}"),
    }
}

fn fmt(v: f32) -> String {
    if v.fract() == 0.0 && v.abs() < 1e6 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn mapping_name(m: Mapping) -> &'static str {
    match m {
        Mapping::Linear => "linear",
        Mapping::Log => "log",
        Mapping::Discrete => "discrete",
    }
}

fn print_params(p: &PluginInfo) {
    for (_, s) in &p.params {
        println!(
            "    {:<16} {:>9} .. {:<9} {:<4} default {:<8} {}{}",
            s.id,
            fmt(s.min),
            fmt(s.max),
            s.unit,
            fmt(s.default),
            mapping_name(s.mapping),
            if s.needs_crossfade { ", crossfade" } else { "" }
        );
    }
}

pub fn run(args: PluginsArgs) -> Result<()> {
    if let Some(PluginsCommand::Probe(p)) = args.command {
        return probe(p);
    }
    if let Some(uri) = &args.uri {
        let Some(p) = plugin_info(uri) else {
            let hint = fxmatch::lv2::package_hint(uri)
                .map(|pkg| format!("install it with `apt install {pkg}`, or "))
                .unwrap_or_default();
            bail!("no LV2 plugin `{uri}` is installed\n  fix: {hint}pick a URI from `fxmatch plugins`");
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&to_json(&p, true))?);
            return Ok(());
        }
        println!("{}\n  name:     {}\n  class:    {}", p.uri, p.name, p.class);
        println!(
            "  audio:    {} in, {} out{}",
            p.audio_inputs,
            p.audio_outputs,
            if p.side_chain_inputs > 0 {
                format!(", {} side-chain in (fed silence)", p.side_chain_inputs)
            } else {
                String::new()
            }
        );
        println!("  hostable: {}", status(&p));
        println!(
            "  requires: {}",
            if p.required_features.is_empty() {
                "no features".into()
            } else {
                p.required_features.join(", ")
            }
        );
        if !p.required_options.is_empty() {
            println!("  requires options: {}", p.required_options.join(", "));
        }
        println!("  fxmatch provides: {}", supported_features().join(", "));
        println!("  with the options: {}", SUPPORTED_OPTIONS.join(", "));
        println!("  parameters (free or fixed by symbol in a chain file):");
        print_params(&p);
        let presets = plugin_presets(&p.uri).unwrap_or_default();
        if !presets.is_empty() {
            println!("  presets (`preset = \"LABEL\"` in a chain file):");
            for preset in &presets {
                println!("    {:<24} {}", preset.label, preset.uri);
            }
        }
        println!("  ports:");
        for port in &p.ports {
            let dir = if port.input { "in " } else { "out" };
            let kind = match port.kind {
                PortKind::Audio if port.side_chain => "audio (side-chain)",
                PortKind::Audio => "audio",
                PortKind::Control => "control",
                PortKind::Atom => "atom",
                PortKind::Cv => "cv",
                PortKind::Other => "unknown",
            };
            let is_param = p.params.iter().any(|(i, _)| *i == port.index);
            let note = if port.kind == PortKind::Control && port.input && !is_param {
                " (no usable range: stays at its default)"
            } else if port.kind == PortKind::Control && !port.input {
                " (output, not a parameter)"
            } else {
                ""
            };
            println!("    [{:>2}] {dir} {:<18} {:<16} {}{note}", port.index, kind, port.symbol, port.name);
        }
        return Ok(());
    }
    let all: Vec<PluginInfo> =
        list_plugins().into_iter().filter(|p| !args.hostable || p.hostable()).collect();
    if args.json {
        let v: Vec<PluginJson> = all.iter().map(|p| to_json(p, false)).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let hostable = all.iter().filter(|p| p.hostable()).count();
    println!(
        "{} LV2 plugins installed, {hostable} hostable by fxmatch (`fxmatch plugins URI` for details)",
        all.len()
    );
    for p in &all {
        println!(
            "\n{}  {}\n  audio {} in / {} out, hostable: {}",
            p.uri,
            p.name,
            p.audio_inputs,
            p.audio_outputs,
            status(p)
        );
        if p.hostable() {
            print_params(p);
        }
    }
    Ok(())
}
