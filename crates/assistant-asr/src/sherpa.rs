//! Every use of the sherpa-onnx library in assistantd.
//!
//! The `sherpa-onnx` crate owns the raw pointers (RAII, one `Drop` each); this
//! module adds what it lacks: paths checked before the C library sees them,
//! `Option`s turned into errors that say what to fix, and configuration
//! validated in Rust rather than by a C++ `exit()`.

use std::path::{Path, PathBuf};

use assistant_core::audio::ASR_SAMPLE_RATE;

use crate::AsrError;

/// The version of the sherpa-onnx C library this process loaded.
#[must_use]
pub fn library_version() -> &'static str {
    sherpa_onnx::version()
}

/// The ONNX Runtime version sherpa-onnx was built against (and, because the
/// runtime is the one in the same wheel, the one it loaded).
#[must_use]
pub fn onnxruntime_version() -> &'static str {
    sherpa_onnx::onnxruntime_version()
}

/// Settings of the Silero voice-activity detector.
#[derive(Clone, Debug, PartialEq)]
pub struct VadConfig {
    /// The Silero VAD ONNX model (v4 or v5).
    pub model: PathBuf,
    /// Speech probability above which a window counts as speech.
    pub threshold: f32,
    /// Silence that ends a speech segment, in seconds.
    pub min_silence_s: f32,
    /// Shortest speech kept as a segment, in seconds.
    pub min_speech_s: f32,
    /// Longest segment before it is split, in seconds.
    pub max_speech_s: f32,
    /// Threads ONNX Runtime may use for the model.
    pub num_threads: i32,
}

impl VadConfig {
    /// Defaults tuned for conversational speech with `model`.
    #[must_use]
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            threshold: 0.5,
            min_silence_s: 0.25,
            min_speech_s: 0.25,
            max_speech_s: 20.0,
            num_threads: 1,
        }
    }

    fn validate(&self) -> Result<(), AsrError> {
        let invalid = |field, reason: String| Err(AsrError::InvalidConfig { field, reason });
        if !(0.0..1.0).contains(&self.threshold) {
            return invalid("vad.threshold", format!("{} is not in [0, 1)", self.threshold));
        }
        for (field, v) in [
            ("vad.min_silence_s", self.min_silence_s),
            ("vad.min_speech_s", self.min_speech_s),
            ("vad.max_speech_s", self.max_speech_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return invalid(field, format!("{v} is not a positive number of seconds"));
            }
        }
        if self.num_threads < 1 {
            return invalid("vad.num_threads", format!("{} is less than 1", self.num_threads));
        }
        Ok(())
    }
}

/// A stretch of detected speech.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeechSegment {
    /// Index of the first sample, counted from the first sample ever fed.
    pub start_sample: u64,
    /// The speech, 16 kHz mono.
    pub samples: Vec<f32>,
}

/// Silero voice-activity detection on 16 kHz mono audio.
pub struct Vad {
    inner: sherpa_onnx::VoiceActivityDetector,
    model: PathBuf,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Vad {
    /// Loads the model and prepares a detector.
    ///
    /// # Errors
    /// [`AsrError::ModelMissing`] if the model file does not exist,
    /// [`AsrError::InvalidConfig`] for out-of-range settings, and
    /// [`AsrError::CreateFailed`] if sherpa-onnx cannot load the file (not a
    /// Silero VAD model, or damaged).
    pub fn new(config: &VadConfig) -> Result<Self, AsrError> {
        config.validate()?;
        let model = existing_file("VAD", &config.model)?;
        let native = sherpa_onnx::VadModelConfig {
            silero_vad: sherpa_onnx::SileroVadModelConfig {
                model: Some(model.to_string_lossy().into_owned()),
                threshold: config.threshold,
                min_silence_duration: config.min_silence_s,
                min_speech_duration: config.min_speech_s,
                window_size: 512,
                max_speech_duration: config.max_speech_s,
            },
            sample_rate: ASR_SAMPLE_RATE as i32,
            num_threads: config.num_threads,
            provider: Some("cpu".into()),
            debug: false,
            ..Default::default()
        };
        let inner =
            sherpa_onnx::VoiceActivityDetector::create(&native, 30.0).ok_or_else(|| AsrError::CreateFailed {
                what: "Silero voice-activity detector",
                path: model.clone(),
                hint: "the file is not a Silero VAD ONNX model or is damaged; check it with `assistantd models verify`",
            })?;
        Ok(Self { inner, model })
    }

    /// Feeds 16 kHz mono samples; returns the segments that ended.
    pub fn accept(&mut self, samples: &[f32]) -> Vec<SpeechSegment> {
        self.inner.accept_waveform(samples);
        self.drain()
    }

    /// Whether the detector is inside speech right now.
    #[must_use]
    pub fn is_speech(&self) -> bool {
        self.inner.detected()
    }

    /// Ends the stream: returns any segment still open.
    pub fn finish(&mut self) -> Vec<SpeechSegment> {
        self.inner.flush();
        self.drain()
    }

    fn drain(&mut self) -> Vec<SpeechSegment> {
        let mut out = Vec::new();
        while let Some(segment) = self.inner.front() {
            out.push(SpeechSegment {
                start_sample: u64::try_from(segment.start()).unwrap_or(0),
                samples: segment.samples().to_vec(),
            });
            self.inner.pop();
        }
        out
    }
}

fn existing_file(what: &'static str, path: &Path) -> Result<PathBuf, AsrError> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(AsrError::ModelMissing {
            what,
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_name_their_field() {
        let mut c = VadConfig::new("/x");
        c.threshold = 1.5;
        let e = c.validate().expect_err("threshold");
        assert!(e.to_string().contains("vad.threshold"), "{e}");
        let mut c = VadConfig::new("/x");
        c.min_silence_s = f32::NAN;
        assert!(c.validate().expect_err("nan").to_string().contains("vad.min_silence_s"));
        let mut c = VadConfig::new("/x");
        c.num_threads = 0;
        assert!(
            c.validate()
                .expect_err("threads")
                .to_string()
                .contains("vad.num_threads")
        );
    }

    #[test]
    fn a_missing_model_is_named_before_sherpa_sees_it() {
        let err = Vad::new(&VadConfig::new("/nonexistent/silero_vad.onnx")).expect_err("missing");
        assert!(matches!(err, AsrError::ModelMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/silero_vad.onnx"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_model_is_refused_not_fatal() {
        let dir = std::env::temp_dir().join(format!("assistant-asr-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tempdir");
        let bogus = dir.join("not_a_model.onnx");
        std::fs::write(&bogus, b"definitely not protobuf").expect("write");
        let err = Vad::new(&VadConfig::new(&bogus)).expect_err("bogus model");
        assert!(matches!(err, AsrError::CreateFailed { .. }), "{err:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
