//! Voices by name: `voices/NAME.toml` says which models.lock entries hold a
//! Piper voice's model and config, and what the voice is (language, quality,
//! speakers), so a profile or `--voice NAME` can pick it without paths.
//!
//! Resolving a voice verifies both files against models.lock (size and
//! sha256), reads the config and checks it against the metadata, so a
//! catalogue entry that names the wrong files is caught at start-up, not by
//! a voice that sounds wrong.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use assistant_models::{Lock, Status, Store};
use assistant_tts::voice::VoiceConfig;
use serde::Deserialize;

use crate::models::Locations;

/// One voice's metadata (`voices/NAME.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceEntry {
    /// One line for listings.
    pub description: String,
    /// The voice's language, as Piper's catalogue writes it (`en_US`).
    pub language: String,
    /// Piper's quality tier: `x_low`, `low`, `medium` or `high`.
    pub quality: String,
    /// The audio rate of the voice, in Hz (checked against its config).
    pub sample_rate: u32,
    /// Speaker names of a multi-speaker voice, in id order; empty for one speaker.
    #[serde(default)]
    pub speakers: Vec<String>,
    /// The models.lock name of the ONNX model.
    pub model: String,
    /// The models.lock name of the `.onnx.json` config.
    pub config: String,
    /// The voice's name (the file stem; set after parsing).
    #[serde(skip)]
    pub name: String,
    /// Where the metadata was read from (set after parsing).
    #[serde(skip)]
    pub path: PathBuf,
}

/// A voice whose files are installed and verified.
#[derive(Debug)]
pub struct ResolvedVoice {
    /// The ONNX model.
    pub model: PathBuf,
    /// Its config, read and checked against the metadata.
    pub config: VoiceConfig,
}

/// The user's voices (`$XDG_CONFIG_HOME/assistantd/voices`, else
/// `~/.config/assistantd/voices`), which shadow the shipped ones.
fn user_dir() -> Option<PathBuf> {
    crate::shipped::user_config_dir().map(|d| d.join("voices"))
}

impl VoiceEntry {
    /// Finds a voice by name (the first `NAME.toml` on the search path).
    ///
    /// # Errors
    /// If there is no such voice (the message lists the known ones), or its
    /// file does not parse (`path:line: message`).
    pub fn find(name: &str) -> Result<Self> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            bail!("{name:?} is not a voice name; `assistantd voices` lists them");
        }
        let user = user_dir();
        if let Some(dir) = &user {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                return Self::read(&path);
            }
        }
        if let Some((_, text)) = crate::shipped::VOICES.iter().find(|(n, _)| *n == name) {
            return Self::parse(text, &crate::shipped::path(&format!("voices/{name}.toml")));
        }
        let known: Vec<String> = list()?.into_iter().map(|v| v.name).collect();
        bail!(
            "no voice {name:?} (looked in {}the shipped voices); known voices: {}",
            user.map(|d| format!("{} and ", d.display())).unwrap_or_default(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )
    }

    /// Reads one metadata file.
    ///
    /// # Errors
    /// If it cannot be read or parsed, or says something impossible.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses metadata text; `path` names it in errors, and its stem is the
    /// voice's name.
    ///
    /// # Errors
    /// As [`VoiceEntry::read`].
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut entry: Self = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let line = text[..offset.min(text.len())].matches('\n').count() + 1;
            anyhow::anyhow!("{}:{line}: {}", path.display(), e.message().trim())
        })?;
        entry.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        entry.path = path.to_path_buf();
        if entry.sample_rate == 0 {
            bail!("{}: sample_rate must be the voice's rate in Hz, not 0", path.display());
        }
        Ok(entry)
    }

    /// Verifies the voice's files in `store` against `lock`, reads the config
    /// and checks it against this metadata.
    ///
    /// # Errors
    /// If a file is unknown to the lock, not installed or corrupt (expected
    /// and actual sha256), or the config disagrees with the metadata.
    pub fn resolve(&self, lock: &Lock, store: &Store) -> Result<ResolvedVoice> {
        let model = self.verified(lock, store, &self.model)?;
        Ok(ResolvedVoice {
            model,
            config: self.read_config(lock, store)?,
        })
    }

    /// The voice's config alone (all `phonemize` needs), verified against
    /// `lock` and checked against this metadata.
    ///
    /// # Errors
    /// As [`VoiceEntry::resolve`], for the config file.
    pub fn read_config(&self, lock: &Lock, store: &Store) -> Result<VoiceConfig> {
        let config_path = self.verified(lock, store, &self.config)?;
        let config = VoiceConfig::read(&config_path)?;
        let mismatch = |what: String| {
            anyhow::anyhow!(
                "voice {}: {} says {what}; fix the metadata or the models.lock entries it names",
                self.name,
                self.path.display()
            )
        };
        if config.sample_rate != self.sample_rate {
            return Err(mismatch(format!(
                "sample_rate {}, but its config {} says {}",
                self.sample_rate,
                config_path.display(),
                config.sample_rate
            )));
        }
        let speakers = usize::try_from(config.num_speakers).unwrap_or(usize::MAX).max(1);
        if speakers != self.speakers.len().max(1) {
            return Err(mismatch(format!(
                "{} speaker(s), but its config {} has {speakers}",
                self.speakers.len().max(1),
                config_path.display()
            )));
        }
        if let Some(unknown) = self
            .speakers
            .iter()
            .find(|s| speakers > 1 && !config.speaker_id_map.contains_key(*s))
        {
            return Err(mismatch(format!(
                "a speaker {unknown:?} that the config's speaker_id_map lacks"
            )));
        }
        Ok(config)
    }

    fn verified(&self, lock: &Lock, store: &Store, name: &str) -> Result<PathBuf> {
        store
            .resolve(lock, name)
            .with_context(|| format!("voice {} ({})", self.name, self.path.display()))
    }
}

/// Every voice, by name: the user's, and the shipped ones they do not shadow.
///
/// # Errors
/// If a metadata file does not parse.
pub fn list() -> Result<Vec<VoiceEntry>> {
    let mut voices: Vec<VoiceEntry> = Vec::new();
    if let Some(Ok(read)) = user_dir().map(std::fs::read_dir) {
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            voices.push(VoiceEntry::read(&path)?);
        }
    }
    for (name, text) in crate::shipped::VOICES {
        if !voices.iter().any(|v| v.name == *name) {
            voices.push(VoiceEntry::parse(
                text,
                &crate::shipped::path(&format!("voices/{name}.toml")),
            )?);
        }
    }
    voices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(voices)
}

/// `assistantd voices`: every voice, its language and quality, and whether
/// its files are installed and intact.
///
/// # Errors
/// If the lock or a metadata file cannot be read, or output fails.
pub fn print_list(at: &Locations, json: bool, out: &mut dyn Write) -> Result<()> {
    let (lock, store) = at.open()?;
    for voice in list()? {
        let mut states = Vec::new();
        for name in [&voice.model, &voice.config] {
            states.push(match lock.find(name) {
                Err(e) => format!("not in models.lock ({e})"),
                Ok((entry, _)) => match store.status(entry) {
                    Status::Verified { .. } => "installed".to_owned(),
                    Status::Missing => "not installed".to_owned(),
                    Status::Corrupt(e) => format!("corrupt: {e}"),
                },
            });
        }
        let state = if states.iter().all(|s| s == "installed") {
            "installed".to_owned()
        } else if states.iter().all(|s| s == "not installed") {
            format!(
                "not installed (assistantd models fetch {} {})",
                voice.model, voice.config
            )
        } else {
            format!("model {}; config {}", states[0], states[1])
        };
        if json {
            let row = serde_json::json!({
                "name": voice.name, "language": voice.language, "quality": voice.quality,
                "sample_rate": voice.sample_rate, "speakers": voice.speakers,
                "description": voice.description, "model": voice.model, "config": voice.config,
                "state": state,
            });
            writeln!(out, "{row}")?;
        } else {
            writeln!(
                out,
                "{:<24} {:<6} {:<7} {}\n{:<24} {state}",
                voice.name, voice.language, voice.quality, voice.description, ""
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_voices_name_pinned_files() {
        let lock =
            Lock::read(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models.lock"))).expect("models.lock");
        let voices = list().expect("voices/*.toml parse");
        for shipped in [
            "en_US-joe-medium",
            "en_US-lessac-medium",
            "en_US-amy-medium",
            "en_GB-alan-medium",
        ] {
            assert!(voices.iter().any(|v| v.name == shipped), "{shipped}: {voices:?}");
        }
        for voice in &voices {
            for name in [&voice.model, &voice.config] {
                assert!(
                    lock.find(name).is_ok(),
                    "{}: {name} is not in models.lock",
                    voice.path.display()
                );
            }
        }
    }

    #[test]
    fn an_unknown_voice_lists_the_known_ones() {
        let err = VoiceEntry::find("xx_XX-nobody-low")
            .expect_err("no such voice")
            .to_string();
        assert!(
            err.contains("known voices:") && err.contains("en_US-lessac-medium"),
            "{err}"
        );
        let err = VoiceEntry::find("../configs/jarvis").expect_err("a path").to_string();
        assert!(err.contains("not a voice name"), "{err}");
    }

    #[test]
    fn metadata_mistakes_name_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "description = \"x\"\nlanguage = \"en_US\"\nquality = \"medium\"\nsample_rate = \"fast\"\nmodel = \"m\"\nconfig = \"c\"\n",
        )
        .expect("write");
        let err = VoiceEntry::read(&path).expect_err("bad rate").to_string();
        assert!(err.starts_with(&format!("{}:4:", path.display())), "{err}");
    }
}
