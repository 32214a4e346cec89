//! `assistantd doctor`: proves the native stack works on this machine.
//!
//! It crosses every native boundary the daemon depends on (sherpa-onnx,
//! ONNX Runtime through `ort`, espeak-ng) and, given a Silero VAD model and a
//! WAV file, runs real inference through both engines. It checks the
//! installed models against models.lock (by the store's digest cache) and
//! names the models whose licence forbids commercial use. Each check reports
//! what it found or the error that names the fix.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

/// What to check beyond the libraries themselves.
#[derive(Clone, Debug, Default)]
pub struct DoctorOptions {
    /// A Silero VAD model (v4 or v5) to load through sherpa-onnx and ort.
    pub vad_model: Option<PathBuf>,
    /// A WAV file to run the VAD over.
    pub wav: Option<PathBuf>,
    /// The espeak-ng voice to phonemize with.
    pub espeak_voice: String,
    /// The sentence to phonemize.
    pub sentence: String,
    /// Where models.lock and the store are: checks the installed models.
    pub models: Option<crate::models::Locations>,
}

/// The outcome of one check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it worked.
    pub ok: bool,
    /// What was found, or the error.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub millis: f64,
}

/// Runs every check, in order; later checks still run when one fails.
#[must_use]
pub fn run(options: &DoctorOptions) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut check = |name: &str, f: &mut dyn FnMut() -> Result<String, String>| {
        let start = Instant::now();
        let result = f();
        checks.push(Check {
            name: name.to_owned(),
            ok: result.is_ok(),
            detail: result.unwrap_or_else(|e| e),
            millis: start.elapsed().as_secs_f64() * 1e3,
        });
    };

    check("sherpa-onnx", &mut || {
        Ok(format!(
            "C API {} (built with ONNX Runtime {})",
            assistant_asr::library_version(),
            assistant_asr::onnxruntime_version()
        ))
    });
    check("onnxruntime", &mut || {
        let runtime = crate::native::init_onnxruntime().map_err(|e| e.to_string())?;
        let loaded = crate::native::loaded_onnxruntimes();
        Ok(format!(
            "ONNX Runtime {} from {} ({} copy mapped in this process, shared with sherpa-onnx)",
            runtime.version(),
            runtime.library().display(),
            loaded.len(),
        ))
    });
    check("espeak-ng", &mut || {
        let mut espeak = assistant_tts::espeak::Espeak::lock().map_err(|e| e.to_string())?;
        espeak.set_voice(&options.espeak_voice).map_err(|e| e.to_string())?;
        let clauses = espeak.clauses(&options.sentence).map_err(|e| e.to_string())?;
        let ipa: Vec<String> = clauses.into_iter().map(|c| c.phonemes).collect();
        Ok(format!(
            "espeak-ng {} with {} [{}]: {:?} -> {}",
            espeak.version(),
            espeak.data_dir().display(),
            options.espeak_voice,
            options.sentence,
            ipa.join(" | ")
        ))
    });
    if let Some(model) = &options.vad_model {
        check("vad (sherpa-onnx)", &mut || {
            vad_with_sherpa(model, options.wav.as_deref())
        });
        check("vad (ort)", &mut || vad_model_with_ort(model));
    }
    if let Some(at) = &options.models {
        match at.open() {
            Ok((lock, store)) => {
                check("models", &mut || installed_models(&lock, &store));
                check("licences", &mut || Ok(licences(&lock, &store)));
            }
            Err(e) => check("models", &mut || Err(format!("{e:#}"))),
        }
    }
    checks
}

/// How many pinned files are installed and verified; an error naming every
/// installed file that is damaged (missing ones are not errors: a profile
/// needs only some).
fn installed_models(lock: &assistant_models::Lock, store: &assistant_models::Store) -> Result<String, String> {
    let mut verified = 0;
    let mut corrupt = Vec::new();
    for entry in &lock.models {
        match store.status(entry) {
            assistant_models::Status::Verified { .. } => verified += 1,
            assistant_models::Status::Corrupt(e) => corrupt.push(e.to_string()),
            assistant_models::Status::Missing => {}
        }
    }
    if !corrupt.is_empty() {
        return Err(corrupt.join("; "));
    }
    Ok(format!(
        "{verified} of {} files pinned in {} installed and verified in {}; `assistantd models list` shows which",
        lock.models.len(),
        lock.path.display(),
        store.root().display()
    ))
}

/// The pinned models whose licence forbids commercial use, and whether each
/// is installed.
fn licences(lock: &assistant_models::Lock, store: &assistant_models::Store) -> String {
    let restricted: Vec<String> = lock
        .models
        .iter()
        .filter(|m| m.non_commercial)
        .map(|m| {
            let installed = matches!(store.status(m), assistant_models::Status::Verified { .. });
            format!(
                "{} ({}): {}",
                m.name,
                if installed { "installed" } else { "not installed" },
                m.license
            )
        })
        .collect();
    if restricted.is_empty() {
        "no pinned model has a non-commercial licence".to_owned()
    } else {
        format!("NON-COMMERCIAL use only: {}", restricted.join("; "))
    }
}

fn vad_with_sherpa(model: &Path, wav: Option<&Path>) -> Result<String, String> {
    let mut vad = assistant_asr::Vad::new(&assistant_asr::VadConfig::new(model)).map_err(|e| e.to_string())?;
    let Some(wav) = wav else {
        return Ok(format!("loaded {}", model.display()));
    };
    let pcm = assistant_audio::wav::read(wav).map_err(|e| e.to_string())?.into_mono();
    if pcm.sample_rate != assistant_core::audio::ASR_SAMPLE_RATE {
        return Err(format!(
            "{} is {} Hz; the VAD check needs 16 kHz audio",
            wav.display(),
            pcm.sample_rate
        ));
    }
    let mut segments = Vec::new();
    for frame in pcm
        .samples
        .chunks(assistant_core::audio::frame_samples(pcm.sample_rate))
    {
        segments.extend(vad.accept(frame));
    }
    segments.extend(vad.finish());
    let speech: usize = segments.iter().map(|s| s.samples.len()).sum();
    Ok(format!(
        "{} speech segment(s), {:.2} s of speech in {:.2} s of {}",
        segments.len(),
        speech as f64 / 16_000.0,
        pcm.samples.len() as f64 / 16_000.0,
        wav.display()
    ))
}

fn vad_model_with_ort(model: &Path) -> Result<String, String> {
    crate::native::init_onnxruntime().map_err(|e| e.to_string())?;
    let session = assistant_tts::onnx::Model::open(model, 1).map_err(|e| e.to_string())?;
    let ports = |ports: Vec<assistant_tts::onnx::Port>| {
        ports
            .into_iter()
            .map(|p| format!("{}: {}", p.name, p.kind))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(format!(
        "inputs [{}], outputs [{}]",
        ports(session.inputs()),
        ports(session.outputs())
    ))
}
