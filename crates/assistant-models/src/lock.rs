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
//! profiles = ["jarvis"]
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::ModelsError;

/// Where a pinned digest comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestKind {
    /// Hashed by this project from a copy of the file.
    Computed,
    /// Taken from a published listing (named in `digest_source`).
    Published,
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
}

impl ModelEntry {
    /// The file's name: the last segment of its URL.
    #[must_use]
    pub fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.name)
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
            if name.is_empty()
                || name.starts_with('/')
                || name
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == "..")
            {
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
            let sha = entry.sha256.get_ref();
            let sha256 = if sha.is_empty() {
                None
            } else if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                Some(sha.clone())
            } else {
                return Err(at(
                    entry.sha256.span().start,
                    format!("sha256 {sha:?} must be 64 lower-case hex digits, or \"\" when unknown"),
                ));
            };
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

    /// The entries a profile needs.
    pub fn for_profile<'a>(&'a self, profile: &'a str) -> impl Iterator<Item = &'a ModelEntry> + 'a {
        self.models
            .iter()
            .filter(move |m| m.profiles.iter().any(|p| p == profile))
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

    #[test]
    fn the_projects_lock_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models.lock");
        let lock = Lock::read(&path).expect("models.lock parses");
        assert!(
            lock.models.iter().all(|m| m.sha256.is_some()),
            "every shipped entry is pinned"
        );
    }
}
