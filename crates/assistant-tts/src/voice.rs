//! A Piper voice's configuration (`<voice>.onnx.json`).
//!
//! Only what synthesis needs is read; the many informational fields real
//! configs carry are ignored. A missing or ill-typed field is an error that
//! names the file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::TtsError;
use crate::espeak::Espeak;
use crate::phonemize::{PhonemeIdMap, Sentence, phonemize};

/// The parts of a Piper voice config that shape synthesis.
#[derive(Clone, Debug, PartialEq)]
pub struct VoiceConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// The model's output rate, in Hz.
    pub sample_rate: u32,
    /// How text becomes phonemes.
    pub phonemes: PhonemeSource,
    /// Default noise scale, length scale and noise width.
    pub scales: Scales,
    /// Each phoneme's ids.
    pub phoneme_id_map: PhonemeIdMap,
    /// Number of speakers (1 for a single-speaker voice).
    pub num_speakers: u32,
    /// Speaker names to ids (multi-speaker voices).
    pub speaker_id_map: BTreeMap<String, i64>,
}

/// Piper's `phoneme_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhonemeSource {
    /// espeak-ng IPA with this espeak voice (`espeak.voice`).
    Espeak {
        /// The espeak-ng voice, e.g. `en-us`.
        voice: String,
    },
    /// The text's own code points (lower-cased, NFD), for voices trained on
    /// characters.
    Text,
}

/// Piper's `inference` scales.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Scales {
    /// Noise added to the prior (`noise_scale`).
    pub noise_scale: f32,
    /// Phoneme duration multiplier (`length_scale`; above 1 is slower).
    pub length_scale: f32,
    /// Noise in the duration predictor (`noise_w`).
    pub noise_w: f32,
}

#[derive(Deserialize)]
struct Raw {
    audio: RawAudio,
    #[serde(default)]
    espeak: Option<RawEspeak>,
    inference: Scales,
    #[serde(default)]
    phoneme_type: Option<String>,
    phoneme_id_map: PhonemeIdMap,
    #[serde(default = "one")]
    num_speakers: u32,
    #[serde(default)]
    speaker_id_map: BTreeMap<String, i64>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

impl VoiceConfig {
    /// Reads a voice config.
    ///
    /// # Errors
    /// [`TtsError::VoiceConfig`] naming the file and what is missing or wrong.
    pub fn read(path: &Path) -> Result<Self, TtsError> {
        let bad = |reason: String| TtsError::VoiceConfig {
            reason: format!("{}: {reason}", path.display()),
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let raw: Raw =
            serde_json::from_str(&text).map_err(|e| bad(format!("{e} (line {}, column {})", e.line(), e.column())))?;
        let phonemes = match raw.phoneme_type.as_deref().unwrap_or("espeak") {
            "espeak" => PhonemeSource::Espeak {
                voice: raw
                    .espeak
                    .map(|e| e.voice)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad("phoneme_type is espeak but espeak.voice is missing".into()))?,
            },
            "text" => PhonemeSource::Text,
            other => return Err(bad(format!("phoneme_type {other:?} is not \"espeak\" or \"text\""))),
        };
        if raw.audio.sample_rate == 0 {
            return Err(bad("audio.sample_rate is 0".into()));
        }
        for key in ["^", "_", "$"] {
            if raw.phoneme_id_map.get(key).is_none_or(Vec::is_empty) {
                return Err(bad(format!("phoneme_id_map has no {key:?}")));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            sample_rate: raw.audio.sample_rate,
            phonemes,
            scales: raw.inference,
            phoneme_id_map: raw.phoneme_id_map,
            num_speakers: raw.num_speakers.max(1),
            speaker_id_map: raw.speaker_id_map,
        })
    }

    /// The text's sentences as this voice phonemizes them.
    ///
    /// # Errors
    /// As [`phonemize`].
    pub fn phonemize(&self, espeak: &mut Espeak, text: &str) -> Result<Vec<Sentence>, TtsError> {
        match &self.phonemes {
            PhonemeSource::Espeak { voice } => phonemize(espeak, text, voice),
            PhonemeSource::Text => {
                let sentence: Sentence = text.to_lowercase().nfd().collect();
                Ok(if sentence.is_empty() {
                    Vec::new()
                } else {
                    vec![sentence]
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, json: &str) -> PathBuf {
        let path = dir.join("voice.onnx.json");
        std::fs::write(&path, json).expect("write");
        path
    }

    #[test]
    fn missing_fields_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = VoiceConfig::read(&write(dir.path(), r#"{"audio":{"sample_rate":22050}}"#)).expect_err("missing");
        assert!(err.to_string().contains("inference"), "{err}");
        let no_voice = r#"{"audio":{"sample_rate":22050},"inference":{"noise_scale":0.667,"length_scale":1,"noise_w":0.8},
            "phoneme_id_map":{"^":[1],"_":[0],"$":[2]}}"#;
        let err = VoiceConfig::read(&write(dir.path(), no_voice)).expect_err("no espeak voice");
        assert!(err.to_string().contains("espeak.voice"), "{err}");
        let text_voice = no_voice.replace("\"phoneme_id_map\"", "\"phoneme_type\":\"text\",\"phoneme_id_map\"");
        let config = VoiceConfig::read(&write(dir.path(), &text_voice)).expect("text voice");
        assert_eq!(config.phonemes, PhonemeSource::Text);
        let no_pad = text_voice.replace("\"_\":[0],", "");
        let err = VoiceConfig::read(&write(dir.path(), &no_pad)).expect_err("no pad");
        assert!(err.to_string().contains("\"_\""), "{err}");
    }
}
