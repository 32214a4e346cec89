//! The latency tracer.
//!
//! assistantd promises to prove its latency with numbers. The figure a
//! user feels is the gap between the end of their words and the start of
//! the reply, and it is spent in five places: the endpoint wait, the
//! recognizer's finalisation, the LLM up to the first clause, the voice's
//! synthesis of it, and the device's buffer. Whatever is left is the
//! pipeline's own cost. This crate measures all of it on every turn, in
//! the running daemon and in `assistantd bench` alike.
//!
//! - Stages record through a [`Tracer`]: [`Mark`]s (moments on the
//!   pipeline's one monotonic clock), [`Span`]s (a clause's synthesis, a
//!   piece's playback) and figures (the LLM server's own durations). Each
//!   call is a `try_send` on a bounded channel: recording never waits, and
//!   a record the collector had no room for is dropped and counted.
//! - A [`Collector`], on a thread of its own, assembles each turn's
//!   [`TurnTrace`] and, when the turn ends, derives its [`Breakdown`] and
//!   writes it: a summary line in the log, a JSON line (`--trace-out`),
//!   Chrome trace events (`--chrome-trace`, opens in Perfetto with one
//!   track per stage). A benchmark keeps the turns for its report.
//!
//! Timelines are data, not log lines, so `bench` can aggregate them and a
//! test can assert their order.

mod breakdown;
mod chrome;
mod collect;
mod timeline;
mod tracer;

use std::path::{Path, PathBuf};

pub use breakdown::Breakdown;
pub use chrome::ChromeTrace;
pub use collect::{Collector, Outputs, TurnTrace};
pub use timeline::{Mark, Span, Stage, Step, Timeline};
pub use tracer::{Record, Tracer};

/// What can go wrong writing a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A trace file could not be created or written.
    #[error("cannot write the trace file {}: {source}; check that its folder exists and is writable", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl TraceError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
