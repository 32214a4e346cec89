//! Capture: the microphone, as 20 ms [`AudioFrame`]s stamped on the
//! pipeline clock.
//!
//! # Design
//!
//! cpal opens the input device (its native PulseAudio client where a
//! PulseAudio or PipeWire server answers, else ALSA) at the device's own
//! rate, channel count and sample format, so nothing is converted twice.
//! The audio callback averages each frame's channels into one `f32`, pushes
//! it into a lock-free single-producer ring ([`rtrb`]) and publishes an
//! anchor (how many samples it has pushed, and when, on the [`Clock`]). It
//! never allocates, locks or blocks: a full ring drops the sample and counts
//! an overrun.
//!
//! Thread `capture` owns the stream (cpal streams may not move between
//! threads). It slices the ring into 20 ms frames, stamps each with the time
//! of its first sample (placed from the latest anchor at the stream's rate)
//! and offers it on a bounded queue ([`FRAME_QUEUE`] frames, one second): a
//! consumer that falls that far behind loses frames (counted), it never
//! holds the microphone back.
//!
//! A device that disappears, or a sound server that dies, ends the stream:
//! the thread says so ([`CaptureEvent::Lost`]) and opens the device again
//! with a growing pause (0.1 s up to 2 s) until it answers
//! ([`CaptureEvent::Opened`]). A stream that delivers nothing for
//! [`STALL`] counts as lost too.
//!
//! # Buffer size
//!
//! cpal's PulseAudio host gives a record stream with `BufferSize::Default`
//! the server's default fragment (up to two seconds of audio per delivery),
//! so the stream asks for [`InputSettings::buffer`] (20 ms by default) as a
//! fixed size, which PulseAudio delivers fragment by fragment.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assistant_core::audio::frame_samples;
use assistant_core::{AudioFrame, Clock, Timestamp};
use cpal::traits::{DeviceTrait as _, HostTrait as _, StreamTrait as _};
use thiserror::Error;

use crate::anchor::Anchor;
use crate::devices::{Direction, Lookup};

/// Frames queued for the consumer before new ones are dropped: one second.
pub const FRAME_QUEUE: usize = 50;

/// A stream that delivers nothing for this long counts as lost.
pub const STALL: Duration = Duration::from_secs(2);

/// The ring between the callback and thread `capture`, in seconds of audio.
const RING_SECONDS: f64 = 1.0;

/// How often thread `capture` looks at its own state (stop, stall) when
/// no samples wake it, and at other waits.
const POLL: Duration = Duration::from_millis(5);

/// The longest thread `capture` waits for the callback to wake it.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// How often a device named in the settings is looked for in the device
/// list while it delivers.
const DEVICE_CHECK: Duration = Duration::from_secs(1);

/// The first and the longest pause between attempts to reopen a lost device.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// Why the microphone could not be opened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CaptureError {
    /// No input device at all.
    #[error(
        "no audio input device; connect a microphone, or on Linux start PulseAudio or PipeWire (`assistantd devices` lists the inputs)"
    )]
    NoDevice,
    /// The named device does not exist.
    #[error("no audio input device named '{name}'; available: {available}; list them with `assistantd devices`")]
    DeviceNotFound {
        /// The name asked for.
        name: String,
        /// The devices there are, comma-separated.
        available: String,
    },
    /// The device exists but could not be opened.
    #[error("cannot open audio input '{device}': {reason}; is the sound server (PulseAudio/PipeWire) running?")]
    Open {
        /// The device.
        device: String,
        /// What the audio system said.
        reason: String,
    },
}

/// Which microphone, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSettings {
    /// A device by id or name (see [`crate::devices::list`]); `None` for
    /// the system default.
    pub device: Option<String>,
    /// How much audio the device delivers at a time: capture latency.
    pub buffer: Duration,
}

impl Default for InputSettings {
    /// The default device, 20 ms at a time.
    fn default() -> Self {
        Self {
            device: None,
            buffer: Duration::from_millis(20),
        }
    }
}

/// What happened to the microphone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureEvent {
    /// The device is open and delivering (after a loss, it is back).
    Opened {
        /// Its name.
        device: String,
        /// Its rate: the frames' rate.
        sample_rate: u32,
        /// Its channels (averaged into one).
        channels: u16,
    },
    /// The device went away or stopped delivering; it is being reopened.
    Lost {
        /// Its name.
        device: String,
        /// Why.
        reason: String,
    },
    /// An attempt to reopen it failed; the next follows after `retry_in`.
    RetryFailed {
        /// What the audio system said.
        reason: String,
        /// The pause before the next attempt.
        retry_in: Duration,
    },
}

/// Counters of what went wrong, readable at any time.
#[derive(Debug, Default)]
struct Stats {
    /// Samples the callback could not push (the ring was full).
    overruns: AtomicU64,
    /// Frames the consumer did not take in time (the queue was full).
    dropped_frames: AtomicU64,
    /// Times the device was lost.
    losses: AtomicU64,
    /// Callbacks run, their total and their longest time, in nanoseconds.
    callbacks: AtomicU64,
    callback_ns: AtomicU64,
    callback_max_ns: AtomicU64,
}

/// What the audio callback cost so far: its budget is the device's buffer
/// (20 ms by default), and it should use a tiny share of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallbackCost {
    /// Callbacks run.
    pub callbacks: u64,
    /// Their mean time, in nanoseconds.
    pub mean_ns: u64,
    /// The longest one, in nanoseconds.
    pub max_ns: u64,
}

/// The microphone: a device opened for the life of the value, delivering
/// [`AudioFrame`]s from thread `capture`. Dropping it closes the device.
pub struct Microphone {
    frames: mpsc::Receiver<AudioFrame>,
    events: mpsc::Receiver<CaptureEvent>,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
    device: String,
    sample_rate: u32,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone")
            .field("device", &self.device)
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl Microphone {
    /// Opens the input device and starts thread `capture`.
    ///
    /// # Errors
    /// [`CaptureError::NoDevice`], [`CaptureError::DeviceNotFound`] or
    /// [`CaptureError::Open`] if the device cannot be opened now. Later
    /// losses are not errors: the device is reopened ([`CaptureEvent`]).
    pub fn open(settings: &InputSettings, clock: Clock) -> Result<Self, CaptureError> {
        let (frame_tx, frames) = mpsc::sync_channel(FRAME_QUEUE);
        let (event_tx, events) = mpsc::channel();
        let (opened_tx, opened_rx) = mpsc::sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let worker = Worker {
            settings: settings.clone(),
            clock,
            stop: Arc::clone(&stop),
            stats: Arc::clone(&stats),
            frames: frame_tx,
            events: event_tx,
        };
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || worker.run(opened_tx))
            .map_err(|e| CaptureError::Open {
                device: settings.device.clone().unwrap_or_else(|| "default".into()),
                reason: format!("cannot start thread capture: {e}"),
            })?;
        let (device, sample_rate) = match opened_rx.recv() {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(CaptureError::Open {
                    device: settings.device.clone().unwrap_or_else(|| "default".into()),
                    reason: "thread capture ended before the device opened".into(),
                });
            }
        };
        Ok(Self {
            frames,
            events,
            stop,
            stats,
            thread: Some(thread),
            device,
            sample_rate,
        })
    }

    /// The frames, in order, as they are captured.
    #[must_use]
    pub fn frames(&self) -> &mpsc::Receiver<AudioFrame> {
        &self.frames
    }

    /// What happened to the device since the last call (losses, reopens).
    pub fn events(&self) -> impl Iterator<Item = CaptureEvent> + '_ {
        self.events.try_iter()
    }

    /// The device's name, as first opened.
    #[must_use]
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The frames' rate (the device's), as first opened.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// What the audio callback has cost so far.
    #[must_use]
    pub fn callback_cost(&self) -> CallbackCost {
        let callbacks = self.stats.callbacks.load(Ordering::Relaxed);
        CallbackCost {
            callbacks,
            mean_ns: self.stats.callback_ns.load(Ordering::Relaxed) / callbacks.max(1),
            max_ns: self.stats.callback_max_ns.load(Ordering::Relaxed),
        }
    }

    /// Samples lost because the callback found its ring full.
    #[must_use]
    pub fn overruns(&self) -> u64 {
        self.stats.overruns.load(Ordering::Relaxed)
    }

    /// Frames lost because nobody took them within a second.
    #[must_use]
    pub fn dropped_frames(&self) -> u64 {
        self.stats.dropped_frames.load(Ordering::Relaxed)
    }

    /// Times the device was lost (and reopened, or being reopened).
    #[must_use]
    pub fn losses(&self) -> u64 {
        self.stats.losses.load(Ordering::Relaxed)
    }
}

/// How long dropping a [`Microphone`] waits for its thread. cpal's
/// PulseAudio host closes a record stream only once its latency thread's
/// pending timing request returns, which has taken from a few milliseconds
/// to many seconds; a daemon stopping on SIGTERM must not wait for that.
const CLOSE_DEADLINE: Duration = Duration::from_millis(500);

impl Drop for Microphone {
    /// Stops capture and waits (at most half a second) for the device to
    /// close; past that the thread finishes closing it on its own.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let deadline = Instant::now() + CLOSE_DEADLINE;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::debug!("the audio input is slow to close; not waiting for it");
            }
        }
    }
}

/// Thread `capture`.
struct Worker {
    settings: InputSettings,
    clock: Clock,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    frames: mpsc::SyncSender<AudioFrame>,
    events: mpsc::Sender<CaptureEvent>,
}

impl Worker {
    fn run(self, opened: mpsc::SyncSender<Result<(String, u32), CaptureError>>) {
        let mut first = Some(opened);
        let mut backoff = BACKOFF.0;
        while !self.stop.load(Ordering::Acquire) {
            match Input::open(&self.settings, self.clock, &self.stats) {
                Ok(mut input) => {
                    backoff = BACKOFF.0;
                    match first.take() {
                        Some(tx) => {
                            let _ = tx.send(Ok((input.device.clone(), input.rate)));
                        }
                        None => {
                            tracing::info!("audio input '{}' is back", input.device);
                            let _ = self.events.send(CaptureEvent::Opened {
                                device: input.device.clone(),
                                sample_rate: input.rate,
                                channels: input.channels,
                            });
                        }
                    }
                    match input.deliver(&self) {
                        Delivery::Stopped => return,
                        Delivery::Lost(reason) => {
                            self.stats.losses.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!("audio input '{}' lost: {reason}; reopening it", input.device);
                            let _ = self.events.send(CaptureEvent::Lost {
                                device: input.device.clone(),
                                reason,
                            });
                        }
                    }
                }
                Err(e) => {
                    if let Some(tx) = first.take() {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    let _ = self.events.send(CaptureEvent::RetryFailed {
                        reason: e.to_string(),
                        retry_in: backoff,
                    });
                    self.pause(backoff);
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
    }

    /// Sleeps for `pause`, waking early to stop.
    fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while Instant::now() < until && !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// What the callback shares with thread `capture`: atomics, and an error
/// message written with `try_lock` from cpal's error callback (never from
/// the audio callback).
#[derive(Default)]
struct Shared {
    /// Samples pushed into the ring so far, and when the last push happened.
    anchor: Anchor,
    /// The stream reported an error that ends it.
    failed: AtomicBool,
    last_error: Mutex<String>,
}

impl Shared {
    fn on_error(&self, error: &cpal::Error) {
        use cpal::ErrorKind as Kind;
        if let Ok(mut last) = self.last_error.try_lock() {
            *last = error.to_string();
        }
        if matches!(
            error.kind(),
            Kind::DeviceNotAvailable | Kind::HostUnavailable | Kind::PermissionDenied | Kind::StreamInvalidated
        ) {
            self.failed.store(true, Ordering::Release);
        }
    }

    fn last_error_or(&self, otherwise: &str) -> String {
        self.last_error
            .lock()
            .ok()
            .filter(|m| !m.is_empty())
            .map_or_else(|| otherwise.to_owned(), |m| m.clone())
    }
}

enum Delivery {
    Stopped,
    Lost(String),
}

/// One open input stream and the consumer end of its ring.
struct Input {
    /// Dropped last: closes the device.
    _stream: cpal::Stream,
    /// Stops thread `capture-watch`, which looks for a named device in the
    /// device list (see [`watch_device`]).
    watching: Option<Arc<AtomicBool>>,
    ring: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
    device: String,
    rate: u32,
    channels: u16,
}

impl Input {
    fn open(settings: &InputSettings, clock: Clock, stats: &Arc<Stats>) -> Result<Self, CaptureError> {
        let host = cpal::default_host();
        let wanted = settings.device.clone().unwrap_or_else(|| "default".into());
        let device = match settings.device.as_deref() {
            None => host.default_input_device().ok_or(CaptureError::NoDevice)?,
            Some(name) => crate::devices::find(&host, Direction::Input, name).map_err(|e| match e {
                Lookup::NotFound(available) => CaptureError::DeviceNotFound {
                    name: name.to_owned(),
                    available,
                },
                Lookup::Unavailable(reason) => CaptureError::Open {
                    device: name.to_owned(),
                    reason,
                },
            })?,
        };
        let name = crate::devices::name_of(&device);
        let name = if name.is_empty() { wanted } else { name };
        let open_error = |reason: String| CaptureError::Open {
            device: name.clone(),
            reason,
        };
        let supported = device.default_input_config().map_err(|e| open_error(e.to_string()))?;
        let rate = supported.sample_rate();
        let channels = supported.channels().max(1);
        let buffer_frames = (settings.buffer.as_secs_f64() * f64::from(rate)).round().max(64.0) as u32;
        let config = cpal::StreamConfig {
            channels,
            sample_rate: rate,
            buffer_size: cpal::BufferSize::Fixed(buffer_frames),
        };
        let (producer, ring) = rtrb::RingBuffer::new((f64::from(rate) * RING_SECONDS) as usize);
        let shared = Arc::new(Shared::default());
        let callback = Callback {
            ring: producer,
            channels: usize::from(channels),
            pushed: 0,
            shared: Arc::clone(&shared),
            stats: Arc::clone(stats),
            clock,
            // Input::open runs on thread `capture`, which waits for data.
            reader: std::thread::current(),
        };
        let on_error = {
            let shared = Arc::clone(&shared);
            move |e: cpal::Error| shared.on_error(&e)
        };
        use cpal::SampleFormat as F;
        let stream = match supported.sample_format() {
            F::F32 => build::<f32>(&device, &config, callback, on_error),
            F::I16 => build::<i16>(&device, &config, callback, on_error),
            F::I32 => build::<i32>(&device, &config, callback, on_error),
            F::U8 => build::<u8>(&device, &config, callback, on_error),
            F::U16 => build::<u16>(&device, &config, callback, on_error),
            F::F64 => build::<f64>(&device, &config, callback, on_error),
            other => return Err(open_error(format!("its sample format {other} is not supported"))),
        }
        .map_err(|e| open_error(e.to_string()))?;
        stream.play().map_err(|e| open_error(e.to_string()))?;
        let watching = settings
            .device
            .clone()
            .map(|name| watch_device(name, Arc::clone(&shared)));
        Ok(Self {
            _stream: stream,
            watching,
            ring,
            shared,
            device: name,
            rate,
            channels,
        })
    }

    /// Slices the ring into frames until the stream is lost or capture stops.
    fn deliver(&mut self, worker: &Worker) -> Delivery {
        let frame_len = frame_samples(self.rate);
        let mut frame: Vec<f32> = Vec::with_capacity(frame_len);
        let mut taken: u64 = 0;
        let mut last_audio = Instant::now();
        loop {
            if worker.stop.load(Ordering::Acquire) {
                return Delivery::Stopped;
            }
            if self.shared.failed.load(Ordering::Acquire) {
                return Delivery::Lost(self.shared.last_error_or("the device reported an error"));
            }
            let available = self.ring.slots();
            if available == 0 {
                if last_audio.elapsed() >= STALL {
                    return Delivery::Lost(format!("no audio for {} s", STALL.as_secs_f64()));
                }
                // The callback unparks this thread when it has pushed
                // samples; the timeout is for the checks above.
                std::thread::park_timeout(CHECK_EVERY);
                continue;
            }
            last_audio = Instant::now();
            let Ok(chunk) = self.ring.read_chunk(available) else {
                continue;
            };
            for sample in chunk {
                frame.push(sample);
                taken += 1;
                if frame.len() == frame_len {
                    let first = taken - frame_len as u64;
                    let full = std::mem::replace(&mut frame, Vec::with_capacity(frame_len));
                    let captured = AudioFrame {
                        sample_rate: self.rate,
                        samples: full,
                        captured_at: stamp(&self.shared.anchor, self.rate, first),
                    };
                    match worker.frames.try_send(captured) {
                        Ok(()) => {}
                        Err(mpsc::TrySendError::Full(_)) => {
                            worker.stats.dropped_frames.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(mpsc::TrySendError::Disconnected(_)) => return Delivery::Stopped,
                    }
                }
            }
        }
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        if let Some(watching) = &self.watching {
            watching.store(true, Ordering::Release);
        }
    }
}

/// Starts thread `capture-watch`: every [`DEVICE_CHECK`] it looks for the
/// device `name` in the device list and, once it is gone, fails the stream
/// as lost. A sound server moves the streams of a device that goes away (a
/// USB microphone pulled out) to its default source, so the stream itself
/// does not fail; without this the assistant would go on listening to
/// another microphone, and never come back to this one. Listing devices
/// takes a while, so it is done here, not on thread `capture`. Returns the
/// flag that stops it.
fn watch_device(name: String, shared: Arc<Shared>) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let label = name.clone();
    let spawned = std::thread::Builder::new().name("capture-watch".into()).spawn(move || {
        let host = cpal::default_host();
        while !stopped.load(Ordering::Acquire) {
            let until = Instant::now() + DEVICE_CHECK;
            while Instant::now() < until && !stopped.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if stopped.load(Ordering::Acquire) {
                return;
            }
            if let Err(Lookup::NotFound(_)) = crate::devices::find(&host, Direction::Input, &name) {
                if let Ok(mut last) = shared.last_error.lock() {
                    *last = format!("'{name}' is no longer among the audio inputs");
                }
                shared.failed.store(true, Ordering::Release);
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the audio input '{label}' for removal: {e}");
    }
    stop
}

/// When the sample at `index` (counted from the stream's first) was
/// captured: placed back from the latest anchor at the stream's rate.
fn stamp(anchor: &Anchor, rate: u32, index: u64) -> Timestamp {
    let Some((pushed, at)) = anchor.read() else {
        return Timestamp::from_nanos(0);
    };
    let behind = pushed.saturating_sub(index);
    let nanos = u64::try_from(u128::from(behind) * 1_000_000_000 / u128::from(rate.max(1))).unwrap_or(u64::MAX);
    Timestamp::from_nanos(at.as_nanos().saturating_sub(nanos))
}

/// The audio callback's state: it averages channels, pushes into the ring,
/// counts overruns and publishes the anchor. Nothing else.
struct Callback {
    ring: rtrb::Producer<f32>,
    channels: usize,
    pushed: u64,
    shared: Arc<Shared>,
    stats: Arc<Stats>,
    clock: Clock,
    /// Thread `capture`, woken when samples arrive instead of polling.
    reader: std::thread::Thread,
}

impl Callback {
    fn on_data<T>(&mut self, data: &[T])
    where
        T: cpal::SizedSample,
        f32: cpal::FromSample<T>,
    {
        // Instant::now is a vDSO clock read: no syscall, lock or allocation.
        let started = Instant::now();
        let mut lost = 0_u64;
        let scale = 1.0 / self.channels as f32;
        for frame in data.chunks_exact(self.channels) {
            let sum: f32 = frame.iter().map(|s| s.to_sample::<f32>()).sum();
            if self.ring.push(sum * scale).is_ok() {
                self.pushed += 1;
            } else {
                lost += 1;
            }
        }
        if lost > 0 {
            self.stats.overruns.fetch_add(lost, Ordering::Relaxed);
        }
        self.shared.anchor.publish(self.pushed, self.clock.now());
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.stats.callbacks.fetch_add(1, Ordering::Relaxed);
        self.stats.callback_ns.fetch_add(took, Ordering::Relaxed);
        self.stats.callback_max_ns.fetch_max(took, Ordering::Relaxed);
        // An atomic swap, and a futex wake only if the thread is parked:
        // no lock, no allocation, never waits.
        self.reader.unpark();
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut callback: Callback,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    device.build_input_stream::<T, _, _>(
        *config,
        move |data: &[T], _: &cpal::InputCallbackInfo| callback.on_data(data),
        on_error,
        None,
    )
}
