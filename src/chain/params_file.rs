//! Params files: plain-unit parameter values, one table per effect id.
//!
//! ```toml
//! [compressor]
//! threshold = -24.0
//! ratio = 4.0
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{Chain, ParamSpec};
use crate::error::{line_of, Error, Result};

/// Plain parameter values: effect id → parameter id → value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Params {
    /// The values.
    pub values: BTreeMap<String, BTreeMap<String, f32>>,
}

impl Params {
    /// Read a params file and check every name and value against `chain` (unknown effects or
    /// parameters and out-of-range values are errors with their line).
    pub fn load(path: impl AsRef<Path>, chain: &Chain) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        Self::parse(&text, path, chain)
    }

    /// Parse params TOML against `chain`; `path` is only used in messages.
    pub fn parse(text: &str, path: impl AsRef<Path>, chain: &Chain) -> Result<Self> {
        let effects: Vec<(&str, &[ParamSpec])> = (0..chain.len())
            .map(|s| (chain.spec().effects[s].id.as_str(), chain.effect(s).params()))
            .collect();
        Self::parse_for(text, path, &effects)
    }

    /// Parse params TOML against a chain's effects, given as `(effect id, parameter specs)` in
    /// chain order; `path` is only used in messages.
    pub fn parse_for(text: &str, path: impl AsRef<Path>, effects: &[(&str, &[ParamSpec])]) -> Result<Self> {
        let path = path.as_ref();
        type Raw = BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<f64>>>;
        #[derive(Deserialize)]
        #[serde(transparent)]
        struct File(Raw);
        let File(raw) = toml::from_str(text).map_err(|e| super::spec::toml_error(text, path, &e))?;
        let mut current: BTreeMap<&str, BTreeMap<&str, &ParamSpec>> = BTreeMap::new();
        for (id, specs) in effects {
            current.entry(id).or_default().extend(specs.iter().map(|p| (p.id.as_str(), p)));
        }
        let mut out = Params::default();
        for (effect, values) in raw {
            let line = Some(line_of(text, effect.span().start));
            let known = current.get(effect.get_ref().as_str()).ok_or_else(|| {
                let ids: Vec<&str> = current.keys().copied().collect();
                Error::config(
                    path,
                    line,
                    format!("the chain has no effect `{}`", effect.get_ref()),
                    format!("use one of: {}", ids.join(", ")),
                )
            })?;
            let table = out.values.entry(effect.get_ref().clone()).or_default();
            for (param, value) in values {
                let line = Some(line_of(text, param.span().start));
                let Some(&spec) = known.get(param.get_ref().as_str()) else {
                    let ids: Vec<&str> = known.keys().copied().collect();
                    return Err(Error::config(
                        path,
                        line,
                        format!("effect `{}` has no parameter `{}`", effect.get_ref(), param.get_ref()),
                        format!("use one of: {}", ids.join(", ")),
                    ));
                };
                let v = *value.get_ref() as f32;
                if !v.is_finite() || !spec.range().contains(v) {
                    return Err(Error::config(
                        path,
                        line,
                        format!(
                            "`{}.{}` = {} is outside {}..{} {}",
                            effect.get_ref(),
                            param.get_ref(),
                            value.get_ref(),
                            spec.min,
                            spec.max,
                            spec.unit
                        ),
                        "choose a value inside the range shown by `fxmatch chain show`",
                    ));
                }
                table.insert(param.get_ref().clone(), v);
            }
        }
        Ok(out)
    }

    /// The params as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.values).expect("a map of maps of floats always serialises")
    }

    /// Write the params atomically (temporary file, fsync, rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::fsutil::write_atomic(path.as_ref(), self.to_toml().as_bytes())
    }
}
