//! `fxmatch lv2 ttl DIR` (the TTL of fxmatch's own LV2 plugins) and `fxmatch preset export`
//! (a chain's settings as LV2 presets for those plugins).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use fxmatch::chain::{Chain, ChainSpec, Params};
use fxmatch::lv2::export::{
    write_plugin_ttl, write_preset_bundle, PresetSource, BINARY_NAME, PLUGIN_URI_BASE,
};

/// fxmatch's built-in effects as LV2 plugins (see `scripts/install_lv2.sh`).
#[derive(Subcommand)]
pub enum Lv2Command {
    /// Write the plugin bundle's TTL (manifest.ttl and one KIND.ttl per built-in effect),
    /// generated from the effects' parameter specs, into DIR. The binary is not included:
    /// `scripts/install_lv2.sh` builds it and copies it next to the TTL.
    Ttl {
        /// Bundle directory, e.g. ~/.lv2/fxmatch.lv2 (created if missing).
        dir: PathBuf,
    },
}

pub fn run(cmd: Lv2Command) -> Result<()> {
    match cmd {
        Lv2Command::Ttl { dir } => {
            let files = write_plugin_ttl(&dir)?;
            eprintln!(
                "wrote {} TTL files into {} (plugins {PLUGIN_URI_BASE}KIND; binary expected as {BINARY_NAME})",
                files.len(),
                dir.display()
            );
            Ok(())
        }
    }
}

/// Presets for fxmatch's LV2 plugins.
#[derive(Subcommand)]
pub enum PresetCommand {
    /// Write a chain's settings (chain file fixed values, then the params file) as an LV2
    /// preset bundle: manifest.ttl and one ID.ttl per built-in effect, applying to the
    /// fxmatch plugins (https://fxmatch.dev/plugins/KIND). Put DIR into an LV2 path (e.g.
    /// ~/.lv2/NAME.lv2) to load them in Carla, Ardour or MOD. LV2-hosted effects are skipped.
    Export(ExportArgs),
}

/// Arguments of `fxmatch preset export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Params file, e.g. OUT.params.toml from `fxmatch match`.
    params: PathBuf,
    /// The chain file the params belong to.
    #[arg(long)]
    chain: PathBuf,
    /// Bundle directory to write (created if missing); by LV2 convention named NAME.lv2.
    #[arg(long)]
    out: PathBuf,
    /// Preset label prefix (default: the params file name without `.params.toml`/`.toml`).
    #[arg(long)]
    name: Option<String>,
}

pub fn run_preset(cmd: PresetCommand) -> Result<()> {
    let PresetCommand::Export(args) = cmd;
    let spec = ChainSpec::load(&args.chain)?;
    let mut chain = Chain::from_spec(&spec)?;
    let params = Params::load(&args.params, &chain)?;
    chain.apply_params(&params)?;
    let name = args.name.unwrap_or_else(|| {
        let file = args.params.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = file.strip_suffix(".params.toml").or_else(|| file.strip_suffix(".toml")).unwrap_or(&file);
        stem.to_string()
    });
    let sources: Vec<PresetSource> = (0..chain.len())
        .map(|slot| {
            let e = &spec.effects[slot];
            PresetSource { id: &e.id, kind: &e.kind, uri: e.uri.as_deref(), effect: chain.effect(slot) }
        })
        .collect();
    let bundle = write_preset_bundle(&sources, &name, &args.out)?;
    for (id, why) in &bundle.skipped {
        eprintln!("note: skipped `{id}`: {why}");
    }
    for p in &bundle.presets {
        println!("{}\t{}", p.uri, p.plugin_uri);
    }
    eprintln!("wrote {} presets into {}", bundle.presets.len(), args.out.display());
    Ok(())
}
