//! What the stages say to each other about a conversation.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Identifies one exchange: a user utterance and the reply to it.
///
/// Every message carries its turn so a stage can drop what belongs to a turn
/// that barge-in has cancelled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TurnId(pub u64);

impl TurnId {
    /// The turn after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl std::fmt::Display for TurnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "turn-{}", self.0)
    }
}

/// What the speech recognizer reports while the user speaks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TranscriptEvent {
    /// Voice activity began: the assistant may stop talking (barge-in).
    SpeechStarted {
        /// The turn this utterance opens.
        turn: TurnId,
        /// When the onset was detected.
        at: Timestamp,
    },
    /// The hypothesis changed; `text` is the whole hypothesis so far.
    Partial {
        /// The turn being transcribed.
        turn: TurnId,
        /// The current hypothesis.
        text: String,
        /// When the recognizer produced it.
        at: Timestamp,
    },
    /// The endpoint rules fired: the utterance is complete.
    Final {
        /// The turn being transcribed.
        turn: TurnId,
        /// The final transcript.
        text: String,
        /// When the last speech sample was captured (the tracer's zero).
        speech_end_at: Timestamp,
        /// When the endpoint fired.
        endpoint_at: Timestamp,
        /// What decoding the utterance cost the recognizer.
        #[serde(default)]
        decode: DecodeTime,
    },
}

/// The recognizer's decode work for one utterance: a stage-internal figure
/// for the tracer (a real streaming model costs far more per chunk than
/// the test's tone model, and this is where that shows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeTime {
    /// Decode steps run (one per chunk of features).
    pub chunks: u32,
    /// Their time in all.
    pub busy: std::time::Duration,
    /// The longest one.
    pub longest: std::time::Duration,
}

impl DecodeTime {
    /// One step more, of `took`.
    pub fn add(&mut self, steps: usize, took: std::time::Duration) {
        if steps == 0 {
            return;
        }
        self.chunks = self.chunks.saturating_add(u32::try_from(steps).unwrap_or(u32::MAX));
        self.busy += took;
        // Several steps in one call share its time evenly.
        let each = took / u32::try_from(steps).unwrap_or(u32::MAX);
        self.longest = self.longest.max(each);
    }

    /// The mean time of a step, if any ran.
    #[must_use]
    pub fn per_chunk(&self) -> Option<std::time::Duration> {
        (self.chunks > 0).then(|| self.busy / self.chunks)
    }
}

impl TranscriptEvent {
    /// The event with its wall-clock measurements cleared (a final's decode
    /// times; its decode steps kept): two runs over the same audio then
    /// compare equal.
    #[must_use]
    pub fn without_timings(mut self) -> Self {
        if let Self::Final { decode, .. } = &mut self {
            *decode = DecodeTime {
                chunks: decode.chunks,
                ..DecodeTime::default()
            };
        }
        self
    }

    /// The turn the event belongs to.
    #[must_use]
    pub fn turn(&self) -> TurnId {
        match self {
            Self::SpeechStarted { turn, .. } | Self::Partial { turn, .. } | Self::Final { turn, .. } => *turn,
        }
    }
}

/// A piece of the LLM's streamed reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// The turn this reply answers.
    pub turn: TurnId,
    /// The text as the server sent it (may be part of a word).
    pub text: String,
    /// When the token reached the client.
    pub at: Timestamp,
}

/// A speakable piece of the reply: the unit handed to synthesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clause {
    /// The turn this reply answers.
    pub turn: TurnId,
    /// Position within the reply (0-based).
    pub index: u32,
    /// The text to speak.
    pub text: String,
    /// When the chunker emitted it.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_events_are_tagged_json() {
        let final_event = TranscriptEvent::Final {
            turn: TurnId(3),
            text: "what time is it".into(),
            speech_end_at: Timestamp::from_nanos(10),
            endpoint_at: Timestamp::from_nanos(20),
            decode: DecodeTime::default(),
        };
        let json = serde_json::to_value(&final_event).unwrap_or_default();
        assert_eq!(json["event"], "final");
        assert_eq!(json["turn"], 3);
        assert_eq!(json["speech_end_at"], 10);
        let back: TranscriptEvent = serde_json::from_value(json).unwrap_or(TranscriptEvent::SpeechStarted {
            turn: TurnId(0),
            at: Timestamp::ZERO,
        });
        assert_eq!(back, final_event);
        assert_eq!(back.turn(), TurnId(3));
    }

    #[test]
    fn turns_count_up_and_print_readably() {
        assert_eq!(TurnId(7).next(), TurnId(8));
        assert_eq!(TurnId(7).to_string(), "turn-7");
    }

    #[test]
    fn decode_time_adds_steps_and_keeps_the_longest() {
        use std::time::Duration;
        let mut d = DecodeTime::default();
        assert_eq!(d.per_chunk(), None);
        d.add(0, Duration::from_millis(5));
        assert_eq!(d, DecodeTime::default(), "no step, no time");
        d.add(1, Duration::from_micros(300));
        // Two steps in one call share its time.
        d.add(2, Duration::from_micros(400));
        assert_eq!(d.chunks, 3);
        assert_eq!(d.busy, Duration::from_micros(700));
        assert_eq!(d.longest, Duration::from_micros(300));
        assert_eq!(d.per_chunk(), Some(Duration::from_nanos(233_333)));
        let event = TranscriptEvent::Final {
            turn: TurnId(1),
            text: "one".into(),
            speech_end_at: Timestamp::from_nanos(1),
            endpoint_at: Timestamp::from_nanos(2),
            decode: d,
        };
        let TranscriptEvent::Final { decode, .. } = event.without_timings() else {
            panic!("still a final");
        };
        assert_eq!(
            decode,
            DecodeTime {
                chunks: 3,
                ..DecodeTime::default()
            }
        );
    }
}
