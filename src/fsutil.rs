//! File writes that never leave a half-written file behind.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temporary file beside `path` that becomes `path` on [`AtomicFile::commit`] and is removed
/// if dropped before that. Readers never see a partial file, even after a crash.
pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Create the temporary file.
    pub fn create(path: &Path) -> Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
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

    /// Flush, fsync and rename over the target.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("the file is open until commit");
        file.sync_all().map_err(|e| Error::write(&self.target, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::write(&self.target, e))?;
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

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.file().write_all(bytes).map_err(|e| Error::write(path, e))?;
    f.commit()
}
