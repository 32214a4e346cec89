//! The speaking stage of assistantd.
//!
//! Text goes in; audio comes out, sentence by sentence, sounding the way a
//! Piper voice was trained to sound. That takes two native libraries, each
//! confined to one module here:
//!
//! - [`espeak`]: the system `libespeak-ng`, which turns text into IPA
//!   phonemes exactly as Piper's phonemizer does (its ids must match
//!   `piper-phonemize` 1.1.0).
//! - [`onnx`]: ONNX Runtime through `ort`, loaded at run time from the very
//!   `libonnxruntime.so` that sherpa-onnx uses, so the process holds one
//!   runtime, not two.
//!
//! On top of them, pure Rust: [`phonemize`] applies Piper's clause and
//! punctuation rules and builds phoneme ids, [`voice`] reads a voice's
//! `.onnx.json`, and [`synth`] runs the voice one sentence at a time, handing
//! each sentence over as soon as it exists so playback can start early and
//! barge-in can stop the rest.

pub mod espeak;
pub mod onnx;
pub mod phonemize;
pub mod synth;
pub mod voice;

use std::path::PathBuf;

use thiserror::Error;

/// Why the speaking stage could not start or continue.
#[derive(Debug, Error)]
pub enum TtsError {
    /// espeak-ng could not start (its data folder is missing or unreadable).
    #[error(
        "espeak-ng could not start: {reason}; install the espeak-ng data with scripts/bootstrap (Debian: apt-get install espeak-ng-data)"
    )]
    EspeakInit {
        /// What failed.
        reason: String,
    },
    /// espeak-ng has no voice by this name.
    #[error(
        "espeak-ng has no voice {voice:?}; list voices with `espeak-ng --voices` and fix `espeak.voice` in the voice config"
    )]
    EspeakVoice {
        /// The voice asked for.
        voice: String,
    },
    /// Text handed to the phonemizer contains a NUL byte.
    #[error("text contains a NUL byte at byte {at}; remove control characters before speaking it")]
    NulInText {
        /// Byte offset of the NUL.
        at: usize,
    },
    /// The ONNX Runtime library could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {reason}; run scripts/bootstrap to install it")]
    RuntimeLoad {
        /// The library file.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// ONNX Runtime was already loaded from another file in this process.
    #[error("ONNX Runtime is already loaded from {loaded}; refusing to load a second copy from {requested}")]
    RuntimeMismatch {
        /// The library in use.
        loaded: PathBuf,
        /// The library asked for now.
        requested: PathBuf,
    },
    /// An ONNX model could not be opened.
    #[error("cannot open ONNX model {path}: {reason}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A voice config is missing a field or has a wrong one.
    #[error("voice config: {reason}")]
    VoiceConfig {
        /// The file and what is wrong.
        reason: String,
    },
    /// The model failed to run.
    #[error("synthesis failed: {reason}")]
    Synthesis {
        /// ONNX Runtime's message.
        reason: String,
    },
    /// A speaker the voice does not have.
    #[error("the voice has no speaker {speaker}; its speakers are {known:?}")]
    UnknownSpeaker {
        /// The speaker asked for.
        speaker: String,
        /// The names it knows.
        known: Vec<String>,
    },
    /// ONNX Runtime has not been initialized yet.
    #[error("ONNX Runtime is not loaded; call assistant_tts::onnx::init first")]
    RuntimeNotLoaded,
}
