//! The thinking stage of assistantd.
//!
//! This is the only crate that speaks HTTP to a model server: Ollama's
//! `/api/chat` (NDJSON) and the OpenAI-compatible `/v1/chat/completions`
//! (server-sent events), each streamed token by token. Both protocols are
//! line-framed, and a token's bytes may arrive split anywhere: across reads,
//! mid-line, even inside one UTF-8 code point. [`LineFramer`] turns arbitrary
//! byte chunks into whole lines without ever buffering more than one
//! unfinished line; the protocol clients are built on it.

mod framing;

pub use framing::{FramingError, LineFramer};
