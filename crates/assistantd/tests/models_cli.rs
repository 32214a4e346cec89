//! `assistantd models` as a user runs it: install the real Silero VAD from
//! the shared mirror, see it listed, corrupt one byte, watch verify fail
//! with both digests and the command that fixes it.

use std::path::Path;
use std::process::{Command, Output};

fn models(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .arg("models")
        .args(args)
        .env("ASSISTANTD_MODELS_DIR", store)
        .env_remove("ASSISTANT_MODEL_MIRROR")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("assistantd runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn fetch_from_mirror_then_a_corrupt_byte_fails_verify() {
    let Some(mirror) = assistant_tests::shared_data("fetch_from_mirror_then_a_corrupt_byte_fails_verify") else {
        return;
    };
    let store = tempfile::tempdir().expect("tempdir");
    let mirror = mirror.to_string_lossy().into_owned();

    let out = models(store.path(), &["list"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("silero-vad/v4") && text(&out).contains("missing"),
        "{}",
        text(&out)
    );

    let out = models(store.path(), &["fetch", "--mirror", &mirror, "silero-vad/v4"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("fetched silero-vad/v4"), "{}", text(&out));

    // The whole jarvis profile: the mirror holds only the VAD, so the rest is
    // named as missing from it and the command fails, keeping what it has.
    let out = models(store.path(), &["fetch", "--mirror", &mirror, "--profile", "jarvis"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("present silero-vad/v4")
            && text(&out).contains("has no file for asr/streaming-zipformer-en/encoder"),
        "{}",
        text(&out)
    );

    let out = models(store.path(), &["path", "silero-vad/v4"]);
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && path.ends_with("silero-vad/v4/silero_vad.onnx"),
        "{}",
        text(&out)
    );
    assert!(models(store.path(), &["verify", "silero-vad/v4"]).status.success());

    let mut bytes = std::fs::read(&path).expect("installed file");
    bytes[1000] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt one byte");
    let out = models(store.path(), &["verify", "silero-vad/v4"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"),
        "expected digest named: {said}"
    );
    assert!(said.contains("has sha256 "), "actual digest named: {said}");
    assert!(
        said.contains("assistantd models fetch silero-vad/v4"),
        "the fix named: {said}"
    );

    // Fetch repairs it.
    assert!(
        models(store.path(), &["fetch", "--mirror", &mirror, "silero-vad/v4"])
            .status
            .success()
    );
    assert!(models(store.path(), &["verify", "silero-vad/v4"]).status.success());
}

#[test]
fn an_unknown_model_and_a_broken_lock_file_are_named() {
    let store = tempfile::tempdir().expect("tempdir");
    let out = models(store.path(), &["path", "no/such-model"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no model named \"no/such-model\""),
        "{}",
        text(&out)
    );

    let lock = store.path().join("broken.lock");
    std::fs::write(&lock, "version = 1\n\n[[model]]\nname = \"x\"\nsize = \"big\"\n").expect("write");
    let out = models(store.path(), &["list", "--lock", &lock.to_string_lossy()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("{}:5:", lock.display())),
        "file and line: {}",
        text(&out)
    );
}
