//! `assistantd phonemize` and `assistantd say` as a user runs them, with the
//! real Piper voice config from the shared data and the synthetic voice.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn engine(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("assistantd runs")
}

fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn config(test: &str) -> Option<PathBuf> {
    let data = assistant_tests::shared_data(test)?;
    Some(data.join("piper-config/en_US-test.onnx.json"))
}

#[test]
fn phonemize_prints_the_ids_piper_feeds_the_model() {
    let Some(config) = config("phonemize_prints_the_ids_piper_feeds_the_model") else {
        return;
    };
    let out = engine(&[
        "phonemize",
        "--config",
        &arg(&config),
        "--json",
        "Hello world. How are you?",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(rows.len(), 2, "one row per sentence: {rows:?}");
    assert_eq!(rows[0]["phonemes"], "həlˈoʊ wˈɜːld.");
    let ids: Vec<i64> = rows[0]["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(serde_json::Value::as_i64)
        .collect();
    // ^ _ h _ ə _ … . _ $ in the real config's map.
    assert_eq!(&ids[..4], &[1, 0, 20, 0]);
    assert_eq!(&ids[ids.len() - 3..], &[10, 0, 2]);

    // Invalid UTF-8 from a file is named, not a panic.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("latin1.txt");
    std::fs::write(&bad, b"caf\xe9\n").expect("write");
    let out = engine(&["phonemize", "--config", &arg(&config), "--file", &arg(&bad)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not UTF-8") && stderr.contains("offset 3"),
        "{stderr}"
    );
}

#[test]
fn say_writes_a_wav_with_the_voices_rate() {
    let Some(config) = config("say_writes_a_wav_with_the_voices_rate") else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let made = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/models/make_piper_voice.py"))
        .args(["--out", &arg(dir.path()), "--config", &arg(&config)])
        .output()
        .expect("python runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let model = dir.path().join("synthetic-single.onnx");
    let wav = dir.path().join("reply.wav");
    let out = engine(&[
        "say",
        "Hello there. How are you?",
        "--model",
        &arg(&model),
        "-o",
        &arg(&wav),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reader = hound::WavReader::open(&wav).expect("a valid WAV");
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (22_050, 1, 16));
    // Each id is 0.1 s with length_scale 1; each sentence is followed by 0.2 s.
    let phonemes = engine(&[
        "phonemize",
        "--config",
        &arg(&config),
        "--json",
        "Hello there. How are you?",
    ]);
    let ids: usize = String::from_utf8_lossy(&phonemes.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["ids"]
                .as_array()
                .expect("ids")
                .len()
        })
        .sum();
    assert_eq!(reader.duration() as usize, ids * 2_205 + 2 * 4_410);

    // A model that is not a Piper voice is named with its inputs.
    let Some(data) = assistant_tests::shared_data("say_writes_a_wav_with_the_voices_rate") else {
        return;
    };
    let vad = data.join("silero-vad/v4/silero_vad.onnx");
    let out = engine(&[
        "say",
        "Hi.",
        "--model",
        &arg(&vad),
        "--config",
        &arg(&config),
        "-o",
        &arg(&wav),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not a Piper voice") && stderr.contains("\"sr\""),
        "{stderr}"
    );
}
