//! The embedded backend: a GGUF model run in this process by llama.cpp, so
//! the assistant talks with no model server installed.
//!
//! **Why a thread of its own.** llama.cpp's calls block for milliseconds
//! (one token) to seconds (a long prompt), and its context is not `Sync`.
//! One dedicated thread owns the model and its context for the client's
//! lifetime ([`engine`]); requests reach it through a channel, tokens come
//! back through a bounded channel to the [`Reply`](crate::Reply), stamped on
//! the pipeline clock the moment they are sampled. The async runtime never
//! waits on llama.cpp.
//!
//! **Why the KV cache is kept.** Every turn resends the whole conversation;
//! the thread remembers which tokens its KV cache holds and evaluates only
//! the part of the new prompt after the longest common prefix. The second
//! turn of a long conversation costs its new words, not the history; a
//! trimmed or interrupted history re-evaluates from where it changed.
//!
//! **Cancellation by drop**, as for the HTTP backends: dropping the
//! `Reply` closes its channel, and the thread checks that before every
//! token (and between prompt chunks of `n_batch` tokens), so generation
//! stops within one token and the next request is served at once.
//! llama.cpp has no safe abort callback; leaving the token loop is the stop.
//!
//! **Load at warm-up**: [`Client::warm_up`](crate::Client::warm_up) loads
//! the model (memory-mapped) and creates the context, reporting
//! [`ModelInfo`]: load time, resident memory, context and template. The
//! first request loads it otherwise.

#[cfg(feature = "embedded")]
mod backend;
#[cfg(feature = "embedded")]
mod engine;
#[cfg(feature = "embedded")]
mod text;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::GenerationOptions;

#[cfg(feature = "embedded")]
pub(crate) use backend::{Embedded, EmbeddedReply};

/// The context used when `[llm.options] num_ctx` is not set (clamped to
/// what the model was trained for).
pub const DEFAULT_CONTEXT: u32 = 4096;

/// Settings of the embedded backend: which GGUF and how to run it. The
/// context size and sampling come from the
/// [`GenerationOptions`](crate::GenerationOptions) of the same
/// [`ServerConfig`](crate::ServerConfig).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// The GGUF file.
    pub model: PathBuf,
    /// What messages and reports call it: a models.lock name
    /// (`llm/qwen2.5-0.5b-instruct-q4_k_m`) or the file name.
    pub name: String,
    /// A llama.cpp built-in chat template (`chatml`, `gemma`, `llama3`, …)
    /// used when the GGUF has none, or one llama.cpp does not recognise.
    pub chat_template: Option<String>,
    /// Threads for generation and prompt evaluation; `None`: one per core.
    pub threads: Option<u32>,
    /// Prompt tokens evaluated per llama.cpp call (`n_batch`); also the
    /// granularity at which a cancelled prompt evaluation stops.
    pub batch: u32,
}

impl EmbeddedConfig {
    /// The model at `model`, named after its file, with default settings.
    #[must_use]
    pub fn new(model: impl Into<PathBuf>) -> Self {
        let model = model.into();
        let name = model
            .file_name()
            .map_or_else(|| model.display().to_string(), |n| n.to_string_lossy().into_owned());
        Self {
            model,
            name,
            chat_template: None,
            threads: None,
            batch: 512,
        }
    }
}

/// Where the chat template came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateSource {
    /// The GGUF's own `tokenizer.chat_template`.
    Gguf,
    /// The configured built-in template (`chat_template`), because the
    /// GGUF has none (or llama.cpp does not recognise its template).
    Fallback(String),
}

/// What loading the embedded model found and cost.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The configured name.
    pub name: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// The file's size in bytes (memory-mapped, not read).
    pub file_size: u64,
    /// The model's parameter count.
    pub parameters: u64,
    /// The context in use, in tokens.
    pub context: u32,
    /// The context the model was trained for.
    pub trained_context: u32,
    /// The chat template's source.
    pub template: TemplateSource,
    /// Threads used.
    pub threads: u32,
    /// Loading the model and creating its context.
    pub load: Duration,
    /// How much the process's resident memory grew while loading, in bytes
    /// (Linux; `None` elsewhere). Mapped weights count once touched.
    pub resident: Option<u64>,
}

impl fmt::Display for ModelInfo {
    /// "gemma-3-270m (268 M parameters, 253 MB) loaded in 0.66 s, resident +290 MB, context 4096 of 32768 tokens".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} M parameters, {} MB) loaded in {:.2} s",
            self.name,
            self.parameters / 1_000_000,
            self.file_size / 1_000_000,
            self.load.as_secs_f64()
        )?;
        if let Some(bytes) = self.resident {
            write!(f, ", resident +{} MB", bytes / 1_000_000)?;
        }
        write!(
            f,
            ", context {} of {} tokens, {} threads",
            self.context, self.trained_context, self.threads
        )?;
        if let TemplateSource::Fallback(name) = &self.template {
            write!(f, ", chat template {name} (the GGUF has none)")?;
        }
        Ok(())
    }
}

/// `options` as the engine reads them: the context to ask for.
pub(crate) fn requested_context(options: &GenerationOptions) -> u32 {
    options.num_ctx.unwrap_or(DEFAULT_CONTEXT)
}
