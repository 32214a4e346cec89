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

/// The synthetic Piper voices (scripts/models/make_piper_voice.py), made
/// with the real config's phoneme map into a temporary folder.
fn synthetic_voices(config: &Path) -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let made = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/models/make_piper_voice.py"))
        .args(["--out", &arg(dir.path()), "--config", &arg(config)])
        .output()
        .expect("python runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    dir
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
    let dir = synthetic_voices(&config);
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

/// A lock entry for `file`, pinned by its real size and sha256.
fn lock_entry(name: &str, file: &Path) -> String {
    use sha2::Digest as _;
    let bytes = std::fs::read(file).expect("read");
    let digest: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let file_name = file.file_name().expect("name").to_string_lossy();
    format!(
        "[[model]]\nname = \"{name}\"\nkind = \"tts\"\nurl = \"https://example.invalid/{file_name}\"\n\
         size = {}\nsha256 = \"{digest}\"\ndigest = \"computed\"\ndigest_source = \"this test\"\n\
         license = \"test\"\nprofiles = []\n\n",
        bytes.len()
    )
}

#[test]
fn say_finds_a_voice_by_name_through_models_lock() {
    let Some(config) = config("say_finds_a_voice_by_name_through_models_lock") else {
        return;
    };
    let dir = synthetic_voices(&config);
    let model = dir.path().join("synthetic-multi.onnx");
    let voice_config = dir.path().join("synthetic-multi.onnx.json");

    // A lock pinning the voice, a store holding it, and its metadata where
    // the user's voices live ($XDG_CONFIG_HOME/assistantd/voices).
    let lock = dir.path().join("models.lock");
    std::fs::write(
        &lock,
        format!(
            "version = 1\n\n{}{}",
            lock_entry("voices/synthetic-multi/model", &model),
            lock_entry("voices/synthetic-multi/config", &voice_config)
        ),
    )
    .expect("write lock");
    let store = dir.path().join("store");
    for (entry, file) in [("model", &model), ("config", &voice_config)] {
        let at = store.join("voices/synthetic-multi").join(entry);
        std::fs::create_dir_all(&at).expect("mkdir");
        std::fs::copy(file, at.join(file.file_name().expect("name"))).expect("install");
    }
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("assistantd/voices")).expect("mkdir");
    let metadata = "description = \"the test voice\"\nlanguage = \"en_US\"\nquality = \"medium\"\n\
                    sample_rate = 22050\nspeakers = [\"alice\", \"bob\", \"carol\"]\n\
                    model = \"voices/synthetic-multi/model\"\nconfig = \"voices/synthetic-multi/config\"\n";
    std::fs::write(xdg.join("assistantd/voices/synthetic-multi.toml"), metadata).expect("metadata");

    let say = |extra: &[&str]| {
        let wav = dir.path().join("named.wav");
        let _ = std::fs::remove_file(&wav);
        let mut args = vec!["say", "Hi there.", "--voice", "synthetic-multi", "--lock"];
        let lock = arg(&lock);
        let store = arg(&store);
        let wav_arg = arg(&wav);
        args.extend([lock.as_str(), "--models-dir", store.as_str(), "-o", wav_arg.as_str()]);
        args.extend(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_assistantd"))
            .args(&args)
            .env_remove("LD_LIBRARY_PATH")
            .env("XDG_CONFIG_HOME", &xdg)
            .output()
            .expect("assistantd runs");
        (out, wav)
    };
    let (out, wav) = say(&["--speaker", "bob", "--length-scale", "0.5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("voice synthetic-multi"), "{stderr}");
    let reader = hound::WavReader::open(&wav).expect("a valid WAV");
    assert_eq!(reader.spec().sample_rate, 22_050);
    // length_scale 0.5: 1102 samples per id, plus 0.2 s of sentence silence.
    assert_eq!((reader.duration() as usize - 4_410) % 1_102, 0, "{}", reader.duration());

    // The voice list shows it as installed.
    let listed = Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(["voices", "--json", "--lock", &arg(&lock), "--models-dir", &arg(&store)])
        .env_remove("LD_LIBRARY_PATH")
        .env("XDG_CONFIG_HOME", &xdg)
        .output()
        .expect("assistantd runs");
    let rows = String::from_utf8_lossy(&listed.stdout).into_owned();
    let row: serde_json::Value = rows
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .find(|r| r["name"] == "synthetic-multi")
        .unwrap_or_else(|| panic!("synthetic-multi listed: {rows}"));
    assert_eq!(row["state"], "installed");

    // phonemize --voice reads the same config through the lock.
    let by_name = Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args([
            "phonemize",
            "--voice",
            "synthetic-multi",
            "--json",
            "--lock",
            &arg(&lock),
        ])
        .args(["--models-dir", &arg(&store), "Hi there."])
        .env_remove("LD_LIBRARY_PATH")
        .env("XDG_CONFIG_HOME", &xdg)
        .output()
        .expect("assistantd runs");
    assert!(by_name.status.success(), "{}", String::from_utf8_lossy(&by_name.stderr));
    let by_path = engine(&["phonemize", "--config", &arg(&voice_config), "--json", "Hi there."]);
    assert_eq!(
        String::from_utf8_lossy(&by_name.stdout),
        String::from_utf8_lossy(&by_path.stdout)
    );
    assert!(String::from_utf8_lossy(&by_name.stdout).contains("\"ids\""));

    // A rate of 0 from the command line is refused, naming the option.
    let (out, _) = say(&["--rate", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("rate"), "{stderr}");

    // An unknown speaker is named with the ones the voice has.
    let (out, _) = say(&["--speaker", "dave"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("dave") && stderr.contains("alice"),
        "{stderr}"
    );

    // A corrupted model is refused with both digests, before anything runs.
    let installed = store.join("voices/synthetic-multi/model/synthetic-multi.onnx");
    let mut bytes = std::fs::read(&installed).expect("read");
    let pinned = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&installed, &bytes).expect("corrupt");
    let (out, wav) = say(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&pinned) && stderr.contains("is corrupt"), "{stderr}");
    assert!(!wav.exists(), "nothing written");
}

fn engine_with(args: &[&str], env: &[(&'static str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("assistantd runs")
}

#[test]
fn say_plays_through_the_speakers_what_it_would_write() {
    let test = "say_plays_through_the_speakers_what_it_would_write";
    let Some(config) = config(test) else { return };
    let Some(pulse) = assistant_tests::pulse::Pulse::start(test) else {
        return;
    };
    let dir = synthetic_voices(&config);
    let model = arg(&dir.path().join("synthetic-single.onnx"));
    let text = "Hello there. How are you?";

    let devices = engine_with(&["devices", "--json"], &pulse.env());
    assert!(devices.status.success(), "{}", String::from_utf8_lossy(&devices.stderr));
    let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&devices.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    for direction in ["input", "output"] {
        assert!(
            listed
                .iter()
                .any(|d| d["direction"] == direction && d["default"] == true),
            "a default {direction}: {listed:?}"
        );
    }
    assert!(
        listed
            .iter()
            .any(|d| d["direction"] == "input" && d["id"].as_str().is_some_and(|id| id.contains("assistantd_test_mic"))),
        "the test microphone is listed: {listed:?}"
    );

    let wav = dir.path().join("reply.wav");
    let out = engine(&["say", text, "--model", &model, "-o", &arg(&wav)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Vec<f32> = hound::WavReader::open(&wav)
        .expect("WAV")
        .into_samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32_768.0)
        .collect();

    let recording = pulse.record(22_050);
    let out = engine_with(&["say", text, "--model", &model], &pulse.env());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("played on") && stderr.contains("first audio after"),
        "{stderr}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let heard = recording.stop();

    // The sink heard the same audio the WAV holds: find it in the recording.
    let start = heard
        .iter()
        .position(|s| s.abs() > 1e-3)
        .expect("the sink heard something");
    let first_loud = written.iter().position(|s| s.abs() > 1e-3).expect("the WAV has sound");
    let heard = &heard[start.saturating_sub(first_loud)..];
    assert!(
        heard.len() >= written.len(),
        "heard {} samples, the WAV has {}",
        heard.len(),
        written.len()
    );
    let correlation = assistant_tests::best_correlation(&written, &heard[..written.len() + 200], 200);
    assert!(
        correlation > 0.95,
        "the played audio matches the WAV only to {correlation}"
    );

    // Bad requests name the fix.
    let out = engine_with(
        &["say", text, "--model", &model, "--output-device", "nope"],
        &pulse.env(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("no audio output device named 'nope'")
            && stderr.contains("assistantd devices"),
        "{stderr}"
    );
}

#[test]
fn say_reports_a_sound_server_that_dies_mid_reply() {
    let test = "say_reports_a_sound_server_that_dies_mid_reply";
    let Some(config) = config(test) else { return };
    let Some(mut pulse) = assistant_tests::pulse::Pulse::start(test) else {
        return;
    };
    let dir = synthetic_voices(&config);
    let model = arg(&dir.path().join("synthetic-single.onnx"));
    let text = "This reply is long enough to still be playing. ".repeat(8);
    let child = Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(["say", &text, "--model", &model])
        .env_remove("LD_LIBRARY_PATH")
        .envs(pulse.env().iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("assistantd runs");
    // Let it start playing, then take the sound server away.
    let recording = pulse.record(22_050);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !recording.samples().iter().any(|s| s.abs() > 1e-3) {
        assert!(std::time::Instant::now() < deadline, "nothing played within 30 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(recording);
    pulse.kill();
    let out = child.wait_with_output().expect("assistantd ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit status after losing the device: {stderr}");
    assert!(
        stderr.contains("failed while playing") && stderr.contains("sound server"),
        "{stderr}"
    );
}
