//! `assistantd bench FIXTURES…`: the daemon's own pipeline fed from WAV
//! files, with a per-stage latency report.
//!
//! Only the ends are replaced: the microphone by the file (20 ms frames,
//! in real time by default, or as fast as taken with `--pace fast`), and
//! the speakers by a recording sink that takes audio at the device's pace
//! through a modelled buffer. Everything between is [`Daemon::run`], the
//! same tasks, channels, chunker, voice and tracer as `assistantd run`, so
//! the figures are the daemon's. Each fixture is one run of the loop with a
//! fresh conversation (runs are independent and repeatable); the first run
//! warms the stages up and is left out of the figures.
//!
//! Out (in `--out`, default `bench-out/`): `bench-report.json` (versioned;
//! the machine, the settings, every turn's trace and the summary),
//! `trace.jsonl`, `trace.json` (Chrome trace events, for Perfetto),
//! `waterfall.svg` (the median turn), `distribution.svg`, and each run's
//! reply as `replies/NN-<fixture>.wav` (the folder is emptied first).
//!
//! After each run the process's memory, file descriptors and threads are
//! read, so a long run (`--repeat 1000 --pace fast`) is a soak test too;
//! `--compare OLD.json` sets the figures against an earlier report.

mod compare;
mod plots;
mod report;
mod resources;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use assistant_core::{Clock, TurnId};
use assistant_llm::{Conversation, Script};
use assistant_pipeline::{Daemon, DaemonSettings, Pace, RecorderSink, Summary, WavSource};
use assistant_trace::{Collector, Outputs, Tracer, TurnTrace};
use assistant_tts::stream::Synthesizer;
use tokio_util::sync::CancellationToken;

use crate::models::LocationArgs;
use crate::profile::LlmOverrides;
use crate::run::Stages;

pub use report::Report;

/// Silence after each fixture, beyond the endpoint's trailing silence, so
/// the endpoint fires on the file's own audio.
const TAIL_MARGIN: Duration = Duration::from_secs(1);

/// `--pace`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PaceArg {
    /// Frames when a microphone would deliver them: honest latencies.
    #[default]
    Realtime,
    /// Frames as fast as the pipeline takes them: throughput.
    Fast,
}

/// The command line of `assistantd bench`.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// The WAV files to play into the pipeline (any rate, mono or stereo,
    /// PCM 16/24/32-bit or float).
    #[arg(required = true, value_name = "FIXTURES")]
    pub fixtures: Vec<PathBuf>,
    /// The profile whose stages to measure (a name in configs/ or a path).
    #[arg(long, default_value = "jarvis")]
    pub profile: String,
    /// Answer with the scripted responder instead of the profile's model
    /// server: `scripted:TEXT` or `scripted(ttft=150ms,rate=40):TEXT`.
    #[arg(long, value_name = "SPEC", value_parser = crate::run::parse_script)]
    pub llm: Option<Script>,
    /// How the fixtures are played.
    #[arg(long, value_enum, default_value = "realtime")]
    pub pace: PaceArg,
    /// Runs of each fixture (after one warm-up run, left out).
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Where the report, traces, plots and replies go.
    #[arg(long, default_value = "bench-out")]
    pub out: PathBuf,
    /// The modelled device's buffer in ms (default: the profile's
    /// `audio.output_buffer_ms`).
    #[arg(long)]
    pub device_buffer_ms: Option<u32>,
    /// A streaming transducer folder instead of the profile's.
    #[arg(long)]
    pub transducer_dir: Option<PathBuf>,
    /// An earlier run's bench-report.json: prints the differences and
    /// flags the figures that got worse beyond the noise.
    #[arg(long, value_name = "OLD.json")]
    pub compare: Option<PathBuf>,
    /// With --compare: exit with status 3 if any figure regressed.
    #[arg(long, requires = "compare")]
    pub fail_on_regression: bool,
    /// Where models.lock and the installed models are.
    #[command(flatten)]
    pub models: LocationArgs,
}

/// One run of the loop on one fixture.
#[derive(Debug)]
pub struct Run {
    /// The file played.
    pub fixture: PathBuf,
    /// 0 for the warm-up, then 1, 2, ….
    pub index: u32,
    /// Whether it is left out of the figures.
    pub warm_up: bool,
    /// Its turns, as traced.
    pub turns: Vec<TurnTrace>,
    /// What the loop counted.
    pub summary: Summary,
    /// Where its reply was written.
    pub reply: PathBuf,
    /// The process after it.
    pub resources: Option<resources::Resources>,
}

/// Runs the benchmark and writes its outputs; returns the report.
///
/// # Errors
/// A fixture that cannot be read (named, with the formats that can), a
/// profile or model problem, or an output that cannot be written.
pub fn bench(args: &BenchArgs) -> Result<Report> {
    if args.repeat == 0 {
        bail!("--repeat 0 measures nothing; give 1 or more");
    }
    for fixture in &args.fixtures {
        assistant_audio::wav::read(fixture).with_context(|| format!("fixture {}", fixture.display()))?;
    }
    let old = args.compare.as_deref().map(compare::load).transpose()?;
    let stages = Stages::resolve(
        &args.profile,
        &args.models,
        args.transducer_dir.clone(),
        &LlmOverrides {
            scripted: args.llm.clone(),
            ..LlmOverrides::default()
        },
    )?;
    let replies = args.out.join("replies");
    // The replies of an earlier run are not this run's.
    if replies.exists() {
        std::fs::remove_dir_all(&replies).with_context(|| format!("cannot clear {}", replies.display()))?;
    }
    std::fs::create_dir_all(&replies).with_context(|| format!("cannot create {}", replies.display()))?;
    let voice = stages.speak.open_voice()?;
    let runtime = crate::run::runtime()?;
    let entered = runtime.enter();
    let clock = Clock::start();
    let rate = voice.config().sample_rate;
    let synthesizer = Arc::new(Synthesizer::spawn(voice, stages.speak.options.clone(), clock)?);
    let buffer_ms = args.device_buffer_ms.unwrap_or(stages.profile.audio.output_buffer_ms);
    let sink = Arc::new(RecorderSink::open(
        rate,
        Duration::from_millis(u64::from(buffer_ms)),
        clock,
    )?);
    drop(entered);
    let llm = runtime.block_on(crate::think::connect(&stages.think))?.client;
    if stages.think.warm_up {
        runtime
            .block_on(llm.warm_up())
            .with_context(|| format!("cannot load the model at {}", llm.endpoint()))?;
    }
    let tail = Duration::from_secs_f32(stages.listen.recognizer.endpointing.silence_after_text_s) + TAIL_MARGIN;
    let pace = match args.pace {
        PaceArg::Realtime => Pace::Realtime,
        PaceArg::Fast => Pace::Fast,
    };
    let plan: Vec<(PathBuf, u32)> = std::iter::once((args.fixtures[0].clone(), 0))
        .chain((1..=args.repeat).flat_map(|k| args.fixtures.iter().map(move |f| (f.clone(), k))))
        .collect();
    let bar = progress(plan.len() as u64);
    let mut runs = Vec::with_capacity(plan.len());
    for (n, (fixture, index)) in plan.into_iter().enumerate() {
        bar.set_message(format!("{}", fixture.display()));
        let (tracer, records) = Tracer::channel(4096);
        let collector = Collector::new(Outputs {
            log: true,
            keep: true,
            ..Outputs::default()
        })?;
        let collecting = std::thread::Builder::new()
            .name("trace".into())
            .spawn(move || collector.run_blocking(records))
            .context("cannot start the trace thread")?;
        let daemon = Daemon {
            settings: DaemonSettings {
                chunker: stages.profile.chunker.settings(),
                barge_in: stages.barge_in,
                warm_up: false,
                failure_notice: stages.think.failure_notice.clone(),
                record: None,
                tracer,
            },
            listen: stages.listen.clone(),
            llm: llm.clone(),
            conversation: Conversation::new(stages.think.system_prompt.clone(), stages.think.history_chars),
            synthesizer: Arc::clone(&synthesizer),
            sink: Arc::clone(&sink) as Arc<dyn assistant_pipeline::Sink>,
            clock,
        };
        drop(sink.take_recorded());
        let source = {
            let _entered = runtime.enter();
            WavSource::open(&fixture, tail, pace, clock).with_context(|| format!("fixture {}", fixture.display()))?
        };
        let summary = runtime.block_on(daemon.run(Box::new(source), CancellationToken::new()))?;
        let turns = collecting
            .join()
            .map_err(|_| anyhow::anyhow!("the trace collector panicked"))??;
        let stem = fixture
            .file_stem()
            .map_or_else(|| "fixture".into(), |s| s.to_string_lossy().into_owned());
        let reply = replies.join(format!("{n:02}-{stem}.wav"));
        let audio = sink.take_recorded();
        assistant_audio::wav::write_mono(&reply, rate, &audio)
            .with_context(|| format!("cannot write {}", reply.display()))?;
        if turns.is_empty() {
            tracing::warn!("{}: nothing was heard (no turn)", fixture.display());
        }
        runs.push(Run {
            fixture,
            index,
            warm_up: index == 0,
            turns,
            summary,
            reply,
            resources: resources::Resources::now(),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    runtime.shutdown_timeout(Duration::from_millis(200));
    let report = Report::new(args, &stages, &llm, buffer_ms, runs, old.as_ref());
    report.write(&args.out)?;
    Ok(report)
}

/// Renumbers a run's turns so every turn of the benchmark has its own id
/// (each run's recognizer counts from 1).
fn renumber(turns: &mut [TurnTrace], first: u64) {
    for (k, trace) in turns.iter_mut().enumerate() {
        let id = TurnId(first + k as u64);
        trace.turn = id;
        trace.timeline.turn = id;
    }
}

fn progress(total: u64) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar
}

/// The file name of `path`, for tables.
fn short(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}
