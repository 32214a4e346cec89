//! Models you can trust.
//!
//! The most common complaint about local voice tools is model set-up, and
//! most of them download without any checksum. assistantd pins every model
//! file in `models.lock` (name, canonical URL, size, sha256, licence, the
//! profiles that use it), and this crate is the only code that reads that
//! file, installs model files, or checks them:
//!
//! - [`lock`]: parses and validates `models.lock`; mistakes are reported
//!   with the file and line.
//! - [`store`]: where installed files live (`$XDG_DATA_HOME/assistantd/models`
//!   by default) and [`Store::verify`], which checks size and sha256 and
//!   caches the digest by size and mtime so the daemon's start-up stays fast.
//! - [`fetch`]: installs a file from a mirror folder or its URL, hashing
//!   while it streams into a temporary file, resuming an interrupted
//!   download where the server allows, and renaming into place only after
//!   the digest matches.

pub mod fetch;
pub mod lock;
pub mod store;

pub use fetch::{Downloader, FetchOptions, Fetched, Progress, Source};
pub use lock::{DigestKind, Lock, Member, ModelEntry, RegistryPart};
pub use store::{Status, Store};

use std::path::PathBuf;

use thiserror::Error;

/// Why a model could not be resolved, installed or trusted.
#[derive(Debug, Error)]
pub enum ModelsError {
    /// `models.lock` is not valid TOML or breaks a rule.
    #[error("{path}:{line}: {message}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// 1-based line of the mistake.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No entry has this name.
    #[error("models.lock has no model named {name:?}; `assistantd models list` shows the names")]
    UnknownModel {
        /// The name asked for.
        name: String,
    },
    /// A file's sha256 differs from the pinned one.
    #[error(
        "{path} has sha256 {actual}, but models.lock pins {expected} for {name}; it is corrupt or altered: reinstall it with `assistantd models fetch {name}`"
    )]
    DigestMismatch {
        /// The model's name.
        name: String,
        /// The file checked.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The digest of the file.
        actual: String,
    },
    /// A file's size differs from the pinned one.
    #[error(
        "{path} is {actual} bytes, but models.lock pins {expected} bytes for {name}; reinstall it with `assistantd models fetch {name}`"
    )]
    SizeMismatch {
        /// The model's name.
        name: String,
        /// The file checked.
        path: PathBuf,
        /// The pinned size.
        expected: u64,
        /// The file's size.
        actual: u64,
    },
    /// The model is not installed.
    #[error("{name} is not installed (expected at {path}); install it with `assistantd models fetch {name}`")]
    NotInstalled {
        /// The model's name.
        name: String,
        /// Where it would be.
        path: PathBuf,
    },
    /// models.lock pins no digest for this file.
    #[error(
        "models.lock pins no sha256 for {name}; refusing to install an unverified file. Pass --trust-new to install it and record the digest it has"
    )]
    UnknownDigest {
        /// The model's name.
        name: String,
    },
    /// The mirror folder does not hold the file.
    #[error("the mirror {mirror} has no file for {name} (looked for {})", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotInMirror {
        /// The model's name.
        name: String,
        /// The mirror folder.
        mirror: PathBuf,
        /// The paths tried.
        looked: Vec<PathBuf>,
    },
    /// The server could not be reached or broke off.
    #[error(
        "cannot download {name} from {url}: {reason}. Offline? Install from a local copy with --mirror DIR (or ASSISTANT_MODEL_MIRROR=DIR)"
    )]
    Network {
        /// The model's name.
        name: String,
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("cannot download {name}: {url} answered HTTP {status}")]
    HttpStatus {
        /// The model's name.
        name: String,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The disk filled up; the partial file was removed.
    #[error(
        "the disk holding {path} is full; the partial download was removed. Free space (the file needs {needed} bytes) or choose another models folder (ASSISTANTD_MODELS_DIR)"
    )]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// The file's full size.
        needed: u64,
    },
    /// A verified archive could not be unpacked as models.lock describes it.
    #[error("cannot unpack {path}, the archive of {name}: {reason}")]
    Archive {
        /// The model's name.
        name: String,
        /// The archive.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A model file is not what its format says it should be.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other file-system failure. The OS error is part of the message,
    /// not a separate source, so `{:#}` does not print it twice.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
}

impl ModelsError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| Self::Io { path, error }
    }
}
