//! The folder installed models live in, and their verification.
//!
//! A model named `silero-vad/v4` whose URL ends in `silero_vad.onnx` lives
//! at `<root>/silero-vad/v4/silero_vad.onnx`. An archive entry is a folder,
//! `<root>/<name>/`, holding its members by file name (the archive itself
//! is deleted once they are unpacked and verified). Beside each verified file a
//! hidden sidecar (`.silero_vad.onnx.sha256`) records the digest with the
//! size and mtime it was computed for: [`Store::verify`] trusts it while
//! both are unchanged, so start-up does not re-hash gigabytes;
//! [`Store::verify_fully`] always hashes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::{Lock, Member, ModelEntry, ModelsError};

/// A model store rooted at one folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// What the store holds for an entry.
#[derive(Debug)]
pub enum Status {
    /// No file.
    Missing,
    /// Present, and its size and digest match the pin.
    Verified {
        /// Size in bytes.
        size: u64,
    },
    /// Present but wrong (the error says how).
    Corrupt(ModelsError),
}

/// Name of the file recording digests accepted with `--trust-new`.
pub const TRUSTED_FILE: &str = "trusted-digests.tsv";

impl Store {
    /// A store rooted at `root` (created when something is installed).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store's folder.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `entry` is (or would be) installed: its file, or for an
    /// archive the folder holding its members.
    #[must_use]
    pub fn path(&self, entry: &ModelEntry) -> PathBuf {
        let dir = self.root.join(&entry.name);
        if entry.is_archive() {
            dir
        } else {
            dir.join(entry.file_name())
        }
    }

    /// Where an archive's member is (or would be) installed.
    #[must_use]
    pub fn member_path(&self, entry: &ModelEntry, member: &Member) -> PathBuf {
        self.root.join(&entry.name).join(member.file_name())
    }

    /// The digest a member must have: the pinned one, or the one recorded
    /// when it was unpacked from the verified archive.
    #[must_use]
    pub fn member_digest(&self, entry: &ModelEntry, member: &Member) -> Option<String> {
        member
            .sha256
            .clone()
            .or_else(|| self.trusted_digest(&member_key(entry, member)))
    }

    /// The digest a file must have: the pinned one, or one recorded with
    /// `--trust-new` when models.lock pins none.
    #[must_use]
    pub fn expected_digest(&self, entry: &ModelEntry) -> Option<String> {
        entry.sha256.clone().or_else(|| self.trusted_digest(&entry.name))
    }

    /// Checks size and digest (of every member, for an archive), trusting a
    /// cached digest while the file's size and mtime are unchanged. Returns
    /// [`Store::path`].
    ///
    /// # Errors
    /// [`ModelsError::NotInstalled`], [`ModelsError::SizeMismatch`],
    /// [`ModelsError::DigestMismatch`], [`ModelsError::UnknownDigest`], or an I/O error.
    pub fn verify(&self, entry: &ModelEntry) -> Result<PathBuf, ModelsError> {
        self.check(entry, true)
    }

    /// Like [`Store::verify`], but always hashes the whole file.
    ///
    /// # Errors
    /// As [`Store::verify`].
    pub fn verify_fully(&self, entry: &ModelEntry) -> Result<PathBuf, ModelsError> {
        self.check(entry, false)
    }

    /// The verified path of what `name` names in `lock`: an entry's file
    /// (or an archive entry's folder), or one member of an archive entry
    /// (`<entry>/<member>`), checked as [`Store::verify`] checks.
    ///
    /// # Errors
    /// [`ModelsError::UnknownModel`], or as [`Store::verify`].
    pub fn resolve(&self, lock: &Lock, name: &str) -> Result<PathBuf, ModelsError> {
        let (entry, member) = lock.find(name)?;
        let path = self.verify(entry)?;
        Ok(member.map_or(path, |member| self.member_path(entry, member)))
    }

    /// The entry's state, for listings.
    #[must_use]
    pub fn status(&self, entry: &ModelEntry) -> Status {
        match self.verify(entry) {
            Ok(_) => Status::Verified {
                size: entry.installed_size(),
            },
            Err(ModelsError::NotInstalled { .. }) => Status::Missing,
            Err(e) => Status::Corrupt(e),
        }
    }

    fn check(&self, entry: &ModelEntry, use_cache: bool) -> Result<PathBuf, ModelsError> {
        let size_known = entry.sha256.is_some();
        if !entry.is_archive() {
            let expected = self.expected_digest(entry);
            return check_file(
                &entry.name,
                self.path(entry),
                size_known.then_some(entry.size),
                expected,
                use_cache,
            );
        }
        for member in &entry.members {
            let path = self.member_path(entry, member);
            let expected = self.member_digest(entry, member);
            check_file(
                &member_key(entry, member),
                path,
                size_known.then_some(member.size),
                expected,
                use_cache,
            )?;
        }
        Ok(self.path(entry))
    }

    pub(crate) fn record_verified(&self, path: &Path, digest: &str) {
        if let Ok(meta) = std::fs::metadata(path) {
            write_sidecar(path, digest, Stamp::of(&meta));
        }
    }

    pub(crate) fn record_trusted(&self, entry: &ModelEntry, digest: &str, size: u64) -> Result<(), ModelsError> {
        self.append_trusted(&entry.name, digest, size, &entry.url)
    }

    /// Records the digest of a member unpacked from a verified archive.
    pub(crate) fn record_member(&self, entry: &ModelEntry, member: &Member, digest: &str) -> Result<(), ModelsError> {
        let origin = format!("{}#{}", entry.url, member.path);
        self.append_trusted(&member_key(entry, member), digest, member.size, &origin)
    }

    fn append_trusted(&self, key: &str, digest: &str, size: u64, origin: &str) -> Result<(), ModelsError> {
        use std::io::Write;
        let path = self.root.join(TRUSTED_FILE);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(ModelsError::io(&path))?;
        writeln!(file, "{key}\t{digest}\t{size}\t{origin}").map_err(ModelsError::io(&path))
    }

    fn trusted_digest(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join(TRUSTED_FILE)).ok()?;
        text.lines()
            .rev()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                (fields.next()? == name).then(|| fields.next().map(str::to_owned))?
            })
            .next()
    }
}

/// Checks one installed file against a size (when it is known for sure) and
/// a digest; `name` is what error messages tell the user to re-fetch.
fn check_file(
    name: &str,
    path: PathBuf,
    size: Option<u64>,
    expected: Option<String>,
    use_cache: bool,
) -> Result<PathBuf, ModelsError> {
    let meta = match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Err(ModelsError::io(&path)(std::io::Error::other("not a regular file"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelsError::NotInstalled {
                name: name.to_owned(),
                path,
            });
        }
        Err(e) => return Err(ModelsError::io(&path)(e)),
    };
    if let Some(expected) = size.filter(|&s| s != meta.len()) {
        return Err(ModelsError::SizeMismatch {
            name: name.to_owned(),
            path,
            expected,
            actual: meta.len(),
        });
    }
    let expected = expected.ok_or_else(|| ModelsError::UnknownDigest { name: name.to_owned() })?;
    let stamp = Stamp::of(&meta);
    let cached = if use_cache {
        read_sidecar(&path).filter(|(_, s)| *s == stamp).map(|(d, _)| d)
    } else {
        None
    };
    let actual = match cached {
        Some(digest) => digest,
        None => {
            let digest = sha256_file(&path)?;
            write_sidecar(&path, &digest, stamp);
            digest
        }
    };
    if actual != expected {
        return Err(ModelsError::DigestMismatch {
            name: name.to_owned(),
            path,
            expected,
            actual,
        });
    }
    Ok(path)
}

/// How a member is named in `trusted-digests.tsv` and on the command line.
pub(crate) fn member_key(entry: &ModelEntry, member: &Member) -> String {
    format!("{}/{}", entry.name, member.name)
}

/// Size and modification time: while both are unchanged, a cached digest stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: u128,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Self {
            size: meta.len(),
            mtime_ns,
        }
    }
}

fn sidecar(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.sha256"))
}

fn read_sidecar(path: &Path) -> Option<(String, Stamp)> {
    let text = std::fs::read_to_string(sidecar(path)).ok()?;
    let mut fields = text.split_whitespace();
    let digest = fields.next()?.to_owned();
    let size = fields.next()?.parse().ok()?;
    let mtime_ns = fields.next()?.parse().ok()?;
    Some((digest, Stamp { size, mtime_ns }))
}

fn write_sidecar(path: &Path, digest: &str, stamp: Stamp) {
    // A cache: failing to write it only costs a re-hash next time.
    let _ = std::fs::write(sidecar(path), format!("{digest} {} {}\n", stamp.size, stamp.mtime_ns));
}

/// The lower-case hex sha256 of a file.
///
/// # Errors
/// [`ModelsError::Io`] if it cannot be read.
pub fn sha256_file(path: &Path) -> Result<String, ModelsError> {
    let mut file = std::fs::File::open(path).map_err(ModelsError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(ModelsError::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DigestKind;

    pub(crate) fn entry(name: &str, content: &[u8]) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            kind: "test".into(),
            url: format!("http://127.0.0.1/{}.bin", name.replace('/', "-")),
            size: content.len() as u64,
            sha256: Some(hex(&Sha256::digest(content))),
            digest: DigestKind::Computed,
            digest_source: String::new(),
            license: "MIT".into(),
            profiles: vec![],
            members: vec![],
            non_commercial: false,
            registry: vec![],
        }
    }

    #[test]
    fn verification_catches_every_kind_of_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        let content = b"model weights, honestly".to_vec();
        let e = entry("demo/model", &content);
        assert!(matches!(store.status(&e), Status::Missing));

        let path = store.path(&e);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &content).expect("write");
        assert_eq!(store.verify(&e).expect("intact"), path);

        // Same size, one byte flipped, mtime restored: the cache would miss
        // it; a full verification does not.
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime");
        let mut bad = content.clone();
        bad[3] ^= 0x20;
        std::fs::write(&path, &bad).expect("corrupt");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .expect("restore mtime");
        assert!(
            store.verify(&e).is_ok(),
            "cached digest trusted while size and mtime are unchanged"
        );
        let err = store.verify_fully(&e).expect_err("corrupt");
        let expected = e.sha256.clone().expect("pinned");
        match &err {
            ModelsError::DigestMismatch {
                expected: want, actual, ..
            } => {
                assert_eq!(want, &expected);
                assert_eq!(actual, &hex(&Sha256::digest(&bad)));
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&expected) && message.contains("assistantd models fetch demo/model"),
            "{message}"
        );
        // The full check refreshed the cache: now the fast check fails too.
        assert!(matches!(store.verify(&e), Err(ModelsError::DigestMismatch { .. })));

        std::fs::write(&path, b"short").expect("truncate");
        assert!(matches!(
            store.verify(&e),
            Err(ModelsError::SizeMismatch {
                expected: 23,
                actual: 5,
                ..
            })
        ));
    }

    #[test]
    fn unpinned_files_verify_only_against_a_trusted_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        let mut e = entry("new/voice", b"abc");
        let digest = e.sha256.take().expect("digest");
        let path = store.path(&e);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, b"abc").expect("write");
        assert!(matches!(store.verify(&e), Err(ModelsError::UnknownDigest { .. })));
        store.record_trusted(&e, &digest, 3).expect("record");
        assert_eq!(store.expected_digest(&e), Some(digest));
        assert!(store.verify_fully(&e).is_ok());
    }
}
