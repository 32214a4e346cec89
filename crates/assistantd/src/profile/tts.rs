//! `[tts]`: the voice and how it speaks. The schema and its checks (run
//! when the profile is parsed), the command-line overrides
//! ([`TtsOverrides`]) and their resolution into the speaking stage's
//! [`SpeakConfig`] ([`Profile::speak_config`]: the voice found in `voices/`,
//! resolved in the store and verified, every scale override applied),
//! together.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use assistant_models::{Lock, Store};
use assistant_tts::onnx::ModelOptions;
use assistant_tts::synth::{Speaker, SynthesisOptions, Voice};
use assistant_tts::voice::VoiceConfig;
use serde::Deserialize;

use super::Profile;
use crate::voices::VoiceEntry;

/// `[tts]`: the voice and how it speaks.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsSection {
    /// A voice name from `voices/` (resolved through models.lock).
    pub voice: String,
    /// Speaker name or number, for multi-speaker voices.
    #[serde(default)]
    pub speaker: Option<SpeakerChoice>,
    /// Overrides of the voice config's `inference` scales.
    #[serde(default)]
    pub noise_scale: Option<f32>,
    /// Phoneme duration multiplier (above 1 is slower).
    #[serde(default)]
    pub length_scale: Option<f32>,
    /// Duration noise.
    #[serde(default)]
    pub noise_w: Option<f32>,
    /// Speaking rate (2 is twice as fast): divides length_scale.
    #[serde(default = "default_rate")]
    pub rate: f32,
    /// Silence after each sentence, in seconds.
    #[serde(default = "default_sentence_silence")]
    pub sentence_silence_s: f32,
    /// ONNX Runtime threads for the voice.
    #[serde(default = "default_tts_threads")]
    pub num_threads: usize,
}

/// A speaker by name or by number.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum SpeakerChoice {
    /// `speaker = 3`.
    Id(i64),
    /// `speaker = "bob"`.
    Name(String),
}

impl TtsSection {
    pub(super) fn validate(&self, path: &Path) -> Result<()> {
        let file = path.display();
        let scales = [
            ("noise_scale", self.noise_scale, 0.0),
            ("length_scale", self.length_scale, f32::MIN_POSITIVE),
            ("noise_w", self.noise_w, 0.0),
        ];
        for (name, value, min) in scales {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v >= min)) {
                bail!("{file}: tts.{name} = {v} must be a number of at least {min}");
            }
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            bail!(
                "{file}: tts.rate = {} must be above 0 (1.0 is the voice's own pace)",
                self.rate
            );
        }
        if !(0.0..=10.0).contains(&self.sentence_silence_s) {
            bail!(
                "{file}: tts.sentence_silence_s = {} must be between 0 and 10 seconds",
                self.sentence_silence_s
            );
        }
        if self.num_threads == 0 {
            bail!("{file}: tts.num_threads must be at least 1");
        }
        Ok(())
    }
}

fn default_rate() -> f32 {
    1.0
}
fn default_sentence_silence() -> f32 {
    0.2
}
fn default_tts_threads() -> usize {
    1
}

/// Command-line overrides of a profile's speaking settings.
#[derive(Clone, Debug, Default)]
pub struct TtsOverrides {
    /// A voice name instead of the profile's.
    pub voice: Option<String>,
    /// A model file (its config beside it, or `config`) instead of a named voice.
    pub model: Option<PathBuf>,
    /// The config of `model`, if not `<model>.json`.
    pub config: Option<PathBuf>,
    /// Speaker name or number.
    pub speaker: Option<String>,
    /// length_scale.
    pub length_scale: Option<f32>,
    /// noise_scale.
    pub noise_scale: Option<f32>,
    /// noise_w.
    pub noise_w: Option<f32>,
    /// Speaking rate.
    pub rate: Option<f32>,
    /// Sentence silence, in seconds.
    pub sentence_silence_s: Option<f32>,
}

/// Everything the speaking stage needs, resolved and checked.
#[derive(Debug)]
pub struct SpeakConfig {
    /// The voice's name, or the model path when given directly.
    pub voice: String,
    /// The ONNX model.
    pub model: PathBuf,
    /// Its config.
    pub config: VoiceConfig,
    /// Scales, rate, speaker, sentence silence.
    pub options: SynthesisOptions,
    /// ONNX Runtime threads.
    pub threads: usize,
}

impl SpeakConfig {
    /// Loads the voice on the process's one ONNX Runtime, through the
    /// optimized-model cache, and logs how long that took.
    ///
    /// # Errors
    /// If ONNX Runtime cannot be loaded, or the model cannot.
    pub fn open_voice(&self) -> Result<Voice> {
        crate::native::init_onnxruntime()?;
        let started = std::time::Instant::now();
        let voice = Voice::open_with(
            &self.model,
            self.config.clone(),
            &ModelOptions {
                threads: self.threads,
                optimized_cache: crate::native::onnx_cache_dir(),
            },
        )?;
        tracing::info!(
            "voice {} loaded in {:.0} ms{}",
            self.voice,
            started.elapsed().as_secs_f64() * 1e3,
            if voice.model().from_cache() {
                " (ONNX Runtime's optimized copy, from the cache)"
            } else {
                ""
            }
        );
        Ok(voice)
    }
}

impl Profile {
    /// The speaking stage's configuration: the voice (by `overrides`, else
    /// the profile's `[tts]`) resolved in `store` and verified against
    /// `lock`, and the synthesis options with every override applied.
    ///
    /// # Errors
    /// If no voice is chosen, the voice is unknown, not installed or
    /// corrupt, or a setting is out of range (naming the profile file).
    pub fn speak_config(&self, lock: &Lock, store: &Store, overrides: &TtsOverrides) -> Result<SpeakConfig> {
        let file = self.path.display();
        let tts = self.tts.as_ref();
        let (voice, model, config) = if let Some(model) = &overrides.model {
            let config_path = overrides
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}.json", model.display())));
            let config = VoiceConfig::read(&config_path)?;
            (model.display().to_string(), model.clone(), config)
        } else {
            let Some(name) = overrides.voice.as_deref().or(tts.map(|t| t.voice.as_str())) else {
                bail!("{file} has no [tts] voice; give --voice NAME (`assistantd voices` lists them) or --model FILE");
            };
            let entry = VoiceEntry::find(name)?;
            let resolved = entry.resolve(lock, store)?;
            (entry.name, resolved.model, resolved.config)
        };
        // The profile's own values were checked when it was parsed; the
        // command line's are checked by the voice (`Voice::check`).
        let mut scales = config.scales;
        if let Some(t) = tts {
            scales.noise_scale = t.noise_scale.unwrap_or(scales.noise_scale);
            scales.length_scale = t.length_scale.unwrap_or(scales.length_scale);
            scales.noise_w = t.noise_w.unwrap_or(scales.noise_w);
        }
        scales.noise_scale = overrides.noise_scale.unwrap_or(scales.noise_scale);
        scales.length_scale = overrides.length_scale.unwrap_or(scales.length_scale);
        scales.noise_w = overrides.noise_w.unwrap_or(scales.noise_w);
        let rate = overrides.rate.unwrap_or(tts.map_or(1.0, |t| t.rate));
        let silence = overrides
            .sentence_silence_s
            .unwrap_or(tts.map_or(0.2, |t| t.sentence_silence_s));
        let speaker = match (&overrides.speaker, tts.and_then(|t| t.speaker.as_ref())) {
            (Some(s), _) => Some(match s.parse::<i64>() {
                Ok(id) => Speaker::Id(id),
                Err(_) => Speaker::Name(s.clone()),
            }),
            (None, Some(SpeakerChoice::Id(id))) => Some(Speaker::Id(*id)),
            (None, Some(SpeakerChoice::Name(n))) => Some(Speaker::Name(n.clone())),
            (None, None) => None,
        };
        let threads = tts.map_or(1, |t| t.num_threads);
        Ok(SpeakConfig {
            voice,
            model,
            config,
            options: SynthesisOptions {
                scales: Some(scales),
                rate,
                speaker,
                sentence_silence_s: silence,
            },
            threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Profile;
    use super::super::tests::assert_refused;
    use super::SpeakerChoice;

    #[test]
    fn speaking_settings_out_of_range_name_the_file() {
        assert_refused(
            "tts",
            "voice = \"v\"\n",
            &[
                ("rate = 0.0", "tts.rate = 0"),
                ("length_scale = -1.0", "tts.length_scale = -1"),
                ("sentence_silence_s = 60.0", "tts.sentence_silence_s = 60"),
                ("num_threads = 0", "tts.num_threads"),
            ],
        );
        let text = "[asr]\ntransducer = \"t\"\n[tts]\nvoice = \"v\"\nspeaker = 2\n";
        let profile = Profile::parse(text, Path::new("p.toml")).expect("a numeric speaker");
        assert_eq!(profile.tts.and_then(|t| t.speaker), Some(SpeakerChoice::Id(2)));
    }
}
