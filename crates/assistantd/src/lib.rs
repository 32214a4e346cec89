//! The assistantd daemon: the one crate that wires the stages together.
//!
//! The stage crates (`assistant-asr`, `assistant-llm`, `assistant-tts`,
//! `assistant-trace`, `assistant-audio`) never depend on each other; this
//! crate connects them with bounded channels, reads configuration files and
//! the environment, owns process-wide native set-up ([`native`]) and
//! implements the command line. The `assistantd` binary is a launcher that
//! checks the native libraries before running `assistantd-engine`.

pub mod ask;
pub mod bench;
pub mod bench_llm;
pub mod doctor;
pub mod models;
pub mod native;
pub mod phonemize;
pub mod profile;
pub mod run;
pub mod say;
pub mod shipped;
pub mod think;
pub mod trace;
pub mod transcribe;
pub mod voices;
