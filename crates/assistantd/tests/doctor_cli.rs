//! `assistantd doctor` as a user runs it, on a profile written for each
//! test (the shipped jarvis profile with some keys changed): a model store
//! that lacks the profile's models, a verified and then a corrupted model
//! (the real Silero VAD from the shared data), a model server that is
//! stopped, that never answers, that lacks the model and that has it (the
//! protocol-faithful fake Ollama), and devices on a private PulseAudio
//! server, named wrongly and rightly. Every assertion reads `--json`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use assistant_tests::fake_ollama::{FakeOllama, Script};
use assistant_tests::pulse::{self, Pulse};
use serde_json::Value;

/// One doctor run: its checks by line, and the process's output.
struct Run {
    checks: Vec<Value>,
    out: Output,
    took: Duration,
}

impl Run {
    /// The check called `name`.
    fn check(&self, name: &str) -> &Value {
        self.checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name:?} in {}", self.text()))
    }

    /// Whether the check called `name` passed, and what it said.
    fn result(&self, name: &str) -> (bool, String) {
        let check = self.check(name);
        let ok = check["ok"].as_bool().unwrap_or_else(|| panic!("{name}: no ok field"));
        (ok, check["detail"].as_str().unwrap_or_default().to_owned())
    }

    /// The `model …` checks.
    fn models(&self) -> Vec<&Value> {
        self.checks
            .iter()
            .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("model ")))
            .collect()
    }

    fn text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }
}

/// Runs `assistantd doctor --json --profile PROFILE --models-dir STORE`
/// with `env` on top of a clean environment for it.
fn doctor(profile: &Path, store: &Path, env: &[(&'static str, String)]) -> Run {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .arg("doctor")
        .arg("--json")
        .arg("--profile")
        .arg(profile)
        .arg("--models-dir")
        .arg(store)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ASSISTANTD_MODELS_LOCK")
        .env("ASSISTANTD_LOG", "error")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("assistantd runs");
    let took = start.elapsed();
    let checks = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    Run { checks, out, took }
}

/// The shipped jarvis profile with each `(from, to)` replaced, written as
/// `jarvis.toml` (models.lock's `profiles` keys name the profile by that
/// stem) in a folder of its own.
struct TestProfile {
    dir: tempfile::TempDir,
    file: &'static str,
}

impl TestProfile {
    fn new(edits: &[(&str, &str)]) -> Self {
        Self::named("jarvis.toml", edits)
    }

    /// The shipped jarvis profile with `edits`, saved as `file`.
    fn named(file: &'static str, edits: &[(&str, &str)]) -> Self {
        let shipped = assistant_tests::workspace_root().join("configs/jarvis.toml");
        let mut text = std::fs::read_to_string(&shipped).expect("configs/jarvis.toml");
        for (from, to) in edits {
            assert!(text.contains(from), "configs/jarvis.toml has no {from:?}");
            text = text.replacen(from, to, 1);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(file), text).expect("write the profile");
        Self { dir, file }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(self.file)
    }
}

const LLM_URL: &str = "url = \"http://127.0.0.1:11434\"";
const BACKEND: &str = "backend = \"auto\"";
const INPUT_DEVICE: &str = "# input_device = \"alsa_input.usb-My_Mic-00.mono-fallback\"";
const OUTPUT_DEVICE: &str = "# output_device = \"pulse\"";

/// A profile whose model server (Ollama's API, no fallback) is at `url`.
fn profile_with_llm(url: &str) -> TestProfile {
    TestProfile::new(&[
        (BACKEND, "backend = \"ollama\""),
        (LLM_URL, &format!("url = \"{url}\"")),
    ])
}

/// A loopback URL nothing listens on.
fn stopped_server() -> String {
    format!("http://127.0.0.1:{}", assistant_tests::llama_server::free_port())
}

#[test]
fn missing_models_fail_naming_the_fetch_command() {
    let profile = profile_with_llm(&stopped_server());
    let store = tempfile::tempdir().expect("tempdir");
    let run = doctor(&profile.path(), store.path(), &[]);
    assert_eq!(run.out.status.code(), Some(1), "{}", run.text());

    let (ok, detail) = run.result("profile");
    assert!(ok && detail.contains("jarvis.toml"), "{detail}");
    let models = run.models();
    let names: Vec<&str> = models.iter().filter_map(|c| c["name"].as_str()).collect();
    // The files models.lock tags for jarvis: VAD, transducer, voice.
    for wanted in [
        "model silero-vad/v4",
        "model asr/streaming-zipformer-en/encoder",
        "model voices/en_US-joe-medium/model",
    ] {
        assert!(names.contains(&wanted), "{wanted} checked: {names:?}");
    }
    for model in models {
        let detail = model["detail"].as_str().unwrap_or_default();
        assert_eq!(model["ok"], false, "{model}");
        assert!(
            detail.starts_with("missing")
                && detail.contains(&store.path().display().to_string())
                && detail.contains(&format!(
                    "assistantd models fetch --profile {}",
                    profile.path().display()
                )),
            "{model}"
        );
    }
    // The native checks still ran, and passed.
    for native in ["onnxruntime", "espeak-ng"] {
        let (ok, detail) = run.result(native);
        assert!(ok, "{native}: {detail}");
    }
}

#[test]
fn a_profile_of_ones_own_is_checked_for_the_models_it_names() {
    // Not a shipped name, and another voice: the files come from what the
    // profile says, not from a list kept for the shipped profiles.
    let profile = TestProfile::named(
        "mine.toml",
        &[
            (LLM_URL, &format!("url = \"{}\"", stopped_server())),
            ("voice = \"en_US-joe-medium\"", "voice = \"en_US-amy-medium\""),
        ],
    );
    let store = tempfile::tempdir().expect("tempdir");
    let run = doctor(&profile.path(), store.path(), &[]);
    let models = run.models();
    let names: Vec<&str> = models.iter().filter_map(|c| c["name"].as_str()).collect();
    for wanted in [
        "model silero-vad/v4",
        "model asr/streaming-zipformer-en/tokens",
        "model voices/en_US-amy-medium/model",
        "model voices/en_US-amy-medium/config",
        // The embedded model jarvis prefers.
        "model llm/qwen2.5-0.5b-instruct-q4_k_m",
    ] {
        assert!(names.contains(&wanted), "{wanted} checked: {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("joe")), "{names:?}");
    assert!(
        !run.checks.iter().any(|c| c["name"] == "profile models"),
        "{}",
        run.text()
    );
}

#[test]
fn a_verified_model_shows_its_digest_and_a_corrupt_one_both_digests() {
    let test = "a_verified_model_shows_its_digest_and_a_corrupt_one_both_digests";
    let Some(mirror) = assistant_tests::shared_data(test) else {
        return;
    };
    let store = tempfile::tempdir().expect("tempdir");
    let fetched = Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(["models", "fetch", "silero-vad/v4", "--mirror"])
        .arg(&mirror)
        .arg("--models-dir")
        .arg(store.path())
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ASSISTANTD_MODELS_LOCK")
        .output()
        .expect("assistantd runs");
    assert!(fetched.status.success(), "{}", String::from_utf8_lossy(&fetched.stderr));

    let profile = profile_with_llm(&stopped_server());
    let run = doctor(&profile.path(), store.path(), &[]);
    let (ok, detail) = run.result("model silero-vad/v4");
    assert!(ok, "{detail}");
    assert!(
        detail.contains("verified") && detail.contains("a35ebf52fd3c"),
        "{detail}"
    );
    let (ok, detail) = run.result("model asr/streaming-zipformer-en/encoder");
    assert!(
        !ok && detail.starts_with("missing"),
        "the others are still missing: {detail}"
    );

    let file = store.path().join("silero-vad/v4/silero_vad.onnx");
    let mut bytes = std::fs::read(&file).expect("the installed VAD");
    bytes[1000] ^= 0xff;
    std::fs::write(&file, &bytes).expect("corrupt one byte");
    // A new mtime, whatever the file system's granularity: the cached
    // digest no longer applies.
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(past))
        .expect("set the mtime");
    let run = doctor(&profile.path(), store.path(), &[]);
    assert_eq!(run.out.status.code(), Some(1), "{}", run.text());
    let (ok, detail) = run.result("model silero-vad/v4");
    assert!(!ok && detail.starts_with("corrupt"), "{detail}");
    assert!(
        detail.contains("a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28")
            && detail.contains("has sha256 ")
            && detail.contains("assistantd models fetch silero-vad/v4"),
        "both digests and the fix: {detail}"
    );
}

#[test]
fn a_stopped_llm_server_fails_naming_its_url_and_the_fix() {
    let url = stopped_server();
    let profile = profile_with_llm(&url);
    let store = tempfile::tempdir().expect("tempdir");
    let run = doctor(&profile.path(), store.path(), &[]);
    assert_eq!(run.out.status.code(), Some(1), "{}", run.text());
    let (ok, detail) = run.result("llm");
    assert!(!ok, "{detail}");
    assert!(
        detail.contains(&format!("cannot connect to the Ollama server at {url}"))
            && detail.contains("ollama serve")
            && detail.contains("[llm] url"),
        "{detail}"
    );
    let millis = run.check("llm")["millis"].as_f64().expect("millis");
    assert!(
        millis < 2_000.0,
        "a refused connection is reported at once, not after {millis} ms"
    );
}

#[test]
fn auto_without_a_server_loads_the_embedded_model_and_reports_it() {
    let Some(models) = assistant_tests::real_models::RealModels::installed(
        "auto_without_a_server_loads_the_embedded_model_and_reports_it",
    ) else {
        return;
    };
    let url = stopped_server();
    let profile = TestProfile::new(&[(LLM_URL, &format!("url = \"{url}\""))]);
    let run = doctor(&profile.path(), models.store_dir(), &[]);
    let (ok, detail) = run.result("llm");
    assert!(ok, "{detail}");
    assert!(
        detail.contains(&format!(
            "backend auto: the model server at {url} does not answer (connection refused); using the embedded model llm/gemma-3-270m-q4_k_m: llm/gemma-3-270m-q4_k_m (268 M parameters, 253 MB) loaded in"
        )) && detail.contains("resident +")
            && detail.contains("context 4096 of 32768 tokens"),
        "{detail}"
    );
}

#[test]
fn a_server_that_never_answers_fails_within_seconds() {
    // The kernel accepts connections to a listening socket by itself; nobody
    // reads the requests. The profile allows 10 s for an answer; doctor
    // waits 3 s at most.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let profile = profile_with_llm(&url);
    let store = tempfile::tempdir().expect("tempdir");
    let run = doctor(&profile.path(), store.path(), &[]);
    let (ok, detail) = run.result("llm");
    assert!(
        !ok && detail.contains(&url) && detail.contains("did not answer"),
        "{detail}"
    );
    assert!(
        run.took < Duration::from_secs(8),
        "doctor took {:?}: it must not wait out the profile's timeouts",
        run.took
    );
    drop(silent);
}

#[test]
fn the_llm_server_passes_with_the_model_and_names_ollama_pull_without_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(FakeOllama::start_with(Script {
        models: vec!["llama3.2:latest".into()],
        version: "0.6.5".into(),
        ..Script::default()
    }));
    let url = server.url();
    let profile = profile_with_llm(&url);
    let store = tempfile::tempdir().expect("tempdir");

    let run = doctor(&profile.path(), store.path(), &[]);
    let (ok, detail) = run.result("llm");
    assert!(ok, "{detail}");
    assert!(
        detail.contains("Ollama 0.6.5") && detail.contains(&url) && detail.contains("'llama3.2'"),
        "{detail}"
    );
    let asked: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        asked.contains(&"GET /api/version".to_owned()) && asked.contains(&"GET /api/tags".to_owned()),
        "{asked:?}"
    );
    assert!(server.chat_requests().is_empty(), "doctor generates nothing");

    // The same server through its OpenAI-compatible API (`GET /v1/models`).
    let openai = TestProfile::new(&[
        (BACKEND, "backend = \"openai\""),
        (LLM_URL, &format!("url = \"{url}\"")),
        ("model = \"llama3.2\"", "model = \"llama3.2:latest\""),
    ]);
    let run = doctor(&openai.path(), store.path(), &[]);
    let (ok, detail) = run.result("llm");
    assert!(
        ok && detail.contains(&format!("the OpenAI-compatible server at {url}"))
            && detail.contains("'llama3.2:latest'"),
        "{detail}"
    );
    assert!(
        server.requests().iter().any(|r| r.path == "/v1/models"),
        "asked the OpenAI-compatible API"
    );

    server.set_models(["qwen2.5:0.5b"]);
    let run = doctor(&profile.path(), store.path(), &[]);
    assert_eq!(run.out.status.code(), Some(1), "{}", run.text());
    let (ok, detail) = run.result("llm");
    assert!(!ok, "{detail}");
    assert!(
        detail.contains("model 'llama3.2' is not pulled")
            && detail.contains("ollama pull llama3.2")
            && detail.contains("qwen2.5:0.5b"),
        "{detail}"
    );
}

#[test]
fn a_missing_device_fails_listing_the_ones_there_are() {
    let test = "a_missing_device_fails_listing_the_ones_there_are";
    let Some(mut pulse) = Pulse::start(test) else {
        return;
    };
    let store = tempfile::tempdir().expect("tempdir");
    let llm = stopped_server();

    let named_wrongly = TestProfile::new(&[
        (LLM_URL, &format!("url = \"{llm}\"")),
        (INPUT_DEVICE, "input_device = \"nope\""),
    ]);
    let run = doctor(&named_wrongly.path(), store.path(), &pulse.env());
    assert_eq!(run.out.status.code(), Some(1), "{}", run.text());
    let (ok, detail) = run.result("input device");
    assert!(!ok, "{detail}");
    assert!(
        detail.contains("no input device 'nope'")
            && detail.contains("available: ")
            && detail.contains(&format!("pulseaudio:{} (Monitor of Null Output)", pulse::MIC_SOURCE))
            && detail.contains("[audio] input_device in ")
            && detail.contains("jarvis.toml")
            && detail.contains("assistantd devices"),
        "{detail}"
    );
    let (ok, detail) = run.result("output device");
    assert!(ok && detail.contains(pulse::SINK), "the default output: {detail}");

    // The defaults, and an output named by its id.
    let named_rightly = TestProfile::new(&[
        (LLM_URL, &format!("url = \"{llm}\"")),
        (
            OUTPUT_DEVICE,
            &format!("output_device = \"pulseaudio:{}\"", pulse::MIC_SINK),
        ),
    ]);
    let run = doctor(&named_rightly.path(), store.path(), &pulse.env());
    let (ok, detail) = run.result("input device");
    assert!(
        ok && detail.contains(pulse::MIC_SOURCE) && detail.contains("system default") && detail.contains("PulseAudio"),
        "{detail}"
    );
    let (ok, detail) = run.result("output device");
    assert!(
        ok && detail.contains(pulse::MIC_SINK) && detail.contains("[audio] output_device"),
        "{detail}"
    );

    // The sound server gone: cpal falls back to ALSA. Whether ALSA's own
    // default works depends on the machine (a sound card, or only the
    // PulseAudio plugin); either way doctor says which.
    pulse.kill();
    let run = doctor(&named_rightly.path(), store.path(), &pulse.env());
    let (ok, detail) = run.result("input device");
    assert!(
        if ok {
            detail.contains("through ALSA")
        } else {
            detail.contains("PulseAudio or PipeWire")
        },
        "{detail}"
    );
}
