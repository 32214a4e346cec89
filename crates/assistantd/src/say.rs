//! `assistantd say "text" [-o out.wav]`: a Piper voice speaking, sentence
//! by sentence, through the speakers or into a WAV file.
//!
//! Through the speakers, the speaking stage ([`Synthesizer`], thread `tts`)
//! streams each sentence to playback ([`Speaker`], thread `playback`) as
//! soon as it exists, exactly as the daemon does for a reply, and `say`
//! reports when the first audio reached the device.
//!
//! The voice is the profile's (`[tts]` in `configs/jarvis.toml`), a voice by
//! name (`--voice`, resolved through `voices/` and models.lock and verified),
//! or a model file given directly (`--model`).

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use assistant_audio::playback::{OutputSettings, PlaybackEvent, Speaker};
use assistant_core::{Clock, TurnId};
use assistant_tts::stream::Synthesizer;
use assistant_tts::synth::Voice;
use tokio_util::sync::CancellationToken;

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
    /// Variation in the voice (Piper's noise_scale; 0 is deterministic); default: the profile's, else the voice's.
    #[arg(long)]
    pub noise_scale: Option<f32>,
    /// Variation in phoneme durations (Piper's noise_w; 0 is deterministic); default: the profile's, else the voice's.
    #[arg(long)]
    pub noise_w: Option<f32>,
    /// Speaking rate (2 is twice as fast); default: the profile's.
    #[arg(long)]
    pub rate: Option<f32>,
    /// Silence after each sentence, in seconds; default: the profile's.
    #[arg(long = "sentence-silence")]
    pub sentence_silence_s: Option<f32>,
    /// Write a WAV file instead of playing through the speakers.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The output device (`assistantd devices` lists them); default: the profile's, else the system's.
    #[arg(long, conflicts_with = "output")]
    pub output_device: Option<String>,
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
    /// Seconds of audio written or played.
    pub seconds: f64,
    /// Where it went: the WAV file, or the device that played it.
    pub destination: String,
    /// Played: how long after the request the first audio reached the device.
    pub first_audio_ms: Option<f64>,
}

/// Speaks `args.text` through the speakers, or into `args.output`.
///
/// # Errors
/// If the voice cannot be found, verified, loaded or run, the output device
/// cannot be opened or fails, or the file cannot be written.
pub fn run(args: &SayArgs) -> Result<Said> {
    if let Some(output) = &args.output
        && (output.as_os_str().is_empty() || output.is_dir())
    {
        bail!("-o {}: give a file name such as reply.wav", output.display());
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
            noise_scale: args.noise_scale,
            noise_w: args.noise_w,
            rate: args.rate,
            sentence_silence_s: args.sentence_silence_s,
        },
    )?;
    let mut voice = speak.open_voice()?;
    let Some(output) = &args.output else {
        let settings = OutputSettings {
            device: args
                .output_device
                .clone()
                .or_else(|| profile.audio.output_device.clone()),
            sample_rate: voice.config().sample_rate,
            buffer: std::time::Duration::from_millis(u64::from(profile.audio.output_buffer_ms)),
        };
        return play(voice, speak.options, &settings, &args.text, speak.voice);
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: voice.config().sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer =
        hound::WavWriter::create(output, spec).with_context(|| format!("cannot write {}", output.display()))?;
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
        return Err(e).with_context(|| format!("cannot write {}", output.display()));
    }
    writer
        .finalize()
        .with_context(|| format!("cannot finish {}", output.display()))?;
    Ok(Said {
        voice: speak.voice,
        sentences,
        seconds: samples as f64 / f64::from(spec.sample_rate),
        destination: output.display().to_string(),
        first_audio_ms: None,
    })
}

/// Streams the synthesis into the speakers and waits until the last
/// sentence has played.
fn play(
    voice: Voice,
    options: assistant_tts::synth::SynthesisOptions,
    settings: &OutputSettings,
    text: &str,
    voice_name: String,
) -> Result<Said> {
    let clock = Clock::start();
    let synthesizer = Synthesizer::spawn(voice, options, clock)?;
    let turn = TurnId(1);
    let asked = clock.now();
    let mut synthesis = synthesizer.synthesize(turn, text, CancellationToken::new());
    // The device starts while the first sentence is synthesized.
    let speaker = Speaker::open(settings, clock)?;
    let mut sentences = 0;
    let mut samples = 0_usize;
    let mut first_audio = None;
    let mut last_clause = None;
    // Events are read as they come, so a failing device stops the
    // synthesis instead of being noticed at the end.
    let mut on_event = |event: PlaybackEvent| -> Result<()> {
        match event {
            PlaybackEvent::Started { at, .. } => {
                first_audio.get_or_insert(at);
            }
            PlaybackEvent::Failed(e) => return Err(e.into()),
            PlaybackEvent::Finished { .. } | PlaybackEvent::Interrupted { .. } => {}
        }
        Ok(())
    };
    while let Some(chunk) = synthesis.blocking_next() {
        let chunk = chunk?;
        tracing::debug!(
            clause = chunk.clause,
            synthesized_ms = chunk
                .synthesized_at
                .checked_since(asked)
                .map(|d| d.as_secs_f64() * 1000.0),
            "sentence ready"
        );
        sentences += 1;
        samples += chunk.samples.len();
        last_clause = Some(chunk.clause);
        while let Some(event) = speaker.try_event() {
            on_event(event)?;
        }
        speaker.play(chunk).or_else(|e| {
            // A closed speaker says why in its last event.
            while let Some(event) = speaker.try_event() {
                on_event(event)?;
            }
            Err(anyhow::Error::from(e))
        })?;
    }
    if let Some(last) = last_clause {
        loop {
            let event = speaker
                .next_event(std::time::Duration::from_secs(30))
                .with_context(|| format!("audio output '{}' stopped reporting progress", speaker.device()))?;
            let done = matches!(event, PlaybackEvent::Finished { clause, .. } if clause == last);
            on_event(event)?;
            if done {
                break;
            }
        }
    }
    Ok(Said {
        voice: voice_name,
        sentences,
        seconds: samples as f64 / f64::from(settings.sample_rate),
        destination: speaker.device().to_owned(),
        first_audio_ms: first_audio
            .and_then(|at| at.checked_since(asked))
            .map(|d| d.as_secs_f64() * 1000.0),
    })
}
