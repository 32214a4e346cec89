//! Profiles: one TOML file per assistant (`configs/jarvis.toml`).
//!
//! A profile names its models by their models.lock names; turning it into
//! stage configurations resolves those names in the model store and
//! verifies each file (size and sha256, the digest cached by size and mtime
//! so this stays fast), which is the daemon's start-up check. Mistakes in
//! the file are reported with its path and line.
//!
//! This module owns the [`Profile`] itself: finding it (a path, the user's
//! config folder, the shipped profiles), reading it and parsing it, with
//! errors as `file:line: message`. Each section lives in its own module with
//! its schema, its checks and what it resolves to, so that a setting is
//! read, checked and used in one place:
//!
//! - `asr`: `[asr]`, `[asr.endpoint]`, `[asr.vad]` → [`Profile::listen_config`];
//! - `tts`: `[tts]` → [`Profile::speak_config`];
//! - `llm`: `[llm]`, `[llm.options]` → [`Profile::think_config`];
//! - `audio`: `[audio]` → the devices and their buffers;
//! - `turns`: `[chunker]` and `[barge_in]` → the turn loop's settings.
//!
//! Everything public is re-exported here, so callers name it
//! `crate::profile::…` whichever file it lives in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

mod asr;
mod audio;
mod llm;
mod tts;
mod turns;

pub use asr::{AsrOverrides, AsrSection, EndpointSection, VadSection};
pub use audio::AudioSection;
pub use llm::{BackendName, LlmOptions, LlmOverrides, LlmSection, ThinkConfig};
pub use tts::{SpeakConfig, SpeakerChoice, TtsOverrides, TtsSection};
pub use turns::{BargeInSection, ChunkerSection};

/// A parsed profile.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The listening stage.
    pub asr: AsrSection,
    /// The speaking stage (absent: `assistantd say` needs `--voice` or `--model`).
    #[serde(default)]
    pub tts: Option<TtsSection>,
    /// The thinking stage (absent: the defaults of [`LlmSection`], which
    /// need a model from the command line).
    #[serde(default)]
    pub llm: Option<LlmSection>,
    /// The sound devices (absent: the system defaults).
    #[serde(default)]
    pub audio: AudioSection,
    /// How replies are cut into clauses (absent: the defaults).
    #[serde(default)]
    pub chunker: ChunkerSection,
    /// When the assistant lets itself be interrupted (absent: guarded).
    #[serde(default)]
    pub barge_in: BargeInSection,
    /// Where the profile was read from (set after parsing).
    #[serde(skip)]
    pub path: PathBuf,
}

impl Profile {
    /// Finds a profile: an existing file path, else `NAME.toml` in
    /// `$XDG_CONFIG_HOME/assistantd/` (or `~/.config/assistantd/`), else
    /// the shipped profile of that name (compiled in from `configs/`).
    ///
    /// # Errors
    /// If no such profile exists, or it does not parse.
    pub fn load(name: &str) -> Result<Self> {
        let direct = Path::new(name);
        if direct.is_file() {
            return Self::read(direct);
        }
        let mut looked = Vec::new();
        if let Some(dir) = crate::shipped::user_config_dir() {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                return Self::read(&path);
            }
            looked.push(path.display().to_string());
        }
        if let Some((_, text)) = crate::shipped::PROFILES.iter().find(|(n, _)| *n == name) {
            return Self::parse(text, &crate::shipped::path(&format!("configs/{name}.toml")));
        }
        let shipped: Vec<&str> = crate::shipped::PROFILES.iter().map(|(n, _)| *n).collect();
        bail!(
            "no profile {name:?}: looked for {} and the shipped profiles ({}); give a file path or one of those names",
            looked.join(", "),
            shipped.join(", ")
        )
    }

    /// The profile's name: its file's stem (`jarvis` for `configs/jarvis.toml`),
    /// which is how models.lock's `profiles` keys and `--profile` name it.
    #[must_use]
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map_or_else(|| self.path.display().to_string(), |s| s.to_string_lossy().into_owned())
    }

    /// Reads and parses one profile file.
    ///
    /// # Errors
    /// If it cannot be read, or with `path:line: message` if it does not parse.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses profile text; `path` is used in errors and for relative paths.
    ///
    /// # Errors
    /// `path:line: message` naming the first mistake.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut profile: Self = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let line = text[..offset.min(text.len())].matches('\n').count() + 1;
            anyhow::anyhow!("{}:{line}: {}", path.display(), e.message().trim())
        })?;
        profile.path = path.to_path_buf();
        if let Some(tts) = &profile.tts {
            tts.validate(path)?;
        }
        profile.audio.validate(path)?;
        profile.chunker.validate(path)?;
        profile.barge_in.validate(path)?;
        if let Some(llm) = &profile.llm {
            llm.validate(path)?;
        }
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voices::VoiceEntry;

    /// Each `(setting, needle)` under `[section]` is refused with a message
    /// that starts with the file's name and contains `needle`.
    pub(super) fn assert_refused(section: &str, extra: &str, cases: &[(&str, &str)]) {
        for (setting, needle) in cases {
            let text = format!("[asr]\ntransducer = \"t\"\n[{section}]\n{extra}{setting}\n");
            let err = Profile::parse(&text, Path::new("configs/mine.toml"))
                .expect_err(setting)
                .to_string();
            assert!(
                err.starts_with("configs/mine.toml:") && err.contains(needle),
                "{setting}: {err}"
            );
        }
    }

    #[test]
    fn the_shipped_jarvis_profile_parses() {
        let profile = Profile::load("jarvis").expect("configs/jarvis.toml");
        let tts = profile.tts.as_ref().expect("jarvis speaks");
        assert_eq!(tts.voice, "en_US-joe-medium");
        assert!(VoiceEntry::find(&tts.voice).is_ok(), "its voice is in voices/");
        assert_eq!(profile.asr.transducer, "asr/streaming-zipformer-en");
        assert_eq!(profile.asr.vad.model, "silero-vad/v4");
        assert!((profile.asr.endpoint.silence_after_text_s - 0.6).abs() < 1e-6);
        assert!((profile.asr.vad.min_speech_s - 0.25).abs() < 1e-6);
        let lock =
            assistant_models::Lock::parse(crate::shipped::MODELS_LOCK, Path::new("models.lock")).expect("the lock");
        let empty = tempfile::tempdir().expect("a temporary folder");
        let store = assistant_models::Store::new(empty.path());
        let think = profile
            .think_config(&LlmOverrides::default(), &lock, &store)
            .expect("jarvis thinks");
        // auto: Ollama if it answers, else the embedded model (none is
        // installed in an empty store: that is said, not an error).
        assert_eq!(think.server.backend, assistant_llm::Backend::Ollama);
        assert_eq!(think.server.model, "llama3.2");
        let none = think
            .fallback
            .as_ref()
            .and_then(|f| f.as_ref().err())
            .expect("no embedded model installed");
        assert!(
            none.contains("llm/qwen2.5-0.5b-instruct-q4_k_m") && none.contains("models fetch"),
            "{none}"
        );
        assert!(
            think
                .system_prompt
                .is_some_and(|p| p.starts_with("You are Jarvis") && !p.contains('\\'))
        );
        assert!(think.warm_up);
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let text = "[asr]\ntransducer = \"x\"\n\n[asr.endpoint]\nsilence_after_text = 0.5\n";
        let err = Profile::parse(text, Path::new("configs/mine.toml")).expect_err("unknown key");
        let message = err.to_string();
        assert!(message.starts_with("configs/mine.toml:5:"), "{message}");
        assert!(message.contains("silence_after_text"), "{message}");
        let err = Profile::parse("[asr]\ntransducer = 3\n", Path::new("p.toml")).expect_err("type");
        assert!(err.to_string().starts_with("p.toml:2:"), "{err}");
    }
}
