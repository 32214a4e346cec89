//! Installing a model file from a mirror folder or its URL.
//!
//! Bytes stream into `<file>.part` beside the destination while being hashed;
//! the part is renamed into place only after its size and sha256 match the
//! pin. An interrupted HTTP download keeps its part and resumes with a
//! `Range` request next time (a server that ignores ranges gets a fresh
//! download). A full disk removes the part and says so.
//!
//! An archive entry (`.tar.bz2`) is verified the same way as a whole, then
//! unpacked on a blocking thread: only the members models.lock lists are
//! kept, each streamed into its own part file, checked against its own size
//! and digest, and renamed into place; then the archive is deleted.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::store::hex;
use crate::{Member, ModelEntry, ModelsError, Store};

/// Where the bytes come from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A local folder holding the files (air-gapped machines, CI).
    Mirror(&'a Path),
    /// The entry's URL.
    Http(&'a Downloader),
}

/// An HTTP client for model files (connection pooling, proxies from the
/// environment, a connect timeout; no overall timeout, since model files
/// can be large).
#[derive(Clone, Debug)]
pub struct Downloader {
    client: reqwest::Client,
}

impl Downloader {
    /// A client with a 30 s connect timeout.
    ///
    /// # Errors
    /// [`ModelsError::Network`] if the TLS backend cannot be initialized.
    pub fn new() -> Result<Self, ModelsError> {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("assistantd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ModelsError::Network {
                name: "(any)".into(),
                url: String::new(),
                reason: describe(&e),
            })?;
        Ok(Self { client })
    }
}

/// Receives progress while a file is installed.
pub trait Progress {
    /// A transfer of `total` bytes begins, `already` of them kept from an
    /// earlier attempt.
    fn start(&mut self, name: &str, total: u64, already: u64);
    /// `bytes` more arrived.
    fn advance(&mut self, bytes: u64);
    /// The transfer ended (successfully or not).
    fn finish(&mut self);
}

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: &str, _: u64, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// How to install.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchOptions {
    /// Install a file models.lock pins no digest for, recording the digest seen.
    pub trust_new: bool,
    /// Re-install even if a verified copy is present.
    pub force: bool,
}

/// What [`fetch`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// A verified copy was already installed.
    AlreadyInstalled(PathBuf),
    /// The file was installed and verified.
    Installed {
        /// Where it is.
        path: PathBuf,
        /// Bytes transferred by this call.
        transferred: u64,
        /// Bytes kept from an interrupted earlier download.
        resumed_from: u64,
    },
    /// A file with no pinned digest was installed with `--trust-new`.
    Trusted {
        /// Where it is.
        path: PathBuf,
        /// The digest now recorded for it.
        sha256: String,
    },
}

/// Installs `entry` into `store` from `source`.
///
/// # Errors
/// [`ModelsError::UnknownDigest`] for an unpinned file without `trust_new`;
/// [`ModelsError::NotInMirror`], [`ModelsError::Network`],
/// [`ModelsError::HttpStatus`] when the bytes cannot be had;
/// [`ModelsError::SizeMismatch`] or [`ModelsError::DigestMismatch`] when
/// they are wrong (nothing is installed); [`ModelsError::DiskFull`] or
/// [`ModelsError::Io`] for file-system failures.
pub async fn fetch(
    store: &Store,
    entry: &ModelEntry,
    source: Source<'_>,
    options: FetchOptions,
    progress: &mut dyn Progress,
) -> Result<Fetched, ModelsError> {
    let dest = store.path(entry);
    if !options.force && store.verify_fully(entry).is_ok() {
        return Ok(Fetched::AlreadyInstalled(dest));
    }
    let expected = store.expected_digest(entry);
    if expected.is_none() && !options.trust_new {
        return Err(ModelsError::UnknownDigest {
            name: entry.name.clone(),
        });
    }
    let dir = store.root().join(&entry.name);
    tokio::fs::create_dir_all(&dir).await.map_err(ModelsError::io(&dir))?;
    let part = dir.join(format!("{}.part", entry.file_name()));

    let mut sink = PartFile::open(&part, entry.size).await?;
    let transfer = match source {
        Source::Mirror(mirror) => match sink.truncate().await {
            Ok(()) => copy_from_mirror(mirror, entry, &mut sink, progress).await,
            Err(e) => Err(e),
        },
        Source::Http(downloader) => download(&downloader.client, entry, &mut sink, progress).await,
    };
    let resumed_from = match transfer {
        Ok(resumed_from) => resumed_from,
        Err(error) => {
            // tokio finishes file writes on a blocking thread: wait for the
            // last one, so the part holds every byte received and the next
            // attempt resumes from the right offset.
            sink.settle().await;
            return Err(error);
        }
    };
    let (size, digest) = sink.close().await?;

    let mismatch = if size != entry.size && expected.is_some() {
        Some(ModelsError::SizeMismatch {
            name: entry.name.clone(),
            path: part.clone(),
            expected: entry.size,
            actual: size,
        })
    } else {
        expected
            .as_ref()
            .filter(|want| **want != digest)
            .map(|want| ModelsError::DigestMismatch {
                name: entry.name.clone(),
                path: part.clone(),
                expected: want.clone(),
                actual: digest.clone(),
            })
    };
    if let Some(error) = mismatch {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(error);
    }
    if entry.is_archive() {
        let unpacked = unpack(store, entry, &part, progress).await;
        let _ = tokio::fs::remove_file(&part).await;
        unpacked?;
    } else {
        tokio::fs::rename(&part, &dest).await.map_err(ModelsError::io(&dest))?;
        store.record_verified(&dest, &digest);
    }
    if expected.is_none() {
        store.record_trusted(entry, &digest, size)?;
        return Ok(Fetched::Trusted {
            path: dest,
            sha256: digest,
        });
    }
    Ok(Fetched::Installed {
        path: dest,
        transferred: size - resumed_from,
        resumed_from,
    })
}

/// Unpacks a verified archive's members into the store, off the async
/// runtime, reporting progress in unpacked bytes.
async fn unpack(
    store: &Store,
    entry: &ModelEntry,
    archive: &Path,
    progress: &mut dyn Progress,
) -> Result<(), ModelsError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(64);
    let task = {
        let (store, entry, archive) = (store.clone(), entry.clone(), archive.to_path_buf());
        tokio::task::spawn_blocking(move || unpack_blocking(&store, &entry, &archive, &tx))
    };
    progress.start(&format!("{} (unpacking)", entry.name), entry.installed_size(), 0);
    while let Some(bytes) = rx.recv().await {
        progress.advance(bytes);
    }
    progress.finish();
    task.await.map_err(|e| ModelsError::Archive {
        name: entry.name.clone(),
        path: archive.to_path_buf(),
        reason: format!("the unpacking thread failed: {e}"),
    })?
}

fn unpack_blocking(
    store: &Store,
    entry: &ModelEntry,
    archive: &Path,
    progress: &tokio::sync::mpsc::Sender<u64>,
) -> Result<(), ModelsError> {
    use std::io::{Read, Write};
    let broken = |reason: String| ModelsError::Archive {
        name: entry.name.clone(),
        path: archive.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(archive).map_err(ModelsError::io(archive))?;
    let mut tar = tar::Archive::new(bzip2::read::BzDecoder::new(std::io::BufReader::new(file)));
    let mut pending: Vec<&Member> = entry.members.iter().collect();
    let items = tar.entries().map_err(|e| broken(e.to_string()))?;
    for item in items {
        if pending.is_empty() {
            break;
        }
        let mut item = item.map_err(|e| broken(e.to_string()))?;
        let inner = item
            .path()
            .map_err(|e| broken(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let inner = inner.trim_start_matches("./");
        let Some(index) = pending.iter().position(|m| m.path == inner) else {
            continue;
        };
        let member = pending.swap_remove(index);
        if !item.header().entry_type().is_file() {
            return Err(broken(format!("its member {inner} is not a regular file")));
        }
        let key = crate::store::member_key(entry, member);
        let dest = store.member_path(entry, member);
        let part = dest.with_file_name(format!("{}.part", member.file_name()));
        let mut out = std::fs::File::create(&part).map_err(ModelsError::io(&part))?;
        let mut hasher = Sha256::new();
        let mut size = 0_u64;
        let mut buf = vec![0_u8; 1 << 20];
        let copied: Result<(), ModelsError> = loop {
            let n = match item.read(&mut buf) {
                Ok(0) => break out.sync_all().map_err(|e| disk_error(&part, member.size, e)),
                Ok(n) => n,
                Err(e) => break Err(broken(format!("reading its member {inner}: {e}"))),
            };
            if let Err(e) = out.write_all(&buf[..n]) {
                break Err(disk_error(&part, member.size, e));
            }
            hasher.update(&buf[..n]);
            size += n as u64;
            let _ = progress.blocking_send(n as u64);
        };
        let digest = hex(&hasher.finalize());
        let mismatch = copied.err().or_else(|| {
            if size != member.size {
                Some(ModelsError::SizeMismatch {
                    name: key.clone(),
                    path: part.clone(),
                    expected: member.size,
                    actual: size,
                })
            } else {
                member
                    .sha256
                    .as_ref()
                    .filter(|want| **want != digest)
                    .map(|want| ModelsError::DigestMismatch {
                        name: key.clone(),
                        path: part.clone(),
                        expected: want.clone(),
                        actual: digest.clone(),
                    })
            }
        });
        if let Some(error) = mismatch {
            let _ = std::fs::remove_file(&part);
            return Err(error);
        }
        std::fs::rename(&part, &dest).map_err(ModelsError::io(&dest))?;
        store.record_verified(&dest, &digest);
        if member.sha256.is_none() {
            store.record_member(entry, member, &digest)?;
        }
    }
    if pending.is_empty() {
        Ok(())
    } else {
        let missing: Vec<&str> = pending.iter().map(|m| m.path.as_str()).collect();
        Err(broken(format!("it has no member {}", missing.join(", "))))
    }
}

/// A write failure while unpacking: a full disk removes the part file.
fn disk_error(part: &Path, needed: u64, error: std::io::Error) -> ModelsError {
    if error.raw_os_error() == Some(ENOSPC) {
        let _ = std::fs::remove_file(part);
        ModelsError::DiskFull {
            path: part.to_path_buf(),
            needed,
        }
    } else {
        ModelsError::io(part)(error)
    }
}

/// Candidate paths of an entry inside a mirror folder, in lookup order.
#[must_use]
pub fn mirror_candidates(mirror: &Path, entry: &ModelEntry) -> Vec<PathBuf> {
    vec![
        mirror.join(&entry.name).join(entry.file_name()),
        mirror.join(entry.file_name()),
    ]
}

async fn copy_from_mirror(
    mirror: &Path,
    entry: &ModelEntry,
    sink: &mut PartFile,
    progress: &mut dyn Progress,
) -> Result<u64, ModelsError> {
    let looked = mirror_candidates(mirror, entry);
    let Some(found) = looked.iter().find(|p| p.is_file()) else {
        return Err(ModelsError::NotInMirror {
            name: entry.name.clone(),
            mirror: mirror.to_path_buf(),
            looked,
        });
    };
    let mut file = tokio::fs::File::open(found).await.map_err(ModelsError::io(found))?;
    progress.start(&entry.name, entry.size, 0);
    let mut buf = vec![0_u8; 1 << 20];
    let result = async {
        loop {
            let n = file.read(&mut buf).await.map_err(ModelsError::io(found))?;
            if n == 0 {
                return Ok(0);
            }
            sink.write(&buf[..n]).await?;
            progress.advance(n as u64);
        }
    }
    .await;
    progress.finish();
    result
}

async fn download(
    client: &reqwest::Client,
    entry: &ModelEntry,
    sink: &mut PartFile,
    progress: &mut dyn Progress,
) -> Result<u64, ModelsError> {
    let network = |reason: String| ModelsError::Network {
        name: entry.name.clone(),
        url: entry.url.clone(),
        reason,
    };
    let kept = sink.len;
    let mut request = client.get(&entry.url);
    if kept > 0 && kept < entry.size {
        request = request.header(reqwest::header::RANGE, format!("bytes={kept}-"));
    }
    let mut response = request.send().await.map_err(|e| network(describe(&e.without_url())))?;
    let status = response.status();
    let resumed_from =
        if status == reqwest::StatusCode::PARTIAL_CONTENT && kept > 0 && content_range_start(&response) == Some(kept) {
            sink.rehash().await?;
            kept
        } else if status.is_success() {
            sink.truncate().await?;
            0
        } else {
            return Err(ModelsError::HttpStatus {
                name: entry.name.clone(),
                url: entry.url.clone(),
                status: status.as_u16(),
            });
        };
    progress.start(&entry.name, entry.size, resumed_from);
    let result = async {
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            network(format!(
                "{} after {} bytes; run the command again to resume",
                describe(&e.without_url()),
                sink.len
            ))
        })? {
            sink.write(&chunk).await?;
            progress.advance(chunk.len() as u64);
        }
        Ok(resumed_from)
    }
    .await;
    progress.finish();
    result
}

fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.parse().ok()
}

/// "No space left on device" on Linux.
const ENOSPC: i32 = 28;

/// The whole chain of a reqwest error (its Display stops at the top).
fn describe(error: &reqwest::Error) -> String {
    assistant_core::error::chain(error)
}

/// The `.part` file: appends, hashes what it holds, and turns a full disk
/// into [`ModelsError::DiskFull`] after removing itself.
struct PartFile {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    len: u64,
    needed: u64,
}

impl PartFile {
    async fn open(path: &Path, needed: u64) -> Result<Self, ModelsError> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .await
            .map_err(ModelsError::io(path))?;
        let len = file.metadata().await.map_err(ModelsError::io(path))?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            hasher: Sha256::new(),
            len,
            needed,
        })
    }

    async fn truncate(&mut self) -> Result<(), ModelsError> {
        self.file.set_len(0).await.map_err(ModelsError::io(&self.path))?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    /// Hashes the bytes kept from an earlier attempt before appending more.
    async fn rehash(&mut self) -> Result<(), ModelsError> {
        let mut kept = tokio::fs::File::open(&self.path)
            .await
            .map_err(ModelsError::io(&self.path))?;
        let mut buf = vec![0_u8; 1 << 20];
        self.hasher = Sha256::new();
        loop {
            let n = kept.read(&mut buf).await.map_err(ModelsError::io(&self.path))?;
            if n == 0 {
                return Ok(());
            }
            self.hasher.update(&buf[..n]);
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ModelsError> {
        if let Err(e) = self.file.write_all(bytes).await {
            return Err(self.fail(e).await);
        }
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Waits for writes still in flight (the part stays for a resume).
    async fn settle(&mut self) {
        let _ = self.file.flush().await;
    }

    async fn close(mut self) -> Result<(u64, String), ModelsError> {
        if let Err(e) = self.file.sync_all().await {
            return Err(self.fail(e).await);
        }
        Ok((self.len, hex(&self.hasher.finalize())))
    }

    async fn fail(&mut self, error: std::io::Error) -> ModelsError {
        if error.raw_os_error() == Some(ENOSPC) {
            let _ = tokio::fs::remove_file(&self.path).await;
            ModelsError::DiskFull {
                path: self.path.clone(),
                needed: self.needed,
            }
        } else {
            ModelsError::Io {
                path: self.path.clone(),
                error,
            }
        }
    }
}
