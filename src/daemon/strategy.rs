//! How the daemon's matches find parameters (`[match] mode`): the CMA-ES search, the one-pass
//! parameter predictor, or the search started at the prediction (hybrid). `auto` takes hybrid
//! when a predictor trained for the chain is at hand and the search otherwise. Lives on the match
//! thread with the [`Matcher`]; the predictor's descriptions of the references are cached there.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use super::config::{DaemonConfig, MatchMode};
use crate::audio::read_wav_capped;
use crate::chain::{Chain, ChainSpec};
use crate::error::{Error, Result};
use crate::metric::Embedding;
use crate::optimize::{MatchConfig, MatchOutcome, Matcher, Progress};
use crate::predict::{hybrid_config, Description, Predictor, Reader};

/// The mode in force and what it needs.
pub(super) struct Strategy {
    mode: MatchMode,
    predictor: Option<(Predictor, Reader)>,
    /// The predictor's description of each reference WAV, with the file's modification time and
    /// length when it was read (a reference replaced under the same name is read again).
    latents: HashMap<PathBuf, (Option<SystemTime>, u64, Description)>,
}

impl Strategy {
    /// The strategy `config` asks for on the chain `spec`, the matcher settings it needs, and
    /// a line for the log saying which mode runs and why. `predict` and `hybrid` without a
    /// predictor for this chain are errors; `auto` falls back to the search.
    pub fn resolve(config: &DaemonConfig, spec: &ChainSpec) -> Result<(Self, MatchConfig, String)> {
        let base = config.match_config()?;
        let chain = Chain::from_spec(spec)?;
        let loaded = match (config.mode, &config.predictor) {
            (MatchMode::Search, _) => None,
            (_, Some(path)) => Some(Predictor::load(path, crate::metric::VaeModel::builtin()?)),
            (_, None) => Some(Predictor::builtin_for(&spec.name)),
        };
        let fits = loaded.map(|p| p.and_then(|p| p.check_chain(&chain).map(|()| p)));
        let (mode, predictor, why) = match (config.mode, fits) {
            (_, None) => (MatchMode::Search, None, "configured".to_string()),
            (MatchMode::Auto, Some(Err(e))) if config.predictor.is_none() => {
                (MatchMode::Search, None, format!("no predictor for chain `{}` ({})", spec.name, e.message()))
            }
            (mode, Some(Err(e))) => {
                return Err(Error::invalid(
                    format!("[match] mode = \"{}\": {}", mode_name(mode), e.message()),
                    format!(
                        "{}; or set mode = \"search\" (no predictor needed)",
                        e.fix().trim_end_matches(", or use --mode search")
                    ),
                ))
            }
            (MatchMode::Auto, Some(Ok(p))) => (MatchMode::Hybrid, Some(p), "auto".to_string()),
            (mode, Some(Ok(p))) => (mode, Some(p), "configured".to_string()),
        };
        let config = if mode == MatchMode::Hybrid { hybrid_config(&base) } else { base };
        let line = match &predictor {
            Some(p) => format!("match mode {} ({why}; predictor {})", mode_name(mode), p.path().display()),
            None => format!("match mode search ({why})"),
        };
        let predictor = predictor.map(|p| {
            let reader = p.reader();
            (p, reader)
        });
        Ok((Self { mode, predictor, latents: HashMap::new() }, config, line))
    }

    /// One match of the segment against a reference (its embedding under the matcher's metric,
    /// and its WAVs, one or a set's clips, for the predictor).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        matcher: &mut Matcher,
        (l, r): (&[f32], &[f32]),
        sample_rate: u32,
        reference: &Embedding,
        reference_clips: &[PathBuf],
        abort: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<MatchOutcome> {
        let Some(x) = self.prediction((l, r), sample_rate, reference_clips)? else {
            return matcher.run(l, r, sample_rate, reference, abort, progress);
        };
        if self.mode == MatchMode::Predict {
            return matcher.evaluate_at(l, r, sample_rate, reference, &x);
        }
        matcher.set_start_at(Some(x))?;
        matcher.run(l, r, sample_rate, reference, abort, progress)
    }

    /// The predictor's parameters for the segment and the reference (a set: the mean of its
    /// clips' descriptions, [`Description::mean`]); `None` in search mode. Each clip's
    /// description is cached until its file changes.
    fn prediction(
        &mut self,
        (l, r): (&[f32], &[f32]),
        sample_rate: u32,
        clips: &[PathBuf],
    ) -> Result<Option<Vec<f64>>> {
        let Some((predictor, reader)) = &mut self.predictor else { return Ok(None) };
        let z_segment = predictor.describe(reader, l, r, sample_rate)?;
        let mut described = Vec::with_capacity(clips.len());
        for wav in clips {
            let meta = std::fs::metadata(wav).map_err(|e| Error::read(wav, e))?;
            let stamp = (meta.modified().ok(), meta.len());
            described.push(match self.latents.get(wav) {
                Some((modified, len, z)) if (*modified, *len) == stamp => z.clone(),
                _ => {
                    let (audio, _) = read_wav_capped(wav, "reference")?;
                    let z = predictor.describe_references(reader, &[&audio])?;
                    self.latents.insert(wav.to_path_buf(), (stamp.0, stamp.1, z.clone()));
                    z
                }
            });
        }
        if described.is_empty() {
            return Err(Error::invalid("the reference has no WAV", "rescan the reference folder"));
        }
        predictor.predict(&z_segment, &Description::mean(&described)).map(Some)
    }
}

/// The config file's word for `mode`.
pub(super) fn mode_name(mode: MatchMode) -> &'static str {
    match mode {
        MatchMode::Auto => "auto",
        MatchMode::Search => "search",
        MatchMode::Predict => "predict",
        MatchMode::Hybrid => "hybrid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(mode: &str, chain: &str) -> Result<(MatchMode, MatchConfig, String)> {
        let config = DaemonConfig::parse(&format!("[match]\nmode = \"{mode}\"\n"), "fx.toml")?;
        let spec = ChainSpec::load(format!("{}/config/chains/{chain}", env!("CARGO_MANIFEST_DIR")))?;
        Strategy::resolve(&config, &spec).map(|(s, c, line)| (s.mode, c, line))
    }

    /// `auto` finds the built-in predictor by the chain's name: hybrid on the default and the
    /// mda-lv2 chains (with the hybrid search's smaller σ), the search on a chain without one;
    /// asking for `predict` on such a chain is an error that says what to do.
    #[test]
    fn auto_takes_the_builtin_predictor_for_the_chain() {
        for chain in ["default.toml", "mda.toml"] {
            let (mode, config, line) = resolve("auto", chain).unwrap();
            assert_eq!(mode, MatchMode::Hybrid, "{chain}: {line}");
            assert_eq!(config.sigma0, crate::predict::HYBRID_SIGMA);
            let name = chain.trim_end_matches(".toml");
            assert!(line.contains(&format!("models/predictor/{name}.onnx (built in)")), "{line}");
        }
        let (mode, config, line) = resolve("auto", "eq-comp.toml").unwrap();
        assert_eq!(mode, MatchMode::Search);
        assert!(config.sigma0 > crate::predict::HYBRID_SIGMA);
        assert!(line.contains("no predictor for chain `eq-comp`"), "{line}");
        let (mode, ..) = resolve("search", "mda.toml").unwrap();
        assert_eq!(mode, MatchMode::Search);
        let e = resolve("predict", "eq-comp.toml").expect_err("no predictor for eq-comp").to_string();
        assert!(e.contains("mode = \"predict\"") && e.contains("mode = \"search\""), "{e}");
    }
}
