//! The crate's error type. Every error names what went wrong, where, and how to fix it.

use std::fmt;
use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a file an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.path.display(), line),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Everything that can go wrong in fxmatch, each with a fix a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {action} failed: {source}\n  fix: {fix}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was attempted ("reading", "writing").
        action: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
        /// What to do about it.
        fix: String,
    },
    /// A chain, params or config file is malformed or names something that does not exist.
    #[error("{location}: {message}\n  fix: {fix}")]
    Config {
        /// File and line.
        location: Location,
        /// What is wrong.
        message: String,
        /// What to do about it.
        fix: String,
    },
    /// An audio file is unreadable, truncated or in a format fxmatch does not take.
    #[error("{path}: {message}\n  fix: {fix}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// What to do about it.
        fix: String,
    },
    /// An argument or value is invalid (no file involved).
    #[error("{message}\n  fix: {fix}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do about it.
        fix: String,
    },
}

impl Error {
    /// An [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Invalid { message: message.into(), fix: fix.into() }
    }

    /// An [`Error::Config`] at `path`, `line`.
    pub fn config(
        path: impl Into<PathBuf>,
        line: Option<usize>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Error::Config {
            location: Location { path: path.into(), line },
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// An [`Error::Audio`] for `path`.
    pub fn audio(path: impl Into<PathBuf>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Audio { path: path.into(), message: message.into(), fix: fix.into() }
    }

    /// An [`Error::Io`] while reading `path`.
    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let fix = match source.kind() {
            std::io::ErrorKind::NotFound => "check the path; relative paths start from the current directory",
            std::io::ErrorKind::PermissionDenied => "make the file readable by this user",
            _ => "check that the file exists and is readable",
        };
        Error::Io { path: path.into(), action: "reading", source, fix: fix.into() }
    }

    /// What went wrong, without the file and line an error may name (those are in its
    /// `Display`): for passing a cause on under another location or with more context.
    pub fn message(&self) -> String {
        match self {
            Error::Io { action, source, .. } => format!("{action} failed: {source}"),
            Error::Config { message, .. } | Error::Audio { message, .. } | Error::Invalid { message, .. } => {
                message.clone()
            }
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> &str {
        match self {
            Error::Io { fix, .. }
            | Error::Config { fix, .. }
            | Error::Audio { fix, .. }
            | Error::Invalid { fix, .. } => fix,
        }
    }

    /// An [`Error::Io`] while writing `path`.
    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            action: "writing",
            source,
            fix: "check that the folder exists, is writable and the disk is not full".into(),
        }
    }
}

/// 1-based line number of byte `offset` in `source`.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())].iter().filter(|&&b| b == b'\n').count() + 1
}
