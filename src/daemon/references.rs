//! The reference library: a folder of WAVs (`NAME.wav`), each with a cached embedding sidecar
//! (`NAME.<metric>.json`) keyed by the metric's name and a hash of the WAV's bytes, so a
//! changed WAV is embedded again and an unchanged one never is. "Learn this tone" adds the live
//! input as a new reference. Bad WAVs are reported by name and skipped.
//!
//! A reference may also be a **set**: a subfolder `NAME/` of WAVs, clips of one production
//! (tracks of an album, takes through one rig). Its embedding is the mean of its clips' and the
//! predictor reads the mean of their descriptions, so what differs between their contents
//! averages out and their shared processing stays (three clips instead of one move the
//! prediction closer to the true processing: docs/experiments.md). Its sidecar
//! `NAME.<metric>.json` sits beside the folder and is keyed by every clip's name and hash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audio::{read_wav_capped, write_wav, AudioBuffer, SampleFormat};
use crate::error::{Error, Result};
use crate::fsutil::{remove_stale_temporaries, write_atomic};
use crate::metric::{Embedding, StyleMetric};

/// One reference: its WAV and its embedding under the library's metric.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Name (the WAV's file stem, or the set's folder name).
    pub name: String,
    /// The WAV, or the set's folder.
    pub path: PathBuf,
    /// The WAVs it is made of: the one WAV, or the set's clips sorted by name.
    pub clips: Vec<PathBuf>,
    /// Its embedding (a set: the mean of its clips').
    pub embedding: Embedding,
}

/// Whether `path` names a WAV file that is not hidden.
fn is_wav(path: &Path) -> bool {
    path.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav"))
        && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The WAVs directly in `dir`, sorted.
fn wavs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))?;
    let mut wavs: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && is_wav(p)).collect();
    wavs.sort();
    Ok(wavs)
}

/// A set's cached embedding: the mean of the clips it could use (listed), keyed by every
/// clip's name and hash.
#[derive(Serialize, Deserialize)]
struct SetSidecar {
    metric: String,
    hash: String,
    clips: Vec<PathBuf>,
    embedding: Embedding,
}

#[derive(Serialize, Deserialize)]
struct Sidecar {
    metric: String,
    /// FNV-1a 64 of the WAV's bytes, hex: detects an edited or replaced file.
    hash: String,
    embedding: Embedding,
}

/// The references in a folder, sorted by name.
pub struct ReferenceLibrary {
    dir: PathBuf,
    metric: Box<dyn StyleMetric>,
    refs: Vec<Reference>,
    /// How many embeddings the last scan computed (0 when every sidecar was current).
    pub embedded_on_scan: usize,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV-1a 64 of `bytes`, hex (a change detector, not a security hash).
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:016x}-{}", fnv1a(FNV_OFFSET, bytes), bytes.len())
}

/// [`content_hash`] of a file's bytes, read in blocks (constant memory).
pub fn content_hash_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let (mut h, mut len, mut buf) = (FNV_OFFSET, 0u64, vec![0u8; 1 << 16]);
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::read(path, e))?;
        if n == 0 {
            break;
        }
        h = fnv1a(h, &buf[..n]);
        len += n as u64;
    }
    Ok(format!("{h:016x}-{len}"))
}

/// Check a reference or preset name: plain, so it maps to one file in one folder.
pub fn check_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("`{name}` is not a usable {what} name"),
            "use 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.`",
        ))
    }
}

impl ReferenceLibrary {
    /// Open (creating the folder if needed), remove the temporaries that writes killed mid-way
    /// left there (see [`remove_stale_temporaries`]) and scan. Returns the library and one
    /// warning per WAV that could not be used (named, with the reason).
    pub fn open(dir: impl AsRef<Path>, metric: &dyn StyleMetric) -> Result<(Self, Vec<String>)> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        for path in remove_stale_temporaries(&dir)? {
            tracing::info!("removed {}, left by a write that was interrupted", path.display());
        }
        let mut lib = Self { dir, metric: metric.boxed_clone(), refs: Vec::new(), embedded_on_scan: 0 };
        let warnings = lib.rescan()?;
        Ok((lib, warnings))
    }

    /// Scan the folder again (after files were copied in by hand).
    pub fn rescan(&mut self) -> Result<Vec<String>> {
        let wavs = wavs_in(&self.dir)?;
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::read(&self.dir, e))?;
        let mut sets: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect();
        sets.sort();
        let mut refs = Vec::new();
        let mut warnings = Vec::new();
        self.embedded_on_scan = 0;
        for path in wavs {
            match self.load_one(&path) {
                Ok((r, embedded)) => {
                    self.embedded_on_scan += embedded as usize;
                    refs.push(r);
                }
                Err(e) => warnings.push(format!("reference {} skipped: {e}", path.display())),
            }
        }
        for dir in sets {
            let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if refs.iter().any(|r: &Reference| r.name == name) {
                warnings.push(format!(
                    "reference set {} skipped: {name}.wav is a reference of the same name; rename one of them",
                    dir.display()
                ));
                continue;
            }
            match self.load_set(&dir, &mut warnings) {
                Ok(Some((r, embedded))) => {
                    self.embedded_on_scan += embedded as usize;
                    refs.push(r);
                }
                Ok(None) => {}
                Err(e) => warnings.push(format!("reference set {} skipped: {e}", dir.display())),
            }
        }
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        self.refs = refs;
        Ok(warnings)
    }

    /// Load a set's embedding from its sidecar, or embed its clips and write the sidecar. A clip
    /// that cannot be used is left out with a warning; a folder without a usable clip is no
    /// reference (`None`, with a warning when it held WAVs).
    fn load_set(&mut self, dir: &Path, warnings: &mut Vec<String>) -> Result<Option<(Reference, bool)>> {
        let name = dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        check_name(&name, "reference")?;
        let clips = wavs_in(dir)?;
        if clips.is_empty() {
            return Ok(None);
        }
        // The key: every clip's name and hash, so an added, removed or edited clip is seen.
        let mut key = String::new();
        for clip in &clips {
            key += &format!(
                "{}:{};",
                clip.file_name().unwrap_or_default().to_string_lossy(),
                content_hash_file(clip)?
            );
        }
        let hash = content_hash(key.as_bytes());
        let side = self.sidecar_path(&name);
        if let Ok(text) = std::fs::read_to_string(&side) {
            if let Ok(s) = serde_json::from_str::<SetSidecar>(&text) {
                if s.metric == self.metric.fingerprint() && s.hash == hash {
                    let reference =
                        Reference { name, path: dir.to_path_buf(), clips: s.clips, embedding: s.embedding };
                    return Ok(Some((reference, false)));
                }
            }
        }
        let (mut used, mut embeddings) = (Vec::new(), Vec::new());
        for clip in clips {
            let embedded =
                read_wav_capped(&clip, "reference clip").and_then(|(audio, _)| self.embed(&audio, &clip));
            match embedded {
                Ok(e) => {
                    embeddings.push(e);
                    used.push(clip);
                }
                Err(e) => {
                    warnings.push(format!("reference clip {} left out of set {name}: {e}", clip.display()))
                }
            }
        }
        if used.is_empty() {
            warnings.push(format!("reference set {} skipped: none of its WAVs can be used", dir.display()));
            return Ok(None);
        }
        let sidecar = SetSidecar {
            metric: self.metric.fingerprint(),
            hash,
            clips: used,
            embedding: Embedding::mean(&embeddings),
        };
        let text = serde_json::to_string(&sidecar).expect("an embedding always serialises");
        if let Err(e) = write_atomic(&side, text.as_bytes()) {
            tracing::warn!(
                "reference set {name}: embedding not cached ({e}); it is recomputed at each start"
            );
        }
        let reference =
            Reference { name, path: dir.to_path_buf(), clips: sidecar.clips, embedding: sidecar.embedding };
        Ok(Some((reference, true)))
    }

    fn sidecar_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{}.json", self.metric.name()))
    }

    /// Load one WAV's embedding from its sidecar, or embed it and write the sidecar.
    fn load_one(&mut self, path: &Path) -> Result<(Reference, bool)> {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        check_name(&name, "reference")?;
        let hash = content_hash_file(path)?;
        let side = self.sidecar_path(&name);
        if let Ok(text) = std::fs::read_to_string(&side) {
            if let Ok(s) = serde_json::from_str::<Sidecar>(&text) {
                if s.metric == self.metric.fingerprint() && s.hash == hash {
                    let reference = Reference {
                        name,
                        path: path.to_path_buf(),
                        clips: vec![path.to_path_buf()],
                        embedding: s.embedding,
                    };
                    return Ok((reference, false));
                }
            }
        }
        let (audio, _) = read_wav_capped(path, "reference")?;
        let embedding = self.embed(&audio, path)?;
        let sidecar = Sidecar { metric: self.metric.fingerprint(), hash, embedding };
        let text = serde_json::to_string(&sidecar).expect("an embedding always serialises");
        // The sidecar is only a cache: a library the daemon may not write (e.g. a read-only
        // system folder) still serves its references, embedded again at each start.
        if let Err(e) = write_atomic(&side, text.as_bytes()) {
            tracing::warn!(
                "reference {name}: embedding not cached ({e}); it is recomputed at each start \
                 until the daemon's user may write {}",
                self.dir.display()
            );
        }
        let reference = Reference {
            name,
            path: path.to_path_buf(),
            clips: vec![path.to_path_buf()],
            embedding: sidecar.embedding,
        };
        Ok((reference, true))
    }

    fn embed(&mut self, audio: &AudioBuffer, path: &Path) -> Result<Embedding> {
        crate::optimize::check_audio(audio, &path.display().to_string())?;
        let (l, r) = audio.stereo_slices();
        self.metric.embed(l, r, audio.sample_rate)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All references, sorted by name.
    pub fn list(&self) -> &[Reference] {
        &self.refs
    }

    /// A reference by name; the error lists the names there are.
    pub fn get(&self, name: &str) -> Result<&Reference> {
        self.refs.iter().find(|r| r.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.refs.iter().map(|r| r.name.as_str()).collect();
            Error::invalid(
                format!("no reference called `{name}` in {}", self.dir.display()),
                if names.is_empty() {
                    "add one: copy a WAV into the folder, or learn the live input (/fxmatch/reference/add NAME)"
                        .to_string()
                } else {
                    format!("use one of: {}", names.join(", "))
                },
            )
        })
    }

    /// The name after `current` (wrapping; the first when `current` is none or unknown).
    pub fn next_name(&self, current: Option<&str>) -> Option<String> {
        let i = current.and_then(|c| self.refs.iter().position(|r| r.name == c));
        let next = match i {
            Some(i) => (i + 1) % self.refs.len(),
            None => 0,
        };
        self.refs.get(next).map(|r| r.name.clone())
    }

    /// Add `audio` as reference `name` (replacing one of that name): the WAV, then its sidecar,
    /// each written atomically, so a crash leaves either the old reference, or the new WAV
    /// without a sidecar (embedded again on the next scan).
    pub fn add(&mut self, name: &str, audio: &AudioBuffer) -> Result<&Reference> {
        check_name(name, "reference")?;
        if self.refs.iter().any(|r| r.name == name && r.path.is_dir()) {
            return Err(Error::invalid(
                format!("`{name}` is a reference set (the folder {}/)", self.dir.join(name).display()),
                "learn the tone under another name, or add the WAV to that folder by hand",
            ));
        }
        let path = self.dir.join(format!("{name}.wav"));
        let embedding = self.embed(audio, &path)?;
        write_wav(&path, audio, SampleFormat::F32)?;
        let sidecar =
            Sidecar { metric: self.metric.fingerprint(), hash: content_hash_file(&path)?, embedding };
        let text = serde_json::to_string(&sidecar).expect("an embedding always serialises");
        write_atomic(&self.sidecar_path(name), text.as_bytes())?;
        self.refs.retain(|r| r.name != name);
        self.refs.push(Reference {
            name: name.to_string(),
            path: path.clone(),
            clips: vec![path],
            embedding: sidecar.embedding,
        });
        self.refs.sort_by(|a, b| a.name.cmp(&b.name));
        self.get(name)
    }

    /// Remove reference `name`: its WAV (a set: its clips, then its folder if nothing else is
    /// left in it) and its sidecar.
    pub fn remove(&mut self, name: &str) -> Result<()> {
        let r = self.get(name)?;
        let (path, clips) = (r.path.clone(), r.clips.clone());
        for clip in &clips {
            std::fs::remove_file(clip).map_err(|e| Error::write(clip, e))?;
        }
        if path.is_dir() {
            // Only an empty folder goes: files the player put there beside the clips stay.
            let _ = std::fs::remove_dir(&path);
        }
        let _ = std::fs::remove_file(self.sidecar_path(name));
        self.refs.retain(|r| r.name != name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::MfccMetric;

    fn tone(freq: f32, seconds: f32) -> AudioBuffer {
        let n = (48_000.0 * seconds) as usize;
        let l: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                0.3 * (freq * std::f32::consts::TAU * t).sin() * (1.0 + (t * 7.0).sin()) * 0.5
            })
            .collect();
        AudioBuffer::stereo(48_000, l.clone(), l)
    }

    /// A subfolder of WAVs is one reference, a set: its embedding is the mean of its clips',
    /// cached beside it and recomputed when a clip changes; a bad clip is left out by name; a
    /// set cannot share its name with a WAV, nor be overwritten by a learned tone; removing it
    /// removes its clips and its folder.
    #[test]
    fn a_folder_of_clips_is_one_reference_set() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("album");
        std::fs::create_dir_all(&set).unwrap();
        let (a, b) = (tone(220.0, 1.0), tone(660.0, 1.5));
        write_wav(set.join("1.wav"), &a, SampleFormat::I16).unwrap();
        write_wav(set.join("2.wav"), &b, SampleFormat::I16).unwrap();
        std::fs::write(set.join("3.wav"), b"RIFF not really").unwrap();
        write_wav(dir.path().join("single.wav"), &a, SampleFormat::I16).unwrap();
        let mut metric = MfccMetric::new();
        let (lib, warnings) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(lib.list().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["album", "single"]);
        let album = lib.get("album").unwrap();
        assert_eq!(album.clips, [set.join("1.wav"), set.join("2.wav")]);
        assert!(
            warnings.len() == 1 && warnings[0].contains("3.wav") && warnings[0].contains("album"),
            "{warnings:?}"
        );
        // The clips as the library reads them (16-bit), embedded one by one and averaged.
        let embed = |m: &mut MfccMetric, p: &Path| {
            let (audio, _) = crate::audio::read_wav(p).unwrap();
            let (l, r) = audio.stereo_slices();
            m.embed(l, r, audio.sample_rate).unwrap()
        };
        let mean = Embedding::mean(&[
            embed(&mut metric, &set.join("1.wav")),
            embed(&mut metric, &set.join("2.wav")),
        ]);
        assert_eq!(album.embedding, mean);
        assert_eq!(lib.embedded_on_scan, 2, "the set and the single WAV");
        assert!(dir.path().join("album.mfcc.json").exists());

        let (again, _) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(again.embedded_on_scan, 0, "served from the sidecars");
        assert_eq!(again.get("album").unwrap().embedding, mean);
        write_wav(set.join("2.wav"), &tone(880.0, 1.5), SampleFormat::I16).unwrap();
        let (mut edited, _) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(edited.embedded_on_scan, 1, "an edited clip: the set is embedded again");
        assert_ne!(edited.get("album").unwrap().embedding, mean);

        let e = edited.add("album", &a).expect_err("a set is not overwritten").to_string();
        assert!(e.contains("reference set") && e.contains("fix:"), "{e}");
        std::fs::create_dir_all(dir.path().join("single")).unwrap();
        write_wav(dir.path().join("single").join("x.wav"), &b, SampleFormat::I16).unwrap();
        let warnings = edited.rescan().unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("single.wav is a reference of the same name")),
            "{warnings:?}"
        );
        assert_eq!(edited.get("single").unwrap().clips, [dir.path().join("single.wav")]);

        std::fs::remove_file(set.join("3.wav")).unwrap();
        edited.rescan().unwrap();
        edited.remove("album").unwrap();
        assert!(!set.exists() && !dir.path().join("album.mfcc.json").exists());
        assert!(edited.get("album").is_err());
    }

    #[test]
    fn cache_hit_miss_and_bad_wavs() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(dir.path().join("a.wav"), &tone(220.0, 1.0), SampleFormat::I16).unwrap();
        write_wav(dir.path().join("b.wav"), &tone(440.0, 1.0), SampleFormat::I16).unwrap();
        std::fs::write(dir.path().join("broken.wav"), b"RIFF not really").unwrap();
        let metric = MfccMetric::new();
        let (lib, warnings) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(lib.list().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(lib.embedded_on_scan, 2);
        let a_bytes = std::fs::read(dir.path().join("a.wav")).unwrap();
        assert_eq!(content_hash_file(&dir.path().join("a.wav")).unwrap(), content_hash(&a_bytes));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("broken.wav"), "{warnings:?}");
        assert!(dir.path().join("a.mfcc.json").exists());

        // Unchanged files: served from the sidecars.
        let (lib2, _) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(lib2.embedded_on_scan, 0);
        assert_eq!(lib2.get("a").unwrap().embedding, lib.get("a").unwrap().embedding);

        // A changed WAV is embedded again.
        write_wav(dir.path().join("a.wav"), &tone(880.0, 1.0), SampleFormat::I16).unwrap();
        let (lib3, _) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(lib3.embedded_on_scan, 1);
        assert_ne!(lib3.get("a").unwrap().embedding, lib.get("a").unwrap().embedding);

        let e = lib3.get("zzz").unwrap_err().to_string();
        assert!(e.contains("zzz") && e.contains("a, b"), "{e}");
        assert_eq!(lib3.next_name(Some("a")).as_deref(), Some("b"));
        assert_eq!(lib3.next_name(Some("b")).as_deref(), Some("a"));
        assert_eq!(lib3.next_name(None).as_deref(), Some("a"));
    }

    #[test]
    fn a_sidecar_that_cannot_be_written_leaves_the_reference_usable() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(dir.path().join("a.wav"), &tone(220.0, 1.0), SampleFormat::I16).unwrap();
        // A folder where the sidecar should go: the cache write fails even for root.
        std::fs::create_dir(dir.path().join("a.mfcc.json")).unwrap();
        std::fs::write(dir.path().join("a.mfcc.json").join("keep"), "x").unwrap();
        let metric = MfccMetric::new();
        let (lib, warnings) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(lib.list().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(lib.embedded_on_scan, 1);
        // Not cached, so embedded again next time, with the same result.
        let (again, _) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(again.embedded_on_scan, 1);
        assert_eq!(again.get("a").unwrap().embedding, lib.get("a").unwrap().embedding);
    }

    #[test]
    fn add_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let metric = MfccMetric::new();
        let (mut lib, _) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert!(lib.add("../evil", &tone(220.0, 1.0)).is_err());
        lib.add("learned", &tone(330.0, 1.0)).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["learned.mfcc.json", "learned.wav"]);
        let (again, _) = ReferenceLibrary::open(dir.path(), &metric).unwrap();
        assert_eq!(again.embedded_on_scan, 0, "the sidecar written by add is current");
        lib.remove("learned").unwrap();
        assert!(lib.list().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(lib.remove("learned").is_err());
    }

    #[test]
    fn open_removes_stale_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        // No process has a PID above the kernel's largest (2^22).
        let stale = dir.path().join(".learned.wav.4194305.tmp");
        let live = dir.path().join(format!(".learned.mfcc.json.{}.tmp", std::process::id()));
        std::fs::write(&stale, "x").unwrap();
        std::fs::write(&live, "x").unwrap();
        let (lib, warnings) = ReferenceLibrary::open(dir.path(), &MfccMetric::new()).unwrap();
        assert!(lib.list().is_empty() && warnings.is_empty(), "{warnings:?}");
        assert!(!stale.exists());
        assert!(live.exists());
    }
}
