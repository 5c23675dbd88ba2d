//! An independent VST3 host agrees with fxmatch's: the Zam VST3 plugins at the same settings
//! (normalised values, set by parameter title), rendered by pedalboard (Spotify's Python host, on
//! JUCE's VST3 hosting) and by [`Vst3Effect`], give the same audio.
//!
//! pedalboard lives in the venv `.venv-vst3`, which `scripts/setup.sh` creates (or set
//! `FXMATCH_PEDALBOARD_PYTHON` to a Python that has it). Where it is missing the test says it is
//! skipped, on the terminal, and passes.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use fxmatch::effect::Effect;
use fxmatch::vst3::Vst3Effect;

/// Renders raw f32 files through one plugin: argv = bundle, channels, input, output, settings
/// JSON (title -> normalised value).
const RENDER: &str = r#"
import json, sys
import numpy as np
import pedalboard
bundle, channels, src, dst, settings = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
plugin = pedalboard.load_plugin(bundle)
by_title = {p.name: p for p in plugin.parameters.values()}
for title, value in settings.items():
    by_title[title].raw_value = value
x = np.fromfile(src, dtype=np.float32).reshape(channels, -1)
y = plugin.process(x, 48000.0, buffer_size=256, reset=True)
np.asarray(y, dtype=np.float32).tofile(dst)
print(pedalboard.__version__)
"#;

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("FXMATCH_PEDALBOARD_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-vst3/bin/python")),
    ];
    candidates.into_iter().flatten().find(|py| {
        Command::new(py).args(["-c", "import pedalboard, numpy"]).output().is_ok_and(|o| o.status.success())
    })
}

/// Visible even when the test harness captures output (it captures `print!`/`eprint!` only).
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 0.4
        })
        .collect()
}

#[test]
fn pedalboard_and_fxmatch_render_the_zam_vst3_plugins_alike() {
    let Some(py) = python() else {
        say(
            "SKIPPED vst3_pedalboard: no Python with pedalboard (run `bash scripts/setup.sh`, which installs \
             pedalboard into .venv-vst3, or set FXMATCH_PEDALBOARD_PYTHON)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // (plugin, settings by symbol in fxmatch's normalised units)
    let cases: [(&str, &[(&str, f32)]); 3] = [
        (
            "ZamEQ2",
            &[("boost_cut_1", 0.8), ("frequency_1", 0.05), ("boost_cut_h", 0.6), ("bandwidth_1", 0.3)],
        ),
        ("ZamCompX2", &[("threshold", 0.6), ("ratio", 0.4), ("attack", 0.02), ("makeup", 0.2)]),
        ("ZamDelay", &[("time", 0.03), ("feedback", 0.4), ("dry_wet", 0.4)]),
    ];
    let frames = 48_000;
    let (l, r) = (noise(frames, 1), noise(frames, 2));
    for (name, settings) in cases {
        let mut fx = Vst3Effect::new(name).unwrap_or_else(|e| panic!("{e}"));
        let stereo = fx.desc().layout == fxmatch::vst3::Layout::Stereo;
        let channels = if stereo { 2 } else { 1 };
        let mut titles = serde_json::Map::new();
        fx.prepare(48_000.0, 256);
        for &(symbol, value) in settings {
            let i = fx.desc().find_param(symbol).unwrap();
            fx.set_param(i, value);
            titles.insert(fx.desc().params[i].title.clone(), serde_json::json!(value));
        }
        fx.snap();
        // fxmatch: stereo plugins get (l, r); mono ones run dual-mono, compared on the left.
        let (mut ol, mut or) = (l.clone(), if stereo { r.clone() } else { l.clone() });
        for (cl, cr) in ol.chunks_mut(256).zip(or.chunks_mut(256)) {
            fx.process(cl, cr);
        }
        let input: Vec<f32> = if stereo { l.iter().chain(&r).copied().collect() } else { l.clone() };
        let src = dir.path().join(format!("{name}.in.f32"));
        let dst = dir.path().join(format!("{name}.out.f32"));
        std::fs::write(&src, input.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let o = Command::new(&py)
            .args(["-c", RENDER])
            .arg(&fx.desc().module.bundle)
            .arg(channels.to_string())
            .args([&src, &dst])
            .arg(serde_json::Value::Object(titles).to_string())
            .output()
            .unwrap();
        assert!(o.status.success(), "pedalboard failed: {}", String::from_utf8_lossy(&o.stderr));
        let bytes = std::fs::read(&dst).unwrap();
        let theirs: Vec<f32> =
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let ours: Vec<f32> = if stereo { ol.iter().chain(&or).copied().collect() } else { ol.clone() };
        assert_eq!(theirs.len(), ours.len(), "{name}: pedalboard returned {} samples", theirs.len());
        let max = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let change = ours.iter().zip(&input).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        say(&format!(
            "{name}: pedalboard {} vs fxmatch max abs difference {max:e} (fxmatch's change from dry {change})",
            String::from_utf8_lossy(&o.stdout).trim()
        ));
        assert!(change > 0.05, "{name}: the settings change the sound");
        assert!(max < 1e-5, "{name}: pedalboard and fxmatch differ by up to {max}");
    }
}
