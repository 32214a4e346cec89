//! `assistantd transcribe` as a user runs it, on the synthetic transducer
//! and the generated fixtures: human and JSON output, VAD gating, the
//! profile's start-up verification, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn transcribe(args: &[&str], models: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .arg("transcribe")
        .args(args)
        .env("ASSISTANTD_MODELS_DIR", models)
        .env("XDG_CONFIG_HOME", models.join("no-user-config"))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("assistantd runs")
}

fn assets() -> PathBuf {
    assistant_tests::synthetic_assets()
}

fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn prints_partials_and_finals_for_any_wav_layout() {
    let store = tempfile::tempdir().expect("tempdir");
    let a = assets();
    let out = transcribe(
        &[
            "--transducer-dir",
            &arg(&a.join("transducer")),
            "--no-vad",
            "--endpoint-silence",
            "0.5",
            &arg(&a.join("tones/two_utterances.wav")),
            &arg(&a.join("tones/three_words_44k1_stereo.wav")),
        ],
        store.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let finals: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split("FINAL").nth(1))
        .map(|rest| rest.trim().split("    ").next().unwrap_or("").trim())
        .collect();
    assert_eq!(finals, ["hello stop", "stop one", "one two three"], "{stdout}");
    assert!(stdout.contains("partial  hello"), "{stdout}");
}

#[test]
fn json_output_gates_with_the_vad() {
    let Some(data) = assistant_tests::shared_data("json_output_gates_with_the_vad") else {
        return;
    };
    let store = tempfile::tempdir().expect("tempdir");
    let a = assets();
    let out = transcribe(
        &[
            "--transducer-dir",
            &arg(&a.join("transducer")),
            "--vad-model",
            &arg(&data.join("silero-vad/v4/silero_vad.onnx")),
            "--endpoint-silence",
            "1.2",
            "--json",
            &arg(&a.join("speech/gated_60s.wav")),
        ],
        store.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let finals: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "final")
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert_eq!(finals, ["hello stop three"]);
    let summary = lines.last().expect("summary");
    assert_eq!(summary["event"], "summary");
    let fed = summary["samples_fed_s"].as_f64().expect("fed");
    assert!(
        fed < 5.0,
        "the VAD kept the 60 s file's silence from the transducer: {fed} s fed"
    );
}

#[test]
fn missing_models_and_bad_files_are_explained() {
    let store = tempfile::tempdir().expect("tempdir");
    let a = assets();
    // The jarvis profile's models are not installed in an empty store: the
    // start-up verification names the model and the fix.
    let out = transcribe(&[&arg(&a.join("tones/one_word.wav"))], store.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("asr/streaming-zipformer-en/encoder is not installed")
            && stderr.contains("assistantd models fetch"),
        "{stderr}"
    );

    // A file that is not a WAV, a truncated WAV and a good one: the good one
    // is still transcribed, the others are named, the exit status is 1.
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "not audio").expect("write");
    let cut = dir.path().join("cut.wav");
    let bytes = std::fs::read(a.join("tones/one_word.wav")).expect("read");
    std::fs::write(&cut, &bytes[..30]).expect("write");
    let out = transcribe(
        &[
            "--transducer-dir",
            &arg(&a.join("transducer")),
            "--no-vad",
            &arg(&text),
            &arg(&cut),
            &arg(&a.join("tones/one_word.wav")),
        ],
        store.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("notes.wav") && stderr.contains("cut.wav"), "{stderr}");
    assert!(stdout.contains("FINAL    hello"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A transducer folder whose tokens belong to another model.
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).expect("mkdir");
    for f in ["encoder.onnx", "decoder.onnx", "joiner.onnx"] {
        std::fs::copy(a.join("transducer").join(f), model.join(f)).expect("copy");
    }
    std::fs::write(model.join("tokens.txt"), "<blk> 0\nx 1\n").expect("write");
    let out = transcribe(
        &[
            "--transducer-dir",
            &arg(&model),
            "--no-vad",
            &arg(&a.join("tones/one_word.wav")),
        ],
        store.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("tokens.txt") && stderr.contains("another model"),
        "{stderr}"
    );
}
