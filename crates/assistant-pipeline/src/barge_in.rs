//! Barge-in: deciding, frame by frame, whether someone is talking over the
//! assistant, and what to do about it.
//!
//! Pausing is cheap and undoable; cancelling a reply is not. So the decision
//! has two steps:
//! 1. **Pause** the moment the microphone's level rises well above what the
//!    room explains (its noise floor and, in [`BargeInMode::Guarded`], the
//!    echo of the assistant's own voice) for [`BargeInSettings::onset`]. The
//!    person hears the assistant stop within a few frames.
//! 2. **Cancel** once it is confirmed as speech: it has lasted
//!    [`BargeInSettings::min_speech`] and the recognizer has produced words.
//!    A cough or a door brings no words: after
//!    [`BargeInSettings::resume_after`] the reply **resumes** where it paused.
//!
//! Without echo cancellation the microphone hears the assistant itself.
//! [`BargeInMode::Guarded`] (the default) learns how loud the assistant's
//! own voice comes back (the level of the microphone divided by the level
//! of what is being played, while nobody else speaks) and needs speech
//! [`BargeInSettings::margin_db`] above that echo. [`BargeInMode::Always`]
//! ignores the echo (for headphones or a setup with echo cancellation), and
//! [`BargeInMode::Off`] never interrupts.
//!
//! [`BargeIn`] is pure: levels and times in, [`Decision`]s out, so every rule
//! is tested without audio.

use std::time::Duration;

use assistant_core::Timestamp;

/// When the assistant lets itself be interrupted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BargeInMode {
    /// Never: what the person says while the assistant speaks is answered
    /// after the reply.
    Off,
    /// Only by sound well above the echo of the assistant's own voice.
    #[default]
    Guarded,
    /// By any sound well above the room's noise floor.
    Always,
}

impl BargeInMode {
    /// The mode by its profile name: `off`, `guarded` or `always`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "off" => Some(Self::Off),
            "guarded" => Some(Self::Guarded),
            "always" => Some(Self::Always),
            _ => None,
        }
    }

    /// The profile name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Guarded => "guarded",
            Self::Always => "always",
        }
    }
}

/// The profile's `[barge_in]` settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BargeInSettings {
    /// Whether and how the assistant can be interrupted.
    pub mode: BargeInMode,
    /// How long the level must stay up before playback pauses.
    pub onset: Duration,
    /// How long the sound must last, with words, to cancel the reply.
    pub min_speech: Duration,
    /// A pause that brought no words by then resumes the reply.
    pub resume_after: Duration,
    /// The quietest level that can count as someone speaking, in dBFS
    /// (RMS over a 20 ms frame).
    pub min_level_dbfs: f32,
    /// How far above the noise floor (and, guarded, above the echo) the
    /// level must be, in dB.
    pub margin_db: f32,
}

impl Default for BargeInSettings {
    fn default() -> Self {
        Self {
            mode: BargeInMode::Guarded,
            onset: Duration::from_millis(40),
            min_speech: Duration::from_millis(300),
            resume_after: Duration::from_millis(1500),
            min_level_dbfs: -45.0,
            margin_db: 10.0,
        }
    }
}

/// What the pipeline should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing changes.
    Nothing,
    /// Someone may be speaking: silence the reply, keep it.
    Pause,
    /// It was not speech: play on from where it paused.
    Resume,
    /// It was speech: drop the reply; the new utterance will be answered.
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// The assistant is not speaking.
    Quiet,
    /// Speaking; `armed` once the level has been below the threshold since
    /// the last resume (so one long noise pauses once, not over and over).
    Speaking { armed: bool },
    /// Paused at `since` by sound; `speech` is how long the sound has
    /// lasted so far, `words` whether the recognizer has heard any.
    Paused {
        since: Timestamp,
        speech: Duration,
        words: bool,
    },
}

/// The barge-in decision, fed as things happen. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct BargeIn {
    settings: BargeInSettings,
    state: State,
    /// The room's level when nobody speaks (RMS).
    noise_floor: f32,
    /// How loud the assistant's own voice comes back, relative to what is
    /// played: learned while speaking, kept across turns.
    coupling: f32,
    /// Since when the level has been above the threshold.
    above_since: Option<Timestamp>,
}

/// RMS of a frame of samples.
#[must_use]
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

/// The RMS of each `window` samples of `samples` (the last may be shorter).
#[must_use]
pub fn envelope(samples: &[f32], window: usize) -> Vec<f32> {
    samples.chunks(window.max(1)).map(rms).collect()
}

fn from_db(db: f32) -> f32 {
    10_f32.powf(db / 20.0)
}

impl BargeIn {
    /// A detector that assumes, until it has heard otherwise, that the
    /// microphone hears the assistant as loud as it plays.
    #[must_use]
    pub fn new(settings: BargeInSettings) -> Self {
        Self {
            settings,
            state: State::Quiet,
            noise_floor: from_db(settings.min_level_dbfs),
            coupling: 1.0,
            above_since: None,
        }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &BargeInSettings {
        &self.settings
    }

    /// Whether the reply is paused, waiting to know if it was speech.
    #[must_use]
    pub fn is_paused(&self) -> bool {
        matches!(self.state, State::Paused { .. })
    }

    /// The echo coupling learned so far (microphone level per unit of
    /// playback level).
    #[must_use]
    pub fn coupling(&self) -> f32 {
        self.coupling
    }

    /// The reply's first audio reached the speaker.
    pub fn reply_started(&mut self) {
        if matches!(self.state, State::Quiet) {
            self.state = State::Speaking { armed: true };
        }
    }

    /// The reply ended (played out, cancelled or failed).
    pub fn reply_ended(&mut self) {
        self.state = State::Quiet;
        self.above_since = None;
    }

    /// The level the microphone must exceed to count as someone speaking,
    /// given what the speaker plays (RMS; 0 for silence).
    #[must_use]
    pub fn threshold(&self, playback: f32) -> f32 {
        let margin = from_db(self.settings.margin_db);
        let floor = from_db(self.settings.min_level_dbfs).max(self.noise_floor * margin);
        match self.settings.mode {
            BargeInMode::Guarded => floor.max(self.coupling * playback * margin),
            BargeInMode::Off | BargeInMode::Always => floor,
        }
    }

    /// One microphone frame of `frame` length captured at `at`, with RMS
    /// `mic`, while the speaker played audio of RMS `playback` (0 when it
    /// played nothing, paused included).
    pub fn level(&mut self, at: Timestamp, frame: Duration, mic: f32, playback: f32) -> Decision {
        let threshold = self.threshold(playback);
        let above = mic > threshold;
        if !above {
            self.above_since = None;
            self.learn(mic, playback);
        } else if self.above_since.is_none() {
            self.above_since = Some(at);
        }
        match self.state {
            State::Quiet => Decision::Nothing,
            State::Speaking { armed } => {
                if self.settings.mode == BargeInMode::Off {
                    return Decision::Nothing;
                }
                if !above {
                    self.state = State::Speaking { armed: true };
                    return Decision::Nothing;
                }
                let Some(since) = self.above_since else {
                    return Decision::Nothing;
                };
                let lasted = at.plus(frame).checked_since(since).unwrap_or_default();
                if armed && lasted >= self.settings.onset {
                    self.state = State::Paused {
                        since,
                        speech: lasted,
                        words: false,
                    };
                    return Decision::Pause;
                }
                Decision::Nothing
            }
            State::Paused { since, speech, words } => {
                let speech = if above { speech + frame } else { speech };
                self.state = State::Paused { since, speech, words };
                self.confirm(at.plus(frame))
            }
        }
    }

    /// The recognizer produced words (a partial or final with text) at `at`.
    pub fn words(&mut self, at: Timestamp) -> Decision {
        if let State::Paused { since, speech, .. } = self.state {
            self.state = State::Paused {
                since,
                speech,
                words: true,
            };
            return self.confirm(at);
        }
        Decision::Nothing
    }

    /// A whole utterance with words ended while paused: it was speech, and
    /// it is over, so there is nothing left to wait for.
    pub fn final_words(&mut self) -> Decision {
        if self.is_paused() {
            self.state = State::Quiet;
            self.above_since = None;
            return Decision::Cancel;
        }
        Decision::Nothing
    }

    /// Time passes: a pause that brought no words resumes.
    pub fn tick(&mut self, now: Timestamp) -> Decision {
        if let State::Paused { since, words, .. } = self.state
            && now.checked_since(since).unwrap_or_default() >= self.settings.resume_after
            && !words
        {
            self.state = State::Speaking { armed: false };
            return Decision::Resume;
        }
        Decision::Nothing
    }

    fn confirm(&mut self, now: Timestamp) -> Decision {
        let State::Paused { speech, words, .. } = self.state else {
            return Decision::Nothing;
        };
        if words && speech >= self.settings.min_speech {
            self.state = State::Quiet;
            self.above_since = None;
            return Decision::Cancel;
        }
        self.tick(now)
    }

    /// Learns the room from a frame that counted as nobody speaking.
    fn learn(&mut self, mic: f32, playback: f32) {
        // The floor follows a quieter room at once and a louder one slowly
        // (about two seconds), so speech does not raise it.
        let floor_min = from_db(self.settings.min_level_dbfs - 30.0);
        self.noise_floor = if mic < self.noise_floor {
            mic.max(floor_min)
        } else {
            0.99 * self.noise_floor + 0.01 * mic
        };
        if playback > from_db(self.settings.min_level_dbfs) {
            self.coupling = 0.9 * self.coupling + 0.1 * (mic / playback);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    /// Feeds `ms` of frames at `mic` (with `playback`) from `start`;
    /// returns the decisions that were not `Nothing`, with their times.
    fn feed(b: &mut BargeIn, start: u64, ms: u64, mic: f32, playback: f32) -> Vec<(u64, Decision)> {
        let mut out = Vec::new();
        for t in (start..start + ms).step_by(20) {
            for d in [b.level(at(t), FRAME, mic, playback), b.tick(at(t + 20))] {
                if d != Decision::Nothing {
                    out.push((t, d));
                }
            }
        }
        out
    }

    fn speaking(mode: BargeInMode) -> BargeIn {
        let mut b = BargeIn::new(BargeInSettings {
            mode,
            ..BargeInSettings::default()
        });
        // A quiet room, then the reply starts.
        feed(&mut b, 0, 1000, 0.0005, 0.0);
        b.reply_started();
        b
    }

    #[test]
    fn speech_pauses_within_the_onset_and_cancels_once_confirmed_by_words() {
        let mut b = speaking(BargeInMode::Always);
        assert!(
            feed(&mut b, 1000, 500, 0.0005, 0.2).is_empty(),
            "quiet room while speaking"
        );
        let decisions = feed(&mut b, 1500, 200, 0.1, 0.2);
        assert_eq!(decisions, vec![(1520, Decision::Pause)], "paused after 40 ms");
        assert_eq!(b.words(at(1700)), Decision::Nothing, "200 ms is not yet speech");
        let decisions = feed(&mut b, 1700, 200, 0.1, 0.0);
        assert_eq!(decisions, vec![(1780, Decision::Cancel)], "300 ms of sound with words");
        assert!(!b.is_paused());
    }

    #[test]
    fn a_noise_without_words_resumes_after_the_timeout_and_pauses_only_once() {
        let mut b = speaking(BargeInMode::Always);
        let burst = feed(&mut b, 1000, 300, 0.2, 0.2);
        assert_eq!(burst, vec![(1020, Decision::Pause)]);
        let after = feed(&mut b, 1300, 2000, 0.0005, 0.0);
        assert_eq!(after, vec![(2480, Decision::Resume)], "resumed 1.5 s after the onset");
        // A long noise that outlasts the timeout resumes once, then does not
        // pause again until the room has been quiet.
        let mut b = speaking(BargeInMode::Always);
        let long = feed(&mut b, 1000, 3000, 0.2, 0.2);
        assert_eq!(long, vec![(1020, Decision::Pause), (2480, Decision::Resume)]);
        feed(&mut b, 4000, 100, 0.0005, 0.2);
        assert_eq!(feed(&mut b, 4100, 100, 0.2, 0.2), vec![(4120, Decision::Pause)]);
    }

    #[test]
    fn guarded_ignores_the_echo_of_the_assistant_and_hears_speech_above_it() {
        let mut b = speaking(BargeInMode::Guarded);
        // The microphone hears the reply at a third of its level: at first
        // (coupling assumed 1) nothing is above the guard, and it learns.
        assert!(
            feed(&mut b, 1000, 2000, 0.2 / 3.0, 0.2).is_empty(),
            "echo paused the reply"
        );
        assert!((b.coupling() - 1.0 / 3.0).abs() < 0.01, "coupling {}", b.coupling());
        // Always would take that echo for speech.
        let mut naive = speaking(BargeInMode::Always);
        assert_eq!(
            feed(&mut naive, 1000, 100, 0.2 / 3.0, 0.2),
            vec![(1020, Decision::Pause)]
        );
        // Speech 10 dB above the echo gets through.
        let loud = feed(&mut b, 3000, 100, 0.3, 0.2);
        assert_eq!(loud, vec![(3020, Decision::Pause)]);
    }

    #[test]
    fn off_never_interrupts_and_a_quiet_assistant_is_never_paused() {
        let mut b = speaking(BargeInMode::Off);
        assert!(feed(&mut b, 1000, 1000, 0.5, 0.2).is_empty());
        let mut b = BargeIn::new(BargeInSettings::default());
        assert!(
            feed(&mut b, 0, 1000, 0.5, 0.0).is_empty(),
            "not speaking: nothing to pause"
        );
        assert_eq!(b.words(at(1000)), Decision::Nothing);
        assert_eq!(b.final_words(), Decision::Nothing);
    }

    #[test]
    fn a_final_while_paused_cancels_and_the_floor_follows_the_room() {
        let mut b = speaking(BargeInMode::Always);
        feed(&mut b, 1000, 60, 0.2, 0.0);
        assert!(b.is_paused());
        assert_eq!(b.final_words(), Decision::Cancel);
        // A louder room (a fan at -40 dBFS) raises the threshold after a
        // few seconds, so the fan alone does not pause the reply.
        let mut b = speaking(BargeInMode::Always);
        let fan = 0.01;
        let early = feed(&mut b, 1000, 100, fan, 0.0);
        assert_eq!(early, vec![(1020, Decision::Pause)], "a sudden fan is a sound");
        let mut b = BargeIn::new(BargeInSettings {
            mode: BargeInMode::Always,
            ..BargeInSettings::default()
        });
        feed(&mut b, 0, 5000, fan * 0.9, 0.0);
        b.reply_started();
        assert!(
            feed(&mut b, 5000, 2000, fan, 0.0).is_empty(),
            "the fan paused the reply"
        );
        assert!(b.threshold(0.0) > fan);
    }

    #[test]
    fn envelopes_and_levels() {
        assert!(rms(&[]).abs() < f32::EPSILON);
        assert!((rms(&[0.5, -0.5]) - 0.5).abs() < 1e-6);
        assert_eq!(envelope(&[1.0, 1.0, 0.0], 2), vec![1.0, 0.0]);
        assert_eq!(BargeInMode::from_name("guarded"), Some(BargeInMode::Guarded));
        assert_eq!(BargeInMode::from_name("sometimes"), None);
        assert_eq!(BargeInMode::Always.name(), "always");
    }
}
