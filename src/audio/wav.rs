//! WAV reading and atomic writing (16/24-bit integer and 32-bit float, mono or stereo).

use std::io::BufWriter;
use std::path::Path;

use super::AudioBuffer;
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;

/// Sample encodings fxmatch reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleFormat {
    /// 16-bit signed integer.
    I16,
    /// 24-bit signed integer.
    I24,
    /// 32-bit IEEE float.
    F32,
}

const CONVERT_FIX: &str =
    "convert it, e.g. `sox IN.wav -b 24 OUT.wav` (16/24-bit int or 32-bit float, 1 or 2 channels)";

/// Read a mono or stereo WAV file into a buffer, with its format.
pub fn read_wav(path: impl AsRef<Path>) -> Result<(AudioBuffer, SampleFormat)> {
    let path = path.as_ref();
    let reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => Error::read(path, io),
        other => Error::audio(path, format!("not a readable WAV file ({other})"), CONVERT_FIX),
    })?;
    let spec = reader.spec();
    let format = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => SampleFormat::I16,
        (hound::SampleFormat::Int, 24) => SampleFormat::I24,
        (hound::SampleFormat::Float, 32) => SampleFormat::F32,
        (f, b) => {
            return Err(Error::audio(path, format!("unsupported sample format: {b}-bit {f:?}"), CONVERT_FIX));
        }
    };
    let channels = spec.channels as usize;
    if !(1..=2).contains(&channels) {
        return Err(Error::audio(
            path,
            format!("{channels} channels; fxmatch takes mono or stereo"),
            "mix down, e.g. `sox IN.wav OUT.wav remix 1 2`",
        ));
    }
    if !(8_000..=192_000).contains(&spec.sample_rate) {
        return Err(Error::audio(
            path,
            format!("sample rate {} Hz is outside 8000..192000 Hz", spec.sample_rate),
            "resample, e.g. `sox IN.wav -r 48000 OUT.wav`",
        ));
    }
    let expected = reader.len() as usize;
    let samples: std::result::Result<Vec<f32>, hound::Error> = match format {
        SampleFormat::F32 => reader.into_samples::<f32>().collect(),
        SampleFormat::I16 => reader.into_samples::<i32>().map(|s| s.map(|v| v as f32 / 32_768.0)).collect(),
        SampleFormat::I24 => {
            reader.into_samples::<i32>().map(|s| s.map(|v| v as f32 / 8_388_608.0)).collect()
        }
    };
    let samples = samples.map_err(|e| {
        Error::audio(
            path,
            format!("the file ends early or is corrupt ({e}); the header promises {expected} samples"),
            "re-export or re-record the file; a partial download or an interrupted write truncates WAVs",
        )
    })?;
    if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
        return Err(Error::audio(
            path,
            format!("sample {} (frame {}) is NaN or infinite", i, i / channels),
            "fix the program that wrote it; fxmatch only processes finite audio",
        ));
    }
    let frames = samples.len() / channels;
    let mut buf = AudioBuffer::silence(spec.sample_rate, channels, frames);
    for (i, frame) in samples.chunks_exact(channels).enumerate() {
        for (c, &s) in frame.iter().enumerate() {
            buf.channels[c][i] = s;
        }
    }
    Ok((buf, format))
}

/// Write a buffer as WAV, atomically: on any error no file (and no partial file) is left at
/// `path`. Integer formats are clipped to full scale.
pub fn write_wav(path: impl AsRef<Path>, audio: &AudioBuffer, format: SampleFormat) -> Result<()> {
    let path = path.as_ref();
    if audio.channels.is_empty() || audio.channels.len() > 2 {
        return Err(Error::invalid(
            format!("cannot write {} channels", audio.channels.len()),
            "write mono or stereo",
        ));
    }
    let (bits, sample_format) = match format {
        SampleFormat::I16 => (16, hound::SampleFormat::Int),
        SampleFormat::I24 => (24, hound::SampleFormat::Int),
        SampleFormat::F32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec {
        channels: audio.channels.len() as u16,
        sample_rate: audio.sample_rate,
        bits_per_sample: bits,
        sample_format,
    };
    let mut out = AtomicFile::create(path)?;
    {
        let file = out.file().try_clone().map_err(|e| Error::write(path, e))?;
        let mut w =
            hound::WavWriter::new(BufWriter::new(file), spec).map_err(|e| wav_write_error(path, e))?;
        for i in 0..audio.frames() {
            for ch in &audio.channels {
                let s = ch[i];
                let r = match format {
                    SampleFormat::F32 => w.write_sample(s),
                    SampleFormat::I16 => w.write_sample((s.clamp(-1.0, 1.0) * 32_767.0).round() as i16),
                    SampleFormat::I24 => w.write_sample((s.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32),
                };
                r.map_err(|e| wav_write_error(path, e))?;
            }
        }
        w.finalize().map_err(|e| wav_write_error(path, e))?;
    }
    out.commit()
}

fn wav_write_error(path: &Path, e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(io) => Error::write(path, io),
        other => {
            Error::audio(path, format!("cannot encode WAV: {other}"), "write 16/24-bit int or 32-bit float")
        }
    }
}
