//! Audio in and out of assistantd.
//!
//! Everything that touches raw audio formats lives here, so the stages see
//! only [`assistant_core::AudioFrame`]s: mono `f32` at a known rate.
//! That is WAV input for `assistantd bench` and the tests
//! ([`wav::read`]), framing ([`Pcm::frames`]), the microphone
//! ([`capture::Microphone`]: cpal at the device's own rate and format, a
//! lock-free ring, 20 ms frames stamped on the pipeline clock, reopened
//! when the device or the sound server comes back), playback through the
//! speakers ([`playback::Speaker`]: rodio, fed by a lock-free ring, with
//! exact "first audio played" times and immediate barge-in), and the device
//! lists both take their names from ([`devices`]).

mod anchor;
pub mod capture;
pub mod devices;
pub mod playback;
pub mod wav;

use assistant_core::{AudioFrame, Timestamp, audio::frame_samples};

/// Decoded audio: interleaved `f32` samples in `[-1, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pcm {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// `frames × channels` samples.
    pub samples: Vec<f32>,
}

impl Pcm {
    /// The length of the audio.
    #[must_use]
    pub fn duration(&self) -> std::time::Duration {
        if self.sample_rate == 0 || self.channels == 0 {
            return std::time::Duration::ZERO;
        }
        let frames = self.samples.len() / usize::from(self.channels);
        std::time::Duration::from_secs_f64(frames as f64 / f64::from(self.sample_rate))
    }

    /// The same audio averaged down to one channel.
    #[must_use]
    pub fn into_mono(self) -> Self {
        if self.channels <= 1 {
            return self;
        }
        let channels = usize::from(self.channels);
        let scale = 1.0 / channels as f32;
        let samples = self
            .samples
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() * scale)
            .collect();
        Self {
            sample_rate: self.sample_rate,
            channels: 1,
            samples,
        }
    }

    /// Cuts mono audio into 20 ms [`AudioFrame`]s stamped as if the first
    /// sample was captured at `start`; the last frame may be shorter.
    /// Multi-channel audio is downmixed first.
    #[must_use]
    pub fn frames(self, start: Timestamp) -> Vec<AudioFrame> {
        let mono = self.into_mono();
        let per_frame = frame_samples(mono.sample_rate).max(1);
        let rate = u64::from(mono.sample_rate.max(1));
        mono.samples
            .chunks(per_frame)
            .enumerate()
            .map(|(i, chunk)| {
                let offset_ns = (i * per_frame) as u64 * 1_000_000_000 / rate;
                AudioFrame {
                    sample_rate: mono.sample_rate,
                    samples: chunk.to_vec(),
                    captured_at: Timestamp::from_nanos(start.as_nanos() + offset_ns),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_downmixes_by_averaging() {
        let pcm = Pcm {
            sample_rate: 8_000,
            channels: 2,
            samples: vec![1.0, 0.0, -0.5, -0.5, 0.25, 0.75],
        };
        let mono = pcm.into_mono();
        assert_eq!(mono.channels, 1);
        assert_eq!(mono.samples, vec![0.5, -0.5, 0.5]);
    }

    #[test]
    fn frames_are_twenty_ms_and_stamped_in_audio_time() {
        let pcm = Pcm {
            sample_rate: 16_000,
            channels: 1,
            samples: (0..800).map(|i| i as f32 / 800.0).collect(),
        };
        assert_eq!(pcm.duration(), std::time::Duration::from_millis(50));
        let frames = pcm.frames(Timestamp::from_nanos(5));
        let lens: Vec<usize> = frames.iter().map(|f| f.samples.len()).collect();
        assert_eq!(lens, vec![320, 320, 160]);
        let stamps: Vec<u64> = frames.iter().map(|f| f.captured_at.as_nanos()).collect();
        assert_eq!(stamps, vec![5, 20_000_005, 40_000_005]);
        assert_eq!(frames[1].samples[0], 320.0 / 800.0);
    }
}
