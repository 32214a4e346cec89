//! Profiles: one TOML file per assistant (`configs/jarvis.toml`).
//!
//! A profile names its models by their models.lock names; turning it into
//! stage configurations resolves those names in the model store and
//! verifies each file (size and sha256, the digest cached by size and mtime
//! so this stays fast), which is the daemon's start-up check. Mistakes in
//! the file are reported with its path and line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use assistant_asr::{Decoding, Endpointing, Hotwords, ListenConfig, RecognizerConfig, TransducerFiles, VadConfig};
use assistant_models::{Lock, Store};
use assistant_tts::synth::{Speaker, SynthesisOptions};
use assistant_tts::voice::VoiceConfig;
use serde::Deserialize;

use crate::voices::VoiceEntry;

/// The profiles shipped in the checkout.
const CHECKOUT_CONFIGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs");

/// A parsed profile.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The listening stage.
    pub asr: AsrSection,
    /// The speaking stage (absent: `assistantd say` needs `--voice` or `--model`).
    #[serde(default)]
    pub tts: Option<TtsSection>,
    /// The sound devices (absent: the system defaults).
    #[serde(default)]
    pub audio: AudioSection,
    /// Where the profile was read from (set after parsing).
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[asr]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsrSection {
    /// models.lock prefix of the transducer's encoder/decoder/joiner/tokens.
    pub transducer: String,
    /// Pre-roll in seconds.
    #[serde(default = "default_pre_roll")]
    pub pre_roll_s: f32,
    /// ONNX Runtime threads.
    #[serde(default = "default_threads")]
    pub num_threads: i32,
    /// `greedy_search` or `modified_beam_search`.
    #[serde(default = "default_decoding")]
    pub decoding: String,
    /// Beam width for `modified_beam_search`.
    #[serde(default = "default_paths")]
    pub max_active_paths: i32,
    /// Hotwords file (relative to the profile).
    #[serde(default)]
    pub hotwords_file: Option<PathBuf>,
    /// Hotwords boost.
    #[serde(default = "default_hotwords_score")]
    pub hotwords_score: f32,
    /// The model's `bpe.vocab` (relative to the profile), so hotwords may be
    /// plain words.
    #[serde(default)]
    pub bpe_vocab: Option<PathBuf>,
    /// `[asr.endpoint]`.
    #[serde(default)]
    pub endpoint: EndpointSection,
    /// `[asr.vad]`: voice-activity gating; absent or `model = ""` for none.
    #[serde(default)]
    pub vad: VadSection,
}

fn default_pre_roll() -> f32 {
    0.3
}
fn default_threads() -> i32 {
    1
}
fn default_decoding() -> String {
    "greedy_search".into()
}
fn default_paths() -> i32 {
    4
}
fn default_hotwords_score() -> f32 {
    1.5
}

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

/// `[audio]`: which sound devices, and how much buffering.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSection {
    /// The output device by name or id (`assistantd devices` lists them);
    /// absent: the system default.
    pub output_device: Option<String>,
    /// The output buffer, in milliseconds: the delay from the assistant to
    /// the speaker, and the shortest time barge-in takes to be heard.
    pub output_buffer_ms: u32,
}

impl Default for AudioSection {
    fn default() -> Self {
        Self {
            output_device: None,
            output_buffer_ms: 50,
        }
    }
}

impl AudioSection {
    /// The range `output_buffer_ms` must lie in.
    pub const BUFFER_MS: std::ops::RangeInclusive<u32> = 5..=1000;

    fn validate(&self, path: &Path) -> Result<()> {
        if !Self::BUFFER_MS.contains(&self.output_buffer_ms) {
            bail!(
                "{}: audio.output_buffer_ms = {} must be between {} and {} (50 is a safe default)",
                path.display(),
                self.output_buffer_ms,
                Self::BUFFER_MS.start(),
                Self::BUFFER_MS.end()
            );
        }
        if self.output_device.as_deref().is_some_and(|d| d.trim().is_empty()) {
            bail!(
                "{}: audio.output_device is empty; remove it for the default device, or name one from `assistantd devices`",
                path.display()
            );
        }
        Ok(())
    }
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
    fn validate(&self, path: &Path) -> Result<()> {
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

/// `[asr.endpoint]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointSection {
    /// Rule 1.
    pub silence_without_text_s: f32,
    /// Rule 2.
    pub silence_after_text_s: f32,
    /// Rule 3.
    pub max_utterance_s: f32,
}

impl Default for EndpointSection {
    fn default() -> Self {
        let d = Endpointing::default();
        Self {
            silence_without_text_s: d.silence_without_text_s,
            silence_after_text_s: d.silence_after_text_s,
            max_utterance_s: d.max_utterance_s,
        }
    }
}

/// `[asr.vad]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VadSection {
    /// models.lock name of the Silero VAD; empty for no gating.
    pub model: String,
    /// Speech probability threshold.
    pub threshold: f32,
    /// Speech needed to open the gate, in seconds.
    pub min_speech_s: f32,
    /// Silence that closes a segment, in seconds.
    pub min_silence_s: f32,
}

impl Default for VadSection {
    fn default() -> Self {
        let d = VadConfig::new("");
        Self {
            model: String::new(),
            threshold: d.threshold,
            min_speech_s: d.min_speech_s,
            min_silence_s: d.min_silence_s,
        }
    }
}

impl Profile {
    /// Finds a profile: an existing file path, else `NAME.toml` in
    /// `$XDG_CONFIG_HOME/assistantd/` (or `~/.config/assistantd/`), else in
    /// the checkout's `configs/`.
    ///
    /// # Errors
    /// If no such profile exists, or it does not parse.
    pub fn load(name: &str) -> Result<Self> {
        let direct = Path::new(name);
        if direct.is_file() {
            return Self::read(direct);
        }
        let user = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("assistantd"));
        let mut looked = Vec::new();
        for dir in user.into_iter().chain([PathBuf::from(CHECKOUT_CONFIGS)]) {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                return Self::read(&path);
            }
            looked.push(path.display().to_string());
        }
        bail!("no profile {name:?}: looked for {}", looked.join(", "))
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
        Ok(profile)
    }

    /// The listening stage's configuration, with every model resolved in
    /// `store` and verified against `lock`.
    ///
    /// # Errors
    /// If a model is unknown, not installed or fails verification (the
    /// message names the fix), or a setting is invalid.
    pub fn listen_config(&self, lock: &Lock, store: &Store, overrides: &AsrOverrides) -> Result<ListenConfig> {
        let asr = &self.asr;
        let here = self.path.parent().unwrap_or(Path::new("."));
        let model = match &overrides.transducer_dir {
            Some(dir) => TransducerFiles {
                encoder: dir.join("encoder.onnx"),
                decoder: dir.join("decoder.onnx"),
                joiner: dir.join("joiner.onnx"),
                tokens: dir.join("tokens.txt"),
            },
            None => {
                let part = |p: &str| store.resolve(lock, &format!("{}/{p}", asr.transducer));
                TransducerFiles {
                    encoder: part("encoder")?,
                    decoder: part("decoder")?,
                    joiner: part("joiner")?,
                    tokens: part("tokens")?,
                }
            }
        };
        let decoding = match asr.decoding.as_str() {
            "greedy_search" => Decoding::Greedy,
            "modified_beam_search" => Decoding::ModifiedBeam {
                max_active_paths: asr.max_active_paths,
            },
            other => bail!(
                "{}: asr.decoding = {other:?} is not \"greedy_search\" or \"modified_beam_search\"",
                self.path.display()
            ),
        };
        let e = &asr.endpoint;
        let mut endpointing = Endpointing {
            silence_without_text_s: e.silence_without_text_s,
            silence_after_text_s: e.silence_after_text_s,
            max_utterance_s: e.max_utterance_s,
        };
        if let Some(rule2) = overrides.silence_after_text_s {
            endpointing.silence_after_text_s = rule2;
        }
        let recognizer = RecognizerConfig {
            model,
            num_threads: asr.num_threads,
            decoding,
            endpointing,
            hotwords: asr.hotwords_file.as_ref().map(|f| Hotwords {
                file: here.join(f),
                score: asr.hotwords_score,
                bpe_vocab: asr.bpe_vocab.as_ref().map(|v| here.join(v)),
            }),
        };
        let vad_model = match (&overrides.vad, overrides.no_vad) {
            (_, true) => None,
            (Some(path), false) => Some(path.clone()),
            (None, false) if asr.vad.model.is_empty() => None,
            (None, false) => Some(store.resolve(lock, &asr.vad.model)?),
        };
        let vad = vad_model.map(|model| VadConfig {
            threshold: asr.vad.threshold,
            min_speech_s: asr.vad.min_speech_s,
            min_silence_s: asr.vad.min_silence_s,
            ..VadConfig::new(model)
        });
        Ok(ListenConfig {
            recognizer,
            vad,
            pre_roll_s: asr.pre_roll_s,
        })
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
        if let Some(v) = overrides.length_scale {
            scales.length_scale = v;
        }
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

/// Command-line overrides of a profile's listening settings.
#[derive(Clone, Debug, Default)]
pub struct AsrOverrides {
    /// A folder with encoder.onnx, decoder.onnx, joiner.onnx and tokens.txt
    /// (such as the synthetic test model), instead of the profile's models.
    pub transducer_dir: Option<PathBuf>,
    /// A Silero VAD file instead of the profile's.
    pub vad: Option<PathBuf>,
    /// Feed every frame: no VAD gating.
    pub no_vad: bool,
    /// Rule 2 (silence after text), in seconds.
    pub silence_after_text_s: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_jarvis_profile_parses() {
        let profile = Profile::load("jarvis").expect("configs/jarvis.toml");
        let tts = profile.tts.as_ref().expect("jarvis speaks");
        assert_eq!(tts.voice, "en_US-lessac-medium");
        assert!(VoiceEntry::find(&tts.voice).is_ok(), "its voice is in voices/");
        assert_eq!(profile.asr.transducer, "asr/streaming-zipformer-en");
        assert_eq!(profile.asr.vad.model, "silero-vad/v4");
        assert!((profile.asr.endpoint.silence_after_text_s - 0.6).abs() < 1e-6);
        assert!((profile.asr.vad.min_speech_s - 0.25).abs() < 1e-6);
    }

    #[test]
    fn speaking_settings_out_of_range_name_the_file() {
        for (setting, needle) in [
            ("rate = 0.0", "tts.rate = 0"),
            ("length_scale = -1.0", "tts.length_scale = -1"),
            ("sentence_silence_s = 60.0", "tts.sentence_silence_s = 60"),
            ("num_threads = 0", "tts.num_threads"),
        ] {
            let text = format!("[asr]\ntransducer = \"t\"\n[tts]\nvoice = \"v\"\n{setting}\n");
            let err = Profile::parse(&text, Path::new("configs/mine.toml"))
                .expect_err(setting)
                .to_string();
            assert!(
                err.starts_with("configs/mine.toml: ") && err.contains(needle),
                "{setting}: {err}"
            );
        }
        let text = "[asr]\ntransducer = \"t\"\n[tts]\nvoice = \"v\"\nspeaker = 2\n";
        let profile = Profile::parse(text, Path::new("p.toml")).expect("a numeric speaker");
        assert_eq!(profile.tts.and_then(|t| t.speaker), Some(SpeakerChoice::Id(2)));
    }

    #[test]
    fn audio_settings_default_and_are_checked() {
        let profile = Profile::parse("[asr]\ntransducer = \"t\"\n", Path::new("p.toml")).expect("no [audio]");
        assert_eq!(profile.audio.output_device, None);
        assert_eq!(profile.audio.output_buffer_ms, 50);
        let text = "[asr]\ntransducer = \"t\"\n[audio]\noutput_device = \"pulse\"\noutput_buffer_ms = 20\n";
        let profile = Profile::parse(text, Path::new("p.toml")).expect("a device");
        assert_eq!(profile.audio.output_device.as_deref(), Some("pulse"));
        assert_eq!(profile.audio.output_buffer_ms, 20);
        for (setting, needle) in [
            ("output_buffer_ms = 0", "audio.output_buffer_ms = 0"),
            ("output_device = \" \"", "audio.output_device is empty"),
        ] {
            let text = format!("[asr]\ntransducer = \"t\"\n[audio]\n{setting}\n");
            let err = Profile::parse(&text, Path::new("configs/mine.toml"))
                .expect_err(setting)
                .to_string();
            assert!(
                err.starts_with("configs/mine.toml: ") && err.contains(needle),
                "{setting}: {err}"
            );
        }
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
