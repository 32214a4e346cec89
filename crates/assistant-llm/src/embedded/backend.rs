//! The client side of the embedded backend: loading on first use, and the
//! reply that reads the generating thread's channel.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use assistant_core::{Clock, Timestamp, Token, TurnId};
use tokio::sync::mpsc;

use super::engine::{self, Engine};
use super::{EmbeddedConfig, ModelInfo};
use crate::error::Endpoint;
use crate::{Finish, LlmError, Message, Reply, ServerConfig, ServerStats};

/// How many tokens may wait between the generating thread and the reply's
/// reader before generation waits: a slow reader applies backpressure.
const TOKEN_QUEUE: usize = 256;

/// The embedded backend behind a [`Client`](crate::Client): the settings,
/// and the engine once loaded. A failed load is not kept: the next call
/// tries again (after the file was fixed, say).
pub(crate) struct Embedded {
    config: ServerConfig,
    settings: EmbeddedConfig,
    server: Endpoint,
    engine: Mutex<Option<Arc<Engine>>>,
    /// Serializes loads, so two first calls load the model once.
    loading: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded")
            .field("settings", &self.settings)
            .field("loaded", &self.loaded().is_some())
            .finish_non_exhaustive()
    }
}

impl Embedded {
    /// See [`Client::new`](crate::Client::new): the configuration must carry
    /// [`ServerConfig::embedded`] settings.
    pub(crate) fn new(config: ServerConfig) -> Result<Self, LlmError> {
        let Some(settings) = config.embedded.clone() else {
            return Err(LlmError::Config {
                field: "backend",
                reason: "the embedded backend has no model; give it one (ServerConfig::embedded)".into(),
            });
        };
        if settings.batch == 0 {
            return Err(LlmError::Config {
                field: "embedded.batch",
                reason: "must be at least 1 token (512 is llama.cpp's default)".into(),
            });
        }
        let server = Endpoint {
            backend: config.backend,
            url: settings.model.display().to_string(),
            pace: None,
        };
        Ok(Self {
            config,
            settings,
            server,
            engine: Mutex::new(None),
            loading: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.server
    }

    fn loaded(&self) -> Option<Arc<Engine>> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// What loading found, once loaded.
    pub(crate) fn info(&self) -> Option<ModelInfo> {
        self.loaded().map(|engine| engine.info().clone())
    }

    /// The engine, loading it first if need be (on a blocking thread).
    async fn engine(&self) -> Result<Arc<Engine>, LlmError> {
        if let Some(engine) = self.loaded() {
            return Ok(engine);
        }
        let _one_load = self.loading.lock().await;
        if let Some(engine) = self.loaded() {
            return Ok(engine);
        }
        let settings = self.settings.clone();
        let options = self.config.options.clone();
        let server = self.server.clone();
        let engine = tokio::task::spawn_blocking(move || Engine::start(&settings, &options, server))
            .await
            .map_err(|e| LlmError::Model {
                path: self.settings.model.clone(),
                reason: format!("the thread loading it failed ({e})"),
            })??;
        let engine = Arc::new(engine);
        tracing::info!(model = %engine.info(), "embedded model loaded");
        *self.engine.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&engine));
        Ok(engine)
    }

    /// Loads the model (if not yet loaded) and returns how long that took.
    pub(crate) async fn warm_up(&self) -> Result<Duration, LlmError> {
        let engine = self.engine().await?;
        Ok(engine.info().load)
    }

    /// Queues the request; tokens follow as the engine generates them.
    pub(crate) async fn chat(&self, turn: TurnId, messages: &[Message], clock: &Clock) -> Result<Reply, LlmError> {
        let started = clock.now();
        let engine = self.engine().await?;
        let (tx, rx) = mpsc::channel(TOKEN_QUEUE);
        engine.submit(engine::Job {
            turn,
            messages: messages.to_vec(),
            options: self.config.options.clone(),
            clock: *clock,
            out: tx,
        })?;
        Ok(Reply::embedded(EmbeddedReply {
            server: self.server.clone(),
            rx,
            turn,
            started,
            count: 0,
            first_at: None,
            text: String::new(),
            finish: None,
            ended: false,
            _engine: engine,
        }))
    }

    /// The model's name: the one model this backend has.
    pub(crate) fn list_models(&self) -> Vec<String> {
        vec![self.settings.name.clone()]
    }

    /// The generating thread's count of tokens it has evaluated, across
    /// all requests (prompt tokens excluded).
    pub(crate) fn generated(&self) -> Option<u64> {
        self.loaded().map(|engine| engine.generated())
    }
}

/// What the generating thread sends a reply.
#[derive(Debug)]
pub(crate) enum Piece {
    /// A piece of the reply's text (never empty), stamped when sampled.
    Token(Token),
    /// The reply is complete.
    Done {
        /// `"stop"` (end of turn or a stop sequence) or `"length"`
        /// (`max_tokens` or the context's end).
        reason: &'static str,
        /// llama.cpp's figures for this request.
        stats: ServerStats,
        /// When generation ended.
        at: Timestamp,
    },
    /// The request failed (tokens sent before it stand).
    Failed(LlmError),
}

/// A reply being generated by the embedded engine.
#[derive(Debug)]
pub(crate) struct EmbeddedReply {
    server: Endpoint,
    rx: mpsc::Receiver<Piece>,
    turn: TurnId,
    started: Timestamp,
    count: u32,
    first_at: Option<Timestamp>,
    text: String,
    finish: Option<Finish>,
    /// The reply ended (finished, failed or cut off): nothing more comes.
    ended: bool,
    /// Keeps the engine (and its thread) alive while the reply streams,
    /// even if the client is dropped first.
    _engine: Arc<Engine>,
}

impl EmbeddedReply {
    /// See [`Reply::next`]. Cancel-safe: a channel receive loses nothing.
    pub(crate) async fn next(&mut self) -> Option<Result<Token, LlmError>> {
        if self.ended {
            return None;
        }
        let piece = self.rx.recv().await;
        match piece {
            Some(Piece::Token(token)) => {
                self.first_at.get_or_insert(token.at);
                self.count += 1;
                self.text.push_str(&token.text);
                Some(Ok(token))
            }
            Some(Piece::Done { reason, stats, at }) => {
                self.finish = Some(Finish {
                    reason: Some(reason.to_owned()),
                    tokens: self.count,
                    time_to_first_token: self.first_at.and_then(|t| t.checked_since(self.started)),
                    elapsed: at.checked_since(self.started).unwrap_or_default(),
                    server: stats,
                });
                self.ended = true;
                None
            }
            Some(Piece::Failed(error)) => {
                self.ended = true;
                Some(Err(error))
            }
            None => {
                self.ended = true;
                Some(Err(LlmError::Disconnected {
                    server: self.server.clone(),
                    tokens: self.count,
                    reason: "the embedded model's thread stopped without finishing the reply".into(),
                }))
            }
        }
    }

    pub(crate) fn turn(&self) -> TurnId {
        self.turn
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn finish(&self) -> Option<&Finish> {
        self.finish.as_ref()
    }
}
