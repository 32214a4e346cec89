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

mod turns;

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

/// `[llm]`: the model server and the conversation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSection {
    /// `"ollama"` (`/api/chat`) or `"openai"` (any OpenAI-compatible server).
    pub backend: BackendName,
    /// The server's base URL; default: Ollama's or llama.cpp's usual local address.
    pub url: Option<String>,
    /// The model name.
    pub model: Option<String>,
    /// The environment variable holding the API key (sent as a Bearer token).
    pub api_key_env: Option<String>,
    /// The API key itself, for servers whose key is no secret (LM Studio's
    /// "lm-studio"); prefer `api_key_env` for real ones.
    pub api_key: Option<String>,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// History kept for context, in characters (oldest exchanges dropped first).
    pub history_chars: usize,
    /// Ollama's `keep_alive`: how long the model stays loaded ("30m", "-1" = forever).
    pub keep_alive: Option<String>,
    /// Load the model when the daemon starts.
    pub warm_up: bool,
    /// Seconds to establish the connection.
    pub connect_timeout_s: f32,
    /// Seconds from the request to the first token.
    pub first_token_timeout_s: f32,
    /// Seconds allowed between two tokens.
    pub idle_timeout_s: f32,
    /// Seconds the warm-up (model load) may take.
    pub warm_up_timeout_s: f32,
    /// Tries for a request whose connection fails before the reply begins.
    pub connect_attempts: u32,
    /// Spoken when the server cannot be reached or fails mid-reply; `""`
    /// says nothing (the log always says what went wrong).
    pub failure_notice: String,
    /// Generation settings.
    pub options: LlmOptions,
}

/// `backend` in `[llm]`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    /// Ollama's own API.
    #[default]
    Ollama,
    /// The OpenAI-compatible API (llama.cpp, LM Studio, vLLM, …).
    Openai,
}

/// `[llm.options]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmOptions {
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// Longest reply, in tokens.
    pub max_tokens: Option<u32>,
    /// Context window, in tokens (Ollama only).
    pub num_ctx: Option<u32>,
    /// Strings that end the reply.
    pub stop: Vec<String>,
}

impl Default for LlmSection {
    fn default() -> Self {
        Self {
            backend: BackendName::Ollama,
            url: None,
            model: None,
            api_key_env: None,
            api_key: None,
            system_prompt: None,
            history_chars: 8_000,
            keep_alive: Some("30m".into()),
            warm_up: true,
            connect_timeout_s: 2.0,
            first_token_timeout_s: 10.0,
            idle_timeout_s: 10.0,
            warm_up_timeout_s: 120.0,
            connect_attempts: 3,
            failure_notice: "Sorry, I cannot reach the language model right now.".into(),
            options: LlmOptions::default(),
        }
    }
}

impl LlmSection {
    fn validate(&self, path: &Path) -> Result<()> {
        let file = path.display();
        for (name, value) in [
            ("connect_timeout_s", self.connect_timeout_s),
            ("first_token_timeout_s", self.first_token_timeout_s),
            ("idle_timeout_s", self.idle_timeout_s),
            ("warm_up_timeout_s", self.warm_up_timeout_s),
        ] {
            if !(value.is_finite() && value > 0.0 && value <= 3600.0) {
                bail!("{file}: llm.{name} = {value} must be a number of seconds above 0 (at most 3600)");
            }
        }
        if let Some(t) = self
            .options
            .temperature
            .filter(|t| !(t.is_finite() && (0.0..=5.0).contains(t)))
        {
            bail!("{file}: llm.options.temperature = {t} must be between 0 and 5");
        }
        if let Some(p) = self.options.top_p.filter(|p| !(p.is_finite() && *p > 0.0 && *p <= 1.0)) {
            bail!("{file}: llm.options.top_p = {p} must be above 0 and at most 1");
        }
        if self.options.max_tokens == Some(0) {
            bail!("{file}: llm.options.max_tokens must be at least 1 (leave it out for the server's default)");
        }
        if self.api_key.is_some() && self.api_key_env.is_some() {
            bail!("{file}: llm.api_key and llm.api_key_env are both set; keep one (api_key_env for a real secret)");
        }
        if self.history_chars == 0 {
            bail!("{file}: llm.history_chars must be at least 1 (the question itself is always sent)");
        }
        if let Some(url) = &self.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("{file}: llm.url = {url:?} must start with http:// or https://");
        }
        Ok(())
    }
}

/// Command-line overrides of a profile's `[llm]`.
#[derive(Clone, Debug, Default)]
pub struct LlmOverrides {
    /// The protocol.
    pub backend: Option<BackendName>,
    /// The server's base URL.
    pub url: Option<String>,
    /// The model.
    pub model: Option<String>,
    /// The system prompt.
    pub system_prompt: Option<String>,
}

/// Everything the thinking stage needs, resolved.
#[derive(Debug)]
pub struct ThinkConfig {
    /// The server, protocol, model, timeouts and options.
    pub server: assistant_llm::ServerConfig,
    /// The system prompt.
    pub system_prompt: Option<String>,
    /// The history budget, in characters.
    pub history_chars: usize,
    /// Whether to load the model at start-up.
    pub warm_up: bool,
    /// Spoken when a reply fails; `None` for silence.
    pub failure_notice: Option<String>,
}

/// `[audio]`: which sound devices, and how much buffering.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSection {
    /// The microphone by name or id (`assistantd devices` lists them);
    /// absent: the system default.
    pub input_device: Option<String>,
    /// How much audio the microphone delivers at a time, in milliseconds:
    /// the capture latency.
    pub input_buffer_ms: u32,
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
            input_device: None,
            input_buffer_ms: 20,
            output_device: None,
            output_buffer_ms: 50,
        }
    }
}

impl AudioSection {
    /// The range `output_buffer_ms` must lie in.
    pub const BUFFER_MS: std::ops::RangeInclusive<u32> = 5..=1000;

    fn validate(&self, path: &Path) -> Result<()> {
        for (key, value, safe) in [
            ("input_buffer_ms", self.input_buffer_ms, 20),
            ("output_buffer_ms", self.output_buffer_ms, 50),
        ] {
            if !Self::BUFFER_MS.contains(&value) {
                bail!(
                    "{}: audio.{key} = {value} must be between {} and {} ({safe} is a safe default)",
                    path.display(),
                    Self::BUFFER_MS.start(),
                    Self::BUFFER_MS.end()
                );
            }
        }
        for (key, device) in [
            ("input_device", &self.input_device),
            ("output_device", &self.output_device),
        ] {
            if device.as_deref().is_some_and(|d| d.trim().is_empty()) {
                bail!(
                    "{}: audio.{key} is empty; remove it for the default device, or name one from `assistantd devices`",
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// The microphone settings.
    #[must_use]
    pub fn input(&self) -> assistant_audio::capture::InputSettings {
        assistant_audio::capture::InputSettings {
            device: self.input_device.clone(),
            buffer: std::time::Duration::from_millis(u64::from(self.input_buffer_ms)),
        }
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

    /// The thinking stage's configuration: `[llm]` with `overrides` on top,
    /// the API key read from the variable `api_key_env` names.
    ///
    /// # Errors
    /// If no model is named, or `api_key_env` names an unset variable.
    pub fn think_config(&self, overrides: &LlmOverrides) -> Result<ThinkConfig> {
        use assistant_llm::{Backend, GenerationOptions, Retry, ServerConfig, Timeouts};
        let section = self.llm.clone().unwrap_or_default();
        let file = self.path.display();
        let backend_name = overrides.backend.unwrap_or(section.backend);
        let backend = match backend_name {
            BackendName::Ollama => Backend::Ollama,
            BackendName::Openai => Backend::OpenAi,
        };
        let url = overrides
            .url
            .clone()
            .or_else(|| {
                if overrides.backend.is_some_and(|b| b != section.backend) {
                    None
                } else {
                    section.url.clone()
                }
            })
            .unwrap_or_else(|| match backend {
                Backend::Ollama => "http://127.0.0.1:11434".into(),
                Backend::OpenAi => "http://127.0.0.1:8080".into(),
            });
        let Some(model) = overrides.model.clone().or_else(|| section.model.clone()) else {
            bail!("no model to ask: set [llm] model in {file}, or pass --model NAME");
        };
        let api_key = match &section.api_key_env {
            None => section.api_key.clone(),
            Some(var) => Some(std::env::var(var).map_err(|_| {
                anyhow::anyhow!("{file}: llm.api_key_env names the environment variable {var}, which is not set; export {var}=<your key>, or remove api_key_env")
            })?),
        };
        let secs = |s: f32| std::time::Duration::from_secs_f32(s);
        let mut server = ServerConfig::new(backend, url, model);
        server.api_key = api_key;
        server.timeouts = Timeouts {
            connect: secs(section.connect_timeout_s),
            first_token: secs(section.first_token_timeout_s),
            idle: secs(section.idle_timeout_s),
            warm_up: secs(section.warm_up_timeout_s),
        };
        server.retry = Retry {
            attempts: section.connect_attempts,
            ..Retry::default()
        };
        server.keep_alive = section.keep_alive.clone();
        server.options = GenerationOptions {
            temperature: section.options.temperature,
            top_p: section.options.top_p,
            seed: section.options.seed,
            max_tokens: section.options.max_tokens,
            num_ctx: section.options.num_ctx,
            stop: section.options.stop.clone(),
        };
        Ok(ThinkConfig {
            server,
            system_prompt: overrides.system_prompt.clone().or(section.system_prompt),
            history_chars: section.history_chars,
            warm_up: section.warm_up,
            failure_notice: Some(section.failure_notice.trim().to_owned()).filter(|n| !n.is_empty()),
        })
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

    /// Each `(setting, needle)` under `[section]` is refused with a message
    /// that starts with the file's name and contains `needle`.
    fn assert_refused(section: &str, extra: &str, cases: &[(&str, &str)]) {
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
        let think = profile.think_config(&LlmOverrides::default()).expect("jarvis thinks");
        assert_eq!(think.server.backend, assistant_llm::Backend::Ollama);
        assert_eq!(think.server.model, "llama3.2");
        assert!(
            think
                .system_prompt
                .is_some_and(|p| p.starts_with("You are Jarvis") && !p.contains('\\'))
        );
        assert!(think.warm_up);
    }

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

    #[test]
    fn audio_settings_default_and_are_checked() {
        let profile = Profile::parse("[asr]\ntransducer = \"t\"\n", Path::new("p.toml")).expect("no [audio]");
        assert_eq!(profile.audio.output_device, None);
        assert_eq!(profile.audio.output_buffer_ms, 50);
        assert_eq!(
            profile.audio.input(),
            assistant_audio::capture::InputSettings::default()
        );
        let text = "[asr]\ntransducer = \"t\"\n[audio]\noutput_device = \"pulse\"\noutput_buffer_ms = 20\ninput_device = \"mic\"\ninput_buffer_ms = 10\n";
        let profile = Profile::parse(text, Path::new("p.toml")).expect("a device");
        assert_eq!(profile.audio.output_device.as_deref(), Some("pulse"));
        assert_eq!(profile.audio.output_buffer_ms, 20);
        let input = profile.audio.input();
        assert_eq!(
            (input.device.as_deref(), input.buffer),
            (Some("mic"), std::time::Duration::from_millis(10))
        );
        assert_refused(
            "audio",
            "",
            &[
                ("output_buffer_ms = 0", "audio.output_buffer_ms = 0"),
                ("output_device = \" \"", "audio.output_device is empty"),
                ("input_buffer_ms = 5000", "audio.input_buffer_ms = 5000"),
                ("input_device = \"\"", "audio.input_device is empty"),
            ],
        );
    }

    #[test]
    fn llm_settings_resolve_with_overrides_and_are_checked() {
        let text = "[asr]\ntransducer = \"t\"\n[llm]\nbackend = \"openai\"\nurl = \"http://127.0.0.1:9999\"\nmodel = \"m\"\nfirst_token_timeout_s = 3\n[llm.options]\ntemperature = 0.2\nmax_tokens = 64\nstop = [\"\\n\\n\"]\n";
        let profile = Profile::parse(text, Path::new("p.toml")).expect("an [llm] section");
        let think = profile.think_config(&LlmOverrides::default()).expect("resolves");
        assert_eq!(think.server.backend, assistant_llm::Backend::OpenAi);
        assert_eq!(think.server.url, "http://127.0.0.1:9999");
        assert_eq!(think.server.model, "m");
        assert_eq!(think.server.timeouts.first_token, std::time::Duration::from_secs(3));
        assert_eq!(think.server.options.max_tokens, Some(64));
        assert_eq!(think.server.options.stop, vec!["\n\n".to_owned()]);
        // Switching the backend on the command line drops the profile's URL
        // (it belongs to the other protocol) for that backend's default.
        let think = profile
            .think_config(&LlmOverrides {
                backend: Some(BackendName::Ollama),
                model: Some("llama3.2".into()),
                ..LlmOverrides::default()
            })
            .expect("resolves");
        assert_eq!(think.server.url, "http://127.0.0.1:11434");
        assert_eq!(think.server.model, "llama3.2");

        let bare = Profile::parse("[asr]\ntransducer = \"t\"\n", Path::new("bare.toml")).expect("no [llm]");
        let err = bare
            .think_config(&LlmOverrides::default())
            .expect_err("no model")
            .to_string();
        assert!(
            err.contains("[llm] model in bare.toml") && err.contains("--model"),
            "{err}"
        );

        let text =
            "[asr]\ntransducer = \"t\"\n[llm]\nmodel = \"m\"\napi_key_env = \"ASSISTANTD_TEST_SURELY_UNSET_KEY\"\n";
        let literal = Profile::parse(
            "[asr]\ntransducer = \"t\"\n[llm]\nmodel = \"m\"\napi_key = \"lm-studio\"\n",
            Path::new("l.toml"),
        )
        .expect("parses");
        let think = literal.think_config(&LlmOverrides::default()).expect("resolves");
        assert_eq!(think.server.api_key.as_deref(), Some("lm-studio"));
        let keyed = Profile::parse(text, Path::new("k.toml")).expect("parses");
        let err = keyed
            .think_config(&LlmOverrides::default())
            .expect_err("unset")
            .to_string();
        assert!(
            err.contains("ASSISTANTD_TEST_SURELY_UNSET_KEY") && err.contains("not set"),
            "{err}"
        );

        assert_refused(
            "llm",
            "",
            &[
                ("idle_timeout_s = 0", "llm.idle_timeout_s = 0"),
                ("url = \"localhost:11434\"", "must start with http://"),
                ("[llm.options]\ntemperature = -1", "llm.options.temperature = -1"),
                ("backend = \"vllm\"", "unknown variant"),
                ("api_key = \"k\"\napi_key_env = \"K\"", "keep one"),
            ],
        );
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
