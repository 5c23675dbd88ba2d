//! Offline rendering: a whole buffer through a chain, as fast as the CPU allows.

use crate::audio::AudioBuffer;
use crate::chain::Chain;
use crate::error::{Error, Result};

/// Block size of offline renders (any size gives the same output; this one is cache-friendly).
pub const OFFLINE_BLOCK: usize = 512;

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
    let tail = (tail_seconds.max(0.0) * input.sample_rate as f32).round() as usize;
    let (mut left, mut right) = input.to_stereo();
    left.resize(left.len() + tail, 0.0);
    right.resize(right.len() + tail, 0.0);
    chain.process(&mut left, &mut right);
    Ok(AudioBuffer::stereo(input.sample_rate, left, right))
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
