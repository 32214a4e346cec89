//! `--record DIR`: each turn's audio, transcript and reply kept on disk, for
//! debugging. Off unless asked for: by default nothing but the log is
//! written, and the log holds no audio.
//!
//! One folder per turn, `DIR/<started>-turn-<n>/`:
//! - `question.wav`: what the microphone heard, from just before the speech
//!   began to the endpoint (mono, the capture rate);
//! - `transcript.txt`: the final transcript;
//! - `reply.txt`: the model's whole reply; `heard.txt`: the part that was
//!   played before barge-in (or all of it);
//! - `reply.wav`: the synthesized audio that was queued (the voice's rate);
//! - `turn.json`: the times on the pipeline clock and how the turn ended.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assistant_core::{AudioFrame, Timestamp, TurnId};

/// The microphone audio kept for the next question, in seconds.
const KEPT: f64 = 30.0;

/// Extra audio kept from before the speech onset.
const LEAD: Duration = Duration::from_millis(500);

/// Writes turns under a folder. Failures are logged, never fatal: a full
/// disk must not stop the assistant.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    frames: VecDeque<AudioFrame>,
    kept: Duration,
    speech_started: Option<Timestamp>,
    turn: Option<TurnRecord>,
}

/// What is gathered while a turn runs.
#[derive(Debug, Default)]
struct TurnRecord {
    folder: PathBuf,
    reply_audio: Vec<f32>,
    reply_rate: u32,
}

impl Recorder {
    /// Records into `dir` (made if missing).
    ///
    /// # Errors
    /// If `dir` cannot be made.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            frames: VecDeque::new(),
            kept: Duration::ZERO,
            speech_started: None,
            turn: None,
        })
    }

    /// The folder turns go into.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps a microphone frame.
    pub fn frame(&mut self, frame: &AudioFrame) {
        self.kept += frame.duration();
        self.frames.push_back(frame.clone());
        while self.kept.as_secs_f64() > KEPT {
            if let Some(old) = self.frames.pop_front() {
                self.kept = self.kept.saturating_sub(old.duration());
            }
        }
    }

    /// The recognizer heard speech begin.
    pub fn speech_started(&mut self, at: Timestamp) {
        self.speech_started = Some(at);
    }

    /// A question was heard: writes its audio and transcript, and opens the
    /// turn's folder for the reply.
    pub fn question(&mut self, turn: TurnId, text: &str, endpoint_at: Timestamp) {
        let from = self.speech_started.take().map_or(Timestamp::ZERO, |t| {
            Timestamp::from_duration(t.since_epoch().saturating_sub(LEAD))
        });
        let folder = self
            .dir
            .join(format!("{:010}-{turn}", endpoint_at.since_epoch().as_millis()));
        let mut rate = 0;
        let mut samples = Vec::new();
        for frame in &self.frames {
            let end = frame.captured_at.plus(frame.duration());
            if end > from && frame.captured_at < endpoint_at {
                rate = frame.sample_rate;
                samples.extend_from_slice(&frame.samples);
            }
        }
        let written = std::fs::create_dir_all(&folder)
            .and_then(|()| std::fs::write(folder.join("transcript.txt"), format!("{text}\n")))
            .and_then(|()| assistant_audio::wav::write_mono(folder.join("question.wav"), rate.max(1), &samples));
        report(&folder, written);
        self.turn = Some(TurnRecord {
            folder,
            ..TurnRecord::default()
        });
    }

    /// Audio of the reply was queued.
    pub fn reply_audio(&mut self, rate: u32, samples: &[f32]) {
        if let Some(turn) = &mut self.turn {
            turn.reply_rate = rate;
            turn.reply_audio.extend_from_slice(samples);
        }
    }

    /// The turn ended: writes the reply, what was heard of it, and the
    /// summary.
    pub fn finish(&mut self, reply: &str, heard: &str, summary: &serde_json::Value) {
        let Some(turn) = self.turn.take() else { return };
        let folder = &turn.folder;
        let written = std::fs::write(folder.join("reply.txt"), format!("{reply}\n"))
            .and_then(|()| std::fs::write(folder.join("heard.txt"), format!("{heard}\n")))
            .and_then(|()| std::fs::write(folder.join("turn.json"), format!("{summary:#}\n")))
            .and_then(|()| {
                assistant_audio::wav::write_mono(folder.join("reply.wav"), turn.reply_rate.max(1), &turn.reply_audio)
            });
        report(folder, written);
        tracing::info!(folder = %folder.display(), "turn recorded");
    }
}

fn report(folder: &Path, written: std::io::Result<()>) {
    if let Err(e) = written {
        tracing::warn!("cannot record the turn into {}: {e}", folder.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ms: u64, value: f32) -> AudioFrame {
        AudioFrame {
            sample_rate: 16_000,
            samples: vec![value; 320],
            captured_at: Timestamp::from_nanos(ms * 1_000_000),
        }
    }

    #[test]
    fn a_turn_is_written_with_its_question_audio_and_reply() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut r = Recorder::new(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for ms in (0..3000).step_by(20) {
            r.frame(&frame(ms, if (1000..2000).contains(&ms) { 0.5 } else { 0.0 }));
        }
        r.speech_started(Timestamp::from_nanos(1_000_000_000));
        r.question(TurnId(4), "what time is it", Timestamp::from_nanos(2_500_000_000));
        r.reply_audio(22_050, &[0.25; 2205]);
        r.finish("It is noon.", "It is", &serde_json::json!({"ended": "cancelled"}));
        let folders: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .collect();
        assert_eq!(folders.len(), 1);
        let folder = folders[0].path();
        assert!(folder.to_string_lossy().ends_with("turn-4"), "{}", folder.display());
        let read = |name: &str| std::fs::read_to_string(folder.join(name)).unwrap_or_default();
        assert_eq!(read("transcript.txt"), "what time is it\n");
        assert_eq!(read("heard.txt"), "It is\n");
        assert!(read("turn.json").contains("cancelled"));
        // 0.5 s before the onset to the endpoint: 0.5..2.5 s, 2 s of audio.
        let question = hound::WavReader::open(folder.join("question.wav")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(question.spec().sample_rate, 16_000);
        assert_eq!(question.len(), 2 * 16_000);
        let reply = hound::WavReader::open(folder.join("reply.wav")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((reply.spec().sample_rate, reply.len()), (22_050, 2205));
    }
}
