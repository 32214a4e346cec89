//! What of each clause was heard: pure bookkeeping over sample positions.
//!
//! Every sample handed to playback gets an index in one stream. A clause is
//! the range of indices it was pushed as. The audio callback reports one
//! number, how far it has taken the stream (`popped`), and an anchor (an
//! index and the clock time it reached the device). From those alone this
//! module says when each clause started and finished, and, when barge-in
//! cuts the stream at an index, how much of each clause in flight was
//! heard. No device, no threads: the playback thread feeds it numbers and
//! sends the events it returns.

use std::collections::VecDeque;

use assistant_core::{Timestamp, TurnId};

use super::PlaybackEvent;

/// The time the sample at `index` reached (or, by the playout schedule,
/// reaches) the device: placed from the anchor `(anchor_index, at)` at
/// `rate`. Before the anchor, the anchor's own time; with no anchor yet, 0.
#[must_use]
pub(crate) fn place(index: u64, anchor: Option<(u64, Timestamp)>, rate: u32) -> Timestamp {
    match anchor {
        Some((start, at)) if index >= start => {
            let ns = u128::from(index - start) * 1_000_000_000 / u128::from(rate.max(1));
            Timestamp::from_nanos(at.as_nanos().saturating_add(u64::try_from(ns).unwrap_or(u64::MAX)))
        }
        Some((_, at)) => at,
        None => Timestamp::ZERO,
    }
}

/// A clause on its way to the device.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight {
    turn: TurnId,
    clause: u32,
    /// Its first sample's index in the stream.
    start: u64,
    /// One past its last.
    end: u64,
    /// `Started` was reported.
    started: bool,
}

impl InFlight {
    fn len(&self) -> usize {
        usize::try_from(self.end - self.start).unwrap_or(usize::MAX)
    }
}

/// The clauses in flight, in stream order.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    in_flight: VecDeque<InFlight>,
}

impl Ledger {
    /// A clause of `len` samples was queued at index `start`.
    pub(crate) fn queue(&mut self, turn: TurnId, clause: u32, start: u64, len: usize) {
        self.in_flight.push_back(InFlight {
            turn,
            clause,
            start,
            end: start + len as u64,
            started: false,
        });
    }

    /// Whether any clause is still in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// The callback has taken the stream up to `popped`: the clauses that
    /// started or finished since, as events (`place` times an index).
    pub(crate) fn progress(&mut self, popped: u64, place: impl Fn(u64) -> Timestamp) -> Vec<PlaybackEvent> {
        let mut events = Vec::new();
        while let Some(front) = self.in_flight.front_mut() {
            let empty = front.start == front.end;
            if !front.started && (popped > front.start || (empty && popped >= front.end)) {
                front.started = true;
                events.push(PlaybackEvent::Started {
                    turn: front.turn,
                    clause: front.clause,
                    at: place(front.start),
                });
            }
            if popped < front.end {
                break;
            }
            events.push(PlaybackEvent::Finished {
                turn: front.turn,
                clause: front.clause,
                at: place(front.end),
                samples: front.len(),
            });
            self.in_flight.pop_front();
        }
        events
    }

    /// Barge-in cut the stream at `cut`: nothing from there on is played.
    /// Every clause in flight ends: `Finished` if it was all heard, else
    /// `Interrupted` with how much was (0 for one that never began, which
    /// gets no `Started`).
    pub(crate) fn cut(&mut self, cut: u64, place: impl Fn(u64) -> Timestamp) -> Vec<PlaybackEvent> {
        let mut events = Vec::new();
        let at = place(cut);
        for clause in self.in_flight.drain(..) {
            let played = cut.clamp(clause.start, clause.end) - clause.start;
            let of = clause.len();
            if played > 0 && !clause.started {
                events.push(PlaybackEvent::Started {
                    turn: clause.turn,
                    clause: clause.clause,
                    at: place(clause.start),
                });
            }
            events.push(if played == of as u64 && of > 0 {
                PlaybackEvent::Finished {
                    turn: clause.turn,
                    clause: clause.clause,
                    at: place(clause.end),
                    samples: of,
                }
            } else {
                PlaybackEvent::Interrupted {
                    turn: clause.turn,
                    clause: clause.clause,
                    at,
                    played: usize::try_from(played).unwrap_or(usize::MAX),
                    of,
                }
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 kHz, anchored at index 0 at t = 1 s: index i plays at 1 s + i ms.
    fn ms(index: u64) -> Timestamp {
        place(index, Some((0, Timestamp::from_nanos(1_000_000_000))), 1_000)
    }

    fn at_ms(ms: u64) -> Timestamp {
        Timestamp::from_nanos(1_000_000_000 + ms * 1_000_000)
    }

    #[test]
    fn indices_are_placed_from_the_anchor_at_the_stream_rate() {
        assert_eq!(place(5, None, 22_050), Timestamp::ZERO);
        let anchor = Some((100, Timestamp::from_nanos(7_000)));
        assert_eq!(
            place(50, anchor, 22_050),
            Timestamp::from_nanos(7_000),
            "before the anchor: the anchor"
        );
        assert_eq!(
            place(100 + 22_050, anchor, 22_050),
            Timestamp::from_nanos(1_000_007_000),
            "one second later"
        );
        assert_eq!(place(u64::MAX, anchor, 1), Timestamp::from_nanos(u64::MAX), "saturates");
    }

    #[test]
    fn clauses_start_when_their_first_sample_is_taken_and_finish_with_their_last() {
        let mut ledger = Ledger::default();
        ledger.queue(TurnId(1), 0, 0, 100);
        ledger.queue(TurnId(1), 1, 100, 50);
        assert_eq!(ledger.progress(0, ms), [], "nothing taken yet");
        assert_eq!(
            ledger.progress(1, ms),
            [PlaybackEvent::Started {
                turn: TurnId(1),
                clause: 0,
                at: at_ms(0)
            }]
        );
        assert_eq!(ledger.progress(99, ms), [], "still playing");
        assert_eq!(
            ledger.progress(120, ms),
            [
                PlaybackEvent::Finished {
                    turn: TurnId(1),
                    clause: 0,
                    at: at_ms(100),
                    samples: 100
                },
                PlaybackEvent::Started {
                    turn: TurnId(1),
                    clause: 1,
                    at: at_ms(100)
                },
            ],
            "back to back: the next starts exactly where the first ends"
        );
        assert_eq!(
            ledger.progress(150, ms),
            [PlaybackEvent::Finished {
                turn: TurnId(1),
                clause: 1,
                at: at_ms(150),
                samples: 50
            }]
        );
        assert!(ledger.is_empty());
    }

    #[test]
    fn an_empty_clause_starts_and_finishes_when_the_stream_reaches_it() {
        let mut ledger = Ledger::default();
        ledger.queue(TurnId(2), 0, 40, 0);
        assert_eq!(ledger.progress(39, ms), []);
        assert_eq!(
            ledger.progress(40, ms),
            [
                PlaybackEvent::Started {
                    turn: TurnId(2),
                    clause: 0,
                    at: at_ms(40)
                },
                PlaybackEvent::Finished {
                    turn: TurnId(2),
                    clause: 0,
                    at: at_ms(40),
                    samples: 0
                },
            ]
        );
    }

    #[test]
    fn a_cut_says_how_much_of_each_clause_was_heard() {
        let mut ledger = Ledger::default();
        ledger.queue(TurnId(3), 0, 0, 100);
        ledger.queue(TurnId(3), 1, 100, 100);
        ledger.queue(TurnId(3), 2, 200, 100);
        assert_eq!(
            ledger.progress(100, ms).len(),
            2,
            "clause 0 played, clause 1 about to start"
        );
        // Barge-in: the callback had taken 130 samples when the stream was cut.
        assert_eq!(
            ledger.cut(130, ms),
            [
                PlaybackEvent::Started {
                    turn: TurnId(3),
                    clause: 1,
                    at: at_ms(100)
                },
                PlaybackEvent::Interrupted {
                    turn: TurnId(3),
                    clause: 1,
                    at: at_ms(130),
                    played: 30,
                    of: 100
                },
                PlaybackEvent::Interrupted {
                    turn: TurnId(3),
                    clause: 2,
                    at: at_ms(130),
                    played: 0,
                    of: 100
                },
            ],
            "the cut clause heard 30 samples; the queued one none, and it never started"
        );
        assert!(ledger.is_empty());
        assert_eq!(ledger.cut(500, ms), [], "nothing left to cut");
    }

    #[test]
    fn a_cut_after_a_clause_ended_reports_it_finished() {
        let mut ledger = Ledger::default();
        ledger.queue(TurnId(4), 0, 0, 10);
        assert_eq!(
            ledger.cut(10, ms),
            [
                PlaybackEvent::Started {
                    turn: TurnId(4),
                    clause: 0,
                    at: at_ms(0)
                },
                PlaybackEvent::Finished {
                    turn: TurnId(4),
                    clause: 0,
                    at: at_ms(10),
                    samples: 10
                },
            ]
        );
    }
}
