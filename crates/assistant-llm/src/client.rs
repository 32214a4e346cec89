//! The [`Client`]: the HTTP client (one connection pool per server, retries
//! of connection failures, status errors turned into [`LlmError`]s), or the
//! scripted responder behind the same calls.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use assistant_core::{Clock, TurnId};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::time::Instant;

use crate::error::Endpoint;
use crate::ollama::{self, ChatLine, NdjsonDecoder, error_text, excerpt};
use crate::openai::{self, SseDecoder};
use crate::reply::{Decoder, Event, HttpReply};
use crate::scripted::{SCRIPTED, Scripted};
use crate::{Backend, GenerationOptions, LlmError, Message, Reply, ServerConfig};

/// The most of an error body or metadata answer that is read.
const SMALL_BODY_LIMIT: usize = 4 << 20;

/// A client for one model server, or for the scripted responder. Cheap to
/// clone: clones share one connection pool, so keep one per server for the
/// daemon's lifetime.
///
/// Callers need not know which backend is behind it: the scripted responder
/// ([`Backend::Scripted`]) answers every call without a network request,
/// and [`endpoint`](Self::endpoint) says that it is scripted.
///
/// Every failure is an [`LlmError`] that leaves the client usable: the next
/// request starts afresh (new connection if needed), so it succeeds once
/// the server has recovered.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

/// What answers the requests.
#[derive(Debug)]
enum Inner {
    /// A model server over HTTP.
    Http(Http),
    /// The scripted responder: no server.
    Scripted(Scripted),
    /// A GGUF model run in this process.
    #[cfg(feature = "embedded")]
    Embedded(crate::embedded::Embedded),
}

impl Client {
    /// A client for the configured server. Sends nothing yet.
    ///
    /// # Errors
    /// [`LlmError::Config`] if the URL is not an `http(s)://` URL or the
    /// model name is empty, or [`Backend::Scripted`] is chosen without a
    /// [`ServerConfig::script`]; [`LlmError::HttpClient`] if the HTTP client
    /// cannot be set up.
    pub fn new(config: ServerConfig) -> Result<Self, LlmError> {
        let inner = match config.backend {
            Backend::Ollama => Inner::Http(Http::new(config, Wire::Ollama)?),
            Backend::OpenAi => Inner::Http(Http::new(config, Wire::OpenAi)?),
            Backend::Scripted => Inner::Scripted(Scripted::new(config)?),
            #[cfg(feature = "embedded")]
            Backend::Embedded => Inner::Embedded(crate::embedded::Embedded::new(config)?),
            #[cfg(not(feature = "embedded"))]
            Backend::Embedded => {
                return Err(LlmError::Config {
                    field: "backend",
                    reason: "this build of assistantd has no embedded backend (it was built without the `embedded` feature); rebuild with it, or use a model server".into(),
                });
            }
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The configuration the client was made with.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        match &*self.inner {
            Inner::Http(http) => &http.config,
            Inner::Scripted(scripted) => scripted.config(),
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => embedded.config(),
        }
    }

    /// Which server errors will name (and reports show): for the scripted
    /// responder, "the scripted responder (ttft 200 ms, 30 tokens/s)".
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        match &*self.inner {
            Inner::Http(http) => &http.server,
            Inner::Scripted(scripted) => scripted.endpoint(),
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => embedded.endpoint(),
        }
    }

    /// Sends `messages` (system prompt first) and returns once the server
    /// has accepted the request (status and headers received); the tokens
    /// then come from [`Reply::next`]. Connection failures are retried
    /// (with backoff, per [`Retry`](crate::Retry)); nothing is retried once
    /// a response has begun. `clock` stamps each token as it arrives.
    ///
    /// The scripted responder returns at once, ignores `messages` and
    /// streams its script's text on its schedule, counted from this call.
    ///
    /// # Errors
    /// [`LlmError::Connect`] / [`LlmError::ConnectTimeout`] when the server
    /// cannot be reached, [`LlmError::FirstTokenTimeout`] when it does not
    /// answer in time, [`LlmError::ModelNotFound`] (with the models it has),
    /// [`LlmError::Unauthorized`], [`LlmError::Http`] for other statuses.
    /// The scripted responder does not fail.
    pub async fn chat(&self, turn: TurnId, messages: &[Message], clock: &Clock) -> Result<Reply, LlmError> {
        match &*self.inner {
            Inner::Http(http) => http.chat(turn, messages, clock).await,
            Inner::Scripted(scripted) => Ok(scripted.chat(turn, messages, clock)),
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => embedded.chat(turn, messages, clock).await,
        }
    }

    /// Loads the model so the first real request does not pay for it, and
    /// returns how long that took. Ollama: a request with no messages (the
    /// documented way to load a model), with the same `options` (a
    /// different `num_ctx` would reload it) and `keep_alive`. OpenAI: a
    /// one-token completion. The scripted responder: nothing to load,
    /// [`Duration::ZERO`].
    ///
    /// # Errors
    /// [`LlmError::LoadTimeout`] after the warm-up timeout, and the errors
    /// of [`chat`](Self::chat) for an unreachable server or missing model.
    pub async fn warm_up(&self) -> Result<Duration, LlmError> {
        match &*self.inner {
            Inner::Http(http) => http.warm_up().await,
            Inner::Scripted(_) => Ok(Duration::ZERO),
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => embedded.warm_up().await,
        }
    }

    /// Checks that the server has the configured model (Ollama: pulled,
    /// where `llama3.2` means `llama3.2:latest`; OpenAI: listed by
    /// `/v1/models`, by id or file name). A server that cannot list its
    /// models (404) passes, and so does the scripted responder.
    ///
    /// # Errors
    /// [`LlmError::ModelNotFound`] naming the models it has, or the errors
    /// of an unreachable or failing server.
    pub async fn check_model(&self) -> Result<(), LlmError> {
        match &*self.inner {
            Inner::Http(http) => http.check_model().await,
            Inner::Scripted(_) => Ok(()),
            // Loading is the check: the file is there, whole, and llama.cpp takes it.
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => embedded.warm_up().await.map(|_| ()),
        }
    }

    /// The models the server has: Ollama's `GET /api/tags` names, or the ids
    /// from `GET /v1/models`; `["scripted"]` for the scripted responder.
    ///
    /// # Errors
    /// As for [`check_model`](Self::check_model), and
    /// [`LlmError::RequestTimeout`] when the server does not answer within
    /// the first-token timeout.
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        match &*self.inner {
            Inner::Http(http) => http.list_models().await,
            Inner::Scripted(_) => Ok(vec![SCRIPTED.to_owned()]),
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => Ok(embedded.list_models()),
        }
    }

    /// The server's version: Ollama's `GET /api/version`; `None` for an
    /// OpenAI-compatible server, which has no such endpoint;
    /// `Some("scripted")` for the scripted responder.
    ///
    /// # Errors
    /// As for [`list_models`](Self::list_models).
    pub async fn version(&self) -> Result<Option<String>, LlmError> {
        match &*self.inner {
            Inner::Http(http) => http.version().await,
            Inner::Scripted(_) => Ok(Some(SCRIPTED.to_owned())),
            #[cfg(feature = "embedded")]
            Inner::Embedded(_) => Ok(None),
        }
    }

    /// The embedded model's load figures (load time, resident memory,
    /// context, template), once [`warm_up`](Self::warm_up) or a first
    /// request has loaded it; `None` for the other backends.
    #[must_use]
    pub fn model_info(&self) -> Option<crate::ModelInfo> {
        match &*self.inner {
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => embedded.info(),
            _ => None,
        }
    }

    /// How many tokens the embedded model's thread has generated, all
    /// requests together; `None` for the other backends or before it is
    /// loaded. It stops growing when a dropped reply stops generation.
    #[must_use]
    pub fn generated_tokens(&self) -> Option<u64> {
        match &*self.inner {
            #[cfg(feature = "embedded")]
            Inner::Embedded(embedded) => embedded.generated(),
            _ => None,
        }
    }
}

/// The wire protocol of an HTTP backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    /// Ollama's NDJSON API.
    Ollama,
    /// The OpenAI-compatible SSE API.
    OpenAi,
}

/// A model server over HTTP.
#[derive(Debug)]
struct Http {
    http: reqwest::Client,
    config: ServerConfig,
    server: Endpoint,
    wire: Wire,
    /// The base URL every path is appended to (no trailing `/`, no `/v1`).
    base: String,
}

impl Http {
    /// See [`Client::new`].
    fn new(config: ServerConfig, wire: Wire) -> Result<Self, LlmError> {
        let configured = config.url.trim().trim_end_matches('/').to_owned();
        let base = match wire {
            Wire::Ollama => configured.strip_suffix("/api").unwrap_or(&configured),
            Wire::OpenAi => configured.strip_suffix("/v1").unwrap_or(&configured),
        }
        .to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| LlmError::Config {
            field: "url",
            reason: format!(
                "'{}' is not a URL ({e}); expected e.g. http://127.0.0.1:11434",
                config.url
            ),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(LlmError::Config {
                field: "url",
                reason: format!(
                    "'{}' is not an http:// or https:// URL; expected e.g. http://127.0.0.1:11434",
                    config.url
                ),
            });
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::Config {
                field: "model",
                reason: "it is empty; name the model to use, e.g. model = \"llama3.2\"".into(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            .tcp_nodelay(true)
            // Model servers are local by design: nothing leaves the machine
            // through a proxy, and loopback must not be proxied.
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("assistantd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::HttpClient { reason: describe(&e) })?;
        let server = Endpoint {
            backend: config.backend,
            url: configured,
            pace: None,
        };
        Ok(Self {
            http,
            config,
            server,
            wire,
            base,
        })
    }

    /// See [`Client::chat`].
    async fn chat(&self, turn: TurnId, messages: &[Message], clock: &Clock) -> Result<Reply, LlmError> {
        let started = clock.now();
        let config = &self.config;
        let (path, body, decoder) = match self.wire {
            Wire::Ollama => (
                "/api/chat",
                ollama::chat_body(
                    &config.model,
                    messages,
                    true,
                    &config.options,
                    config.keep_alive.as_deref(),
                ),
                Decoder::Ollama(NdjsonDecoder),
            ),
            Wire::OpenAi => (
                "/v1/chat/completions",
                openai::chat_body(&config.model, messages, true, &config.options, None),
                Decoder::OpenAi(SseDecoder::default()),
            ),
        };
        let request = format!("POST {path}");
        let body = body.to_string().into_bytes();
        let wait = config.timeouts.first_token;
        let (response, sent) = self
            .send(
                || self.post(path, body.clone()),
                wait,
                || LlmError::FirstTokenTimeout {
                    server: self.server.clone(),
                    after: wait,
                },
            )
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error_with_models(&request, response).await);
        }
        tracing::debug!(%turn, server = %self.server, messages = messages.len(), "reply started");
        Ok(Reply::http(HttpReply::new(
            self.server.clone(),
            response,
            decoder,
            turn,
            *clock,
            config.timeouts,
            started,
            sent,
        )))
    }

    /// See [`Client::warm_up`].
    async fn warm_up(&self) -> Result<Duration, LlmError> {
        let config = &self.config;
        let (path, body) = match self.wire {
            Wire::Ollama => (
                "/api/chat",
                ollama::chat_body(&config.model, &[], false, &config.options, config.keep_alive.as_deref()),
            ),
            Wire::OpenAi => (
                "/v1/chat/completions",
                openai::chat_body(
                    &config.model,
                    &[Message::user("Hi")],
                    false,
                    &GenerationOptions::default(),
                    Some(1),
                ),
            ),
        };
        let request = format!("POST {path}");
        let body = body.to_string().into_bytes();
        let wait = config.timeouts.warm_up;
        let load_timeout = || LlmError::LoadTimeout {
            server: self.server.clone(),
            model: config.model.clone(),
            after: wait,
        };
        let start = Instant::now();
        let (response, sent) = self.send(|| self.post(path, body.clone()), wait, load_timeout).await?;
        if !response.status().is_success() {
            return Err(self.status_error_with_models(&request, response).await);
        }
        let body = self.read_body(response, sent + wait, load_timeout).await?;
        let events = match self.wire {
            Wire::Ollama => ollama_whole(&body),
            Wire::OpenAi => openai::completion(&body),
        }
        .map_err(|detail| self.protocol(detail))?;
        for event in events {
            match event {
                Event::Error(message) => {
                    return Err(LlmError::Server {
                        server: self.server.clone(),
                        message,
                        tokens: 0,
                    });
                }
                Event::Done { .. } => {
                    let took = start.elapsed();
                    tracing::info!(server = %self.server, model = %config.model, ?took, "model warmed up");
                    return Ok(took);
                }
                Event::Token(_) => {}
            }
        }
        Err(self.protocol(format!(
            "the warm-up answer has no final object: {}",
            excerpt(&String::from_utf8_lossy(&body))
        )))
    }

    /// See [`Client::check_model`].
    async fn check_model(&self) -> Result<(), LlmError> {
        let config = &self.config;
        let available = match self.list_models().await {
            Ok(list) => list,
            Err(LlmError::Http { status: 404, .. }) if self.wire == Wire::OpenAi => {
                tracing::debug!(server = %self.server, "the server cannot list its models; not checked");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let matches = match self.wire {
            Wire::Ollama => ollama::model_matches,
            Wire::OpenAi => openai::model_matches,
        };
        if available.iter().any(|m| matches(&config.model, m)) {
            Ok(())
        } else {
            Err(LlmError::ModelNotFound {
                server: self.server.clone(),
                model: config.model.clone(),
                available,
            })
        }
    }

    /// See [`Client::list_models`].
    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        match self.wire {
            Wire::Ollama => ollama::tags(&self.get("/api/tags").await?),
            Wire::OpenAi => openai::model_ids(&self.get("/v1/models").await?),
        }
        .map_err(|detail| self.protocol(detail))
    }

    /// See [`Client::version`].
    async fn version(&self) -> Result<Option<String>, LlmError> {
        match self.wire {
            Wire::Ollama => ollama::version(&self.get("/api/version").await?)
                .map(Some)
                .map_err(|detail| self.protocol(detail)),
            Wire::OpenAi => Ok(None),
        }
    }

    fn post(&self, path: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let accept = match self.wire {
            Wire::Ollama => "application/x-ndjson",
            Wire::OpenAi => "text/event-stream",
        };
        self.authorize(
            self.http
                .post(format!("{}{path}", self.base))
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, accept)
                .body(body),
        )
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// A small GET whose whole answer is read.
    async fn get(&self, path: &str) -> Result<Vec<u8>, LlmError> {
        let request = format!("GET {path}");
        let wait = self.config.timeouts.first_token;
        let timeout = || LlmError::RequestTimeout {
            server: self.server.clone(),
            request: request.clone(),
            after: wait,
        };
        let url = format!("{}{path}", self.base);
        let (response, sent) = self.send(|| self.authorize(self.http.get(&url)), wait, timeout).await?;
        if !response.status().is_success() {
            return Err(self.status_error(&request, response).await);
        }
        self.read_body(response, sent + wait, timeout).await
    }

    /// Sends a request, retrying failures that happened before any byte of
    /// a response (connect refused or timed out, connection reset or closed
    /// before the status line). Each try may wait `wait` for the headers.
    /// Returns the response and when its request was sent.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        wait: Duration,
        timed_out: impl FnOnce() -> LlmError,
    ) -> Result<(reqwest::Response, Instant), LlmError> {
        let retry = self.config.retry;
        let attempts = retry.attempts.max(1);
        let mut backoff = retry.initial_backoff;
        let mut attempt = 1;
        loop {
            let sent = Instant::now();
            let error = match tokio::time::timeout(wait, make().send()).await {
                Err(_) => return Err(timed_out()),
                Ok(Ok(response)) => return Ok((response, sent)),
                Ok(Err(error)) => error,
            };
            // `send` fails only before a response exists: a connect error,
            // or the connection failing while the request was written or
            // the status line awaited.
            let before_response = error.is_connect() || error.is_request();
            if before_response && attempt < attempts {
                tracing::info!(
                    server = %self.server,
                    attempt,
                    attempts,
                    error = %describe(&error),
                    "connection failed; retrying in {backoff:?}"
                );
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(retry.max_backoff);
                attempt += 1;
                continue;
            }
            return Err(self.transport_error(&error, attempt));
        }
    }

    fn transport_error(&self, error: &reqwest::Error, attempts: u32) -> LlmError {
        let server = self.server.clone();
        if error.is_timeout() {
            LlmError::ConnectTimeout {
                server,
                after: self.config.timeouts.connect,
                attempts,
            }
        } else {
            LlmError::Connect {
                server,
                reason: connect_reason(error),
                attempts,
            }
        }
    }

    /// Reads a whole small body by `deadline`.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        deadline: Instant,
        timed_out: impl FnOnce() -> LlmError,
    ) -> Result<Vec<u8>, LlmError> {
        let mut body = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => return Err(timed_out()),
                Ok(Err(e)) => {
                    return Err(LlmError::Disconnected {
                        server: self.server.clone(),
                        tokens: 0,
                        reason: describe(&e),
                    });
                }
                Ok(Ok(None)) => return Ok(body),
                Ok(Ok(Some(chunk))) => {
                    if body.len() + chunk.len() > SMALL_BODY_LIMIT {
                        return Err(self.protocol(format!("an answer exceeded {SMALL_BODY_LIMIT} bytes")));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// [`status_error`](Self::status_error), with the models the server
    /// has filled in when the model is missing.
    async fn status_error_with_models(&self, request: &str, response: reqwest::Response) -> LlmError {
        let mut error = self.status_error(request, response).await;
        if let LlmError::ModelNotFound { available, .. } = &mut error {
            *available = self.list_models().await.unwrap_or_default();
        }
        error
    }

    /// The error for a non-success status, from the server's own words.
    async fn status_error(&self, request: &str, mut response: reqwest::Response) -> LlmError {
        let status = response.status().as_u16();
        let wait = self.config.timeouts.idle;
        let mut body = Vec::new();
        let _ = tokio::time::timeout(wait, async {
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() > 64 << 10 {
                    break;
                }
            }
        })
        .await;
        let message = error_message(&body);
        let server = self.server.clone();
        let lower = message.to_lowercase();
        match status {
            401 | 403 => LlmError::Unauthorized {
                server,
                status,
                message,
            },
            404 if (lower.contains("model") && lower.contains("not found")) || lower.contains("model_not_found") => {
                LlmError::ModelNotFound {
                    server,
                    model: self.config.model.clone(),
                    available: Vec::new(),
                }
            }
            _ => LlmError::Http {
                server,
                request: request.to_owned(),
                status,
                message,
            },
        }
    }

    fn protocol(&self, detail: String) -> LlmError {
        LlmError::Protocol {
            server: self.server.clone(),
            detail,
        }
    }
}

/// A non-streamed Ollama answer (or, liberally, a streamed one).
fn ollama_whole(body: &[u8]) -> Result<Vec<Event>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the answer is not UTF-8 ({e})"))?;
    let mut events = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line = ChatLine::parse(line)?;
        let done = line.is_done();
        line.events(&mut |e| events.push(e));
        if done {
            break;
        }
    }
    Ok(events)
}

/// The server's words in an error body: `{"error": "…"}` (Ollama),
/// `{"error": {"message": …}}` (OpenAI), `{"detail": …}` (FastAPI), or the
/// start of the text.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        for key in ["error", "detail", "message"] {
            if let Some(field) = value.get(key) {
                return error_text(field);
            }
        }
    }
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        let mut cut = text.len().min(200);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text[..cut].to_owned()
    }
}

/// A connection failure in a few words ("connection refused"), else the
/// innermost cause.
fn connect_reason(error: &reqwest::Error) -> String {
    use std::io::ErrorKind;
    let mut source = error.source();
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            let short = match io.kind() {
                ErrorKind::ConnectionRefused => Some("connection refused"),
                ErrorKind::ConnectionReset => Some("connection reset"),
                ErrorKind::ConnectionAborted => Some("connection aborted"),
                ErrorKind::BrokenPipe => Some("connection closed"),
                ErrorKind::HostUnreachable => Some("host unreachable"),
                ErrorKind::NetworkUnreachable => Some("network unreachable"),
                ErrorKind::TimedOut => Some("timed out"),
                _ => None,
            };
            if let Some(short) = short {
                return short.to_owned();
            }
        }
        innermost = Some(cause);
        source = cause.source();
    }
    innermost.map_or_else(|| error.to_string(), ToString::to_string)
}

/// The whole chain of a reqwest error (its Display stops at the top).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    assistant_core::error::chain(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_yield_the_servers_words() {
        assert_eq!(
            error_message(br#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(
            error_message(
                br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#
            ),
            "bad key (invalid_request_error, invalid_api_key)"
        );
        assert_eq!(error_message(br#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_message(b"404 page not found"), "404 page not found");
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn bad_settings_are_refused_before_any_request() {
        let config = ServerConfig::new(Backend::Ollama, "localhost:11434", "llama3.2");
        let err = Client::new(config).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.starts_with("invalid [llm] url: 'localhost:11434' is not an http"),
            "{err}"
        );
        let config = ServerConfig::new(Backend::Ollama, "http://127.0.0.1:11434", " ");
        assert!(matches!(
            Client::new(config),
            Err(LlmError::Config { field: "model", .. })
        ));
    }

    /// The base URL of an HTTP client.
    fn base(client: &Client) -> Option<String> {
        match &*client.inner {
            Inner::Http(http) => Some(http.base.clone()),
            _ => None,
        }
    }

    #[test]
    fn base_urls_are_normalized() {
        let client = Client::new(ServerConfig::new(Backend::OpenAi, "http://127.0.0.1:8080/v1/", "m")).ok();
        assert_eq!(client.as_ref().and_then(base), Some("http://127.0.0.1:8080".to_owned()));
        assert_eq!(
            client.map(|c| c.endpoint().url.clone()),
            Some("http://127.0.0.1:8080/v1".to_owned())
        );
        let client = Client::new(ServerConfig::new(Backend::Ollama, "http://h:11434/", "m")).ok();
        assert_eq!(client.as_ref().and_then(base), Some("http://h:11434".to_owned()));
    }
}
