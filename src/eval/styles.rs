//! The five production styles of the zero-shot classification benchmark (ST-ITO Table 1, after
//! DeepAFx-ST), made with fxmatch's own parametric EQ and compressor.
//!
//! The definitions are those of `shared/BENCHMARK.md`: a parametric EQ (low shelf, peaking bands
//! at 1/4/8 kHz, high shelf, all Q 0.707) into a compressor (knee 0, makeup 0), each setting
//! drawn with its own `U ~ Uniform[0, 1)`. "Warm" cuts its high shelf (the public DeepAFx-ST
//! code boosts it, a sign slip).

use rand::Rng;

use crate::chain::{Chain, ChainSpec, Params};
use crate::error::Result;

/// A production style of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Gentle compression, slight low and high lift.
    Neutral,
    /// Heavy compression, strong low and high lift.
    Broadcast,
    /// Band-limited around 1–2 kHz, compressed.
    Telephone,
    /// Lows cut hard, highs boosted hard, no compression.
    Bright,
    /// Lows boosted hard, highs cut hard, no compression.
    Warm,
}

impl Style {
    /// All styles, in the benchmark's order.
    pub const ALL: [Style; 5] =
        [Style::Neutral, Style::Broadcast, Style::Telephone, Style::Bright, Style::Warm];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Style::Neutral => "neutral",
            Style::Broadcast => "broadcast",
            Style::Telephone => "telephone",
            Style::Bright => "bright",
            Style::Warm => "warm",
        }
    }

    /// Two-letter tag used in ST-ITO's tables (NT, BC, TL, BR, WM).
    pub fn tag(self) -> &'static str {
        match self {
            Style::Neutral => "NT",
            Style::Broadcast => "BC",
            Style::Telephone => "TL",
            Style::Bright => "BR",
            Style::Warm => "WM",
        }
    }

    /// One random instance of this style as plain parameter values for [`style_chain`].
    pub fn sample(self, rng: &mut impl Rng) -> Params {
        let mut u = || rng.random::<f32>();
        // (low gain dB, low freq Hz, mid1 gain dB, mid1 freq Hz, high gain dB, high freq Hz)
        let (lg, lf, m1g, m1f, hg, hf) = match self {
            Style::Neutral => {
                (2.0 * u() + 1.0, 120.0 * u() + 80.0, 0.0, 1000.0, 2.0 * u() + 1.0, 2000.0 * u() + 6000.0)
            }
            Style::Broadcast => {
                (4.0 * u() + 2.0, 120.0 * u() + 80.0, 0.0, 1000.0, 4.0 * u() + 2.0, 2000.0 * u() + 6000.0)
            }
            Style::Telephone => (
                -(6.0 * u() + 20.0),
                200.0 * u() + 200.0,
                4.0 * u() + 12.0,
                1000.0 * u() + 1000.0,
                -(6.0 * u() + 20.0),
                2000.0 * u() + 4000.0,
            ),
            Style::Bright => (
                -(6.0 * u() + 20.0),
                200.0 * u() + 200.0,
                0.0,
                1000.0,
                6.0 * u() + 20.0,
                8000.0 * u() + 2000.0,
            ),
            Style::Warm => (
                6.0 * u() + 20.0,
                200.0 * u() + 200.0,
                0.0,
                1000.0,
                -(6.0 * u() + 20.0),
                2000.0 * u() + 8000.0,
            ),
        };
        // (threshold dB, ratio, attack ms, release ms); ratio 1 = compressor off.
        let (th, ra, at, re) = match self {
            Style::Neutral => (-(10.0 * u() + 20.0), 0.5 * u() + 1.5, 20.0 * u() + 50.0, 200.0 * u() + 100.0),
            Style::Broadcast => (-(10.0 * u() + 40.0), 2.0 * u() + 3.0, 25.0 * u() + 5.0, 100.0 * u() + 50.0),
            Style::Telephone => (-(20.0 * u() + 20.0), 1.5 * u() + 1.5, 5.0 * u() + 1.0, 50.0 * u() + 10.0),
            Style::Bright | Style::Warm => (0.0, 1.0, 10.0, 100.0),
        };
        let mut p = Params::default();
        let eq = p.values.entry("eq".into()).or_default();
        for (k, v) in [
            ("low_gain", lg),
            ("low_freq", lf),
            ("mid1_gain", m1g),
            ("mid1_freq", m1f),
            ("high_gain", hg),
            ("high_freq", hf),
        ] {
            eq.insert(k.into(), v);
        }
        let comp = p.values.entry("compressor".into()).or_default();
        for (k, v) in [("threshold", th), ("ratio", ra), ("attack", at), ("release", re)] {
            comp.insert(k.into(), v);
        }
        p
    }
}

/// The chain the styles are defined on: EQ (all Q 0.707, bands at 1/4/8 kHz, 0 dB unless a style
/// sets them) into a compressor with knee 0 and makeup 0.
pub fn style_chain() -> Result<Chain> {
    const TEXT: &str = r#"
name = "benchmark-styles"
[[effect]]
type = "eq"
[effect.fixed]
low_q = 0.707
mid1_q = 0.707
mid2_freq = 4000.0
mid2_q = 0.707
mid3_freq = 8000.0
mid3_q = 0.707
high_q = 0.707
[[effect]]
type = "compressor"
[effect.fixed]
knee = 0.0
makeup = 0.0
"#;
    Chain::from_spec(&ChainSpec::parse(TEXT, "<benchmark styles>")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_style_sample_is_valid_for_the_style_chain() {
        let mut chain = style_chain().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for style in Style::ALL {
            for _ in 0..50 {
                chain.apply_params(&style.sample(&mut rng)).unwrap();
            }
        }
    }

    #[test]
    fn styles_shape_the_spectrum_as_named() {
        // Bright lifts 8 kHz against 100 Hz; warm does the opposite; telephone peaks near 1–2 kHz.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let tilt = |style: Style, rng: &mut rand_chacha::ChaCha8Rng| {
            let mut chain = style_chain().unwrap();
            chain.apply_params(&style.sample(rng)).unwrap();
            chain.prepare(48_000.0, 512);
            chain.snap();
            let level = |chain: &mut Chain, f: f32| {
                chain.reset();
                let n = 24_000;
                let mut l: Vec<f32> =
                    (0..n).map(|i| 0.001 * (i as f32 * f * std::f32::consts::TAU / 48_000.0).sin()).collect();
                let mut r = l.clone();
                chain.process(&mut l, &mut r);
                l[n / 2..].iter().map(|x| x * x).sum::<f32>().sqrt()
            };
            let (lo, mid, hi) =
                (level(&mut chain, 100.0), level(&mut chain, 1500.0), level(&mut chain, 8000.0));
            (
                crate::dsp::gain_to_db(hi / lo),
                crate::dsp::gain_to_db(mid / lo),
                crate::dsp::gain_to_db(mid / hi),
            )
        };
        let (hi_lo, _, _) = tilt(Style::Bright, &mut rng);
        assert!(hi_lo > 30.0, "bright tilt {hi_lo}");
        let (hi_lo, _, _) = tilt(Style::Warm, &mut rng);
        assert!(hi_lo < -20.0, "warm tilt {hi_lo}"); // the 8–10 kHz shelf is only partly down at 8 kHz
        let (_, mid_lo, mid_hi) = tilt(Style::Telephone, &mut rng);
        assert!(mid_lo > 20.0 && mid_hi > 20.0, "telephone band {mid_lo} {mid_hi}");
    }
}
