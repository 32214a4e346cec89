//! The figures derived from a turn's marks: the headline, what each stage
//! took on the critical path, and what is left for our own code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::timeline::{Mark, Timeline};

/// Where a turn's latency went. Every figure is `None` when a mark it
/// needs was not recorded (a failed reply has no first audio).
///
/// The critical path from the end of the user's words to the first sound
/// is: the endpoint wait, the recognizer's finalisation, the LLM up to the
/// token that completes the first clause, the voice's synthesis of that
/// clause, and the device's buffer. The rest, `overhead`, is the hops
/// between them: the turn loop starting the request, the first clause
/// reaching the voice, the first audio reaching the sink. That is the
/// pipeline's own cost, and it should be near zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    /// End of speech to first sound.
    #[serde(with = "ms")]
    pub headline: Option<Duration>,
    /// End of speech to the endpoint (the trailing silence the rules wait for).
    #[serde(with = "ms")]
    pub endpoint_delay: Option<Duration>,
    /// Endpoint to the final transcript in the turn loop.
    #[serde(with = "ms")]
    pub asr_finalisation: Option<Duration>,
    /// The LLM request to its first token.
    #[serde(with = "ms")]
    pub llm_first_token: Option<Duration>,
    /// The LLM request to the token that completed the first clause.
    #[serde(with = "ms")]
    pub llm_first_clause: Option<Duration>,
    /// The voice's synthesis of the first piece of audio.
    #[serde(with = "ms")]
    pub tts_first_audio: Option<Duration>,
    /// The first piece handed to the sink, to its playback starting (the
    /// device buffer).
    #[serde(with = "ms")]
    pub playback_start: Option<Duration>,
    /// The headline less the five parts above: what the pipeline adds.
    #[serde(with = "ms")]
    pub overhead: Option<Duration>,
    /// Someone speaking over the reply to the reply going silent.
    #[serde(with = "ms")]
    pub barge_in_reaction: Option<Duration>,
}

impl Breakdown {
    /// The figures of `timeline`.
    #[must_use]
    pub fn of(timeline: &Timeline) -> Self {
        let headline = timeline.speech_end_to_first_sound();
        let endpoint_delay = timeline.between(Mark::SpeechEnd, Mark::Endpoint);
        let asr_finalisation = timeline.between(Mark::Endpoint, Mark::FinalTranscript);
        let llm_first_clause = timeline.between(Mark::LlmRequest, Mark::FirstClause);
        let tts_first_audio = timeline.between(Mark::FirstSynthesisStart, Mark::FirstAudioSynthesized);
        let playback_start = timeline.between(Mark::FirstAudioQueued, Mark::FirstAudioPlayed);
        let parts = [
            endpoint_delay,
            asr_finalisation,
            llm_first_clause,
            tts_first_audio,
            playback_start,
        ];
        let overhead = headline.and_then(|h| parts.iter().try_fold(h, |left, part| left.checked_sub((*part)?)));
        Self {
            headline,
            endpoint_delay,
            asr_finalisation,
            llm_first_token: timeline.between(Mark::LlmRequest, Mark::FirstToken),
            llm_first_clause,
            tts_first_audio,
            playback_start,
            overhead,
            barge_in_reaction: timeline.between(Mark::BargeInOnset, Mark::PlaybackSilent),
        }
    }

    /// Every figure with its name, in pipeline order (the headline first).
    #[must_use]
    pub fn figures(&self) -> [(&'static str, Option<Duration>); 9] {
        [
            ("headline", self.headline),
            ("endpoint_delay", self.endpoint_delay),
            ("asr_finalisation", self.asr_finalisation),
            ("llm_first_token", self.llm_first_token),
            ("llm_first_clause", self.llm_first_clause),
            ("tts_first_audio", self.tts_first_audio),
            ("playback_start", self.playback_start),
            ("overhead", self.overhead),
            ("barge_in_reaction", self.barge_in_reaction),
        ]
    }

    /// One line for the log: "612 ms end of speech → first audio (endpoint
    /// 520, asr 3, …, overhead 1.2)".
    #[must_use]
    pub fn summary(&self) -> String {
        let ms = |d: Option<Duration>| d.map_or_else(|| "–".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e3));
        let mut line = format!(
            "{} ms end of speech → first audio (endpoint {}, asr {}, llm first token {}, first clause {}, tts {}, device {}; overhead {})",
            ms(self.headline),
            ms(self.endpoint_delay),
            ms(self.asr_finalisation),
            ms(self.llm_first_token),
            ms(self.llm_first_clause),
            ms(self.tts_first_audio),
            ms(self.playback_start),
            ms(self.overhead),
        );
        if self.barge_in_reaction.is_some() {
            line.push_str(&format!("; barge-in silent after {} ms", ms(self.barge_in_reaction)));
        }
        line
    }
}

/// `Option<Duration>` as milliseconds (a float), or null.
mod ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` passes a reference
    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let ms: Option<f64> = Option::deserialize(d)?;
        Ok(ms
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| Duration::from_secs_f64(v / 1e3)))
    }
}

#[cfg(test)]
mod tests {
    use assistant_core::{Timestamp, TurnId};

    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    fn d(ms: u64) -> Option<Duration> {
        Some(Duration::from_millis(ms))
    }

    /// A turn with every hop known: the parts and the overhead come out
    /// exactly, and the overhead is the three hops between the stages.
    #[test]
    fn the_parts_and_the_overhead_add_up_to_the_headline() {
        let mut t = Timeline::new(TurnId(1));
        for (mark, ms) in [
            (Mark::SpeechStart, 200),
            (Mark::SpeechEnd, 1000),
            (Mark::Endpoint, 1500),
            (Mark::FinalTranscript, 1503),
            (Mark::LlmRequest, 1504),
            (Mark::FirstToken, 1700),
            (Mark::FirstClause, 1800),
            (Mark::FirstSynthesisStart, 1802),
            (Mark::FirstAudioSynthesized, 1850),
            (Mark::FirstAudioQueued, 1851),
            (Mark::FirstAudioPlayed, 1881),
        ] {
            t.record(mark, at(ms));
        }
        let b = Breakdown::of(&t);
        assert_eq!(b.headline, d(881));
        assert_eq!(b.endpoint_delay, d(500));
        assert_eq!(b.asr_finalisation, d(3));
        assert_eq!(b.llm_first_token, d(196));
        assert_eq!(b.llm_first_clause, d(296));
        assert_eq!(b.tts_first_audio, d(48));
        assert_eq!(b.playback_start, d(30));
        // 1 (final → request) + 2 (clause → voice) + 1 (audio → sink).
        assert_eq!(b.overhead, d(4));
        assert_eq!(b.barge_in_reaction, None);
        assert!(
            b.summary().starts_with("881.0 ms end of speech → first audio"),
            "{}",
            b.summary()
        );
    }

    #[test]
    fn a_failed_reply_has_no_headline_and_no_overhead() {
        let mut t = Timeline::new(TurnId(2));
        t.record(Mark::SpeechEnd, at(10));
        t.record(Mark::Endpoint, at(20));
        t.record(Mark::LlmRequest, at(21));
        let b = Breakdown::of(&t);
        assert_eq!((b.headline, b.overhead), (None, None));
        assert_eq!(b.endpoint_delay, d(10));
    }

    #[test]
    fn milliseconds_round_trip_through_json() {
        let mut t = Timeline::new(TurnId(3));
        t.record(Mark::BargeInOnset, Timestamp::from_nanos(1_000_000));
        t.record(Mark::PlaybackSilent, Timestamp::from_nanos(91_500_000));
        let b = Breakdown::of(&t);
        let json = serde_json::to_value(b).unwrap_or_default();
        assert_eq!(json["barge_in_reaction"], 90.5);
        assert!(json["headline"].is_null());
        let back: Breakdown = serde_json::from_value(json).unwrap_or_default();
        assert_eq!(back, b);
    }
}
