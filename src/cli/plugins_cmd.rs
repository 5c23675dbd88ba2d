//! `fxmatch plugins [URI|VST3] [--json]`: the installed LV2 and VST3 plugins and what fxmatch can
//! do with them;
//! `fxmatch plugins probe URI` and `fxmatch plugins probe --vst3 NAME|PATH` (hidden): the crash
//! probe that runs in a child process (see `fxmatch::probe`).

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
/// Use a plugin in a chain file with `type = "lv2"` and `uri = "..."`. VST3 plugins (from
/// `$VST3_PATH`, `~/.vst3`, `/usr/lib/vst3`, `/usr/local/lib/vst3`) are listed after them: use one
/// with `type = "vst3"` and `plugin = "NAME"` (or the bundle's path).
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PluginsArgs {
    #[command(subcommand)]
    command: Option<PluginsCommand>,
    /// Show one plugin in detail (every port, features, layout): an LV2 URI, or a VST3 plugin's
    /// name or bundle path.
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
    /// A crashing plugin kills this process: fxmatch runs it in a child to find out. An LV2 URI,
    /// or with --vst3 a VST3 plugin's name or bundle path.
    #[command(hide = true)]
    Probe(ProbeArgs),
}

#[derive(Args)]
struct ProbeArgs {
    /// The plugin's URI (with --vst3: a VST3 plugin's name or bundle path).
    uri: String,
    /// Probe a VST3 plugin.
    #[arg(long)]
    vst3: bool,
    /// Sample rate in Hz.
    #[arg(long, default_value_t = fxmatch::lv2::probe::DEFAULT_RATE)]
    rate: u32,
    /// Frames per block.
    #[arg(long, default_value_t = fxmatch::lv2::probe::DEFAULT_BLOCK)]
    block: usize,
}

fn probe(args: ProbeArgs) -> Result<()> {
    use fxmatch::probe::{ProbeFailure, PLUGIN_PREFIX, STAGE_PREFIX};
    fxmatch::render::check_sample_rate(args.rate)?;
    let mut stage = |stage: &str| eprintln!("{STAGE_PREFIX}{stage}");
    let summary = if args.vst3 {
        let mut located = |bundle: &str| eprintln!("{PLUGIN_PREFIX}{bundle}");
        fxmatch::vst3::probe::run_probe(&args.uri, args.rate, args.block, &mut stage, &mut located)
            .map(|s| serde_json::to_string(&s).expect("a plain struct serialises"))
    } else {
        fxmatch::lv2::probe::run_probe(&args.uri, args.rate, args.block, &mut stage)
            .map(|s| serde_json::to_string(&s).expect("a plain struct serialises"))
    };
    match summary {
        Ok(summary) => {
            println!("{summary}");
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

#[derive(Serialize)]
struct Vst3ParamJson<'a> {
    symbol: &'a str,
    name: &'a str,
    id: u32,
    min: f32,
    max: f32,
    default: f32,
    mapping: Mapping,
    crossfade: bool,
    /// The plugin's plain value at normalised 0 and 1, in `plain_unit`.
    plain_min: f64,
    plain_max: f64,
    plain_unit: &'a str,
}

#[derive(Serialize)]
struct Vst3Json<'a> {
    format: &'static str,
    name: &'a str,
    plugin: String,
    vendor: &'a str,
    sub_categories: &'a str,
    hostable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    layout: Option<fxmatch::vst3::Layout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
    side_chain_inputs: usize,
    split_controller: bool,
    params: Vec<Vst3ParamJson<'a>>,
}

fn vst3_json(d: &fxmatch::vst3::PluginDesc) -> Vst3Json<'_> {
    Vst3Json {
        format: "vst3",
        name: d.name(),
        plugin: d.module.bundle.display().to_string(),
        vendor: &d.class.vendor,
        sub_categories: &d.class.sub_categories,
        hostable: true,
        layout: Some(d.layout),
        refused: None,
        side_chain_inputs: d.side_chain_inputs,
        split_controller: d.split,
        params: d
            .specs
            .iter()
            .zip(&d.params)
            .map(|(s, p)| Vst3ParamJson {
                symbol: &s.id,
                name: &s.name,
                id: p.id,
                min: s.min,
                max: s.max,
                default: s.default,
                mapping: s.mapping,
                crossfade: s.needs_crossfade,
                plain_min: p.plain_min,
                plain_max: p.plain_max,
                plain_unit: &p.units,
            })
            .collect(),
    }
}

fn vst3_layout(d: &fxmatch::vst3::PluginDesc) -> String {
    let side = if d.side_chain_inputs > 0 {
        format!(", {} side-chain input bus(es) fed silence", d.side_chain_inputs)
    } else {
        String::new()
    };
    match d.layout {
        fxmatch::vst3::Layout::Stereo => format!("yes (stereo{side})"),
        fxmatch::vst3::Layout::DualMono => format!("yes (dual-mono{side})"),
    }
}

fn print_vst3_params(d: &fxmatch::vst3::PluginDesc) {
    for (s, p) in d.specs.iter().zip(&d.params) {
        let range = if s.mapping == Mapping::Discrete {
            format!("steps 0..{}", fmt(s.max))
        } else {
            "0..1".to_string()
        };
        println!(
            "    {:<16} id {:<4} {:<11} default {:<6} = plain {} .. {} {}{}",
            s.id,
            p.id,
            range,
            fmt(s.default),
            fmt(p.plain_min as f32),
            fmt(p.plain_max as f32),
            p.units,
            if s.needs_crossfade { ", crossfade" } else { "" }
        );
    }
}

fn vst3_detail(d: &fxmatch::vst3::PluginDesc, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&vst3_json(d))?);
        return Ok(());
    }
    println!(
        "{} (VST3)
  bundle:   {}",
        d.name(),
        d.module.bundle.display()
    );
    println!(
        "  vendor:   {}
  category: {}",
        d.class.vendor, d.class.sub_categories
    );
    println!("  hostable: {}", vst3_layout(d));
    println!(
        "  controller: {}",
        if d.split { "separate (split component)" } else { "on the component (single component)" }
    );
    println!("  parameters (free or fixed by symbol, title or id in a chain file; normalised units):");
    print_vst3_params(d);
    let others: Vec<String> =
        d.all_params.iter().filter_map(|(p, why)| why.map(|w| format!("{} ({w})", p.title))).collect();
    if !others.is_empty() {
        println!("  not parameters: {}", others.join(", "));
    }
    Ok(())
}

fn looks_like_vst3(reference: &str) -> bool {
    reference.ends_with(".vst3") || (!reference.contains(':') && !reference.is_empty())
}

pub fn run(args: PluginsArgs) -> Result<()> {
    if let Some(PluginsCommand::Probe(p)) = args.command {
        return probe(p);
    }
    if let Some(uri) = &args.uri {
        // Not a URI (lilv refuses to parse those): a VST3 name or bundle path.
        if looks_like_vst3(uri) {
            let d = fxmatch::vst3::plugin_desc(uri).map_err(|e| anyhow::anyhow!("{e}"))?;
            return vst3_detail(&d, args.json);
        }
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
    let vst3 = fxmatch::vst3::list_plugins();
    if args.json {
        let mut v: Vec<serde_json::Value> =
            all.iter().map(|p| serde_json::to_value(to_json(p, false))).collect::<Result<_, _>>()?;
        for d in &vst3 {
            match d {
                Ok(d) => v.push(serde_json::to_value(vst3_json(d))?),
                Err(_) if args.hostable => {}
                Err((bundle, e)) => v.push(serde_json::json!({
                    "format": "vst3", "plugin": bundle.display().to_string(), "hostable": false,
                    "refused": e.message,
                })),
            }
        }
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
    let ok = vst3.iter().filter(|d| d.is_ok()).count();
    println!(
        "\n{} VST3 plugins found, {ok} hostable by fxmatch (`fxmatch plugins NAME` for details; searched {})",
        vst3.len(),
        fxmatch::vst3::search_paths().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    for d in &vst3 {
        match d {
            Ok(d) => {
                println!(
                    "\n{}  (VST3, {})\n  hostable: {}",
                    d.name(),
                    d.module.bundle.display(),
                    vst3_layout(d)
                );
                print_vst3_params(d);
            }
            Err(_) if args.hostable => {}
            Err((bundle, e)) => println!("\n{}  (VST3)\n  hostable: no: {}", bundle.display(), e.message),
        }
    }
    Ok(())
}
