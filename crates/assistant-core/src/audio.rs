//! Audio as it moves between stages.
//!
//! Capture produces [`AudioFrame`]s of [`FRAME_MS`] milliseconds; recognition
//! consumes them at [`ASR_SAMPLE_RATE`] (the recognizer's stage resamples any
//! other rate). Synthesis produces [`SpeechChunk`]s at the voice's own rate;
//! playback consumes them.

use serde::{Deserialize, Serialize};

use crate::{Timestamp, TurnId};

/// The sample rate the speech recognizer and VAD run at, in Hz.
pub const ASR_SAMPLE_RATE: u32 = 16_000;

/// The length of one capture frame, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// The number of samples in one frame at `sample_rate` (320 at 16 kHz).
#[must_use]
pub const fn frame_samples(sample_rate: u32) -> usize {
    (sample_rate as usize * FRAME_MS as usize) / 1000
}

/// Mono samples in `[-1, 1]` covering [`FRAME_MS`] of captured audio.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFrame {
    /// The rate of `samples`, in Hz. Usually the capture device's rate.
    pub sample_rate: u32,
    /// Mono samples; `frame_samples(sample_rate)` of them except, possibly,
    /// the last frame of a file.
    pub samples: Vec<f32>,
    /// When the first sample was captured (or, from a file, its position on
    /// the pipeline clock), so the tracer can place speech end exactly.
    pub captured_at: Timestamp,
}

impl AudioFrame {
    /// How much audio the frame holds.
    #[must_use]
    pub fn duration(&self) -> std::time::Duration {
        if self.sample_rate == 0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.sample_rate))
    }
}

/// A piece of synthesized speech for one clause of a reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeechChunk {
    /// The turn this reply belongs to; playback drops chunks of a cancelled turn.
    pub turn: TurnId,
    /// Which clause of the reply this audio speaks (0-based, in order).
    pub clause: u32,
    /// The voice's sample rate, in Hz.
    pub sample_rate: u32,
    /// Mono samples in `[-1, 1]`.
    pub samples: Vec<f32>,
    /// When synthesis finished this chunk.
    pub synthesized_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_follow_the_rate() {
        for (rate, samples) in [(16_000, 320), (8_000, 160), (44_100, 882), (48_000, 960), (22_050, 441)] {
            assert_eq!(frame_samples(rate), samples, "rate {rate}");
        }
    }

    #[test]
    fn frame_duration_is_derived_from_its_samples() {
        let frame = AudioFrame {
            sample_rate: 16_000,
            samples: vec![0.0; 320],
            captured_at: Timestamp::ZERO,
        };
        assert_eq!(frame.duration(), std::time::Duration::from_millis(20));
        let broken = AudioFrame {
            sample_rate: 0,
            ..frame
        };
        assert_eq!(broken.duration(), std::time::Duration::ZERO);
    }
}
