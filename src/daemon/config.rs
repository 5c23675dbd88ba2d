//! The daemon config file (`config/default.toml`): which chain runs, where references, presets
//! and the last state live, how a trigger captures and matches, and how the daemon is reached
//! (OSC, JACK, MIDI footswitch, GPIO).
//!
//! Relative paths are resolved against the config file's folder, so a config and its chain and
//! references move together. Unknown keys are errors (a misspelt key would otherwise be silently
//! ignored on a box without a screen); every error names the file, the line and the fix.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{line_of, Error, Result};
use crate::optimize::MatchConfig;

/// Where a trigger takes its segment from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureMode {
    /// The last N seconds before the trigger (the ring already holds them: no wait).
    Last,
    /// The next N seconds after the trigger (play, then the match starts).
    Next,
}

/// How a match finds the chain's parameters (`[match] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// `hybrid` when a parameter predictor for the chain is at hand (the config's `predictor`,
    /// else the one built in for the default chain), `search` otherwise.
    Auto,
    /// CMA-ES alone, from the chain's neutral start.
    Search,
    /// The parameter predictor alone: one pass, no search.
    Predict,
    /// CMA-ES started at the prediction, with a smaller step size, a third of the generations and
    /// a pull toward the prediction ([`crate::predict::hybrid_config`]).
    Hybrid,
}

/// What a footswitch (MIDI note/CC or GPIO line) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Capture and match against the selected reference.
    Match,
    /// Select the next reference in the library (by name, wrapping around).
    NextReference,
    /// Toggle bypass of the whole chain.
    Bypass,
    /// Cancel a running capture or match.
    Cancel,
}

/// One MIDI footswitch mapping: exactly one of `note` or `cc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MidiMapping {
    /// MIDI channel 0–15, or any channel.
    pub channel: Option<u8>,
    /// Note number (note on with velocity > 0 fires).
    pub note: Option<u8>,
    /// Controller number (a value ≥ 64 fires: a latching or momentary switch pedal).
    pub cc: Option<u8>,
    /// What it does.
    pub action: Action,
}

/// One GPIO footswitch line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioMapping {
    /// Line offset on the chip.
    pub line: u32,
    /// What a press does.
    pub action: Action,
    /// The switch pulls the line to ground (the pull-up bias is set; pressed = low). Default
    /// true; false for a switch to the supply (pull-down bias; pressed = high).
    #[serde(default = "yes")]
    pub active_low: bool,
}

fn yes() -> bool {
    true
}

/// GPIO footswitches (v2 character device), used with the `gpio` cargo feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioConfig {
    /// Read GPIO lines at all.
    pub enabled: bool,
    /// The character device, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Debounce time in milliseconds.
    pub debounce_ms: u32,
    /// Lines and their actions.
    pub map: Vec<GpioMapping>,
}

/// A validated daemon config.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// Chain file.
    pub chain: PathBuf,
    /// Reference library folder (WAVs plus cached embeddings).
    pub references: PathBuf,
    /// Folder for presets and `state.toml`.
    pub state: PathBuf,
    /// Reference selected when no saved state names one.
    pub default_reference: Option<String>,
    /// Seconds a trigger captures.
    pub capture_seconds: f32,
    /// Last or next N seconds.
    pub capture_mode: CaptureMode,
    /// Match profile name (`live` or `st-ito`).
    pub profile: String,
    /// Style metric name (`encoder` or `mfcc`).
    pub metric: String,
    /// The encoder model (`NAME.onnx` beside `NAME.json`) when `metric` is `encoder` and the
    /// config names one; `None`: the built-in default model.
    pub model: Option<PathBuf>,
    /// How a match finds the parameters.
    pub mode: MatchMode,
    /// The parameter predictor (`NAME.onnx` beside `NAME.json`) the config names; `None`: the
    /// one built in for the default chain.
    pub predictor: Option<PathBuf>,
    /// Matcher worker threads (0: all cores).
    pub threads: usize,
    /// Random seed of the search.
    pub seed: u64,
    /// OSC listen address.
    pub osc: SocketAddr,
    /// Shared secret OSC senders must give first (`/fxmatch/auth s SECRET`); `None`: open.
    pub osc_secret: Option<String>,
    /// JACK client name.
    pub jack_client: String,
    /// Connect to the system capture and playback ports on start.
    pub autoconnect: bool,
    /// One input port, duplicated to both channels of the chain.
    pub mono: bool,
    /// MIDI footswitch mappings.
    pub midi: Vec<MidiMapping>,
    /// GPIO footswitches.
    pub gpio: GpioConfig,
    /// Engine settings (`[engine]`: block size, capture history, ramp and crossfade times);
    /// the JACK client name, mono and autoconnect come from `[jack]`.
    pub engine: crate::engine::EngineConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    chain: Option<Spanned<String>>,
    references: Option<Spanned<String>>,
    state: Option<Spanned<String>>,
    default_reference: Option<String>,
    #[serde(default)]
    capture: CaptureFile,
    #[serde(default, rename = "match")]
    matching: MatchFile,
    #[serde(default)]
    osc: OscFile,
    #[serde(default)]
    jack: JackFile,
    #[serde(default)]
    midi: MidiFile,
    #[serde(default)]
    gpio: GpioFile,
    engine: Option<Spanned<crate::engine::EngineConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CaptureFile {
    seconds: Option<Spanned<f64>>,
    mode: Option<CaptureMode>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MatchFile {
    profile: Option<Spanned<String>>,
    metric: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    mode: Option<MatchMode>,
    predictor: Option<Spanned<String>>,
    threads: Option<usize>,
    seed: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OscFile {
    bind: Option<Spanned<String>>,
    port: Option<u16>,
    secret: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct JackFile {
    client_name: Option<Spanned<String>>,
    autoconnect: Option<bool>,
    mono: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MidiFile {
    #[serde(default)]
    map: Vec<Spanned<MidiEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MidiEntry {
    channel: Option<u8>,
    note: Option<u8>,
    cc: Option<u8>,
    action: Action,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GpioFile {
    #[serde(default)]
    enabled: bool,
    chip: Option<String>,
    debounce_ms: Option<u32>,
    #[serde(default)]
    map: Vec<GpioMapping>,
}

impl DaemonConfig {
    /// Read and validate a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        Self::parse(&text, path)
    }

    /// Parse and validate config TOML; relative paths are resolved against `path`'s folder.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file: File = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        let src = Source { text, path, base: path.parent().unwrap_or(Path::new(".")) };
        let capture_seconds = file.capture.checked_seconds(&src)?;
        let (profile, metric, model) = file.matching.checked(&src)?;
        let osc = file.osc.address(&src)?;
        let osc_secret = file.osc.checked_secret(&src)?;
        let jack_client = file.jack.checked_client_name(&src)?;
        let midi = file.midi.mappings(&src)?;
        let engine = src.engine(file.engine, &file.jack, &jack_client, capture_seconds)?;
        Ok(Self {
            engine,
            path: path.to_path_buf(),
            chain: src.resolve(&file.chain, "chains/default.toml"),
            references: src.resolve(&file.references, "references"),
            state: src.resolve(&file.state, "state"),
            default_reference: file.default_reference,
            capture_seconds,
            capture_mode: file.capture.mode.unwrap_or(CaptureMode::Last),
            profile,
            metric,
            model,
            mode: file.matching.mode.unwrap_or(MatchMode::Auto),
            predictor: file.matching.checked_predictor(&src)?,
            threads: file.matching.threads.unwrap_or(0),
            seed: file.matching.seed.unwrap_or(0),
            osc,
            osc_secret,
            jack_client,
            autoconnect: file.jack.autoconnect.unwrap_or(true),
            mono: file.jack.mono.unwrap_or(false),
            midi,
            gpio: GpioConfig {
                enabled: file.gpio.enabled,
                chip: PathBuf::from(file.gpio.chip.unwrap_or_else(|| "/dev/gpiochip0".into())),
                debounce_ms: file.gpio.debounce_ms.unwrap_or(30),
                map: file.gpio.map,
            },
        })
    }

    /// The engine settings (with the `[jack]` values folded in).
    pub fn engine_config(&self) -> crate::engine::EngineConfig {
        self.engine.clone()
    }

    /// The matcher settings this config asks for.
    pub fn match_config(&self) -> Result<MatchConfig> {
        let mut c = MatchConfig::profile(&self.profile)?;
        c.seed = self.seed;
        if self.threads > 0 {
            c.threads = self.threads;
        }
        c.segment_seconds = self.capture_seconds.max(0.5);
        Ok(c)
    }

    /// The action a MIDI event fires, if any mapping matches it.
    pub fn midi_action(&self, event: &crate::engine::MidiEvent) -> Option<Action> {
        use crate::engine::MidiEvent;
        self.midi.iter().find_map(|m| {
            let hit = match *event {
                MidiEvent::NoteOn { channel, note } => {
                    m.note == Some(note) && m.channel.is_none_or(|c| c == channel)
                }
                MidiEvent::ControlChange { channel, controller, value } => {
                    m.cc == Some(controller) && value >= 64 && m.channel.is_none_or(|c| c == channel)
                }
            };
            hit.then_some(m.action)
        })
    }
}

/// The config file's text and place: errors name the file and line; relative paths start
/// from its folder.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
    base: &'a Path,
}

impl Source<'_> {
    /// The line of byte `offset`.
    fn at(&self, offset: usize) -> Option<usize> {
        Some(line_of(self.text, offset))
    }

    /// An [`Error::Config`] at the line of byte `offset`.
    fn error(&self, offset: usize, message: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::config(self.path, self.at(offset), message, fix)
    }

    /// A path from the file (else `default`), relative ones from the file's folder.
    fn resolve(&self, v: &Option<Spanned<String>>, default: &str) -> PathBuf {
        let p = PathBuf::from(v.as_ref().map_or(default, |s| s.get_ref().as_str()));
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }

    /// `[engine]` with the `[jack]` values folded in and a history that holds a capture.
    fn engine(
        &self,
        engine: Option<Spanned<crate::engine::EngineConfig>>,
        jack: &JackFile,
        jack_client: &str,
        capture_seconds: f32,
    ) -> Result<crate::engine::EngineConfig> {
        let engine_line = engine.as_ref().and_then(|e| self.at(e.span().start));
        let mut engine = engine.map(Spanned::into_inner).unwrap_or_default();
        engine.client_name = jack_client.to_string();
        engine.mono = jack.mono.unwrap_or(false);
        engine.autoconnect = jack.autoconnect.unwrap_or(true);
        // The history must hold at least one capture.
        engine.capture_seconds = engine.capture_seconds.max(capture_seconds + 1.0);
        engine.validate().map_err(|e| match e {
            Error::Invalid { message, fix } => Error::config(self.path, engine_line, message, fix),
            other => other,
        })?;
        Ok(engine)
    }
}

impl CaptureFile {
    /// `capture.seconds`, default 3.
    fn checked_seconds(&self, src: &Source) -> Result<f32> {
        let Some(s) = &self.seconds else { return Ok(3.0) };
        let v = *s.get_ref();
        if !(0.5..=30.0).contains(&v) {
            return Err(src.error(
                s.span().start,
                format!("capture.seconds = {v} is outside 0.5..30"),
                "capture 0.5 to 30 seconds (3 is the default; the live profile is sized for 3)",
            ));
        }
        Ok(v as f32)
    }
}

impl MatchFile {
    /// The match profile (default `live`), metric (default `mfcc`) and model (`None`: the
    /// built-in default), each checked.
    fn checked(&self, src: &Source) -> Result<(String, String, Option<PathBuf>)> {
        let profile = self.profile.as_ref().map_or("live".to_string(), |p| p.get_ref().clone());
        if let Err(e) = MatchConfig::profile(&profile) {
            let span = self.profile.as_ref().map(|p| p.span().start).unwrap_or(0);
            let fix = match e {
                Error::Invalid { fix, .. } => fix,
                other => other.to_string(),
            };
            return Err(src.error(span, format!("unknown match profile `{profile}`"), fix));
        }
        let metric = self.metric.as_ref().map_or("mfcc".to_string(), |m| m.get_ref().clone());
        if !crate::metric::METRIC_NAMES.contains(&metric.as_str()) {
            let span = self.metric.as_ref().map(|m| m.span().start).unwrap_or(0);
            return Err(src.error(
                span,
                format!("unknown metric `{metric}`"),
                "use metric = \"encoder\" (the trained model) or \"mfcc\" (no model needed)",
            ));
        }
        let model = match (&self.model, metric.as_str()) {
            (Some(m), "mfcc") => {
                return Err(src.error(
                    m.span().start,
                    "`model` is set but metric = \"mfcc\" uses no model",
                    "remove `model`, or set metric = \"encoder\"",
                ))
            }
            // Without `model`, the default model built into the binary: found wherever the
            // daemon runs (an installed binary under systemd has no models/ folder beside it).
            (Some(_), "encoder") => Some(src.resolve(&self.model, "")),
            _ => None,
        };
        Ok((profile, metric, model))
    }

    /// The predictor the config names, unless `mode = "search"` (which uses none).
    fn checked_predictor(&self, src: &Source) -> Result<Option<PathBuf>> {
        match (&self.predictor, self.mode) {
            (Some(p), Some(MatchMode::Search)) => Err(src.error(
                p.span().start,
                "`predictor` is set but mode = \"search\" uses no predictor",
                "remove `predictor`, or set mode = \"hybrid\", \"predict\" or \"auto\"",
            )),
            (Some(_), _) => Ok(Some(src.resolve(&self.predictor, ""))),
            (None, _) => Ok(None),
        }
    }
}

impl OscFile {
    /// Where the OSC server listens (default 127.0.0.1:9000).
    fn address(&self, src: &Source) -> Result<SocketAddr> {
        let bind = match &self.bind {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(b) => b.get_ref().parse::<IpAddr>().map_err(|_| {
                src.error(
                    b.span().start,
                    format!("osc.bind `{}` is not an IP address", b.get_ref()),
                    "use \"127.0.0.1\" (this box only) or \"0.0.0.0\" (every interface)",
                )
            })?,
        };
        Ok(SocketAddr::new(bind, self.port.unwrap_or(9000)))
    }

    /// The shared secret, 8 to 256 characters (`None`: open).
    fn checked_secret(&self, src: &Source) -> Result<Option<String>> {
        match &self.secret {
            None => Ok(None),
            Some(s) if s.get_ref().len() < 8 || s.get_ref().len() > 256 => Err(src.error(
                s.span().start,
                format!("osc.secret is {} characters long", s.get_ref().len()),
                "use 8 to 256 characters (e.g. the output of `openssl rand -hex 16`), or remove it",
            )),
            Some(s) => Ok(Some(s.get_ref().clone())),
        }
    }
}

impl JackFile {
    /// The JACK client name (default `fxmatch`), as JACK takes it.
    fn checked_client_name(&self, src: &Source) -> Result<String> {
        let jack_client = self.client_name.as_ref().map_or("fxmatch".to_string(), |c| c.get_ref().clone());
        if jack_client.is_empty() || jack_client.len() > 63 || jack_client.contains(':') {
            let span = self.client_name.as_ref().map(|c| c.span().start).unwrap_or(0);
            return Err(src.error(
                span,
                format!("JACK client name `{jack_client}` is not usable"),
                "use 1 to 63 characters without `:` (default \"fxmatch\")",
            ));
        }
        Ok(jack_client)
    }
}

impl MidiFile {
    /// The `[[midi.map]]` entries, each with one of note or cc and values in MIDI's ranges.
    fn mappings(&self, src: &Source) -> Result<Vec<MidiMapping>> {
        let mut midi = Vec::new();
        for entry in &self.map {
            let line = src.at(entry.span().start);
            let e = entry.get_ref();
            if e.note.is_some() == e.cc.is_some() {
                return Err(Error::config(
                    src.path,
                    line,
                    "a [[midi.map]] entry needs exactly one of `note` or `cc`",
                    "write e.g. `{ note = 60, action = \"match\" }` or `{ cc = 64, action = \"bypass\" }`",
                ));
            }
            let bad7 = [e.note, e.cc].into_iter().flatten().any(|v| v > 127);
            if bad7 || e.channel.is_some_and(|c| c > 15) {
                return Err(Error::config(
                    src.path,
                    line,
                    "MIDI note and cc numbers lie in 0..127, channels in 0..15",
                    "use a value in range (channels are 0-based: MIDI channel 1 is 0)",
                ));
            }
            midi.push(MidiMapping { channel: e.channel, note: e.note, cc: e.cc, action: e.action });
        }
        Ok(midi)
    }
}

fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| line_of(text, s.start));
    let message = e.message().trim().to_string();
    let fix = if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or("");
        format!("remove `{key}` or correct its spelling; the keys this table takes are listed above")
    } else if message.contains("unknown variant") {
        "use one of the values listed above".to_string()
    } else {
        "fix the TOML at that line (strings need quotes, tables are [name], arrays of tables [[name]])".into()
    };
    Error::config(path, line, message, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        DaemonConfig::parse(text, "/etc/fxmatch/test.toml").unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = DaemonConfig::parse("", "/etc/fxmatch/fx.toml").unwrap();
        assert_eq!(c.chain, PathBuf::from("/etc/fxmatch/chains/default.toml"));
        assert_eq!(c.references, PathBuf::from("/etc/fxmatch/references"));
        assert_eq!(c.capture_seconds, 3.0);
        assert_eq!(c.capture_mode, CaptureMode::Last);
        assert_eq!(c.profile, "live");
        assert_eq!(c.osc, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.jack_client, "fxmatch");
        let abs = DaemonConfig::parse("state = \"/var/lib/fxmatch\"", "fx.toml").unwrap();
        assert_eq!(abs.state, PathBuf::from("/var/lib/fxmatch"));
    }

    #[test]
    fn shipped_default_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let c = DaemonConfig::load(&path).unwrap();
        assert!(c.chain.exists(), "{}", c.chain.display());
        assert_eq!(c.osc.port(), 9000);
        assert!(!c.midi.is_empty());
        c.match_config().unwrap();
    }

    #[test]
    fn unknown_keys_name_key_line_and_fix() {
        let e = err("chain = \"c.toml\"\n\n[capture]\nsecnds = 3\n");
        assert!(e.contains("test.toml:4"), "{e}");
        assert!(e.contains("secnds"), "{e}");
        assert!(e.contains("fix: remove `secnds`"), "{e}");
        let e = err("[oscc]\nport = 9000\n");
        assert!(e.contains(":1") && e.contains("oscc"), "{e}");
    }

    #[test]
    fn bad_values_have_lines() {
        let e = err("[capture]\nmode = \"later\"\n");
        assert!(e.contains("test.toml:2") && e.contains("later"), "{e}");
        let e = err("\n[capture]\nseconds = 100.0\n");
        assert!(e.contains("test.toml:3") && e.contains("0.5 to 30"), "{e}");
        let e = err("[match]\nprofile = \"fast\"\n");
        assert!(e.contains("test.toml:2") && e.contains("live"), "{e}");
        let e = err("[osc]\nbind = \"localhost:9\"\n");
        assert!(e.contains("test.toml:2") && e.contains("0.0.0.0"), "{e}");
        let e = err("[[midi.map]]\nnote = 60\ncc = 1\naction = \"match\"\n");
        assert!(e.contains("exactly one"), "{e}");
        let e = err("[[midi.map]]\nnote = 60\naction = \"explode\"\n");
        assert!(e.contains("test.toml:3") && e.contains("next_reference"), "{e}");
        let e = err("chain = 3\n");
        assert!(e.contains("test.toml:1"), "{e}");
    }

    #[test]
    fn match_mode_and_predictor() {
        let c = DaemonConfig::parse("", "/etc/fxmatch/fx.toml").unwrap();
        assert_eq!((c.mode, c.predictor), (MatchMode::Auto, None));
        let c = DaemonConfig::parse(
            "[match]\nmode = \"hybrid\"\npredictor = \"p/chain.onnx\"\n",
            "/etc/fxmatch/fx.toml",
        )
        .unwrap();
        assert_eq!(c.mode, MatchMode::Hybrid);
        assert_eq!(c.predictor, Some(PathBuf::from("/etc/fxmatch/p/chain.onnx")));
        let e = err("[match]\nmode = \"guess\"\n");
        assert!(e.contains("test.toml:2") && e.contains("guess") && e.contains("hybrid"), "{e}");
        let e = err("[match]\nmode = \"search\"\npredictor = \"p.onnx\"\n");
        assert!(e.contains("test.toml:3") && e.contains("uses no predictor"), "{e}");
    }

    #[test]
    fn midi_mapping() {
        use crate::engine::MidiEvent;
        let c = DaemonConfig::parse(
            "[[midi.map]]\nnote = 60\naction = \"match\"\n[[midi.map]]\ncc = 64\nchannel = 1\naction = \"bypass\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.midi_action(&MidiEvent::NoteOn { channel: 3, note: 60 }), Some(Action::Match));
        assert_eq!(c.midi_action(&MidiEvent::NoteOn { channel: 3, note: 61 }), None);
        let cc = |channel, value| MidiEvent::ControlChange { channel, controller: 64, value };
        assert_eq!(c.midi_action(&cc(1, 127)), Some(Action::Bypass));
        assert_eq!(c.midi_action(&cc(1, 0)), None);
        assert_eq!(c.midi_action(&cc(0, 127)), None);
    }
}
