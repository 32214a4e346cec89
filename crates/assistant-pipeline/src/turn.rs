//! One reply: the LLM's tokens through the chunker, each clause through
//! the voice, each piece of audio to the sink.
//!
//! [`run`] is the whole reply as one future under the turn's
//! [`CancellationToken`]: two tasks joined by a bounded channel of
//! [`Clause`]s. *Thinking* streams tokens into the chunker and sends each
//! clause as soon as it is cut; *speaking* synthesizes clause after clause
//! (the voice's own thread) and queues the audio on the sink, numbering the
//! pieces across the reply. Synthesis of the next clause runs while the
//! sink plays the last. Cancelling the token (barge-in, shutdown) ends
//! both at once: the [`Reply`](assistant_llm::Reply) is dropped, which
//! closes its connection and stops generation; the
//! [`Synthesis`](assistant_tts::stream::Synthesis) is dropped, which stops
//! the model run in progress. What happened is reported on a channel of
//! [`TurnNews`], which the turn loop reads.

use std::sync::Arc;

use assistant_core::{Clause, Clock, Timestamp, TurnId};
use assistant_llm::{Client, LlmError, Message};
use assistant_trace::{Mark, Stage, Tracer};
use assistant_tts::stream::Synthesizer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::chunker::{Chunker, ChunkerSettings};
use crate::io::Sink;

/// Clauses cut but not yet synthesized: a reply's first few, so thinking
/// never waits for speaking unless the model is far ahead.
const CLAUSE_QUEUE: usize = 8;

/// What a turn reports while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnNews {
    /// The first token arrived.
    FirstToken {
        /// When.
        at: Timestamp,
    },
    /// The chunker cut a clause (or, `notice`, the failure notice).
    Clause {
        /// The clause.
        clause: Clause,
        /// Whether it is the notice of a failure, not the model's reply.
        notice: bool,
    },
    /// A piece of audio was queued on the sink.
    Queued {
        /// The piece's number within the reply (the chunk's `clause` field
        /// as the sink sees it).
        piece: u32,
        /// The clause it speaks.
        clause: u32,
        /// Its length in samples.
        samples: usize,
        /// Its loudness, per 20 ms (for barge-in's echo guard).
        envelope: Vec<f32>,
        /// When synthesis finished it.
        synthesized_at: Timestamp,
        /// Whether it is the notice of a failure, not the model's reply.
        notice: bool,
        /// The samples, when the daemon records turns (`--record`).
        audio: Option<Vec<f32>>,
    },
    /// The model's reply is complete (everything is queued).
    Done {
        /// The whole reply as the model wrote it.
        reply: String,
        /// The failure that cut it short, if any (already spoken as the
        /// notice, when one is configured).
        failed: Option<String>,
    },
}

/// What a turn needs from the daemon; cheap to clone.
#[derive(Clone)]
pub struct TurnContext {
    /// The model server.
    pub llm: Client,
    /// The voice.
    pub synthesizer: Arc<Synthesizer>,
    /// The speakers.
    pub sink: Arc<dyn Sink>,
    /// How replies are cut into clauses.
    pub chunker: ChunkerSettings,
    /// Spoken when the model cannot be reached or fails mid-reply; `None`
    /// says nothing.
    pub failure_notice: Option<String>,
    /// The pipeline clock.
    pub clock: Clock,
    /// Whether to report the reply's audio ([`TurnNews::Queued`]'s `audio`).
    pub record: bool,
    /// Where the reply's marks and spans go.
    pub tracer: Tracer,
}

impl std::fmt::Debug for TurnContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnContext")
            .field("llm", &self.llm.endpoint())
            .field("sink", &self.sink.name())
            .finish_non_exhaustive()
    }
}

/// Runs the reply of `turn` to `messages`; returns when everything is
/// queued on the sink, or at once when `cancel` fires. Reports on `news`.
pub async fn run(
    turn: TurnId,
    messages: Vec<Message>,
    context: TurnContext,
    cancel: CancellationToken,
    news: mpsc::Sender<(TurnId, TurnNews)>,
) {
    let work = async {
        let (clauses, clause_rx) = mpsc::channel(CLAUSE_QUEUE);
        let thinking = think(turn, &messages, &context, clauses, &news);
        let speaking = speak(turn, &context, clause_rx, &cancel, &news);
        let (reply, ()) = tokio::join!(thinking, speaking);
        let _ = news
            .send((
                turn,
                TurnNews::Done {
                    reply: reply.0,
                    failed: reply.1,
                },
            ))
            .await;
    };
    tokio::select! {
        biased;
        () = cancel.cancelled() => {}
        () = work => {}
    }
}

/// Where thinking sends its clauses.
struct Clauses<'a> {
    turn: TurnId,
    to_speak: mpsc::Sender<(Clause, bool)>,
    news: &'a mpsc::Sender<(TurnId, TurnNews)>,
    /// The index the next clause gets.
    next: u32,
}

impl Clauses<'_> {
    /// Sends a clause on; `false` once speaking has stopped.
    async fn send(&mut self, clause: Clause, notice: bool) -> bool {
        self.next = clause.index + 1;
        let news = TurnNews::Clause {
            clause: clause.clone(),
            notice,
        };
        let _ = self.news.send((self.turn, news)).await;
        self.to_speak.send((clause, notice)).await.is_ok()
    }
}

/// Streams the reply into clauses. Returns the reply text and the failure
/// that ended it early, if any; on a failure the notice is sent as the
/// last clause.
async fn think(
    turn: TurnId,
    messages: &[Message],
    context: &TurnContext,
    to_speak: mpsc::Sender<(Clause, bool)>,
    news: &mpsc::Sender<(TurnId, TurnNews)>,
) -> (String, Option<String>) {
    let clock = context.clock;
    let mut out = Clauses {
        turn,
        to_speak,
        news,
        next: 0,
    };
    let tracer = &context.tracer;
    let requested = clock.now();
    tracer.mark(turn, Mark::LlmRequest, requested);
    let mut reply = match context.llm.chat(turn, messages, &clock).await {
        Ok(reply) => reply,
        Err(e) => return notice(String::new(), &e, context, &mut out).await,
    };
    let mut chunker = Chunker::new(turn, context.chunker);
    let mut failure = None;
    let mut first = true;
    while let Some(token) = reply.next().await {
        match token {
            Ok(token) => {
                if first {
                    first = false;
                    tracer.mark(turn, Mark::FirstToken, token.at);
                    let _ = news.send((turn, TurnNews::FirstToken { at: token.at })).await;
                }
                for clause in chunker.push(&token) {
                    // The token that completed it arrived at `clause.at`.
                    tracer.mark(turn, Mark::FirstClause, clause.at);
                    if !out.send(clause, false).await {
                        return (reply.text().to_owned(), None);
                    }
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    for clause in chunker.finish(clock.now()) {
        tracer.mark(turn, Mark::FirstClause, clause.at);
        if !out.send(clause, false).await {
            break;
        }
    }
    tracer.span(turn, Stage::Think, "reply", requested, clock.now());
    if let Some(finish) = reply.finish() {
        let server = &finish.server;
        for (name, value) in [
            ("llm_server_load", server.load),
            ("llm_server_prompt_eval", server.prompt_eval),
            ("llm_server_eval", server.eval),
            ("llm_server_total", server.total),
        ] {
            if let Some(value) = value {
                tracer.figure(turn, name, value);
            }
        }
    }
    match failure {
        Some(e) => notice(reply.text().to_owned(), &e, context, &mut out).await,
        None => (reply.text().to_owned(), None),
    }
}

/// Tells the user that the reply failed: in the log, and spoken.
async fn notice(
    reply: String,
    error: &LlmError,
    context: &TurnContext,
    out: &mut Clauses<'_>,
) -> (String, Option<String>) {
    let message = assistant_core::error::chain(error);
    tracing::error!(turn = %out.turn, "the reply failed: {message}");
    if let Some(text) = &context.failure_notice {
        let clause = Clause {
            turn: out.turn,
            index: out.next,
            text: text.clone(),
            at: context.clock.now(),
        };
        out.send(clause, true).await;
    }
    (reply, Some(message))
}

/// Synthesizes clause after clause and queues the audio on the sink.
async fn speak(
    turn: TurnId,
    context: &TurnContext,
    mut clauses: mpsc::Receiver<(Clause, bool)>,
    cancel: &CancellationToken,
    news: &mpsc::Sender<(TurnId, TurnNews)>,
) {
    let mut piece = 0_u32;
    let window = (context.sink.sample_rate() / 50).max(1) as usize;
    let (tracer, clock) = (&context.tracer, context.clock);
    while let Some((clause, notice)) = clauses.recv().await {
        let mut began = clock.now();
        tracer.mark(turn, Mark::FirstSynthesisStart, began);
        let mut synthesis = context
            .synthesizer
            .synthesize(turn, clause.text.clone(), cancel.child_token());
        while let Some(chunk) = synthesis.next().await {
            let mut chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::error!(%turn, clause = clause.index, "the voice failed: {}", assistant_core::error::chain(&e));
                    break;
                }
            };
            chunk.clause = piece;
            tracer.mark(turn, Mark::FirstAudioSynthesized, chunk.synthesized_at);
            tracer.span(
                turn,
                Stage::Speak,
                format!("synthesize clause {}", clause.index),
                began,
                chunk.synthesized_at,
            );
            let queued = TurnNews::Queued {
                piece,
                clause: clause.index,
                samples: chunk.samples.len(),
                envelope: crate::barge_in::envelope(&chunk.samples, window),
                synthesized_at: chunk.synthesized_at,
                notice,
                audio: context.record.then(|| chunk.samples.clone()),
            };
            // Reported before it can play, so the loop knows the piece
            // when the sink says it started.
            let _ = news.send((turn, queued)).await;
            piece += 1;
            let sink = Arc::clone(&context.sink);
            tracer.mark(turn, Mark::FirstAudioQueued, clock.now());
            let played = tokio::task::spawn_blocking(move || sink.play(chunk)).await;
            began = clock.now();
            match played {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(%turn, "the audio output refused the reply: {e}");
                    return;
                }
                Err(e) => {
                    tracing::warn!(%turn, "playing the reply failed: {e}");
                    return;
                }
            }
        }
    }
}
