//! A streamed reply: tokens as they arrive, then how the reply ended.
//!
//! [`Reply`] is the same for every backend; inside, an HTTP response being
//! decoded or a scripted reply on its schedule.

use std::collections::VecDeque;
use std::time::Duration;

use assistant_core::{Clock, Timestamp, Token, TurnId};
use tokio::time::Instant;

#[cfg(feature = "embedded")]
use crate::embedded::EmbeddedReply;
use crate::error::Endpoint;
use crate::ollama::NdjsonDecoder;
use crate::openai::SseDecoder;
use crate::scripted::ScriptedReply;
use crate::{LineFramer, LlmError, Timeouts};

/// The longest line (one NDJSON object or SSE field) accepted.
const LINE_LIMIT: usize = 1 << 20;

/// What the server reported about the work it did; every field is optional
/// because servers report different subsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Tokens in the prompt (Ollama `prompt_eval_count`, OpenAI `usage.prompt_tokens`).
    pub prompt_tokens: Option<u64>,
    /// Tokens generated (Ollama `eval_count`, OpenAI `usage.completion_tokens`).
    pub completion_tokens: Option<u64>,
    /// The whole request on the server (Ollama `total_duration`).
    pub total: Option<Duration>,
    /// Loading the model (Ollama `load_duration`): non-zero means it was cold.
    pub load: Option<Duration>,
    /// Evaluating the prompt (Ollama `prompt_eval_duration`, llama.cpp `timings.prompt_ms`).
    pub prompt_eval: Option<Duration>,
    /// Generating the reply (Ollama `eval_duration`, llama.cpp `timings.predicted_ms`).
    pub eval: Option<Duration>,
    /// Prompt tokens actually evaluated for this request, as llama.cpp
    /// counts them (`n_p_eval`; embedded backend): the rest came from the
    /// KV cache.
    pub prompt_evaluated: Option<u64>,
    /// Prompt tokens reused from the KV cache (embedded backend; llama.cpp
    /// server `timings.cache_n`).
    pub prompt_cached: Option<u64>,
}

/// How a reply ended, available from [`Reply::finish`] once
/// [`Reply::next`] has returned `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finish {
    /// Why generation stopped: Ollama's `done_reason`, OpenAI's
    /// `finish_reason` (`"stop"`, `"length"`, …), if the server said.
    pub reason: Option<String>,
    /// Tokens (content pieces) received.
    pub tokens: u32,
    /// From the call to [`Client::chat`](crate::Client::chat) (retries
    /// included) to the first token reaching the client; `None` for an empty reply.
    pub time_to_first_token: Option<Duration>,
    /// From the call to [`Client::chat`](crate::Client::chat) to the end of the reply.
    pub elapsed: Duration,
    /// What the server reported.
    pub server: ServerStats,
}

/// What a protocol decoder found in a line or frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A piece of the reply's text (never empty).
    Token(String),
    /// The reply is complete.
    Done {
        /// `done_reason` / `finish_reason`.
        reason: Option<String>,
        /// The server's figures.
        stats: ServerStats,
    },
    /// The server reported an error inside the reply.
    Error(String),
}

/// Nanoseconds (Ollama's unit for durations) as a [`Duration`].
pub(crate) fn nanos(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

/// The decoder for the backend's body format.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per reply, moved once: boxing would only add an allocation
pub(crate) enum Decoder {
    /// Ollama's NDJSON.
    Ollama(NdjsonDecoder),
    /// OpenAI-compatible SSE.
    OpenAi(SseDecoder),
}

impl Decoder {
    fn line(&mut self, line: &str, out: &mut dyn FnMut(Event)) -> Result<(), String> {
        match self {
            Self::Ollama(d) => d.line(line, out),
            Self::OpenAi(d) => d.line(line, out),
        }
    }

    fn end(&mut self, out: &mut dyn FnMut(Event)) -> Result<(), String> {
        match self {
            Self::Ollama(_) => Ok(()),
            Self::OpenAi(d) => d.end(out),
        }
    }
}

/// How the stream ended, delivered after the tokens parsed before it.
#[derive(Debug)]
enum Outcome {
    Done {
        reason: Option<String>,
        stats: ServerStats,
        at: Timestamp,
    },
    Failed(LlmError),
}

/// Tokens parsed but not yet handed out, and the outcome once known.
#[derive(Debug)]
struct Received {
    turn: TurnId,
    clock: Clock,
    parsed: VecDeque<Token>,
    count: u32,
    first_at: Option<Timestamp>,
    last_token: Instant,
    outcome: Option<Outcome>,
}

impl Received {
    /// Decodes one framed line, unless the reply already ended.
    fn line(&mut self, decoder: &mut Decoder, line: &str, server: &Endpoint) {
        if self.outcome.is_some() {
            return;
        }
        if let Err(detail) = decoder.line(line, &mut |event| self.apply(event, server)) {
            self.protocol_error(server, detail);
        }
    }

    fn protocol_error(&mut self, server: &Endpoint, detail: String) {
        self.fail(LlmError::Protocol {
            server: server.clone(),
            detail,
        });
    }

    fn apply(&mut self, event: Event, server: &Endpoint) {
        if self.outcome.is_some() {
            return;
        }
        match event {
            Event::Token(text) => {
                // Stamped the moment the line is parsed: this is when the
                // token reached the client, whatever the consumer does next.
                let at = self.clock.now();
                self.first_at.get_or_insert(at);
                self.last_token = Instant::now();
                self.count += 1;
                self.parsed.push_back(Token {
                    turn: self.turn,
                    text,
                    at,
                });
            }
            Event::Done { reason, stats } => {
                self.outcome = Some(Outcome::Done {
                    reason,
                    stats,
                    at: self.clock.now(),
                });
            }
            Event::Error(message) => {
                self.outcome = Some(Outcome::Failed(LlmError::Server {
                    server: server.clone(),
                    message,
                    tokens: self.count,
                }));
            }
        }
    }

    fn fail(&mut self, error: LlmError) {
        if self.outcome.is_none() {
            self.outcome = Some(Outcome::Failed(error));
        }
    }
}

/// A reply being streamed, token by token, from the server or from the
/// scripted responder.
///
/// Call [`next`](Self::next) until it returns `None`; then
/// [`finish`](Self::finish) says how the reply ended. An error ends the
/// stream (the next call returns `None`).
///
/// **Dropping a `Reply` cancels it**: the HTTP response is dropped, which
/// closes its connection, and the server stops generating. That is how
/// barge-in stops the model. An embedded reply's channel closes, and the
/// generating thread stops before its next token. A scripted reply has
/// nothing running in the background: dropped, it simply yields no more.
///
/// Timeouts are enforced inside `next`: until the first token, the
/// first-token timeout counted from when the request was sent (so the wait
/// for headers counts too); after it, the idle timeout between tokens. A
/// scripted or embedded reply has no network to wait on and never times out.
#[derive(Debug)]
pub struct Reply {
    source: Source,
}

/// Where a reply's tokens come from.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per turn, moved once: boxing would only add an allocation
enum Source {
    /// A model server's streamed response.
    Http(HttpReply),
    /// The scripted responder.
    Scripted(ScriptedReply),
    /// The embedded model's generating thread.
    #[cfg(feature = "embedded")]
    Embedded(EmbeddedReply),
}

impl Reply {
    /// A reply streamed from a model server.
    pub(crate) fn http(reply: HttpReply) -> Self {
        Self {
            source: Source::Http(reply),
        }
    }

    /// A reply from the scripted responder.
    pub(crate) fn scripted(reply: ScriptedReply) -> Self {
        Self {
            source: Source::Scripted(reply),
        }
    }

    /// A reply from the embedded model.
    #[cfg(feature = "embedded")]
    pub(crate) fn embedded(reply: EmbeddedReply) -> Self {
        Self {
            source: Source::Embedded(reply),
        }
    }

    /// The next token, as soon as it has arrived; `None` when the reply is
    /// complete (then [`finish`](Self::finish) is set) or after an error.
    /// Each token is stamped on the pipeline clock the moment it is
    /// received (scripted: the moment it is due).
    ///
    /// # Errors
    /// [`LlmError::FirstTokenTimeout`], [`LlmError::IdleTimeout`],
    /// [`LlmError::Disconnected`] (connection broken or body ended early),
    /// [`LlmError::Server`] (an error reported mid-reply),
    /// [`LlmError::Protocol`] (a malformed line). Tokens received before the
    /// failure are delivered first. A scripted reply does not fail.
    ///
    /// Cancel-safe: it may lose a race in `tokio::select!` (say, against the
    /// turn's cancellation token) without losing a token.
    pub async fn next(&mut self) -> Option<Result<Token, LlmError>> {
        match &mut self.source {
            Source::Http(reply) => reply.next().await,
            Source::Scripted(reply) => reply.next().await,
            #[cfg(feature = "embedded")]
            Source::Embedded(reply) => reply.next().await,
        }
    }

    /// The turn this reply answers.
    #[must_use]
    pub fn turn(&self) -> TurnId {
        match &self.source {
            Source::Http(reply) => reply.rx.turn,
            Source::Scripted(reply) => reply.turn(),
            #[cfg(feature = "embedded")]
            Source::Embedded(reply) => reply.turn(),
        }
    }

    /// The text of every token [`next`](Self::next) has returned so far.
    #[must_use]
    pub fn text(&self) -> &str {
        match &self.source {
            Source::Http(reply) => &reply.text,
            Source::Scripted(reply) => reply.text(),
            #[cfg(feature = "embedded")]
            Source::Embedded(reply) => reply.text(),
        }
    }

    /// How the reply ended; `None` until it is complete (and after an error).
    #[must_use]
    pub fn finish(&self) -> Option<&Finish> {
        match &self.source {
            Source::Http(reply) => reply.finish.as_ref(),
            Source::Scripted(reply) => reply.finish(),
            #[cfg(feature = "embedded")]
            Source::Embedded(reply) => reply.finish(),
        }
    }
}

/// A reply being streamed from a model server over HTTP.
#[derive(Debug)]
pub(crate) struct HttpReply {
    server: Endpoint,
    body: Option<reqwest::Response>,
    framer: LineFramer,
    decoder: Decoder,
    rx: Received,
    timeouts: Timeouts,
    /// When `chat` was called, on the pipeline clock.
    started: Timestamp,
    /// When the request that got this response was sent.
    sent: Instant,
    text: String,
    finish: Option<Finish>,
}

impl HttpReply {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        server: Endpoint,
        response: reqwest::Response,
        decoder: Decoder,
        turn: TurnId,
        clock: Clock,
        timeouts: Timeouts,
        started: Timestamp,
        sent: Instant,
    ) -> Self {
        Self {
            server,
            body: Some(response),
            framer: LineFramer::new(LINE_LIMIT),
            decoder,
            rx: Received {
                turn,
                clock,
                parsed: VecDeque::new(),
                count: 0,
                first_at: None,
                last_token: sent,
                outcome: None,
            },
            timeouts,
            started,
            sent,
            text: String::new(),
            finish: None,
        }
    }

    /// See [`Reply::next`].
    async fn next(&mut self) -> Option<Result<Token, LlmError>> {
        loop {
            if let Some(token) = self.rx.parsed.pop_front() {
                self.text.push_str(&token.text);
                return Some(Ok(token));
            }
            match self.rx.outcome.take() {
                Some(Outcome::Done { reason, stats, at }) => {
                    self.finish = Some(Finish {
                        reason,
                        tokens: self.rx.count,
                        time_to_first_token: self.rx.first_at.and_then(|t| t.checked_since(self.started)),
                        elapsed: at.checked_since(self.started).unwrap_or_default(),
                        server: stats,
                    });
                    self.release().await;
                    return None;
                }
                Some(Outcome::Failed(error)) => {
                    // Dropping the response closes the connection.
                    self.body = None;
                    return Some(Err(error));
                }
                None => {}
            }
            let body = self.body.as_mut()?;
            let (deadline, first) = if self.rx.count == 0 {
                (self.sent + self.timeouts.first_token, true)
            } else {
                (self.rx.last_token + self.timeouts.idle, false)
            };
            match tokio::time::timeout_at(deadline, body.chunk()).await {
                Err(_) => self.rx.fail(if first {
                    LlmError::FirstTokenTimeout {
                        server: self.server.clone(),
                        after: self.timeouts.first_token,
                    }
                } else {
                    LlmError::IdleTimeout {
                        server: self.server.clone(),
                        after: self.timeouts.idle,
                        tokens: self.rx.count,
                    }
                }),
                Ok(Err(error)) => self.rx.fail(LlmError::Disconnected {
                    server: self.server.clone(),
                    tokens: self.rx.count,
                    reason: crate::client::describe(&error),
                }),
                Ok(Ok(Some(bytes))) => self.feed(&bytes),
                Ok(Ok(None)) => self.feed_end(),
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let (rx, decoder, server) = (&mut self.rx, &mut self.decoder, &self.server);
        let framed = self.framer.push(bytes, |line| rx.line(decoder, line, server));
        if let Err(e) = framed {
            rx.protocol_error(server, e.to_string());
        }
    }

    fn feed_end(&mut self) {
        let (rx, decoder, server) = (&mut self.rx, &mut self.decoder, &self.server);
        let framed = self.framer.finish(|line| rx.line(decoder, line, server));
        if let Err(e) = framed {
            rx.protocol_error(server, e.to_string());
        }
        if rx.outcome.is_none()
            && let Err(detail) = decoder.end(&mut |event| rx.apply(event, server))
        {
            rx.protocol_error(server, detail);
        }
        rx.fail(LlmError::Disconnected {
            server: server.clone(),
            tokens: rx.count,
            reason: "the body ended without the reply's final line".into(),
        });
        self.body = None;
    }

    /// After the final line: reads what the server has already sent (the
    /// end of the chunked body) without waiting, so a well-behaved
    /// connection goes back to the pool; otherwise it is closed.
    async fn release(&mut self) {
        if let Some(mut body) = self.body.take() {
            for _ in 0..4 {
                match tokio::time::timeout(Duration::ZERO, body.chunk()).await {
                    Ok(Ok(Some(_))) => {}
                    _ => break,
                }
            }
        }
    }
}

impl Drop for HttpReply {
    fn drop(&mut self) {
        if self.body.is_some() {
            tracing::debug!(turn = %self.rx.turn, tokens = self.rx.count, "reply dropped before its end; the request is aborted");
        }
    }
}
