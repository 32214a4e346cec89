//! The pipeline: what happens between the stages.
//!
//! The stages (listening, thinking, speaking, playback) each own one engine
//! and know nothing of each other. This crate holds the logic that sits
//! between them and belongs to none: today the clause chunker, which turns
//! the LLM's token stream into speakable clauses for the voice
//! ([`chunker`], on top of the markdown-and-emoji filter [`speakable`]).
//! The turn loop that wires the stages with bounded channels comes next
//! (issue 13); it may depend on the stage crates, and no stage depends on it.

pub mod barge_in;
pub mod chunker;
pub mod daemon;
pub mod io;
pub mod record;
pub mod speakable;
pub mod spoken;
pub mod turn;

pub use barge_in::{BargeIn, BargeInMode, BargeInSettings, Decision};
pub use chunker::{Chunker, ChunkerSettings};
pub use daemon::{Daemon, DaemonSettings, PipelineError, Summary, TurnState};
pub use io::{MicSource, Pace, RecorderSink, Sink, Source, SourceItem, SourceStats, SpeakerSink, WavSource};
