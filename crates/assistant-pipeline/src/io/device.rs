//! The real devices behind [`Source`] and [`Sink`]: the microphone and the
//! speakers (`assistant-audio`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assistant_audio::capture::Microphone;
use assistant_audio::playback::{OutputSettings, Pause, PlaybackError, PlaybackEvent, Speaker};
use assistant_core::{Clock, SpeechChunk, TurnId};

use super::{Sink, Source, SourceItem, SourceStats};

/// The microphone as a [`Source`].
#[derive(Debug)]
pub struct MicSource {
    mic: Microphone,
}

impl MicSource {
    /// The opened microphone.
    #[must_use]
    pub fn new(mic: Microphone) -> Self {
        Self { mic }
    }
}

impl Source for MicSource {
    fn next(&mut self, wait: Duration) -> SourceItem {
        if let Some(event) = self.mic.events().next() {
            return SourceItem::Notice(event);
        }
        match self.mic.frames().recv_timeout(wait) {
            Ok(frame) => SourceItem::Frame(frame),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => SourceItem::Idle,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => SourceItem::End,
        }
    }

    fn name(&self) -> String {
        self.mic.device().to_owned()
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            overruns: self.mic.overruns(),
            dropped_frames: self.mic.dropped_frames(),
            callback: Some(self.mic.callback_cost()),
        }
    }
}

/// How long a lost speaker waits between attempts to reopen it.
const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// The speakers as a [`Sink`]: opened at start (so the first reply does not
/// pay the device's start-up) and reopened when the device comes back after
/// it was lost.
pub struct SpeakerSink {
    settings: OutputSettings,
    clock: Clock,
    speaker: Mutex<Option<(Arc<Speaker>, Pause)>>,
    last_attempt: Mutex<Option<Instant>>,
    name: Mutex<String>,
}

impl std::fmt::Debug for SpeakerSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerSink")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl SpeakerSink {
    /// Opens the output device.
    ///
    /// # Errors
    /// As [`Speaker::open`].
    pub fn open(settings: OutputSettings, clock: Clock) -> Result<Self, PlaybackError> {
        let speaker = Speaker::open(&settings, clock)?;
        let name = speaker.device().to_owned();
        let pause = speaker.pause_handle();
        Ok(Self {
            settings,
            clock,
            speaker: Mutex::new(Some((Arc::new(speaker), pause))),
            last_attempt: Mutex::new(None),
            name: Mutex::new(name),
        })
    }

    /// The speaker, reopened if it was lost and it is time to try again.
    fn current(&self) -> Result<(Arc<Speaker>, Pause), PlaybackError> {
        let mut slot = self.speaker.lock().map_err(|_| PlaybackError::Closed)?;
        if let Some((speaker, pause)) = slot.as_ref() {
            return Ok((Arc::clone(speaker), pause.clone()));
        }
        let mut last = self.last_attempt.lock().map_err(|_| PlaybackError::Closed)?;
        if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
            return Err(PlaybackError::Closed);
        }
        *last = Some(Instant::now());
        let speaker = Speaker::open(&self.settings, self.clock)?;
        tracing::info!(device = speaker.device(), "audio output is back");
        if let Ok(mut name) = self.name.lock() {
            speaker.device().clone_into(&mut name);
        }
        let pause = speaker.pause_handle();
        let speaker = Arc::new(speaker);
        *slot = Some((Arc::clone(&speaker), pause.clone()));
        Ok((speaker, pause))
    }

    /// The open speaker's pause handle, without reopening a lost one.
    fn pause_handle(&self) -> Option<Pause> {
        self.speaker.lock().ok()?.as_ref().map(|(_, pause)| pause.clone())
    }

    fn lost(&self) {
        if let Ok(mut slot) = self.speaker.lock() {
            *slot = None;
        }
    }
}

impl Sink for SpeakerSink {
    fn sample_rate(&self) -> u32 {
        self.settings.sample_rate
    }

    fn name(&self) -> String {
        self.name.lock().map(|n| n.clone()).unwrap_or_default()
    }

    fn play(&self, chunk: SpeechChunk) -> Result<(), PlaybackError> {
        let (speaker, _) = self.current()?;
        speaker.play(chunk)
    }

    fn stop_through(&self, turn: TurnId) -> Result<(), PlaybackError> {
        let (speaker, _) = self.current()?;
        speaker.stop_through(turn)
    }

    // Called from the turn loop: a lost speaker is not reopened here
    // (that can take seconds); there is then nothing to pause.
    fn pause(&self) {
        if let Some(pause) = self.pause_handle() {
            pause.pause();
        }
    }

    fn resume(&self) {
        if let Some(pause) = self.pause_handle() {
            pause.resume();
        }
    }

    fn next_event(&self, wait: Duration) -> Option<PlaybackEvent> {
        let Ok((speaker, _)) = self.current() else {
            std::thread::sleep(wait);
            return None;
        };
        let event = speaker.next_event(wait);
        if matches!(event, Some(PlaybackEvent::Failed(_))) {
            self.lost();
        }
        event
    }
}
