//! The handle stages record with: every call is a `try_send` on a bounded
//! channel, so recording never waits; a full channel drops the record and
//! counts it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use assistant_core::{Timestamp, TurnId};
use tokio::sync::mpsc;

use crate::timeline::{Mark, Span, Stage};

/// One thing a stage recorded.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A moment of `turn` (the first of each kind is kept).
    Mark {
        /// The turn.
        turn: TurnId,
        /// Which moment.
        mark: Mark,
        /// When.
        at: Timestamp,
    },
    /// Work of `turn` with a start and an end.
    Span {
        /// The turn.
        turn: TurnId,
        /// The work.
        span: Span,
    },
    /// A stage's own measurement (the LLM server's prompt evaluation, say).
    Figure {
        /// The turn.
        turn: TurnId,
        /// What was measured, e.g. `llm_server_prompt_eval`.
        name: &'static str,
        /// How long it took.
        value: Duration,
    },
    /// The turn is over: its trace is complete.
    End {
        /// The turn.
        turn: TurnId,
        /// How it ended: "completed", "barge-in", "failed", …
        outcome: &'static str,
    },
}

/// Records marks, spans and figures for the collector; cheap to clone,
/// usable from any thread (the audio threads included: it never blocks or
/// locks, though a record that names a span allocates its name).
#[derive(Clone, Debug)]
pub struct Tracer {
    tx: Option<mpsc::Sender<Record>>,
    dropped: Arc<AtomicU64>,
}

impl Tracer {
    /// A tracer and the receiving end for a [`Collector`](crate::Collector),
    /// holding up to `capacity` records in flight.
    #[must_use]
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Record>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                tx: Some(tx),
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// A tracer that records nothing.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records `mark` of `turn` at `at`.
    pub fn mark(&self, turn: TurnId, mark: Mark, at: Timestamp) {
        self.send(Record::Mark { turn, mark, at });
    }

    /// Records work of `turn`.
    pub fn span(&self, turn: TurnId, stage: Stage, name: impl Into<String>, start: Timestamp, end: Timestamp) {
        if self.tx.is_none() {
            return;
        }
        let span = Span {
            stage,
            name: name.into(),
            start,
            end,
        };
        self.send(Record::Span { turn, span });
    }

    /// Records a stage's own measurement.
    pub fn figure(&self, turn: TurnId, name: &'static str, value: Duration) {
        self.send(Record::Figure { turn, name, value });
    }

    /// Says `turn` is over.
    pub fn end(&self, turn: TurnId, outcome: &'static str) {
        self.send(Record::End { turn, outcome });
    }

    /// Records dropped because the collector was behind (or gone).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, record: Record) {
        if let Some(tx) = &self.tx
            && tx.try_send(record).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_drops_and_counts_instead_of_waiting() {
        let (tracer, mut rx) = Tracer::channel(2);
        for i in 0..5 {
            tracer.mark(TurnId(1), Mark::FirstToken, Timestamp::from_nanos(i));
        }
        assert_eq!(tracer.dropped(), 3);
        assert!(matches!(rx.try_recv(), Ok(Record::Mark { at, .. }) if at == Timestamp::from_nanos(0)));
        let disabled = Tracer::disabled();
        disabled.end(TurnId(1), "completed");
        assert_eq!(disabled.dropped(), 0);
    }
}
