//! Piper inference: phoneme ids to audio, one model run per sentence.
//!
//! The model contract is Piper's: inputs `input` int64 `[1,N]`,
//! `input_lengths` int64 `[1]`, `scales` float32 `[3]` = `[noise_scale,
//! length_scale, noise_w]`, and `sid` int64 `[1]` only when the model has that
//! input; the output's last axis is the audio. [`Voice::open`] checks the
//! contract before the first run, so a model that is not a Piper voice is
//! refused with its actual inputs named.

use std::ops::ControlFlow;
use std::path::Path;

use ort::value::Tensor;

use crate::TtsError;
use crate::espeak::Espeak;
use crate::onnx::{Interrupt, Model, ModelOptions};
use crate::phonemize::{Sentence, phoneme_ids};
use crate::voice::{Scales, VoiceConfig};

/// Piper's full-scale int16 value for peak normalisation.
const MAX_WAV_VALUE: f32 = 32_767.0;

/// The longest sentence silence [`Voice::check`] accepts, in seconds.
pub const MAX_SENTENCE_SILENCE_S: f32 = 10.0;

/// Which speaker of a multi-speaker voice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// By name, through the config's `speaker_id_map`.
    Name(String),
    /// By number.
    Id(i64),
}

/// Per-call synthesis settings (a profile's overrides of the voice's).
#[derive(Clone, Debug, PartialEq)]
pub struct SynthesisOptions {
    /// The three scales; `None` uses the voice config's.
    pub scales: Option<Scales>,
    /// Speaking rate multiplier (2.0 is twice as fast): divides length_scale.
    pub rate: f32,
    /// The speaker, for multi-speaker voices (default: speaker 0).
    pub speaker: Option<Speaker>,
    /// Silence appended after each sentence, in seconds (Piper: 0.2).
    pub sentence_silence_s: f32,
}

impl Default for SynthesisOptions {
    fn default() -> Self {
        Self {
            scales: None,
            rate: 1.0,
            speaker: None,
            sentence_silence_s: 0.2,
        }
    }
}

/// One sentence of speech.
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceAudio {
    /// Which sentence of the text (0-based).
    pub index: usize,
    /// The sentence's phonemes.
    pub phonemes: String,
    /// Peak-normalised int16 samples at the voice's rate, sentence silence
    /// included.
    pub samples: Vec<i16>,
}

/// A loaded Piper voice.
#[derive(Debug)]
pub struct Voice {
    config: VoiceConfig,
    model: Model,
    has_sid: bool,
    /// Stops a run in progress from another thread (see [`Voice::interrupt`]).
    interrupt: Interrupt,
}

impl Voice {
    /// Opens the model (ONNX Runtime must be initialized) and checks it
    /// against the Piper contract and the config.
    ///
    /// # Errors
    /// [`TtsError::Model`] naming the model and what does not match.
    pub fn open(model: &Path, config: VoiceConfig, threads: usize) -> Result<Self, TtsError> {
        Self::open_with(
            model,
            config,
            &ModelOptions {
                threads,
                optimized_cache: None,
            },
        )
    }

    /// [`Voice::open`] with every [`ModelOptions`] (an optimized-model cache
    /// makes later loads faster: [`Model::open_with`]).
    ///
    /// # Errors
    /// As [`Voice::open`].
    pub fn open_with(model: &Path, config: VoiceConfig, options: &ModelOptions) -> Result<Self, TtsError> {
        let model = Model::open_with(model, options)?;
        let inputs: Vec<String> = model.inputs().into_iter().map(|p| p.name).collect();
        let mismatch = |reason: String| TtsError::Model {
            path: model.path().to_path_buf(),
            reason,
        };
        for needed in ["input", "input_lengths", "scales"] {
            if !inputs.iter().any(|i| i == needed) {
                return Err(mismatch(format!(
                    "it is not a Piper voice: it has inputs {inputs:?}, but Piper needs input, input_lengths, scales (and sid for multi-speaker voices)"
                )));
            }
        }
        if let Some(extra) = inputs
            .iter()
            .find(|i| !["input", "input_lengths", "scales", "sid"].contains(&i.as_str()))
        {
            return Err(mismatch(format!("it has an input {extra:?} that Piper does not feed")));
        }
        if model.outputs().is_empty() {
            return Err(mismatch("it has no output".into()));
        }
        let has_sid = inputs.iter().any(|i| i == "sid");
        if config.num_speakers > 1 && !has_sid {
            return Err(mismatch(format!(
                "the config says {} speakers but the model has no sid input",
                config.num_speakers
            )));
        }
        Ok(Self {
            config,
            model,
            has_sid,
            interrupt: Interrupt::new()?,
        })
    }

    /// A handle that stops this voice's model run in progress from another
    /// thread: [`Interrupt::arm`] before a job, [`Interrupt::trigger`] on
    /// barge-in. The run then fails with [`TtsError::Interrupted`], and so
    /// does every run until the next `arm`. A voice that is never armed and
    /// triggered (a WAV file, the benchmark) is unaffected.
    #[must_use]
    pub fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// The voice's ONNX model (its file, ports, and whether it loaded from
    /// the optimized-model cache).
    #[must_use]
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The voice's config.
    #[must_use]
    pub fn config(&self) -> &VoiceConfig {
        &self.config
    }

    /// Runs the model on one sentence's ids; returns the raw float audio.
    ///
    /// # Errors
    /// [`TtsError::Synthesis`] if ONNX Runtime fails; [`TtsError::UnknownSpeaker`].
    pub fn infer(&mut self, ids: &[i64], options: &SynthesisOptions) -> Result<Vec<f32>, TtsError> {
        let sid = self.speaker_id(options.speaker.as_ref())?;
        let scales = options.scales.unwrap_or(self.config.scales);
        let rate = if options.rate.is_finite() && options.rate > 0.0 {
            options.rate
        } else {
            1.0
        };
        let values = vec![scales.noise_scale, scales.length_scale / rate, scales.noise_w];
        let failed = |e: ort::Error| TtsError::Synthesis { reason: e.to_string() };
        let length = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let mut inputs = ort::inputs![
            "input" => Tensor::from_array(([1_usize, ids.len()], ids.to_vec())).map_err(failed)?,
            "input_lengths" => Tensor::from_array(([1_usize], vec![length])).map_err(failed)?,
            "scales" => Tensor::from_array(([3_usize], values)).map_err(failed)?,
        ];
        if self.has_sid {
            inputs.push((
                "sid".into(),
                Tensor::from_array(([1_usize], vec![sid])).map_err(failed)?.into(),
            ));
        }
        let interrupt = &self.interrupt;
        let outputs = self
            .model
            .session_mut()
            .run_with_options(inputs, interrupt.run_options())
            .map_err(|e| {
                if interrupt.triggered() {
                    TtsError::Interrupted
                } else {
                    failed(e)
                }
            })?;
        let (_, samples) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
        Ok(samples.to_vec())
    }

    fn speaker_id(&self, speaker: Option<&Speaker>) -> Result<i64, TtsError> {
        let unknown = |what: String| TtsError::UnknownSpeaker {
            speaker: what,
            known: self.config.speaker_id_map.keys().cloned().collect(),
        };
        match speaker {
            None => Ok(0),
            Some(_) if !self.has_sid => Err(unknown("(any: this voice has one speaker)".into())),
            Some(Speaker::Name(name)) => self
                .config
                .speaker_id_map
                .get(name)
                .copied()
                .ok_or_else(|| unknown(name.clone())),
            Some(Speaker::Id(id)) if (0..i64::from(self.config.num_speakers)).contains(id) => Ok(*id),
            Some(Speaker::Id(id)) => Err(unknown(id.to_string())),
        }
    }

    /// Checks `options` against this voice before any text is spoken, so a
    /// bad setting fails the same way for every text (empty text included).
    ///
    /// # Errors
    /// [`TtsError::UnknownSpeaker`] for a speaker the voice lacks (any
    /// speaker, for a single-speaker voice); [`TtsError::InvalidOption`] for
    /// a scale that is not a finite number (or a length scale that is not
    /// positive) or a sentence silence outside 0 to
    /// [`MAX_SENTENCE_SILENCE_S`] seconds, or a rate that is not above 0.
    pub fn check(&self, options: &SynthesisOptions) -> Result<(), TtsError> {
        self.speaker_id(options.speaker.as_ref())?;
        let scales = options.scales.unwrap_or(self.config.scales);
        let invalid = |option: &'static str, reason: String| Err(TtsError::InvalidOption { option, reason });
        for (option, value) in [
            ("noise_scale", scales.noise_scale),
            ("length_scale", scales.length_scale),
            ("noise_w", scales.noise_w),
        ] {
            if !value.is_finite() {
                return invalid(option, format!("{value} is not a finite number"));
            }
        }
        if scales.length_scale <= 0.0 {
            return invalid("length_scale", format!("{} is not above 0", scales.length_scale));
        }
        if !(options.rate.is_finite() && options.rate > 0.0) {
            return invalid("rate", format!("{} is not a number above 0", options.rate));
        }
        let silence = options.sentence_silence_s;
        if !(silence.is_finite() && (0.0..=MAX_SENTENCE_SILENCE_S).contains(&silence)) {
            return invalid(
                "sentence_silence_s",
                format!("{silence} is not between 0 and {MAX_SENTENCE_SILENCE_S} seconds"),
            );
        }
        Ok(())
    }

    /// The sentences `text` is spoken as, phonemized by this voice's rules.
    ///
    /// Text without a single letter or digit (empty, whitespace, punctuation
    /// only, emoji only) has none: there is nothing to say, although
    /// espeak-ng, and so Piper, would read the symbols' names aloud
    /// ("exclamation", "grinning face"). Symbols next to words are left to
    /// espeak-ng, as in Piper.
    ///
    /// # Errors
    /// As [`VoiceConfig::phonemize`].
    pub fn sentences(&self, text: &str) -> Result<Vec<Sentence>, TtsError> {
        if !text.chars().any(char::is_alphanumeric) {
            return Ok(Vec::new());
        }
        let mut espeak = Espeak::lock()?;
        self.config.phonemize(&mut espeak, text)
    }

    /// Synthesizes one sentence of [`Voice::sentences`] (`index` is its
    /// position there): peak-normalised int16 audio followed by the
    /// sentence silence. `Ok(None)` if the voice knows none of the
    /// sentence's phonemes: nothing to say, and no model run.
    ///
    /// # Errors
    /// As [`Voice::infer`]; [`TtsError::VoiceConfig`] if the phoneme-id map
    /// lacks `^`, `_` or `$`.
    pub fn synthesize_sentence(
        &mut self,
        index: usize,
        sentence: &[char],
        options: &SynthesisOptions,
    ) -> Result<Option<SentenceAudio>, TtsError> {
        let ids = phoneme_ids(sentence, &self.config.phoneme_id_map)?;
        // No phoneme the voice knows: nothing to say.
        if ids.missing.len() == sentence.len() {
            return Ok(None);
        }
        let audio = self.infer(&ids.ids, options)?;
        let mut samples = to_int16(&audio);
        samples.resize(samples.len() + self.silence_samples(options), 0);
        Ok(Some(SentenceAudio {
            index,
            phonemes: sentence.iter().collect(),
            samples,
        }))
    }

    /// The sentence silence in samples (none for an invalid setting, which
    /// [`Voice::check`] reports).
    fn silence_samples(&self, options: &SynthesisOptions) -> usize {
        let seconds = options.sentence_silence_s;
        if !(seconds.is_finite() && (0.0..=MAX_SENTENCE_SILENCE_S).contains(&seconds)) {
            return 0;
        }
        (seconds * self.config.sample_rate as f32).round() as usize
    }

    /// Speaks `text` sentence by sentence: each sentence is phonemized,
    /// synthesized and handed to `sink` as soon as it is ready. `sink`
    /// returns [`ControlFlow::Break`] to stop (barge-in): the remaining
    /// sentences are not synthesized. Text with nothing to say (see
    /// [`Voice::sentences`]) yields nothing. The speaking stage's
    /// thread ([`crate::stream`]) does the same with a cancellation token.
    ///
    /// # Errors
    /// As [`Voice::check`], [`Voice::sentences`] and
    /// [`Voice::synthesize_sentence`].
    pub fn speak(
        &mut self,
        text: &str,
        options: &SynthesisOptions,
        mut sink: impl FnMut(SentenceAudio) -> ControlFlow<()>,
    ) -> Result<(), TtsError> {
        self.check(options)?;
        let sentences = self.sentences(text)?;
        for (index, sentence) in sentences.iter().enumerate() {
            if let Some(audio) = self.synthesize_sentence(index, sentence, options)?
                && sink(audio).is_break()
            {
                break;
            }
        }
        Ok(())
    }
}

/// Piper's conversion: scale so the peak reaches full scale (never amplify
/// by more than 1/0.01), then clamp to int16.
#[must_use]
pub fn to_int16(audio: &[f32]) -> Vec<i16> {
    let peak = audio.iter().fold(0.0_f32, |m, &x| m.max(x.abs()));
    let scale = MAX_WAV_VALUE / peak.max(0.01);
    audio
        .iter()
        .map(|&x| (x * scale).clamp(-MAX_WAV_VALUE, MAX_WAV_VALUE) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_normalisation_matches_piper() {
        assert_eq!(to_int16(&[0.5, -0.25, 0.0]), [32767, -16383, 0]);
        // Near-silence is not blown up beyond 1/0.01.
        assert_eq!(to_int16(&[0.001]), [3276]);
        assert!(to_int16(&[]).is_empty());
    }
}
