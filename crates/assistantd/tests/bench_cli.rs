//! `assistantd bench` end to end: the synthetic questions transducer gated
//! by the real Silero VAD, the real `en_US-joe-medium` voice, the scripted
//! responder (or the real llama.cpp server with Gemma 3 270M), the daemon's
//! own pipeline, and a modelled device. The report must be complete and add
//! up, its files must parse, the figures it measures must match what was
//! configured, a short soak must hold its file descriptors and threads, and
//! `--compare` must flag a regression.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The scripted responder's time to first token, in ms.
const TTFT_MS: f64 = 120.0;
/// The endpoint's trailing silence (the tone transducer needs ≥ 0.72 s to
/// keep "hello stop three" one utterance).
const RULE2_S: f64 = 1.2;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_assistantd"))
}

/// The jarvis profile with the tone transducer's endpoint silence.
fn profile(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(assistant_tests::workspace_root().join("configs/jarvis.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let from = "silence_after_text_s = 0.6";
    assert!(text.contains(from), "configs/jarvis.toml no longer has {from:?}");
    let path = dir.join("bench.toml");
    std::fs::write(
        &path,
        text.replacen(from, &format!("silence_after_text_s = {RULE2_S}"), 1),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    path
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A bundled question: the questions transducer reads it as `what time is it`.
fn question(name: &str) -> std::path::PathBuf {
    assistant_tests::synthetic_assets()
        .join("questions/fixtures")
        .join(name)
}

/// `assistantd bench` with the questions transducer and these arguments.
fn run_bench(
    profile: &Path,
    store: &Path,
    out: &Path,
    args: &[&std::ffi::OsStr],
    fixtures: &[std::path::PathBuf],
) -> std::process::Output {
    Command::new(bin())
        .arg("bench")
        .arg("--profile")
        .arg(profile)
        .arg("--models-dir")
        .arg(store)
        .arg("--transducer-dir")
        .arg(assistant_tests::synthetic_assets().join("questions/transducer"))
        .args(args)
        .arg("--out")
        .arg(out)
        .args(fixtures)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`run_bench`], asserting it succeeded; returns stdout and the report.
fn bench(profile: &Path, store: &Path, out: &Path, args: &[&str], fixtures: &[std::path::PathBuf]) -> (String, Value) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let output = run_bench(profile, store, out, &args, fixtures);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench-report.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("bench-report.json: {e}"));
    (stdout, report)
}

fn scripted() -> String {
    format!("scripted(ttft={TTFT_MS}ms,rate=50):It is nine o'clock. The sun is out, and it is warm.")
}

#[test]
fn bench_reports_every_stage_and_its_files_parse() {
    let test = "bench_reports_every_stage_and_its_files_parse";
    let Some(store) = assistant_tests::daemon_models(test, bin()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("out");
    let (stdout, report) = bench(
        &profile(dir.path()),
        store.path(),
        &out,
        &["--llm", &scripted(), "--repeat", "2"],
        &[question("ask_what_time.wav")],
    );
    assert!(
        stdout.contains("SCRIPTED"),
        "the table must say the LLM was scripted:\n{stdout}"
    );
    assert!(
        stdout.contains("ask_what_time.wav: \"what time is it\""),
        "the table says what was heard:\n{stdout}"
    );
    assert_eq!(report["schema"], 1);
    assert_eq!(report["settings"]["llm_scripted"], true);
    for run in report["runs"].as_array().cloned().unwrap_or_default() {
        assert_eq!(run["heard"], serde_json::json!(["what time is it"]), "{run}");
        assert!(run["process"]["rss_kib"].as_u64().is_some_and(|k| k > 0), "{run}");
    }
    // Every model file loaded, with its digest: the voice's is the pin.
    let lock = std::fs::read_to_string(assistant_tests::workspace_root().join("models.lock")).unwrap_or_default();
    for role in ["transducer_encoder", "transducer_tokens", "vad", "voice"] {
        let digest = report["models"][role]["sha256"].as_str().unwrap_or_default();
        assert_eq!(digest.len(), 64, "{role}: {}", report["models"]);
        if role == "voice" || role == "vad" {
            assert!(
                lock.contains(digest),
                "{role}'s digest {digest} is not pinned in models.lock"
            );
        }
    }
    // The stages' own figures: the recognizer's decode time per chunk and
    // the voice's time per clause, on every measured turn.
    for name in ["asr_decode_per_chunk", "asr_decode_longest_chunk", "tts_per_clause"] {
        let stats = &report["stage_ms"][name];
        assert!(
            f(&stats["p50"]) > 0.0 && f(&stats["max"]) >= f(&stats["p50"]),
            "{name}: {stats}"
        );
    }
    assert!(stdout.contains("ASR decode, per chunk"), "{stdout}");
    assert!(
        report["machine"]["cores"].as_u64().is_some_and(|c| c >= 1),
        "{}",
        report["machine"]
    );
    // Every stage has values, from the two measured runs.
    for (name, stats) in report["summary_ms"].as_object().cloned().unwrap_or_default() {
        assert_eq!(stats["n"], 2, "{name}: {stats}");
        assert!(
            f(&stats["p50"]) >= 0.0 && f(&stats["max"]) >= f(&stats["p50"]),
            "{name}: {stats}"
        );
    }
    let turns = report["turns"].as_array().cloned().unwrap_or_default();
    assert_eq!(turns.len(), 3, "a warm-up and two measured turns");
    for turn in &turns {
        let b = &turn["trace"]["breakdown"];
        assistant_tests::assert_breakdown_adds_up(b);
        // The scripted responder's first token comes when it was told to.
        let ttft = f(&b["llm_first_token"]);
        assert!(
            (TTFT_MS..TTFT_MS + 15.0).contains(&ttft),
            "first token after {ttft} ms: {b}"
        );
        // The endpoint fires after the configured silence, within one
        // decode chunk (160 ms) of it, measured from speech end as the
        // recognizer places it (its last token, which the tone model emits
        // up to two 40 ms encoder frames before the tone ends).
        let endpoint = f(&b["endpoint_delay"]);
        assert!(
            (RULE2_S * 1e3..=RULE2_S * 1e3 + 160.0 + 80.0).contains(&endpoint),
            "endpoint {endpoint} ms after speech end, rule 2 is {RULE2_S} s: {b}"
        );
        assert_eq!(turn["trace"]["outcome"], "completed", "{turn}");
        let reply = turn["reply_wav"].as_str().unwrap_or_default();
        let wav = hound::WavReader::open(reply).unwrap_or_else(|e| panic!("{reply}: {e}"));
        assert!(
            wav.duration() > 22_050,
            "{reply}: the reply is {} samples",
            wav.duration()
        );
    }
    // The traces and plots parse.
    let chrome: Value = serde_json::from_str(&std::fs::read_to_string(out.join("trace.json")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("trace.json: {e}"));
    assert!(
        chrome
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["ph"] == "X" && e["cat"] == "speak")),
        "no synthesis in the Chrome trace"
    );
    let lines = std::fs::read_to_string(out.join("trace.jsonl")).unwrap_or_default();
    assert_eq!(lines.lines().count(), 3);
    for svg in ["waterfall.svg", "distribution.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap_or_else(|e| panic!("{svg}: {e}"));
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{svg} is not XML: {e}"));
        assert!(text.contains("<svg"), "{svg}");
    }
    let waterfall = std::fs::read_to_string(out.join("waterfall.svg")).unwrap_or_default();
    assert!(
        waterfall.contains("first audio"),
        "the waterfall has no first-audio line"
    );
}

#[test]
fn an_unreadable_fixture_is_named_with_the_formats_that_work() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = dir.path().join("question.wav");
    std::fs::write(&bad, b"RIFF not really").unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(bin())
        .args(["bench", "--llm", "scripted:Hi.", "--out"])
        .arg(dir.path().join("out"))
        .arg(&bad)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("question.wav"), "{stderr}");
    assert!(stderr.to_lowercase().contains("wav"), "{stderr}");
}

/// The soak, short: every run builds and tears down the whole turn loop,
/// so a leaked file descriptor or thread shows as growth from the baseline
/// run to the last. (The 1,000-run soak, with its memory figure, is a
/// benchmark: `scripts/bench-demo --pace fast --repeat 1000`.) Then
/// `--compare` against a report whose headline was twice as fast flags the
/// regression, and `--fail-on-regression` makes it the exit status.
#[test]
fn a_short_soak_holds_its_descriptors_and_threads_and_compare_flags_a_regression() {
    let test = "a_short_soak_holds_its_descriptors_and_threads_and_compare_flags_a_regression";
    let Some(store) = assistant_tests::daemon_models(test, bin()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = profile(dir.path());
    let out = dir.path().join("soak");
    let (stdout, report) = bench(
        &profile,
        store.path(),
        &out,
        &[
            "--llm",
            "scripted(ttft=20ms,rate=400):Nine o'clock.",
            "--pace",
            "fast",
            "--repeat",
            "30",
        ],
        &[question("ask_what_time.wav")],
    );
    let soak = &report["soak"];
    assert_eq!(soak["baseline_run"], 3, "{soak}");
    assert_eq!(soak["last_run"], 30, "{soak}");
    assert_eq!(soak["fds"][0], soak["fds"][1], "file descriptors grew: {soak}");
    assert_eq!(soak["threads"][0], soak["threads"][1], "threads grew: {soak}");
    assert!(stdout.contains("process after run 3 → run 30"), "{stdout}");
    let runs = report["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 31, "a warm-up and 30 runs");
    assert!(
        runs.iter()
            .all(|r| r["completed"] == 1 && r["heard"][0] == "what time is it"),
        "every run answered its question"
    );

    // An earlier report, twice as fast: this run regressed against it.
    let mut old = report.clone();
    for stat in ["p50", "p95", "max"] {
        let v = f(&old["summary_ms"]["headline"][stat]);
        old["summary_ms"]["headline"][stat] = serde_json::json!(v / 2.0);
    }
    let old_path = dir.path().join("old.json");
    std::fs::write(&old_path, old.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let again = dir.path().join("again");
    let args = [
        "--llm",
        "scripted(ttft=20ms,rate=400):Nine o'clock.",
        "--pace",
        "fast",
        "--repeat",
        "2",
        "--fail-on-regression",
        "--compare",
    ]
    .map(std::ffi::OsStr::new);
    let args: Vec<&std::ffi::OsStr> = args.iter().copied().chain([old_path.as_os_str()]).collect();
    let output = run_bench(&profile, store.path(), &again, &args, &[question("ask_what_time.wav")]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    let headline = stdout
        .lines()
        .find(|l| l.starts_with("end of speech → first audio") && l.contains("REGRESSION"));
    assert!(headline.is_some(), "the headline is flagged:\n{stdout}");
    assert!(stderr.contains("old.json"), "{stderr}");
    let compared: Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("bench-report.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("bench-report.json: {e}"));
    assert!(
        compared["compare"]["regressions"]
            .as_array()
            .is_some_and(|r| r.contains(&serde_json::json!("headline"))),
        "{}",
        compared["compare"]
    );
}

/// With the profile's own model server (the real llama.cpp server with
/// Gemma 3 270M): the question is heard, the model answers it, the voice
/// speaks the answer, and the report names the model and not "scripted".
#[test]
fn bench_with_a_real_model_server_answers_the_question() {
    let test = "bench_with_a_real_model_server_answers_the_question";
    let Some(store) = assistant_tests::daemon_models(test, bin()) else {
        return;
    };
    let Some(llm) = assistant_tests::llama_server::LlamaServer::gemma(test) else {
        return;
    };
    let _exclusive = llm.exclusive();
    let report = bench_answering(
        store.path(),
        &[
            ("backend = \"auto\"", "backend = \"openai\"".to_owned()),
            ("url = \"http://127.0.0.1:11434\"", format!("url = \"{}\"", llm.url())),
            ("model = \"llama3.2\"", format!("model = \"{}\"", llm.name())),
        ],
    );
    assert_eq!(report["settings"]["model"], llm.name());
}

/// The README's main job: the embedded model (llama.cpp in the process,
/// the real Gemma 3 270M installed from its PyPI wheels like bench-demo
/// does), no server at all.
#[test]
fn bench_with_the_embedded_model_answers_the_question() {
    let test = "bench_with_the_embedded_model_answers_the_question";
    let Some(store) = assistant_tests::daemon_models(test, bin()) else {
        return;
    };
    let Some(models) = assistant_tests::real_models::RealModels::installed(test) else {
        return;
    };
    let fetched = Command::new(bin())
        .args(["models", "fetch", "llm/gemma-3-270m-q4_k_m", "--mirror"])
        .arg(models.mirror())
        .arg("--models-dir")
        .arg(store.path())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(fetched.status.success(), "{}", String::from_utf8_lossy(&fetched.stderr));
    let report = bench_answering(
        store.path(),
        &[("backend = \"auto\"", "backend = \"embedded\"".to_owned())],
    );
    assert_eq!(report["settings"]["model"], "llm/gemma-3-270m-q4_k_m");
    assert!(
        report["settings"]["llm"]
            .as_str()
            .is_some_and(|l| l == "the embedded model gemma-3-270m-q4_k_m.gguf"),
        "{}",
        report["settings"]
    );
    // The GGUF the run loaded, by its pinned digest.
    assert_eq!(
        report["models"]["llm"]["sha256"],
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    );
}

/// Runs bench once on "what time is it" with the profile `edits` (and a
/// short greedy reply) and checks that a real model answered and the voice
/// spoke the answer; returns the report.
fn bench_answering(store: &Path, edits: &[(&str, String)]) -> Value {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut text = std::fs::read_to_string(profile(dir.path())).unwrap_or_default();
    let common = [
        ("temperature = 0.7", "temperature = 0.0".to_owned()),
        ("max_tokens = 200", "max_tokens = 24".to_owned()),
    ];
    for (from, to) in edits.iter().chain(&common) {
        assert!(text.contains(from), "configs/jarvis.toml no longer has {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.path().join("real.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let (stdout, report) = bench(
        &path,
        store,
        &dir.path().join("out"),
        &["--repeat", "1"],
        &[question("ask_what_time.wav")],
    );
    assert!(!stdout.contains("SCRIPTED"), "{stdout}");
    assert_eq!(report["settings"]["llm_scripted"], false);
    for turn in report["turns"].as_array().cloned().unwrap_or_default() {
        assert_eq!(turn["trace"]["outcome"], "completed", "{turn}");
        let b = &turn["trace"]["breakdown"];
        assistant_tests::assert_breakdown_adds_up(b);
        assert!(f(&b["llm_first_token"]) > 0.0, "{b}");
        let reply = turn["reply_wav"].as_str().unwrap_or_default();
        let wav = hound::WavReader::open(reply).unwrap_or_else(|e| panic!("{reply}: {e}"));
        assert!(
            wav.duration() > 11_025,
            "{reply}: the answer is {} samples",
            wav.duration()
        );
    }
    assert_eq!(report["runs"][1]["heard"], serde_json::json!(["what time is it"]));
    report
}
