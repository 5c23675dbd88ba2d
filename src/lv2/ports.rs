//! What a plugin's TTL says about its ports, and how control inputs become [`ParamSpec`]s.

use serde::Serialize;

use crate::effect::{Mapping, ParamSpec};

/// The URIs the port description needs, created once per lookup.
pub(crate) struct Uris {
    pub input: livi::lilv::node::Node,
    pub audio: livi::lilv::node::Node,
    pub control: livi::lilv::node::Node,
    pub atom: livi::lilv::node::Node,
    pub cv: livi::lilv::node::Node,
    pub side_chain: livi::lilv::node::Node,
    pub integer: livi::lilv::node::Node,
    pub toggled: livi::lilv::node::Node,
    pub enumeration: livi::lilv::node::Node,
    pub logarithmic: livi::lilv::node::Node,
    pub unit: livi::lilv::node::Node,
    pub required_option: livi::lilv::node::Node,
}

impl Uris {
    pub fn new(world: &livi::lilv::World) -> Self {
        let u = |s: &str| world.new_uri(s);
        Self {
            input: u("http://lv2plug.in/ns/lv2core#InputPort"),
            audio: u("http://lv2plug.in/ns/lv2core#AudioPort"),
            control: u("http://lv2plug.in/ns/lv2core#ControlPort"),
            atom: u("http://lv2plug.in/ns/ext/atom#AtomPort"),
            cv: u("http://lv2plug.in/ns/lv2core#CVPort"),
            side_chain: u("http://lv2plug.in/ns/lv2core#isSideChain"),
            integer: u("http://lv2plug.in/ns/lv2core#integer"),
            toggled: u("http://lv2plug.in/ns/lv2core#toggled"),
            enumeration: u("http://lv2plug.in/ns/lv2core#enumeration"),
            logarithmic: u("http://lv2plug.in/ns/ext/port-props#logarithmic"),
            unit: u("http://lv2plug.in/ns/extensions/units#unit"),
            required_option: u("http://lv2plug.in/ns/ext/options#requiredOption"),
        }
    }
}

/// The kind of data a port carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    /// A block of audio samples.
    Audio,
    /// One float per block.
    Control,
    /// An atom sequence (MIDI, patch messages, time position).
    Atom,
    /// A block of control-voltage samples.
    Cv,
    /// Something fxmatch does not know how to connect.
    Other,
}

/// One port as the TTL describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortInfo {
    /// Port index (the order the plugin's `connect_port` uses).
    pub index: usize,
    /// Stable symbol, used as the parameter id in chain files.
    pub symbol: String,
    /// Human-readable name.
    pub name: String,
    /// Data type.
    pub kind: PortKind,
    /// Input (`true`) or output.
    pub input: bool,
    /// Audio port marked `lv2:isSideChain`.
    pub side_chain: bool,
    /// `lv2:minimum`, when given.
    pub min: Option<f32>,
    /// `lv2:maximum`, when given.
    pub max: Option<f32>,
    /// `lv2:default`, when given.
    pub default: Option<f32>,
    /// `lv2:integer`.
    pub integer: bool,
    /// `lv2:toggled`.
    pub toggled: bool,
    /// `lv2:enumeration`.
    pub enumeration: bool,
    /// `pprops:logarithmic`.
    pub logarithmic: bool,
    /// Values of the scale points (`lv2:scalePoint`), sorted.
    pub scale_points: Vec<f32>,
    /// Unit symbol from `units:unit` (`dB`, `Hz`, `ms`, …), or empty.
    pub unit: String,
}

fn number(node: &livi::lilv::node::Node) -> Option<f32> {
    node.as_float().or_else(|| node.as_int().map(|i| i as f32))
}

/// Short unit symbol for a `units:` URI.
fn unit_symbol(uri: &str) -> String {
    let tail = uri.rsplit(['#', '/']).next().unwrap_or("");
    match tail {
        "db" => "dB",
        "hz" => "Hz",
        "khz" => "kHz",
        "ms" => "ms",
        "s" => "s",
        "pc" => "%",
        "bpm" => "bpm",
        "cent" => "cent",
        "semitone12TET" => "st",
        "coef" | "" => "",
        other => other,
    }
    .to_string()
}

/// Read every port of a plugin from its TTL.
pub(crate) fn read_ports(plugin: &livi::lilv::plugin::Plugin, uris: &Uris) -> Vec<PortInfo> {
    plugin
        .iter_ports()
        .map(|p| {
            let kind = if p.is_a(&uris.audio) {
                PortKind::Audio
            } else if p.is_a(&uris.control) {
                PortKind::Control
            } else if p.is_a(&uris.atom) {
                PortKind::Atom
            } else if p.is_a(&uris.cv) {
                PortKind::Cv
            } else {
                PortKind::Other
            };
            let range = p.range();
            let mut scale_points: Vec<f32> =
                p.scale_points().iter().filter_map(|sp| number(&sp.value())).collect();
            scale_points.sort_by(f32::total_cmp);
            let unit = p.get(&uris.unit).and_then(|n| n.as_uri().map(unit_symbol)).unwrap_or_default();
            let symbol = p.symbol().and_then(|n| n.as_str().map(String::from)).unwrap_or_default();
            PortInfo {
                index: p.index(),
                name: p.name().and_then(|n| n.as_str().map(String::from)).unwrap_or_else(|| symbol.clone()),
                symbol,
                kind,
                input: p.is_a(&uris.input),
                side_chain: p.has_property(&uris.side_chain),
                min: range.minimum.as_ref().and_then(number),
                max: range.maximum.as_ref().and_then(number),
                default: range.default.as_ref().and_then(number),
                integer: p.has_property(&uris.integer),
                toggled: p.has_property(&uris.toggled),
                enumeration: p.has_property(&uris.enumeration),
                logarithmic: p.has_property(&uris.logarithmic),
                scale_points,
                unit,
            }
        })
        .collect()
}

/// Why a control input cannot be a parameter, or the parameter it becomes.
///
/// - Range and default come from the TTL (`lv2:minimum`, `lv2:maximum`, `lv2:default`; a
///   default outside the range is clamped into it, a missing one is the minimum).
/// - `lv2:toggled` becomes a discrete 0..1 parameter; `lv2:integer`, and `lv2:enumeration`
///   whose scale points are whole numbers, become discrete parameters over the whole numbers of
///   the range. Discrete parameters change live by crossfade, not by ramp.
/// - An enumeration with fractional scale points (mda's `model` ports) stays linear and is
///   marked to crossfade: the plugin quantises the value itself.
/// - `pprops:logarithmic` with a positive minimum becomes a log mapping.
/// - A port without a minimum and maximum, or with `min >= max`, is not a parameter (it stays
///   at its default).
pub fn control_param(port: &PortInfo) -> Result<ParamSpec, String> {
    if port.kind != PortKind::Control || !port.input {
        return Err("not a control input".into());
    }
    let (Some(mut min), Some(mut max)) = (port.min, port.max) else {
        return Err("the TTL gives no lv2:minimum/lv2:maximum".into());
    };
    if !(min.is_finite() && max.is_finite()) || min >= max {
        return Err(format!("the TTL range {min}..{max} is empty"));
    }
    let whole_points = port.scale_points.iter().all(|v| v.fract() == 0.0);
    let discrete = port.toggled || port.integer || (port.enumeration && whole_points);
    let mut mapping = Mapping::Linear;
    if discrete {
        min = min.ceil();
        max = max.floor();
        if min >= max {
            return Err(format!("integer range {min}..{max} has a single value"));
        }
        mapping = Mapping::Discrete;
    } else if port.logarithmic && min > 0.0 {
        mapping = Mapping::Log;
    }
    let mut default = port.default.unwrap_or(min).clamp(min, max);
    if discrete {
        default = default.round().clamp(min, max);
    }
    let crossfade = discrete || port.enumeration;
    Ok(ParamSpec::new(&port.symbol, &port.name, &port.unit, min, max, default, mapping)
        .with_crossfade(crossfade)
        .with_neutral(neutral_value(port, min, default, discrete)))
}

/// A plugin port's neutral value (see [`ParamSpec::neutral`]): LV2 says nothing about which
/// setting processes least, so it is the plugin's default, except for a wet/dry mix (a symbol
/// or name with `mix` or `wet`, continuous, starting at 0), which is neutral fully dry.
fn neutral_value(port: &PortInfo, min: f32, default: f32, discrete: bool) -> f32 {
    let words = format!("{} {}", port.symbol, port.name).to_ascii_lowercase();
    if !discrete && min == 0.0 && (words.contains("mix") || words.contains("wet")) {
        0.0
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(symbol: &str, min: f32, max: f32, default: f32) -> PortInfo {
        PortInfo {
            index: 0,
            symbol: symbol.into(),
            name: symbol.into(),
            kind: PortKind::Control,
            input: true,
            side_chain: false,
            min: Some(min),
            max: Some(max),
            default: Some(default),
            integer: false,
            toggled: false,
            enumeration: false,
            logarithmic: false,
            scale_points: Vec::new(),
            unit: String::new(),
        }
    }

    #[test]
    fn neutral_is_the_default_except_a_wet_mix() {
        let p = control_param(&control("thr", -40.0, 0.0, -20.0)).unwrap();
        assert_eq!(p.neutral, Some(-20.0));
        let p = control_param(&control("drywet", 0.0, 1.0, 0.5)).unwrap();
        assert_eq!(p.neutral, Some(0.0));
        let p =
            control_param(&PortInfo { name: "FX Mix".into(), ..control("fx_mix", 0.0, 1.0, 0.33) }).unwrap();
        assert_eq!(p.neutral, Some(0.0));
        let p = control_param(&PortInfo { toggled: true, ..control("mix_mode", 0.0, 1.0, 1.0) }).unwrap();
        assert_eq!(p.neutral, Some(1.0), "a toggle is not a wet/dry mix");
    }

    #[test]
    fn port_properties_choose_the_mapping() {
        let p = control_param(&control("gain", -12.0, 12.0, 0.0)).unwrap();
        assert_eq!((p.mapping, p.needs_crossfade), (Mapping::Linear, false));
        let p =
            control_param(&PortInfo { logarithmic: true, ..control("freq", 20.0, 14000.0, 500.0) }).unwrap();
        assert_eq!(p.mapping, Mapping::Log);
        // Logarithmic with a zero minimum cannot be a log mapping.
        let p = control_param(&PortInfo { logarithmic: true, ..control("mix", 0.0, 1.0, 0.5) }).unwrap();
        assert_eq!(p.mapping, Mapping::Linear);
        let p = control_param(&PortInfo { toggled: true, ..control("on", 0.0, 1.0, 0.0) }).unwrap();
        assert_eq!((p.mapping, p.needs_crossfade), (Mapping::Discrete, true));
        let p = control_param(&PortInfo { integer: true, ..control("div", 1.0, 5.0, 3.2) }).unwrap();
        assert_eq!((p.mapping, p.default), (Mapping::Discrete, 3.0));
        let frac = PortInfo {
            enumeration: true,
            scale_points: vec![0.0, 0.25, 0.5],
            ..control("model", 0.0, 1.0, 1.0)
        };
        let p = control_param(&frac).unwrap();
        assert_eq!((p.mapping, p.needs_crossfade), (Mapping::Linear, true));
        let whole = PortInfo {
            enumeration: true,
            scale_points: vec![0.0, 1.0, 2.0],
            ..control("mode", 0.0, 2.0, 1.0)
        };
        assert_eq!(control_param(&whole).unwrap().mapping, Mapping::Discrete);
    }

    #[test]
    fn unusable_ranges_are_not_params() {
        assert!(control_param(&PortInfo { max: None, ..control("x", 0.0, 1.0, 0.0) }).is_err());
        assert!(control_param(&control("x", 1.0, 1.0, 1.0)).is_err());
        assert!(control_param(&PortInfo { input: false, ..control("x", 0.0, 1.0, 0.0) }).is_err());
        // A default outside the range is clamped in.
        assert_eq!(control_param(&control("x", 0.0, 1.0, 7.0)).unwrap().default, 1.0);
    }
}
