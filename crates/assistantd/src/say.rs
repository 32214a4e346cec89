//! `assistantd say "text" -o out.wav`: a Piper voice speaking, sentence by
//! sentence, into a WAV file.
//!
//! The voice is the profile's (`[tts]` in `configs/jarvis.toml`), a voice by
//! name (`--voice`, resolved through `voices/` and models.lock and verified),
//! or a model file given directly (`--model`).

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use assistant_tts::synth::Voice;

use crate::models::LocationArgs;
use crate::profile::{Profile, TtsOverrides};

/// What to say and where (the command line of `assistantd say`).
#[derive(Clone, Debug, clap::Args)]
pub struct SayArgs {
    /// The text to speak.
    pub text: String,
    /// The profile whose `[tts]` settings to use (a name in configs/ or a path).
    #[arg(long, default_value = "jarvis")]
    pub profile: String,
    /// A voice by name (`assistantd voices` lists them), instead of the profile's.
    #[arg(long, conflicts_with = "model")]
    pub voice: Option<String>,
    /// A voice model file (.onnx) instead of a named voice; its config is the same path plus .json.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The config (.onnx.json) of --model, if not beside it.
    #[arg(long, requires = "model")]
    pub config: Option<PathBuf>,
    /// Speaker name or number, for multi-speaker voices.
    #[arg(long)]
    pub speaker: Option<String>,
    /// Phoneme duration scale (above 1 is slower); default: the profile's, else the voice's.
    #[arg(long)]
    pub length_scale: Option<f32>,
    /// Speaking rate (2 is twice as fast); default: the profile's.
    #[arg(long)]
    pub rate: Option<f32>,
    /// Silence after each sentence, in seconds; default: the profile's.
    #[arg(long = "sentence-silence")]
    pub sentence_silence_s: Option<f32>,
    /// The WAV file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Where models.lock and the installed models are.
    #[command(flatten)]
    pub models: LocationArgs,
}

/// What `say` produced.
#[derive(Debug)]
pub struct Said {
    /// The voice used.
    pub voice: String,
    /// Sentences spoken.
    pub sentences: usize,
    /// Seconds of audio written.
    pub seconds: f64,
}

/// Synthesizes `args.text` into `args.output`.
///
/// # Errors
/// If the voice cannot be found, verified, loaded or run, or the file cannot
/// be written.
pub fn run(args: &SayArgs) -> Result<Said> {
    if args.output.as_os_str().is_empty() || args.output.is_dir() {
        bail!("-o {}: give a file name such as reply.wav", args.output.display());
    }
    let profile = Profile::load(&args.profile)?;
    let at = args.models.resolve()?;
    let (lock, store) = at.open()?;
    let speak = profile.speak_config(
        &lock,
        &store,
        &TtsOverrides {
            voice: args.voice.clone(),
            model: args.model.clone(),
            config: args.config.clone(),
            speaker: args.speaker.clone(),
            length_scale: args.length_scale,
            rate: args.rate,
            sentence_silence_s: args.sentence_silence_s,
        },
    )?;
    crate::native::init_onnxruntime()?;
    let mut voice = Voice::open(&speak.model, speak.config, speak.threads)?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: voice.config().sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&args.output, spec)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let mut sentences = 0;
    let mut samples = 0_usize;
    let mut failed: Option<hound::Error> = None;
    voice.speak(&args.text, &speak.options, |audio| {
        sentences += 1;
        samples += audio.samples.len();
        for s in &audio.samples {
            if let Err(e) = writer.write_sample(*s) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failed {
        return Err(e).with_context(|| format!("cannot write {}", args.output.display()));
    }
    writer
        .finalize()
        .with_context(|| format!("cannot finish {}", args.output.display()))?;
    Ok(Said {
        voice: speak.voice,
        sentences,
        seconds: samples as f64 / f64::from(spec.sample_rate),
    })
}
