//! References made by processors fxmatch does not have: chains of `sox` effects and of LV2
//! plugins rendered by `lv2file` (outside fxmatch's own LV2 host). With these the oracle is not
//! exactly reachable by the match's chain, as it is not for a user's real reference, so the
//! fidelity figure ([`super::fidelity`]) is not flattered by the chain matching itself.
//!
//! Each [`ExternalStyle`] is a fixed, realistic chain of several effects. Rendering writes the
//! audio to a temporary 32-bit float WAV, runs the tool(s) and reads the result back: mono
//! results are duplicated to stereo, tails past the input's end are cut and a short result is
//! padded with silence, so the output lines up with the input sample for sample (no plugin used
//! reports latency: `lv2info URI` says "Has latency: no").
//!
//! A plugin with one audio input is run by lv2file on the first channel only (its "instance per
//! channel" writes the first instance's outputs), so such a step runs twice, on the left and on
//! the right channel alone, as a DAW runs a mono plugin on a stereo track: a mono-out plugin
//! gives dual mono (left run → left, right run → right); a mono-in, stereo-out one (a plate
//! reverb) gives the mean of the two runs, which for a linear plugin is the plugin fed the mono
//! sum, as a send would.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::audio::{read_wav, write_wav, AudioBuffer, SampleFormat};
use crate::error::{Error, Result};

/// The program an [`ExternalStyle`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Processor {
    /// `sox IN OUT EFFECT ARGS… EFFECT ARGS…`, one call for the whole chain.
    #[default]
    Sox,
    /// `lv2file -i IN -o OUT -p SYMBOL:VALUE… URI`, one call per plugin, in order.
    Lv2file,
}

impl Processor {
    /// The command's name, as the report labels its cases.
    pub fn name(self) -> &'static str {
        match self {
            Processor::Sox => "sox",
            Processor::Lv2file => "lv2file",
        }
    }
}

/// A named external reference chain.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ExternalStyle {
    /// Style name, unique across [`EXTERNAL_STYLES`].
    pub name: &'static str,
    /// What runs the chain.
    pub processor: Processor,
    /// The steps: for sox, one effect and its arguments each (`"equalizer 3000 1.2q 4"`); for
    /// lv2file, one plugin each, its URI then `SYMBOL=VALUE` control settings.
    pub steps: &'static [&'static str],
}

/// The external reference chains of `fxmatch eval transfer`, sox first. Settings are ones a
/// producer might pick: several effects per chain, EQ and dynamics with space or drive.
pub const EXTERNAL_STYLES: &[ExternalStyle] = &[
    ExternalStyle {
        name: "sox-vocal-plate",
        processor: Processor::Sox,
        steps: &[
            "highpass 100",
            "equalizer 3000 1.2q 4",
            "treble 3 9000",
            "compand 0.005,0.12 6:-60,-60,-36,-24,0,-12 -3",
            "reverb 35 60 40 70 8",
        ],
    },
    ExternalStyle {
        name: "sox-crunch-slap",
        processor: Processor::Sox,
        steps: &["gain -3", "overdrive 14 30", "lowpass 5500", "equalizer 700 1q -4", "echo 0.8 0.75 110 0.28"],
    },
    ExternalStyle {
        name: "sox-warm-chorus",
        processor: Processor::Sox,
        steps: &[
            "gain -4",
            "bass 6 110",
            "treble -6 4500",
            "compand 0.02,0.3 6:-60,-60,-30,-24,0,-14 -2",
            "chorus 0.7 0.85 50 0.4 0.3 1.8 -t",
        ],
    },
    ExternalStyle {
        name: "sox-telephone",
        processor: Processor::Sox,
        steps: &[
            "gain -3",
            "highpass 300",
            "lowpass 3400",
            "equalizer 1800 1q 6",
            "overdrive 10 20",
            "compand 0.005,0.08 6:-60,-60,-30,-18,0,-8 -4",
        ],
    },
    ExternalStyle {
        name: "sox-phaser-hall",
        processor: Processor::Sox,
        steps: &["phaser 0.8 0.74 3 0.4 0.5 -t", "highpass 90", "reverb 60 50 90 100 20"],
    },
    ExternalStyle {
        name: "sox-mix-bus",
        processor: Processor::Sox,
        steps: &[
            "gain -10",
            "equalizer 100 0.7q 5",
            "equalizer 400 1.2q -4",
            "equalizer 8000 0.8q 4",
            "compand 0.003,0.1 6:-60,-60,-40,-30,-20,-18,0,-10 0",
            "echo 0.9 0.6 220 0.25 440 0.12",
        ],
    },
    ExternalStyle {
        name: "sox-flanger-room",
        processor: Processor::Sox,
        steps: &["flanger 1 3 20 60 0.4 sine 25 lin", "equalizer 250 1q -3", "reverb 25 70 30 50 0"],
    },
    ExternalStyle {
        name: "sox-lofi-tremolo",
        processor: Processor::Sox,
        steps: &["gain -3", "highpass 150", "lowpass 3800", "bass 3 200", "overdrive 5 10", "tremolo 4.5 35"],
    },
    ExternalStyle {
        name: "lv2-tube-plate",
        processor: Processor::Lv2file,
        steps: &[
            "urn:zamaudio:ZamTube tubedrive=5 bass=6 mids=5 treb=4",
            "http://plugin.org.uk/swh-plugins/plate time=2.5 damping=0.4 wet=0.25",
        ],
    },
    ExternalStyle {
        name: "lv2-fil4-sc4",
        processor: Processor::Lv2file,
        steps: &[
            "http://gareus.org/oss/lv2/fil4#stereo HighPass=1 HPfreq=90 LSsec=1 LSfreq=200 LSgain=4 \
             sec2=1 freq2=2500 q2=1 gain2=5 HSsec=1 HSfreq=9000 HSgain=-4",
            "http://plugin.org.uk/swh-plugins/sc4 rms_peak=0.5 attack=8 release=120 threshold=-24 ratio=5 knee=4 \
             makeup_gain=8",
        ],
    },
    ExternalStyle {
        name: "lv2-mda-combo-ambience",
        processor: Processor::Lv2file,
        steps: &[
            "http://drobilla.net/plugins/mda/Combo drive=0.6 bias=0.5 output=0.5",
            "http://drobilla.net/plugins/mda/Ambience size=0.5 hf_damp=0.5 mix=0.4 output=0.5",
        ],
    },
    ExternalStyle {
        name: "lv2-leslie-valve",
        processor: Processor::Lv2file,
        steps: &["http://drobilla.net/plugins/mda/Leslie", "http://plugin.org.uk/swh-plugins/valve q_p=0.3 dist_p=0.6"],
    },
    ExternalStyle {
        name: "lv2-zam-mda-master",
        processor: Processor::Lv2file,
        steps: &[
            "urn:zamaudio:ZamEQ2 boostl=4 fl=120 boost1=-5 f1=400 bw1=1 boost2=3 f2=3500 bw2=1 boosth=3 fh=9000",
            "http://drobilla.net/plugins/mda/Dynamics thresh=0.35 ratio=0.6 output=0.3 attack=0.1 release=0.4 \
             limiter=1 gate_thr=0",
            "urn:zamaudio:ZamVerb room=2 wetdry=20",
        ],
    },
    ExternalStyle {
        name: "lv2-swh-chorus-echo",
        processor: Processor::Lv2file,
        steps: &[
            "http://plugin.org.uk/swh-plugins/multivoiceChorus voices=3 delay_base=12 voice_spread=0.5 detune=2 \
             law_freq=4 attendb=-3",
            // Dry through the dry level: a tap at distance 0 comes out silent.
            "http://plugin.org.uk/swh-plugins/tapeDelay speed=1 da_db=0 t1a_db=-90 t2d=0.35 t2a_db=-10 t3d=0.7 \
             t3a_db=-18 t4a_db=-90",
        ],
    },
];

/// Effect classes of the external chains, for the per-class figures of `eval transfer` (the
/// second seed reported per effect: it beat "do nothing" on drive, not on ambience, delay or
/// dynamics).
pub const EFFECT_CLASSES: [&str; 6] = ["eq", "dynamics", "distortion", "delay", "ambience", "modulation"];

/// Which class a sox effect or an LV2 plugin belongs to, by the effect's name or the plugin URI.
const CLASS_OF: &[(&str, &str)] = &[
    ("highpass", "eq"),
    ("lowpass", "eq"),
    ("equalizer", "eq"),
    ("bass", "eq"),
    ("treble", "eq"),
    ("fil4", "eq"),
    ("ZamEQ2", "eq"),
    ("compand", "dynamics"),
    ("sc4", "dynamics"),
    ("mda/Dynamics", "dynamics"),
    ("overdrive", "distortion"),
    ("ZamTube", "distortion"),
    ("valve", "distortion"),
    ("mda/Combo", "distortion"),
    ("echo", "delay"),
    ("tapeDelay", "delay"),
    ("reverb", "ambience"),
    ("plate", "ambience"),
    ("mda/Ambience", "ambience"),
    ("ZamVerb", "ambience"),
    ("chorus", "modulation"),
    ("Chorus", "modulation"),
    ("phaser", "modulation"),
    ("flanger", "modulation"),
    ("tremolo", "modulation"),
    ("mda/Leslie", "modulation"),
];

/// The class of one step (its sox effect or LV2 plugin URI); `None` for a plain gain.
fn step_class(step: &str) -> Option<&'static str> {
    let effect = step.split_whitespace().next().unwrap_or("");
    CLASS_OF.iter().find(|(key, _)| effect.contains(key)).map(|(_, class)| *class)
}

impl ExternalStyle {
    /// The effect classes ([`EFFECT_CLASSES`]) its steps contain, in that order.
    pub fn classes(&self) -> Vec<&'static str> {
        let mine: Vec<&str> = self.steps.iter().filter_map(|s| step_class(s)).collect();
        EFFECT_CLASSES.into_iter().filter(|c| mine.contains(c)).collect()
    }
}

/// A fresh path for a temporary file under the system's temporary folder.
fn temp_path(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("fxmatch-external-{}-{n}-{tag}.wav", std::process::id()))
}

/// Removes the temporary files when the render ends, failed or not.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs `cmd` (the program `program`, for the style `name`), failing with its last output line.
fn run_program(cmd: &mut Command, name: &str, program: &str) -> Result<()> {
    let out = cmd.output().map_err(|e| {
        Error::invalid(
            format!("{name}: cannot run `{program}` ({e})"),
            format!("install it: `bash scripts/setup.sh` (Debian package `{program}`)"),
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        return Err(Error::invalid(
            format!(
                "{name}: `{program}` failed ({}): {}",
                out.status,
                format!("{stderr}{stdout}").trim().lines().last().unwrap_or("no output")
            ),
            "check that the plugins are installed (`bash scripts/setup.sh`; `lv2ls` lists them)",
        ));
    }
    Ok(())
}

/// Arguments of one lv2file step: `-p SYMBOL:VALUE` per setting, then the URI.
fn lv2file_args(step: &str, name: &str) -> Result<Vec<String>> {
    let mut words = step.split_whitespace();
    let uri = words.next().unwrap_or_default().to_string();
    let mut args = Vec::new();
    for w in words {
        let Some((symbol, value)) = w.split_once('=') else {
            return Err(Error::invalid(
                format!("{name}: lv2file setting `{w}` is not SYMBOL=VALUE"),
                "write each control setting as SYMBOL=VALUE",
            ));
        };
        args.extend(["-p".to_string(), format!("{symbol}:{value}")]);
    }
    args.push(uri);
    Ok(args)
}

/// Render `audio` through `style` (module docs). The result has `audio`'s rate and length, in
/// stereo.
pub fn render_external(style: &ExternalStyle, audio: &AudioBuffer) -> Result<AudioBuffer> {
    match style.processor {
        Processor::Sox => render_sox(style.name, style.steps, audio),
        Processor::Lv2file => render_lv2file(style.name, style.steps, audio),
    }
}

/// A step whose output peaks above this (60 dB over full scale), or is NaN, has run away
/// (an unstable filter, feedback past 1): an error, not a reference.
const RUNAWAY_PEAK: f32 = 1000.0;

/// `audio` through a chain of LV2 plugins run by lv2file, `steps` as in
/// [`ExternalStyle::steps`] (a URI, then `SYMBOL=VALUE` settings each); `name` labels errors.
/// The result has `audio`'s rate and length, in stereo; a one-input plugin runs once per
/// channel (module docs). Training data draws such chains at random
/// ([`crate::predict::projection`]).
pub fn render_lv2file(name: &str, steps: &[impl AsRef<str>], audio: &AudioBuffer) -> Result<AudioBuffer> {
    let mut temps = TempFiles(Vec::new());
    let frames = audio.frames();
    let mut signal = fit(audio.clone(), frames);
    for step in steps {
        let args = lv2file_args(step.as_ref(), name)?;
        let uri = args.last().expect("the URI is always last");
        signal = if audio_inputs(uri, name)? == 1 {
            // Once per channel (module docs).
            let (l, r) = signal.to_stereo();
            let sr = signal.sample_rate;
            let mono = |c: Vec<f32>| AudioBuffer { sample_rate: sr, channels: vec![c] };
            let left = lv2file(&mono(l), &args, name, &mut temps)?;
            let right = lv2file(&mono(r), &args, name, &mut temps)?;
            let mono_out = left.num_channels() == 1;
            let (left, right) = (fit(left, frames), fit(right, frames));
            if mono_out {
                AudioBuffer::stereo(sr, left.channels[0].clone(), right.channels[0].clone())
            } else {
                let avg = |c: usize| -> Vec<f32> {
                    left.channels[c].iter().zip(&right.channels[c]).map(|(a, b)| 0.5 * (a + b)).collect()
                };
                AudioBuffer::stereo(sr, avg(0), avg(1))
            }
        } else {
            fit(lv2file(&signal, &args, name, &mut temps)?, frames)
        };
        let peak = signal.channels.iter().flatten().fold(0.0f32, |m, v| {
            if v.is_nan() {
                f32::INFINITY
            } else {
                m.max(v.abs())
            }
        });
        if peak > RUNAWAY_PEAK {
            return Err(Error::invalid(
                format!("{name}: LV2 plugin {uri} ran away (peak {peak:.3e})"),
                "check its settings (lv2file passes values unscaled: a frequency port marked as a \
                 fraction of the sample rate takes Hz)",
            ));
        }
    }
    Ok(signal)
}

/// `audio` through a chain of sox effects, `steps` as in [`ExternalStyle::steps`] (one effect
/// and its arguments each); `name` labels errors. The result has `audio`'s rate and length, in
/// stereo (module docs). Training data draws such chains at random
/// ([`crate::predict::projection`]).
pub fn render_sox(name: &str, steps: &[impl AsRef<str>], audio: &AudioBuffer) -> Result<AudioBuffer> {
    let mut temps = TempFiles(Vec::new());
    let (input, output) = (temp_path("sox-in"), temp_path("sox-out"));
    temps.0.extend([input.clone(), output.clone()]);
    write_wav(&input, audio, SampleFormat::F32)?;
    // -R: sox's repeatable random numbers; -D: no dither (float output needs none).
    let mut cmd = Command::new("sox");
    cmd.args(["-R", "-D", "-V1"]).arg(&input).args(["-e", "floating-point", "-b", "32"]).arg(&output);
    cmd.args(steps.iter().flat_map(|s| s.as_ref().split_whitespace()));
    run_program(&mut cmd, name, "sox")?;
    Ok(fit(read_wav(&output)?.0, audio.frames()))
}

/// `audio` through one lv2file call with `args` (settings, then the URI).
fn lv2file(audio: &AudioBuffer, args: &[String], name: &str, temps: &mut TempFiles) -> Result<AudioBuffer> {
    let (input, output) = (temp_path("lv2-in"), temp_path("lv2-out"));
    temps.0.extend([input.clone(), output.clone()]);
    write_wav(&input, audio, SampleFormat::F32)?;
    let mut cmd = Command::new("lv2file");
    cmd.arg("-i").arg(&input).arg("-o").arg(&output).arg("--ignore-clipping").args(args);
    run_program(&mut cmd, name, "lv2file")?;
    Ok(read_wav(&output)?.0)
}

/// The number of audio inputs of the plugin at `uri`, from `lv2file -n` (the lines between
/// its "==Audio Ports==" and "==Control Ports==" headers); asked once per plugin and process
/// (a dataset renders thousands of references through the same few plugins).
fn audio_inputs(uri: &str, name: &str) -> Result<usize> {
    static KNOWN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, usize>>> =
        std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(&n) = known.lock().expect("no panic holds the lock").get(uri) {
        return Ok(n);
    }
    let out = Command::new("lv2file").args(["-n", uri]).output().map_err(|e| {
        Error::invalid(
            format!("{name}: cannot run `lv2file` ({e})"),
            "install it: `bash scripts/setup.sh` (Debian package `lv2file`)",
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let count = text
        .lines()
        .skip_while(|l| !l.contains("==Audio Ports=="))
        .skip(1)
        .take_while(|l| !l.contains("==Control Ports=="))
        .filter(|l| l.contains(':'))
        .count();
    // lv2file -n exits with status 1 even when it lists the ports: the count decides.
    if count == 0 {
        return Err(Error::invalid(
            format!("{name}: lv2file finds no audio input on plugin {uri}"),
            "check that the plugin is installed (`bash scripts/setup.sh`; `lv2ls` lists installed plugins)",
        ));
    }
    known.lock().expect("no panic holds the lock").insert(uri.to_string(), count);
    Ok(count)
}

/// Stereo, cut or padded with silence to `frames`.
fn fit(audio: AudioBuffer, frames: usize) -> AudioBuffer {
    let (mut l, mut r) = audio.to_stereo();
    l.resize(frames, 0.0);
    r.resize(frames, 0.0);
    AudioBuffer::stereo(audio.sample_rate, l, r)
}

/// Render a short probe through `style`: fails, with the tool's reason, when the program or a
/// plugin is missing or the chain does not run, so a run can skip the style up front.
pub fn probe(style: &ExternalStyle, sample_rate: u32) -> Result<()> {
    let n = (sample_rate / 4) as usize;
    let noise = crate::audio::white_noise(n, 0.3, 1);
    let out = render_external(style, &AudioBuffer::stereo(sample_rate, noise.clone(), noise))?;
    if out.channels.iter().flatten().any(|v| !v.is_finite()) || out.rms() < 1e-6 {
        return Err(Error::invalid(
            format!("{}: the probe came out silent or not finite", style.name),
            "check the chain's settings",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::white_noise;

    fn clip() -> AudioBuffer {
        let n = 24_000;
        let x: Vec<f32> = white_noise(n, 0.3, 3)
            .iter()
            .enumerate()
            .map(|(i, v)| v * (-((i % 6000) as f32) / 1500.0).exp())
            .collect();
        AudioBuffer::stereo(48_000, x.clone(), x)
    }

    #[test]
    fn style_names_are_unique_and_lv2file_settings_parse() {
        let mut names: Vec<&str> = EXTERNAL_STYLES.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EXTERNAL_STYLES.len());
        for style in EXTERNAL_STYLES.iter().filter(|s| s.processor == Processor::Lv2file) {
            for step in style.steps {
                let args = lv2file_args(step, style.name).unwrap();
                assert!(args.last().unwrap().contains(':'), "URI last: {args:?}");
            }
        }
        let bad = ExternalStyle { name: "bad", processor: Processor::Lv2file, steps: &["urn:x gain"] };
        assert!(lv2file_args(bad.steps[0], bad.name).unwrap_err().to_string().contains("SYMBOL=VALUE"));
    }

    /// Needs sox, lv2file and the plugins that `scripts/setup.sh` installs.
    /// Every external chain has a class per step that is not a plain gain; the classes the
    /// second seed could not beat "do nothing" on (ambience, delay, dynamics) each have cases.
    #[test]
    fn every_step_has_an_effect_class() {
        for style in EXTERNAL_STYLES {
            for step in style.steps.iter().filter(|s| !s.starts_with("gain ")) {
                assert!(step_class(step).is_some(), "{}: `{step}` has no class", style.name);
            }
        }
        let count = |c: &str| EXTERNAL_STYLES.iter().filter(|s| s.classes().contains(&c)).count();
        for c in ["ambience", "delay", "dynamics"] {
            assert!(count(c) >= 3, "{c}: {}", count(c));
        }
        let slap = EXTERNAL_STYLES.iter().find(|s| s.name == "sox-crunch-slap").unwrap();
        assert_eq!(slap.classes(), ["eq", "distortion", "delay"]);
    }

    #[test]
    fn every_style_keeps_length_and_rate_and_changes_the_sound() {
        let x = clip();
        for style in EXTERNAL_STYLES {
            let y = render_external(style, &x).unwrap();
            assert_eq!(
                (y.sample_rate, y.num_channels(), y.frames()),
                (48_000, 2, x.frames()),
                "{}",
                style.name
            );
            let d = crate::eval::fidelity::distance(&x, &y).unwrap();
            assert!(d.total > 1.0, "{} barely changes the sound: {d:?}", style.name);
        }
    }

    /// Needs lv2file and swh-lv2. triplePara's frequencies given as fractions of the sample rate
    /// (as lv2info lists them; lv2file wants Hz) make its filters unstable.
    #[test]
    fn a_runaway_plugin_is_an_error_naming_it() {
        let step = "http://plugin.org.uk/swh-plugins/triplePara gain_L=-8.6 fc_L=0.00422 gain_1=-3.6 \
                    fc_1=0.06129 bw_1=0.5 gain_H=-5.2 fc_H=0.1406";
        // The filters diverge slowly: 3 s of sound.
        let x = white_noise(144_000, 0.3, 4);
        let long = AudioBuffer::stereo(48_000, x.clone(), x);
        let e = render_lv2file("unstable", &[step], &long).unwrap_err().to_string();
        assert!(e.contains("unstable") && e.contains("triplePara") && e.contains("ran away"), "{e}");
        let hz = step.replace("0.00422", "200").replace("0.06129", "2900").replace("0.1406", "6700");
        assert!(render_lv2file("stable", &[hz], &long).is_ok());
    }

    #[test]
    fn a_failing_tool_is_an_error_naming_the_style() {
        let style = ExternalStyle { name: "broken", processor: Processor::Sox, steps: &["no-such-effect 1"] };
        let e = render_external(&style, &clip()).unwrap_err().to_string();
        assert!(e.contains("broken") && e.contains("sox") && e.contains("fix:"), "{e}");
    }
}
