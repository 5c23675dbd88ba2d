//! fxmatch's own built-in effects as LV2 plugins: their URIs, port layout, the bundle's TTL
//! (generated from the effects' [`ParamSpec`]s, so ranges, defaults and units never drift from
//! the DSP) and LV2 preset bundles of a chain's settings.
//!
//! The plugin binary itself is the `fxmatch-lv2` crate (`lv2-plugins/`), which takes its port
//! layout from the constants here. `fxmatch lv2 ttl DIR` writes the TTL,
//! `scripts/install_lv2.sh` builds and installs the bundle, `fxmatch preset export` writes
//! presets.
//!
//! ```
//! use fxmatch::lv2::export::{plugin_ttl, plugin_uri};
//! assert_eq!(plugin_uri("eq"), "https://fxmatch.dev/plugins/eq");
//! let ttl = plugin_ttl("compressor").unwrap();
//! assert!(ttl.contains("lv2:symbol \"threshold\""));
//! ```

use std::fmt::Write as _;
use std::path::Path;

use crate::dsp::{builtin, BUILTIN_KINDS};
use crate::effect::{Effect, Mapping, ParamSpec};
use crate::error::{Error, Result};

/// Base of the plugin URIs: the plugin for effect type `eq` is `https://fxmatch.dev/plugins/eq`.
pub const PLUGIN_URI_BASE: &str = "https://fxmatch.dev/plugins/";

/// File name of the plugin binary inside the bundle (`manifest.ttl` refers to it).
pub const BINARY_NAME: &str = "fxmatch_lv2.so";

/// Default bundle directory name (`~/.lv2/fxmatch.lv2`).
pub const BUNDLE_NAME: &str = "fxmatch.lv2";

/// Port index of the left audio input; then right input, left output, right output.
pub const PORT_IN_L: u32 = 0;
/// Port index of the right audio input.
pub const PORT_IN_R: u32 = 1;
/// Port index of the left audio output.
pub const PORT_OUT_L: u32 = 2;
/// Port index of the right audio output.
pub const PORT_OUT_R: u32 = 3;
/// Port index of the first control input: parameter `i` of the effect is port
/// `FIRST_CONTROL_PORT + i`, its symbol the parameter id.
pub const FIRST_CONTROL_PORT: u32 = 4;

const AUDIO_PORTS: [(&str, &str, &str); 4] = [
    ("in_l", "Left in", "lv2:InputPort"),
    ("in_r", "Right in", "lv2:InputPort"),
    ("out_l", "Left out", "lv2:OutputPort"),
    ("out_r", "Right out", "lv2:OutputPort"),
];

const PREFIXES: &str = "\
@prefix doap: <http://usefulinc.com/ns/doap#> .
@prefix lv2: <http://lv2plug.in/ns/lv2core#> .
@prefix opts: <http://lv2plug.in/ns/ext/options#> .
@prefix bufsz: <http://lv2plug.in/ns/ext/buf-size#> .
@prefix pprops: <http://lv2plug.in/ns/ext/port-props#> .
@prefix pset: <http://lv2plug.in/ns/ext/presets#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix units: <http://lv2plug.in/ns/extensions/units#> .
@prefix urid: <http://lv2plug.in/ns/ext/urid#> .
";

/// The URI of the plugin for built-in effect type `kind`.
pub fn plugin_uri(kind: &str) -> String {
    format!("{PLUGIN_URI_BASE}{kind}")
}

/// The built-in effect type of a plugin URI of this bundle, if it is one.
pub fn kind_of_uri(uri: &str) -> Option<&'static str> {
    let kind = uri.strip_prefix(PLUGIN_URI_BASE)?;
    BUILTIN_KINDS.iter().copied().find(|k| *k == kind)
}

fn class_of(kind: &str) -> &'static str {
    match kind {
        "gain" => "lv2:AmplifierPlugin",
        "eq" => "lv2:ParaEQPlugin",
        "compressor" => "lv2:CompressorPlugin",
        "distortion" => "lv2:DistortionPlugin",
        "modulation" => "lv2:ModulatorPlugin",
        "delay" => "lv2:DelayPlugin",
        "reverb" => "lv2:ReverbPlugin",
        _ => "lv2:UtilityPlugin",
    }
}

fn display_name(kind: &str) -> String {
    let mut c = kind.chars();
    match c.next() {
        Some(f) => format!("fxmatch {}{}", f.to_uppercase(), c.as_str()),
        None => "fxmatch".into(),
    }
}

/// The LV2 unit of a parameter's unit string, when LV2's units vocabulary has one.
fn lv2_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "dB" => "units:db",
        "Hz" => "units:hz",
        "kHz" => "units:khz",
        "ms" => "units:ms",
        "s" => "units:s",
        "%" => "units:pc",
        _ => return None,
    })
}

/// A float as a Turtle literal that reads back as the same `f32` (Rust's shortest round-trip
/// form; always with a decimal point or exponent, so it is an `xsd:decimal`/`xsd:double`).
pub fn ttl_float(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn control_port(out: &mut String, index: u32, p: &ParamSpec) {
    let _ = write!(
        out,
        "[\n        a lv2:InputPort, lv2:ControlPort ;\n        lv2:index {index} ;\n        lv2:symbol \"{}\" ;\n        lv2:name \"{}\" ;\n        lv2:default {} ;\n        lv2:minimum {} ;\n        lv2:maximum {}",
        p.id,
        escape(&p.name),
        ttl_float(p.default),
        ttl_float(p.min),
        ttl_float(p.max)
    );
    if let Some(u) = lv2_unit(&p.unit) {
        let _ = write!(out, " ;\n        units:unit {u}");
    }
    match p.mapping {
        Mapping::Linear => {}
        Mapping::Log => out.push_str(" ;\n        lv2:portProperty pprops:logarithmic"),
        Mapping::Discrete => out.push_str(" ;\n        lv2:portProperty lv2:integer"),
    }
    out.push_str("\n    ]");
}

/// The plugin description (`KIND.ttl`) of built-in effect type `kind`, or `None` for an
/// unknown type.
pub fn plugin_ttl(kind: &str) -> Option<String> {
    let effect = builtin(kind)?;
    let mut t = String::from(PREFIXES);
    let _ = write!(
        t,
        "\n<{}>\n    a lv2:Plugin, {} ;\n    doap:name \"{}\" ;\n    doap:license <https://spdx.org/licenses/MIT> ;\n    \
         rdfs:comment \"fxmatch's built-in {kind} effect (the same DSP code as fxmatch's chains).\" ;\n    \
         lv2:optionalFeature lv2:hardRTCapable, urid:map, opts:options, bufsz:boundedBlockLength ;\n    \
         opts:supportedOption bufsz:maxBlockLength ;\n    lv2:port ",
        plugin_uri(kind),
        class_of(kind),
        display_name(kind),
    );
    for (i, (sym, name, dir)) in AUDIO_PORTS.iter().enumerate() {
        let _ = write!(
            t,
            "[\n        a lv2:AudioPort, {dir} ;\n        lv2:index {i} ;\n        lv2:symbol \"{sym}\" ;\n        lv2:name \"{name}\"\n    ] , "
        );
    }
    let params = effect.params();
    for (i, p) in params.iter().enumerate() {
        control_port(&mut t, FIRST_CONTROL_PORT + i as u32, p);
        t.push_str(if i + 1 < params.len() { " , " } else { " .\n" });
    }
    Some(t)
}

/// The bundle's `manifest.ttl`: every built-in effect, with the binary and its `KIND.ttl`.
pub fn manifest_ttl() -> String {
    let mut t = String::from(PREFIXES);
    for kind in BUILTIN_KINDS {
        let _ = write!(
            t,
            "\n<{}>\n    a lv2:Plugin ;\n    lv2:binary <{BINARY_NAME}> ;\n    rdfs:seeAlso <{kind}.ttl> .\n",
            plugin_uri(kind)
        );
    }
    t
}

/// Write `manifest.ttl` and one `KIND.ttl` per built-in effect into `dir` (created if
/// missing). The binary [`BINARY_NAME`] is not written here.
pub fn write_plugin_ttl(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    crate::fsutil::check_output_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let mut written = Vec::new();
    let mut put = |name: String, text: String| -> Result<()> {
        let p = dir.join(name);
        crate::fsutil::write_atomic(&p, text.as_bytes())?;
        written.push(p);
        Ok(())
    };
    put("manifest.ttl".into(), manifest_ttl())?;
    for kind in BUILTIN_KINDS {
        put(format!("{kind}.ttl"), plugin_ttl(kind).expect("built-in kind"))?;
    }
    Ok(written)
}

/// One preset of a preset bundle: which effect of the chain, for which plugin, in which file.
#[derive(Debug, Clone, PartialEq)]
pub struct PresetFile {
    /// Effect id in the chain (also the file name stem).
    pub effect_id: String,
    /// Plugin URI the preset applies to.
    pub plugin_uri: String,
    /// File name inside the bundle (`ID.ttl`).
    pub file: String,
    /// The preset's URI: `file://` URI of the preset file (LV2 resolves the bundle's relative
    /// URIs against the bundle directory).
    pub uri: String,
    /// Port symbol and plain value of every parameter.
    pub values: Vec<(String, f32)>,
}

/// What [`write_preset_bundle`] wrote, and the chain effects it skipped (with the reason).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PresetBundle {
    /// One preset per exported effect.
    pub presets: Vec<PresetFile>,
    /// Effects not exported: (effect id, reason).
    pub skipped: Vec<(String, String)>,
}

/// One effect of a chain, as [`write_preset_bundle`] exports it.
pub struct PresetSource<'a> {
    /// Effect id in the chain.
    pub id: &'a str,
    /// Effect type as written in chain files (`eq`, …, `lv2`).
    pub kind: &'a str,
    /// The plugin URI of a hosted (`lv2`) effect.
    pub uri: Option<&'a str>,
    /// The effect, at the values to export.
    pub effect: &'a dyn Effect,
}

/// Write an LV2 preset bundle into `dir` (created if missing): `manifest.ttl` and one
/// `ID.ttl` per built-in effect of `effects` (a chain's, in order), holding every parameter's
/// current target value (so fixed values, params-file values and defaults alike), for the
/// fxmatch plugins. `name` labels the presets (`NAME: ID`). Effects hosted from other LV2
/// plugins are skipped.
pub fn write_preset_bundle(effects: &[PresetSource<'_>], name: &str, dir: &Path) -> Result<PresetBundle> {
    crate::fsutil::check_output_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let abs = dir.canonicalize().map_err(|e| Error::read(dir, e))?;
    let mut bundle = PresetBundle::default();
    let mut manifest = String::from(PREFIXES);
    for spec in effects {
        if !BUILTIN_KINDS.contains(&spec.kind) {
            let what = spec.uri.unwrap_or(spec.kind);
            bundle.skipped.push((
                spec.id.to_string(),
                format!("`{what}` is not a built-in effect; only fxmatch's own plugins get presets"),
            ));
            continue;
        }
        let effect = spec.effect;
        let uri = plugin_uri(spec.kind);
        let file = format!("{}.ttl", spec.id);
        let values: Vec<(String, f32)> =
            effect.params().iter().enumerate().map(|(i, p)| (p.id.clone(), effect.param(i))).collect();
        let label = escape(&format!("{name}: {}", spec.id));
        let mut t = String::from(PREFIXES);
        let _ = write!(t, "\n<>\n    a pset:Preset ;\n    lv2:appliesTo <{uri}> ;\n    rdfs:label \"{label}\" ;\n    lv2:port ");
        for (i, (sym, v)) in values.iter().enumerate() {
            let _ =
                write!(t, "[\n        lv2:symbol \"{sym}\" ;\n        pset:value {}\n    ]", ttl_float(*v));
            t.push_str(if i + 1 < values.len() { " , " } else { " .\n" });
        }
        let p = abs.join(&file);
        crate::fsutil::write_atomic(&p, t.as_bytes())?;
        let _ = write!(
            manifest,
            "\n<{file}>\n    a pset:Preset ;\n    lv2:appliesTo <{uri}> ;\n    rdfs:label \"{label}\" ;\n    rdfs:seeAlso <{file}> .\n"
        );
        bundle.presets.push(PresetFile {
            effect_id: spec.id.to_string(),
            plugin_uri: uri,
            uri: file_uri(&p),
            file,
            values,
        });
    }
    let m = abs.join("manifest.ttl");
    crate::fsutil::write_atomic(&m, manifest.as_bytes())?;
    Ok(bundle)
}

/// `file://` URI of an absolute path, percent-encoding every byte but unreserved ones and `/`.
fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_are_percent_encoded() {
        assert_eq!(file_uri(Path::new("/a b/é.ttl")), "file:///a%20b/%C3%A9.ttl");
    }

    #[test]
    fn floats_read_back_exactly() {
        for v in [0.707f32, -18.0, 2000.0, 0.1, 1e-7, 20_000.0, 0.95] {
            let s = ttl_float(v);
            assert!(s.contains('.') || s.contains('e'), "{s}");
            assert_eq!(s.parse::<f32>().unwrap(), v);
        }
    }

    #[test]
    fn every_param_becomes_a_control_port_with_its_range() {
        for kind in BUILTIN_KINDS {
            let ttl = plugin_ttl(kind).unwrap();
            let e = builtin(kind).unwrap();
            for (i, p) in e.params().iter().enumerate() {
                let needle = format!(
                    "lv2:index {} ;\n        lv2:symbol \"{}\" ;\n        lv2:name \"{}\" ;\n        lv2:default {} ;\n        lv2:minimum {} ;\n        lv2:maximum {}",
                    FIRST_CONTROL_PORT as usize + i,
                    p.id,
                    p.name,
                    ttl_float(p.default),
                    ttl_float(p.min),
                    ttl_float(p.max)
                );
                assert!(ttl.contains(&needle), "{kind}: {needle}\n{ttl}");
            }
            assert_eq!(kind_of_uri(&plugin_uri(kind)), Some(*kind));
        }
        assert!(plugin_ttl("nope").is_none());
        assert!(plugin_ttl("eq").unwrap().contains("units:hz"));
        assert!(plugin_ttl("eq").unwrap().contains("pprops:logarithmic"));
    }
}
