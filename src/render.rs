//! Offline rendering: a whole buffer, or a file block by block in constant memory, through a
//! chain, as fast as the CPU allows.

use crate::audio::{AudioBuffer, StereoSource, WavWriter};
use crate::chain::Chain;
use crate::error::{Error, Result};

/// Block size of offline renders (any size gives the same output; this one is cache-friendly).
pub const OFFLINE_BLOCK: usize = 512;

/// Frames per block of [`render_stream`] (rounded up to a multiple of the chain's block):
/// 256 KiB per channel.
pub const STREAM_FRAMES: usize = 1 << 16;

/// Sample rates the built-in effects are designed and tested for.
pub const SUPPORTED_RATES: std::ops::RangeInclusive<u32> = 22_050..=192_000;

/// Check that a sample rate is one fxmatch's effects handle.
pub fn check_sample_rate(rate: u32) -> Result<()> {
    if SUPPORTED_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(Error::invalid(
            format!(
                "sample rate {rate} Hz is outside the supported {}..{} Hz",
                SUPPORTED_RATES.start(),
                SUPPORTED_RATES.end()
            ),
            "resample the audio, e.g. `sox IN.wav -r 48000 OUT.wav`",
        ))
    }
}

/// Render `input` through `chain` from a clean state at the chain's current parameter targets
/// (no ramps), adding `tail_seconds` of silence at the end so reverb and delay tails ring out.
/// The output is stereo (a mono input feeds both channels). Prepares the chain when its
/// sample rate differs from the input's.
pub fn render(chain: &mut Chain, input: &AudioBuffer, tail_seconds: f32) -> Result<AudioBuffer> {
    check_sample_rate(input.sample_rate)?;
    if chain.sample_rate() != input.sample_rate as f32 {
        chain.prepare(input.sample_rate as f32, OFFLINE_BLOCK);
    }
    check_prepared(chain)?;
    chain.reinitialize();
    chain.snap();
    let tail = tail_frames(tail_seconds, input.sample_rate);
    let (mut left, mut right) = input.to_stereo();
    left.resize(left.len() + tail, 0.0);
    right.resize(right.len() + tail, 0.0);
    chain.process(&mut left, &mut right);
    Ok(AudioBuffer::stereo(input.sample_rate, left, right))
}

/// Frames of silence appended for a tail of `tail_seconds`.
pub fn tail_frames(tail_seconds: f32, sample_rate: u32) -> usize {
    (tail_seconds.max(0.0) * sample_rate as f32).round() as usize
}

/// What [`render_stream`] wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamSummary {
    /// Frames written (input and tail).
    pub frames: u64,
    /// Largest absolute output sample.
    pub peak: f32,
}

/// [`render`] block by block, from `input` into `out` (stereo), in constant memory whatever
/// the length. The output is the same as [`render`]'s, sample for sample: the chain sees the
/// input followed by the tail's silence as one stream, cut into the same sub-blocks.
pub fn render_stream(
    chain: &mut Chain,
    input: &mut dyn StereoSource,
    tail_seconds: f32,
    out: &mut WavWriter,
) -> Result<StreamSummary> {
    let rate = input.sample_rate();
    check_sample_rate(rate)?;
    if chain.sample_rate() != rate as f32 {
        chain.prepare(rate as f32, OFFLINE_BLOCK);
    }
    check_prepared(chain)?;
    chain.reinitialize();
    chain.snap();
    let total = input.frames() + tail_frames(tail_seconds, rate) as u64;
    let block = STREAM_FRAMES.div_ceil(chain.max_block()) * chain.max_block();
    let (mut left, mut right) = (vec![0.0f32; block], vec![0.0f32; block]);
    let (mut done, mut input_left, mut peak) = (0u64, true, 0.0f32);
    while done < total {
        let n = block.min((total - done) as usize);
        let mut filled = 0;
        while input_left && filled < n {
            let k = input.read_stereo(&mut left[filled..n], &mut right[filled..n])?;
            input_left = k > 0;
            filled += k;
        }
        left[filled..n].fill(0.0);
        right[filled..n].fill(0.0);
        let (l, r) = (&mut left[..n], &mut right[..n]);
        chain.process(l, r);
        peak = l.iter().chain(r.iter()).fold(peak, |m, &x| m.max(x.abs()));
        out.write(&[l, r])?;
        done += n as u64;
    }
    Ok(StreamSummary { frames: total, peak })
}

/// An error naming the effects whose last prepare failed (see [`Chain::prepare_errors`]).
pub fn check_prepared(chain: &Chain) -> Result<()> {
    let errors = chain.prepare_errors();
    if errors.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = errors.iter().map(|(id, e)| format!("`{id}`: {e}")).collect();
    Err(Error::invalid(
        format!("effects could not be prepared: {}", list.join("; ")),
        "check the plugin with `fxmatch plugins URI`, or remove it from the chain",
    ))
}

/// A chain built from `spec` and prepared at `sample_rate` for offline rendering
/// ([`OFFLINE_BLOCK`]), or the error naming the effects that could not be prepared: what every
/// offline worker (datasets, the SPSA server) starts from.
pub fn offline_chain(spec: &crate::chain::ChainSpec, sample_rate: f32) -> Result<Chain> {
    let mut chain = Chain::from_spec(spec)?;
    chain.prepare(sample_rate, OFFLINE_BLOCK);
    check_prepared(&chain)?;
    Ok(chain)
}

/// Like [`render`] into caller-owned buffers (no allocation once they are large enough, except
/// that hosted LV2 plugins are instantiated anew): the matcher renders thousands of candidates
/// this way. `input_*` and `out_*` must be equally long.
pub fn render_into(
    chain: &mut Chain,
    input_l: &[f32],
    input_r: &[f32],
    out_l: &mut [f32],
    out_r: &mut [f32],
) {
    chain.reinitialize();
    chain.snap();
    out_l.copy_from_slice(input_l);
    out_r.copy_from_slice(input_r);
    chain.process(out_l, out_r);
}
