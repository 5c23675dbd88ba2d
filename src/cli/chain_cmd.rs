//! `fxmatch chain show` and `fxmatch chain types`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::effect::Mapping;

#[derive(Subcommand)]
pub enum ChainCommand {
    /// List a chain's effects and its free parameters with their ranges and units.
    Show {
        /// Chain file (TOML).
        chain: PathBuf,
        /// Print the search vector as JSON instead (for tools such as training/predictor.py): the
        /// chain's name and, per free parameter in order, its name, range, mapping and where a
        /// match starts, and its neutral value, normalised (null where it has none).
        #[arg(long)]
        json: bool,
    },
    /// List the built-in effect types and all their parameters.
    Types,
}

pub fn run(cmd: ChainCommand) -> Result<()> {
    match cmd {
        ChainCommand::Show { chain, json: false } => show(chain),
        ChainCommand::Show { chain, json: true } => show_json(chain),
        ChainCommand::Types => types(),
    }
}

fn mapping_name(m: Mapping) -> &'static str {
    match m {
        Mapping::Linear => "linear",
        Mapping::Log => "log",
        Mapping::Discrete => "discrete",
    }
}

fn show(path: PathBuf) -> Result<()> {
    let spec = ChainSpec::load(&path)?;
    let chain = Chain::from_spec(&spec)?;
    println!(
        "chain `{}` ({}): {} effects, {} free parameters",
        spec.name,
        path.display(),
        spec.effects.len(),
        chain.num_free()
    );
    if !spec.description.is_empty() {
        println!("  {}", spec.description.trim());
    }
    for (slot, e) in spec.effects.iter().enumerate() {
        let bypass = if e.bypass { " (bypassed)" } else { "" };
        match &e.uri {
            Some(uri) => println!("\n[{slot}] {} : {} {uri}{bypass}", e.id, e.kind),
            None => println!("\n[{slot}] {} : {}{bypass}", e.id, e.kind),
        }
        for (i, p) in chain.effect(slot).params().iter().enumerate() {
            let value = chain.effect(slot).param(i);
            match chain.free_params().iter().position(|f| f.slot == slot && f.index == i) {
                Some(k) => {
                    let f = &chain.free_params()[k];
                    let r = f.range;
                    // Where a match starts; "neutral" when the value is the least processing.
                    let start = if f.neutral.is_some() { "neutral" } else { "start" };
                    println!(
                        "  x[{k:>2}] {:<14} free  {:>9} .. {:<9} {:<3} ({}) {start} {}",
                        p.id,
                        fmt(r.min),
                        fmt(r.max),
                        p.unit,
                        mapping_name(r.mapping),
                        fmt(r.to_plain(f.start))
                    );
                }
                None => println!("        {:<14} fixed {:>9} {}", p.id, fmt(value), p.unit),
            }
        }
    }
    Ok(())
}

fn show_json(path: PathBuf) -> Result<()> {
    let spec = ChainSpec::load(&path)?;
    let chain = Chain::from_spec(&spec)?;
    // Named as predictors name them, so a tool can check a predictor's parameters against these.
    let names = fxmatch::predict::param_names(&chain);
    let free: Vec<serde_json::Value> = chain
        .free_params()
        .iter()
        .zip(names)
        .map(|(f, name)| {
            serde_json::json!({
                "name": name,
                "unit": f.unit,
                "min": f.range.min,
                "max": f.range.max,
                "mapping": mapping_name(f.range.mapping),
                "start": f.start,
                "neutral": f.neutral,
            })
        })
        .collect();
    let out = serde_json::json!({ "chain": spec.name, "free": free });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn types() -> Result<()> {
    println!("(LV2 plugins: `type = \"lv2\"` with `uri = \"...\"`; `fxmatch plugins` lists them)");
    for kind in fxmatch::dsp::BUILTIN_KINDS {
        let effect = fxmatch::chain::instantiate(kind).expect("built-in kinds instantiate");
        println!("{kind}");
        for p in effect.params() {
            let neutral = p.neutral.map_or(String::new(), |v| format!(" neutral {}", fmt(v)));
            println!(
                "  {:<14} {:<22} {:>9} .. {:<9} {:<3} default {:<8} {}{neutral}",
                p.id,
                p.name,
                fmt(p.min),
                fmt(p.max),
                p.unit,
                fmt(p.default),
                mapping_name(p.mapping)
            );
        }
    }
    Ok(())
}

fn fmt(v: f32) -> String {
    if v.fract() == 0.0 && v.abs() < 1e6 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
