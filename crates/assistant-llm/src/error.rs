//! What can go wrong talking to a model server, each case naming the fix.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::{Backend, Pace};

/// Which server an error is about (and a report names): its protocol and
/// base URL, or the scripted responder and its pace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The protocol it speaks.
    pub backend: Backend,
    /// Its base URL as configured (without a trailing `/`); for the
    /// scripted responder, its settings (`scripted(ttft=200ms,rate=30)`).
    pub url: String,
    /// The scripted responder's pace, shown by `Display` so that a report
    /// says the reply was scripted and how fast; `None` for a real server.
    pub pace: Option<Pace>,
}

impl Endpoint {
    /// What to check when the server cannot be reached.
    fn start_hint(&self) -> &'static str {
        match self.backend {
            Backend::Ollama => "is `ollama serve` running?",
            Backend::OpenAi => "is the server (llama-server, llama-cpp-python, vLLM, …) running?",
            Backend::Scripted => "the scripted responder needs no server;",
            Backend::Embedded => "the embedded model needs no server;",
        }
    }

    fn protocol(&self) -> &'static str {
        match self.backend {
            Backend::Ollama => "Ollama's NDJSON",
            Backend::OpenAi => "OpenAI-compatible server-sent events",
            Backend::Scripted => "the scripted responder's tokens",
            Backend::Embedded => "the embedded model's tokens",
        }
    }
}

/// "the Ollama server at http://127.0.0.1:11434", "the scripted responder
/// (ttft 200 ms, 30 tokens/s)", "the embedded model qwen2.5-0.5b-instruct-q4_k_m.gguf".
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.backend, &self.pace) {
            (Backend::Scripted, Some(pace)) => write!(f, "the {} ({pace})", self.backend.label()),
            (Backend::Scripted, None) => write!(f, "the {}", self.backend.label()),
            (Backend::Embedded, _) => {
                let file = std::path::Path::new(&self.url)
                    .file_name()
                    .map_or_else(|| self.url.clone(), |n| n.to_string_lossy().into_owned());
                write!(f, "the embedded model {file}")
            }
            (Backend::Ollama | Backend::OpenAi, _) => {
                write!(f, "the {} server at {}", self.backend.label(), self.url)
            }
        }
    }
}

/// A failed request to the model server.
///
/// Every message names the server and the setting or command that fixes it.
/// [`LlmError::is_transient`] says whether trying again later may help. None
/// of these leaves the [`Client`](crate::Client) unusable: the next request
/// starts afresh.
#[derive(Debug, Error)]
pub enum LlmError {
    /// A setting cannot be used.
    #[error("invalid [llm] {field}: {reason}")]
    Config {
        /// The `[llm]` setting at fault.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The HTTP client could not be set up (the TLS library failed to load).
    #[error("cannot set up the HTTP client ({reason}); check the system's TLS library (OpenSSL)")]
    HttpClient {
        /// What failed.
        reason: String,
    },
    /// Nothing answered at the URL (refused, reset, no route), after
    /// `attempts` tries.
    #[error(
        "cannot connect to {server} ({reason}, {}); {} set [llm] url in the profile",
        tries(*.attempts),
        .server.start_hint()
    )]
    Connect {
        /// The server.
        server: Endpoint,
        /// The operating system's reason, e.g. "connection refused".
        reason: String,
        /// Tries made.
        attempts: u32,
    },
    /// The TCP connection was not established in time.
    #[error(
        "no connection to {server} within {} ({}); is the host reachable? fix [llm] url or raise [llm] connect_timeout_s",
        secs(*.after),
        tries(*.attempts)
    )]
    ConnectTimeout {
        /// The server.
        server: Endpoint,
        /// The connect timeout.
        after: Duration,
        /// Tries made.
        attempts: u32,
    },
    /// The server does not have the model.
    #[error("{}", model_not_found(server, model, available))]
    ModelNotFound {
        /// The server.
        server: Endpoint,
        /// The model asked for.
        model: String,
        /// The models the server does have (empty if it has none or would not say).
        available: Vec<String>,
    },
    /// The server refused the credentials (HTTP 401 or 403).
    #[error(
        "{server} refused the request (HTTP {status}: {message}); set [llm] api_key_env to the environment variable holding a valid API key"
    )]
    Unauthorized {
        /// The server.
        server: Endpoint,
        /// 401 or 403.
        status: u16,
        /// The server's own words.
        message: String,
    },
    /// Any other non-success status before the reply began.
    #[error(
        "{server} answered {request} with HTTP {status}: {message}; check the server's log, and that [llm] url and [llm] backend match the server"
    )]
    Http {
        /// The server.
        server: Endpoint,
        /// The request, e.g. "POST /api/chat".
        request: String,
        /// The HTTP status.
        status: u16,
        /// The server's own words (its `error` field, else the start of the body).
        message: String,
    },
    /// The server reported an error inside a reply that had begun (an
    /// `{"error": …}` line or event).
    #[error("{server} reported an error {}: {message}; check the server's log", after_tokens(*.tokens))]
    Server {
        /// The server.
        server: Endpoint,
        /// The server's own words.
        message: String,
        /// Tokens delivered before the error.
        tokens: u32,
    },
    /// No token arrived in time after the request was sent.
    #[error(
        "no first token within {} from {server}; raise [llm] first_token_timeout_s or check the server's load (a model that is not loaded yet counts: warm it up)",
        secs(*.after)
    )]
    FirstTokenTimeout {
        /// The server.
        server: Endpoint,
        /// The first-token timeout.
        after: Duration,
    },
    /// The reply stalled between two tokens.
    #[error(
        "{server} sent no token for {} {}; raise [llm] idle_timeout_s or check the server's load",
        secs(*.after),
        after_tokens(*.tokens)
    )]
    IdleTimeout {
        /// The server.
        server: Endpoint,
        /// The idle timeout.
        after: Duration,
        /// Tokens delivered before the stall.
        tokens: u32,
    },
    /// Warming up (loading the model) took too long.
    #[error(
        "{server} did not load model '{model}' within {}; raise [llm] warm_up_timeout_s, or pick a smaller model",
        secs(*.after)
    )]
    LoadTimeout {
        /// The server.
        server: Endpoint,
        /// The model being loaded.
        model: String,
        /// The warm-up timeout.
        after: Duration,
    },
    /// A small metadata request (`/api/tags`, `/api/version`, `/v1/models`)
    /// went unanswered.
    #[error("{server} did not answer {request} within {}; check the server's load", secs(*.after))]
    RequestTimeout {
        /// The server.
        server: Endpoint,
        /// The request, e.g. "GET /api/tags".
        request: String,
        /// The limit (the first-token timeout).
        after: Duration,
    },
    /// The connection broke, or the body ended, before the end of the reply.
    #[error(
        "the reply from {server} broke off {} ({reason}); check the server's log (did it crash or run out of memory?)",
        after_tokens(*.tokens)
    )]
    Disconnected {
        /// The server.
        server: Endpoint,
        /// Tokens delivered before the break.
        tokens: u32,
        /// What was observed.
        reason: String,
    },
    /// The embedded backend's GGUF cannot be used: missing, not a GGUF,
    /// cut short, refused by llama.cpp, or without a usable chat template.
    #[error("cannot use the embedded model {}: {reason}", .path.display())]
    Model {
        /// The GGUF file.
        path: std::path::PathBuf,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// The embedded model's context cannot hold even the system prompt and
    /// the question, with room for a reply.
    #[error(
        "the prompt is {prompt_tokens} tokens: with {room} kept for the reply it does not fit {server}'s {context}-token context; raise [llm.options] num_ctx, or shorten [llm] system_prompt"
    )]
    ContextFull {
        /// The embedded model.
        server: Endpoint,
        /// The system prompt and the question, templated, in tokens.
        prompt_tokens: usize,
        /// The context, in tokens.
        context: usize,
        /// Tokens kept for the reply (`max_tokens`, at most half the context).
        room: usize,
    },
    /// The server sent something the protocol does not allow.
    #[error(
        "{server} sent something that is not {}: {detail}; check that [llm] backend and [llm] url match the server",
        .server.protocol()
    )]
    Protocol {
        /// The server.
        server: Endpoint,
        /// What was wrong, with an excerpt.
        detail: String,
    },
}

impl LlmError {
    /// Whether the same request may succeed later without changing the
    /// configuration (the server was down, slow, or crashed mid-reply).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::ConnectTimeout { .. }
            | Self::FirstTokenTimeout { .. }
            | Self::IdleTimeout { .. }
            | Self::LoadTimeout { .. }
            | Self::RequestTimeout { .. }
            | Self::Disconnected { .. }
            | Self::Server { .. } => true,
            Self::Http { status, .. } => *status >= 500 || *status == 429,
            Self::Config { .. }
            | Self::HttpClient { .. }
            | Self::ModelNotFound { .. }
            | Self::Unauthorized { .. }
            | Self::Protocol { .. }
            | Self::Model { .. }
            | Self::ContextFull { .. } => false,
        }
    }
}

/// "10 s", "0.3 s", "1.25 s".
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{} s", d.as_secs())
    } else {
        let text = format!("{s:.3}");
        format!("{} s", text.trim_end_matches('0'))
    }
}

fn tries(n: u32) -> String {
    if n == 1 {
        "1 try".to_owned()
    } else {
        format!("{n} tries")
    }
}

/// "before any token", "after 1 token", "after 5 tokens".
fn after_tokens(n: u32) -> String {
    match n {
        0 => "before any token".to_owned(),
        1 => "after 1 token".to_owned(),
        n => format!("after {n} tokens"),
    }
}

fn model_not_found(server: &Endpoint, model: &str, available: &[String]) -> String {
    let list = if available.is_empty() {
        "none".to_owned()
    } else {
        available.join(", ")
    };
    match server.backend {
        Backend::Ollama => {
            format!("model '{model}' is not pulled on {server}; run `ollama pull {model}` (pulled: {list})")
        }
        Backend::OpenAi => format!(
            "model '{model}' is not served by {server}; set [llm] model to a model it serves (it serves: {list})"
        ),
        Backend::Scripted | Backend::Embedded => format!("model '{model}' is not {server}'s; it has only: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ollama() -> Endpoint {
        Endpoint {
            backend: Backend::Ollama,
            url: "http://127.0.0.1:11434".into(),
            pace: None,
        }
    }

    #[test]
    fn messages_name_the_thing_and_the_fix() {
        let e = LlmError::ModelNotFound {
            server: ollama(),
            model: "llama3.2".into(),
            available: vec!["qwen2.5:0.5b".into()],
        };
        assert_eq!(
            e.to_string(),
            "model 'llama3.2' is not pulled on the Ollama server at http://127.0.0.1:11434; run `ollama pull llama3.2` (pulled: qwen2.5:0.5b)"
        );
        let e = LlmError::Connect {
            server: ollama(),
            reason: "connection refused".into(),
            attempts: 3,
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to the Ollama server at http://127.0.0.1:11434 (connection refused, 3 tries); is `ollama serve` running? set [llm] url in the profile"
        );
        let e = LlmError::FirstTokenTimeout {
            server: ollama(),
            after: Duration::from_secs(10),
        };
        assert!(
            e.to_string()
                .starts_with("no first token within 10 s from the Ollama server at http://127.0.0.1:11434; raise [llm] first_token_timeout_s"),
            "{e}"
        );
        let e = LlmError::IdleTimeout {
            server: ollama(),
            after: Duration::from_millis(300),
            tokens: 2,
        };
        assert!(
            e.to_string()
                .contains("no token for 0.3 s after 2 tokens; raise [llm] idle_timeout_s"),
            "{e}"
        );
        let e = LlmError::Disconnected {
            server: ollama(),
            tokens: 1,
            reason: "unexpected EOF".into(),
        };
        assert!(
            e.to_string().contains("broke off after 1 token (unexpected EOF)"),
            "{e}"
        );
        let e = LlmError::Server {
            server: ollama(),
            message: "out of memory".into(),
            tokens: 0,
        };
        assert!(
            e.to_string()
                .contains("reported an error before any token: out of memory"),
            "{e}"
        );
        let e = LlmError::Unauthorized {
            server: Endpoint {
                backend: Backend::OpenAi,
                url: "http://h:8080".into(),
                pace: None,
            },
            status: 401,
            message: "invalid api key".into(),
        };
        assert!(e.to_string().contains("set [llm] api_key_env"), "{e}");
        assert!(!e.is_transient());
    }

    #[test]
    fn durations_print_compactly() {
        assert_eq!(secs(Duration::from_secs(10)), "10 s");
        assert_eq!(secs(Duration::from_millis(1250)), "1.25 s");
        assert_eq!(secs(Duration::from_millis(300)), "0.3 s");
    }
}
