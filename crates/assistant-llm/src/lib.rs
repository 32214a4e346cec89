//! The thinking stage of assistantd: streamed replies from a local model
//! server.
//!
//! This is the only crate that speaks HTTP to a model server: Ollama's
//! `/api/chat` (NDJSON) and the OpenAI-compatible `/v1/chat/completions`
//! (server-sent events), each streamed token by token. A voice assistant
//! starts speaking at the first clause, so nothing here waits for a whole
//! reply: the response body is read chunk by chunk (`reqwest`'s
//! `Response::chunk`), [`LineFramer`] turns arbitrary byte chunks into whole
//! lines (a token's bytes may arrive split anywhere: across reads, mid-line,
//! even inside one UTF-8 code point) without buffering more than one
//! unfinished line, and each token is stamped on the pipeline
//! [`Clock`](assistant_core::Clock) the moment its line is parsed.
//!
//! - [`Client`]: one per server (cheap to clone, one connection pool).
//!   [`Client::chat`] returns a [`Reply`] once the server accepted the
//!   request; [`Reply::next`] yields [`Token`](assistant_core::Token)s, then
//!   [`Reply::finish`] says why it stopped, with the server's figures and
//!   our time to first token. [`Client::warm_up`] loads the model ahead of
//!   the first turn, [`Client::check_model`] says whether it is there.
//! - **Cancellation by drop**: dropping a [`Reply`] drops the HTTP response
//!   and closes its connection, which stops generation on the server.
//!   Barge-in needs nothing else.
//! - [`Conversation`]: the system prompt and a history bounded by a
//!   character budget, which records an interrupted reply only up to what
//!   was spoken.
//! - [`LlmError`]: every failure typed and worded with its fix. Connection
//!   failures before a response are retried with backoff; nothing is
//!   retried once a token may have been spoken. Connect, first-token, idle
//!   and warm-up timeouts are separate settings and separate errors.
//! - **The scripted responder** ([`Backend::Scripted`], a [`Script`] from a
//!   spec such as `scripted(ttft=150ms,rate=40):Hello, world.`): no server
//!   and no request, just the script's text cut into model-like tokens and
//!   streamed on an exact schedule (the first token after `ttft`, then
//!   `rate` tokens per second, on tokio's clock). It exists so that
//!   `assistantd bench` measures every other stage reproducibly on any
//!   machine; it is behind the same [`Client`] and [`Reply`], so the
//!   pipeline cannot tell, but reports can: its [`Endpoint`] reads "the
//!   scripted responder (ttft 150 ms, 40 tokens/s)" and its
//!   [`Finish::server`] figures are the script's.
//!
//! ```no_run
//! # async fn demo() -> Result<(), assistant_llm::LlmError> {
//! use assistant_core::{Clock, TurnId};
//! use assistant_llm::{Backend, Client, Conversation, ServerConfig};
//!
//! let client = Client::new(ServerConfig::new(Backend::Ollama, "http://127.0.0.1:11434", "llama3.2"))?;
//! client.warm_up().await?;
//! let clock = Clock::start();
//! let mut conversation = Conversation::new(Some("Answer in one sentence.".into()), 8_000);
//! conversation.push_user("Why is the sky blue?");
//! let mut reply = client.chat(TurnId(1), &conversation.messages(), &clock).await?;
//! while let Some(token) = reply.next().await {
//!     let token = token?;
//!     // hand token.text to the chunker…
//! }
//! conversation.record_reply(reply.text());
//! # Ok(()) }
//! ```
//!
//! The same loop with the scripted responder in place of a server:
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use assistant_llm::{Client, Script, ServerConfig};
//!
//! let script = Script::parse("scripted(ttft=150ms,rate=40):Hello, world.")?;
//! let client = Client::new(ServerConfig::scripted(script))?;
//! assert_eq!(client.endpoint().to_string(), "the scripted responder (ttft 150 ms, 40 tokens/s)");
//! # Ok(()) }
//! ```

mod client;
mod config;
mod conversation;
mod embedded;
mod error;
mod framing;
pub mod gguf;
mod ollama;
mod openai;
mod reply;
mod scripted;

pub use client::Client;
pub use config::{Backend, GenerationOptions, Retry, ServerConfig, Timeouts};
pub use conversation::{Conversation, Exchange, Message, Role};
pub use embedded::{DEFAULT_CONTEXT, EmbeddedConfig, ModelInfo, TemplateSource};
pub use error::{Endpoint, LlmError};
pub use framing::{FramingError, LineFramer};
pub use reply::{Finish, Reply, ServerStats};
pub use scripted::{Pace, SCRIPT_SYNTAX, Script, ScriptError};
