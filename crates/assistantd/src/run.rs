//! `assistantd [run] [--profile P]`: the always-on assistant.
//!
//! Resolves the profile (every model verified against models.lock), loads
//! the voice, opens the speakers and the microphone, then hands everything
//! to the pipeline's turn loop ([`assistant_pipeline::Daemon`]) on one tokio
//! runtime. SIGINT or SIGTERM stops the turn in progress, releases the
//! devices and returns; the process exits 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use assistant_audio::capture::Microphone;
use assistant_audio::playback::OutputSettings;
use assistant_core::Clock;
use assistant_llm::Conversation;
use assistant_pipeline::{Daemon, DaemonSettings, MicSource, SpeakerSink, Summary};
use assistant_tts::stream::Synthesizer;
use tokio_util::sync::CancellationToken;

use crate::models::LocationArgs;
use crate::profile::{AsrOverrides, BackendName, LlmOverrides, Profile, TtsOverrides};
use crate::trace::TraceArgs;

/// How the assistant runs (the command line of `assistantd run`, also
/// accepted without `run`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RunArgs {
    /// The profile: a name in configs/ (or in ~/.config/assistantd/), or a path.
    #[arg(long, default_value = "jarvis")]
    pub profile: String,
    /// Keep each turn's audio, transcript and reply in this folder (off by
    /// default: nothing but the log is written, and the log has no audio).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// The microphone (`assistantd devices` lists them), instead of the profile's.
    #[arg(long)]
    pub input_device: Option<String>,
    /// The speakers, instead of the profile's.
    #[arg(long)]
    pub output_device: Option<String>,
    /// The model server's protocol, instead of the profile's.
    #[arg(long, value_enum)]
    pub backend: Option<BackendName>,
    /// The model server's URL, instead of the profile's.
    #[arg(long)]
    pub llm_url: Option<String>,
    /// The model, instead of the profile's.
    #[arg(long)]
    pub model: Option<String>,
    /// Answer with a scripted responder instead of a model server:
    /// `scripted:TEXT`, or `scripted(ttft=150ms,rate=40):TEXT` to set its
    /// time to first token and tokens per second. For measuring the other
    /// stages anywhere; every trace and report says the reply was scripted.
    #[arg(long, value_name = "SPEC", value_parser = parse_script)]
    pub llm: Option<assistant_llm::Script>,
    /// A streaming transducer folder (encoder.onnx, decoder.onnx,
    /// joiner.onnx, tokens.txt) instead of the profile's.
    #[arg(long)]
    pub transducer_dir: Option<PathBuf>,
    /// Where models.lock and the installed models are.
    #[command(flatten)]
    pub models: LocationArgs,
    /// Per-turn trace files.
    #[command(flatten)]
    pub trace: TraceArgs,
}

/// The one runtime of the process: the stage threads (tts, asr) started
/// within it wait on its handle instead of building their own.
///
/// # Errors
/// If the runtime cannot start.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("assistantd")
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A profile's stages, resolved and their models verified: what `run` and
/// `bench` both start from.
pub(crate) struct Stages {
    pub profile: Profile,
    pub listen: assistant_asr::listen::ListenConfig,
    pub think: crate::profile::ThinkConfig,
    pub speak: crate::profile::SpeakConfig,
    pub barge_in: assistant_pipeline::BargeInSettings,
}

impl Stages {
    /// Loads `profile` and resolves its stages with these overrides.
    pub(crate) fn resolve(
        profile: &str,
        models: &LocationArgs,
        transducer_dir: Option<PathBuf>,
        llm: &LlmOverrides,
    ) -> Result<Self> {
        let profile = Profile::load(profile)?;
        let (lock, store) = models.resolve()?.open()?;
        let listen = profile.listen_config(
            &lock,
            &store,
            &AsrOverrides {
                transducer_dir,
                ..AsrOverrides::default()
            },
        )?;
        let think = profile.think_config(llm, &lock, &store)?;
        let speak = profile.speak_config(&lock, &store, &TtsOverrides::default())?;
        let barge_in = profile.barge_in.settings(&profile.path)?;
        Ok(Self {
            profile,
            listen,
            think,
            speak,
            barge_in,
        })
    }
}

/// Runs the assistant until SIGINT or SIGTERM.
///
/// # Errors
/// If the profile, a model, the voice or a device cannot be had at start-up.
/// Once running, failures are reported and survived.
pub fn run(args: &RunArgs) -> Result<Summary> {
    let Stages {
        profile,
        listen,
        think,
        speak,
        barge_in,
    } = Stages::resolve(
        &args.profile,
        &args.models,
        args.transducer_dir.clone(),
        &LlmOverrides {
            backend: args.backend,
            url: args.llm_url.clone(),
            model: args.model.clone(),
            system_prompt: None,
            scripted: args.llm.clone(),
        },
    )?;
    let voice = speak.open_voice()?;
    let sample_rate = voice.config().sample_rate;
    let runtime = runtime()?;
    let entered = runtime.enter();
    let clock = Clock::start();
    let synthesizer = Arc::new(Synthesizer::spawn(voice, speak.options, clock)?);
    let output = OutputSettings {
        device: args
            .output_device
            .clone()
            .or_else(|| profile.audio.output_device.clone()),
        sample_rate,
        buffer: Duration::from_millis(u64::from(profile.audio.output_buffer_ms)),
    };
    let sink = SpeakerSink::open(output, clock)
        .context("cannot open the speakers; `assistantd devices` lists them, `assistantd doctor` checks the setup")?;
    let mut input = profile.audio.input();
    if let Some(device) = &args.input_device {
        input.device = Some(device.clone());
    }
    let mic = Microphone::open(&input, clock)
        .context("cannot open the microphone; `assistantd devices` lists them, `assistantd doctor` checks the setup")?;
    let llm = runtime.block_on(crate::think::connect(&think))?.client;
    tracing::info!(
        "profile {} ({}): microphone '{}', speakers '{}', voice {}, model {} ({})",
        profile.name(),
        profile.path.display(),
        mic.device(),
        assistant_pipeline::Sink::name(&sink),
        speak.voice,
        llm.config().model,
        llm.endpoint()
    );
    let (tracer, tracing_thread) = args.trace.start(false)?;
    let daemon = Daemon {
        settings: DaemonSettings {
            chunker: profile.chunker.settings(),
            barge_in,
            warm_up: think.warm_up,
            failure_notice: think.failure_notice,
            record: args.record.clone(),
            tracer,
        },
        listen,
        llm,
        conversation: Conversation::new(think.system_prompt, think.history_chars),
        synthesizer,
        sink: Arc::new(sink),
        clock,
    };
    drop(entered);
    let summary = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        daemon.run(Box::new(MicSource::new(mic)), shutdown).await
    })?;
    // Threads blocked in a device call are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(200));
    if let Err(e) = tracing_thread.finish() {
        tracing::warn!("{e:#}");
    }
    tracing::info!(
        "{} turn(s): {} completed, {} cut by barge-in, {} resumed after a noise, {} failed",
        summary.turns,
        summary.completed,
        summary.barged_in,
        summary.resumed,
        summary.failed,
    );
    let capture = summary.capture;
    let cost = capture.callback.unwrap_or_default();
    tracing::info!(
        callbacks = cost.callbacks,
        callback_mean_us = cost.mean_ns as f64 / 1e3,
        callback_max_us = cost.max_ns as f64 / 1e3,
        overruns = capture.overruns,
        frames_dropped = capture.dropped_frames + summary.frames_dropped,
        "capture: {} callbacks, {:.1} µs on average, {:.1} µs at most; {} sample(s) overrun, {} frame(s) dropped",
        cost.callbacks,
        cost.mean_ns as f64 / 1e3,
        cost.max_ns as f64 / 1e3,
        capture.overruns,
        capture.dropped_frames + summary.frames_dropped,
    );
    Ok(summary)
}

/// `--llm`'s value, with the syntax in the error.
///
/// # Errors
/// The parser's message: what is wrong and the accepted syntax.
pub fn parse_script(spec: &str) -> Result<assistant_llm::Script, String> {
    assistant_llm::Script::parse(spec).map_err(|e| e.to_string())
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::warn!("cannot watch for SIGTERM/SIGINT; stop the daemon with SIGKILL");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name}: stopping");
    shutdown.cancel();
}
