//! `[chunker]` and `[barge_in]`: how a reply is cut into clauses and when
//! the person may interrupt it. Each section's schema, checks and the typed
//! settings it resolves to, together.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use assistant_pipeline::{BargeInMode, BargeInSettings, ChunkerSettings};
use serde::Deserialize;

/// `[chunker]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkerSection {
    /// The first clause ends at the first `, ; :` or sentence end once it
    /// has this many characters: speech starts early.
    pub first_clause_min_chars: usize,
    /// A clause longer than this is cut at its last comma or space.
    pub max_clause_chars: usize,
}

impl Default for ChunkerSection {
    fn default() -> Self {
        let d = ChunkerSettings::default();
        Self {
            first_clause_min_chars: d.first_clause_min_chars,
            max_clause_chars: d.max_clause_chars,
        }
    }
}

impl ChunkerSection {
    pub(super) fn validate(&self, path: &Path) -> Result<()> {
        let file = path.display();
        if !(1..=200).contains(&self.first_clause_min_chars) {
            bail!(
                "{file}: chunker.first_clause_min_chars = {} must be between 1 and 200 (12 is the default)",
                self.first_clause_min_chars
            );
        }
        if !(20..=2000).contains(&self.max_clause_chars) || self.max_clause_chars < self.first_clause_min_chars {
            bail!(
                "{file}: chunker.max_clause_chars = {} must be between 20 and 2000 and not below first_clause_min_chars (300 is the default)",
                self.max_clause_chars
            );
        }
        Ok(())
    }

    /// The chunker's settings.
    #[must_use]
    pub fn settings(&self) -> ChunkerSettings {
        ChunkerSettings {
            first_clause_min_chars: self.first_clause_min_chars,
            max_clause_chars: self.max_clause_chars,
        }
    }
}

/// `[barge_in]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BargeInSection {
    /// `"off"`, `"guarded"` or `"always"`.
    pub mode: String,
    /// Milliseconds the level must stay up before the reply pauses.
    pub onset_ms: u32,
    /// Seconds the sound must last, with words, to cancel the reply.
    pub min_speech_s: f32,
    /// Seconds after which a pause that brought no words resumes the reply.
    pub resume_after_s: f32,
    /// The quietest level that can be someone speaking, in dBFS.
    pub min_level_dbfs: f32,
    /// How far above the room (and the assistant's own echo) speech must be, in dB.
    pub margin_db: f32,
}

impl Default for BargeInSection {
    fn default() -> Self {
        let d = BargeInSettings::default();
        Self {
            mode: d.mode.name().to_owned(),
            onset_ms: u32::try_from(d.onset.as_millis()).unwrap_or(40),
            min_speech_s: d.min_speech.as_secs_f32(),
            resume_after_s: d.resume_after.as_secs_f32(),
            min_level_dbfs: d.min_level_dbfs,
            margin_db: d.margin_db,
        }
    }
}

impl BargeInSection {
    pub(super) fn validate(&self, path: &Path) -> Result<()> {
        self.settings(path).map(|_| ())
    }

    /// The barge-in settings.
    ///
    /// # Errors
    /// A value out of range, naming the file and the key.
    pub fn settings(&self, path: &Path) -> Result<BargeInSettings> {
        let file = path.display();
        let Some(mode) = BargeInMode::from_name(&self.mode) else {
            bail!(
                "{file}: barge_in.mode = {:?} is not one of \"off\", \"guarded\" (the default: ignores the assistant's own voice) or \"always\" (headphones)",
                self.mode
            );
        };
        if !(20..=1000).contains(&self.onset_ms) {
            bail!(
                "{file}: barge_in.onset_ms = {} must be between 20 and 1000 (40 is the default)",
                self.onset_ms
            );
        }
        for (key, value, range) in [
            ("min_speech_s", self.min_speech_s, 0.0..=5.0),
            ("resume_after_s", self.resume_after_s, 0.2..=10.0),
            ("min_level_dbfs", self.min_level_dbfs, -90.0..=0.0),
            ("margin_db", self.margin_db, 0.0..=40.0),
        ] {
            if !(value.is_finite() && range.contains(&value)) {
                bail!(
                    "{file}: barge_in.{key} = {value} must be between {} and {}",
                    range.start(),
                    range.end()
                );
            }
        }
        Ok(BargeInSettings {
            mode,
            onset: Duration::from_millis(u64::from(self.onset_ms)),
            min_speech: millis(self.min_speech_s),
            resume_after: millis(self.resume_after_s),
            min_level_dbfs: self.min_level_dbfs,
            margin_db: self.margin_db,
        })
    }
}

/// Seconds from a profile as a duration, to the millisecond (so `0.3` is
/// 300 ms, not the 300.000012 ms of the nearest `f32`).
fn millis(seconds: f32) -> Duration {
    Duration::from_millis((f64::from(seconds) * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::super::Profile;

    fn parse(extra: &str) -> anyhow::Result<Profile> {
        let text = format!("[asr]\ntransducer = \"asr/x\"\n{extra}");
        Profile::parse(&text, std::path::Path::new("/p/mine.toml"))
    }

    #[test]
    fn defaults_resolve_to_the_pipeline_defaults() {
        let profile = parse("").unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            profile.chunker.settings(),
            assistant_pipeline::ChunkerSettings::default()
        );
        let barge = profile
            .barge_in
            .settings(&profile.path)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(barge, assistant_pipeline::BargeInSettings::default());
    }

    #[test]
    fn values_are_read_and_mistakes_name_the_file_line_and_key() {
        let profile =
            parse("[barge_in]\nmode = \"always\"\nresume_after_s = 2.5\n[chunker]\nfirst_clause_min_chars = 20\n")
                .unwrap_or_else(|e| panic!("{e:#}"));
        let barge = profile
            .barge_in
            .settings(&profile.path)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(barge.mode, assistant_pipeline::BargeInMode::Always);
        assert_eq!(barge.resume_after, std::time::Duration::from_millis(2500));
        assert_eq!(profile.chunker.settings().first_clause_min_chars, 20);

        let err = |extra: &str| parse(extra).err().map(|e| format!("{e:#}")).unwrap_or_default();
        let wrong_mode = err("[barge_in]\nmode = \"sometimes\"\n");
        assert!(
            wrong_mode.contains("/p/mine.toml") && wrong_mode.contains("barge_in.mode"),
            "{wrong_mode}"
        );
        let unknown = err("[barge_in]\nmode = \"off\"\nonset = 3\n");
        assert!(
            unknown.starts_with("/p/mine.toml:5:") && unknown.contains("onset"),
            "{unknown}"
        );
        let wrong_type = err("[chunker]\nmax_clause_chars = \"long\"\n");
        assert!(wrong_type.starts_with("/p/mine.toml:4:"), "{wrong_type}");
        let range = err("[barge_in]\nmin_speech_s = 9\n");
        assert!(range.contains("barge_in.min_speech_s = 9"), "{range}");
        let order = err("[chunker]\nfirst_clause_min_chars = 100\nmax_clause_chars = 50\n");
        assert!(order.contains("chunker.max_clause_chars"), "{order}");
    }
}
