//! `fxmatch render` and `fxmatch chain` from the outside: good input renders, bad input gets a
//! message that names the file, the problem and the fix, a non-zero exit, and no output file.

mod common;

use common::*;
use fxmatch::audio::{read_wav, write_wav, AudioBuffer, SampleFormat};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn renders_every_sample_format_through_the_default_chain() {
    let dir = tempfile::tempdir().unwrap();
    let input = test_signal(48_000, 1.0);
    for (format, name) in
        [(SampleFormat::I16, "i16.wav"), (SampleFormat::I24, "i24.wav"), (SampleFormat::F32, "f32.wav")]
    {
        let inp = dir.path().join(name);
        write_wav(&inp, &input, format).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let o = run(&["render", "--chain", &chain("default.toml"), s(&inp), s(&out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let (rendered, out_format) = read_wav(&out).unwrap();
        assert_eq!(out_format, format, "output keeps the input's format");
        assert_eq!(rendered.frames(), input.frames());
        assert_eq!(rendered.num_channels(), 2);
        assert!(rendered.rms() > 0.01, "the chain passes signal");
        let diff: f32 = rendered.channels[0].iter().zip(&input.channels[0]).map(|(a, b)| (a - b).abs()).sum();
        assert!(diff > 1.0, "the default chain audibly changes the signal");
    }
}

#[test]
fn params_file_sets_values_and_tail_extends_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_test_wav(dir.path(), "in.wav", &test_signal(44_100, 0.5));
    let params = dir.path().join("p.toml");
    std::fs::write(&params, "[gain]\ngain = -6.0\n").unwrap();
    let chain_file = dir.path().join("g.toml");
    std::fs::write(&chain_file, "[[effect]]\ntype = \"gain\"\n").unwrap();
    let out = dir.path().join("out.wav");
    let o = run(&[
        "render",
        "--chain",
        s(&chain_file),
        "--params",
        s(&params),
        "--tail",
        "0.25",
        "--format",
        "f32",
        s(&input),
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, _) = read_wav(&input).unwrap();
    let (b, _) = read_wav(&out).unwrap();
    assert_eq!(b.frames(), a.frames() + 11_025);
    let ratio = b.rms() / a.rms() * (b.frames() as f32 / a.frames() as f32).sqrt();
    assert!((fxmatch::dsp::gain_to_db(ratio) + 6.0).abs() < 0.05, "-6 dB applied, got {ratio}");
}

#[test]
fn mono_input_renders_to_stereo() {
    let dir = tempfile::tempdir().unwrap();
    let st = test_signal(48_000, 0.3);
    let mono = AudioBuffer { sample_rate: 48_000, channels: vec![st.channels[0].clone()] };
    let inp = write_test_wav(dir.path(), "mono.wav", &mono);
    let out = dir.path().join("out.wav");
    let o = run(&["render", "--chain", &chain("eq-comp.toml"), s(&inp), s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_wav(&out).unwrap().0.num_channels(), 2);
}

/// Run a render that must fail; check exit code, message parts, and that no output was left.
fn assert_render_fails(chain_file: &str, params: Option<&str>, input: &std::path::Path, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    let mut args = vec!["render", "--chain", chain_file];
    if let Some(p) = params {
        args.extend(["--params", p]);
    }
    args.extend([s(input), s(&out)]);
    let o = run(&args);
    let err = stderr(&o);
    assert!(!o.status.success(), "must fail: {args:?}");
    for e in expect {
        assert!(err.contains(e), "message should contain {e:?}:\n{err}");
    }
    assert!(err.contains("fix:"), "message should say how to fix it:\n{err}");
    assert!(files_in(dir.path()).is_empty(), "no partial output: {:?}", files_in(dir.path()));
}

#[test]
fn bad_audio_files_are_refused_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_test_wav(dir.path(), "good.wav", &test_signal(48_000, 0.2));
    let default = chain("default.toml");

    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "this is not audio").unwrap();
    assert_render_fails(&default, None, &text, &["notes.wav", "not a readable WAV"]);

    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.wav");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_render_fails(&default, None, &truncated, &["truncated.wav", "ends early"]);

    let missing = dir.path().join("missing.wav");
    assert_render_fails(&default, None, &missing, &["missing.wav", "reading"]);

    let eight_bit = dir.path().join("eight.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 8,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&eight_bit, spec).unwrap();
    for i in 0..1000 {
        w.write_sample((i % 100) as i8).unwrap();
    }
    w.finalize().unwrap();
    assert_render_fails(&default, None, &eight_bit, &["eight.wav", "unsupported sample format", "sox"]);

    let quad = dir.path().join("quad.wav");
    let spec = hound::WavSpec {
        channels: 4,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&quad, spec).unwrap();
    for _ in 0..400 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    assert_render_fails(&default, None, &quad, &["quad.wav", "4 channels"]);

    let nan = dir.path().join("nan.wav");
    let mut buf = test_signal(48_000, 0.1);
    buf.channels[1][100] = f32::NAN;
    write_wav(&nan, &buf, SampleFormat::F32).unwrap();
    assert_render_fails(&default, None, &nan, &["nan.wav", "NaN"]);

    let low_rate = dir.path().join("low.wav");
    write_wav(&low_rate, &test_signal(11_025, 0.1), SampleFormat::I16).unwrap();
    assert_render_fails(&default, None, &low_rate, &["11025 Hz", "sox"]);
}

#[test]
fn bad_chain_and_params_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_test_wav(dir.path(), "in.wav", &test_signal(48_000, 0.1));
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let syntax = write("syntax.toml", "[[effect]]\ntype = \"eq\"\n[effect.free]\nlow_gain = {min = -3\n");
    assert_render_fails(&syntax, None, &input, &["syntax.toml:4"]);
    let unknown_effect = write("fx.toml", "[[effect]]\ntype = \"eq\"\n\n[[effect]]\ntype = \"flanger\"\n");
    assert_render_fails(
        &unknown_effect,
        None,
        &input,
        &["fx.toml:5", "unknown effect type `flanger`", "compressor"],
    );
    let unknown_param =
        write("param.toml", "[[effect]]\ntype = \"compressor\"\n[effect.fixed]\nthreshhold = -20\n");
    assert_render_fails(
        &unknown_param,
        None,
        &input,
        &["param.toml:4", "no parameter `threshhold`", "threshold"],
    );
    let out_of_range = write("range.toml", "[[effect]]\ntype = \"compressor\"\n[effect.fixed]\nratio = 50\n");
    assert_render_fails(&out_of_range, None, &input, &["range.toml:4", "outside"]);
    let duplicate = write("dup.toml", "[[effect]]\ntype = \"eq\"\n[[effect]]\ntype = \"eq\"\n");
    assert_render_fails(&duplicate, None, &input, &["dup.toml:4", "two effects are called `eq`"]);
    let empty = write("empty.toml", "name = \"nothing\"\n");
    assert_render_fails(&empty, None, &input, &["empty.toml", "no effects"]);

    let eq_comp = chain("eq-comp.toml");
    let p = write("p1.toml", "[eq]\nlow_gain = 3.0\n\n[compresor]\nratio = 2\n");
    assert_render_fails(&eq_comp, Some(&p), &input, &["p1.toml:4", "no effect `compresor`", "compressor"]);
    let p = write("p2.toml", "[compressor]\nratio = 200\n");
    assert_render_fails(&eq_comp, Some(&p), &input, &["p2.toml:2", "ratio", "outside 1..20"]);
    let p = write("p3.toml", "[compressor]\nratoi = 2\n");
    assert_render_fails(&eq_comp, Some(&p), &input, &["p3.toml:2", "no parameter `ratoi`"]);
}

#[test]
fn chain_show_lists_free_parameters_with_ranges_and_units() {
    let o = run(&["chain", "show", &chain("default.toml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "distortion",
        "eq",
        "compressor",
        "delay",
        "reverb",
        "x[ 0]",
        "threshold",
        "dB",
        "Hz",
        "ms",
        "free",
        "fixed",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let o = run(&["chain", "types"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for kind in fxmatch::dsp::BUILTIN_KINDS {
        assert!(text.contains(kind));
    }
}

/// `chain show --json`: the search vector in order, named as predictors name it, with each
/// parameter's start and neutral value normalised (what `training/predictor.py calibrate` reads).
#[test]
fn chain_show_json_gives_the_search_vector_normalised() {
    let o = run(&["chain", "show", &chain("default.toml"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["chain"], "default");
    let spec = fxmatch::chain::ChainSpec::load(chain("default.toml")).unwrap();
    let c = fxmatch::chain::Chain::from_spec(&spec).unwrap();
    let free = v["free"].as_array().unwrap();
    let names: Vec<&str> = free.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, fxmatch::predict::param_names(&c));
    let by_name = |n: &str| free.iter().find(|f| f["name"] == n).unwrap();
    // The gains' neutral (0 dB) is the middle of -15..15; the threshold's (0 dB) the top of
    // -48..0; a frequency has no neutral value, only a start.
    assert_eq!(by_name("eq.low_gain")["neutral"], 0.5);
    assert_eq!(by_name("compressor.threshold")["neutral"], 1.0);
    assert_eq!(by_name("reverb.mix")["neutral"], 0.0);
    assert!(by_name("eq.low_freq")["neutral"].is_null());
    let start = by_name("eq.low_freq")["start"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&start) && start > 0.0, "{start}");
    assert_eq!(by_name("eq.low_gain")["min"], -15.0);
    assert_eq!(by_name("eq.low_freq")["mapping"], "log");
}

#[test]
fn every_bundled_chain_loads() {
    for entry in std::fs::read_dir(root().join("config/chains")).unwrap() {
        let path = entry.unwrap().path();
        let o = run(&["chain", "show", s(&path)]);
        assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
    }
}
