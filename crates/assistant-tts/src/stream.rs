//! The speaking stage on its own thread: text in, one [`SpeechChunk`] per
//! sentence out, as soon as each sentence exists.
//!
//! A [`Synthesizer`] owns a [`Voice`] on a thread named `tts`, so model runs
//! never block the async runtime. [`Synthesizer::synthesize`] queues a job
//! (jobs run one at a time, in the order they were queued) and returns its
//! [`Synthesis`]: a stream read with [`Synthesis::next`] from async code or
//! [`Synthesis::blocking_next`] from a plain thread. The thread phonemizes the
//! whole text, then runs the model one sentence at a time and sends each
//! sentence's audio on a channel of [`CHUNK_CAPACITY`] chunks; a consumer
//! that reads slowly holds the thread back, so it never runs far ahead of
//! playback.
//!
//! Cancellation (barge-in) travels out of band, on the job's
//! [`CancellationToken`]. A second thread, `tts-interrupt`, watches the
//! token of the job in progress and, the moment it is cancelled, stops the
//! model run under way through ONNX Runtime's terminate flag
//! ([`Interrupt`]); the speaking thread also checks the token before each
//! sentence and while waiting to send. So a cancelled job sends nothing
//! more, does not finish the sentence it was synthesizing, and the thread
//! is free for the next turn at once instead of a sentence's model run
//! later. Dropping a [`Synthesis`] cancels its job the same way; dropping
//! the [`Synthesizer`] stops both threads and waits for them.
//!
//! Which runtime the threads wait on: each needs one only to wait on a
//! channel and tokens together (`tts` for room in a job's channel,
//! `tts-interrupt` for the job's token). Spawned from within a tokio runtime
//! (the daemon), both take that runtime's `Handle` and wait with
//! `Handle::block_on` on their own thread, so the daemon has one runtime per
//! process. The waits are polled on `tts` and `tts-interrupt` themselves,
//! never on a runtime worker, and the model runs outside them: no inference
//! ever runs on the runtime's threads. Spawned outside any runtime
//! (`assistantd say`, benchmarks, synchronous tests), each thread gets a
//! private current-thread runtime instead. The waits use neither timers nor
//! I/O, so they need none of a runtime's drivers: they work the same on a
//! current-thread runtime whose own thread is busy elsewhere, and on one
//! that has shut down while the synthesizer lives on.
//!
//! What a job yields:
//! - one `Ok` chunk per sentence with something to say, in order, then the
//!   end of the stream (`None`). A chunk's `clause` is its sentence's index
//!   in the text; a sentence the voice has no phoneme for is skipped, so
//!   indices can have gaps but never go back;
//! - nothing at all for text with nothing to say (empty, punctuation only,
//!   emoji only; see [`Voice::sentences`]): not an error;
//! - on a failure (an unknown speaker, espeak-ng or ONNX Runtime failing),
//!   the chunks made so far, then one `Err`, then the end. The synthesizer
//!   stays usable for the next job;
//! - after cancellation, nothing more, even chunks already in the channel.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use assistant_core::event_loop::EventLoop;
use assistant_core::{Clock, SpeechChunk, TurnId};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::TtsError;
use crate::onnx::Interrupt;
use crate::synth::{SynthesisOptions, Voice};

/// How many chunks (sentences) a job may hold ready before its consumer
/// reads them; the thread waits for room before sending the next. Four
/// sentences are several seconds of speech, enough to cover playback's
/// appetite, yet barge-in throws away little synthesized audio.
pub const CHUNK_CAPACITY: usize = 4;

/// What the speaking thread sends for one job.
type Item = Result<SpeechChunk, TtsError>;

/// The speaking stage: a Piper voice on its own thread, synthesizing one job
/// at a time. See the [module docs](self).
#[derive(Debug)]
pub struct Synthesizer {
    /// Jobs for the thread; `None` only while dropping, which ends its loop.
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    /// Cancelled on drop, so a job in progress stops at its next check.
    shutdown: CancellationToken,
    /// What the thread has done, shared with it.
    stats: Arc<Counters>,
    /// The voice's output rate, in Hz.
    sample_rate: u32,
    /// Joined on drop.
    thread: Option<JoinHandle<()>>,
    /// The interrupt watcher, joined on drop after `thread`.
    watcher: Option<JoinHandle<()>>,
}

/// The job whose model runs the watcher may stop.
#[derive(Clone, Debug)]
struct Watched {
    /// Its [`Interrupt`] generation.
    generation: u64,
    cancel: CancellationToken,
}

/// One `synthesize` call, as the thread receives it.
struct Job {
    turn: TurnId,
    text: String,
    /// `None`: the options the synthesizer was spawned with.
    options: Option<SynthesisOptions>,
    /// A child of the caller's token, also cancelled when the `Synthesis`
    /// is dropped.
    cancel: CancellationToken,
    chunks: mpsc::Sender<Item>,
}

/// What the speaking thread has done since it started, for benchmarks and
/// tests (for example, to show that a cancelled job stopped early).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynthesizerStats {
    /// Jobs the thread has taken up.
    pub jobs: u64,
    /// Model runs begun (one per sentence with something to say).
    pub runs: u64,
    /// Sentences the model has been run on to the end.
    pub sentences: u64,
    /// Chunks handed to a consumer's channel.
    pub chunks: u64,
    /// Jobs that ended because they were cancelled (or their consumer went
    /// away) before their last sentence.
    pub cancelled: u64,
    /// Jobs that ended with an error.
    pub failed: u64,
    /// Model runs stopped part-way by cancellation.
    pub interrupted_runs: u64,
}

#[derive(Debug, Default)]
struct Counters {
    jobs: AtomicU64,
    runs: AtomicU64,
    sentences: AtomicU64,
    chunks: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    interrupted_runs: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
    }

    fn snapshot(&self) -> SynthesizerStats {
        SynthesizerStats {
            jobs: self.jobs.load(Ordering::SeqCst),
            runs: self.runs.load(Ordering::SeqCst),
            sentences: self.sentences.load(Ordering::SeqCst),
            chunks: self.chunks.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            interrupted_runs: self.interrupted_runs.load(Ordering::SeqCst),
        }
    }
}

impl Synthesizer {
    /// Starts the speaking thread with `voice`. `options` apply to every job
    /// that does not bring its own ([`Synthesizer::synthesize_with`]);
    /// `clock` is the pipeline's clock, which stamps each chunk's
    /// `synthesized_at`.
    ///
    /// # Errors
    /// As [`Voice::check`] for `options` (a bad setting is reported here,
    /// not on the first reply); [`TtsError::Stage`] if the thread cannot
    /// start.
    pub fn spawn(voice: Voice, options: SynthesisOptions, clock: Clock) -> Result<Self, TtsError> {
        voice.check(&options)?;
        let stage_error = |what: &str, e: std::io::Error| TtsError::Stage {
            reason: format!("could not start {what}: {e}"),
        };
        // Chosen here, on the caller's thread: the new threads are in no
        // runtime. Without one around the caller, each thread gets its own.
        let event_loop = EventLoop::for_caller().map_err(|e| stage_error("its event loop", e))?;
        // The watcher stays a thread of its own on the caller's runtime too,
        // waiting in `Handle::block_on`, rather than becoming a task
        // `spawn`ed onto it: a task runs only when a worker is free (on a
        // current-thread runtime, only while that runtime's thread sits in
        // `Runtime::block_on`), so a cancel made while every worker is busy
        // or blocked would stop the model run late, or not at all. A parked
        // thread wakes the moment the token is cancelled, and `Drop` joins
        // it, so nothing of the synthesizer outlives it. It costs one mostly
        // idle thread, as before.
        let watcher_loop = EventLoop::for_caller().map_err(|e| stage_error("its interrupt watcher", e))?;
        let sample_rate = voice.config().sample_rate;
        let shutdown = CancellationToken::new();
        let stats = Arc::new(Counters::default());
        let (watch, watched) = tokio::sync::watch::channel(None);
        let interrupt = voice.interrupt();
        let watcher_shutdown = shutdown.clone();
        let watcher = std::thread::Builder::new()
            .name("tts-interrupt".into())
            .spawn(move || watcher_loop.block_on(watch_jobs(watched, &interrupt, &watcher_shutdown)))
            .map_err(|e| stage_error("the interrupt watcher", e))?;
        let (jobs, queue) = std::sync::mpsc::channel();
        let worker = Worker {
            voice,
            options,
            clock,
            shutdown: shutdown.clone(),
            stats: Arc::clone(&stats),
            event_loop,
            watch,
        };
        let thread = std::thread::Builder::new()
            .name("tts".into())
            .spawn(move || worker.run(&queue))
            .map_err(|e| stage_error("the thread", e))?;
        Ok(Self {
            jobs: Some(jobs),
            shutdown,
            stats,
            sample_rate,
            thread: Some(thread),
            watcher: Some(watcher),
        })
    }

    /// Queues `text` for `turn` with the synthesizer's options and returns
    /// its stream at once; the job starts when the jobs before it are done.
    /// Cancelling `cancel` (or any token it is a child of) or dropping the
    /// returned [`Synthesis`] stops the job, and its model run in progress.
    ///
    /// Failures arrive on the stream, as one `Err` item.
    pub fn synthesize(&self, turn: TurnId, text: impl Into<String>, cancel: CancellationToken) -> Synthesis {
        self.submit(turn, text.into(), None, cancel)
    }

    /// As [`Synthesizer::synthesize`], with `options` for this job only (a
    /// speaker, a rate). Options the voice cannot honour, such as an unknown
    /// speaker, are the job's `Err` item; the next job is unaffected.
    pub fn synthesize_with(
        &self,
        turn: TurnId,
        text: impl Into<String>,
        options: SynthesisOptions,
        cancel: CancellationToken,
    ) -> Synthesis {
        self.submit(turn, text.into(), Some(options), cancel)
    }

    fn submit(
        &self,
        turn: TurnId,
        text: String,
        options: Option<SynthesisOptions>,
        cancel: CancellationToken,
    ) -> Synthesis {
        let cancel = cancel.child_token();
        let (chunks, receiver) = mpsc::channel(CHUNK_CAPACITY);
        let job = Job {
            turn,
            text,
            options,
            cancel: cancel.clone(),
            chunks,
        };
        let queued = match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|e| e.0),
            None => Err(job),
        };
        if let Err(job) = queued {
            // The channel is new and empty: this cannot find it full.
            let _ = job.chunks.try_send(Err(TtsError::Stage {
                reason: "has stopped; start a new synthesizer".into(),
            }));
        }
        Synthesis {
            turn,
            chunks: receiver,
            cancel: cancel.clone(),
            _cancel_on_drop: cancel.drop_guard(),
        }
    }

    /// The voice's sample rate, in Hz: that of every chunk.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// What the thread has done so far.
    #[must_use]
    pub fn stats(&self) -> SynthesizerStats {
        self.stats.snapshot()
    }
}

impl Drop for Synthesizer {
    /// Stops the threads and waits for them: a job in progress ends at
    /// once (its model run is interrupted; phonemizing a long text is not),
    /// and queued jobs end without audio.
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            // A panic on the thread was already reported to its job.
            let _ = thread.join();
        }
        // The worker's end dropped the watch sender, which ends the watcher.
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
    }
}

/// The interrupt watcher's loop: follows the job in progress and stops its
/// model run the moment its token (or the synthesizer's shutdown) fires.
/// Ends when the speaking thread drops its end of the watch.
async fn watch_jobs(
    mut jobs: tokio::sync::watch::Receiver<Option<Watched>>,
    interrupt: &Interrupt,
    shutdown: &CancellationToken,
) {
    loop {
        let current = jobs.borrow_and_update().clone();
        if let Some(job) = current {
            tokio::select! {
                () = job.cancel.cancelled() => {
                    interrupt.trigger(job.generation);
                }
                () = shutdown.cancelled() => {
                    interrupt.trigger(job.generation);
                }
                changed = jobs.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        // Nothing (more) to watch: wait for the next job.
        if jobs.changed().await.is_err() {
            return;
        }
    }
}

/// The audio of one job, sentence by sentence. See the [module docs](self)
/// for what it yields. Dropping it cancels the job.
#[derive(Debug)]
pub struct Synthesis {
    turn: TurnId,
    chunks: mpsc::Receiver<Item>,
    /// The job's token: once cancelled, nothing more is yielded.
    cancel: CancellationToken,
    /// Cancels the job when the consumer goes away.
    _cancel_on_drop: DropGuard,
}

impl Synthesis {
    /// The turn the audio belongs to.
    #[must_use]
    pub fn turn(&self) -> TurnId {
        self.turn
    }

    /// The next sentence's audio; `None` once the text is spoken, after an
    /// error, or as soon as the job is cancelled. Cancel-safe: dropping the
    /// future loses nothing.
    pub async fn next(&mut self) -> Option<Result<SpeechChunk, TtsError>> {
        let item = self.cancel.run_until_cancelled(self.chunks.recv()).await.flatten();
        self.unless_cancelled(item)
    }

    /// As [`Synthesis::next`], blocking the calling thread. After a
    /// cancellation it may wait for the interrupted model run to return.
    ///
    /// # Panics
    /// If called on an async runtime's thread (as tokio's `blocking_recv`);
    /// use [`Synthesis::next`] there.
    pub fn blocking_next(&mut self) -> Option<Result<SpeechChunk, TtsError>> {
        if self.cancel.is_cancelled() {
            return self.unless_cancelled(None);
        }
        let item = self.chunks.blocking_recv();
        self.unless_cancelled(item)
    }

    fn unless_cancelled(&mut self, item: Option<Item>) -> Option<Item> {
        if self.cancel.is_cancelled() {
            // Chunks already in the channel belong to a turn that is over.
            self.chunks.close();
            return None;
        }
        item
    }
}

/// How a job ended.
enum Outcome {
    Done,
    Cancelled,
    Failed,
}

/// The state that lives on the speaking thread.
struct Worker {
    voice: Voice,
    options: SynthesisOptions,
    clock: Clock,
    shutdown: CancellationToken,
    stats: Arc<Counters>,
    /// Where [`Worker::send`] waits for room (see the [module docs](self)).
    event_loop: EventLoop,
    /// Tells the interrupt watcher which job is in progress.
    watch: tokio::sync::watch::Sender<Option<Watched>>,
}

impl Worker {
    /// Takes jobs until the synthesizer is dropped.
    fn run(mut self, queue: &std::sync::mpsc::Receiver<Job>) {
        let mut broken = false;
        while let Ok(job) = queue.recv() {
            if self.shutdown.is_cancelled() {
                break;
            }
            Counters::add(&self.stats.jobs);
            if broken {
                self.fail(&job, "stopped working after a panic; start a new synthesizer");
                continue;
            }
            // Arm before the first check of the token: a cancel from here
            // on stops this job's runs, and a late one for the previous
            // job cannot.
            let generation = self.voice.interrupt().arm();
            self.watch.send_replace(Some(Watched {
                generation,
                cancel: job.cancel.clone(),
            }));
            let outcome = catch_unwind(AssertUnwindSafe(|| self.run_job(&job)));
            self.watch.send_replace(None);
            match outcome {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Cancelled) => Counters::add(&self.stats.cancelled),
                Ok(Outcome::Failed) => Counters::add(&self.stats.failed),
                Err(_) => {
                    // The voice may be in any state: refuse further jobs,
                    // but say why instead of ending streams silently.
                    broken = true;
                    self.fail(&job, "panicked while synthesizing");
                }
            }
            // Dropping the job here closes its stream.
        }
    }

    fn fail(&self, job: &Job, reason: &str) {
        Counters::add(&self.stats.failed);
        self.send(
            job,
            Err(TtsError::Stage {
                reason: reason.to_owned(),
            }),
        );
    }

    fn stopped(&self, job: &Job) -> bool {
        job.cancel.is_cancelled() || self.shutdown.is_cancelled() || job.chunks.is_closed()
    }

    fn run_job(&mut self, job: &Job) -> Outcome {
        if self.stopped(job) {
            return Outcome::Cancelled;
        }
        let options = job.options.as_ref().unwrap_or(&self.options);
        let sentences = match self.voice.check(options).and_then(|()| self.voice.sentences(&job.text)) {
            Ok(sentences) => sentences,
            Err(e) => return self.send_error(job, e),
        };
        let sample_rate = self.voice.config().sample_rate;
        for (index, sentence) in sentences.iter().enumerate() {
            if self.stopped(job) {
                return Outcome::Cancelled;
            }
            Counters::add(&self.stats.runs);
            let audio = match self.voice.synthesize_sentence(index, sentence, options) {
                Ok(Some(audio)) => audio,
                Ok(None) => continue,
                Err(TtsError::Interrupted) => {
                    Counters::add(&self.stats.interrupted_runs);
                    return Outcome::Cancelled;
                }
                Err(e) => return self.send_error(job, e),
            };
            Counters::add(&self.stats.sentences);
            let chunk = SpeechChunk {
                turn: job.turn,
                clause: u32::try_from(audio.index).unwrap_or(u32::MAX),
                sample_rate,
                samples: audio.samples.iter().map(|&s| f32::from(s) / 32_768.0).collect(),
                synthesized_at: self.clock.now(),
            };
            if !self.send(job, Ok(chunk)) {
                return Outcome::Cancelled;
            }
            Counters::add(&self.stats.chunks);
        }
        Outcome::Done
    }

    fn send_error(&self, job: &Job, error: TtsError) -> Outcome {
        if self.send(job, Err(error)) {
            Outcome::Failed
        } else {
            Outcome::Cancelled
        }
    }

    /// Sends `item` once the channel has room; gives up (and returns
    /// false) when the job is cancelled, the synthesizer is dropped or the
    /// consumer is gone, whichever comes first, even while the channel is
    /// full.
    fn send(&self, job: &Job, item: Item) -> bool {
        self.event_loop.block_on(async {
            let permit = tokio::select! {
                biased;
                () = job.cancel.cancelled() => return false,
                () = self.shutdown.cancelled() => return false,
                permit = job.chunks.reserve() => permit,
            };
            match permit {
                Ok(permit) => {
                    permit.send(item);
                    true
                }
                Err(_) => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_across_tasks<T: Send + Sync>() {}
    fn moved_into_a_task<T: Send>() {}

    #[test]
    fn the_stage_can_be_shared_and_its_streams_moved() {
        shared_across_tasks::<Synthesizer>();
        moved_into_a_task::<Synthesis>();
        moved_into_a_task::<Voice>();
    }
}
