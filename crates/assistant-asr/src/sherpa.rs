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

/// The four files of a streaming transducer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransducerFiles {
    /// The encoder ONNX model.
    pub encoder: PathBuf,
    /// The decoder (prediction network) ONNX model.
    pub decoder: PathBuf,
    /// The joiner ONNX model.
    pub joiner: PathBuf,
    /// The symbol table (`<symbol> <id>` per line).
    pub tokens: PathBuf,
}

/// sherpa-onnx's three endpoint rules, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Endpointing {
    /// Rule 1: end after this much trailing silence even if nothing was
    /// recognized (clears false starts).
    pub silence_without_text_s: f32,
    /// Rule 2: end after this much trailing silence following recognized
    /// text: the main knob of how snappy the assistant feels.
    pub silence_after_text_s: f32,
    /// Rule 3: end an utterance that has lasted this long, whatever follows.
    pub max_utterance_s: f32,
}

impl Default for Endpointing {
    /// Tuned for a snappy assistant: 0.6 s of silence after words ends a
    /// turn (sherpa-onnx's own default is 1.2 s, which feels sluggish in
    /// conversation), 2.4 s clears a false start, 20 s caps a monologue.
    fn default() -> Self {
        Self {
            silence_without_text_s: 2.4,
            silence_after_text_s: 0.6,
            max_utterance_s: 20.0,
        }
    }
}

/// How the transducer searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// One hypothesis; the fastest.
    Greedy,
    /// Beam search over `max_active_paths` hypotheses; needed for hotwords.
    ModifiedBeam {
        /// The beam width.
        max_active_paths: i32,
    },
}

/// Contextual biasing: phrases the recognizer should favour.
#[derive(Clone, Debug, PartialEq)]
pub struct Hotwords {
    /// One phrase per line, optionally ending in ` :<boost>`. With
    /// `bpe_vocab`, plain words; without, words the tokens file holds as
    /// they are (sherpa-onnx's `cjkchar` unit, with `▁` a token of its own).
    pub file: PathBuf,
    /// How much to favour them (sherpa-onnx's `hotwords_score`, e.g. 1.5).
    pub score: f32,
    /// The model's `bpe.vocab`, so the file may hold plain words.
    pub bpe_vocab: Option<PathBuf>,
}

/// Everything needed to create a [`Recognizer`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecognizerConfig {
    /// The model files.
    pub model: TransducerFiles,
    /// Threads ONNX Runtime may use.
    pub num_threads: i32,
    /// Search method.
    pub decoding: Decoding,
    /// When an utterance ends.
    pub endpointing: Endpointing,
    /// Optional contextual biasing (requires [`Decoding::ModifiedBeam`]).
    pub hotwords: Option<Hotwords>,
}

impl RecognizerConfig {
    /// Greedy decoding with the default endpoint rules and one thread.
    #[must_use]
    pub fn new(model: TransducerFiles) -> Self {
        Self {
            model,
            num_threads: 1,
            decoding: Decoding::Greedy,
            endpointing: Endpointing::default(),
            hotwords: None,
        }
    }

    fn validate(&self) -> Result<(), AsrError> {
        let invalid = |field, reason: String| Err(AsrError::InvalidConfig { field, reason });
        let e = &self.endpointing;
        for (field, v) in [
            ("asr.endpoint.silence_without_text_s", e.silence_without_text_s),
            ("asr.endpoint.silence_after_text_s", e.silence_after_text_s),
            ("asr.endpoint.max_utterance_s", e.max_utterance_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return invalid(field, format!("{v} is not a positive number of seconds"));
            }
        }
        if self.num_threads < 1 {
            return invalid("asr.num_threads", format!("{} is less than 1", self.num_threads));
        }
        if let Decoding::ModifiedBeam { max_active_paths } = self.decoding
            && max_active_paths < 1
        {
            return invalid("asr.max_active_paths", format!("{max_active_paths} is less than 1"));
        }
        if let Some(h) = &self.hotwords {
            if self.decoding == Decoding::Greedy {
                return invalid(
                    "asr.hotwords",
                    "hotwords need decoding = \"modified_beam_search\" (greedy search ignores them)".into(),
                );
            }
            if !(h.score.is_finite() && h.score > 0.0) {
                return invalid("asr.hotwords_score", format!("{} is not a positive number", h.score));
            }
        }
        Ok(())
    }
}

/// What the model files say about the model, checked before sherpa-onnx
/// sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// The encoder's `model_type` (`lstm`, `zipformer2`, …).
    pub model_type: String,
    /// Number of symbols, blank included.
    pub vocab_size: u64,
    /// The tokens, by id.
    pub symbols: Vec<String>,
}

/// Encoder architectures sherpa-onnx 2.0.1 loads as online transducers.
const MODEL_TYPES: [&str; 5] = ["conformer", "lstm", "zipformer", "zipformer2", "ebranchformer"];

/// Checks the four files against each other: each is an ONNX model with the
/// metadata sherpa-onnx reads, and the tokens file has exactly the decoder's
/// vocabulary with ids 0..n.
///
/// # Errors
/// [`AsrError::ModelMissing`] or [`AsrError::ModelInvalid`] naming the file.
pub fn inspect_transducer(files: &TransducerFiles) -> Result<ModelInfo, AsrError> {
    let encoder = existing_file("encoder", &files.encoder)?;
    let decoder = existing_file("decoder", &files.decoder)?;
    let joiner = existing_file("joiner", &files.joiner)?;
    let tokens = existing_file("tokens", &files.tokens)?;
    let invalid = |what: &'static str, path: &Path, reason: String| AsrError::ModelInvalid {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let meta = |what, path: &Path| {
        crate::onnx_meta::read(path).map_err(|e| invalid(what, path, format!("not an ONNX model: {e}")))
    };
    let enc = meta("encoder", &encoder)?;
    let dec = meta("decoder", &decoder)?;
    meta("joiner", &joiner)?;

    let model_type = enc.props.get("model_type").cloned().unwrap_or_default();
    if !MODEL_TYPES.contains(&model_type.as_str()) {
        return Err(invalid(
            "encoder",
            &encoder,
            format!(
                "its metadata model_type is {model_type:?}; sherpa-onnx streams only {} transducers (is this an offline or non-transducer model?)",
                MODEL_TYPES.join(", ")
            ),
        ));
    }
    if model_type == "lstm" {
        for key in [
            "num_encoder_layers",
            "T",
            "decode_chunk_len",
            "rnn_hidden_size",
            "d_model",
        ] {
            if enc.positive(key).is_none() {
                return Err(invalid(
                    "encoder",
                    &encoder,
                    format!("an lstm encoder needs a positive integer {key} in its metadata"),
                ));
            }
        }
    }
    let need = |key: &str| {
        dec.positive(key).ok_or_else(|| {
            invalid(
                "decoder",
                &decoder,
                format!("its metadata has no positive integer {key}; is it a transducer decoder?"),
            )
        })
    };
    let vocab_size = need("vocab_size")?;
    need("context_size")?;

    let symbols = read_tokens(&tokens).map_err(|reason| invalid("tokens", &tokens, reason))?;
    if symbols.len() as u64 != vocab_size {
        return Err(invalid(
            "tokens",
            &tokens,
            format!(
                "it has {} symbols but the decoder {} has a vocabulary of {vocab_size}: the tokens file belongs to another model",
                symbols.len(),
                decoder.display()
            ),
        ));
    }
    Ok(ModelInfo {
        model_type,
        vocab_size,
        symbols,
    })
}

/// Parses a sherpa-onnx tokens file: `<symbol> <id>` per line, ids 0..n
/// each exactly once (a line with only an id is the space symbol).
fn read_tokens(path: &Path) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let mut by_id: Vec<Option<String>> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (symbol, id) = match line.trim_end().rsplit_once(char::is_whitespace) {
            Some((symbol, id)) => (symbol.trim(), id),
            None => (" ", line.trim()),
        };
        let id: usize = id
            .parse()
            .map_err(|_| format!("line {}: {line:?} is not `<symbol> <id>`", index + 1))?;
        if id >= 1 << 20 {
            return Err(format!("line {}: id {id} is implausibly large", index + 1));
        }
        if by_id.len() <= id {
            by_id.resize(id + 1, None);
        }
        if by_id[id].replace(symbol.to_owned()).is_some() {
            return Err(format!("line {}: id {id} appears twice", index + 1));
        }
    }
    if by_id.is_empty() {
        return Err("it has no symbols".into());
    }
    by_id
        .into_iter()
        .enumerate()
        .map(|(id, s)| s.ok_or_else(|| format!("id {id} is missing")))
        .collect()
}

/// Checks a hotwords file: every token must be in the model's vocabulary
/// (sherpa-onnx would silently drop the phrase otherwise).
fn check_hotwords(hotwords: &Hotwords, info: &ModelInfo) -> Result<(), AsrError> {
    let path = existing_file("hotwords", &hotwords.file)?;
    if let Some(bpe) = &hotwords.bpe_vocab {
        existing_file("bpe vocabulary", bpe)?;
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| AsrError::ModelInvalid {
        what: "hotwords",
        path: path.clone(),
        reason: e.to_string(),
    })?;
    for (index, line) in text.lines().enumerate() {
        if let Some(piece) = unknown_hotword_piece(line, &info.symbols) {
            return Err(AsrError::ModelInvalid {
                what: "hotwords",
                path: path.clone(),
                reason: format!(
                    "line {}: {piece:?} is not a token of this model, so sherpa-onnx would drop the phrase; \
                     for a BPE model set the model's bpe.vocab (asr.bpe_vocab) and write plain words",
                    index + 1
                ),
            });
        }
    }
    Ok(())
}

/// The first piece of a hotwords line that the model's tokens cannot
/// express, splitting words the way sherpa-onnx 2.0.1 does without a BPE
/// vocabulary (modeling unit `cjkchar`): `▁` is a piece of its own, a word
/// is looked up whole, and a trailing `:<boost>` is not a word.
fn unknown_hotword_piece<'a>(line: &'a str, symbols: &[String]) -> Option<&'a str> {
    line.split_whitespace()
        .filter(|word| !word.starts_with(':'))
        .flat_map(|word| {
            word.split_inclusive('\u{2581}')
                .flat_map(|part| match part.strip_suffix('\u{2581}') {
                    Some(rest) => [rest, &part[rest.len()..]],
                    None => [part, ""],
                })
        })
        .filter(|piece| !piece.is_empty())
        .find(|piece| !symbols.iter().any(|s| s == piece))
}

/// A streaming transducer recognizer with endpointing.
pub struct Recognizer {
    inner: sherpa_onnx::OnlineRecognizer,
    info: ModelInfo,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("model_type", &self.info.model_type)
            .field("vocab_size", &self.info.vocab_size)
            .finish_non_exhaustive()
    }
}

impl Recognizer {
    /// Checks the files ([`inspect_transducer`]) and creates the recognizer.
    ///
    /// # Errors
    /// [`AsrError::InvalidConfig`] naming the setting, [`AsrError::ModelMissing`]
    /// or [`AsrError::ModelInvalid`] naming the file, or
    /// [`AsrError::CreateFailed`] if sherpa-onnx still refuses.
    pub fn new(config: &RecognizerConfig) -> Result<Self, AsrError> {
        config.validate()?;
        let info = inspect_transducer(&config.model)?;
        if let Some(h) = &config.hotwords {
            check_hotwords(h, &info)?;
        }
        let path = |p: &Path| Some(p.to_string_lossy().into_owned());
        let m = &config.model;
        let (method, paths) = match config.decoding {
            Decoding::Greedy => ("greedy_search", 4),
            Decoding::ModifiedBeam { max_active_paths } => ("modified_beam_search", max_active_paths),
        };
        let native = sherpa_onnx::OnlineRecognizerConfig {
            model_config: sherpa_onnx::OnlineModelConfig {
                transducer: sherpa_onnx::OnlineTransducerModelConfig {
                    encoder: path(&m.encoder),
                    decoder: path(&m.decoder),
                    joiner: path(&m.joiner),
                },
                tokens: path(&m.tokens),
                num_threads: config.num_threads,
                modeling_unit: config
                    .hotwords
                    .as_ref()
                    .and_then(|h| h.bpe_vocab.as_ref())
                    .map(|_| "bpe".to_owned()),
                bpe_vocab: config
                    .hotwords
                    .as_ref()
                    .and_then(|h| h.bpe_vocab.as_deref())
                    .and_then(path),
                ..Default::default()
            },
            decoding_method: Some(method.into()),
            max_active_paths: paths,
            enable_endpoint: true,
            rule1_min_trailing_silence: config.endpointing.silence_without_text_s,
            rule2_min_trailing_silence: config.endpointing.silence_after_text_s,
            rule3_min_utterance_length: config.endpointing.max_utterance_s,
            hotwords_file: config.hotwords.as_ref().and_then(|h| path(&h.file)),
            hotwords_score: config.hotwords.as_ref().map_or(0.0, |h| h.score),
            ..Default::default()
        };
        let inner = sherpa_onnx::OnlineRecognizer::create(&native).ok_or_else(|| AsrError::CreateFailed {
            what: "streaming recognizer",
            path: m.encoder.clone(),
            hint: "the files passed the checks but sherpa-onnx refused them; run with RUST_LOG=debug and see its log on stderr",
        })?;
        Ok(Self { inner, info })
    }

    /// What the model files declared.
    #[must_use]
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// A new utterance stream. It borrows the recognizer, so it can never
    /// outlive it.
    #[must_use]
    pub fn stream(&self) -> Stream<'_> {
        Stream {
            recognizer: self,
            inner: self.inner.create_stream(),
        }
    }
}

/// The current hypothesis of a [`Stream`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hypothesis {
    /// The text, without leading or trailing spaces.
    pub text: String,
    /// Number of tokens.
    pub tokens: usize,
    /// When the last token was emitted, in seconds of audio since the
    /// stream began (sherpa-onnx's segment start plus the token's time).
    pub last_token_s: Option<f32>,
}

/// One audio stream being recognized.
pub struct Stream<'r> {
    recognizer: &'r Recognizer,
    inner: sherpa_onnx::OnlineStream,
}

impl std::fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").finish_non_exhaustive()
    }
}

impl Stream<'_> {
    /// Feeds 16 kHz mono samples in `[-1, 1]`.
    ///
    /// # Errors
    /// [`AsrError::BadAudio`] if a sample is NaN or infinite (nothing is fed).
    pub fn accept(&mut self, samples: &[f32]) -> Result<(), AsrError> {
        if let Some(index) = samples.iter().position(|s| !s.is_finite()) {
            return Err(AsrError::BadAudio {
                reason: format!(
                    "sample {index} of a {}-sample block is {}",
                    samples.len(),
                    samples[index]
                ),
            });
        }
        if !samples.is_empty() {
            self.inner.accept_waveform(ASR_SAMPLE_RATE as i32, samples);
        }
        Ok(())
    }

    /// Runs every decode step the buffered audio allows; returns how many ran.
    pub fn decode(&mut self) -> usize {
        let mut steps = 0;
        while self.recognizer.inner.is_ready(&self.inner) {
            self.recognizer.inner.decode(&self.inner);
            steps += 1;
        }
        steps
    }

    /// The current hypothesis.
    #[must_use]
    pub fn hypothesis(&self) -> Hypothesis {
        let Some(result) = self.recognizer.inner.get_result(&self.inner) else {
            return Hypothesis::default();
        };
        Hypothesis {
            text: result.text.trim().to_owned(),
            tokens: result.tokens.len(),
            last_token_s: result
                .timestamps
                .as_ref()
                .and_then(|t| t.last().copied())
                .map(|t| t + result.start_time.unwrap_or(0.0)),
        }
    }

    /// Whether the endpoint rules say the utterance has ended.
    #[must_use]
    pub fn is_endpoint(&self) -> bool {
        self.recognizer.inner.is_endpoint(&self.inner)
    }

    /// Starts the next utterance (after an endpoint).
    pub fn reset(&mut self) {
        self.recognizer.inner.reset(&self.inner);
    }

    /// Says no more audio will come, so the last partial chunk is decoded.
    pub fn finish_input(&mut self) {
        self.inner.input_finished();
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
    fn hotword_lines_split_like_sherpa_onnx() {
        let symbols: Vec<String> = ["<blk>", "\u{2581}", "hello", "stop", "\u{2581}one"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(unknown_hotword_piece("hello stop :2.5", &symbols), None);
        assert_eq!(unknown_hotword_piece("\u{2581}hello \u{2581}stop", &symbols), None);
        assert_eq!(unknown_hotword_piece("\u{2581}one", &symbols), Some("one"));
        assert_eq!(unknown_hotword_piece("hello jarvis", &symbols), Some("jarvis"));
    }

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
