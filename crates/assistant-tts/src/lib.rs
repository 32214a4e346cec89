//! The speaking stage of assistantd.
//!
//! Text goes in; audio comes out, sentence by sentence, sounding the way a
//! Piper voice was trained to sound. That takes two native libraries, each
//! confined to one module here:
//!
//! - [`espeak`]: `libespeak-ng`, which turns text into IPA phonemes. It is
//!   the very build Piper's phonemizer uses (rhasspy's fork, from the PyPI
//!   wheel `piper-phonemize` 1.1.0, with its data), because Debian's 1.51
//!   phonemizes some text differently and a voice sounds right only on the
//!   phonemes it was trained on.
//! - [`onnx`]: ONNX Runtime through `ort`, loaded at run time from the very
//!   `libonnxruntime.so` that sherpa-onnx uses, so the process holds one
//!   runtime, not two.
//!
//! On top of them, pure Rust: [`phonemize`] applies Piper's clause and
//! punctuation rules and builds phoneme ids, [`voice`] reads a voice's
//! `.onnx.json`, and [`synth`] runs the voice one sentence at a time, handing
//! each sentence over as soon as it exists so playback can start early and
//! barge-in can stop the rest.
//!
//! [`stream`] is the stage itself: a [`Synthesizer`] owns a voice on its own
//! thread (inference never runs on the async runtime) and turns each
//! `synthesize(turn, text, cancel)` job into a [`Synthesis`], a bounded
//! stream of [`assistant_core::SpeechChunk`]s, one per sentence, readable
//! from async code or from a plain thread. Cancelling the turn's token
//! (barge-in) or dropping the `Synthesis` stops the job at once, the model
//! run in progress included (ONNX Runtime's terminate flag); the rest of
//! the text is never run through the model.
//!
//! ```no_run
//! # async fn reply(voice: assistant_tts::synth::Voice) -> Result<(), assistant_tts::TtsError> {
//! use assistant_core::{Clock, TurnId};
//! use assistant_tts::Synthesizer;
//! use assistant_tts::synth::SynthesisOptions;
//! use tokio_util::sync::CancellationToken;
//!
//! let synthesizer = Synthesizer::spawn(voice, SynthesisOptions::default(), Clock::start())?;
//! let turn = CancellationToken::new();
//! let mut speech = synthesizer.synthesize(TurnId(1), "Hello. How can I help?", turn.child_token());
//! while let Some(chunk) = speech.next().await {
//!     let chunk = chunk?; // one sentence, ready to play
//!     # let _ = chunk;
//! }
//! # Ok(()) }
//! ```

pub mod espeak;
pub mod onnx;
pub mod phonemize;
pub mod stream;
pub mod synth;
pub mod voice;

pub use stream::{Synthesis, Synthesizer};

use std::path::PathBuf;

use thiserror::Error;

/// Why the speaking stage could not start or continue.
#[derive(Debug, Error)]
pub enum TtsError {
    /// espeak-ng could not start (its data folder is missing or unreadable).
    #[error("espeak-ng could not start: {reason}")]
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
    /// The model run was stopped from another thread (barge-in; see
    /// [`synth::Voice::interrupt`]).
    #[error("synthesis was interrupted")]
    Interrupted,
    /// A speaker the voice does not have.
    #[error("the voice has no speaker {speaker}; its speakers are {known:?}")]
    UnknownSpeaker {
        /// The speaker asked for.
        speaker: String,
        /// The names it knows.
        known: Vec<String>,
    },
    /// A synthesis setting is out of range.
    #[error("synthesis option {option}: {reason}")]
    InvalidOption {
        /// The setting (`length_scale`, `sentence_silence_s`, ...).
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The speaking stage's thread could not start, or has stopped.
    #[error("the speaking stage's thread {reason}")]
    Stage {
        /// What happened to it.
        reason: String,
    },
    /// ONNX Runtime has not been initialized yet.
    #[error("ONNX Runtime is not loaded; call assistant_tts::onnx::init first")]
    RuntimeNotLoaded,
}
