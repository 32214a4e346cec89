//! The assistantd engine. Users run it through the `assistantd` launcher,
//! which checks the native libraries first.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use assistantd::models;
use clap::{Parser, Subcommand};

/// A local, always-on voice assistant: listens, thinks and speaks on your machine.
///
/// Without a command it runs the assistant (the same as `assistantd run`):
/// it listens on the microphone, answers through the speakers with the
/// profile's model server and voice, and can be interrupted by talking over
/// it. Set it up with `assistantd models fetch --profile jarvis`, check it
/// with `assistantd doctor`, and stop it with Ctrl-C (or SIGTERM).
#[derive(Debug, Parser)]
#[command(
    name = "assistantd",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// How to run the assistant when no command is given.
    #[command(flatten)]
    run: assistantd::run::RunArgs,
    /// Log lines as text for people, or one JSON object per line (for journald or a log collector).
    #[arg(long, value_enum, default_value = "human", global = true)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the assistant: microphone to speakers, turn by turn, with barge-in
    /// (what `assistantd` alone does). Logs what it hears and says at info;
    /// ASSISTANTD_LOG=debug says more.
    Run(assistantd::run::RunArgs),
    /// Measure the pipeline's latency stage by stage: play WAV files into
    /// the daemon's own pipeline (the microphone replaced by the file, the
    /// speakers by a modelled device) and report, per stage, p50 / p95 /
    /// max from end of speech to first audio, the pipeline's own overhead,
    /// and the plots (in --out: bench-report.json, trace.jsonl, a Chrome
    /// trace, waterfall.svg, distribution.svg, the replies as WAV).
    ///
    /// `--llm scripted:TEXT` answers with a deterministic responder (set
    /// its pace with `scripted(ttft=150ms,rate=40):TEXT`) so the other
    /// stages are measured the same anywhere; the report says so.
    Bench(assistantd::bench::BenchArgs),
    /// Check that this machine can run a profile: one line per check, each
    /// failure with its fix.
    ///
    /// Checks, without starting the assistant: the native libraries
    /// (sherpa-onnx, ONNX Runtime, espeak-ng) for real; every installed
    /// model against models.lock; the profile itself; each model file the
    /// profile uses (verified by sha256, missing or corrupt); its input and
    /// output devices (`[audio]`, else the system defaults); and its LLM
    /// server (`[llm]`: reachable, model present; a few seconds at most).
    /// Exits with status 1 if any check fails.
    Doctor {
        /// The profile to check (a name in configs/ or a path).
        #[arg(long, default_value = "jarvis")]
        profile: String,
        /// A Silero VAD model to load through both sherpa-onnx and ONNX Runtime.
        #[arg(long)]
        vad_model: Option<PathBuf>,
        /// A 16 kHz WAV file to run the VAD over (needs --vad-model).
        #[arg(long, requires = "vad_model")]
        wav: Option<PathBuf>,
        /// The espeak-ng voice to phonemize with.
        #[arg(long, default_value = "en-us")]
        espeak_voice: String,
        /// The sentence to phonemize.
        #[arg(long, default_value = "Hello, I am your local assistant.")]
        sentence: String,
        /// Print one JSON object per check instead of a table.
        #[arg(long)]
        json: bool,
        /// Where models.lock and the installed models are.
        #[command(flatten)]
        models: models::LocationArgs,
    },
    /// Transcribe WAV files (any rate, mono or stereo, PCM16/24/32 or float)
    /// through the listening stage: partials and finals with their times.
    Transcribe {
        /// The WAV files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The profile whose listening settings and models to use (a name in
        /// configs/ or a path).
        #[arg(long, default_value = "jarvis")]
        profile: String,
        /// A folder with encoder.onnx, decoder.onnx, joiner.onnx and
        /// tokens.txt to use instead of the profile's transducer.
        #[arg(long)]
        transducer_dir: Option<PathBuf>,
        /// A Silero VAD model to gate with instead of the profile's.
        #[arg(long, conflicts_with = "no_vad")]
        vad_model: Option<PathBuf>,
        /// Feed every frame to the transducer (no VAD gating).
        #[arg(long)]
        no_vad: bool,
        /// Endpoint rule 2: seconds of silence after words that end an utterance.
        #[arg(long)]
        endpoint_silence: Option<f32>,
        /// One JSON object per event, then a summary per file.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        models: models::LocationArgs,
    },
    /// Ask the configured LLM (a server, or the embedded model) one question; the reply streams to stdout.
    Ask(assistantd::ask::AskArgs),
    /// Compare the embedded model with a llama.cpp server on the same GGUF,
    /// conversation and settings: time to first token (first and later
    /// turns) and decode rate, medians and ratios against the goals
    /// (scripts/bench/llm-embedded starts the server and runs this).
    BenchLlm(assistantd::bench_llm::BenchLlmArgs),
    /// Speak text with a Piper voice, sentence by sentence, through the speakers or into a WAV file.
    Say(assistantd::say::SayArgs),
    /// The audio devices: inputs (microphones, for `[audio] input_device`) and
    /// outputs (for `say --output-device` and `[audio] output_device`).
    Devices {
        /// One JSON object per device.
        #[arg(long)]
        json: bool,
    },
    /// The voices `say --voice` and profiles can use, and whether each is installed.
    Voices {
        /// One JSON object per voice.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        models: models::LocationArgs,
    },
    /// Print the phonemes and phoneme ids a Piper voice is fed, sentence by
    /// sentence (as piper-phonemize 1.1.0 makes them).
    Phonemize(assistantd::phonemize::PhonemizeArgs),
    /// Install and verify the model files pinned in models.lock.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
        #[command(flatten)]
        models: models::LocationArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// What models.lock pins, what a profile needs, and what is installed.
    List {
        /// Only the models this profile uses.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Download (or copy from a mirror) and verify model files.
    Fetch {
        /// Models to fetch (default: those of --profile, else all).
        names: Vec<String>,
        /// Fetch the models this profile uses.
        #[arg(long)]
        profile: Option<String>,
        /// Install from a local folder holding the files, not the network [env: ASSISTANT_MODEL_MIRROR].
        #[arg(long)]
        mirror: Option<PathBuf>,
        /// Install a file models.lock pins no digest for, and record the digest it has.
        #[arg(long)]
        trust_new: bool,
        /// Re-install even if a verified copy is present.
        #[arg(long)]
        force: bool,
    },
    /// Hash installed model files in full and compare them with models.lock.
    Verify {
        /// Models to verify (default: those of --profile, else all).
        names: Vec<String>,
        /// Verify the models this profile uses.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Print the path of an installed, verified model file.
    Path {
        /// The model's name in models.lock.
        name: String,
    },
}

fn main() -> ExitCode {
    assistantd::native::die_quietly_on_a_closed_pipe();
    let cli = Cli::parse();
    let daemon = matches!(cli.command, None | Some(Command::Run(_) | Command::Bench(_)));
    // The daemon tells what it hears and says; one-shot commands only warn.
    let default = if daemon {
        "warn,assistant_pipeline=info,assistant_trace=info,assistantd=info,assistant_llm=info,ort=error"
    } else {
        "warn"
    };
    let mut filter = std::env::var("ASSISTANTD_LOG").unwrap_or_else(|_| default.into());
    // cpal's PulseAudio client logs the end of every connection, a normal
    // exit included, as an error; playback reports real failures itself.
    if !filter.contains("pulseaudio") {
        filter.push_str(",pulseaudio=off");
    }
    // llama.cpp warns about quirks of a model it loads fine (a token's
    // type overridden, the KV cache's layout); its errors still show.
    if !filter.contains("llama-cpp-2") {
        filter.push_str(",llama-cpp-2=error");
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "warn,pulseaudio=off".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().with_current_span(false).init(),
    }
    assistantd::native::configure_espeak();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("assistantd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // the command's output is its product
fn run(cli: Cli) -> Result<ExitCode> {
    let Some(command) = cli.command else {
        assistantd::run::run(&cli.run)?;
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::Run(args) => {
            assistantd::run::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let report = assistantd::bench::bench(&args)?;
            print!("{}", report.table);
            println!(
                "\nreport, traces, plots and replies in {}/ (bench-report.json, trace.json for https://ui.perfetto.dev, waterfall.svg, distribution.svg)",
                args.out.display()
            );
            let regressed = report.comparison.as_ref().is_some_and(|c| !c.regressions.is_empty());
            if args.fail_on_regression && regressed {
                eprintln!(
                    "assistantd bench: regressions against {} (--fail-on-regression)",
                    args.compare
                        .as_deref()
                        .map_or_else(String::new, |p| p.display().to_string())
                );
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor {
            profile,
            vad_model,
            wav,
            espeak_voice,
            sentence,
            json,
            models,
        } => {
            let checks = assistantd::doctor::run(&assistantd::doctor::DoctorOptions {
                vad_model,
                wav,
                espeak_voice,
                sentence,
                models: Some(models.resolve()?),
                profile: Some(profile),
            });
            let width = checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
            for c in &checks {
                if json {
                    println!("{}", serde_json::to_string(c)?);
                } else {
                    println!(
                        "{:<width$} {:<4} {:>8.1} ms  {}",
                        c.name,
                        if c.ok { "ok" } else { "FAIL" },
                        c.millis,
                        c.detail
                    );
                }
            }
            Ok(if checks.iter().all(|c| c.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Say(args) => {
            let said = assistantd::say::run(&args)?;
            let verb = if args.output.is_some() { "wrote" } else { "played on" };
            let first = said
                .first_audio_ms
                .map(|ms| format!("; first audio after {ms:.0} ms"))
                .unwrap_or_default();
            eprintln!(
                "{verb} {} (voice {}, {} sentence(s), {:.2} s{first})",
                said.destination, said.voice, said.sentences, said.seconds
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask(args) => {
            let stdout = std::io::stdout();
            let asked = assistantd::ask::run(&args, &mut stdout.lock())?;
            if !args.json {
                let first = asked
                    .finish
                    .time_to_first_token
                    .map(|d| format!(", first token after {:.0} ms", d.as_secs_f64() * 1000.0))
                    .unwrap_or_default();
                let reason = asked.finish.reason.as_deref().unwrap_or("end of stream");
                match (&asked.model_info, asked.warm_up) {
                    (Some(info), Some(_)) => eprintln!("embedded model {info}"),
                    (None, Some(took)) => eprintln!("model loaded in {:.0} ms", took.as_secs_f64() * 1000.0),
                    _ => {}
                }
                eprintln!(
                    "{} token(s) from {} ({reason}{first}, {:.0} ms in all)",
                    asked.finish.tokens,
                    asked.server,
                    asked.finish.elapsed.as_secs_f64() * 1000.0
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchLlm(args) => {
            let stdout = std::io::stdout();
            assistantd::bench_llm::run(&args, &mut stdout.lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Devices { json } => {
            use assistant_audio::devices::{Direction, list};
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for (direction, label) in [(Direction::Input, "input"), (Direction::Output, "output")] {
                let devices = list(direction).map_err(|reason| {
                    anyhow::anyhow!("cannot list the audio {label}s: {reason}; is PulseAudio or PipeWire running?")
                })?;
                for device in &devices {
                    if json {
                        let line = serde_json::json!({
                            "direction": label,
                            "id": device.id,
                            "name": device.name,
                            "default": device.is_default,
                        });
                        writeln!(out, "{line}")?;
                    } else {
                        let mark = if device.is_default { "*" } else { " " };
                        writeln!(out, "{mark} {label:<6}  {:<24} {}", device.id, device.name)?;
                    }
                }
                if devices.is_empty() && !json {
                    writeln!(out, "no audio {label} devices (is PulseAudio or PipeWire running?)")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Voices { json, models } => {
            let at = models.resolve()?;
            let stdout = std::io::stdout();
            assistantd::voices::print_list(&at, json, &mut stdout.lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Phonemize(args) => {
            let stdout = std::io::stdout();
            assistantd::phonemize::run(&args, &mut stdout.lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcribe {
            files,
            profile,
            transducer_dir,
            vad_model,
            no_vad,
            endpoint_silence,
            json,
            models,
        } => {
            let profile = assistantd::profile::Profile::load(&profile)?;
            let (lock, store) = models.resolve()?.open()?;
            let overrides = assistantd::profile::AsrOverrides {
                transducer_dir,
                vad: vad_model,
                no_vad,
                silence_after_text_s: endpoint_silence,
            };
            let config = profile.listen_config(&lock, &store, &overrides)?;
            let stdout = std::io::stdout();
            assistantd::transcribe::run(&config, &files, json, &mut stdout.lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Models {
            command,
            models: locations,
        } => {
            let at = locations.resolve()?;
            match command {
                ModelsCommand::List { profile } => models::list(&at, profile.as_deref())?,
                ModelsCommand::Fetch {
                    names,
                    profile,
                    mirror,
                    trust_new,
                    force,
                } => {
                    models::fetch(
                        &at,
                        &models::FetchArgs {
                            names,
                            profile,
                            mirror,
                            trust_new,
                            force,
                        },
                    )?;
                }
                ModelsCommand::Verify { names, profile } => models::verify(&at, &names, profile.as_deref())?,
                ModelsCommand::Path { name } => models::path(&at, &name)?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
