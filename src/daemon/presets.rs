//! Presets and the last state, in the daemon's state folder:
//! `presets/NAME.params.toml` (params files, as `fxmatch match` writes them) and `state.toml`
//! (the params, the selected reference and the bypass switches), saved after every change and
//! restored on start. Every write is atomic (temporary file, fsync, rename): a kill -9 at any
//! moment leaves the old file or the new one, never half of one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::references::check_name;
use crate::chain::Params;
use crate::engine::ChainSettings;
use crate::error::{Error, Result};
use crate::fsutil::{remove_stale_temporaries, write_atomic};

/// What the daemon restores on start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonState {
    /// Every parameter of the chain, plain units.
    pub params: Params,
    /// The selected reference.
    pub reference: Option<String>,
    /// The whole chain bypassed.
    pub bypass: bool,
    /// Effects bypassed one by one (ids).
    pub bypassed_effects: BTreeSet<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    reference: Option<String>,
    #[serde(default)]
    bypass: bool,
    #[serde(default)]
    bypassed_effects: BTreeSet<String>,
    #[serde(default)]
    params: toml::Table,
}

/// The presets folder and the state file.
pub struct PresetStore {
    dir: PathBuf,
}

impl PresetStore {
    /// Open the state folder (created if missing), removing the temporaries that saves killed
    /// mid-write left there and in `presets/` (see [`remove_stale_temporaries`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let presets = dir.join("presets");
        std::fs::create_dir_all(&presets).map_err(|e| Error::write(&presets, e))?;
        for folder in [&dir, &presets] {
            for path in remove_stale_temporaries(folder)? {
                tracing::info!("removed {}, left by a save that was interrupted", path.display());
            }
        }
        Ok(Self { dir })
    }

    /// The state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The params file of preset `name`.
    pub fn preset_path(&self, name: &str) -> PathBuf {
        self.dir.join("presets").join(format!("{name}.params.toml"))
    }

    /// Save `params` as preset `name` (replacing one of that name).
    pub fn save(&self, name: &str, params: &Params) -> Result<PathBuf> {
        check_name(name, "preset")?;
        let path = self.preset_path(name);
        params.save(&path)?;
        Ok(path)
    }

    /// Load preset `name`, checked against the chain of `settings` (unknown names and bad
    /// values are errors).
    pub fn load(&self, name: &str, settings: &ChainSettings) -> Result<Params> {
        check_name(name, "preset")?;
        let path = self.preset_path(name);
        if !path.exists() {
            return Err(Error::invalid(
                format!("no preset called `{name}`"),
                format!("use one of: {} (or save one with /fxmatch/preset/save)", self.list()?.join(", ")),
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
        settings.parse_params(&text, &path)
    }

    /// Preset names, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let dir = self.dir.join("presets");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Error::read(&dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".params.toml").map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Remove preset `name`.
    pub fn remove(&self, name: &str) -> Result<()> {
        check_name(name, "preset")?;
        let path = self.preset_path(name);
        std::fs::remove_file(&path).map_err(|e| Error::write(&path, e))
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.toml")
    }

    /// Write `state.toml` atomically.
    pub fn save_state(&self, state: &DaemonState) -> Result<()> {
        let params: toml::Table = toml::from_str(&state.params.to_toml()).expect("params TOML round-trips");
        let file = StateFile {
            reference: state.reference.clone(),
            bypass: state.bypass,
            bypassed_effects: state.bypassed_effects.clone(),
            params,
        };
        let text = format!(
            "# fxmatch daemon state, written after every change and restored on start.\n{}",
            toml::to_string(&file).expect("the state always serialises")
        );
        write_atomic(&self.state_path(), text.as_bytes())
    }

    /// Read `state.toml`, checked against the chain of `settings`. `Ok(None)` when there is none yet. Params of
    /// effects or parameters the chain no longer has are errors (with the fix), so the caller
    /// can start from defaults and say why.
    pub fn load_state(&self, settings: &ChainSettings) -> Result<Option<DaemonState>> {
        let path = self.state_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::read(&path, e)),
        };
        let file: StateFile = toml::from_str(&text).map_err(|e| {
            Error::config(
                &path,
                e.span().map(|s| crate::error::line_of(&text, s.start)),
                e.message().trim().to_string(),
                "fix or delete the state file (the daemon then starts from the chain's defaults)",
            )
        })?;
        let params_text = toml::to_string(&file.params).expect("a table always serialises");
        let params = settings.parse_params(&params_text, &path)?;
        Ok(Some(DaemonState {
            params,
            reference: file.reference,
            bypass: file.bypass,
            bypassed_effects: file.bypassed_effects,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Chain, ChainSpec};

    fn chain() -> Chain {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/chains/default.toml");
        Chain::from_spec(&ChainSpec::load(path).unwrap()).unwrap()
    }

    #[test]
    fn preset_round_trip_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = PresetStore::open(dir.path()).unwrap();
        let mut c = chain();
        let x: Vec<f64> = (0..c.num_free()).map(|i| (i as f64 * 0.37) % 1.0).collect();
        c.set_normalized(&x);
        let p = c.params();
        store.save("warm", &p).unwrap();
        store.save("bright", &p).unwrap();
        assert!(store.save("../../etc/passwd", &p).is_err());
        assert_eq!(store.list().unwrap(), ["bright", "warm"]);
        let back = store.load("warm", &ChainSettings::of(&c)).unwrap();
        for (effect, values) in &p.values {
            for (param, v) in values {
                assert!((back.values[effect][param] - v).abs() <= v.abs() * 1e-6, "{effect}.{param}");
            }
        }
        let e = store.load("cold", &ChainSettings::of(&c)).unwrap_err().to_string();
        assert!(e.contains("cold") && e.contains("bright, warm"), "{e}");
        // Only the two presets: no temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path().join("presets")).unwrap().count(), 2);
        store.remove("bright").unwrap();
        assert_eq!(store.list().unwrap(), ["warm"]);
    }

    #[test]
    fn state_save_restore() {
        let dir = tempfile::tempdir().unwrap();
        let store = PresetStore::open(dir.path()).unwrap();
        let mut c = chain();
        assert_eq!(store.load_state(&ChainSettings::of(&c)).unwrap(), None);
        c.set_normalized(&vec![0.25; c.num_free()]);
        let state = DaemonState {
            params: c.params(),
            reference: Some("crunch".into()),
            bypass: true,
            bypassed_effects: ["reverb".to_string()].into_iter().collect(),
        };
        store.save_state(&state).unwrap();
        let back = store.load_state(&ChainSettings::of(&chain())).unwrap().unwrap();
        assert_eq!(back.reference, state.reference);
        assert!(back.bypass);
        assert_eq!(back.bypassed_effects, state.bypassed_effects);
        let mut c2 = chain();
        c2.apply_params(&back.params).unwrap();
        for (a, b) in c2.normalized().iter().zip(c.normalized()) {
            assert!((a - b).abs() < 1e-5);
        }
        // A state naming an effect the chain lacks: an error naming it, not a crash.
        std::fs::write(dir.path().join("state.toml"), "[params.flanger]\nrate = 1.0\n").unwrap();
        let e = store.load_state(&ChainSettings::of(&chain())).unwrap_err().to_string();
        assert!(e.contains("flanger"), "{e}");
    }

    #[test]
    fn atomic_write_survives_a_crash_before_rename() {
        // A write killed before its rename leaves only a temporary file; the old state stays whole.
        let dir = tempfile::tempdir().unwrap();
        let store = PresetStore::open(dir.path()).unwrap();
        let c = chain();
        let state = DaemonState { params: c.params(), ..Default::default() };
        store.save_state(&state).unwrap();
        let before = std::fs::read_to_string(dir.path().join("state.toml")).unwrap();
        let mut f = crate::fsutil::AtomicFile::create(&dir.path().join("state.toml")).unwrap();
        std::io::Write::write_all(f.file(), b"[params.eq]\nlow_g").unwrap();
        std::mem::forget(f); // as if killed: no commit, no cleanup
        assert_eq!(std::fs::read_to_string(dir.path().join("state.toml")).unwrap(), before);
        assert!(store.load_state(&ChainSettings::of(&c)).unwrap().is_some());
    }

    #[test]
    fn open_removes_stale_temporaries_only() {
        let dir = tempfile::tempdir().unwrap();
        let presets = dir.path().join("presets");
        std::fs::create_dir_all(&presets).unwrap();
        // No process has a PID above the kernel's largest (2^22); PID 1 runs another program.
        let dead = 4_194_305;
        let stale = [
            dir.path().join(format!(".state.toml.{dead}.tmp")),
            dir.path().join(".state.toml.1.tmp"),
            presets.join(format!(".warm.params.toml.{dead}.tmp")),
        ];
        // A save in progress in this process, and files that are not our temporaries.
        let kept = [
            dir.path().join(format!(".state.toml.{}.tmp", std::process::id())),
            presets.join(format!(".live.params.toml.{}.tmp", std::process::id())),
            dir.path().join(".notes.tmp"),
            presets.join(format!("warm.params.toml.{dead}.tmp")),
        ];
        for p in stale.iter().chain(&kept) {
            std::fs::write(p, "x").unwrap();
        }
        std::fs::write(dir.path().join("state.toml"), "").unwrap();
        PresetStore::open(dir.path()).unwrap();
        for p in &stale {
            assert!(!p.exists(), "{} removed", p.display());
        }
        for p in &kept {
            assert!(p.exists(), "{} kept", p.display());
        }
        assert!(dir.path().join("state.toml").exists());
    }
}
