//! `fxmatch render`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use fxmatch::audio::{SampleFormat, WavReader, WavWriter};
use fxmatch::chain::{Chain, ChainSpec, Params};
use fxmatch::render::{render_stream, tail_frames};

/// Render IN.wav through a chain into OUT.wav.
///
/// Parameters not named in --params keep the chain file's fixed values or their defaults.
/// The output is stereo, in the input's sample format unless --format says otherwise.
/// Files of any length are rendered block by block in constant memory, up to the 4 GiB a WAV
/// file holds (e.g. 6.2 hours of 48 kHz stereo at 24 bits).
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
    /// Output WAV; written only when the whole render succeeded. Must be a regular file (or not
    /// exist yet): devices, pipes, `-` and folders are refused.
    output: PathBuf,
}

pub fn run(args: RenderArgs) -> Result<()> {
    let spec = ChainSpec::load_or_builtin(&args.chain)?;
    let mut chain = Chain::from_spec(&spec)?;
    if let Some(p) = &args.params {
        let params = Params::load(p, &chain)?;
        chain.apply_params(&params)?;
    }
    let mut input = WavReader::open(&args.input)?;
    let (rate, format) = (input.sample_rate(), args.format.unwrap_or(input.format()));
    let frames = input.frames() + tail_frames(args.tail, rate) as u64;
    WavWriter::check_fits(&args.output, frames, 2, format)?;
    // Staged before the work, so a bad output path is refused before a long render.
    let mut out = WavWriter::create(&args.output, 2, rate, format)?;
    // Each hosted plugin runs in a child process first: one that crashes is an error, not a crash.
    fxmatch::chain::probe_chain(&spec, rate, fxmatch::render::OFFLINE_BLOCK)?;
    let summary = render_stream(&mut chain, &mut input, args.tail, &mut out)?;
    let peak = summary.peak;
    let nonfinite = chain.nonfinite_samples();
    if nonfinite > 0 {
        eprintln!("warning: {nonfinite} non-finite samples from hosted plugins were replaced by silence");
    }
    for (id, errors) in chain.process_errors() {
        eprintln!(
            "warning: effect `{id}` (a hosted plugin) answered {errors} process calls with an error code; \
             those blocks passed through it dry"
        );
    }
    out.commit()?;
    eprintln!(
        "rendered {} ({:.2} s, {} Hz) through `{}` into {} (peak {:.1} dBFS)",
        args.input.display(),
        summary.frames as f64 / rate as f64,
        rate,
        spec.name,
        args.output.display(),
        fxmatch::dsp::gain_to_db(peak)
    );
    if peak > 1.0 && format != SampleFormat::F32 {
        eprintln!(
            "warning: the output peaks above full scale and was clipped; lower a gain or write --format f32"
        );
    }
    Ok(())
}
