//! Chain files (`config/chains/*.toml`): which effects, in which order, which parameters the
//! optimizer may move and within which ranges, which stay fixed.
//!
//! ```toml
//! name = "eq-comp"
//!
//! [[effect]]
//! type = "eq"              # a built-in effect type (`fxmatch chain types` lists them)
//! id = "eq"                # optional; defaults to the type; must be unique in the chain
//!
//! [effect.free]            # searched by the optimizer
//! low_gain = { min = -12.0, max = 12.0 }   # narrowed range
//! high_gain = true                         # the parameter's full range
//!
//! [effect.fixed]           # held at these plain values; all others stay at their defaults
//! mid1_q = 0.707
//!
//! [[effect]]
//! type = "lv2"             # an installed LV2 plugin (`fxmatch plugins` lists them)
//! uri = "urn:zamaudio:ZamCompX2"
//! id = "comp"              # optional; defaults to the URI's last part (`zamcompx2`)
//! tail = 0.5               # optional: seconds of tail (default 0; 2 for delays and reverbs)
//! preset = "VocalLeveller" # optional: start from an LV2 preset (label or URI, read by lilv)
//! [effect.free]            # parameters are the plugin's control ports, by symbol
//! thr = { min = -40.0, max = 0.0 }
//!
//! [[effect]]
//! type = "vst3"            # a VST3 plugin (`fxmatch plugins` lists them)
//! plugin = "ZamDelay"      # a name from the VST3 search paths, or a bundle path (`/usr/lib/vst3/ZamDelay.vst3`)
//! id = "delay"             # optional; defaults to the plugin's name, lower case
//! tail = 1.5               # optional, as for `lv2`
//! [effect.free]            # parameters by symbol, title or VST3 id, in normalised units (0..1;
//! feedback = { max = 0.6 } # stepped parameters: the step, 0..N)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{Effect, ParamRange};
use crate::error::{line_of, Error, Result};

/// Most effects in one chain. Every effect holds its state (delay lines, reverb buffers: up to
/// a few MB at 192 kHz) and a match keeps one copy of the chain per worker thread, so a chain
/// file of thousands of effects would exhaust a small board's memory before a match starts.
pub const MAX_EFFECTS: usize = 64;

/// A validated chain description.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSpec {
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The effects in signal order.
    pub effects: Vec<EffectSpec>,
    /// The file it came from, for messages.
    pub path: Option<PathBuf>,
}

/// One effect of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectSpec {
    /// Unique name of this instance within the chain (used in params files).
    pub id: String,
    /// Effect type (`eq`, `compressor`, …, or `lv2`).
    pub kind: String,
    /// The plugin URI of an `lv2` effect; the plugin (bundle path or name) of a `vst3` effect.
    pub uri: Option<String>,
    /// Tail override in seconds (`lv2` and `vst3` effects).
    pub tail: Option<f32>,
    /// Start bypassed.
    pub bypass: bool,
    /// Free parameters (parameter id and searched range), in the effect's parameter order.
    pub free: Vec<(String, ParamRange)>,
    /// Fixed parameters (parameter id and plain value).
    pub fixed: Vec<(String, f32)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default, rename = "effect")]
    effects: Vec<EffectEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EffectEntry {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    id: Option<Spanned<String>>,
    uri: Option<Spanned<String>>,
    plugin: Option<Spanned<String>>,
    tail: Option<Spanned<f64>>,
    preset: Option<Spanned<String>>,
    #[serde(default)]
    bypass: bool,
    #[serde(default)]
    free: BTreeMap<Spanned<String>, Spanned<FreeEntry>>,
    #[serde(default)]
    fixed: BTreeMap<Spanned<String>, Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FreeEntry {
    Full(bool),
    Range { min: Option<f64>, max: Option<f64> },
}

/// Builds a fresh built-in effect for a type name (`None` for unknown names and for `lv2`,
/// which needs a URI: see [`instantiate_spec`]).
pub fn instantiate(kind: &str) -> Option<Box<dyn Effect>> {
    crate::dsp::builtin(kind)
}

/// Builds a fresh effect for one entry of a chain: a built-in, or an LV2 plugin by URI (with
/// its tail override). Errors name the unknown type or the plugin that cannot be hosted.
pub fn instantiate_spec(e: &EffectSpec) -> Result<Box<dyn Effect>> {
    if e.kind == LV2_KIND {
        let uri = e.uri.as_deref().ok_or_else(|| {
            Error::invalid(
                format!("LV2 effect `{}` has no `uri`", e.id),
                "add `uri = \"...\"` (see `fxmatch plugins`)",
            )
        })?;
        let mut effect =
            crate::lv2::Lv2Effect::new(uri).map_err(|err| Error::invalid(err.message, err.fix))?;
        if let Some(t) = e.tail {
            effect.set_tail(t);
        }
        return Ok(Box::new(effect));
    }
    if e.kind == crate::vst3::VST3_KIND {
        let plugin = e.uri.as_deref().ok_or_else(|| {
            Error::invalid(
                format!("VST3 effect `{}` has no `plugin`", e.id),
                "add `plugin = \"NAME\"` or a bundle path (see `fxmatch plugins`)",
            )
        })?;
        let mut effect =
            crate::vst3::Vst3Effect::new(plugin).map_err(|err| Error::invalid(err.message, err.fix))?;
        if let Some(t) = e.tail {
            effect.set_tail(t);
        }
        return Ok(Box::new(effect));
    }
    instantiate(&e.kind).ok_or_else(|| {
        Error::invalid(format!("unknown effect type `{}`", e.kind), "use a type from `fxmatch chain types`")
    })
}

/// The id an `lv2` effect gets without `id = ...`: the last part of its URI, lower case
/// (`urn:zamaudio:ZamEQ2` → `zameq2`, `.../mda/Overdrive` → `overdrive`).
fn default_lv2_id(uri: &str) -> String {
    let tail = uri.trim_end_matches(['/', '#']).rsplit(['/', ':', '#']).next().unwrap_or("");
    let id: String = tail
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    if id.is_empty() {
        LV2_KIND.to_string()
    } else {
        id
    }
}

/// The effect type of hosted LV2 plugins in chain files.
pub const LV2_KIND: &str = "lv2";

impl ChainSpec {
    /// Read and validate a chain file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        Self::parse(&text, path)
    }

    /// Parse and validate chain TOML; `path` is only used in messages.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file: ChainFile = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        let at = |offset: usize| Some(line_of(text, offset));
        if let Some(extra) = file.effects.get(MAX_EFFECTS) {
            return Err(Error::config(
                path,
                at(extra.kind.span().start),
                format!(
                    "the chain has {} effects; fxmatch takes at most {MAX_EFFECTS} per chain",
                    file.effects.len()
                ),
                "split the chain or drop effects (each effect's state and every match worker's copy of it cost memory)",
            ));
        }
        let mut effects: Vec<EffectSpec> = Vec::new();
        for entry in file.effects {
            let kind = entry.kind.get_ref().clone();
            let mut vst3_desc = None;
            if let Some(p) = &entry.plugin {
                if kind != crate::vst3::VST3_KIND {
                    return Err(Error::config(
                        path,
                        at(p.span().start),
                        format!("`plugin` is for `vst3` effects, not `{kind}`"),
                        "remove it, or set `type = \"vst3\"`",
                    ));
                }
            }
            let effect: Box<dyn Effect> = if kind == crate::vst3::VST3_KIND {
                let plugin = entry.plugin.as_ref().ok_or_else(|| {
                    Error::config(
                        path,
                        at(entry.kind.span().start),
                        "a `vst3` effect needs its `plugin`: a name or a bundle path",
                        "add `plugin = \"NAME\"` with a name from `fxmatch plugins`, or `plugin = \"/path/NAME.vst3\"`",
                    )
                })?;
                if let Some(field) =
                    entry.uri.as_ref().map(|u| u.span()).or(entry.preset.as_ref().map(|p| p.span()))
                {
                    return Err(Error::config(
                        path,
                        at(field.start),
                        "`uri` and `preset` are for `lv2` effects; a `vst3` effect names its `plugin`",
                        "remove them",
                    ));
                }
                let desc = crate::vst3::plugin_desc(plugin.get_ref())
                    .map_err(|e| Error::config(path, at(plugin.span().start), e.message, e.fix))?;
                let mut effect = crate::vst3::Vst3Effect::from_desc(desc.clone());
                vst3_desc = Some(desc);
                if let Some(t) = &entry.tail {
                    let v = *t.get_ref();
                    if !(v.is_finite() && (0.0..=60.0).contains(&v)) {
                        return Err(Error::config(
                            path,
                            at(t.span().start),
                            format!("tail {v} is not between 0 and 60 seconds"),
                            "give the tail in seconds, e.g. `tail = 2.0`",
                        ));
                    }
                    effect.set_tail(v as f32);
                }
                Box::new(effect)
            } else if kind == LV2_KIND {
                let uri = entry.uri.as_ref().ok_or_else(|| {
                    Error::config(
                        path,
                        at(entry.kind.span().start),
                        "an `lv2` effect needs the plugin's `uri`",
                        "add `uri = \"...\"` with a URI from `fxmatch plugins`",
                    )
                })?;
                let mut effect = crate::lv2::Lv2Effect::new(uri.get_ref())
                    .map_err(|e| Error::config(path, at(uri.span().start), e.message, e.fix))?;
                if let Some(t) = &entry.tail {
                    let v = *t.get_ref();
                    if !(v.is_finite() && (0.0..=60.0).contains(&v)) {
                        return Err(Error::config(
                            path,
                            at(t.span().start),
                            format!("tail {v} is not between 0 and 60 seconds"),
                            "give the tail in seconds, e.g. `tail = 2.0`",
                        ));
                    }
                    effect.set_tail(v as f32);
                }
                Box::new(effect)
            } else {
                if let Some(field) = entry
                    .uri
                    .as_ref()
                    .map(|u| u.span())
                    .or(entry.tail.as_ref().map(|t| t.span()))
                    .or(entry.preset.as_ref().map(|p| p.span()))
                {
                    return Err(Error::config(
                        path,
                        at(field.start),
                        format!("`uri`, `tail` and `preset` are for `lv2` effects, not `{kind}`"),
                        "remove them, or set `type = \"lv2\"`",
                    ));
                }
                instantiate(&kind).ok_or_else(|| {
                    Error::config(
                        path,
                        at(entry.kind.span().start),
                        format!("unknown effect type `{kind}`"),
                        format!(
                            "use one of: {}, {LV2_KIND}, {}",
                            crate::dsp::BUILTIN_KINDS.join(", "),
                            crate::vst3::VST3_KIND
                        ),
                    )
                })?
            };
            let id = match &entry.id {
                Some(id) => {
                    if id.get_ref().is_empty() || id.get_ref().contains(['.', ' ', '"']) {
                        return Err(Error::config(
                            path,
                            at(id.span().start),
                            format!("effect id `{}` is not a plain name", id.get_ref()),
                            "use letters, digits, `_` or `-`",
                        ));
                    }
                    id.get_ref().clone()
                }
                None => match (&entry.uri, &vst3_desc) {
                    (Some(uri), _) if kind == LV2_KIND => default_lv2_id(uri.get_ref()),
                    (_, Some(desc)) => default_lv2_id(desc.name()),
                    _ => kind.clone(),
                },
            };
            if effects.iter().any(|e| e.id == id) {
                let offset = entry.id.as_ref().map_or(entry.kind.span().start, |s| s.span().start);
                return Err(Error::config(
                    path,
                    at(offset),
                    format!("two effects are called `{id}`"),
                    "give each effect of the same type its own `id = \"...\"`",
                ));
            }
            let specs = effect.params();
            let find = |name: &Spanned<String>| {
                let by_vst3 = || vst3_desc.as_ref().and_then(|d| d.find_param(name.get_ref()));
                specs.iter().position(|s| s.id == *name.get_ref()).or_else(by_vst3).ok_or_else(|| {
                    let known: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
                    Error::config(
                        path,
                        at(name.span().start),
                        format!(
                            "effect `{id}` ({}) has no parameter `{}`",
                            vst3_desc
                                .as_ref()
                                .map_or(kind.clone(), |d| format!("VST3 plugin `{}`", d.name())),
                            name.get_ref()
                        ),
                        format!("use one of: {}", known.join(", ")),
                    )
                })
            };
            let mut free: Vec<(usize, ParamRange)> = Vec::new();
            for (name, value) in &entry.free {
                let index = find(name)?;
                let spec = &specs[index];
                let line = at(value.span().start);
                let full = spec.range();
                let range = match value.get_ref() {
                    FreeEntry::Full(true) => full,
                    FreeEntry::Full(false) => continue,
                    FreeEntry::Range { min, max } => ParamRange {
                        min: min.map_or(full.min, |v| v as f32),
                        max: max.map_or(full.max, |v| v as f32),
                        mapping: full.mapping,
                    },
                };
                if !(full.contains(range.min) && full.contains(range.max)) || range.min >= range.max {
                    return Err(Error::config(
                        path,
                        line,
                        format!(
                            "free range {}..{} of `{id}.{}` is not inside {}..{} {} or is empty",
                            range.min, range.max, spec.id, spec.min, spec.max, spec.unit
                        ),
                        "choose min < max within the parameter's range (see `fxmatch chain types`)",
                    ));
                }
                free.push((
                    index,
                    ParamRange { min: range.min.max(full.min), max: range.max.min(full.max), ..range },
                ));
            }
            free.sort_by_key(|(i, _)| *i);
            let mut fixed = Vec::new();
            for (name, value) in &entry.fixed {
                let index = find(name)?;
                let spec = &specs[index];
                let v = *value.get_ref() as f32;
                if free.iter().any(|(i, _)| *i == index) {
                    return Err(Error::config(
                        path,
                        at(name.span().start),
                        format!("`{id}.{}` is both free and fixed", spec.id),
                        "remove it from one of [effect.free] and [effect.fixed]",
                    ));
                }
                if !v.is_finite() || !spec.range().contains(v) {
                    return Err(Error::config(
                        path,
                        at(value.span().start),
                        format!(
                            "`{id}.{}` = {v} is outside {}..{} {}",
                            spec.id, spec.min, spec.max, spec.unit
                        ),
                        "choose a value inside the parameter's range",
                    ));
                }
                fixed.push((spec.id.clone(), spec.clamp(v)));
            }
            // An LV2 preset (read by lilv) sets every other parameter it has a value for;
            // [effect.fixed] overrides it and free parameters are searched anyway.
            if let (Some(preset), Some(uri)) = (&entry.preset, &entry.uri) {
                let loaded = crate::lv2::load_preset(uri.get_ref(), preset.get_ref()).map_err(|e| {
                    Error::config(
                        path,
                        at(preset.span().start),
                        e,
                        format!("use a preset URI or label from `fxmatch plugins {}`", uri.get_ref()),
                    )
                })?;
                for (symbol, value) in loaded.values {
                    let Some(index) = specs.iter().position(|s| s.id == symbol) else { continue };
                    let taken = free.iter().any(|(i, _)| *i == index)
                        || fixed.iter().any(|(id, _)| *id == specs[index].id);
                    if !taken {
                        fixed.push((symbol, specs[index].clamp(value)));
                    }
                }
            }
            effects.push(EffectSpec {
                id,
                kind,
                uri: entry.uri.or(entry.plugin).map(|u| u.into_inner()),
                tail: entry.tail.map(|t| *t.get_ref() as f32),
                bypass: entry.bypass,
                free: free.into_iter().map(|(i, r)| (specs[i].id.clone(), r)).collect(),
                fixed,
            });
        }
        if effects.is_empty() {
            return Err(Error::config(
                path,
                None,
                "the chain has no effects",
                "add at least one [[effect]] table with a `type`",
            ));
        }
        let name = file
            .name
            .unwrap_or_else(|| path.file_stem().map_or("chain".into(), |s| s.to_string_lossy().into_owned()));
        Ok(ChainSpec { name, description: file.description, effects, path: Some(path.to_path_buf()) })
    }

    /// Number of free parameters over all effects.
    pub fn num_free(&self) -> usize {
        self.effects.iter().map(|e| e.free.len()).sum()
    }
}

/// A TOML syntax or schema error with its line.
pub(crate) fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| line_of(text, s.start));
    Error::config(
        path,
        line,
        e.message().trim().to_string(),
        "fix the TOML at that line (strings need quotes, tables are [name], arrays of tables [[name]])",
    )
}
