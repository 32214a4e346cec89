//! Where the pipeline's audio comes from and goes to.
//!
//! The turn loop sees a [`Source`] of captured frames and a [`Sink`] for
//! synthesized speech, never a device. The daemon plugs in the microphone
//! and the speakers ([`device`]); a benchmark plugs in WAV files and a
//! recorder that plays at the pace of a real device ([`mod@file`]), and runs the
//! very same loop.

use std::time::Duration;

use assistant_audio::capture::{CallbackCost, CaptureEvent};
use assistant_audio::playback::{PlaybackError, PlaybackEvent};
use assistant_core::{AudioFrame, SpeechChunk, TurnId};

pub mod device;
pub mod file;

pub use device::{MicSource, SpeakerSink};
pub use file::{Pace, RecorderSink, WavSource};

/// What a [`Source`] delivers.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceItem {
    /// The next frame.
    Frame(AudioFrame),
    /// Something the user should know (a device lost, back, a retry).
    Notice(CaptureEvent),
    /// Nothing arrived within the wait.
    Idle,
    /// The source is exhausted (a file's end); a microphone never ends.
    End,
}

/// What a source counted, for the daemon's summary and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Samples the device callback could not store (its ring was full).
    pub overruns: u64,
    /// Frames dropped because their consumer was late.
    pub dropped_frames: u64,
    /// What the device callback cost, if there is one.
    pub callback: Option<CallbackCost>,
}

/// Captured audio, frame by frame, read on a thread of its own.
pub trait Source: Send + 'static {
    /// The next item, waiting at most `wait`.
    fn next(&mut self, wait: Duration) -> SourceItem;
    /// What the user calls it (a device name, a file).
    fn name(&self) -> String;
    /// What it counted so far.
    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }
}

/// Where synthesized speech is played. Every method may be called from any
/// thread; `play` may block while the sink's queue is full.
pub trait Sink: Send + Sync + 'static {
    /// The rate every chunk must have.
    fn sample_rate(&self) -> u32;
    /// What the user calls it.
    fn name(&self) -> String;
    /// Queues a chunk after those queued.
    ///
    /// # Errors
    /// If the device is gone (and could not be reopened).
    fn play(&self, chunk: SpeechChunk) -> Result<(), PlaybackError>;
    /// Barge-in: drops everything of `turn` and earlier turns, queued or
    /// arriving later; returns once the device is silent.
    ///
    /// # Errors
    /// If the device is gone.
    fn stop_through(&self, turn: TurnId) -> Result<(), PlaybackError>;
    /// Silences the output at once, keeping what is queued.
    fn pause(&self);
    /// Plays on from where [`Sink::pause`] stopped.
    fn resume(&self);
    /// The next event, waiting at most `wait`.
    fn next_event(&self, wait: Duration) -> Option<PlaybackEvent>;
}
