//! `assistantd say "text" -o out.wav`: a Piper voice speaking, sentence by
//! sentence, into a WAV file.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use assistant_tts::synth::{Speaker, SynthesisOptions, Voice};
use assistant_tts::voice::VoiceConfig;

/// What to say and where (the command line of `assistantd say`).
#[derive(Clone, Debug, clap::Args)]
pub struct SayArgs {
    /// The text to speak.
    pub text: String,
    /// The voice model (.onnx); its config is the same path plus .json.
    #[arg(long)]
    pub model: PathBuf,
    /// The voice config (.onnx.json), if not beside the model.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Speaker name or number, for multi-speaker voices.
    #[arg(long)]
    pub speaker: Option<String>,
    /// Phoneme duration scale (above 1 is slower); default: the voice's.
    #[arg(long)]
    pub length_scale: Option<f32>,
    /// Speaking rate (2 is twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f32,
    /// Silence after each sentence, in seconds.
    #[arg(long = "sentence-silence", default_value_t = 0.2)]
    pub sentence_silence_s: f32,
    /// The WAV file to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Synthesizes `args.text` into `args.output`; returns (sentences, seconds).
///
/// # Errors
/// If the voice cannot be loaded or run, or the file cannot be written.
pub fn run(args: &SayArgs) -> Result<(usize, f64)> {
    if args.output.as_os_str().is_empty() || args.output.is_dir() {
        bail!("-o {}: give a file name such as reply.wav", args.output.display());
    }
    crate::native::init_onnxruntime()?;
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.json", args.model.display())));
    let config = VoiceConfig::read(&config_path)?;
    let mut options = SynthesisOptions {
        rate: args.rate,
        sentence_silence_s: args.sentence_silence_s,
        speaker: args.speaker.as_deref().map(|s| match s.parse::<i64>() {
            Ok(id) => Speaker::Id(id),
            Err(_) => Speaker::Name(s.to_owned()),
        }),
        ..SynthesisOptions::default()
    };
    if let Some(length_scale) = args.length_scale {
        if !(length_scale.is_finite() && length_scale > 0.0) {
            bail!("--length-scale {length_scale} must be a positive number");
        }
        let mut scales = config.scales;
        scales.length_scale = length_scale;
        options.scales = Some(scales);
    }
    let mut voice = Voice::open(&args.model, config, 1)?;
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
    voice.speak(&args.text, &options, |audio| {
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
    Ok((sentences, samples as f64 / f64::from(spec.sample_rate)))
}
