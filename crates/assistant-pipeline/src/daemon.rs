//! The turn loop: the always-on assistant, from microphone frames to
//! replies on the speakers, one turn at a time.
//!
//! Threads and tasks, joined by bounded channels of `assistant-core` types:
//! - thread `source` reads the [`Source`] (the microphone) and sends its
//!   frames to the loop;
//! - the loop measures each frame's level for barge-in and forwards it to
//!   the listening stage (thread `asr`, [`assistant_asr::listen::spawn`]),
//!   whose [`TranscriptEvent`]s come back to the loop;
//! - a final transcript starts a turn: one task ([`turn::run`]) under the
//!   turn's own [`CancellationToken`], a child of the daemon's, which
//!   streams the LLM's reply through the chunker and the voice (thread
//!   `tts`) into the [`Sink`] (thread `playback`);
//! - thread `sink-events` forwards what the sink reports (each piece
//!   started, finished, or cut) to the loop.
//!
//! The loop owns all state: the [`TurnState`] (listening → heard → thinking
//! → speaking → listening, logged at info), the conversation, and the
//! [`BargeIn`] decision, which pauses the sink the moment someone talks
//! over the reply, cancels the turn once that is confirmed as speech, or
//! resumes the reply when it was only a noise. A cancelled or failed reply
//! is recorded in the history only as far as it was heard ([`Spoken`]).
//!
//! Nothing here is fatal once running: a model server that stops
//! answering makes a turn fail (logged, and a short spoken notice); a lost
//! microphone or speaker is reopened by its stage while the loop waits; a
//! listening stage that dies is started again. Only the daemon's token
//! ends the loop: the turn in progress is cancelled, the devices are
//! released, and [`Daemon::run`] returns.

use std::sync::Arc;
use std::time::Duration;

use assistant_asr::listen::ListenConfig;
use assistant_audio::capture::CaptureEvent;
use assistant_audio::playback::PlaybackEvent;
use assistant_core::{AudioFrame, Clock, DecodeTime, Timestamp, TranscriptEvent, TurnId};
use assistant_llm::{Client, Conversation};
use assistant_trace::{Mark, Stage};
use assistant_tts::stream::Synthesizer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::barge_in::{BargeIn, BargeInSettings, Decision, rms};
use crate::chunker::ChunkerSettings;
use crate::io::{Sink, Source, SourceItem, SourceStats};
use crate::record::Recorder;
use crate::spoken::Spoken;
use crate::turn::{self, TurnContext, TurnNews};

/// Frames waiting for the loop, and for the listening stage: five seconds
/// of audio, so a busy machine delays an utterance instead of losing part
/// of it (a frame is dropped, and counted, only past that).
const FRAME_QUEUE: usize = 250;

/// How often timers (barge-in's resume, a cut reply's grace) are looked
/// at: their precision, and the idle loop's wake-ups.
const TICK: Duration = Duration::from_millis(50);

/// How long a cancelled reply waits for the sink's account of what was
/// heard before it is written into the history.
const CUT_GRACE: Duration = Duration::from_millis(300);

/// How long a dead listening stage waits before it is started again.
const LISTEN_RESTART: Duration = Duration::from_secs(1);

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The listening stage could not start.
    #[error("the listening stage could not start: {0}")]
    Listen(#[from] assistant_asr::AsrError),
    /// A thread could not be started.
    #[error("cannot start thread {name}: {reason}")]
    Thread {
        /// The thread.
        name: &'static str,
        /// What the OS said.
        reason: String,
    },
}

/// The daemon's behaviour, from the profile.
#[derive(Clone, Debug)]
pub struct DaemonSettings {
    /// How replies are cut into clauses.
    pub chunker: ChunkerSettings,
    /// When the person can interrupt.
    pub barge_in: BargeInSettings,
    /// Load the model at start-up, not on the first question.
    pub warm_up: bool,
    /// Spoken when a reply fails; `None` for silence.
    pub failure_notice: Option<String>,
    /// Keep each turn's audio and text here (`--record`).
    pub record: Option<std::path::PathBuf>,
    /// Where every turn's marks, spans and figures go.
    pub tracer: assistant_trace::Tracer,
}

/// The turn state machine's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TurnState {
    /// Waiting for someone to speak.
    Listening,
    /// An utterance was transcribed; its turn starts.
    Heard,
    /// Waiting for the model's first clause.
    Thinking,
    /// The reply is playing.
    Speaking,
}

impl std::fmt::Display for TurnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Listening => "listening",
            Self::Heard => "heard",
            Self::Thinking => "thinking",
            Self::Speaking => "speaking",
        })
    }
}

/// What the daemon did, returned when it stops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Turns started.
    pub turns: u64,
    /// Replies played to the end.
    pub completed: u64,
    /// Replies cancelled by barge-in.
    pub barged_in: u64,
    /// Pauses that resumed (a noise, not speech).
    pub resumed: u64,
    /// Replies that failed (model server, voice or device).
    pub failed: u64,
    /// Frames the loop dropped because the listening stage was behind.
    pub frames_dropped: u64,
    /// What the source (the microphone) counted: overruns, frames it
    /// dropped, the cost of its audio callback.
    pub capture: SourceStats,
    /// The transcripts of the last [`Summary::HEARD`] turns answered, oldest
    /// first (a bench run's questions; bounded, so a daemon that runs for
    /// months keeps no more).
    pub heard: std::collections::VecDeque<String>,
}

impl Summary {
    /// How many transcripts [`Summary::heard`] keeps.
    pub const HEARD: usize = 16;
}

/// The stages and settings the daemon runs.
pub struct Daemon {
    /// Behaviour.
    pub settings: DaemonSettings,
    /// The listening stage's configuration (models verified).
    pub listen: ListenConfig,
    /// The model server.
    pub llm: Client,
    /// The system prompt and history.
    pub conversation: Conversation,
    /// The voice, loaded.
    pub synthesizer: Arc<Synthesizer>,
    /// The speakers, open.
    pub sink: Arc<dyn Sink>,
    /// The pipeline clock.
    pub clock: Clock,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("settings", &self.settings)
            .field("sink", &self.sink.name())
            .finish_non_exhaustive()
    }
}

/// What the source thread sends.
enum Input {
    Frame(AudioFrame),
    Notice(CaptureEvent),
    End,
}

/// One piece of the reply's audio, as the loop knows it.
#[derive(Debug)]
struct Piece {
    samples: usize,
    envelope: Vec<f32>,
    /// When it started, moved later by any pause (for the echo guard).
    started: Option<Timestamp>,
    /// When it started, as it happened (for the trace).
    began: Option<Timestamp>,
    finished: bool,
}

/// The turn being answered.
struct Active {
    id: TurnId,
    cancel: CancellationToken,
    spoken: Spoken,
    pieces: Vec<Piece>,
    /// The model's reply, once complete, and the failure that ended it.
    done: Option<(String, Option<String>)>,
    heard_at: Timestamp,
    speech_end_at: Timestamp,
    first_token_at: Option<Timestamp>,
    first_audio_at: Option<Timestamp>,
    paused_at: Option<Timestamp>,
}

/// A cancelled reply, waiting for the sink's account of what was heard.
struct Ending {
    active: Active,
    until: Timestamp,
    why: &'static str,
}

/// The loop's state; see the [module docs](self).
struct Loop {
    settings: DaemonSettings,
    conversation: Conversation,
    context: TurnContext,
    clock: Clock,
    shutdown: CancellationToken,
    state: TurnState,
    barge: BargeIn,
    active: Option<Active>,
    ending: Option<Ending>,
    /// A question heard while barge-in is off and a reply plays.
    pending: Option<(TurnId, String, Timestamp)>,
    news: mpsc::Sender<(TurnId, TurnNews)>,
    recorder: Option<Recorder>,
    summary: Summary,
    /// The loudest frame and the frames counted, for a level line a second.
    meter: (f32, u32),
    /// When the utterance being heard began, for its turn's trace.
    speech_started: Option<(TurnId, Timestamp)>,
}

impl Daemon {
    /// Runs the assistant until `shutdown` fires (or a finite source ends
    /// and the last reply has played).
    ///
    /// # Errors
    /// [`PipelineError`] if the listening stage or a thread cannot start.
    pub async fn run(self, source: Box<dyn Source>, shutdown: CancellationToken) -> Result<Summary, PipelineError> {
        let Self {
            settings,
            listen,
            llm,
            conversation,
            synthesizer,
            sink,
            clock,
        } = self;
        // The threads stop on shutdown, and when the loop ends by itself (a
        // finite source played out).
        let threads = shutdown.child_token();
        let (input_tx, mut input) = mpsc::channel(FRAME_QUEUE);
        let source_thread = spawn_source(source, input_tx, threads.clone())?;
        let (event_tx, mut sink_events) = mpsc::channel(64);
        let events_thread = spawn_sink_events(Arc::clone(&sink), event_tx, threads.clone())?;
        let mut listener = Listening::start(&listen, &shutdown)?;
        if settings.warm_up {
            let llm = llm.clone();
            tokio::spawn(async move {
                match llm.warm_up().await {
                    Ok(took) => tracing::info!(
                        "model {} loaded in {:.0} ms",
                        llm.config().model,
                        took.as_secs_f64() * 1e3
                    ),
                    Err(e) => tracing::warn!(
                        "could not load the model at start-up: {}",
                        assistant_core::error::chain(&e)
                    ),
                }
            });
        }
        let recorder = match &settings.record {
            Some(dir) => match Recorder::new(dir) {
                Ok(r) => {
                    tracing::info!("recording every turn's audio and text into {}", dir.display());
                    Some(r)
                }
                Err(e) => {
                    tracing::warn!("cannot record into {}: {e}; not recording", dir.display());
                    None
                }
            },
            None => None,
        };
        let (news, mut news_rx) = mpsc::channel(64);
        let mut state = Loop {
            barge: BargeIn::new(settings.barge_in),
            context: TurnContext {
                llm,
                synthesizer,
                sink: Arc::clone(&sink),
                chunker: settings.chunker,
                failure_notice: settings.failure_notice.clone(),
                clock,
                record: recorder.is_some(),
                tracer: settings.tracer.clone(),
            },
            settings,
            conversation,
            clock,
            shutdown: shutdown.clone(),
            state: TurnState::Listening,
            active: None,
            ending: None,
            pending: None,
            news,
            recorder,
            summary: Summary::default(),
            meter: (0.0, 0),
            speech_started: None,
        };
        tracing::info!("listening");
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut source_ended = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                item = input.recv(), if !source_ended => match item {
                    Some(Input::Frame(frame)) => {
                        state.frame(&frame);
                        if listener.frames.try_send(frame).is_err() {
                            state.summary.frames_dropped += 1;
                            if state.summary.frames_dropped % FRAME_QUEUE as u64 == 1 {
                                tracing::warn!(
                                    "the listening stage is more than {} s behind the microphone: {} frame(s) dropped so far; the machine is too busy",
                                    FRAME_QUEUE / 50,
                                    state.summary.frames_dropped
                                );
                            }
                        }
                    }
                    Some(Input::Notice(event)) => notice(&event),
                    Some(Input::End) | None => {
                        source_ended = true;
                        listener.finish();
                    }
                },
                // An idle listener (the source has ended) hears nothing
                // more: its closed channel must not win every select.
                event = listener.events.recv(), if !listener.is_idle() => match event {
                    Some(event) => state.transcript(event).await,
                    None if source_ended => {
                        if state.active.is_none() {
                            break;
                        }
                        // Wait for the reply; nothing more will be heard.
                        listener = Listening::idle();
                    }
                    None => {
                        listener.report_death().await;
                        tokio::time::sleep(LISTEN_RESTART).await;
                        listener = Listening::start(&listen, &shutdown)?;
                    }
                },
                Some(event) = sink_events.recv() => state.playback(event).await,
                Some((turn, news)) = news_rx.recv() => state.turn_news(turn, news),
                _ = tick.tick() => {
                    state.tick().await;
                    if source_ended && state.active.is_none() && state.ending.is_none() && listener.is_idle() {
                        break;
                    }
                }
            }
        }
        state.stop().await;
        threads.cancel();
        // The threads may be blocked sending to the loop: closing its ends
        // of the channels lets them see the shutdown.
        drop(input);
        drop(sink_events);
        drop(news_rx);
        listener.close();
        tracing::debug!("listening stage stopped");
        state.summary.capture = join_source(source_thread).await;
        tracing::debug!("source stopped");
        let _ = tokio::task::spawn_blocking(move || events_thread.join()).await;
        tracing::debug!("sink events stopped");
        Ok(state.summary)
    }
}

/// Tells the user what happened to the microphone.
fn notice(event: &CaptureEvent) {
    match event {
        CaptureEvent::Opened {
            device, sample_rate, ..
        } => tracing::info!("microphone '{device}' is open ({sample_rate} Hz)"),
        CaptureEvent::Lost { device, reason } => {
            tracing::warn!("microphone '{device}' lost: {reason}; trying to reopen it");
        }
        CaptureEvent::RetryFailed { reason, retry_in } => {
            tracing::warn!(
                "the microphone is still unavailable ({reason}); next try in {:.1} s",
                retry_in.as_secs_f64()
            );
        }
    }
}

/// The listening stage's thread and channels.
struct Listening {
    frames: mpsc::Sender<AudioFrame>,
    events: mpsc::Receiver<TranscriptEvent>,
    thread: Option<std::thread::JoinHandle<Result<assistant_asr::listen::ListenStats, assistant_asr::AsrError>>>,
    cancel: CancellationToken,
    idle: bool,
}

impl Listening {
    fn start(config: &ListenConfig, shutdown: &CancellationToken) -> Result<Self, PipelineError> {
        let (frames, frame_rx) = mpsc::channel(FRAME_QUEUE);
        let (event_tx, events) = mpsc::channel(64);
        let cancel = shutdown.child_token();
        let thread = assistant_asr::listen::spawn(config.clone(), frame_rx, event_tx, cancel.clone())?;
        Ok(Self {
            frames,
            events,
            thread: Some(thread),
            cancel,
            idle: false,
        })
    }

    /// A stand-in once the source has ended: sends nowhere, hears nothing.
    fn idle() -> Self {
        let (frames, _) = mpsc::channel(1);
        let (_, events) = mpsc::channel(1);
        Self {
            frames,
            events,
            thread: None,
            cancel: CancellationToken::new(),
            idle: true,
        }
    }

    fn is_idle(&self) -> bool {
        self.idle
    }

    /// No more frames: the stage finishes the open utterance and ends.
    fn finish(&mut self) {
        let (closed, _) = mpsc::channel(1);
        self.frames = closed;
    }

    async fn report_death(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        let why = match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Ok(_))) => "it stopped".to_owned(),
            Ok(Ok(Err(e))) => assistant_core::error::chain(&e),
            Ok(Err(_)) | Err(_) => "it panicked".to_owned(),
        };
        tracing::error!("the listening stage ended ({why}); starting it again");
    }

    fn close(mut self) {
        self.cancel.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn spawn_source(
    mut source: Box<dyn Source>,
    input: mpsc::Sender<Input>,
    shutdown: CancellationToken,
) -> Result<std::thread::JoinHandle<SourceStats>, PipelineError> {
    std::thread::Builder::new()
        .name("source".into())
        .spawn(move || {
            tracing::debug!(source = source.name(), "source started");
            while !shutdown.is_cancelled() {
                let item = match source.next(Duration::from_millis(100)) {
                    SourceItem::Frame(frame) => Input::Frame(frame),
                    SourceItem::Notice(event) => Input::Notice(event),
                    SourceItem::Idle => continue,
                    SourceItem::End => {
                        let _ = input.blocking_send(Input::End);
                        break;
                    }
                };
                if input.blocking_send(item).is_err() {
                    break;
                }
            }
            source.stats()
        })
        .map_err(|e| PipelineError::Thread {
            name: "source",
            reason: e.to_string(),
        })
}

async fn join_source(thread: std::thread::JoinHandle<SourceStats>) -> SourceStats {
    tokio::task::spawn_blocking(move || thread.join().unwrap_or_default())
        .await
        .unwrap_or_default()
}

fn spawn_sink_events(
    sink: Arc<dyn Sink>,
    events: mpsc::Sender<PlaybackEvent>,
    shutdown: CancellationToken,
) -> Result<std::thread::JoinHandle<()>, PipelineError> {
    std::thread::Builder::new()
        .name("sink-events".into())
        .spawn(move || {
            while !shutdown.is_cancelled() {
                if let Some(event) = sink.next_event(Duration::from_millis(100))
                    && events.blocking_send(event).is_err()
                {
                    return;
                }
            }
        })
        .map_err(|e| PipelineError::Thread {
            name: "sink-events",
            reason: e.to_string(),
        })
}

fn ms_between(later: Option<Timestamp>, earlier: Timestamp) -> Option<f64> {
    later
        .and_then(|t| t.checked_since(earlier))
        .map(|d| d.as_secs_f64() * 1e3)
}

impl Loop {
    fn set_state(&mut self, turn: TurnId, next: TurnState) {
        if self.state != next {
            tracing::info!(%turn, "{} → {next}", self.state);
            self.state = next;
        }
    }

    /// A microphone frame: barge-in's level, and the recorder.
    fn frame(&mut self, frame: &AudioFrame) {
        if let Some(recorder) = &mut self.recorder {
            recorder.frame(frame);
        }
        let playback = self.playback_level(frame.captured_at);
        let level = rms(&frame.samples);
        self.meter.0 = self.meter.0.max(level);
        self.meter.1 += 1;
        if self.meter.1 == 50 {
            tracing::debug!(
                "microphone: loudest {:.0} dBFS over the last second (barge-in threshold {:.0} dBFS)",
                20.0 * self.meter.0.max(1e-9).log10(),
                20.0 * self.barge.threshold(playback).max(1e-9).log10()
            );
            self.meter = (0.0, 0);
        }
        let decision = self.barge.level(frame.captured_at, frame.duration(), level, playback);
        if decision == Decision::Pause
            && let Some(active) = &self.active
        {
            // The onset: where the loudness the detector waited for began.
            let end = frame.captured_at.plus(frame.duration()).since_epoch();
            let onset = Timestamp::from_duration(end.saturating_sub(self.settings.barge_in.onset));
            self.settings.tracer.mark(active.id, Mark::BargeInOnset, onset);
        }
        self.decide(decision);
    }

    /// The loudness of what the speaker played around `at` (a window wide
    /// enough for the delay between speaker and microphone).
    fn playback_level(&self, at: Timestamp) -> f32 {
        let Some(active) = &self.active else { return 0.0 };
        if active.paused_at.is_some() {
            return 0.0;
        }
        let mut level = 0.0_f32;
        for piece in &active.pieces {
            let Some(start) = piece.started else { continue };
            let Some(offset) = at.checked_since(start) else {
                continue;
            };
            let index = (offset.as_millis() / 20) as usize;
            for i in index.saturating_sub(8)..=index + 2 {
                if let Some(v) = piece.envelope.get(i) {
                    level = level.max(*v);
                }
            }
        }
        level
    }

    fn decide(&mut self, decision: Decision) {
        match decision {
            Decision::Nothing => {}
            Decision::Pause => {
                if let Some(active) = &mut self.active {
                    let now = self.clock.now();
                    active.paused_at = Some(now);
                    self.context.sink.pause();
                    self.settings.tracer.mark(active.id, Mark::PlaybackSilent, now);
                    tracing::info!(turn = %active.id, "barge-in: someone may be speaking; reply paused");
                }
            }
            Decision::Resume => {
                if let Some(active) = &mut self.active
                    && let Some(paused_at) = active.paused_at.take()
                {
                    let now = self.clock.now();
                    let paused = now.checked_since(paused_at).unwrap_or_default();
                    for piece in &mut active.pieces {
                        if let Some(start) = &mut piece.started
                            && !piece.finished
                        {
                            *start = start.plus(paused);
                        }
                    }
                    self.context.sink.resume();
                    self.summary.resumed += 1;
                    tracing::info!(
                        turn = %active.id,
                        "barge-in: no words after {:.1} s (a noise, not speech); reply resumed",
                        paused.as_secs_f64()
                    );
                }
            }
            Decision::Cancel => {
                // The stop runs on; the cut reply waits for its account.
                let _ = self.cancel_active("barge-in");
            }
        }
    }

    async fn transcript(&mut self, event: TranscriptEvent) {
        match event {
            TranscriptEvent::SpeechStarted { turn, at } => {
                tracing::debug!(%turn, "speech started");
                self.speech_started = Some((turn, at));
                if let Some(recorder) = &mut self.recorder {
                    recorder.speech_started(at);
                }
            }
            TranscriptEvent::Partial { text, at, .. } => {
                if !text.trim().is_empty() {
                    let decision = self.barge.words(at);
                    self.decide(decision);
                }
            }
            TranscriptEvent::Final {
                turn,
                text,
                speech_end_at,
                endpoint_at,
                decode,
            } => {
                let text = text.trim().to_owned();
                if text.is_empty() {
                    return;
                }
                tracing::info!(%turn, "heard: {text:?}");
                if self.active.is_some() {
                    if self.barge.is_paused() {
                        let decision = self.barge.final_words();
                        self.decide(decision);
                    } else if self.settings.barge_in.mode == crate::BargeInMode::Off {
                        tracing::info!(%turn, "answering after the current reply (barge-in is off)");
                        self.trace_heard(turn, speech_end_at, endpoint_at, decode);
                        self.pending = Some((turn, text, speech_end_at));
                        return;
                    } else if self.state == TurnState::Speaking {
                        tracing::info!(%turn, "ignored: heard while speaking and not confirmed as barge-in (likely the assistant's own voice)");
                        return;
                    } else {
                        // Still thinking: the person said more; answer that.
                        let _ = self.cancel_active("superseded");
                    }
                }
                if let Some(recorder) = &mut self.recorder {
                    recorder.question(turn, &text, endpoint_at);
                }
                self.trace_heard(turn, speech_end_at, endpoint_at, decode);
                self.start_turn(turn, text, speech_end_at).await;
            }
        }
    }

    /// The listening marks of a turn about to be answered (only then: an
    /// utterance ignored while speaking gets no trace).
    fn trace_heard(&mut self, turn: TurnId, speech_end_at: Timestamp, endpoint_at: Timestamp, decode: DecodeTime) {
        let tracer = &self.settings.tracer;
        if let Some(per_chunk) = decode.per_chunk() {
            tracer.figure(turn, "asr_decode_per_chunk", per_chunk);
            tracer.figure(turn, "asr_decode_longest_chunk", decode.longest);
            tracer.figure(turn, "asr_decode_total", decode.busy);
        }
        if let Some((started_turn, at)) = self.speech_started.take()
            && started_turn == turn
        {
            tracer.mark(turn, Mark::SpeechStart, at);
        }
        tracer.mark(turn, Mark::SpeechEnd, speech_end_at);
        tracer.mark(turn, Mark::Endpoint, endpoint_at);
        tracer.mark(turn, Mark::FinalTranscript, self.clock.now());
    }

    async fn start_turn(&mut self, turn: TurnId, text: String, speech_end_at: Timestamp) {
        // A reply cut just now goes into the history before the question
        // that cut it; give the sink a moment to say how much was heard.
        if self.ending.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.finish_ending();
        }
        self.summary.turns += 1;
        if self.summary.heard.len() == Summary::HEARD {
            self.summary.heard.pop_front();
        }
        self.summary.heard.push_back(text.clone());
        self.conversation.push_user(text);
        let messages = self.conversation.messages();
        let cancel = self.shutdown.child_token();
        self.active = Some(Active {
            id: turn,
            cancel: cancel.clone(),
            spoken: Spoken::default(),
            pieces: Vec::new(),
            done: None,
            heard_at: self.clock.now(),
            speech_end_at,
            first_token_at: None,
            first_audio_at: None,
            paused_at: None,
        });
        self.set_state(turn, TurnState::Heard);
        tokio::spawn(turn::run(
            turn,
            messages,
            self.context.clone(),
            cancel,
            self.news.clone(),
        ));
        self.set_state(turn, TurnState::Thinking);
    }

    fn turn_news(&mut self, turn: TurnId, news: TurnNews) {
        if let Some(ending) = &mut self.ending
            && ending.active.id == turn
        {
            return;
        }
        let Some(active) = self.active.as_mut().filter(|a| a.id == turn) else {
            return;
        };
        match news {
            TurnNews::FirstToken { at } => {
                active.first_token_at = Some(at);
            }
            TurnNews::Clause { clause, notice } => {
                tracing::debug!(%turn, index = clause.index, "clause: {:?}", clause.text);
                if !notice {
                    active.spoken.clause(clause.index, &clause.text);
                }
            }
            TurnNews::Queued {
                piece,
                clause,
                samples,
                envelope,
                notice,
                audio,
                ..
            } => {
                if !notice {
                    active.spoken.queued(piece, clause, samples);
                }
                if let (Some(recorder), Some(audio)) = (&mut self.recorder, audio) {
                    recorder.reply_audio(self.context.sink.sample_rate(), &audio);
                }
                let index = piece as usize;
                if active.pieces.len() <= index {
                    active.pieces.resize_with(index + 1, || Piece {
                        samples: 0,
                        envelope: Vec::new(),
                        started: None,
                        began: None,
                        finished: false,
                    });
                }
                active.pieces[index].envelope = envelope;
                active.pieces[index].samples = samples;
            }
            TurnNews::Done { reply, failed } => {
                if failed.is_some() {
                    self.summary.failed += 1;
                }
                active.done = Some((reply, failed));
                self.maybe_complete();
            }
        }
    }

    async fn playback(&mut self, event: PlaybackEvent) {
        let (turn, piece) = match &event {
            PlaybackEvent::Started { turn, clause, .. }
            | PlaybackEvent::Finished { turn, clause, .. }
            | PlaybackEvent::Interrupted { turn, clause, .. } => (*turn, *clause),
            PlaybackEvent::Failed(e) => {
                tracing::error!("audio output failed: {e}; it will be reopened for the next reply");
                if self.active.is_some() {
                    self.summary.failed += 1;
                    let _ = self.cancel_active("the audio output failed");
                }
                return;
            }
        };
        if let Some(ending) = &mut self.ending
            && ending.active.id == turn
        {
            match event {
                PlaybackEvent::Finished { .. } => ending.active.spoken.finished(piece),
                PlaybackEvent::Interrupted { played, .. } => ending.active.spoken.played(piece, played),
                _ => {}
            }
            return;
        }
        let Some(active) = self.active.as_mut().filter(|a| a.id == turn) else {
            return;
        };
        match event {
            PlaybackEvent::Started { at, .. } => {
                self.settings.tracer.mark(turn, Mark::FirstAudioPlayed, at);
                if let Some(p) = active.pieces.get_mut(piece as usize) {
                    p.started = Some(at);
                    p.began = Some(at);
                }
                if active.first_audio_at.is_none() {
                    active.first_audio_at = Some(at);
                    tracing::info!(
                        %turn,
                        "first audio {:.0} ms after the end of speech (first token after {:.0} ms)",
                        ms_between(Some(at), active.speech_end_at).unwrap_or(f64::NAN),
                        ms_between(active.first_token_at, active.speech_end_at).unwrap_or(f64::NAN),
                    );
                    self.barge.reply_started();
                    self.set_state(turn, TurnState::Speaking);
                }
            }
            PlaybackEvent::Finished { at, .. } => {
                active.spoken.finished(piece);
                if let Some(p) = active.pieces.get_mut(piece as usize) {
                    p.finished = true;
                    if let Some(began) = p.began {
                        let name = format!("play piece {piece}");
                        self.settings.tracer.span(turn, Stage::Play, name, began, at);
                    }
                }
                self.maybe_complete();
            }
            PlaybackEvent::Interrupted { played, .. } => active.spoken.played(piece, played),
            PlaybackEvent::Failed(_) => {}
        }
    }

    /// Ends the turn if its reply is complete and all of it was heard.
    fn maybe_complete(&mut self) {
        let Some(active) = &self.active else { return };
        let Some((reply, failed)) = &active.done else { return };
        if !active.pieces.iter().all(|p| p.finished) {
            return;
        }
        let heard = if failed.is_some() {
            active.spoken.text()
        } else {
            reply.clone()
        };
        if failed.is_some() {
            self.conversation.record_interrupted(&heard);
        } else {
            self.summary.completed += 1;
            self.conversation.record_reply(reply);
        }
        let summary = self.turn_summary(active, if failed.is_some() { "failed" } else { "completed" });
        if let Some(recorder) = &mut self.recorder {
            recorder.finish(reply, &heard, &summary);
        }
        let turn = active.id;
        let outcome = if failed.is_some() {
            "failed; the user was told"
        } else {
            "played to the end"
        };
        tracing::info!(%turn, "turn over: the reply {outcome}");
        self.settings
            .tracer
            .end(turn, if failed.is_some() { "failed" } else { "completed" });
        self.active = None;
        self.barge.reply_ended();
        self.set_state(turn, TurnState::Listening);
        // A question heard meanwhile (barge-in off) is answered on the
        // next tick.
    }

    fn turn_summary(&self, active: &Active, ended: &str) -> serde_json::Value {
        let ms = |t: Option<Timestamp>| ms_between(t, active.speech_end_at);
        serde_json::json!({
            "turn": active.id.0,
            "ended": ended,
            "speech_end_ns": active.speech_end_at.as_nanos(),
            "heard_ms": ms(Some(active.heard_at)),
            "first_token_ms": ms(active.first_token_at),
            "first_audio_ms": ms(active.first_audio_at),
            "piece_samples": active.pieces.iter().map(|p| p.samples).collect::<Vec<_>>(),
            "failure": active.done.as_ref().and_then(|d| d.1.clone()),
        })
    }

    /// Cancels the turn in progress: its reply stops at once, and the
    /// part that was heard is recorded once the sink has said how much.
    /// Returns the task stopping the sink, to await where that matters.
    fn cancel_active(&mut self, why: &'static str) -> Option<tokio::task::JoinHandle<()>> {
        let active = self.active.take()?;
        active.cancel.cancel();
        if why == "barge-in" {
            self.summary.barged_in += 1;
        }
        let sink = Arc::clone(&self.context.sink);
        let turn = active.id;
        let stopping = tokio::task::spawn_blocking(move || {
            if let Err(e) = sink.stop_through(turn) {
                tracing::warn!(%turn, "could not stop the audio output: {e}");
            }
        });
        tracing::info!(%turn, "reply cancelled ({why})");
        self.settings.tracer.end(turn, why);
        if self.ending.is_some() {
            self.finish_ending();
        }
        self.ending = Some(Ending {
            active,
            until: self.clock.now().plus(CUT_GRACE),
            why,
        });
        self.barge.reply_ended();
        self.set_state(turn, TurnState::Listening);
        Some(stopping)
    }

    /// Writes a cancelled reply's heard part into the history.
    fn finish_ending(&mut self) {
        let Some(ending) = self.ending.take() else { return };
        let heard = ending.active.spoken.text();
        self.conversation.record_interrupted(&heard);
        tracing::info!(turn = %ending.active.id, "heard of the cut reply: {heard:?}");
        let summary = self.turn_summary(&ending.active, ending.why);
        if let Some(recorder) = &mut self.recorder {
            let reply = match &ending.active.done {
                Some((reply, _)) => reply.clone(),
                None => ending.active.spoken.written(),
            };
            recorder.finish(&reply, &heard, &summary);
        }
    }

    async fn tick(&mut self) {
        let now = self.clock.now();
        let decision = self.barge.tick(now);
        self.decide(decision);
        if self.ending.as_ref().is_some_and(|e| now >= e.until) {
            self.finish_ending();
        }
        if self.active.is_none()
            && let Some((turn, text, speech_end_at)) = self.pending.take()
        {
            self.start_turn(turn, text, speech_end_at).await;
        }
    }

    /// Shutdown: the reply in progress stops, and is recorded as heard.
    async fn stop(&mut self) {
        if let Some(stopping) = self.cancel_active("shutdown") {
            let _ = stopping.await;
        }
        self.finish_ending();
        tracing::info!("stopped");
    }
}
