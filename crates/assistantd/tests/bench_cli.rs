//! `assistantd bench` end to end: the synthetic tone transducer gated by
//! the real Silero VAD, the real `en_US-joe-medium` voice, the scripted
//! responder, the daemon's own pipeline, and a modelled device. The report
//! must be complete and add up, its files must parse, and the figures it
//! measures must match what was configured.

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

#[test]
fn bench_reports_every_stage_and_its_files_parse() {
    let test = "bench_reports_every_stage_and_its_files_parse";
    let Some(store) = assistant_tests::daemon_models(test, bin()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("out");
    let fixture = assistant_tests::synthetic_assets().join("speech/gated_short.wav");
    let output = Command::new(bin())
        .arg("bench")
        .arg("--profile")
        .arg(profile(dir.path()))
        .arg("--models-dir")
        .arg(store.path())
        .arg("--transducer-dir")
        .arg(assistant_tests::synthetic_assets().join("transducer"))
        .arg("--llm")
        .arg(format!(
            "scripted(ttft={TTFT_MS}ms,rate=50):It is nine o'clock. The sun is out, and it is warm."
        ))
        .args(["--repeat", "2", "--out"])
        .arg(&out)
        .arg(&fixture)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    assert!(
        stdout.contains("SCRIPTED"),
        "the table must say the LLM was scripted:\n{stdout}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench-report.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("bench-report.json: {e}"));
    assert_eq!(report["schema"], 1);
    assert_eq!(report["settings"]["llm_scripted"], true);
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
