//! `[asr]`, `[asr.endpoint]` and `[asr.vad]`: which streaming transducer
//! the listening stage runs, how it decodes, when an utterance ends and which
//! VAD gates it. The schema, the command-line overrides ([`AsrOverrides`])
//! and their resolution into the stage's [`ListenConfig`]
//! ([`Profile::listen_config`]: every model resolved in the store and
//! verified), together. `decoding` is checked when it is resolved.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use assistant_asr::{Decoding, Endpointing, Hotwords, ListenConfig, RecognizerConfig, TransducerFiles, VadConfig};
use assistant_models::{Lock, Store};
use serde::Deserialize;

use super::Profile;

/// `[asr]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsrSection {
    /// models.lock prefix of the transducer's encoder/decoder/joiner/tokens.
    pub transducer: String,
    /// Pre-roll in seconds.
    #[serde(default = "default_pre_roll")]
    pub pre_roll_s: f32,
    /// ONNX Runtime threads.
    #[serde(default = "default_threads")]
    pub num_threads: i32,
    /// `greedy_search` or `modified_beam_search`.
    #[serde(default = "default_decoding")]
    pub decoding: String,
    /// Beam width for `modified_beam_search`.
    #[serde(default = "default_paths")]
    pub max_active_paths: i32,
    /// Hotwords file (relative to the profile).
    #[serde(default)]
    pub hotwords_file: Option<PathBuf>,
    /// Hotwords boost.
    #[serde(default = "default_hotwords_score")]
    pub hotwords_score: f32,
    /// The model's `bpe.vocab` (relative to the profile), so hotwords may be
    /// plain words.
    #[serde(default)]
    pub bpe_vocab: Option<PathBuf>,
    /// `[asr.endpoint]`.
    #[serde(default)]
    pub endpoint: EndpointSection,
    /// `[asr.vad]`: voice-activity gating; absent or `model = ""` for none.
    #[serde(default)]
    pub vad: VadSection,
}

fn default_pre_roll() -> f32 {
    0.3
}
fn default_threads() -> i32 {
    1
}
fn default_decoding() -> String {
    "greedy_search".into()
}
fn default_paths() -> i32 {
    4
}
fn default_hotwords_score() -> f32 {
    1.5
}

/// `[asr.endpoint]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointSection {
    /// Rule 1.
    pub silence_without_text_s: f32,
    /// Rule 2.
    pub silence_after_text_s: f32,
    /// Rule 3.
    pub max_utterance_s: f32,
}

impl Default for EndpointSection {
    fn default() -> Self {
        let d = Endpointing::default();
        Self {
            silence_without_text_s: d.silence_without_text_s,
            silence_after_text_s: d.silence_after_text_s,
            max_utterance_s: d.max_utterance_s,
        }
    }
}

/// `[asr.vad]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VadSection {
    /// models.lock name of the Silero VAD; empty for no gating.
    pub model: String,
    /// Speech probability threshold.
    pub threshold: f32,
    /// Speech needed to open the gate, in seconds.
    pub min_speech_s: f32,
    /// Silence that closes a segment, in seconds.
    pub min_silence_s: f32,
    /// While nobody speaks, audio quieter than this (dBFS) skips the VAD;
    /// -120 runs it on everything.
    pub floor_dbfs: f32,
}

impl Default for VadSection {
    fn default() -> Self {
        let d = VadConfig::new("");
        Self {
            model: String::new(),
            threshold: d.threshold,
            min_speech_s: d.min_speech_s,
            min_silence_s: d.min_silence_s,
            floor_dbfs: -60.0,
        }
    }
}

/// Command-line overrides of a profile's listening settings.
#[derive(Clone, Debug, Default)]
pub struct AsrOverrides {
    /// A folder with encoder.onnx, decoder.onnx, joiner.onnx and tokens.txt
    /// (such as the synthetic test model), instead of the profile's models.
    pub transducer_dir: Option<PathBuf>,
    /// A Silero VAD file instead of the profile's.
    pub vad: Option<PathBuf>,
    /// Feed every frame: no VAD gating.
    pub no_vad: bool,
    /// Rule 2 (silence after text), in seconds.
    pub silence_after_text_s: Option<f32>,
}

impl Profile {
    /// The listening stage's configuration, with every model resolved in
    /// `store` and verified against `lock`.
    ///
    /// # Errors
    /// If a model is unknown, not installed or fails verification (the
    /// message names the fix), or a setting is invalid.
    pub fn listen_config(&self, lock: &Lock, store: &Store, overrides: &AsrOverrides) -> Result<ListenConfig> {
        let asr = &self.asr;
        let here = self.path.parent().unwrap_or(Path::new("."));
        let model = match &overrides.transducer_dir {
            Some(dir) => TransducerFiles {
                encoder: dir.join("encoder.onnx"),
                decoder: dir.join("decoder.onnx"),
                joiner: dir.join("joiner.onnx"),
                tokens: dir.join("tokens.txt"),
            },
            None => {
                let part = |p: &str| store.resolve(lock, &format!("{}/{p}", asr.transducer));
                TransducerFiles {
                    encoder: part("encoder")?,
                    decoder: part("decoder")?,
                    joiner: part("joiner")?,
                    tokens: part("tokens")?,
                }
            }
        };
        let decoding = match asr.decoding.as_str() {
            "greedy_search" => Decoding::Greedy,
            "modified_beam_search" => Decoding::ModifiedBeam {
                max_active_paths: asr.max_active_paths,
            },
            other => bail!(
                "{}: asr.decoding = {other:?} is not \"greedy_search\" or \"modified_beam_search\"",
                self.path.display()
            ),
        };
        let e = &asr.endpoint;
        let mut endpointing = Endpointing {
            silence_without_text_s: e.silence_without_text_s,
            silence_after_text_s: e.silence_after_text_s,
            max_utterance_s: e.max_utterance_s,
        };
        if let Some(rule2) = overrides.silence_after_text_s {
            endpointing.silence_after_text_s = rule2;
        }
        let recognizer = RecognizerConfig {
            model,
            num_threads: asr.num_threads,
            decoding,
            endpointing,
            hotwords: asr.hotwords_file.as_ref().map(|f| Hotwords {
                file: here.join(f),
                score: asr.hotwords_score,
                bpe_vocab: asr.bpe_vocab.as_ref().map(|v| here.join(v)),
            }),
        };
        let vad_model = match (&overrides.vad, overrides.no_vad) {
            (_, true) => None,
            (Some(path), false) => Some(path.clone()),
            (None, false) if asr.vad.model.is_empty() => None,
            (None, false) => Some(store.resolve(lock, &asr.vad.model)?),
        };
        let vad = vad_model.map(|model| VadConfig {
            threshold: asr.vad.threshold,
            min_speech_s: asr.vad.min_speech_s,
            min_silence_s: asr.vad.min_silence_s,
            ..VadConfig::new(model)
        });
        Ok(ListenConfig {
            recognizer,
            vad,
            pre_roll_s: asr.pre_roll_s,
            vad_floor_dbfs: Some(asr.vad.floor_dbfs).filter(|db| *db > -120.0),
        })
    }
}
