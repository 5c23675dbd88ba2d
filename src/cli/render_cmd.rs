//! `fxmatch render`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use fxmatch::audio::{read_wav, write_wav, SampleFormat};
use fxmatch::chain::{Chain, ChainSpec, Params};
use fxmatch::render::render;

/// Render IN.wav through a chain into OUT.wav.
///
/// Parameters not named in --params keep the chain file's fixed values or their defaults.
/// The output is stereo, in the input's sample format unless --format says otherwise.
#[derive(Args)]
pub struct RenderArgs {
    /// Chain file (TOML), e.g. config/chains/default.toml.
    #[arg(long)]
    chain: PathBuf,
    /// Params file: plain-unit values as `[effect]` tables, e.g. written by `fxmatch match`.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Seconds of silence appended so reverb and delay tails ring out.
    #[arg(long, default_value_t = 0.0)]
    tail: f32,
    /// Output sample format (default: the input's).
    #[arg(long, value_enum)]
    format: Option<SampleFormat>,
    /// Input WAV (mono or stereo; 16/24-bit int or 32-bit float).
    input: PathBuf,
    /// Output WAV; written only when the whole render succeeded.
    output: PathBuf,
}

pub fn run(args: RenderArgs) -> Result<()> {
    let spec = ChainSpec::load(&args.chain)?;
    let mut chain = Chain::from_spec(&spec)?;
    if let Some(p) = &args.params {
        let params = Params::load(p, &chain)?;
        chain.apply_params(&params)?;
    }
    let (input, format) = read_wav(&args.input)?;
    // Each LV2 plugin runs in a child process first: one that crashes is an error, not a crash.
    fxmatch::lv2::probe_chain(&spec, input.sample_rate, fxmatch::render::OFFLINE_BLOCK)?;
    let out = render(&mut chain, &input, args.tail)?;
    let peak = out.peak();
    let nonfinite = chain.nonfinite_samples();
    if nonfinite > 0 {
        eprintln!("warning: {nonfinite} non-finite samples from hosted plugins were replaced by silence");
    }
    write_wav(&args.output, &out, args.format.unwrap_or(format))?;
    eprintln!(
        "rendered {} ({:.2} s, {} Hz) through `{}` into {} (peak {:.1} dBFS)",
        args.input.display(),
        out.seconds(),
        out.sample_rate,
        spec.name,
        args.output.display(),
        fxmatch::dsp::gain_to_db(peak)
    );
    if peak > 1.0 && args.format.unwrap_or(format) != SampleFormat::F32 {
        eprintln!(
            "warning: the output peaks above full scale and was clipped; lower a gain or write --format f32"
        );
    }
    Ok(())
}
