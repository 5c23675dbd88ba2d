//! Files in and out of the CLI: outputs that are devices, pipes, folders or `-` are refused and
//! left intact; a failed match leaves no output; long files stream through `render` and `embed`
//! in bounded memory, with the same output as the whole-buffer code; over-long match inputs and
//! oversized chains are refused with the limit.

mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use common::*;
use fxmatch::audio::{read_wav, write_wav, SampleFormat};
use fxmatch::chain::{Chain, ChainSpec};
use fxmatch::metric::{MfccMetric, StyleMetric};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn clip(name: &str) -> std::path::PathBuf {
    root().join("assets/audio").join(name)
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

fn is_char_device(path: &str) -> bool {
    std::fs::metadata(path).unwrap().file_type().is_char_device()
}

#[test]
fn render_refuses_devices_pipes_folders_and_stdout_and_leaves_them_intact() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip("dry/bass_finger.wav");
    let fifo = dir.path().join("pipe.wav");
    mkfifo(&fifo);
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let cases: [(&str, &[&str]); 6] = [
        ("/dev/null", &["/dev/null", "character device", "fix:"]),
        ("/dev/full", &["/dev/full", "character device", "fix:"]),
        (s(&fifo), &["pipe.wav", "FIFO", "fix:"]),
        (s(&folder), &["folder", "a directory", "fix:"]),
        ("-", &["standard output", "fix:"]),
        ("/dev/stdout", &["fix:"]),
    ];
    for (out, expect) in cases {
        let o = fxmatch()
            .args(["render", "--chain", &chain("eq-comp.toml"), s(&input), out])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(!o.status.success(), "{out} must be refused");
        assert!(o.stdout.is_empty(), "{out}: nothing on stdout");
        for e in expect {
            assert!(err.contains(e), "{out}: message should contain {e:?}:\n{err}");
        }
    }
    assert!(is_char_device("/dev/null") && is_char_device("/dev/full"), "devices intact");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "FIFO intact");
    assert_eq!(files_in(dir.path()), ["folder", "pipe.wav"], "no `-` file, no temporaries");
    assert!(files_in(&folder).is_empty());

    // The other writers share the same check.
    let o = run(&["lv2", "ttl", "/dev"]);
    assert!(!o.status.success() && stderr(&o).contains("system folder"), "{}", stderr(&o));
    let o = run(&["eval", "match", "--quick", "--out", "/dev/null"]);
    assert!(!o.status.success() && stderr(&o).contains("not a folder"), "{}", stderr(&o));
    assert!(is_char_device("/dev/null"));
}

/// Run `fxmatch match` (a tiny search) with extra arguments.
fn tiny_match(extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "match".to_string(),
        s(&clip("dry/speech_en_us.wav")).into(),
        s(&clip("content/speech_en_gb_f.wav")).into(),
        "--chain".into(),
        chain("eq-comp.toml"),
        "--metric".into(),
        "mfcc".into(),
        "--population".into(),
        "4".into(),
        "--generations".into(),
        "1".into(),
        "--segment".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

#[test]
fn a_failed_match_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let wav = out.join("o.wav");
    let report_dir = dir.path().join("reports");
    std::fs::create_dir(&report_dir).unwrap();
    let params_fifo = dir.path().join("p.fifo");
    mkfifo(&params_fifo);
    let missing = dir.path().join("missing/r.json");
    let cases: [(Vec<&str>, &str); 5] = [
        (vec!["--report", s(&report_dir)], "a directory"),
        (vec!["--params-out", s(&params_fifo)], "FIFO"),
        (vec!["--report", "/dev/null"], "character device"),
        (vec!["--report", s(&missing)], "mkdir"),
        (vec!["--report", s(&wav)], "same file"),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["-o", s(&wav)];
        args.extend(extra);
        let o = tiny_match(&args);
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(expect) && err.contains("fix:"), "{args:?}: {err}");
        assert!(!err.contains("similarity"), "refused before the search: {err}");
        assert!(files_in(&out).is_empty(), "{args:?} left {:?}", files_in(&out));
    }
    assert!(is_char_device("/dev/null"));
    assert!(std::fs::metadata(&params_fifo).unwrap().file_type().is_fifo());
    assert!(files_in(&report_dir).is_empty());

    // The same outputs, once the paths are good, are all written.
    let report = dir.path().join("r.json");
    let o = tiny_match(&["-o", s(&wav), "--report", s(&report)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files_in(&out), ["o.params.toml", "o.wav"]);
    assert!(report.exists());
}

#[test]
fn streamed_render_equals_the_whole_buffer_render_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip("dry/drums_groove.wav");
    let chain_file = chain("default.toml");
    let streamed = dir.path().join("streamed.wav");
    // A tail that is not a whole number of blocks: input and tail meet inside a block.
    let o = run(&["render", "--chain", &chain_file, "--tail", "1.37", s(&input), s(&streamed)]);
    assert!(o.status.success(), "{}", stderr(&o));

    let (audio, format) = read_wav(&input).unwrap();
    let mut c = Chain::from_spec(&ChainSpec::load(&chain_file).unwrap()).unwrap();
    let whole = fxmatch::render::render(&mut c, &audio, 1.37).unwrap();
    let reference = dir.path().join("whole.wav");
    write_wav(&reference, &whole, format).unwrap();
    assert!(whole.frames() > fxmatch::render::STREAM_FRAMES, "the clip spans several stream blocks");
    assert!(std::fs::read(&streamed).unwrap() == std::fs::read(&reference).unwrap(), "identical files");
}

#[test]
fn streamed_embed_equals_the_whole_buffer_embed() {
    for name in ["dry/piano_chords.wav", "content/synth_lead.wav"] {
        let path = clip(name);
        let o = run(&["embed", "--metric", "mfcc", s(&path)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (audio, _) = read_wav(&path).unwrap();
        let (l, r) = audio.to_stereo();
        let whole = MfccMetric::new().embed(&l, &r, audio.sample_rate).unwrap();
        let mid: Vec<f32> = serde_json::from_value(line["mid"].clone()).unwrap();
        let side: Vec<f32> = serde_json::from_value(line["side"].clone()).unwrap();
        assert_eq!((mid, side), (whole.mid, whole.side), "{name}");
    }
}

/// Peak resident memory (VmHWM, kB) of `fxmatch ARGS`, from the kernel's accounting of the
/// child (`wait4`), and its exit status and stderr.
fn peak_memory_kb(args: &[&str]) -> (i32, u64, String) {
    let mut child = fxmatch()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which nothing else waits for (the Child handle is never
    // waited on), with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4 failed");
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64, err)
}

/// A complete 20-minute WAV (22.05 kHz mono, 16-bit noise, 53 MB): held whole it would take
/// over 400 MB in `render` (the f32 samples read, then a stereo copy with the tail); streamed,
/// the process stays near its fixed size. The bound, 150 MB, is generous: the binary with its
/// libraries and model runtime takes some 20 to 60 MB whatever the file.
#[test]
fn a_twenty_minute_file_renders_and_embeds_in_bounded_memory() {
    const BOUND_KB: u64 = 150 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.wav");
    let rate = 22_050;
    let frames = 20 * 60 * rate as usize;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&input, spec).unwrap();
    let noise = fxmatch::audio::white_noise(1 << 16, 0.25, 7);
    for i in 0..frames {
        w.write_sample((noise[i % noise.len()] * 32_767.0) as i16).unwrap();
    }
    w.finalize().unwrap();

    let gain = dir.path().join("gain.toml");
    std::fs::write(&gain, "[[effect]]\ntype = \"gain\"\n[effect.fixed]\ngain = -6.0\n").unwrap();
    let out = dir.path().join("out.wav");
    let (code, kb, err) = peak_memory_kb(&["render", "--chain", s(&gain), "--tail", "2", s(&input), s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert!(kb < BOUND_KB, "render peaked at {kb} kB (bound {BOUND_KB} kB)");
    let reader = fxmatch::audio::WavReader::open(&out).unwrap();
    assert_eq!(
        (reader.frames(), reader.channels()),
        (frames as u64 + 2 * rate as u64, 2),
        "input and tail, stereo"
    );
    drop(reader);
    std::fs::remove_file(&out).unwrap();

    let (code, kb, err) = peak_memory_kb(&["embed", "--metric", "mfcc", s(&input)]);
    assert_eq!(code, 0, "{err}");
    assert!(kb < BOUND_KB, "embed peaked at {kb} kB (bound {BOUND_KB} kB)");
}

#[test]
fn over_long_match_inputs_and_oversized_chains_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 s WAV whose header claims 0xFFFF0000 bytes of 16-bit stereo: refused from the header,
    // before anything is read or allocated.
    let long = dir.path().join("long.wav");
    write_wav(&long, &test_signal(48_000, 1.0), SampleFormat::I16).unwrap();
    let mut bytes = std::fs::read(&long).unwrap();
    assert_eq!(&bytes[36..40], b"data", "plain 44-byte header");
    bytes[40..44].copy_from_slice(&0xFFFF_0000u32.to_le_bytes());
    std::fs::write(&long, bytes).unwrap();
    let out = dir.path().join("o.wav");
    let good = clip("dry/bass_finger.wav");
    for (input, reference, role) in [(&long, &good, "input"), (&good, &long, "reference")] {
        let o = run(&["match", s(input), s(reference), "--metric", "mfcc", "-o", s(&out)]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{err}");
        for e in [&format!("the {role} is"), "minutes", "at most 14.4 M frames", "sox", "fix:"] {
            assert!(err.contains(e), "{role}: should contain {e:?}:\n{err}");
        }
    }
    assert_eq!(files_in(dir.path()), ["long.wav"], "no output");

    let many = dir.path().join("many.toml");
    let text: String = (0..=fxmatch::chain::MAX_EFFECTS)
        .map(|i| format!("[[effect]]\ntype = \"gain\"\nid = \"g{i}\"\n"))
        .collect();
    std::fs::write(&many, text).unwrap();
    let o = run(&["render", "--chain", s(&many), s(&good), s(&out)]);
    let err = stderr(&o);
    let line = 3 * fxmatch::chain::MAX_EFFECTS + 2;
    assert!(
        !o.status.success() && err.contains(&format!("many.toml:{line}")) && err.contains("at most 64"),
        "{err}"
    );
    assert!(!out.exists());
}
