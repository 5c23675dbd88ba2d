//! Evaluation content: random excerpts, loudness normalisation, picking *other* content, and
//! random effect chains, shared by the benchmark tasks.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::audio::AudioBuffer;
use crate::chain::{instantiate, Chain, ChainSpec, EffectSpec};
use crate::error::{Error, Result};

/// A random `seconds` excerpt of `clip` (the whole clip when shorter).
pub fn excerpt(clip: &AudioBuffer, seconds: f32, rng: &mut impl Rng) -> AudioBuffer {
    let len = ((seconds * clip.sample_rate as f32) as usize).min(clip.frames());
    let start = if clip.frames() > len { rng.random_range(0..=clip.frames() - len) } else { 0 };
    AudioBuffer {
        sample_rate: clip.sample_rate,
        channels: clip.channels.iter().map(|c| c[start..start + len].to_vec()).collect(),
    }
}

/// Scale to -20 dBFS RMS, so that loudness alone cannot give a style away.
pub fn normalise(mut audio: AudioBuffer) -> AudioBuffer {
    let g = 0.1 / audio.rms().max(1e-9);
    audio.channels.iter_mut().flatten().for_each(|x| *x *= g);
    audio
}

/// A random index in `0..n` other than `not`. `n` must be at least 2.
pub fn other_index(n: usize, not: usize, rng: &mut impl Rng) -> usize {
    let i = rng.random_range(0..n - 1);
    if i >= not {
        i + 1
    } else {
        i
    }
}

/// Fail unless there are at least two clips: tasks always pair a clip with *other* content.
pub fn require_two(clips: &[AudioBuffer], what: &str) -> Result<()> {
    if clips.len() < 2 {
        return Err(Error::invalid(
            format!("{what} needs at least 2 content clips, got {}", clips.len()),
            "add clips with --content: queries and references must come from different content",
        ));
    }
    Ok(())
}

/// The effect types random chains draw from (gain is left out: it only changes loudness).
pub const RANDOM_EFFECT_KINDS: [&str; 5] = ["eq", "compressor", "distortion", "delay", "reverb"];

/// A chain of `n` distinct effects drawn from [`RANDOM_EFFECT_KINDS`] in random order, every
/// parameter free over its full range.
pub fn random_effects_chain(n: usize, rng: &mut impl Rng) -> Result<Chain> {
    let mut kinds = RANDOM_EFFECT_KINDS.to_vec();
    kinds.shuffle(rng);
    let effects = kinds[..n.min(kinds.len())]
        .iter()
        .map(|kind| {
            let effect = instantiate(kind).expect("built-in effect kind");
            EffectSpec {
                id: kind.to_string(),
                kind: kind.to_string(),
                uri: None,
                tail: None,
                bypass: false,
                free: effect.params().iter().map(|p| (p.id.clone(), p.range())).collect(),
                fixed: Vec::new(),
            }
        })
        .collect();
    Chain::from_spec(&ChainSpec { name: "random".into(), description: String::new(), effects, path: None })
}

/// Uniformly random normalised settings for every free parameter of `chain`.
pub fn random_settings(chain: &Chain, rng: &mut impl Rng) -> Vec<f64> {
    (0..chain.num_free()).map(|_| rng.random::<f64>()).collect()
}
