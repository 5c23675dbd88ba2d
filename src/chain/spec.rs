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
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::factory::{default_lv2_id, instantiate, lv2_effect, LV2_KIND};
use crate::effect::{Effect, ParamRange, ParamSpec};
use crate::error::{line_of, Error, Result};
use crate::vst3::{PluginDesc, VST3_KIND};

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

/// The bundled chains built into the binary (name, TOML), for [`ChainSpec::load_or_builtin`]:
/// those of fxmatch's own effects and of Debian's mda-lv2 plugins, the ones a predictor is built
/// in for (`zam*.toml` name plugins by path and stay files).
pub const BUILTIN_CHAINS: &[(&str, &str)] = &[
    ("default", include_str!("../../config/chains/default.toml")),
    ("full", include_str!("../../config/chains/full.toml")),
    ("eq-comp", include_str!("../../config/chains/eq-comp.toml")),
    ("mda", include_str!("../../config/chains/mda.toml")),
];

impl ChainSpec {
    /// Read and validate a chain file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        Self::parse(&text, path)
    }

    /// [`Self::load`], except that a bundled chain's repository path (`config/chains/NAME.toml`
    /// for the chains in [`BUILTIN_CHAINS`]) that does not exist from here is the copy built
    /// into the binary: `fxmatch match` with its default chain works from any folder, as an
    /// installed binary is run, the way the built-in models are found. A file that exists is
    /// always read.
    pub fn load_or_builtin(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            if let Some((_, text)) = BUILTIN_CHAINS
                .iter()
                .find(|(name, _)| path == Path::new(&format!("config/chains/{name}.toml")))
            {
                return Self::parse(text, format!("{} (built in)", path.display()));
            }
        }
        Self::load(path)
    }

    /// Parse and validate chain TOML; `path` is only used in messages.
    ///
    /// In steps: the TOML into its entries, then each entry checked against the parameters of
    /// its effect type (the factory builds one to ask), then the chain as a whole.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        let src = Source { text, path: path.as_ref() };
        let file = src.chain_file()?;
        let mut effects: Vec<EffectSpec> = Vec::new();
        for entry in file.effects {
            let spec = src.effect_spec(entry, &effects)?;
            effects.push(spec);
        }
        if effects.is_empty() {
            return Err(Error::config(
                src.path,
                None,
                "the chain has no effects",
                "add at least one [[effect]] table with a `type`",
            ));
        }
        let name = file.name.unwrap_or_else(|| {
            src.path.file_stem().map_or("chain".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(ChainSpec { name, description: file.description, effects, path: Some(src.path.to_path_buf()) })
    }

    /// Number of free parameters over all effects.
    pub fn num_free(&self) -> usize {
        self.effects.iter().map(|e| e.free.len()).sum()
    }
}

/// The text of a chain file and where it came from: every check's error names the file and line.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Source<'_> {
    /// An [`Error::Config`] at the line of byte `offset`.
    fn error(&self, offset: usize, message: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::config(self.path, Some(line_of(self.text, offset)), message, fix)
    }

    /// The TOML, deserialised, with at most [`MAX_EFFECTS`] effects.
    fn chain_file(&self) -> Result<ChainFile> {
        let file: ChainFile = toml::from_str(self.text).map_err(|e| toml_error(self.text, self.path, &e))?;
        if let Some(extra) = file.effects.get(MAX_EFFECTS) {
            return Err(self.error(
                extra.kind.span().start,
                format!(
                    "the chain has {} effects; fxmatch takes at most {MAX_EFFECTS} per chain",
                    file.effects.len()
                ),
                "split the chain or drop effects (each effect's state and every match worker's copy of it cost memory)",
            ));
        }
        Ok(file)
    }

    /// One `[[effect]]` entry, validated; `before` are the chain's entries above it.
    fn effect_spec(&self, entry: EffectEntry, before: &[EffectSpec]) -> Result<EffectSpec> {
        let kind = entry.kind.get_ref().clone();
        let (effect, vst3) = self.effect(&entry, &kind)?;
        let id = self.effect_id(&entry, &kind, vst3.as_deref(), before)?;
        let specs = effect.params();
        let params = Params { src: self, specs, id: &id, kind: &kind, vst3: vst3.as_deref() };
        let free = params.free(&entry)?;
        let mut fixed = params.fixed(&entry, &free)?;
        params.preset(&entry, &free, &mut fixed)?;
        Ok(EffectSpec {
            kind,
            uri: entry.uri.or(entry.plugin).map(|u| u.into_inner()),
            tail: entry.tail.map(|t| *t.get_ref() as f32),
            bypass: entry.bypass,
            free: free.into_iter().map(|(i, r)| (specs[i].id.clone(), r)).collect(),
            fixed,
            id,
        })
    }

    /// A fresh effect of the entry's type (from the factory), to check its parameters against,
    /// with the plugin's description for a `vst3` effect (its parameters are also found by
    /// title or id); `uri` and `preset` belong to `lv2` effects, `plugin` to `vst3` effects,
    /// `tail` to both.
    fn effect(&self, entry: &EffectEntry, kind: &str) -> Result<(Box<dyn Effect>, Option<Arc<PluginDesc>>)> {
        if let Some(p) = &entry.plugin {
            if kind != VST3_KIND {
                return Err(self.error(
                    p.span().start,
                    format!("`plugin` is for `vst3` effects, not `{kind}`"),
                    "remove it, or set `type = \"vst3\"`",
                ));
            }
        }
        if kind == VST3_KIND {
            let plugin = entry.plugin.as_ref().ok_or_else(|| {
                self.error(
                    entry.kind.span().start,
                    "a `vst3` effect needs its `plugin`: a name or a bundle path",
                    "add `plugin = \"NAME\"` with a name from `fxmatch plugins`, or `plugin = \"/path/NAME.vst3\"`",
                )
            })?;
            if let Some(field) =
                entry.uri.as_ref().map(|u| u.span()).or(entry.preset.as_ref().map(|p| p.span()))
            {
                return Err(self.error(
                    field.start,
                    "`uri` and `preset` are for `lv2` effects; a `vst3` effect names its `plugin`",
                    "remove them",
                ));
            }
            let desc = crate::vst3::plugin_desc(plugin.get_ref())
                .map_err(|e| self.error(plugin.span().start, e.message, e.fix))?;
            let mut effect = crate::vst3::Vst3Effect::from_desc(desc.clone());
            if let Some(t) = self.tail(entry)? {
                effect.set_tail(t);
            }
            return Ok((Box::new(effect), Some(desc)));
        }
        if kind == LV2_KIND {
            let uri = entry.uri.as_ref().ok_or_else(|| {
                self.error(
                    entry.kind.span().start,
                    "an `lv2` effect needs the plugin's `uri`",
                    "add `uri = \"...\"` with a URI from `fxmatch plugins`",
                )
            })?;
            let mut effect =
                lv2_effect(uri.get_ref()).map_err(|e| self.error(uri.span().start, e.message(), e.fix()))?;
            if let Some(t) = self.tail(entry)? {
                effect.set_tail(t);
            }
            return Ok((Box::new(effect), None));
        }
        if let Some(field) = entry
            .uri
            .as_ref()
            .map(|u| u.span())
            .or(entry.tail.as_ref().map(|t| t.span()))
            .or(entry.preset.as_ref().map(|p| p.span()))
        {
            return Err(self.error(
                field.start,
                format!("`uri`, `tail` and `preset` are for `lv2` effects, not `{kind}`"),
                "remove them, or set `type = \"lv2\"`",
            ));
        }
        let effect = instantiate(kind).ok_or_else(|| {
            self.error(
                entry.kind.span().start,
                format!("unknown effect type `{kind}`"),
                format!("use one of: {}, {LV2_KIND}, {VST3_KIND}", crate::dsp::BUILTIN_KINDS.join(", ")),
            )
        })?;
        Ok((effect, None))
    }

    /// The entry's `tail` in seconds (hosted plugins), checked to lie in 0..=60.
    fn tail(&self, entry: &EffectEntry) -> Result<Option<f32>> {
        let Some(t) = &entry.tail else { return Ok(None) };
        let v = *t.get_ref();
        if !(v.is_finite() && (0.0..=60.0).contains(&v)) {
            return Err(self.error(
                t.span().start,
                format!("tail {v} is not between 0 and 60 seconds"),
                "give the tail in seconds, e.g. `tail = 2.0`",
            ));
        }
        Ok(Some(v as f32))
    }

    /// The entry's id (given, else from its type, LV2 plugin URI or VST3 plugin name), unique in
    /// the chain.
    fn effect_id(
        &self,
        entry: &EffectEntry,
        kind: &str,
        vst3: Option<&PluginDesc>,
        before: &[EffectSpec],
    ) -> Result<String> {
        let id = match &entry.id {
            Some(id) => {
                if id.get_ref().is_empty() || id.get_ref().contains(['.', ' ', '"']) {
                    return Err(self.error(
                        id.span().start,
                        format!("effect id `{}` is not a plain name", id.get_ref()),
                        "use letters, digits, `_` or `-`",
                    ));
                }
                id.get_ref().clone()
            }
            None => match (&entry.uri, vst3) {
                (Some(uri), _) if kind == LV2_KIND => default_lv2_id(uri.get_ref()),
                (_, Some(desc)) => default_lv2_id(desc.name()),
                _ => kind.to_string(),
            },
        };
        if before.iter().any(|e| e.id == id) {
            let offset = entry.id.as_ref().map_or(entry.kind.span().start, |s| s.span().start);
            return Err(self.error(
                offset,
                format!("two effects are called `{id}`"),
                "give each effect of the same type its own `id = \"...\"`",
            ));
        }
        Ok(id)
    }
}

/// One entry's parameters, as its effect declares them: checks `[effect.free]`,
/// `[effect.fixed]` and an LV2 preset against them.
struct Params<'a> {
    src: &'a Source<'a>,
    specs: &'a [ParamSpec],
    id: &'a str,
    kind: &'a str,
    /// A `vst3` effect's plugin: its parameters are also found by title or VST3 id.
    vst3: Option<&'a PluginDesc>,
}

impl Params<'_> {
    /// The index of the parameter `name`; the error lists the effect's parameters.
    fn index(&self, name: &Spanned<String>) -> Result<usize> {
        let by_vst3 = || self.vst3.and_then(|d| d.find_param(name.get_ref()));
        self.specs.iter().position(|s| s.id == *name.get_ref()).or_else(by_vst3).ok_or_else(|| {
            let known: Vec<&str> = self.specs.iter().map(|s| s.id.as_str()).collect();
            let what = self.vst3.map_or(self.kind.to_string(), |d| format!("VST3 plugin `{}`", d.name()));
            self.src.error(
                name.span().start,
                format!("effect `{}` ({what}) has no parameter `{}`", self.id, name.get_ref()),
                format!("use one of: {}", known.join(", ")),
            )
        })
    }

    /// `[effect.free]`: (parameter index, searched range), in the effect's parameter order.
    fn free(&self, entry: &EffectEntry) -> Result<Vec<(usize, ParamRange)>> {
        let mut free: Vec<(usize, ParamRange)> = Vec::new();
        for (name, value) in &entry.free {
            let index = self.index(name)?;
            let spec = &self.specs[index];
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
                return Err(self.src.error(
                    value.span().start,
                    format!(
                        "free range {}..{} of `{}.{}` is not inside {}..{} {} or is empty",
                        range.min, range.max, self.id, spec.id, spec.min, spec.max, spec.unit
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
        Ok(free)
    }

    /// `[effect.fixed]`: (parameter id, plain value), none of them free.
    fn fixed(&self, entry: &EffectEntry, free: &[(usize, ParamRange)]) -> Result<Vec<(String, f32)>> {
        let mut fixed = Vec::new();
        for (name, value) in &entry.fixed {
            let index = self.index(name)?;
            let spec = &self.specs[index];
            let v = *value.get_ref() as f32;
            if free.iter().any(|(i, _)| *i == index) {
                return Err(self.src.error(
                    name.span().start,
                    format!("`{}.{}` is both free and fixed", self.id, spec.id),
                    "remove it from one of [effect.free] and [effect.fixed]",
                ));
            }
            if !v.is_finite() || !spec.range().contains(v) {
                return Err(self.src.error(
                    value.span().start,
                    format!(
                        "`{}.{}` = {v} is outside {}..{} {}",
                        self.id, spec.id, spec.min, spec.max, spec.unit
                    ),
                    "choose a value inside the parameter's range",
                ));
            }
            fixed.push((spec.id.clone(), spec.clamp(v)));
        }
        Ok(fixed)
    }

    /// An LV2 preset (read by lilv) sets every other parameter it has a value for;
    /// [effect.fixed] overrides it and free parameters are searched anyway.
    fn preset(
        &self,
        entry: &EffectEntry,
        free: &[(usize, ParamRange)],
        fixed: &mut Vec<(String, f32)>,
    ) -> Result<()> {
        let (Some(preset), Some(uri)) = (&entry.preset, &entry.uri) else { return Ok(()) };
        let loaded = crate::lv2::load_preset(uri.get_ref(), preset.get_ref()).map_err(|e| {
            self.src.error(
                preset.span().start,
                e,
                format!("use a preset URI or label from `fxmatch plugins {}`", uri.get_ref()),
            )
        })?;
        for (symbol, value) in loaded.values {
            let Some(index) = self.specs.iter().position(|s| s.id == symbol) else { continue };
            let taken = free.iter().any(|(i, _)| *i == index)
                || fixed.iter().any(|(id, _)| *id == self.specs[index].id);
            if !taken {
                fixed.push((symbol, self.specs[index].clamp(value)));
            }
        }
        Ok(())
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
