//! Command-line front end: one module per subcommand group.

mod chain_cmd;
mod daemon_cmd;
mod dataset_cmd;
mod embed_cmd;
mod eval_cmd;
mod lv2_cmd;
mod match_cmd;
mod metric_args;
mod plugins_cmd;
mod predict_cmd;
mod render_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// fxmatch — give live audio the production style of a reference, with a real effect chain.
///
/// Effect chains are TOML files (see config/chains/); their free parameters are what a match
/// searches. Start with `fxmatch chain show config/chains/default.toml`.
#[derive(Parser)]
#[command(name = "fxmatch", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the effects box: live chain, matches on footswitch/OSC triggers, presets.
    Daemon(daemon_cmd::DaemonArgs),
    /// Render a WAV file through a chain at given parameter values.
    Render(render_cmd::RenderArgs),
    /// Find the chain parameters that give an input a reference's production style.
    Match(match_cmd::MatchArgs),
    /// Inspect chain files and the built-in effect types.
    #[command(subcommand)]
    Chain(chain_cmd::ChainCommand),
    /// List installed LV2 plugins, whether fxmatch can host them, and their parameters.
    ///
    /// Before render, match, eval or the daemon load a chain's LV2 plugins, each is run once in a
    /// child process (1 s of noise at its defaults and control extremes); a plugin that crashes
    /// (SIGSEGV, SIGABRT, ...) or hangs there is refused with the signal and the fix instead of
    /// taking fxmatch down. FXMATCH_NO_PROBE=1 skips this; FXMATCH_PROBE_TIMEOUT=SECONDS sets
    /// its time limit (default 20).
    Plugins(plugins_cmd::PluginsArgs),
    /// fxmatch's built-in effects as LV2 plugins: write the bundle's TTL.
    #[command(subcommand)]
    Lv2(lv2_cmd::Lv2Command),
    /// Export a chain's settings as LV2 presets for fxmatch's plugins.
    #[command(subcommand)]
    Preset(lv2_cmd::PresetCommand),
    /// Run the benchmark tasks (shared/BENCHMARK.md) and write results.
    #[command(subcommand)]
    Eval(eval_cmd::EvalCommand),
    /// Print the style embedding of audio files (one JSON object per line).
    Embed(embed_cmd::EmbedArgs),
    /// Print the style similarity of two audio files.
    Similarity(embed_cmd::SimilarityArgs),
    /// Write the style encoder's training pairs (x, f(x)) with fxmatch's own effects.
    Dataset(dataset_cmd::DatasetArgs),
    /// The parameter predictor (`match --mode predict|hybrid`): its training examples, its timing.
    #[command(subcommand)]
    Predictor(predict_cmd::PredictorCommand),
}

/// Log to stderr (journald picks it up under systemd); `RUST_LOG` overrides the `info` level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Parse the command line, run, and map errors to a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Daemon(args) => {
            init_logging();
            daemon_cmd::run(args)
        }
        Command::Render(args) => render_cmd::run(args),
        Command::Match(args) => match_cmd::run(args),
        Command::Chain(cmd) => chain_cmd::run(cmd),
        Command::Plugins(args) => plugins_cmd::run(args),
        Command::Lv2(cmd) => lv2_cmd::run(cmd),
        Command::Preset(cmd) => lv2_cmd::run_preset(cmd),
        Command::Eval(cmd) => eval_cmd::run(cmd),
        Command::Dataset(args) => dataset_cmd::run(args),
        Command::Predictor(cmd) => predict_cmd::run(cmd),
        Command::Embed(args) => embed_cmd::run_embed(args),
        Command::Similarity(args) => embed_cmd::run_similarity(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
