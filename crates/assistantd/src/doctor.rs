//! `assistantd doctor`: is this machine ready to run this profile?
//!
//! Most failures of a voice assistant are set-up: a native library that
//! does not load, a model that was never fetched or is damaged, a
//! microphone name that matches nothing, a model server that is stopped or
//! lacks the model. The daemon finds each of these only when it reaches
//! them; `doctor` looks for all of them at once, without starting anything,
//! and prints one line per check: what it found, or what is wrong and the
//! command or setting that fixes it. A check that fails does not stop the
//! others.
//!
//! What is checked, in order:
//!
//! - `sherpa-onnx`, `onnxruntime`, `espeak-ng`: every native boundary the
//!   daemon crosses, for real (the ONNX Runtime sherpa-onnx mapped is the
//!   one `ort` uses; espeak-ng phonemizes a sentence from its data folder).
//! - `vad (sherpa-onnx)`, `vad (ort)`: with `--vad-model` (and `--wav`),
//!   a Silero VAD through both engines.
//! - `models`, `licences`: every file models.lock pins that is installed
//!   is intact, and which pinned models forbid commercial use.
//! - `profile`: the profile (`--profile`, default `jarvis`) parses.
//! - `model <name>`: each file the profile uses (models.lock's `profiles`
//!   keys, as `assistantd models list --profile` shows them): verified
//!   against its pinned size and sha256 (the digest cached by size and
//!   mtime, as at start-up), missing, or corrupt (both digests named).
//! - `input device`, `output device`: the profile's `[audio]` devices (or
//!   the system defaults) are there and report a format. No stream is
//!   opened, so the check is safe while something else uses them.
//! - `llm server`: the profile's `[llm]` server answers and has the model,
//!   with short timeouts (a stopped server fails in well under ten seconds,
//!   whatever the profile's own timeouts are).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assistant_audio::devices::{self, Direction, Missing};
use assistant_models::{Lock, Status, Store};
use serde::Serialize;

use crate::profile::Profile;

/// The longest `doctor` waits for the model server to accept a connection.
const LLM_CONNECT: Duration = Duration::from_secs(2);
/// The longest `doctor` waits for the model server to answer a request.
const LLM_ANSWER: Duration = Duration::from_secs(3);

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
    /// The profile (a name or a path, as [`Profile::load`] takes it) whose
    /// models, devices and model server to check; `None`: none of those.
    pub profile: Option<String>,
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
    let mut opened = None;
    if let Some(at) = &options.models {
        match at.open() {
            Ok((lock, store)) => {
                check("models", &mut || installed_models(&lock, &store));
                check("licences", &mut || Ok(licences(&lock, &store)));
                opened = Some((lock, store));
            }
            Err(e) => check("models", &mut || Err(format!("{e:#}"))),
        }
    }
    let Some(wanted) = &options.profile else {
        return checks;
    };
    let mut loaded = None;
    check("profile", &mut || {
        let profile = Profile::load(wanted).map_err(|e| format!("{e:#}"))?;
        let detail = format!("{} from {}", profile.name(), profile.path.display());
        loaded = Some(profile);
        Ok(detail)
    });
    let Some(profile) = loaded else {
        return checks;
    };
    if let Some((lock, store)) = &opened {
        match crate::models::models_of(lock, &profile) {
            Ok(entries) => {
                for entry in entries {
                    check(&format!("model {}", entry.name), &mut || {
                        model_status(store, entry, wanted)
                    });
                }
            }
            Err(e) => check("profile models", &mut || {
                Err(format!(
                    "{e:#}; name models that models.lock pins (`assistantd models list` shows them)"
                ))
            }),
        }
    }
    check("input device", &mut || device(&profile, Direction::Input));
    check("output device", &mut || device(&profile, Direction::Output));
    check("llm", &mut || llm(&profile, opened.as_ref()));
    checks
}

/// One model file of the profile: verified (with the start of its digest),
/// missing, or corrupt, each with the command that installs it.
fn model_status(store: &Store, entry: &assistant_models::ModelEntry, profile: &str) -> Result<String, String> {
    match store.status(entry) {
        Status::Verified { size } => {
            let digest = store.expected_digest(entry).unwrap_or_default();
            Ok(format!(
                "verified: sha256 {}… as models.lock pins, {:.1} MB at {}",
                digest.get(..12).unwrap_or(&digest),
                size as f64 / 1e6,
                store.path(entry).display()
            ))
        }
        Status::Missing => Err(format!(
            "missing: not installed at {}; run `assistantd models fetch --profile {profile}`",
            store.path(entry).display()
        )),
        Status::Corrupt(e) => Err(format!("corrupt: {e}")),
    }
}

/// The profile's `[audio]` device of `direction` (or the default): there,
/// and able to say its format.
fn device(profile: &Profile, direction: Direction) -> Result<String, String> {
    let (key, setting) = match direction {
        Direction::Input => ("input_device", profile.audio.input_device.as_deref()),
        Direction::Output => ("output_device", profile.audio.output_device.as_deref()),
    };
    let file = profile.path.display();
    let server_hint = "no audio server or device: is PulseAudio or PipeWire running?";
    match devices::locate(direction, setting) {
        Ok(found) => {
            let chosen = match setting {
                Some(name) => format!("[audio] {key} = {name:?}"),
                None if found.device.is_default => "the system default".to_owned(),
                None => "the sound system's default".to_owned(),
            };
            let via = if found.host.eq_ignore_ascii_case("alsa") {
                " through ALSA (no PulseAudio or PipeWire server answered)".to_owned()
            } else {
                format!(" through {}", found.host)
            };
            Ok(format!(
                "'{}' ({}), {chosen}: {} Hz, {} channel(s){via}",
                found.device.name, found.device.id, found.sample_rate, found.channels
            ))
        }
        Err(Missing::NotFound { name, available, .. }) => Err(format!(
            "no {direction} device '{name}' (available: {available}); set [audio] {key} in {file} to one of `assistantd devices`, or leave it out for the default"
        )),
        Err(Missing::NoDefault { available, .. }) if available == "none" => {
            Err(format!("no {direction} device at all: {server_hint}"))
        }
        Err(Missing::NoDefault { available, .. }) => Err(format!(
            "no default {direction} device (available: {available}); set [audio] {key} in {file} to one of `assistantd devices`"
        )),
        Err(e @ Missing::Unusable { .. }) => Err(format!(
            "{e}: no audio server or device? is PulseAudio or PipeWire running, and is the device plugged in and not held by another program? (`assistantd devices` lists them)"
        )),
        Err(e @ Missing::Unavailable { .. }) => Err(format!("{e}: {server_hint}")),
    }
}

/// The profile's thinking stage: a model server that answers and has the
/// model, or the embedded model loaded (load time, resident memory), or
/// for `auto` whichever it picks and why. The profile's timeouts are capped
/// (doctor must not hang on a stopped or unreachable server) and nothing
/// is retried.
fn llm(profile: &Profile, models: Option<&(Lock, Store)>) -> Result<String, String> {
    use assistant_llm::Backend;
    let Some((lock, store)) = models else {
        return Err("cannot tell where the models are (see the models check)".into());
    };
    let mut think = profile
        .think_config(&crate::profile::LlmOverrides::default(), lock, store)
        .map_err(|e| format!("{e:#}"))?;
    think.server.timeouts.connect = think.server.timeouts.connect.min(LLM_CONNECT);
    think.server.timeouts.first_token = think.server.timeouts.first_token.min(LLM_ANSWER);
    think.server.retry.attempts = 1;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let chosen = crate::think::connect(&think).await.map_err(|e| format!("{e:#}"))?;
        let client = chosen.client;
        if client.config().backend == Backend::Embedded {
            client.warm_up().await.map_err(|e| e.to_string())?;
            let info = client
                .model_info()
                .map_or_else(|| client.endpoint().to_string(), |info| info.to_string());
            return Ok(if think.fallback.is_some() {
                format!("{}: {info}", chosen.why)
            } else {
                format!("embedded model {info}")
            });
        }
        server_answers(&client).await
    })
}

/// A model server answers and has the model.
async fn server_answers(client: &assistant_llm::Client) -> Result<String, String> {
    use assistant_llm::{Backend, LlmError};
    let backend = client.config().backend;
    let model = client.config().model.clone();
    let version = client.version().await.map_err(|e| e.to_string())?;
    let at = client.endpoint();
    let server = match version {
        Some(v) => format!("{} {v} at {}", backend.label(), at.url),
        None => format!("{at}"),
    };
    match client.list_models().await {
        Err(LlmError::Http { status: 404, .. }) if backend == Backend::OpenAi => {
            return Ok(format!(
                "{server} answers, but cannot list its models (GET /v1/models is 404), so model '{model}' is not checked"
            ));
        }
        Err(e) => return Err(e.to_string()),
        Ok(_) => {}
    }
    client.check_model().await.map_err(|e| e.to_string())?;
    Ok(format!("{server} answers and has model '{model}'"))
}

/// How many pinned files are installed and verified; an error naming every
/// installed file that is damaged (missing ones are not errors: a profile
/// needs only some).
fn installed_models(lock: &Lock, store: &Store) -> Result<String, String> {
    let mut verified = 0;
    let mut corrupt = Vec::new();
    for entry in &lock.models {
        match store.status(entry) {
            Status::Verified { .. } => verified += 1,
            Status::Corrupt(e) => corrupt.push(e.to_string()),
            Status::Missing => {}
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
fn licences(lock: &Lock, store: &Store) -> String {
    let restricted: Vec<String> = lock
        .models
        .iter()
        .filter(|m| m.non_commercial)
        .map(|m| {
            let installed = matches!(store.status(m), Status::Verified { .. });
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
