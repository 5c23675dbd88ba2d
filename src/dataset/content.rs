//! The content folder: every WAV under it, loaded as stereo at the dataset's sample rate, and
//! random excerpts of it.
//!
//! Crop/pad policy: an excerpt of `frames` frames starts at a uniformly random frame of a file
//! chosen with probability proportional to its length; it comes with up to `preroll` frames of
//! the audio before it (zeros where the file starts later), so effects reach steady state before
//! the excerpt. A file shorter than the excerpt is used whole from its start and zero-padded at
//! the end. Mono files feed both channels.

use std::path::{Path, PathBuf};

use rand::Rng;
use serde::Serialize;

use crate::audio::read_wav;
use crate::error::{Error, Result};

/// One content file.
#[derive(Debug, Clone, Serialize)]
pub struct ContentFile {
    /// Path relative to the content folder.
    pub path: String,
    /// Length in frames.
    pub frames: usize,
    /// Samples, left and right.
    #[serde(skip)]
    pub channels: (Vec<f32>, Vec<f32>),
}

/// All content files, sorted by path (content id = index).
#[derive(Debug, Clone)]
pub struct Content {
    /// The files.
    pub files: Vec<ContentFile>,
    /// Cumulative frame counts, for length-weighted choice.
    cumulative: Vec<u64>,
}

/// An excerpt with its pre-roll.
#[derive(Debug, Clone)]
pub struct Excerpt {
    /// Content id.
    pub content: usize,
    /// First frame of the excerpt in the file.
    pub offset: usize,
    /// Pre-roll + excerpt, left.
    pub left: Vec<f32>,
    /// Pre-roll + excerpt, right.
    pub right: Vec<f32>,
}

fn collect_wavs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::read(dir, e))?.path();
        if path.is_dir() {
            collect_wavs(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
            out.push(path);
        }
    }
    Ok(())
}

impl Content {
    /// Loads every `*.wav` under `dir` (recursively). Errors on an empty folder, an unreadable
    /// WAV, or a file at another sample rate, naming the file and the fix.
    pub fn load(dir: &Path, sample_rate: u32) -> Result<Self> {
        let mut paths = Vec::new();
        collect_wavs(dir, &mut paths)?;
        paths.sort();
        if paths.is_empty() {
            return Err(Error::invalid(
                format!("the content folder {} holds no .wav files", dir.display()),
                "make training content first (`python3 training/make_content.py DIR`) or pass the folder that holds it",
            ));
        }
        let mut files = Vec::new();
        for path in paths {
            let (audio, _) = read_wav(&path)?;
            if audio.sample_rate != sample_rate {
                return Err(Error::audio(
                    &path,
                    format!("content is at {} Hz, the dataset at {sample_rate} Hz", audio.sample_rate),
                    format!("resample it, e.g. `sox IN.wav -r {sample_rate} OUT.wav`"),
                ));
            }
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().into_owned();
            files.push(ContentFile { path: rel, frames: audio.frames(), channels: audio.to_stereo() });
        }
        if files.iter().all(|f| f.frames == 0) {
            return Err(Error::invalid(
                format!("every .wav file in {} is empty", dir.display()),
                "make training content first (`python3 training/make_content.py DIR`)",
            ));
        }
        let mut total = 0u64;
        let cumulative = files
            .iter()
            .map(|f| {
                total += f.frames as u64;
                total
            })
            .collect();
        Ok(Self { files, cumulative })
    }

    /// Total length in frames.
    pub fn total_frames(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// A random excerpt of `frames` frames with `preroll` frames before it (see the module docs).
    pub fn excerpt(&self, frames: usize, preroll: usize, rng: &mut impl Rng) -> Excerpt {
        let r = rng.random_range(0..self.total_frames());
        let content = self.cumulative.partition_point(|&c| c <= r);
        let file = &self.files[content];
        let offset = if file.frames > frames { rng.random_range(0..=file.frames - frames) } else { 0 };
        let (l, r) = &file.channels;
        let take = |ch: &[f32]| -> Vec<f32> {
            let mut v = vec![0.0; preroll + frames];
            let start = offset as i64 - preroll as i64;
            for (i, s) in v.iter_mut().enumerate() {
                let j = start + i as i64;
                if j >= 0 && (j as usize) < ch.len() {
                    *s = ch[j as usize];
                }
            }
            v
        };
        Excerpt { content, offset, left: take(l), right: take(r) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{write_wav, AudioBuffer, SampleFormat};
    use rand::SeedableRng;

    #[test]
    fn empty_folder_wrong_rate_and_bad_wav_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = Content::load(dir.path(), 48_000).unwrap_err().to_string();
        assert!(e.contains("holds no .wav files") && e.contains("make_content.py"), "{e}");

        let sub = dir.path().join("a");
        std::fs::create_dir(&sub).unwrap();
        write_wav(sub.join("x.wav"), &AudioBuffer::silence(44_100, 1, 100), SampleFormat::I16).unwrap();
        let e = Content::load(dir.path(), 48_000).unwrap_err().to_string();
        assert!(e.contains("44100 Hz") && e.contains("sox"), "{e}");

        std::fs::remove_file(sub.join("x.wav")).unwrap();
        std::fs::write(sub.join("broken.wav"), b"RIFF not really").unwrap();
        let e = Content::load(dir.path(), 48_000).unwrap_err().to_string();
        assert!(e.contains("broken.wav") && e.contains("fix"), "{e}");
    }

    #[test]
    fn excerpts_pad_short_files_and_keep_preroll() {
        let dir = tempfile::tempdir().unwrap();
        let ramp: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        write_wav(
            dir.path().join("r.wav"),
            &AudioBuffer::stereo(48_000, ramp.clone(), ramp),
            SampleFormat::F32,
        )
        .unwrap();
        let c = Content::load(dir.path(), 48_000).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let e = c.excerpt(2000, 100, &mut rng);
        assert_eq!((e.offset, e.left.len()), (0, 2100));
        assert!(e.left[..100].iter().all(|&v| v == 0.0));
        assert_eq!(e.left[101], 0.001);
        assert!(e.left[1100..].iter().all(|&v| v == 0.0));
        for _ in 0..20 {
            let e = c.excerpt(300, 50, &mut rng);
            assert!(e.offset <= 700);
            assert_eq!(e.left[50], e.offset as f32 / 1000.0);
        }
    }
}
