//! WAV reading and atomic writing (16/24-bit integer and 32-bit float, mono or stereo), whole
//! or block by block in constant memory ([`WavReader`], [`WavWriter`]).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::{AudioBuffer, StereoSource};
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

impl SampleFormat {
    /// Bytes per sample in a WAV file.
    pub fn bytes(self) -> u64 {
        match self {
            SampleFormat::I16 => 2,
            SampleFormat::I24 => 3,
            SampleFormat::F32 => 4,
        }
    }
}

const CONVERT_FIX: &str =
    "convert it, e.g. `sox IN.wav -b 24 OUT.wav` (16/24-bit int or 32-bit float, 1 or 2 channels)";

/// Largest sample data a WAV file holds: its size fields are 32-bit (less room for the header).
pub const MAX_WAV_DATA_BYTES: u64 = u32::MAX as u64 - 1024;

/// A WAV file opened for reading block by block, with the checks [`read_wav`] makes: format,
/// channels and rate when opened, truncation and NaN or infinite samples as blocks are read.
pub struct WavReader {
    path: PathBuf,
    reader: hound::WavReader<BufReader<File>>,
    format: SampleFormat,
    channels: usize,
    sample_rate: u32,
    /// Frames the header promises.
    frames: u64,
    /// Frames read so far.
    position: u64,
    interleaved: Vec<f32>,
}

impl WavReader {
    /// Open `path` and check its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let reader = hound::WavReader::open(path).map_err(|e| match e {
            hound::Error::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
                Error::read(path, io)
            }
            other => Error::audio(path, format!("not a readable WAV file ({other})"), CONVERT_FIX),
        })?;
        let spec = reader.spec();
        let format = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, 16) => SampleFormat::I16,
            (hound::SampleFormat::Int, 24) => SampleFormat::I24,
            (hound::SampleFormat::Float, 32) => SampleFormat::F32,
            (f, b) => {
                return Err(Error::audio(
                    path,
                    format!("unsupported sample format: {b}-bit {f:?}"),
                    CONVERT_FIX,
                ));
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
        let frames = reader.len() as u64 / channels as u64;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            format,
            channels,
            sample_rate: spec.sample_rate,
            frames,
            position: 0,
            interleaved: Vec::new(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample format.
    pub fn format(&self) -> SampleFormat {
        self.format
    }

    /// Channels (1 or 2).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Frames the header promises (a truncated file is an error when reading reaches its end).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Duration the header promises, in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / self.sample_rate as f64
    }

    /// Read up to `out[0].len()` frames into the planar channels `out` (one slice per channel of
    /// the file); returns the frames read, fewer only at the end of the file.
    pub fn read_block(&mut self, out: &mut [&mut [f32]]) -> Result<usize> {
        assert_eq!(out.len(), self.channels, "one output slice per channel");
        let want = out[0].len().min((self.frames - self.position) as usize);
        let n = want * self.channels;
        self.interleaved.clear();
        let expected = self.frames * self.channels as u64;
        let truncated = |e: hound::Error| {
            Error::audio(
                &self.path,
                format!("the file ends early or is corrupt ({e}); the header promises {expected} samples"),
                "re-export or re-record the file; a partial download or an interrupted write truncates WAVs",
            )
        };
        let read: std::result::Result<(), hound::Error> = match self.format {
            SampleFormat::F32 => {
                self.reader.samples::<f32>().take(n).try_for_each(|s| s.map(|v| self.interleaved.push(v)))
            }
            SampleFormat::I16 => self
                .reader
                .samples::<i32>()
                .take(n)
                .try_for_each(|s| s.map(|v| self.interleaved.push(v as f32 / 32_768.0))),
            SampleFormat::I24 => self
                .reader
                .samples::<i32>()
                .take(n)
                .try_for_each(|s| s.map(|v| self.interleaved.push(v as f32 / 8_388_608.0))),
        };
        read.map_err(truncated)?;
        if self.interleaved.len() < n {
            return Err(truncated(hound::Error::IoError(std::io::ErrorKind::UnexpectedEof.into())));
        }
        if let Some(i) = self.interleaved.iter().position(|x| !x.is_finite()) {
            let sample = self.position * self.channels as u64 + i as u64;
            return Err(Error::audio(
                &self.path,
                format!("sample {sample} (frame {}) is NaN or infinite", sample / self.channels as u64),
                "fix the program that wrote it; fxmatch only processes finite audio",
            ));
        }
        for (i, frame) in self.interleaved.chunks_exact(self.channels).enumerate() {
            for (c, &s) in frame.iter().enumerate() {
                out[c][i] = s;
            }
        }
        self.position += want as u64;
        Ok(want)
    }
}

impl StereoSource for WavReader {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn frames(&self) -> u64 {
        self.frames
    }

    fn read_stereo(&mut self, left: &mut [f32], right: &mut [f32]) -> Result<usize> {
        let n = if self.channels == 1 {
            let n = self.read_block(&mut [&mut *left])?;
            right[..n].copy_from_slice(&left[..n]);
            n
        } else {
            self.read_block(&mut [&mut *left, &mut *right])?
        };
        Ok(n)
    }
}

/// Frames [`read_wav`] reads per block.
const READ_BLOCK: usize = 1 << 16;

/// Read a mono or stereo WAV file into a buffer, with its format. The whole file is held in
/// memory: for long files use [`WavReader`], or [`read_wav_capped`] to refuse them.
pub fn read_wav(path: impl AsRef<Path>) -> Result<(AudioBuffer, SampleFormat)> {
    read_all(WavReader::open(path)?)
}

/// [`read_wav`], refusing (before reading) a file of more than [`MAX_WHOLE_FILE_FRAMES`]
/// frames; `what` names the file's role in the message ("input", "reference").
pub fn read_wav_capped(path: impl AsRef<Path>, what: &str) -> Result<(AudioBuffer, SampleFormat)> {
    let reader = WavReader::open(path)?;
    if reader.frames() > MAX_WHOLE_FILE_FRAMES {
        return Err(Error::audio(
            reader.path(),
            format!(
                "the {what} is {:.1} minutes at {} Hz ({:.1} M frames); fxmatch holds at most {:.1} M frames per \
                 {what} in memory (5 minutes at 48 kHz)",
                reader.seconds() / 60.0,
                reader.sample_rate(),
                reader.frames() as f64 / 1e6,
                MAX_WHOLE_FILE_FRAMES as f64 / 1e6
            ),
            "use an excerpt, e.g. `sox IN.wav OUT.wav trim 0 5:00` (a match listens to --segment seconds; \
             render the whole file afterwards with `fxmatch render --params`, which streams any length)",
        ));
    }
    read_all(reader)
}

/// Most frames read whole where a file must be held in memory: match inputs and references,
/// the daemon's references. 5 minutes at 48 kHz: a match on a stereo input that long peaks
/// near 350 MB (the samples, and the search's per-frame energy table).
pub const MAX_WHOLE_FILE_FRAMES: u64 = 300 * 48_000;

fn read_all(mut reader: WavReader) -> Result<(AudioBuffer, SampleFormat)> {
    let channels = reader.channels();
    // Reserved for what the file can hold, not what its header promises (which may be more).
    let on_disk =
        std::fs::metadata(reader.path()).map_or(0, |m| m.len()) / (channels as u64 * reader.format().bytes());
    let capacity = reader.frames().min(on_disk) as usize;
    let mut buf = AudioBuffer {
        sample_rate: reader.sample_rate(),
        channels: (0..channels).map(|_| Vec::with_capacity(capacity)).collect(),
    };
    let mut block = vec![vec![0.0f32; READ_BLOCK]; channels];
    loop {
        let mut slices: Vec<&mut [f32]> = block.iter_mut().map(|b| b.as_mut_slice()).collect();
        let n = reader.read_block(&mut slices)?;
        if n == 0 {
            break;
        }
        for (dst, src) in buf.channels.iter_mut().zip(&block) {
            dst.extend_from_slice(&src[..n]);
        }
    }
    let format = reader.format();
    Ok((buf, format))
}

/// A WAV file written block by block into a staged temporary ([`AtomicFile`]): it appears at its
/// path only on [`WavWriter::commit`] (or when the caller commits [`WavWriter::finish`]'s file),
/// and on any error or drop before that nothing is left. Integer formats are clipped to full
/// scale.
pub struct WavWriter {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    out: AtomicFile,
    format: SampleFormat,
    channels: usize,
    bytes: u64,
}

impl WavWriter {
    /// Stage a WAV at `path` ([`AtomicFile::create`] checks the path).
    pub fn create(
        path: impl AsRef<Path>,
        channels: usize,
        sample_rate: u32,
        format: SampleFormat,
    ) -> Result<Self> {
        Self::stage(AtomicFile::create(path.as_ref())?, channels, sample_rate, format)
    }

    /// Write a WAV into an already staged file.
    pub fn stage(
        mut out: AtomicFile,
        channels: usize,
        sample_rate: u32,
        format: SampleFormat,
    ) -> Result<Self> {
        let path = out.target().to_path_buf();
        if !(1..=2).contains(&channels) {
            return Err(Error::invalid(format!("cannot write {channels} channels"), "write mono or stereo"));
        }
        let (bits, sample_format) = match format {
            SampleFormat::I16 => (16, hound::SampleFormat::Int),
            SampleFormat::I24 => (24, hound::SampleFormat::Int),
            SampleFormat::F32 => (32, hound::SampleFormat::Float),
        };
        let spec =
            hound::WavSpec { channels: channels as u16, sample_rate, bits_per_sample: bits, sample_format };
        let file = out.file().try_clone().map_err(|e| Error::write(&path, e))?;
        let writer =
            hound::WavWriter::new(BufWriter::new(file), spec).map_err(|e| wav_write_error(&path, e))?;
        Ok(Self { writer: Some(writer), out, format, channels, bytes: 0 })
    }

    /// Refuse, before any work, an output of `frames` frames that the WAV format cannot hold.
    pub fn check_fits(path: &Path, frames: u64, channels: usize, format: SampleFormat) -> Result<()> {
        let bytes = frames.saturating_mul(channels as u64 * format.bytes());
        if bytes > MAX_WAV_DATA_BYTES {
            return Err(Error::invalid(
                format!(
                    "{}: {frames} frames of {channels}-channel {format:?} are {bytes} bytes, more than a WAV \
                     file holds (4 GiB)",
                    path.display()
                ),
                "write a smaller format (--format i16 or i24), or split the input (e.g. `sox IN.wav OUT.wav trim 0 3600`)",
            ));
        }
        Ok(())
    }

    /// Append frames: one slice per channel, all of one length.
    pub fn write(&mut self, channels: &[&[f32]]) -> Result<()> {
        assert_eq!(channels.len(), self.channels, "one slice per channel");
        let frames = channels[0].len();
        let path = self.out.target().to_path_buf();
        self.bytes += (frames * self.channels) as u64 * self.format.bytes();
        // hound counts the data size in 32 bits; past that it would write a corrupt file.
        if self.bytes > MAX_WAV_DATA_BYTES {
            return Err(Error::invalid(
                format!("{}: the output grew past the 4 GiB a WAV file holds", path.display()),
                "write a smaller format (--format i16 or i24), or split the input",
            ));
        }
        let w = self.writer.as_mut().expect("open until finish");
        for i in 0..frames {
            for ch in channels {
                let s = ch[i];
                let r = match self.format {
                    SampleFormat::F32 => w.write_sample(s),
                    SampleFormat::I16 => w.write_sample((s.clamp(-1.0, 1.0) * 32_767.0).round() as i16),
                    SampleFormat::I24 => w.write_sample((s.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32),
                };
                r.map_err(|e| wav_write_error(&path, e))?;
            }
        }
        Ok(())
    }

    /// Complete the header and return the staged file, not yet in place (to commit together
    /// with other outputs, see [`crate::fsutil::commit_all`]).
    pub fn finish(mut self) -> Result<AtomicFile> {
        let w = self.writer.take().expect("open until finish");
        w.finalize().map_err(|e| wav_write_error(self.out.target(), e))?;
        Ok(self.out)
    }

    /// Complete the file and put it in place.
    pub fn commit(self) -> Result<()> {
        self.finish()?.commit()
    }
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
    WavWriter::check_fits(path, audio.frames() as u64, audio.channels.len(), format)?;
    let mut w = WavWriter::create(path, audio.channels.len(), audio.sample_rate, format)?;
    let channels: Vec<&[f32]> = audio.channels.iter().map(Vec::as_slice).collect();
    w.write(&channels)?;
    w.commit()
}

fn wav_write_error(path: &Path, e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(io) => Error::write(path, io),
        other => {
            Error::audio(path, format!("cannot encode WAV: {other}"), "write 16/24-bit int or 32-bit float")
        }
    }
}
