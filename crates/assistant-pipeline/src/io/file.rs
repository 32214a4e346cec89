//! Audio from files and into a recording, for `assistantd bench`: the same
//! turn loop as the daemon, with the microphone replaced by a WAV file and
//! the speakers by a recorder that takes audio at a real device's pace.
//!
//! - [`WavSource`] cuts a file into 20 ms frames stamped on the pipeline
//!   clock. [`Pace::Realtime`] delivers each frame when it would have been
//!   complete at a microphone, stamped as if captured live (honest
//!   latencies); [`Pace::Fast`] delivers them as fast as they are taken,
//!   each stamped when it is taken, so every mark of a turn stays on the one
//!   clock and in order, and the figures are the pipeline's own processing
//!   time (the endpoint's silence costs only the time to decode it). A
//!   silent tail lets the endpoint rules end the last utterance.
//! - [`RecorderSink`] models a device with a buffer: thread `recorder` takes
//!   one buffer of samples per buffer period, in real time, and a sample
//!   counts as played one buffer after it was taken (the modelled device
//!   delay). It reports [`PlaybackEvent`]s exactly as the speakers do,
//!   honours pause and barge-in, and keeps everything it played.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use assistant_audio::playback::{PlaybackError, PlaybackEvent};
use assistant_core::{AudioFrame, Clock, SpeechChunk, Timestamp, TurnId};

use super::{Sink, Source, SourceItem};

/// How a [`WavSource`] delivers its frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// Each frame when a microphone would have delivered it.
    #[default]
    Realtime,
    /// As fast as they are taken.
    Fast,
}

/// A WAV file as a [`Source`]. See the [module docs](self).
#[derive(Debug)]
pub struct WavSource {
    name: String,
    frames: VecDeque<AudioFrame>,
    pace: Pace,
    clock: Clock,
    /// When the first frame's audio began, on the pipeline clock.
    origin: Timestamp,
}

impl WavSource {
    /// Reads `path` (any layout `assistant_audio::wav` reads, downmixed)
    /// and appends `tail` of silence; the first frame begins now.
    ///
    /// # Errors
    /// If the file cannot be read or is not a supported WAV (the error
    /// names the file and the formats that are).
    pub fn open(path: &Path, tail: Duration, pace: Pace, clock: Clock) -> Result<Self, assistant_audio::wav::WavError> {
        let mut pcm = assistant_audio::wav::read(path)?.into_mono();
        let padding = (tail.as_secs_f64() * f64::from(pcm.sample_rate)).round() as usize;
        pcm.samples.extend(std::iter::repeat_n(0.0, padding));
        let origin = clock.now();
        Ok(Self {
            name: path.display().to_string(),
            frames: pcm.frames(origin).into(),
            pace,
            clock,
            origin,
        })
    }

    /// When the file's first sample was "captured", on the pipeline clock:
    /// at [`Pace::Realtime`], a position in the file at `t` seconds is
    /// `origin + t` (at [`Pace::Fast`] each frame is stamped when taken).
    #[must_use]
    pub fn origin(&self) -> Timestamp {
        self.origin
    }
}

impl Source for WavSource {
    fn next(&mut self, wait: Duration) -> SourceItem {
        let Some(frame) = self.frames.front() else {
            return SourceItem::End;
        };
        if self.pace == Pace::Realtime {
            // A frame is complete when its last sample has been captured.
            let due = frame.captured_at.plus(frame.duration());
            if let Some(ahead) = due.checked_since(self.clock.now()) {
                if ahead > wait {
                    std::thread::sleep(wait);
                    return SourceItem::Idle;
                }
                std::thread::sleep(ahead);
            }
        }
        let Some(mut frame) = self.frames.pop_front() else {
            return SourceItem::End;
        };
        if self.pace == Pace::Fast {
            frame.captured_at = self.clock.now();
        }
        SourceItem::Frame(frame)
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// A command to thread `recorder`.
enum Command {
    Play(SpeechChunk),
    Stop {
        through: TurnId,
        done: mpsc::SyncSender<()>,
    },
}

/// A chunk being played, and how much of it the device has taken.
struct Playing {
    chunk: SpeechChunk,
    taken: usize,
}

/// The recording: a modelled device with a buffer, as a [`Sink`]. See the
/// [module docs](self).
pub struct RecorderSink {
    rate: u32,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    events: Mutex<mpsc::Receiver<PlaybackEvent>>,
    paused: Arc<AtomicBool>,
    recorded: Arc<Mutex<Vec<f32>>>,
    queued: Arc<AtomicU64>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for RecorderSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderSink")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl RecorderSink {
    /// A device at `rate` Hz that takes `buffer` of audio at a time.
    ///
    /// # Errors
    /// [`PlaybackError::Open`] if the rate or buffer is zero or the thread
    /// cannot start.
    pub fn open(rate: u32, buffer: Duration, clock: Clock) -> Result<Self, PlaybackError> {
        let block = (buffer.as_secs_f64() * f64::from(rate)).round() as usize;
        if rate == 0 || block == 0 {
            return Err(PlaybackError::Open {
                device: "recorder".into(),
                reason: format!("a {rate} Hz device with a {buffer:?} buffer plays nothing"),
            });
        }
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let paused = Arc::new(AtomicBool::new(false));
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let queued = Arc::new(AtomicU64::new(0));
        let device = Device {
            block,
            period: buffer,
            delay: buffer,
            clock,
            paused: Arc::clone(&paused),
            recorded: Arc::clone(&recorded),
            queued: Arc::clone(&queued),
        };
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || device.run(&command_rx, &event_tx))
            .map_err(|e| PlaybackError::Open {
                device: "recorder".into(),
                reason: format!("cannot start its thread: {e}"),
            })?;
        Ok(Self {
            rate,
            commands: Mutex::new(Some(commands)),
            events: Mutex::new(events),
            paused,
            recorded,
            queued,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Everything played so far (silence while idle is not kept).
    #[must_use]
    pub fn recorded(&self) -> Vec<f32> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Everything played since the last take (or since it opened), and
    /// forgets it: a long benchmark keeps each run's audio once, not all.
    #[must_use]
    pub fn take_recorded(&self) -> Vec<f32> {
        self.recorded
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// Samples queued and not yet taken by the device.
    #[must_use]
    pub fn queued_samples(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    fn send(&self, command: Command) -> Result<(), PlaybackError> {
        let commands = self.commands.lock().map_err(|_| PlaybackError::Closed)?;
        commands
            .as_ref()
            .ok_or(PlaybackError::Closed)?
            .send(command)
            .map_err(|_| PlaybackError::Closed)
    }
}

impl Drop for RecorderSink {
    fn drop(&mut self) {
        if let Ok(mut commands) = self.commands.lock() {
            commands.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

impl Sink for RecorderSink {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn name(&self) -> String {
        "recorder".into()
    }

    fn play(&self, chunk: SpeechChunk) -> Result<(), PlaybackError> {
        if chunk.sample_rate != self.rate {
            return Err(PlaybackError::RateMismatch {
                chunk: chunk.sample_rate,
                stream: self.rate,
            });
        }
        self.queued.fetch_add(chunk.samples.len() as u64, Ordering::AcqRel);
        self.send(Command::Play(chunk))
    }

    fn stop_through(&self, turn: TurnId) -> Result<(), PlaybackError> {
        let (done, finished) = mpsc::sync_channel(1);
        self.send(Command::Stop { through: turn, done })?;
        finished.recv().map_err(|_| PlaybackError::Closed)?;
        self.paused.store(false, Ordering::Release);
        Ok(())
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::Release);
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::Release);
    }

    fn next_event(&self, wait: Duration) -> Option<PlaybackEvent> {
        self.events.lock().ok()?.recv_timeout(wait).ok()
    }
}

/// Thread `recorder`'s state.
struct Device {
    block: usize,
    period: Duration,
    delay: Duration,
    clock: Clock,
    paused: Arc<AtomicBool>,
    recorded: Arc<Mutex<Vec<f32>>>,
    queued: Arc<AtomicU64>,
}

impl Device {
    fn run(&self, commands: &mpsc::Receiver<Command>, events: &mpsc::Sender<PlaybackEvent>) {
        let mut queue: VecDeque<Playing> = VecDeque::new();
        let mut dropped_through = 0_u64;
        let mut tick = Instant::now();
        // When the sample the device takes next will be heard: set when it
        // starts taking after being idle or paused, then advanced sample by
        // sample (a playout schedule, as real playback reports).
        let mut schedule: Option<Timestamp> = None;
        loop {
            // Commands first, without waiting while there is audio to take.
            let wait = if queue.is_empty() {
                Duration::from_millis(50)
            } else {
                tick.saturating_duration_since(Instant::now())
            };
            match commands.recv_timeout(wait) {
                Ok(Command::Play(chunk)) => {
                    if chunk.turn.0 <= dropped_through {
                        self.queued.fetch_sub(chunk.samples.len() as u64, Ordering::AcqRel);
                        let _ = events.send(interrupted(&chunk, 0, self.clock.now()));
                    } else {
                        if queue.is_empty() {
                            tick = Instant::now();
                            schedule = None;
                        }
                        queue.push_back(Playing { chunk, taken: 0 });
                    }
                    continue;
                }
                Ok(Command::Stop { through, done }) => {
                    dropped_through = dropped_through.max(through.0);
                    let now = self.clock.now();
                    for playing in queue.drain(..) {
                        let left = playing.chunk.samples.len() - playing.taken;
                        self.queued.fetch_sub(left as u64, Ordering::AcqRel);
                        let _ = events.send(interrupted(&playing.chunk, playing.taken, now));
                    }
                    let _ = done.send(());
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if queue.is_empty() || Instant::now() < tick {
                continue;
            }
            tick += self.period;
            if self.paused.load(Ordering::Acquire) {
                schedule = None;
                continue;
            }
            let heard_at = *schedule.get_or_insert_with(|| self.clock.now().plus(self.delay));
            schedule = Some(self.take_block(&mut queue, heard_at, events));
        }
    }

    /// The device takes one buffer of samples, the first heard at
    /// `heard_at`; returns when the sample after them will be heard.
    fn take_block(
        &self,
        queue: &mut VecDeque<Playing>,
        heard_at: Timestamp,
        events: &mpsc::Sender<PlaybackEvent>,
    ) -> Timestamp {
        let mut want = self.block;
        let rate = queue.front().map_or(1, |p| p.chunk.sample_rate).max(1);
        let mut offset = 0_usize;
        while want > 0 {
            let Some(playing) = queue.front_mut() else { break };
            let at = heard_at.plus(Duration::from_nanos(
                u64::try_from(offset as u128 * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX),
            ));
            if playing.taken == 0 {
                let _ = events.send(PlaybackEvent::Started {
                    turn: playing.chunk.turn,
                    clause: playing.chunk.clause,
                    at,
                });
            }
            let n = want.min(playing.chunk.samples.len() - playing.taken);
            if let Ok(mut recorded) = self.recorded.lock() {
                recorded.extend_from_slice(&playing.chunk.samples[playing.taken..playing.taken + n]);
            }
            playing.taken += n;
            offset += n;
            want -= n;
            self.queued.fetch_sub(n as u64, Ordering::AcqRel);
            if playing.taken == playing.chunk.samples.len() {
                let end = heard_at.plus(Duration::from_nanos(
                    u64::try_from(offset as u128 * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX),
                ));
                let _ = events.send(PlaybackEvent::Finished {
                    turn: playing.chunk.turn,
                    clause: playing.chunk.clause,
                    at: end,
                    samples: playing.chunk.samples.len(),
                });
                queue.pop_front();
            }
        }
        heard_at.plus(Duration::from_nanos(
            u64::try_from(offset as u128 * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX),
        ))
    }
}

fn interrupted(chunk: &SpeechChunk, played: usize, at: Timestamp) -> PlaybackEvent {
    PlaybackEvent::Interrupted {
        turn: chunk.turn,
        clause: chunk.clause,
        at,
        played,
        of: chunk.samples.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    fn chunk(turn: u64, clause: u32, seconds: f32, value: f32) -> SpeechChunk {
        SpeechChunk {
            turn: TurnId(turn),
            clause,
            sample_rate: RATE,
            samples: vec![value; (seconds * RATE as f32) as usize],
            synthesized_at: Timestamp::ZERO,
        }
    }

    fn event(sink: &RecorderSink) -> PlaybackEvent {
        sink.next_event(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no event within 5 s"))
    }

    #[test]
    fn the_recorder_plays_in_real_time_in_order_with_the_modelled_delay() {
        let clock = Clock::start();
        let sink = RecorderSink::open(RATE, Duration::from_millis(20), clock).unwrap_or_else(|e| panic!("{e}"));
        let asked = clock.now();
        sink.play(chunk(1, 0, 0.2, 0.5)).unwrap_or_else(|e| panic!("{e}"));
        sink.play(chunk(1, 1, 0.1, 0.25)).unwrap_or_else(|e| panic!("{e}"));
        let started = event(&sink);
        let PlaybackEvent::Started { clause: 0, at, .. } = started else {
            panic!("{started:?}")
        };
        // Heard one buffer after it was taken.
        assert!(
            at.checked_since(asked).unwrap_or_default() >= Duration::from_millis(20),
            "{started:?}"
        );
        let finished = event(&sink);
        let PlaybackEvent::Finished {
            clause: 0,
            at: end,
            samples,
            ..
        } = finished
        else {
            panic!("{finished:?}")
        };
        assert_eq!(samples, 3200);
        assert_eq!(end.checked_since(at), Some(Duration::from_millis(200)));
        assert!(matches!(event(&sink), PlaybackEvent::Started { clause: 1, .. }));
        assert!(matches!(
            event(&sink),
            PlaybackEvent::Finished {
                clause: 1,
                samples: 1600,
                ..
            }
        ));
        // It took real time: 0.3 s of audio.
        assert!(clock.now().checked_since(asked).unwrap_or_default() >= Duration::from_millis(280));
        let recorded = sink.recorded();
        assert_eq!(recorded.len(), 4800);
        assert!((recorded[0] - 0.5).abs() < f32::EPSILON && (recorded[4799] - 0.25).abs() < f32::EPSILON);
        assert_eq!(sink.queued_samples(), 0);
    }

    #[test]
    fn barge_in_cuts_the_recorder_and_a_pause_holds_it() {
        let clock = Clock::start();
        let sink = RecorderSink::open(RATE, Duration::from_millis(20), clock).unwrap_or_else(|e| panic!("{e}"));
        sink.play(chunk(1, 0, 1.0, 0.5)).unwrap_or_else(|e| panic!("{e}"));
        sink.play(chunk(1, 1, 1.0, 0.5)).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(event(&sink), PlaybackEvent::Started { clause: 0, .. }));
        std::thread::sleep(Duration::from_millis(200));
        sink.pause();
        std::thread::sleep(Duration::from_millis(100));
        let during = sink.recorded().len();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(sink.recorded().len(), during, "the device took audio while paused");
        sink.stop_through(TurnId(1)).unwrap_or_else(|e| panic!("{e}"));
        let cut = event(&sink);
        let PlaybackEvent::Interrupted {
            clause: 0, played, of, ..
        } = cut
        else {
            panic!("{cut:?}")
        };
        assert_eq!((played, of), (during, 16_000));
        assert!(matches!(
            event(&sink),
            PlaybackEvent::Interrupted {
                clause: 1,
                played: 0,
                ..
            }
        ));
        // A late chunk of the cut turn is dropped; the next turn plays.
        sink.play(chunk(1, 2, 0.1, 0.5)).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            event(&sink),
            PlaybackEvent::Interrupted {
                clause: 2,
                played: 0,
                ..
            }
        ));
        sink.play(chunk(2, 0, 0.1, 0.5)).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(event(&sink), PlaybackEvent::Started { turn: TurnId(2), .. }));
        assert!(matches!(event(&sink), PlaybackEvent::Finished { turn: TurnId(2), .. }));
        assert_eq!(sink.queued_samples(), 0);
        assert!(
            sink.play(chunk(3, 0, 0.1, 0.5).with_rate(8_000)).is_err(),
            "a wrong rate is refused"
        );
    }

    trait WithRate {
        fn with_rate(self, rate: u32) -> Self;
    }

    impl WithRate for SpeechChunk {
        fn with_rate(mut self, rate: u32) -> Self {
            self.sample_rate = rate;
            self
        }
    }

    #[test]
    fn a_wav_source_paces_its_frames_and_ends_after_its_tail() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("q.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&path, spec).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3200 {
            writer.write_sample(8_000_i16).unwrap_or_else(|e| panic!("{e}"));
        }
        writer.finalize().unwrap_or_else(|e| panic!("{e}"));
        let clock = Clock::start();
        let mut source =
            WavSource::open(&path, Duration::from_millis(100), Pace::Realtime, clock).unwrap_or_else(|e| panic!("{e}"));
        let started = clock.now();
        let mut frames = Vec::new();
        loop {
            match source.next(Duration::from_millis(100)) {
                SourceItem::Frame(f) => frames.push(f),
                SourceItem::End => break,
                SourceItem::Idle | SourceItem::Notice(_) => {}
            }
        }
        // 0.2 s of audio and 0.1 s of tail, delivered in real time.
        assert_eq!(frames.len(), 15);
        assert!(clock.now().checked_since(started).unwrap_or_default() >= Duration::from_millis(290));
        assert!((frames[0].samples[0] - 8_000.0 / 32_768.0).abs() < 1e-6);
        assert!(frames[14].samples.iter().all(|s| *s == 0.0), "the tail is silent");
        assert_eq!(
            frames[1].captured_at.checked_since(frames[0].captured_at),
            Some(Duration::from_millis(20))
        );
        let mut fast = WavSource::open(&path, Duration::ZERO, Pace::Fast, clock).unwrap_or_else(|e| panic!("{e}"));
        let opened = clock.now();
        let mut items = Vec::new();
        loop {
            match fast.next(Duration::from_millis(100)) {
                SourceItem::End => break,
                item => items.push(item),
            }
        }
        // Every call a frame: fast pace never reports waiting. Each is
        // stamped when taken: in order, and never in the future.
        assert_eq!(items.len(), 10);
        let stamps: Vec<Timestamp> = items
            .iter()
            .filter_map(|i| match i {
                SourceItem::Frame(f) => Some(f.captured_at),
                _ => None,
            })
            .collect();
        assert_eq!(stamps.len(), 10);
        assert!(
            stamps[0] >= opened && stamps.windows(2).all(|w| w[0] <= w[1]),
            "{stamps:?}"
        );
        assert!(*stamps.last().unwrap_or(&opened) <= clock.now());
        let missing = WavSource::open(&dir.path().join("nope.wav"), Duration::ZERO, Pace::Fast, clock);
        assert!(missing.is_err_and(|e| e.to_string().contains("nope.wav")));
    }
}
