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
    },
}

impl TranscriptEvent {
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
}
