//! What one turn went through: its marks (moments), spans (stage work with
//! a start and an end) and figures (a stage's own measurements).

use std::time::Duration;

use assistant_core::{Timestamp, TurnId};
use serde::{Deserialize, Serialize};

/// The moments the tracer records, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// The VAD (or the recognizer's first words) noticed speech.
    SpeechStart,
    /// The last voiced sample of the user's speech (the recognizer's last
    /// token, on the capture clock).
    SpeechEnd,
    /// The recognizer's endpoint rules fired (the last sample fed before).
    Endpoint,
    /// The final transcript reached the turn loop.
    FinalTranscript,
    /// The reply was requested from the LLM.
    LlmRequest,
    /// The first token of the reply arrived.
    FirstToken,
    /// The token that completed the first speakable clause arrived.
    FirstClause,
    /// The voice began synthesizing the first clause.
    FirstSynthesisStart,
    /// The voice finished the first piece of audio.
    FirstAudioSynthesized,
    /// The first piece was handed to the sink.
    FirstAudioQueued,
    /// The sink started playing the first piece.
    FirstAudioPlayed,
    /// Someone spoke over the reply (barge-in onset).
    BargeInOnset,
    /// Playback went silent because of it.
    PlaybackSilent,
    /// The turn ended (played to the end, cut, or failed).
    ReplyEnd,
}

impl Mark {
    /// Every mark, in pipeline order.
    pub const ALL: [Self; 14] = [
        Self::SpeechStart,
        Self::SpeechEnd,
        Self::Endpoint,
        Self::FinalTranscript,
        Self::LlmRequest,
        Self::FirstToken,
        Self::FirstClause,
        Self::FirstSynthesisStart,
        Self::FirstAudioSynthesized,
        Self::FirstAudioQueued,
        Self::FirstAudioPlayed,
        Self::BargeInOnset,
        Self::PlaybackSilent,
        Self::ReplyEnd,
    ];

    /// A short name for reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::SpeechStart => "speech_start",
            Self::SpeechEnd => "speech_end",
            Self::Endpoint => "endpoint",
            Self::FinalTranscript => "final_transcript",
            Self::LlmRequest => "llm_request",
            Self::FirstToken => "first_token",
            Self::FirstClause => "first_clause",
            Self::FirstSynthesisStart => "first_synthesis_start",
            Self::FirstAudioSynthesized => "first_audio_synthesized",
            Self::FirstAudioQueued => "first_audio_queued",
            Self::FirstAudioPlayed => "first_audio_played",
            Self::BargeInOnset => "barge_in_onset",
            Self::PlaybackSilent => "playback_silent",
            Self::ReplyEnd => "reply_end",
        }
    }

    /// The stage whose track a mark belongs on.
    #[must_use]
    pub const fn stage(self) -> Stage {
        match self {
            Self::SpeechStart | Self::SpeechEnd | Self::Endpoint | Self::FinalTranscript => Stage::Listen,
            Self::LlmRequest | Self::FirstToken | Self::FirstClause => Stage::Think,
            Self::FirstSynthesisStart | Self::FirstAudioSynthesized => Stage::Speak,
            Self::FirstAudioQueued | Self::FirstAudioPlayed | Self::PlaybackSilent | Self::ReplyEnd => Stage::Play,
            Self::BargeInOnset => Stage::Listen,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A pipeline stage: one track in a trace viewer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Microphone to transcript.
    Listen,
    /// The LLM's reply, token by token.
    Think,
    /// The voice, clause by clause.
    Speak,
    /// The sink (speakers or a recording).
    Play,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Self; 4] = [Self::Listen, Self::Think, Self::Speak, Self::Play];

    /// Its name in reports and trace viewers.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Listen => "listen",
            Self::Think => "think",
            Self::Speak => "speak",
            Self::Play => "play",
        }
    }
}

/// Work a stage did, from `start` to `end`: a clause's synthesis, a
/// piece's playback, the LLM's stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Whose work.
    pub stage: Stage,
    /// What, for a person: "synthesize clause 0", "play piece 2".
    pub name: String,
    /// When it began.
    pub start: Timestamp,
    /// When it ended.
    pub end: Timestamp,
}

impl Span {
    /// How long it took (zero if it ends before it starts).
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.end.checked_since(self.start).unwrap_or_default()
    }
}

/// The marks of one turn. A mark is kept the first time it is recorded: a
/// later token does not move "first token".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// The turn traced.
    pub turn: TurnId,
    marks: [Option<Timestamp>; Mark::ALL.len()],
}

/// One step of a timeline: from the previous recorded mark to this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The mark reached.
    pub mark: Mark,
    /// When it was reached.
    pub at: Timestamp,
    /// Time since the previous recorded mark (zero for the first).
    pub since_previous: Duration,
    /// Time since speech end, if speech end was recorded and is earlier.
    pub since_speech_end: Option<Duration>,
}

impl Timeline {
    /// An empty timeline for `turn`.
    #[must_use]
    pub fn new(turn: TurnId) -> Self {
        Self {
            turn,
            marks: [None; Mark::ALL.len()],
        }
    }

    /// Records `mark` at `at` unless it was already recorded. Returns whether it was kept.
    pub fn record(&mut self, mark: Mark, at: Timestamp) -> bool {
        let slot = &mut self.marks[mark.index()];
        if slot.is_some() {
            return false;
        }
        *slot = Some(at);
        true
    }

    /// When `mark` was recorded.
    #[must_use]
    pub fn get(&self, mark: Mark) -> Option<Timestamp> {
        self.marks[mark.index()]
    }

    /// The time from mark `from` to mark `to`, when both were recorded in
    /// that order.
    #[must_use]
    pub fn between(&self, from: Mark, to: Mark) -> Option<Duration> {
        self.get(to)?.checked_since(self.get(from)?)
    }

    /// The headline figure: end of speech to first sound, once both are known.
    #[must_use]
    pub fn speech_end_to_first_sound(&self) -> Option<Duration> {
        self.between(Mark::SpeechEnd, Mark::FirstAudioPlayed)
    }

    /// The recorded marks in pipeline order, each with the time it took.
    #[must_use]
    pub fn steps(&self) -> Vec<Step> {
        let speech_end = self.get(Mark::SpeechEnd);
        let mut previous: Option<Timestamp> = None;
        let mut steps = Vec::new();
        for mark in Mark::ALL {
            let Some(at) = self.get(mark) else { continue };
            steps.push(Step {
                mark,
                at,
                since_previous: previous.and_then(|p| at.checked_since(p)).unwrap_or_default(),
                since_speech_end: speech_end.and_then(|s| at.checked_since(s)),
            });
            previous = Some(at);
        }
        steps
    }

    /// Marks of the critical path (speech end to first sound) recorded
    /// earlier than one that comes before them: a sign that a stage
    /// timestamps at the wrong moment. Barge-in and the reply's end are
    /// left out: they belong to no order with the rest.
    #[must_use]
    pub fn out_of_order(&self) -> Vec<(Mark, Mark)> {
        let recorded: Vec<(Mark, Timestamp)> = Mark::ALL[..=Mark::FirstAudioPlayed.index()]
            .iter()
            .filter_map(|&m| self.get(m).map(|t| (m, t)))
            .collect();
        let mut bad = Vec::new();
        for (i, &(earlier_mark, earlier_at)) in recorded.iter().enumerate() {
            for &(later_mark, later_at) in &recorded[i + 1..] {
                if later_at < earlier_at {
                    bad.push((earlier_mark, later_mark));
                }
            }
        }
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    #[test]
    fn steps_measure_from_the_previous_recorded_mark() {
        let mut t = Timeline::new(TurnId(1));
        t.record(Mark::SpeechEnd, ms(1000));
        t.record(Mark::Endpoint, ms(1300));
        t.record(Mark::FirstToken, ms(1450));
        t.record(Mark::FirstAudioPlayed, ms(1700));
        let steps = t.steps();
        let got: Vec<(Mark, u64, Option<u64>)> = steps
            .iter()
            .map(|s| {
                (
                    s.mark,
                    s.since_previous.as_millis() as u64,
                    s.since_speech_end.map(|d| d.as_millis() as u64),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Mark::SpeechEnd, 0, Some(0)),
                (Mark::Endpoint, 300, Some(300)),
                (Mark::FirstToken, 150, Some(450)),
                (Mark::FirstAudioPlayed, 250, Some(700)),
            ]
        );
        assert_eq!(t.speech_end_to_first_sound(), Some(Duration::from_millis(700)));
    }

    #[test]
    fn the_first_record_of_a_mark_wins() {
        let mut t = Timeline::new(TurnId(2));
        assert!(t.record(Mark::FirstToken, ms(5)));
        assert!(!t.record(Mark::FirstToken, ms(9)));
        assert_eq!(t.get(Mark::FirstToken), Some(ms(5)));
    }

    #[test]
    fn missing_ends_give_no_headline() {
        let mut t = Timeline::new(TurnId(3));
        assert_eq!(t.speech_end_to_first_sound(), None);
        t.record(Mark::FirstAudioPlayed, ms(10));
        assert_eq!(t.speech_end_to_first_sound(), None);
        t.record(Mark::SpeechEnd, ms(20));
        assert_eq!(
            t.speech_end_to_first_sound(),
            None,
            "sound before speech end is not a latency"
        );
    }

    #[test]
    fn out_of_order_marks_are_named() {
        let mut t = Timeline::new(TurnId(4));
        t.record(Mark::SpeechEnd, ms(100));
        t.record(Mark::Endpoint, ms(90));
        t.record(Mark::FirstToken, ms(200));
        // A barge-in before the first sound is no ordering fault.
        t.record(Mark::BargeInOnset, ms(150));
        assert_eq!(t.out_of_order(), vec![(Mark::SpeechEnd, Mark::Endpoint)]);
    }

    #[test]
    fn mark_names_are_unique_and_ordered() {
        let names: Vec<&str> = Mark::ALL.iter().map(|m| m.name()).collect();
        let mut dedup = names.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len());
        assert!(Mark::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Mark::ALL.iter().enumerate().all(|(i, m)| m.index() == i));
        assert_eq!(
            serde_json::to_string(&Mark::FirstClause).unwrap_or_default(),
            "\"first_clause\""
        );
    }
}
