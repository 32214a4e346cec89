//! The listening stage: audio frames in, transcript events out.
//!
//! [`Listener`] is the synchronous core, so it can be driven frame by frame
//! from a WAV file in tests and benchmarks exactly as from a microphone;
//! [`spawn`] runs it on a dedicated thread, `asr`, between two bounded
//! channels, so decoding never blocks the async runtime.
//!
//! Which runtime that thread waits on: the thread needs one only to wait on
//! the frame channel, the cancellation token and room in the event channel
//! together. Called from within a tokio runtime (the daemon), [`spawn`]
//! takes that runtime's `Handle` and the thread runs its loop with
//! `Handle::block_on`, so the daemon has one runtime per process. The loop
//! is still polled on the `asr` thread itself, never on a runtime worker:
//! no decoding runs on the runtime's threads. Called outside any runtime
//! (`assistantd transcribe`, benchmarks, synchronous tests), the thread
//! gets a private current-thread runtime instead. The waits use neither
//! timers nor I/O, so they need none of a runtime's drivers: they work the
//! same on a current-thread runtime whose own thread is busy elsewhere, and
//! on one that has already shut down.
//!
//! Per frame: resample to 16 kHz once (rubato), then, with a VAD, keep the
//! frame in a pre-roll buffer while nobody speaks; when Silero reports
//! speech, the pre-roll and everything after it go to the transducer until
//! its endpoint rules end the utterance. While the room is quiet the
//! transducer sees nothing, so an always-on daemon costs only the VAD.
//!
//! Times: every event carries a [`Timestamp`] on the pipeline clock. A
//! sample's time is its frame's `captured_at` plus its place after that
//! frame's first sample in the 16 kHz stream: the device's clock may drift
//! from the pipeline's, and frames are stamped on the pipeline's, so the
//! drift never accumulates. Frames from a file are stamped by position, so
//! events from a file are exactly reproducible.
//! `speech_end_at` is when the utterance's last token was emitted (the
//! transducer's own timestamp, mapped back through the gating);
//! `endpoint_at` is the time of the last sample fed before the endpoint
//! fired.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use assistant_core::audio::ASR_SAMPLE_RATE;
use assistant_core::event_loop::EventLoop;
use assistant_core::{AudioFrame, DecodeTime, Timestamp, TranscriptEvent, TurnId};

use crate::resample::Resampler;
use crate::{AsrError, Hypothesis, Recognizer, RecognizerConfig, Stream, Vad, VadConfig};

/// How much of the quiet audio skipped below `vad_floor_dbfs` the VAD is
/// shown before the block that rises above it (16 kHz samples: two of
/// Silero's 32 ms windows). Without it the VAD met each onset cold, in
/// whatever phase the skipping left its windows, and missed a quiet one
/// about one time in four (a whisper, replayed at every 48 kHz alignment).
const VAD_LEAD_IN: usize = 1024;

/// Frames whose capture times are kept to time events: a minute of 20 ms
/// frames, longer than any utterance's reach back to its speech end.
const ANCHORS: usize = 3000;

/// Settings of the listening stage.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenConfig {
    /// The streaming recognizer.
    pub recognizer: RecognizerConfig,
    /// Voice-activity gating; `None` feeds every frame to the transducer.
    pub vad: Option<VadConfig>,
    /// Audio kept from before the detected onset, in seconds, on top of
    /// the VAD's own detection delay (`min_speech_s`), so no first syllable
    /// is lost.
    pub pre_roll_s: f32,
    /// While nobody speaks, audio quieter than this (RMS over the block, in
    /// dBFS) is not shown to the VAD: it cannot be speech, and the VAD's
    /// model run on every 32 ms window is most of an idle daemon's CPU.
    /// `None` shows it everything.
    pub vad_floor_dbfs: Option<f32>,
}

impl ListenConfig {
    /// No gating, 0.3 s pre-roll (used once a VAD is set).
    #[must_use]
    pub fn new(recognizer: RecognizerConfig) -> Self {
        Self {
            recognizer,
            vad: None,
            pre_roll_s: 0.3,
            vad_floor_dbfs: None,
        }
    }
}

/// What the stage did, for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenStats {
    /// Frames received.
    pub frames: u64,
    /// 16 kHz samples the frames amounted to.
    pub samples: u64,
    /// 16 kHz samples fed to the transducer (all of them without a VAD).
    pub samples_fed: u64,
    /// Decode steps the transducer ran.
    pub decode_steps: u64,
    /// Final transcripts produced.
    pub finals: u64,
    /// 16 kHz samples not shown to the VAD, below `vad_floor_dbfs`.
    pub below_vad_floor: u64,
}

/// The listening stage's state for one audio stream.
pub struct Listener<'r> {
    stream: Stream<'r>,
    vad: Option<Vad>,
    resampler: Option<Resampler>,
    scratch: Vec<f32>,
    /// (stream position, capture time) of each recent frame's first
    /// sample, oldest first, at most [`ANCHORS`].
    anchors: VecDeque<(u64, Timestamp)>,
    /// 16 kHz samples seen so far (the stream's clock).
    position: u64,
    gate_open: bool,
    pre_roll: VecDeque<f32>,
    pre_roll_max: usize,
    /// `vad_floor_dbfs` as an RMS amplitude.
    vad_floor: Option<f32>,
    /// Samples at the end of the pre-roll the VAD was not shown (below the
    /// floor), up to [`VAD_LEAD_IN`].
    unseen: usize,
    /// (transducer sample index, stream position) where each contiguous
    /// fed run began; maps transducer time back to the stream's clock.
    runs: Vec<(u64, u64)>,
    fed: u64,
    turn: TurnId,
    announced: bool,
    partial: String,
    /// The decode work of the utterance being heard.
    decoding: DecodeTime,
    stats: ListenStats,
}

impl std::fmt::Debug for Listener<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("gated", &self.vad.is_some())
            .field("turn", &self.turn)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'r> Listener<'r> {
    /// A listener on `recognizer`, gated by the VAD `config.vad` names.
    ///
    /// # Errors
    /// [`AsrError`] if the VAD cannot be created or `pre_roll_s` is invalid.
    pub fn new(recognizer: &'r Recognizer, config: &ListenConfig) -> Result<Self, AsrError> {
        if !(config.pre_roll_s.is_finite() && (0.0..=5.0).contains(&config.pre_roll_s)) {
            return Err(AsrError::InvalidConfig {
                field: "asr.pre_roll_s",
                reason: format!("{} is not between 0 and 5 seconds", config.pre_roll_s),
            });
        }
        if let Some(floor) = config.vad_floor_dbfs
            && !(floor.is_finite() && (-120.0..=0.0).contains(&floor))
        {
            return Err(AsrError::InvalidConfig {
                field: "asr.vad.floor_dbfs",
                reason: format!("{floor} is not between -120 and 0 dBFS"),
            });
        }
        let vad = config.vad.as_ref().map(Vad::new).transpose()?;
        let lag = config.vad.as_ref().map_or(0.0, |v| v.min_speech_s);
        // The VAD reports speech min_speech_s after it began, judged on
        // 32 ms windows: keep that much, one window, and the pre-roll.
        let pre_roll_max = ((config.pre_roll_s + lag + 0.032) * ASR_SAMPLE_RATE as f32).ceil() as usize;
        Ok(Self {
            stream: recognizer.stream(),
            vad,
            resampler: None,
            scratch: Vec::with_capacity(4096),
            anchors: VecDeque::with_capacity(ANCHORS),
            position: 0,
            gate_open: false,
            pre_roll: VecDeque::with_capacity(pre_roll_max),
            pre_roll_max,
            vad_floor: config.vad_floor_dbfs.map(|db| 10_f32.powf(db / 20.0)),
            unseen: 0,
            runs: Vec::new(),
            fed: 0,
            turn: TurnId(1),
            announced: false,
            partial: String::new(),
            decoding: DecodeTime::default(),
            stats: ListenStats::default(),
        })
    }

    /// What the stage has done so far.
    #[must_use]
    pub fn stats(&self) -> ListenStats {
        self.stats
    }

    /// Processes one frame, appending the events it causes to `events`.
    ///
    /// # Errors
    /// [`AsrError::BadAudio`] for a frame with a sample rate of 0, a rate
    /// different from earlier frames, or NaN/infinite samples (the frame is
    /// dropped; the listener stays usable).
    pub fn push(&mut self, frame: &AudioFrame, events: &mut Vec<TranscriptEvent>) -> Result<(), AsrError> {
        if let Some(index) = frame.samples.iter().position(|s| !s.is_finite()) {
            return Err(AsrError::BadAudio {
                reason: format!(
                    "sample {index} of the frame captured at {:?} is {}",
                    frame.captured_at, frame.samples[index]
                ),
            });
        }
        let resampler = match &mut self.resampler {
            Some(r) if r.input_rate() == frame.sample_rate => r,
            Some(r) => {
                return Err(AsrError::BadAudio {
                    reason: format!(
                        "the sample rate changed from {} Hz to {} Hz mid-stream; start a new stream",
                        r.input_rate(),
                        frame.sample_rate
                    ),
                });
            }
            None => self
                .resampler
                .insert(Resampler::new(frame.sample_rate).map_err(|e| AsrError::BadAudio { reason: e.to_string() })?),
        };
        if self.anchors.len() == ANCHORS {
            self.anchors.pop_front();
        }
        self.anchors.push_back((self.position, frame.captured_at));
        self.stats.frames += 1;
        let mut block = std::mem::take(&mut self.scratch);
        block.clear();
        resampler.push(&frame.samples, &mut block);
        let result = self.process(&block, events);
        self.scratch = block;
        result
    }

    /// Ends the stream: flushes the resampler and decodes what is left; an
    /// utterance still open becomes a final (endpoint = end of input).
    ///
    /// # Errors
    /// As [`Listener::push`].
    pub fn finish(&mut self, events: &mut Vec<TranscriptEvent>) -> Result<(), AsrError> {
        let mut block = std::mem::take(&mut self.scratch);
        block.clear();
        if let Some(r) = &mut self.resampler {
            r.flush(&mut block);
        }
        self.process(&block, events)?;
        self.scratch = block;
        if self.vad.is_none() || self.gate_open {
            self.stream.finish_input();
            self.decode();
            self.after_decode(events, true);
        }
        Ok(())
    }

    fn process(&mut self, block: &[f32], events: &mut Vec<TranscriptEvent>) -> Result<(), AsrError> {
        let start = self.position;
        self.position += block.len() as u64;
        self.stats.samples += block.len() as u64;
        let Some(vad) = &mut self.vad else {
            return self.feed(block, start, events);
        };
        let below_floor = self.vad_floor.is_some_and(|floor| {
            let energy = block.iter().map(|s| s * s).sum::<f32>() / block.len().max(1) as f32;
            energy.sqrt() < floor
        });
        // Only while nobody speaks: once the VAD hears speech it must also
        // hear the silence that ends it.
        let skip = below_floor && !self.gate_open && !vad.is_speech();
        if skip {
            self.stats.below_vad_floor += block.len() as u64;
            self.unseen = (self.unseen + block.len()).min(VAD_LEAD_IN);
        } else {
            // The VAD sees each onset as it would without the floor: with
            // the quiet lead-in before it, not starting mid-onset where a
            // quiet block was skipped.
            if self.unseen > 0 {
                let lead_in: Vec<f32> = self.pre_roll.iter().rev().take(self.unseen).rev().copied().collect();
                vad.accept(&lead_in);
                self.unseen = 0;
            }
            vad.accept(block);
        }
        if self.gate_open {
            return self.feed(block, start, events);
        }
        self.pre_roll.extend(block.iter().copied());
        let excess = self.pre_roll.len().saturating_sub(self.pre_roll_max);
        self.pre_roll.drain(..excess);
        if skip || !vad.is_speech() {
            return Ok(());
        }
        self.gate_open = true;
        events.push(TranscriptEvent::SpeechStarted {
            turn: self.turn,
            at: self.time_of(self.position),
        });
        self.announced = true;
        let held: Vec<f32> = self.pre_roll.drain(..).collect();
        self.feed(&held, self.position - held.len() as u64, events)
    }

    /// Feeds samples that begin at stream position `from`, decodes, and
    /// reports.
    fn feed(&mut self, samples: &[f32], from: u64, events: &mut Vec<TranscriptEvent>) -> Result<(), AsrError> {
        if samples.is_empty() {
            return Ok(());
        }
        if self.runs.last().is_none_or(|&(k, p)| p + (self.fed - k) != from) {
            self.runs.push((self.fed, from));
        }
        self.stream.accept(samples)?;
        self.fed += samples.len() as u64;
        self.stats.samples_fed += samples.len() as u64;
        // The hypothesis and the endpoint change only when a decode ran.
        if self.decode() > 0 {
            self.after_decode(events, false);
        }
        Ok(())
    }

    /// Runs the decode steps the stream is ready for, timed; returns how
    /// many ran.
    fn decode(&mut self) -> usize {
        let began = Instant::now();
        let steps = self.stream.decode();
        self.decoding.add(steps, began.elapsed());
        self.stats.decode_steps += steps as u64;
        steps
    }

    /// Reports a changed hypothesis, and a final on an endpoint (or, with
    /// `end_of_input`, on whatever the utterance holds).
    fn after_decode(&mut self, events: &mut Vec<TranscriptEvent>, end_of_input: bool) {
        let hypothesis = self.stream.hypothesis();
        let text = &hypothesis.text;
        if !text.is_empty() && *text != self.partial {
            if !self.announced {
                events.push(TranscriptEvent::SpeechStarted {
                    turn: self.turn,
                    at: self.time_of(self.position),
                });
                self.announced = true;
            }
            events.push(TranscriptEvent::Partial {
                turn: self.turn,
                text: text.clone(),
                at: self.time_of(self.position),
            });
            self.partial.clone_from(text);
        }
        if end_of_input || self.stream.is_endpoint() {
            if text.is_empty() {
                // Rule 1 after a false start: nothing to report; the turn
                // stays open for the next utterance.
                self.restart();
            } else {
                self.emit_final(hypothesis, events);
            }
        }
    }

    fn emit_final(&mut self, hypothesis: Hypothesis, events: &mut Vec<TranscriptEvent>) {
        let endpoint_at = self.time_of(self.position);
        let speech_end_at = hypothesis.last_token_s.map_or(endpoint_at, |s| {
            self.time_of(self.stream_position((f64::from(s) * f64::from(ASR_SAMPLE_RATE)).round() as u64))
        });
        events.push(TranscriptEvent::Final {
            turn: self.turn,
            text: hypothesis.text,
            speech_end_at,
            endpoint_at,
            decode: std::mem::take(&mut self.decoding),
        });
        self.stats.finals += 1;
        self.turn = self.turn.next();
        self.announced = false;
        self.restart();
    }

    fn restart(&mut self) {
        self.stream.reset();
        self.partial.clear();
        self.decoding = DecodeTime::default();
        if self.vad.is_some() {
            self.gate_open = false;
        }
    }

    /// The stream position of transducer sample `k`.
    fn stream_position(&self, k: u64) -> u64 {
        let index = self.runs.partition_point(|&(start, _)| start <= k);
        self.runs
            .get(index.wrapping_sub(1))
            .map_or(k, |&(start, position)| position + (k - start))
    }

    /// The capture time of stream position `position`: from the frame it
    /// came in (the latest anchor at or before it), not from the first
    /// frame, so the audio clock's drift from the pipeline clock never
    /// accumulates (a sound card 100 ppm fast is 8.6 s ahead after a day).
    fn time_of(&self, position: u64) -> Timestamp {
        let index = self.anchors.partition_point(|&(p, _)| p <= position);
        let nanos = |samples: u64| Duration::from_nanos(samples * 1_000_000_000 / u64::from(ASR_SAMPLE_RATE));
        match self.anchors.get(index.wrapping_sub(1)).or_else(|| self.anchors.front()) {
            Some(&(p, at)) if p <= position => at.plus(nanos(position - p)),
            Some(&(p, at)) => Timestamp::from_duration(at.since_epoch().saturating_sub(nanos(p - position))),
            None => Timestamp::ZERO.plus(nanos(position)),
        }
    }
}

/// Runs the listening stage on its own thread: frames from `frames`,
/// events to `events`, until `frames` closes (the open utterance is then
/// finished) or `cancel` fires (nothing more is sent). Returns once the
/// models are loaded, so a bad configuration is reported here, not later.
///
/// # Errors
/// [`AsrError`] if the recognizer or the VAD cannot be created.
pub fn spawn(
    config: ListenConfig,
    mut frames: tokio::sync::mpsc::Receiver<AudioFrame>,
    events: tokio::sync::mpsc::Sender<TranscriptEvent>,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<std::thread::JoinHandle<Result<ListenStats, AsrError>>, AsrError> {
    // Chosen here, on the caller's thread: the new thread is in no runtime.
    let event_loop =
        EventLoop::for_caller().map_err(|e| AsrError::Stage(format!("cannot start the stage's event loop: {e}")))?;
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), AsrError>>(1);
    let handle = std::thread::Builder::new()
        .name("asr".into())
        .spawn(move || {
            let recognizer = match Recognizer::new(&config.recognizer) {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return Ok(ListenStats::default());
                }
            };
            let mut listener = match Listener::new(&recognizer, &config) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return Ok(ListenStats::default());
                }
            };
            let _ = ready_tx.send(Ok(()));
            event_loop.block_on(async {
                let mut out = Vec::new();
                loop {
                    let frame = tokio::select! {
                        biased;
                        () = cancel.cancelled() => return Ok(listener.stats()),
                        frame = frames.recv() => frame,
                    };
                    let last = frame.is_none();
                    match frame {
                        Some(frame) => listener.push(&frame, &mut out)?,
                        None => listener.finish(&mut out)?,
                    }
                    for event in out.drain(..) {
                        tokio::select! {
                            biased;
                            () = cancel.cancelled() => return Ok(listener.stats()),
                            sent = events.send(event) => if sent.is_err() { return Ok(listener.stats()) },
                        }
                    }
                    if last {
                        return Ok(listener.stats());
                    }
                }
            })
        })
        .map_err(|e| AsrError::Stage(format!("cannot start the ASR thread: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(AsrError::Stage("the ASR thread ended while loading the models".into())),
    }
}
