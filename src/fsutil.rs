//! File writes that never leave a half-written file behind, never replace something that is not
//! a regular file, and clean up after a crash.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temporary file beside `path` that becomes `path` on [`AtomicFile::commit`] and is removed
/// if dropped before that. Readers never see a partial file, even after a crash.
///
/// The temporary is named `.NAME.PID.tmp` ([`temporary_path`]); a process killed before its
/// commit leaves it behind, and [`remove_stale_temporaries`] recognises it by that name.
pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Check `path` with [`check_output_path`] and create the temporary file.
    pub fn create(path: &Path) -> Result<Self> {
        check_output_path(path)?;
        let tmp = temporary_path(path);
        let file = File::create(&tmp).map_err(|e| Error::write(path, e))?;
        Ok(Self { tmp, target: path.to_path_buf(), file: Some(file) })
    }

    /// The temporary file, to write into.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("the file is open until commit")
    }

    /// Path of the temporary file.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The path this file becomes on commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flush, fsync and rename over the target.
    pub fn commit(mut self) -> Result<()> {
        self.sync()?;
        self.rename()
    }

    fn sync(&mut self) -> Result<()> {
        let file = self.file.as_mut().expect("the file is open until commit");
        file.flush().and_then(|()| file.sync_all()).map_err(|e| Error::write(&self.target, e))
    }

    fn rename(&mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::write(&self.target, e))?;
        self.file = None; // renamed: nothing left for Drop to remove
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not all filesystems allow syncing a directory.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Commit several staged files together: all are synced first, then renamed; if a rename fails,
/// the targets already renamed in this call are removed and the rest are discarded, so the
/// outputs appear all together or (short of an OS failure between renames) not at all.
pub fn commit_all(files: Vec<AtomicFile>) -> Result<()> {
    let mut files = files;
    for f in &mut files {
        f.sync()?;
    }
    let mut done: Vec<PathBuf> = Vec::new();
    for f in &mut files {
        if let Err(e) = f.rename() {
            for p in &done {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        done.push(f.target.clone());
    }
    Ok(())
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.file().write_all(bytes).map_err(|e| Error::write(path, e))?;
    f.commit()
}

/// The temporary file [`AtomicFile`] writes for `path`: `.NAME.PID.tmp` in the same folder
/// (same filesystem, so the rename is atomic).
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Refuse an output path that writing would harm or that cannot become a file:
/// `-` (standard output is not supported), a path inside `/dev`, `/proc` or `/sys`, anything
/// that exists and is not a regular file (directory, character or block device, FIFO, socket,
/// or a link to one), and a path whose folder does not exist. Outputs are written to a
/// temporary file and renamed over the target, which would replace a device or a pipe with a
/// regular file.
pub fn check_output_path(path: &Path) -> Result<()> {
    let fix_file = "give the path of a regular file, e.g. out.wav; to send the output to a device or pipe, \
                    write a file and copy it there (`cat out.wav > DEVICE`)";
    if path.as_os_str() == "-" {
        return Err(Error::invalid(
            "`-` (standard output) is not supported as an output: outputs are written whole and renamed into place",
            "give a file path, then use the file (e.g. `fxmatch render … out.wav && cat out.wav`)",
        ));
    }
    if path.as_os_str().is_empty() || path.file_name().is_none() {
        return Err(Error::invalid(format!("`{}` does not name a file", path.display()), fix_file));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(Error::invalid(
                format!(
                    "{} is {}, not a regular file; fxmatch only writes regular files",
                    path.display(),
                    file_kind(&meta)
                ),
                if meta.is_dir() {
                    "give a file name inside that folder, e.g. DIR/out.wav"
                } else {
                    fix_file
                },
            ));
        }
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = parent.canonicalize().map_err(|e| Error::Io {
        path: parent.to_path_buf(),
        action: "opening the output folder",
        source: e,
        fix: format!("create the folder first (`mkdir -p {}`) or write elsewhere", parent.display()),
    })?;
    if !dir.is_dir() {
        return Err(Error::invalid(format!("{} is not a folder", parent.display()), fix_file));
    }
    if in_system_folder(&dir) {
        return Err(system_folder_error(path, &dir, fix_file));
    }
    Ok(())
}

/// `path` would be created inside `folder`, a system folder (`/dev`, `/proc`, `/sys`).
fn system_folder_error(path: &Path, folder: &Path, fix: &str) -> Error {
    Error::invalid(
        format!(
            "{} is in {}, a system folder of devices; fxmatch does not create files there",
            path.display(),
            folder.display()
        ),
        fix,
    )
}

/// Refuse an output folder that is `-`, exists and is not a folder, or lies in a system folder
/// (`/dev`, `/proc`, `/sys`); checked before the work, so a long job does not fail at its end.
/// A missing folder is fine (the writer creates it).
pub fn check_output_dir(dir: &Path) -> Result<()> {
    let fix = "give a folder for the results, e.g. results/";
    if dir.as_os_str() == "-" {
        return Err(Error::invalid("`-` (standard output) is not supported as an output folder", fix));
    }
    if let Ok(meta) = std::fs::metadata(dir) {
        if !meta.is_dir() {
            return Err(Error::invalid(
                format!("{} is {}, not a folder", dir.display(), file_kind(&meta)),
                fix,
            ));
        }
    }
    // The nearest folder that exists decides where the new ones would go.
    let existing = dir.ancestors().filter(|a| !a.as_os_str().is_empty()).find(|a| a.exists());
    let real = existing.unwrap_or(Path::new(".")).canonicalize().map_err(|e| Error::read(dir, e))?;
    if in_system_folder(&real) {
        return Err(system_folder_error(dir, &real, fix));
    }
    Ok(())
}

/// `/dev` (but its ordinary tmpfs `/dev/shm`), `/proc` and `/sys` hold devices and kernel files.
fn in_system_folder(dir: &Path) -> bool {
    ["/dev", "/proc", "/sys"].iter().any(|d| dir.starts_with(d)) && !dir.starts_with("/dev/shm")
}

/// A file's kind in words, for messages.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Remove the temporaries that [`AtomicFile`]s of crashed processes left in `dir`
/// (`.NAME.PID.tmp`, regular files only) and return their paths. A temporary is kept when its
/// process may still be writing it: this process, or a live process running the same program
/// (`/proc/PID/exe`, or its name when that link is unreadable). A PID that is gone, or reused by
/// another program, marks a stale file. Without `/proc` nothing can be told, and nothing is
/// removed.
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    let proc_ = Path::new("/proc/self");
    if !proc_.exists() {
        return Ok(Vec::new());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::read(dir, e)),
    };
    let mut removed = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_pid) else { continue };
        if !entry.file_type().is_ok_and(|t| t.is_file()) || process_may_own(pid) {
            continue;
        }
        let path = entry.path();
        std::fs::remove_file(&path).map_err(|e| Error::write(&path, e))?;
        removed.push(path);
    }
    removed.sort();
    Ok(removed)
}

/// The PID in a temporary's name `.NAME.PID.tmp`, when `name` has that form.
fn temporary_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (stem, pid) = rest.rsplit_once('.')?;
    if stem.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is this one, or alive and running this program.
fn process_may_own(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !proc_dir.exists() {
        return false;
    }
    match (std::fs::read_link(proc_dir.join("exe")), std::fs::read_link("/proc/self/exe")) {
        (Ok(theirs), Ok(ours)) => theirs == ours,
        // Another user's process: its link is unreadable, its name is not.
        _ => {
            let comm = |p: &Path| std::fs::read_to_string(p.join("comm")).ok();
            let theirs = comm(&proc_dir);
            theirs.is_none() || theirs == comm(Path::new("/proc/self"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        assert_eq!(temporary_pid(".state.toml.1234.tmp"), Some(1234));
        assert_eq!(temporary_pid(".warm.params.toml.7.tmp"), Some(7));
        assert_eq!(temporary_pid(".1234.tmp"), None);
        assert_eq!(temporary_pid("state.toml.1234.tmp"), None);
        assert_eq!(temporary_pid(".state.toml.12a4.tmp"), None);
        assert_eq!(temporary_pid(".notes.tmp"), None);
        let p = temporary_path(Path::new("dir/state.toml"));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(temporary_pid(name), Some(std::process::id()));
    }

    #[test]
    fn outputs_that_are_not_regular_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_output_path(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a directory") && e.contains("fix:"), "{e}");
        let e = check_output_path(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(e.contains("/dev/null") && e.contains("character device"), "{e}");
        let e = check_output_path(Path::new("/dev/new.wav")).unwrap_err().to_string();
        assert!(e.contains("system folder"), "{e}");
        let e = check_output_path(Path::new("-")).unwrap_err().to_string();
        assert!(e.contains("standard output"), "{e}");
        let e = check_output_path(&dir.path().join("missing/out.wav")).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("mkdir"), "{e}");
        std::fs::write(dir.path().join("old.wav"), b"x").unwrap();
        check_output_path(&dir.path().join("old.wav")).unwrap();
        check_output_path(&dir.path().join("new.wav")).unwrap();
        check_output_path(Path::new("relative-new.wav")).unwrap();
    }

    #[test]
    fn commit_all_writes_every_file_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        let mut fa = AtomicFile::create(&a).unwrap();
        let mut fb = AtomicFile::create(&b).unwrap();
        fa.file().write_all(b"a").unwrap();
        fb.file().write_all(b"b").unwrap();
        commit_all(vec![fa, fb]).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"a");
        assert_eq!(std::fs::read(&b).unwrap(), b"b");

        // The second target turned into a folder after staging: its rename fails, the first
        // target (renamed already) is removed, and no temporary stays.
        let (c, d) = (dir.path().join("c.txt"), dir.path().join("d"));
        let fc = AtomicFile::create(&c).unwrap();
        let fd = AtomicFile::create(&d).unwrap();
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("keep"), b"k").unwrap();
        assert!(commit_all(vec![fc, fd]).is_err());
        assert!(!c.exists());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "b.txt", "d"]);
    }
}
