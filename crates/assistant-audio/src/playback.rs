//! Playback: speech chunks out of the speakers, with exact "first audio
//! played" times and barge-in that silences the device at once.
//!
//! # Design
//!
//! rodio opens the output device (cpal underneath: its native PulseAudio
//! client where a PulseAudio or PipeWire server answers, else ALSA) and
//! mixes one source of ours into it
//! for the whole life of the [`Speaker`]. That source reads a lock-free
//! single-producer ring ([`rtrb`]): the audio callback pops samples, and
//! when the ring is empty it plays silence. It never allocates, locks or
//! blocks; all it writes besides the samples are atomics. rodio's own
//! per-source controls (its `Player`) take mutexes in the callback, which is
//! why they are not used.
//!
//! A thread named `playback` owns the device (cpal streams may not move
//! between threads) and feeds the ring from a bounded queue of
//! [`SpeechChunk`]s. It reports [`PlaybackEvent`]s: when each clause's first
//! sample reached the device, when its last did, and how much of a clause
//! was heard when barge-in cut it ([`Speaker::stop`]), which is what the LLM
//! history must record as spoken.
//!
//! # What "played" means
//!
//! A sample is *played* once the audio callback hands it to the device. The
//! callback stamps the first sample after silence with the [`Clock`]: that
//! is the exact "first audio played" of a reply. Devices take samples in
//! bursts (a whole buffer at a time), so later samples are not stamped one
//! by one; their times are a playout schedule, placed from that stamp at
//! the stream's sample rate, and a clause that follows another without a
//! gap starts exactly where the previous one ends. A `Finished` time may
//! therefore lie a buffer ahead of the moment the event is sent. What the
//! listener hears lags these times by the device's buffer
//! ([`OutputSettings::buffer`], 50 ms by default) plus whatever the sound
//! server adds.
//!
//! # Why PulseAudio natively
//!
//! Through ALSA's `pulse` plugin a stream cannot ask the server for its
//! latency, so the sink keeps its own: a PulseAudio null sink runs 2 s
//! blocks, and the first sample of a reply reached it up to 2 s late
//! (measured: 0.3 to 1.5 s after it was queued). cpal's PulseAudio host
//! asks for two buffers of [`OutputSettings::buffer`], the server adjusts,
//! and audio queued on an open speaker reaches the device within about one
//! buffer (measured: 1 to 52 ms with the 50 ms default). The ALSA host
//! stays as the fallback where no server answers.
//!
//! # Sample rate
//!
//! The stream is opened at the voice's rate, mono, so that the sound server
//! (PulseAudio, PipeWire, ALSA's `plug`) does the one conversion to the
//! hardware rate with its own filter. A device that refuses that rate is
//! opened with its default configuration and rodio converts.

mod heard;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assistant_core::{Clock, SpeechChunk, Timestamp, TurnId};
use cpal::traits::HostTrait as _;
use rodio::{DeviceTrait as _, Source};
use thiserror::Error;

/// Queued chunks before [`Speaker::play`] blocks: the same depth as the
/// synthesizer's stream, so a whole reply's first sentences fit.
pub const QUEUE_CAPACITY: usize = 4;

/// The ring between the playback thread and the audio callback, in seconds
/// of audio. Enough to ride out a busy machine; short enough that the
/// thread's view of what is "queued" stays close to what is heard.
const RING_SECONDS: f64 = 0.5;

/// How often the playback thread looks at the callback's progress while
/// audio is in flight.
const POLL: Duration = Duration::from_millis(2);

/// How long [`Speaker::open`] waits for the device to start pulling.
const LIVE_DEADLINE: Duration = Duration::from_secs(5);

/// How long queued audio may sit untaken before the device counts as
/// gone.
const STALL: Duration = Duration::from_secs(5);

/// How long [`Speaker::stop`] waits for the callback to drop the ring's
/// audio before declaring the device stuck.
const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

/// Why playback failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlaybackError {
    /// No output device at all.
    #[error(
        "no audio output device; on Linux start PulseAudio or PipeWire (or check that ALSA's `default` device exists), or write to a file with -o FILE"
    )]
    NoDevice,
    /// The named device does not exist.
    #[error("no audio output device named '{name}'; available: {available}; list them with `assistantd devices`")]
    DeviceNotFound {
        /// The name asked for.
        name: String,
        /// The devices there are, comma-separated.
        available: String,
    },
    /// The device exists but could not be opened.
    #[error("cannot open audio output '{device}': {reason}; is the sound server (PulseAudio/PipeWire) running?")]
    Open {
        /// The device.
        device: String,
        /// What the audio system said.
        reason: String,
    },
    /// The device went away or failed while playing.
    #[error(
        "audio output '{device}' failed while playing: {reason}; check that it is still connected and the sound server is running"
    )]
    DeviceLost {
        /// The device.
        device: String,
        /// What the audio system said.
        reason: String,
    },
    /// A chunk's sample rate differs from the stream's.
    #[error(
        "a speech chunk at {chunk} Hz cannot play on an output opened at {stream} Hz; open the speaker at the voice's rate"
    )]
    RateMismatch {
        /// The chunk's rate.
        chunk: u32,
        /// The stream's rate.
        stream: u32,
    },
    /// The playback thread is gone (after a device failure or shutdown).
    #[error("the playback thread has stopped")]
    Closed,
}

/// Where and how to play.
#[derive(Clone, Debug)]
pub struct OutputSettings {
    /// A device by name or id (see [`output_devices`]); `None` for the
    /// system default.
    pub device: Option<String>,
    /// The rate of the audio that will be played (the voice's), in Hz.
    pub sample_rate: u32,
    /// The device buffer: the latency from the callback to the speaker and
    /// the shortest time barge-in can take to be heard.
    pub buffer: Duration,
}

impl OutputSettings {
    /// The default device at `sample_rate`, with a 50 ms buffer.
    #[must_use]
    pub fn default_device(sample_rate: u32) -> Self {
        Self {
            device: None,
            sample_rate,
            buffer: Duration::from_millis(50),
        }
    }
}

/// An output device (see [`crate::devices`]).
pub type OutputDevice = crate::devices::AudioDevice;

/// The output devices the audio system offers.
///
/// # Errors
/// [`PlaybackError::Open`] if the audio system cannot list them.
pub fn output_devices() -> Result<Vec<OutputDevice>, PlaybackError> {
    crate::devices::list(crate::devices::Direction::Output).map_err(|reason| PlaybackError::Open {
        device: "(all)".into(),
        reason,
    })
}

/// What happened to the audio handed to a [`Speaker`].
#[derive(Clone, Debug, PartialEq)]
pub enum PlaybackEvent {
    /// The clause's first sample reached the device.
    Started {
        /// The turn.
        turn: TurnId,
        /// The clause within the turn.
        clause: u32,
        /// When.
        at: Timestamp,
    },
    /// The clause's last sample reached the device.
    Finished {
        /// The turn.
        turn: TurnId,
        /// The clause within the turn.
        clause: u32,
        /// When.
        at: Timestamp,
        /// Samples played (the whole clause).
        samples: usize,
    },
    /// [`Speaker::stop`] cut the clause short, or dropped it before it began.
    Interrupted {
        /// The turn.
        turn: TurnId,
        /// The clause within the turn.
        clause: u32,
        /// When the device stopped taking its samples.
        at: Timestamp,
        /// Samples of the clause that were played (0 if it never began).
        played: usize,
        /// Samples the clause had.
        of: usize,
    },
    /// The device failed; the speaker is closed.
    Failed(PlaybackError),
}

/// State shared with the audio callback: atomics only.
struct Shared {
    /// Index (in the stream of pushed samples) of the next sample the
    /// callback will pop; discarded samples count too.
    popped: AtomicU64,
    /// Samples below this index are to be discarded, not played.
    flush_to: AtomicU64,
    /// Index of the first sample the last flush discarded.
    flushed_from: AtomicU64,
    /// The first sample played after silence, and when the callback took it.
    anchor: crate::anchor::Anchor,
    /// The device has pulled [`RingSource::live_after`] samples (silence
    /// included): it is past its start-up and pulls at its steady pace.
    live: AtomicBool,
    /// Barge-in's first step: the callback plays silence and takes nothing
    /// from the ring until this is cleared ([`Pause`]).
    paused: AtomicBool,
    /// The device reported an error that ends the stream.
    failed: AtomicBool,
    /// Errors the device reported, fatal or not (xruns, transient I/O
    /// errors from a sound server's plugin).
    errors: AtomicU64,
    /// The latest error's message (written with `try_lock`, never waiting).
    last_error: Mutex<String>,
}

impl Shared {
    fn new() -> Self {
        Self {
            popped: AtomicU64::new(0),
            flush_to: AtomicU64::new(0),
            flushed_from: AtomicU64::new(0),
            anchor: crate::anchor::Anchor::default(),
            live: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
        }
    }

    /// Called by cpal, on its audio thread but off the sample path, for
    /// each stream error. cpal keeps the stream running after xruns and
    /// backend errors and ends it only for a vanished device; so does this.
    fn on_error(&self, error: &rodio::CpalError) {
        use rodio::CpalErrorKind as Kind;
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.try_lock() {
            *last = error.to_string();
        }
        let fatal = matches!(
            error.kind(),
            Kind::DeviceNotAvailable | Kind::HostUnavailable | Kind::PermissionDenied
        );
        if fatal {
            self.failed.store(true, Ordering::Release);
        }
    }

    /// The latest error's message, or `otherwise`.
    fn last_error_or(&self, otherwise: &str) -> String {
        self.last_error
            .lock()
            .ok()
            .filter(|m| !m.is_empty())
            .map_or_else(|| otherwise.to_owned(), |m| m.clone())
    }

    /// The latest anchor, read consistently.
    fn anchor(&self) -> Option<(u64, Timestamp)> {
        self.anchor.read()
    }
}

/// The source rodio's mixer pulls from in the audio callback.
struct RingSource {
    ring: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
    clock: Clock,
    rate: rodio::SampleRate,
    /// The last pull found the ring empty (or this is the first pull).
    idle: bool,
    /// Samples pulled so far, counted up to `live_after`.
    pulled: u64,
    /// Three device buffers: a device that has pulled that much has filled
    /// its buffer and come back for more at least once.
    live_after: u64,
    popped: u64,
}

impl Iterator for RingSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.pulled < self.live_after {
            self.pulled += 1;
            if self.pulled == self.live_after {
                self.shared.live.store(true, Ordering::Release);
            }
        }
        let flush_to = self.shared.flush_to.load(Ordering::Acquire);
        if self.popped < flush_to {
            let wanted = usize::try_from(flush_to - self.popped).unwrap_or(usize::MAX);
            let n = wanted.min(self.ring.slots());
            if let Ok(chunk) = self.ring.read_chunk(n) {
                chunk.commit_all();
            }
            self.shared.flushed_from.store(self.popped, Ordering::Release);
            self.popped += n as u64;
            self.shared.popped.store(self.popped, Ordering::Release);
            self.idle = true;
        }
        if self.shared.paused.load(Ordering::Acquire) {
            // Silence until resumed; the next sample played is stamped
            // anew, so the schedule of what follows stays exact.
            self.idle = true;
            return Some(0.0);
        }
        match self.ring.pop() {
            Ok(sample) => {
                if self.idle {
                    self.idle = false;
                    self.shared.anchor.publish(self.popped, self.clock.now());
                }
                self.popped += 1;
                self.shared.popped.store(self.popped, Ordering::Release);
                Some(sample)
            }
            Err(_) => {
                self.idle = true;
                Some(0.0)
            }
        }
    }
}

impl Source for RingSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        rodio::ChannelCount::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

enum Command {
    Play(SpeechChunk),
    Stop(mpsc::SyncSender<()>),
}

/// The speakers: a device opened for the life of the value, playing
/// [`SpeechChunk`]s in order on thread `playback`.
///
/// Dropping it stops playback at once and closes the device.
pub struct Speaker {
    commands: Option<mpsc::SyncSender<Command>>,
    /// Read by one caller at a time; the mutex makes the speaker `Sync`,
    /// so playing, stopping and reading events can happen on different
    /// threads. (The audio callback never sees it.)
    events: Option<Mutex<mpsc::Receiver<PlaybackEvent>>>,
    /// Stops requested: incremented by each `stop` before its command is
    /// sent, so the thread notices a stop while chunks are still queued
    /// ahead of it.
    stops: Arc<AtomicU64>,
    /// Chunks of this turn and earlier ones are dropped on arrival
    /// ([`Speaker::stop_through`]); `0` drops none.
    dropped_through: Arc<AtomicU64>,
    /// What the audio callback reads: here for [`Speaker::pause_handle`].
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    device: String,
    sample_rate: u32,
}

/// Pauses and resumes a [`Speaker`] from any thread, at once: the next
/// device callback plays silence, and nothing queued is lost. Barge-in
/// pauses the moment the microphone hears someone, then either stops the
/// speaker (it was speech) or resumes it where it paused (a cough, a door).
/// Cheap to clone; it does nothing once its speaker is gone.
#[derive(Clone)]
pub struct Pause {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pause").field("paused", &self.is_paused()).finish()
    }
}

impl Pause {
    /// Silences the device from its next callback; queued audio waits.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Release);
    }

    /// Plays on from the sample after the last one played.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Release);
    }

    /// Whether the speaker is paused.
    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("device", &self.device)
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl Speaker {
    /// Opens the output device and starts thread `playback`; returns once
    /// the device pulls audio at its steady pace (or after 5 s), so that a
    /// sound server's slow start is not charged to the first reply.
    ///
    /// # Errors
    /// [`PlaybackError::NoDevice`], [`PlaybackError::DeviceNotFound`] or
    /// [`PlaybackError::Open`].
    pub fn open(settings: &OutputSettings, clock: Clock) -> Result<Self, PlaybackError> {
        let (commands, command_rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let (event_tx, events) = mpsc::channel();
        let (opened_tx, opened_rx) = mpsc::sync_channel(1);
        let stops = Arc::new(AtomicU64::new(0));
        let thread_stops = Arc::clone(&stops);
        let dropped_through = Arc::new(AtomicU64::new(0));
        let thread_dropped = Arc::clone(&dropped_through);
        let thread_settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name("playback".into())
            .spawn(move || {
                let output = match Output::open(&thread_settings, clock) {
                    Ok(output) => output,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                output.wait_until_live();
                let _ = opened_tx.send(Ok((output.device.clone(), Arc::clone(&output.shared))));
                output.run(&command_rx, &event_tx, &thread_stops, &thread_dropped);
            })
            .map_err(|e| PlaybackError::Open {
                device: settings_name(settings.device.as_deref()),
                reason: format!("cannot start the playback thread: {e}"),
            })?;
        match opened_rx.recv() {
            Ok(Ok((device, shared))) => Ok(Self {
                commands: Some(commands),
                events: Some(Mutex::new(events)),
                stops,
                dropped_through,
                shared,
                thread: Some(thread),
                device,
                sample_rate: settings.sample_rate,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(PlaybackError::Closed)
            }
        }
    }

    /// The device playing.
    #[must_use]
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The rate of the audio this speaker plays, in Hz.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Queues a chunk after those already queued; blocks while
    /// [`QUEUE_CAPACITY`] chunks wait.
    ///
    /// # Errors
    /// [`PlaybackError::RateMismatch`], or [`PlaybackError::Closed`] after a
    /// device failure (the [`PlaybackEvent::Failed`] event says why).
    pub fn play(&self, chunk: SpeechChunk) -> Result<(), PlaybackError> {
        if chunk.sample_rate != self.sample_rate {
            return Err(PlaybackError::RateMismatch {
                chunk: chunk.sample_rate,
                stream: self.sample_rate,
            });
        }
        let commands = self.commands.as_ref().ok_or(PlaybackError::Closed)?;
        commands.send(Command::Play(chunk)).map_err(|_| PlaybackError::Closed)
    }

    /// Barge-in: drops every chunk queued so far and silences the device
    /// within one callback; returns once the callback has let go of the
    /// audio. [`PlaybackEvent::Interrupted`] events say how much of each
    /// clause was heard. Chunks played after `stop` returns play normally
    /// (a [`Pause`] in force ends with the audio it held).
    ///
    /// # Errors
    /// [`PlaybackError::Closed`] if the playback thread is gone.
    pub fn stop(&self) -> Result<(), PlaybackError> {
        let commands = self.commands.as_ref().ok_or(PlaybackError::Closed)?;
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        self.stops.fetch_add(1, Ordering::AcqRel);
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        commands
            .send(Command::Stop(done_tx))
            .map_err(|_| PlaybackError::Closed)?;
        done_rx.recv().map_err(|_| PlaybackError::Closed)?;
        // What was paused is gone: the next reply plays at once.
        self.shared.paused.store(false, Ordering::Release);
        Ok(())
    }

    /// Barge-in for a whole turn: as [`Speaker::stop`], and every chunk of
    /// `turn` or an earlier turn that arrives afterwards (a `play` racing
    /// with this call) is dropped unplayed, reported as
    /// [`PlaybackEvent::Interrupted`] with nothing played.
    ///
    /// # Errors
    /// As [`Speaker::stop`].
    pub fn stop_through(&self, turn: TurnId) -> Result<(), PlaybackError> {
        self.dropped_through.fetch_max(turn.0, Ordering::AcqRel);
        self.stop()
    }

    /// A handle that pauses and resumes this speaker from any thread.
    #[must_use]
    pub fn pause_handle(&self) -> Pause {
        Pause {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or once
    /// the thread has ended and every event was read.
    pub fn next_event(&self, timeout: Duration) -> Option<PlaybackEvent> {
        self.events.as_ref()?.lock().ok()?.recv_timeout(timeout).ok()
    }

    /// The next event if one is waiting.
    pub fn try_event(&self) -> Option<PlaybackEvent> {
        self.events.as_ref()?.lock().ok()?.try_recv().ok()
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn settings_name(device: Option<&str>) -> String {
    device.unwrap_or("default").to_owned()
}

fn open_error(device: &str, error: &rodio::DeviceSinkError) -> PlaybackError {
    PlaybackError::Open {
        device: device.to_owned(),
        reason: assistant_core::error::chain(error),
    }
}

fn find_device(host: &cpal::Host, name: &str) -> Result<rodio::Device, PlaybackError> {
    use crate::devices::{Direction, Lookup, find};
    find(host, Direction::Output, name).map_err(|e| match e {
        Lookup::NotFound(available) => PlaybackError::DeviceNotFound {
            name: name.to_owned(),
            available,
        },
        Lookup::Unavailable(reason) => PlaybackError::Open {
            device: name.to_owned(),
            reason,
        },
    })
}

/// The device side, owned by thread `playback`.
struct Output {
    _sink: rodio::MixerDeviceSink,
    ring: rtrb::Producer<f32>,
    shared: Arc<Shared>,
    device: String,
    rate: u32,
    /// Samples pushed so far: the index the next pushed sample gets.
    pushed: u64,
}

impl Output {
    fn open(settings: &OutputSettings, clock: Clock) -> Result<Self, PlaybackError> {
        let rate = rodio::SampleRate::new(settings.sample_rate).ok_or_else(|| PlaybackError::Open {
            device: settings_name(settings.device.as_deref()),
            reason: "the sample rate is 0 Hz".into(),
        })?;
        let host = cpal::default_host();
        let device = match settings.device.as_deref() {
            None => host.default_output_device().ok_or(PlaybackError::NoDevice)?,
            Some(name) => find_device(&host, name)?,
        };
        let device_name = device
            .description()
            .map(|d| d.name().to_owned())
            .or_else(|_| device.id().map(|id| id.to_string()))
            .unwrap_or_else(|_| settings_name(settings.device.as_deref()));
        let shared = Arc::new(Shared::new());
        let on_error = {
            let shared = Arc::clone(&shared);
            move |error: rodio::CpalError| shared.on_error(&error)
        };
        let frames = (settings.buffer.as_secs_f64() * f64::from(settings.sample_rate))
            .round()
            .max(64.0) as u32;
        let builder = rodio::DeviceSinkBuilder::from_device(device.clone())
            .map_err(|e| open_error(&device_name, &e))?
            .with_sample_rate(rate)
            .with_channels(rodio::ChannelCount::MIN)
            .with_sample_format(cpal::SampleFormat::F32)
            .with_buffer_size(cpal::BufferSize::Fixed(frames))
            .with_error_callback(on_error);
        let mut sink = builder
            .open_sink_or_fallback()
            .map_err(|e| open_error(&device_name, &e))?;
        sink.log_on_drop(false);
        let capacity = (RING_SECONDS * f64::from(settings.sample_rate)).ceil() as usize;
        let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(1024));
        sink.mixer().add(RingSource {
            ring: consumer,
            shared: Arc::clone(&shared),
            clock,
            rate,
            idle: true,
            pulled: 0,
            live_after: 3 * u64::from(frames),
            popped: 0,
        });
        tracing::debug!(device = %device_name, config = ?sink.config(), "audio output open");
        Ok(Self {
            _sink: sink,
            ring: producer,
            shared,
            device: device_name,
            rate: settings.sample_rate,
            pushed: 0,
        })
    }

    /// Waits (at most [`LIVE_DEADLINE`]) until the device has pulled three
    /// buffers' worth of silence: past its start-up. A sound server may be
    /// slow to settle a new stream (a PulseAudio null sink fills the buffer,
    /// then comes back only after its 2 s block); paying that in `open`
    /// keeps it out of the first reply's time to first audio.
    fn wait_until_live(&self) {
        let deadline = Instant::now() + LIVE_DEADLINE;
        while !self.shared.live.load(Ordering::Acquire) && !self.shared.failed.load(Ordering::Acquire) {
            if Instant::now() > deadline {
                tracing::warn!(device = %self.device, "the audio device has not started after {LIVE_DEADLINE:?}; playing anyway");
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The thread's loop: feed the ring, report progress, obey commands.
    fn run(
        mut self,
        commands: &mpsc::Receiver<Command>,
        events: &mpsc::Sender<PlaybackEvent>,
        stops: &AtomicU64,
        dropped_through: &AtomicU64,
    ) {
        let mut ledger = heard::Ledger::default();
        // The chunk being pushed, and how much of it is in.
        let mut feeding: Option<(SpeechChunk, usize)> = None;
        let mut stops_seen = 0_u64;
        let mut progress = (0_u64, Instant::now());
        loop {
            if self.shared.failed.load(Ordering::Acquire) {
                self.fail(events, self.shared.last_error_or("the device is gone"));
                return;
            }
            // Audio is waiting in the ring but the device has not taken
            // any for a while: it is stuck or gone (a dead sound server
            // shows up as I/O errors that cpal keeps retrying).
            let popped = self.shared.popped.load(Ordering::Acquire);
            let paused = self.shared.paused.load(Ordering::Acquire);
            if popped != progress.0 || popped == self.pushed || paused {
                progress = (popped, Instant::now());
            } else if progress.1.elapsed() > STALL {
                let reason = self.shared.last_error_or("the device stopped taking audio");
                self.fail(events, format!("no audio taken for {} s ({reason})", STALL.as_secs()));
                return;
            }
            if stops.load(Ordering::Acquire) != stops_seen {
                // Everything queued up to the Stop belongs to the
                // interrupted reply.
                if !self.flush(&mut feeding, &mut ledger, events) {
                    return;
                }
                loop {
                    match commands.recv() {
                        Ok(Command::Play(chunk)) => {
                            let _ = events.send(self.unplayed(&chunk));
                        }
                        Ok(Command::Stop(done)) => {
                            stops_seen += 1;
                            let _ = done.send(());
                            break;
                        }
                        Err(_) => return,
                    }
                }
                continue;
            }
            if let Some((chunk, offset)) = feeding.as_mut() {
                *offset += self.push(&chunk.samples[*offset..]);
                if *offset == chunk.samples.len() {
                    feeding = None;
                }
            }
            self.report(&mut ledger, events);
            if feeding.is_some() {
                // Waiting for room in the ring.
                std::thread::park_timeout(POLL);
                continue;
            }
            let wait = if ledger.is_empty() {
                Duration::from_millis(50)
            } else {
                POLL
            };
            match commands.recv_timeout(wait) {
                Ok(Command::Play(chunk)) if chunk.turn.0 <= dropped_through.load(Ordering::Acquire) => {
                    let _ = events.send(self.unplayed(&chunk));
                }
                Ok(Command::Play(chunk)) => {
                    tracing::debug!(turn = %chunk.turn, clause = chunk.clause, samples = chunk.samples.len(), "playing");
                    ledger.queue(chunk.turn, chunk.clause, self.pushed, chunk.samples.len());
                    feeding = Some((chunk, 0));
                }
                Ok(Command::Stop(done)) => {
                    // A stop whose counter we read before it was bumped.
                    if !self.flush(&mut feeding, &mut ledger, events) {
                        return;
                    }
                    stops_seen += 1;
                    let _ = done.send(());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn fail(&self, events: &mpsc::Sender<PlaybackEvent>, reason: String) {
        let _ = events.send(PlaybackEvent::Failed(PlaybackError::DeviceLost {
            device: self.device.clone(),
            reason,
        }));
    }

    /// Drops the audio in the ring and the rest of the chunk being pushed,
    /// and reports what each clause in flight got to play. Returns `false`
    /// if the device stopped taking samples (reported as a failure).
    fn flush(
        &mut self,
        feeding: &mut Option<(SpeechChunk, usize)>,
        ledger: &mut heard::Ledger,
        events: &mpsc::Sender<PlaybackEvent>,
    ) -> bool {
        *feeding = None;
        self.report(ledger, events);
        let flush_to = self.pushed;
        self.shared.flushed_from.store(u64::MAX, Ordering::Release);
        self.shared.flush_to.store(flush_to, Ordering::Release);
        let deadline = Instant::now() + FLUSH_DEADLINE;
        while self.shared.popped.load(Ordering::Acquire) < flush_to {
            if Instant::now() > deadline || self.shared.failed.load(Ordering::Acquire) {
                self.fail(events, self.shared.last_error_or("the device stopped taking audio"));
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Where the callback cut; if it never had to, everything played.
        let cut = self.shared.flushed_from.load(Ordering::Acquire).min(flush_to);
        for event in ledger.cut(cut, |i| self.time_of(i)) {
            let _ = events.send(event);
        }
        true
    }

    /// The event for a chunk dropped before any of it was played.
    fn unplayed(&self, chunk: &SpeechChunk) -> PlaybackEvent {
        PlaybackEvent::Interrupted {
            turn: chunk.turn,
            clause: chunk.clause,
            at: self.time_of(self.pushed),
            played: 0,
            of: chunk.samples.len(),
        }
    }

    /// Pushes what fits; returns how many samples went in.
    fn push(&mut self, samples: &[f32]) -> usize {
        let n = samples.len().min(self.ring.slots());
        let written = self
            .ring
            .write_chunk_uninit(n)
            .map_or(0, |chunk| chunk.fill_from_iter(samples.iter().copied()));
        self.pushed += written as u64;
        written
    }

    /// The time the sample at `index` was (or is computed to have been)
    /// handed to the device.
    fn time_of(&self, index: u64) -> Timestamp {
        heard::place(index, self.shared.anchor(), self.rate)
    }

    fn report(&self, ledger: &mut heard::Ledger, events: &mpsc::Sender<PlaybackEvent>) {
        let popped = self.shared.popped.load(Ordering::Acquire);
        for event in ledger.progress(popped, |i| self.time_of(i)) {
            if let PlaybackEvent::Started { turn, clause, .. } = &event {
                tracing::debug!(turn = %turn, clause = clause, "reached the device");
            }
            let _ = events.send(event);
        }
    }
}
