//! `assistantd say` with the real `en_US-joe-medium` voice (installed from
//! its PyPI wheel and verified against models.lock), against the reference
//! synthesizer, PyPI `piper-tts` 1.2.0, on the same texts
//! (`scripts/tts/reference_say.py`).
//!
//! Both sides feed the model the same phoneme ids: piper-phonemize 1.1.0's
//! (`^ _ p1 _ … $`, which our ids follow exactly), not piper-tts 1.2.0's own
//! Python `phonemes_to_ids`, which omits the pad after BOS. With
//! `noise_scale = 0` and `noise_w = 0` the voice is deterministic and the two
//! must agree sample for sample.
//!
//! Piper's voices use VITS's stochastic duration predictor: `noise_w` scales
//! the noise it samples, so with the default scales (0.667 / 1 / 0.8) neither
//! piper-tts nor we produce the same length twice. What pins the order of the
//! `scales` tensor is therefore this: with `noise_w = 0` every sentence has
//! exactly the reference's deterministic length whatever `noise_scale` is
//! (it varies only the sound), while `noise_w` alone changes the lengths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assistant_tests::real_models::RealModels;

const TEXTS: [&str; 3] = [
    "Good evening. It is twenty past seven, and the oven timer has ten minutes left.",
    "The meeting moved to 3:30 pm; would you like a reminder?",
    "Dr. Smith's office called! Your appointment is on Tuesday, June 4th.",
];

fn say(models: &RealModels, out: &Path, text: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .arg("say")
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(text)
        .env("ASSISTANTD_MODELS_DIR", models.store_dir())
        .env_remove("ASSISTANTD_MODELS_LOCK")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("assistantd runs")
}

fn reference(models: &RealModels, out: &Path, text: &str, extra: &[&str]) -> serde_json::Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/tts/reference_say.py"))
        .arg("--model")
        .arg(models.path("voices/en_US-joe-medium/model"))
        .arg("--config")
        .arg(models.path("voices/en_US-joe-medium/config"))
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg(text)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("the venv's python runs");
    assert!(
        run.status.success(),
        "reference_say.py failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).expect("one JSON line")
}

fn samples(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).expect("a WAV");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, 22_050, 16));
    reader.samples::<i16>().map(|s| s.expect("a sample")).collect()
}

/// The sample count of each sentence, sentence silence included: the
/// reference reports it; ours is cut where each sentence's audio (voiced,
/// then 0.2 s of digital silence) ends, using the reference's counts only
/// for how many sentences there are.
fn sentence_lengths(audio: &[i16], sentences: usize) -> Vec<usize> {
    let silence = 4_410; // 0.2 s at 22.05 kHz
    let mut lengths = Vec::with_capacity(sentences);
    let mut start = 0;
    let mut zeros = 0;
    for (i, &s) in audio.iter().enumerate() {
        zeros = if s == 0 { zeros + 1 } else { 0 };
        if zeros == silence && lengths.len() + 1 < sentences {
            lengths.push(i + 1 - start);
            start = i + 1;
            zeros = 0;
        }
    }
    lengths.push(audio.len() - start);
    lengths
}

/// Whether `audio` has exactly the sentence layout `counts` describes: the
/// same total, and the 0.2 s of digital silence that ends each sentence
/// right where the reference's sentence ends.
fn same_layout(audio: &[i16], counts: &[usize]) -> bool {
    let mut end = 0;
    audio.len() == counts.iter().sum::<usize>()
        && counts.iter().all(|n| {
            end += n;
            audio[end - 4_410..end].iter().all(|&s| s == 0)
        })
}

fn counts(value: &serde_json::Value) -> Vec<usize> {
    value["sentence_samples"]
        .as_array()
        .expect("sentence_samples")
        .iter()
        .map(|v| v.as_u64().expect("a count") as usize)
        .collect()
}

#[test]
fn with_no_noise_say_matches_piper_tts_sample_for_sample() {
    let Some(models) = RealModels::installed("with_no_noise_say_matches_piper_tts_sample_for_sample") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, text) in TEXTS.iter().enumerate() {
        let ours = dir.path().join(format!("ours-{i}.wav"));
        let theirs = dir.path().join(format!("ref-{i}.wav"));
        let out = say(models, &ours, text, &["--noise-scale", "0", "--noise-w", "0"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report = reference(models, &theirs, text, &["--noise-scale", "0", "--noise-w", "0"]);
        let (a, b) = (samples(&ours), samples(&theirs));
        assert_eq!(
            a.len(),
            b.len(),
            "{text:?}: {} samples against the reference's {}",
            a.len(),
            b.len()
        );
        let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert_eq!(differing, 0, "{text:?}: {differing} samples differ from piper-tts's");
        assert!(
            same_layout(&a, &counts(&report)),
            "{text:?}: sentences {:?}",
            counts(&report)
        );
        assert!(
            a.iter().map(|s| i32::from(*s).abs()).max() > Some(20_000),
            "peak-normalised speech"
        );
    }
}

#[test]
fn noise_scale_varies_the_sound_and_noise_w_the_durations() {
    let Some(models) = RealModels::installed("noise_scale_varies_the_sound_and_noise_w_the_durations") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let text = TEXTS[0];
    let deterministic = reference(
        models,
        &dir.path().join("ref.wav"),
        text,
        &["--noise-scale", "0", "--noise-w", "0"],
    );
    let lengths = counts(&deterministic);
    let fixed = samples(&dir.path().join("ref.wav"));

    // noise_scale alone (the voice config's 0.667): same durations, other samples.
    let voiced = dir.path().join("noise-scale.wav");
    let out = say(models, &voiced, text, &["--noise-w", "0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let voiced = samples(&voiced);
    assert!(
        same_layout(&voiced, &lengths),
        "noise_scale must not change durations ({lengths:?})"
    );
    assert_ne!(voiced, fixed, "noise_scale 0.667 must change the sound");

    // noise_w alone (the config's 0.8): the durations move, in ours and in piper-tts.
    let mut ours_moved = false;
    let mut theirs_moved = false;
    for attempt in 0..3 {
        let ours = dir.path().join(format!("noise-w-{attempt}.wav"));
        let out = say(models, &ours, text, &["--noise-scale", "0"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ours_moved |= samples(&ours).len() != fixed.len();
        let theirs = reference(models, &dir.path().join("ref-w.wav"), text, &["--noise-scale", "0"]);
        theirs_moved |= counts(&theirs) != lengths;
    }
    assert!(
        ours_moved && theirs_moved,
        "noise_w 0.8 changes durations (ours {ours_moved}, piper-tts {theirs_moved})"
    );

    // The default scales: lengths vary run to run on both sides; each of
    // ours stays within 25 % of the deterministic length, as piper-tts's do.
    let ours = dir.path().join("default.wav");
    let out = say(models, &ours, text, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs = counts(&reference(models, &dir.path().join("ref-default.wav"), text, &[]));
    let ours = sentence_lengths(&samples(&ours), lengths.len());
    for ((o, t), d) in ours.iter().zip(&theirs).zip(&lengths) {
        let near = |x: usize| (x as f64 / *d as f64 - 1.0).abs() < 0.25;
        assert!(
            near(*o) && near(*t),
            "sentence lengths: ours {ours:?}, piper-tts {theirs:?}, noise-free {lengths:?}"
        );
    }
}

#[test]
fn the_optimized_model_cache_loads_the_same_voice() {
    let Some(models) = RealModels::installed("the_optimized_model_cache_loads_the_same_voice") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let run = |name: &str| {
        let out_path = dir.path().join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_assistantd"))
            .args(["say", "--noise-scale", "0", "--noise-w", "0", "-o"])
            .arg(&out_path)
            .arg(TEXTS[1])
            .env("ASSISTANTD_MODELS_DIR", models.store_dir())
            .env("ASSISTANTD_CACHE_DIR", &cache)
            .env("ASSISTANTD_LOG", "warn,assistantd=info")
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .expect("assistantd runs");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{log}");
        (samples(&out_path), log)
    };
    let (first, log) = run("first.wav");
    assert!(log.contains("loaded in") && !log.contains("from the cache"), "{log}");
    let copies: Vec<PathBuf> = std::fs::read_dir(cache.join("onnx"))
        .expect("the cache folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(copies.len(), 1, "one optimized copy: {copies:?}");
    let (second, log) = run("second.wav");
    assert!(log.contains("from the cache"), "{log}");
    assert_eq!(first, second, "the optimized copy speaks exactly as the model");

    // A damaged copy is dropped and the model loads from its own file.
    std::fs::write(&copies[0], b"not an ORT model").expect("damage the copy");
    let (third, log) = run("third.wav");
    assert!(
        log.contains("does not load") && !log.contains("from the cache"),
        "{log}"
    );
    assert_eq!(first, third);
    let (_, log) = run("fourth.wav");
    assert!(log.contains("from the cache"), "rewritten after the damage: {log}");
}
