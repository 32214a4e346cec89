//! The vocabulary of assistantd.
//!
//! Every pipeline stage (listening, thinking, speaking, tracing) lives in its
//! own crate, and no stage crate depends on another: they meet only through
//! the message types defined here, sent over bounded channels that the pipeline
//! crate wires together. Keeping the vocabulary in one small crate (serde, and
//! tokio's runtime for [`event_loop`]) is what lets a test drive any stage with fake neighbours.
//!
//! - [`clock`]: one monotonic clock for the whole pipeline, so the latency
//!   tracer can subtract timestamps taken by different stages.
//! - [`audio`]: the 20 ms frame that capture produces and recognition consumes,
//!   and the synthesized audio chunk that playback consumes.
//! - [`event`]: transcript events, LLM tokens, clauses, and the turn id that
//!   ties one user utterance to its reply.
//! - [`error`]: the one place an error's chain of causes becomes words.
//! - [`event_loop`]: where a stage's own thread waits: the caller's runtime
//!   if it has one (one runtime per process), else a private one.

pub mod audio;
pub mod clock;
pub mod error;
pub mod event;
pub mod event_loop;

pub use audio::{AudioFrame, SpeechChunk};
pub use clock::{Clock, Timestamp};
pub use event::{Clause, DecodeTime, Token, TranscriptEvent, TurnId};
