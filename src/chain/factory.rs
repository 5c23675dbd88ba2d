//! The effect factory: a fresh effect for an effect type of a chain file (a built-in from
//! [`crate::dsp`], a hosted LV2 plugin from [`crate::lv2`] by URI, or a VST3 plugin from
//! [`crate::vst3`] by name or bundle path), and the crash probe of a
//! chain's hosted plugins before any of them is instantiated in this process.

use super::{ChainSpec, EffectSpec};
use crate::effect::Effect;
use crate::error::{Error, Result};
use crate::lv2::Lv2Effect;

/// The effect type of hosted LV2 plugins in chain files.
pub const LV2_KIND: &str = "lv2";

/// Builds a fresh built-in effect for a type name (`None` for unknown names and for `lv2`,
/// which needs a URI: see [`instantiate_spec`]).
pub fn instantiate(kind: &str) -> Option<Box<dyn Effect>> {
    crate::dsp::builtin(kind)
}

/// The installed LV2 plugin `uri` as an effect (not yet instantiated by the plugin host: that
/// happens in [`Effect::prepare`]). Errors say why it cannot be hosted.
pub fn lv2_effect(uri: &str) -> Result<Lv2Effect> {
    Lv2Effect::new(uri)
}

/// Builds a fresh effect for one entry of a chain: a built-in, an LV2 plugin by URI or a VST3
/// plugin by name or path (with its tail override). Errors name the unknown type or the plugin that cannot be hosted.
pub fn instantiate_spec(e: &EffectSpec) -> Result<Box<dyn Effect>> {
    if e.kind == LV2_KIND {
        let uri = e.uri.as_deref().ok_or_else(|| {
            Error::invalid(
                format!("LV2 effect `{}` has no `uri`", e.id),
                "add `uri = \"...\"` (see `fxmatch plugins`)",
            )
        })?;
        let mut effect = lv2_effect(uri)?;
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
pub(super) fn default_lv2_id(uri: &str) -> String {
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

/// The URIs of `spec`'s LV2 effects, each once, in chain order.
pub fn chain_uris(spec: &ChainSpec) -> Vec<&str> {
    let mut uris: Vec<&str> = Vec::new();
    for e in &spec.effects {
        if let Some(uri) = e.uri.as_deref().filter(|_| e.kind == LV2_KIND) {
            if !uris.contains(&uri) {
                uris.push(uri);
            }
        }
    }
    uris
}

/// The plugins (names or bundle paths) of `spec`'s VST3 effects, each once, in chain order.
pub fn chain_vst3_plugins(spec: &ChainSpec) -> Vec<&str> {
    let mut plugins: Vec<&str> = Vec::new();
    for e in &spec.effects {
        if let Some(p) = e.uri.as_deref().filter(|_| e.kind == crate::vst3::VST3_KIND) {
            if !plugins.contains(&p) {
                plugins.push(p);
            }
        }
    }
    plugins
}

/// Probe every LV2 and VST3 plugin of `spec` in a child process ([`crate::lv2::probe_in_child`],
/// [`crate::vst3::probe_in_child`]) at `rate` Hz and `block` frames; the first failure is an
/// error naming the chain file, the plugin and the fix. Call it right after loading a chain
/// file, before anything instantiates a plugin at that rate, never on the audio thread. (A VST3
/// plugin was already probed at 48 kHz when the chain file was parsed, as parsing describes it.)
pub fn probe_chain(spec: &ChainSpec, rate: u32, block: usize) -> Result<()> {
    let in_chain = |e: Error| {
        let chain = spec.path.as_ref().map(|p| format!("chain {}: ", p.display())).unwrap_or_default();
        Error::invalid(format!("{chain}{}", e.message()), e.fix())
    };
    for uri in chain_uris(spec) {
        crate::lv2::probe_in_child(uri, rate, block).map_err(in_chain)?;
    }
    for plugin in chain_vst3_plugins(spec) {
        crate::vst3::probe_in_child(plugin, rate, block).map_err(in_chain)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVERDRIVE: &str = "http://drobilla.net/plugins/mda/Overdrive";

    #[test]
    fn chain_uris_lists_each_lv2_plugin_once() {
        let spec = ChainSpec::parse(
            &format!(
                "[[effect]]\ntype = \"eq\"\n[[effect]]\ntype = \"lv2\"\nuri = \"{OVERDRIVE}\"\nid = \"a\"\n\
                 [[effect]]\ntype = \"lv2\"\nuri = \"{OVERDRIVE}\"\nid = \"b\"\n"
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(chain_uris(&spec), vec![OVERDRIVE]);
    }
}
