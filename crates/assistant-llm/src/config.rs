//! Typed settings for one model server.
//!
//! The daemon reads the profile (`[llm]`) and the environment, then hands
//! this crate a [`ServerConfig`]; nothing here reads files or variables.

use std::time::Duration;

use crate::{EmbeddedConfig, Script};

/// Which wire protocol the server speaks, or that there is no server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Ollama's native API: `POST /api/chat` streaming NDJSON, `GET /api/tags`,
    /// `GET /api/version`.
    Ollama,
    /// The OpenAI-compatible API (llama.cpp's `llama-server`,
    /// llama-cpp-python, vLLM, Ollama's `/v1`): `POST /v1/chat/completions`
    /// streaming server-sent events, `GET /v1/models`.
    OpenAi,
    /// No server: the scripted responder streams [`ServerConfig::script`]'s
    /// text at its pace, so that a benchmark measures every other stage
    /// reproducibly on any machine. No request is ever made; reports name
    /// it "the scripted responder".
    Scripted,
    /// No server: a GGUF model run in this process by llama.cpp
    /// ([`ServerConfig::embedded`]; the crate's `embedded` feature, on by
    /// default). Reports name it "the embedded model `<file>`".
    Embedded,
}

impl Backend {
    /// The name used in messages: "Ollama", "OpenAI-compatible",
    /// "scripted responder" or "embedded".
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Ollama => "Ollama",
            Self::OpenAi => "OpenAI-compatible",
            Self::Scripted => "scripted responder",
            Self::Embedded => "embedded",
        }
    }
}

/// Where the model server is and how to talk to it. Its `Debug` output
/// leaves the API key out.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// The wire protocol.
    pub backend: Backend,
    /// The server's base URL, e.g. `http://127.0.0.1:11434` (Ollama) or
    /// `http://127.0.0.1:8080` (OpenAI-compatible; a trailing `/v1` is accepted
    /// and ignored). A path prefix (a reverse proxy) is kept.
    pub url: String,
    /// The model name sent with every request (`llama3.2` matches Ollama's
    /// `llama3.2:latest`).
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set. The daemon resolves it
    /// from the environment variable the profile names.
    pub api_key: Option<String>,
    /// How long to wait, and for what.
    pub timeouts: Timeouts,
    /// Retries of connection failures before the first byte of a response.
    pub retry: Retry,
    /// Ollama's `keep_alive` (how long the model stays loaded after a
    /// request): a duration such as `"30m"`, or a number of seconds such as
    /// `"-1"` (forever; sent as a JSON number). Ignored by the OpenAI backend.
    pub keep_alive: Option<String>,
    /// Sampling and length settings, mapped to each backend's names.
    pub options: GenerationOptions,
    /// What the scripted responder says and how fast: required by
    /// [`Backend::Scripted`] (see [`ServerConfig::scripted`]), ignored by the
    /// HTTP backends.
    pub script: Option<Script>,
    /// Which GGUF the embedded backend runs, and how: required by
    /// [`Backend::Embedded`] (see [`ServerConfig::embedded`]), ignored by
    /// the others.
    pub embedded: Option<EmbeddedConfig>,
}

impl ServerConfig {
    /// A configuration with default timeouts, retries and options.
    #[must_use]
    pub fn new(backend: Backend, url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            backend,
            url: url.into(),
            model: model.into(),
            api_key: None,
            timeouts: Timeouts::default(),
            retry: Retry::default(),
            keep_alive: None,
            options: GenerationOptions::default(),
            script: None,
            embedded: None,
        }
    }

    /// The scripted responder's configuration: [`Backend::Scripted`] with
    /// `script`, the model named `scripted` and, in place of a URL, the
    /// script's settings (`scripted(ttft=200ms,rate=30)`). Timeouts, retries
    /// and options do not apply to it.
    #[must_use]
    pub fn scripted(script: Script) -> Self {
        let mut config = Self::new(Backend::Scripted, script.pace.spec(), crate::scripted::SCRIPTED);
        config.script = Some(script);
        config
    }

    /// The embedded backend's configuration: [`Backend::Embedded`] running
    /// `settings.model`, named `settings.name`; the URL is the file's path.
    /// Sampling, `max_tokens`, `stop` and the context (`num_ctx`) come
    /// from [`options`](Self::options); timeouts, retries and
    /// `keep_alive` do not apply (nothing waits on a network).
    #[must_use]
    pub fn embedded(settings: EmbeddedConfig) -> Self {
        let mut config = Self::new(
            Backend::Embedded,
            settings.model.display().to_string(),
            settings.name.clone(),
        );
        config.embedded = Some(settings);
        config
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("keep_alive", &self.keep_alive)
            .field("options", &self.options)
            .field("script", &self.script)
            .field("embedded", &self.embedded)
            .finish()
    }
}

/// Each wait has its own limit and its own error, so a message can say which
/// setting to raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP connection (`[llm] connect_timeout_s`).
    pub connect: Duration,
    /// From sending the request (headers included) to the first token of the
    /// reply (`[llm] first_token_timeout_s`). Ollama sends no headers until
    /// the model is loaded, so a cold model counts here; warm it up first.
    /// Also bounds the small metadata requests (`/api/tags`, `/v1/models`).
    pub first_token: Duration,
    /// Between one token and the next (`[llm] idle_timeout_s`).
    pub idle: Duration,
    /// The whole warm-up request, which may load gigabytes from disk
    /// (`[llm] warm_up_timeout_s`).
    pub warm_up: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            first_token: Duration::from_secs(10),
            idle: Duration::from_secs(10),
            warm_up: Duration::from_secs(120),
        }
    }
}

/// Retrying a request whose connection failed before any byte of the
/// response arrived (refused, reset, connect timeout). Nothing is retried
/// once a response has begun: a token may already have been spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included (0 and 1 both mean "no retry").
    pub attempts: u32,
    /// The pause before the first retry; it doubles after each retry.
    pub initial_backoff: Duration,
    /// The longest pause between two tries.
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// Generation settings. `None` (or an empty `stop`) leaves the server's
/// default in place and sends nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenerationOptions {
    /// Sampling temperature (`options.temperature` / `temperature`).
    pub temperature: Option<f32>,
    /// Nucleus sampling (`options.top_p` / `top_p`).
    pub top_p: Option<f32>,
    /// Sampling seed, for reproducible replies (`options.seed` / `seed`).
    pub seed: Option<i64>,
    /// Longest reply in tokens (`options.num_predict` / `max_tokens`).
    pub max_tokens: Option<u32>,
    /// Context window in tokens (`options.num_ctx`): Ollama's, and the
    /// embedded model's KV cache (default
    /// [`DEFAULT_CONTEXT`](crate::DEFAULT_CONTEXT), at most what the model
    /// was trained for). An OpenAI-compatible server fixes it at start-up,
    /// so it is not sent.
    pub num_ctx: Option<u32>,
    /// Strings that end the reply (`options.stop` / `stop`).
    pub stop: Vec<String>,
}
