//! The cost of recording one trace record, as the stage that records it
//! pays it. Issue 14: recording never waits, and the goal is under 1 µs a
//! mark.
//!
//! ```sh
//! cargo bench -p assistant-trace --bench mark
//! cargo bench -p assistant-trace --bench mark -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p assistant-trace --bench mark -- mark/     # one group
//! ```
//!
//! Criterion prints the time of one call (`time: [low estimate high]`).
//! The live cases run the real [`Collector`] on a thread of its own, with
//! the daemon's channel capacity (4096), writing nothing; its loop is
//! `Collector::run_blocking`'s (drain with `try_recv`, then sleep
//! `Collector::POLL`) plus a count of the records taken, so that the
//! benchmark can wait for it. They print how many records were dropped
//! (there should be none).
//!
//! - `mark/idle_collector`: the daemon's case. Marks come milliseconds
//!   apart, so the collector is napping when one comes; the record waits in
//!   the channel and wakes no one. Each call is timed on its own (two
//!   `Instant` reads, about 30 ns, included), 10 µs after the collector took
//!   the previous record; the recording thread spins meanwhile, so its own
//!   wake-up is not counted.
//! - `mark/idle_collector_1ms`: the same, 1 ms after.
//! - `mark/waking_collector`: the first design, a collector asleep in
//!   `blocking_recv`: every mark wakes it, a system call (6 to 9 µs here).
//! - `mark/spinning_collector`: a collector that polls `try_recv` in a spin
//!   loop: the floor, a mark that wakes no one and a core that never rests.
//! - `mark|span|figure/burst`: calls back to back, 19 to a turn, with the
//!   polling collector; between bursts (untimed) the turn ends and the
//!   collector catches up.
//! - `*/full`: the channel is full (the collector lags): the drop path, a
//!   failed `try_send` and a counter increment.
//! - `*/disabled`: [`Tracer::disabled`], for comparison.
//! - `span/*` names the span with a `&'static str` ("reply"), so the name's
//!   allocation is inside the call; `span/burst_formatted` names it with
//!   `format!`, as the voice names its clauses.
//! - `clock/now`: [`Clock::now`], which a stage calls to stamp a mark.
//! - `collector/fold_turn`: the collector's side, folding one turn's 20
//!   records (13 marks, 4 spans, 2 figures, the end) into a [`TurnTrace`]
//!   and deriving its breakdown; no log line, no files.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assistant_core::{Clock, Timestamp, TurnId};
use assistant_trace::{Collector, Mark, Outputs, Record, Span, Stage, TraceError, Tracer, TurnTrace};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tokio::sync::mpsc::error::TryRecvError;

/// The daemon's channel capacity (`crates/assistantd/src/trace.rs`).
const CAPACITY: usize = 4096;

/// Records per turn in the burst benchmarks and the fold.
const TURN_RECORDS: u64 = 20;

/// How long the idle benchmarks wait after the collector took a record
/// before the next mark (spinning, so the recording thread stays awake):
/// long enough for the collector to be asleep again, and, in the second,
/// as long as marks are apart in a turn.
const SETTLE: Duration = Duration::from_micros(10);
const SETTLE_LONG: Duration = Duration::from_millis(1);

/// A collector that writes nothing and keeps nothing: only the assembly.
fn collector() -> Collector {
    Collector::new(Outputs::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// How the collector thread waits for records.
#[derive(Clone, Copy)]
enum Wait {
    /// As `Collector::run_blocking` in the daemon: drain with `try_recv`,
    /// then sleep `Collector::POLL` (doubling up to `POLL_IDLE`): a record
    /// never has to wake it.
    Poll,
    /// `blocking_recv` (the collector's first design, for comparison):
    /// asleep while the channel is empty, woken by the next record.
    Sleep,
    /// `try_recv` in a spin loop: never asleep, so a record wakes no one.
    Spin,
}

/// A tracer whose records the real collector takes on a thread of its own,
/// counting what it took so that the benchmark can wait for it.
struct Live {
    tracer: Tracer,
    taken: Arc<AtomicU64>,
    sent: u64,
    thread: JoinHandle<Result<Vec<TurnTrace>, TraceError>>,
}

impl Live {
    fn start(wait: Wait) -> Self {
        let (tracer, mut records) = Tracer::channel(CAPACITY);
        let taken = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("trace".into())
            .spawn({
                let taken = Arc::clone(&taken);
                move || {
                    let mut collector = collector();
                    let mut nap = Collector::POLL;
                    loop {
                        let record = match wait {
                            Wait::Poll => match records.try_recv() {
                                Ok(record) => {
                                    nap = Collector::POLL;
                                    Some(record)
                                }
                                Err(TryRecvError::Empty) => {
                                    std::thread::sleep(nap);
                                    nap = (nap * 2).min(Collector::POLL_IDLE);
                                    continue;
                                }
                                Err(TryRecvError::Disconnected) => None,
                            },
                            Wait::Sleep => records.blocking_recv(),
                            Wait::Spin => match records.try_recv() {
                                Ok(record) => Some(record),
                                Err(TryRecvError::Empty) => {
                                    std::hint::spin_loop();
                                    continue;
                                }
                                Err(TryRecvError::Disconnected) => None,
                            },
                        };
                        let Some(record) = record else { break };
                        collector.accept(record)?;
                        taken.fetch_add(1, Ordering::Release);
                    }
                    collector.finish()
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the collector: {e}"));
        Self {
            tracer,
            taken,
            sent: 0,
            thread,
        }
    }

    /// Waits until the collector has taken every record sent.
    fn drained(&self) {
        while self.taken.load(Ordering::Acquire) < self.sent {
            std::hint::spin_loop();
        }
    }

    /// Stops the collector and says how many records were dropped (if the
    /// benchmark ran: a filter on the command line may have skipped it).
    fn stop(self, name: &str) {
        let dropped = self.tracer.dropped();
        drop(self.tracer);
        self.thread
            .join()
            .unwrap_or_else(|_| panic!("the collector panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
        if self.sent > 0 {
            eprintln!("{name}: {dropped} of {} records dropped", self.sent);
        }
    }

    /// Times `iters` single calls of `record`, each `settle` after the
    /// collector took the previous record (with [`Wait::Sleep`], it has gone
    /// back to sleep).
    fn one_at_a_time(&mut self, iters: u64, settle: Duration, record: impl Fn(&Tracer, u64)) -> Duration {
        let mut total = Duration::ZERO;
        for i in 0..iters {
            self.drained();
            let since = Instant::now();
            while since.elapsed() < settle {
                std::hint::spin_loop();
            }
            let start = Instant::now();
            record(&self.tracer, i);
            total += start.elapsed();
            self.sent += 1;
        }
        total
    }

    /// Times `iters` calls of `record` in bursts of `TURN_RECORDS - 1`, one
    /// turn each; between bursts (untimed) the turn ends and the collector
    /// catches up, so the channel never fills.
    fn bursts(&mut self, iters: u64, turn: &mut TurnId, record: impl Fn(&Tracer, TurnId, u64)) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(TURN_RECORDS - 1);
            self.drained();
            let start = Instant::now();
            for i in 0..n {
                record(&self.tracer, black_box(*turn), i);
            }
            total += start.elapsed();
            self.tracer.end(*turn, "completed");
            *turn = turn.next();
            left -= n;
            self.sent += n + 1;
        }
        total
    }
}

/// A tracer whose channel is full and stays full.
fn full() -> (Tracer, tokio::sync::mpsc::Receiver<Record>) {
    let (tracer, records) = Tracer::channel(1);
    tracer.mark(TurnId(0), Mark::SpeechEnd, Timestamp::ZERO);
    (tracer, records)
}

fn at(i: u64) -> Timestamp {
    black_box(Timestamp::from_nanos(i))
}

fn mark(c: &mut Criterion) {
    let mut group = c.benchmark_group("mark");

    let first_token = |t: &Tracer, i| t.mark(black_box(TurnId(1)), black_box(Mark::FirstToken), at(i));

    // Each call waits for the polling collector to take the last record
    // (up to its 5 ms nap): fewer samples keep the run short.
    group.sample_size(20);
    let mut live = Live::start(Wait::Poll);
    group.bench_function("idle_collector", |b| {
        b.iter_custom(|iters| live.one_at_a_time(iters, SETTLE, first_token));
    });
    live.stop("mark/idle_collector");

    let mut live = Live::start(Wait::Poll);
    group.bench_function("idle_collector_1ms", |b| {
        b.iter_custom(|iters| live.one_at_a_time(iters, SETTLE_LONG, first_token));
    });
    live.stop("mark/idle_collector_1ms");
    group.sample_size(100);

    let mut live = Live::start(Wait::Sleep);
    group.bench_function("waking_collector", |b| {
        b.iter_custom(|iters| live.one_at_a_time(iters, SETTLE, first_token));
    });
    live.stop("mark/waking_collector");

    let mut live = Live::start(Wait::Spin);
    group.bench_function("spinning_collector", |b| {
        b.iter_custom(|iters| live.one_at_a_time(iters, SETTLE, first_token));
    });
    live.stop("mark/spinning_collector");

    let mut live = Live::start(Wait::Poll);
    let mut turn = TurnId(1);
    group.bench_function("burst", |b| {
        b.iter_custom(|iters| {
            live.bursts(iters, &mut turn, |t, turn, i| {
                t.mark(turn, black_box(Mark::FirstToken), at(i));
            })
        });
    });
    live.stop("mark/burst");

    let (tracer, _records) = full();
    group.bench_function("full", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            tracer.mark(black_box(TurnId(1)), black_box(Mark::FirstToken), at(i));
        });
    });

    let tracer = Tracer::disabled();
    group.bench_function("disabled", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            tracer.mark(black_box(TurnId(1)), black_box(Mark::FirstToken), at(i));
        });
    });
    group.finish();
}

fn span(c: &mut Criterion) {
    let mut group = c.benchmark_group("span");

    let mut live = Live::start(Wait::Poll);
    let mut turn = TurnId(1);
    group.bench_function("burst", |b| {
        b.iter_custom(|iters| {
            live.bursts(iters, &mut turn, |t, turn, i| {
                t.span(turn, Stage::Think, black_box("reply"), at(i), at(i + 1));
            })
        });
    });
    group.bench_function("burst_formatted", |b| {
        b.iter_custom(|iters| {
            live.bursts(iters, &mut turn, |t, turn, i| {
                t.span(turn, Stage::Speak, format!("synthesize clause {i}"), at(i), at(i + 1));
            })
        });
    });
    live.stop("span/burst and span/burst_formatted");

    let (tracer, _records) = full();
    group.bench_function("full", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            tracer.span(black_box(TurnId(1)), Stage::Think, black_box("reply"), at(i), at(i + 1));
        });
    });

    let tracer = Tracer::disabled();
    group.bench_function("disabled", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            tracer.span(black_box(TurnId(1)), Stage::Think, black_box("reply"), at(i), at(i + 1));
        });
    });
    group.finish();
}

fn figure(c: &mut Criterion) {
    let mut group = c.benchmark_group("figure");
    let value = |i: u64| black_box(Duration::from_nanos(i));

    let mut live = Live::start(Wait::Poll);
    let mut turn = TurnId(1);
    group.bench_function("burst", |b| {
        b.iter_custom(|iters| {
            live.bursts(iters, &mut turn, |t, turn, i| {
                t.figure(turn, black_box("llm_server_prompt_eval"), value(i));
            })
        });
    });
    live.stop("figure/burst");

    let (tracer, _records) = full();
    group.bench_function("full", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            tracer.figure(black_box(TurnId(1)), black_box("llm_server_prompt_eval"), value(i));
        });
    });

    let tracer = Tracer::disabled();
    group.bench_function("disabled", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            tracer.figure(black_box(TurnId(1)), black_box("llm_server_prompt_eval"), value(i));
        });
    });
    group.finish();
}

fn clock(c: &mut Criterion) {
    let clock = Clock::start();
    c.bench_function("clock/now", |b| b.iter(|| clock.now()));
}

/// One turn as the pipeline records it: 20 records.
fn one_turn(turn: TurnId) -> Vec<Record> {
    let ms = |n: u64| Timestamp::from_nanos(n * 1_000_000);
    let marks = [
        (Mark::SpeechStart, 0),
        (Mark::SpeechEnd, 900),
        (Mark::Endpoint, 1400),
        (Mark::FinalTranscript, 1401),
        (Mark::LlmRequest, 1402),
        (Mark::FirstToken, 1520),
        (Mark::FirstClause, 1620),
        (Mark::FirstSynthesisStart, 1621),
        (Mark::FirstAudioSynthesized, 1750),
        (Mark::FirstAudioQueued, 1751),
        (Mark::FirstAudioPlayed, 1800),
        // Later tokens and pieces mark again; the first is kept.
        (Mark::FirstToken, 1530),
        (Mark::ReplyEnd, 4000),
    ];
    let mut records: Vec<Record> = marks
        .into_iter()
        .map(|(mark, t)| Record::Mark { turn, mark, at: ms(t) })
        .collect();
    let span = |stage, name: &str, start, end| Record::Span {
        turn,
        span: Span {
            stage,
            name: name.to_owned(),
            start: ms(start),
            end: ms(end),
        },
    };
    records.extend([
        span(Stage::Think, "reply", 1402, 2100),
        span(Stage::Speak, "synthesize clause 0", 1621, 1750),
        span(Stage::Speak, "synthesize clause 1", 1760, 1900),
        span(Stage::Play, "play piece 0", 1800, 3000),
        Record::Figure {
            turn,
            name: "llm_server_prompt_eval",
            value: Duration::from_millis(12),
        },
        Record::Figure {
            turn,
            name: "llm_server_eval",
            value: Duration::from_millis(90),
        },
        Record::End {
            turn,
            outcome: "completed",
        },
    ]);
    records
}

fn fold(c: &mut Criterion) {
    let turn = one_turn(TurnId(1));
    assert_eq!(turn.len() as u64, TURN_RECORDS);
    let mut collector = collector();
    c.bench_function("collector/fold_turn", |b| {
        b.iter_batched(
            || turn.clone(),
            |records| {
                for record in records {
                    collector.accept(record).unwrap_or_else(|e| panic!("{e}"));
                }
            },
            BatchSize::SmallInput,
        );
    });
}

criterion_group!(benches, mark, span, figure, clock, fold);
criterion_main!(benches);
