//! The listening stage of assistantd.
//!
//! Audio frames go in; speech comes out. This crate owns assistantd's use of
//! the sherpa-onnx C library (through the official `sherpa-onnx` crate,
//! linked against the shared `libsherpa-onnx-c-api.so` that
//! `scripts/bootstrap` installs), and keeps every call to it in
//! one module, `sherpa`, where failures to create native objects become errors that
//! name the file or setting at fault.
//!
//! - [`Recognizer`] / [`Stream`]: sherpa-onnx's streaming transducer with its
//!   three endpoint rules. A stream borrows its recognizer, so it can never
//!   outlive it. The model files are checked first ([`inspect_transducer`]):
//!   sherpa-onnx accepts a tokens file from another model and then throws a
//!   C++ exception through the C API (the process dies), so that mismatch
//!   must be an error here.
//! - [`Vad`]: Silero voice-activity detection, which gates the recognizer so
//!   an always-on daemon costs almost nothing while the room is quiet.
//! - [`resample`]: capture rates to 16 kHz, once, with rubato.
//! - [`listen`]: the stage itself, frames in and [`TranscriptEvent`]s out,
//!   synchronous ([`Listener`]) or on its own thread ([`listen::spawn`]).
//!
//! [`TranscriptEvent`]: assistant_core::TranscriptEvent

pub mod listen;
mod onnx_meta;
pub mod resample;
mod sherpa;

pub use listen::{ListenConfig, ListenStats, Listener};
pub use sherpa::{
    Decoding, Endpointing, Hotwords, Hypothesis, ModelInfo, Recognizer, RecognizerConfig, SpeechSegment, Stream,
    TransducerFiles, Vad, VadConfig, inspect_transducer, library_version, onnxruntime_version,
};

use std::path::PathBuf;

use thiserror::Error;

/// Why the listening stage could not start or continue.
#[derive(Debug, Error)]
pub enum AsrError {
    /// A model file named in the configuration does not exist.
    #[error(
        "{what} model {path} does not exist; install it with `assistantd models fetch` or fix the path in the profile"
    )]
    ModelMissing {
        /// Which model ("VAD", "encoder", …).
        what: &'static str,
        /// The configured path.
        path: PathBuf,
    },
    /// sherpa-onnx refused to create an object from this configuration.
    #[error("sherpa-onnx could not create the {what} from {path}: {hint}")]
    CreateFailed {
        /// What was being created.
        what: &'static str,
        /// The model file it was given.
        path: PathBuf,
        /// The likely cause and the fix.
        hint: &'static str,
    },
    /// A model file exists but is not what the configuration says it is.
    #[error("the {what} file {path} cannot be used: {reason}")]
    ModelInvalid {
        /// Which file ("encoder", "tokens", …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong and, where known, the fix.
        reason: String,
    },
    /// Audio that cannot be recognized.
    #[error("bad audio for the recognizer: {reason}")]
    BadAudio {
        /// What is wrong with it.
        reason: String,
    },
    /// The stage's thread could not run.
    #[error("the listening stage failed: {0}")]
    Stage(String),
    /// A configuration value is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The configuration field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
