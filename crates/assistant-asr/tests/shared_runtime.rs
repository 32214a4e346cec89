//! [`assistant_asr::listen::spawn`] called from inside a tokio runtime, as
//! the daemon calls it: the `asr` thread waits through the caller's runtime
//! and the process gains that one thread, no runtime of the stage's own.
//!
//! On the synthetic tone transducer and fixtures of `scripts/models/ensure`,
//! the same assets as `tests/tests/asr.rs`. This crate's tests cannot use
//! `assistant-tests` (no dev-dependency), so they find the assets the way
//! its `synthetic_assets` does. This file holds one test, so that no other
//! test's threads come and go in this process while it counts threads.

use std::path::{Path, PathBuf};

use assistant_asr::{Endpointing, ListenConfig, Listener, Recognizer, RecognizerConfig, TransducerFiles};
use assistant_core::audio::frame_samples;
use assistant_core::{AudioFrame, Timestamp, TranscriptEvent};
use tokio_util::sync::CancellationToken;

/// `scripts/models/ensure`: builds the synthetic assets once, prints where.
fn synthetic_assets() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/models/ensure");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}); run scripts/bootstrap",
        script.display(),
        out.status
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The tone transducer with `tests/tests/asr.rs`'s endpointing.
fn listen_config(assets: &Path) -> ListenConfig {
    let m = assets.join("transducer");
    let mut recognizer = RecognizerConfig::new(TransducerFiles {
        encoder: m.join("encoder.onnx"),
        decoder: m.join("decoder.onnx"),
        joiner: m.join("joiner.onnx"),
        tokens: m.join("tokens.txt"),
    });
    recognizer.endpointing = Endpointing {
        silence_without_text_s: 2.4,
        silence_after_text_s: 0.5,
        max_utterance_s: 20.0,
    };
    ListenConfig::new(recognizer)
}

/// The 20 ms frames of a 16-bit mono PCM WAV fixture, stamped from t = 0
/// (this crate has no WAV reader; the tone fixtures are all this format).
fn frames(path: &Path) -> Vec<AudioFrame> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "{}",
        path.display()
    );
    let le16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let le32 = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (mut at, mut rate, mut samples) = (12, None, None);
    while at + 8 <= bytes.len() {
        let size = le32(at + 4) as usize;
        let body = at + 8;
        match &bytes[at..at + 4] {
            b"fmt " => {
                assert_eq!(
                    (le16(body), le16(body + 2), le16(body + 14)),
                    (1, 1, 16),
                    "PCM, mono, 16-bit"
                );
                rate = Some(le32(body + 4));
            }
            b"data" => {
                let data = &bytes[body..(body + size).min(bytes.len())];
                let pcm = data
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32_768.0);
                samples = Some(pcm.collect::<Vec<f32>>());
            }
            _ => {}
        }
        at = body + size + size % 2;
    }
    let (rate, samples) = (rate.expect("a fmt chunk"), samples.expect("a data chunk"));
    let per_frame = frame_samples(rate);
    samples
        .chunks(per_frame)
        .enumerate()
        .map(|(i, chunk)| AudioFrame {
            sample_rate: rate,
            samples: chunk.to_vec(),
            captured_at: Timestamp::from_nanos((i * per_frame) as u64 * 1_000_000_000 / u64::from(rate)),
        })
        .collect()
}

/// The names of this process's threads, sorted.
fn thread_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect();
    names.sort();
    names
}

/// The names in `now` that are not in `before` (as multisets).
fn new_threads(before: &[String], now: &[String]) -> Vec<String> {
    let mut left = before.to_vec();
    now.iter()
        .filter(|name| match left.iter().position(|b| b == *name) {
            Some(i) => {
                left.swap_remove(i);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

// A current-thread runtime: this crate's tokio has no `rt-multi-thread`.
// It is the harder case for the shared loop anyway: `Handle::block_on` on
// the `asr` thread drives none of this runtime's drivers, and the runtime's
// one thread is busy running the test (and is blocked outright in `join`).
#[tokio::test]
async fn inside_a_runtime_the_stage_uses_it_matches_the_listener_and_stops_on_cancel() {
    let assets = synthetic_assets();
    let config = listen_config(&assets);
    let input = frames(&assets.join("tones/two_utterances.wav"));
    let expected = {
        let recognizer = Recognizer::new(&config.recognizer).expect("recognizer");
        let mut listener = Listener::new(&recognizer, &config).expect("listener");
        let mut events = Vec::new();
        for frame in &input {
            listener.push(frame, &mut events).expect("frame accepted");
        }
        listener.finish(&mut events).expect("finish");
        events
    };
    let finals = expected
        .iter()
        .filter(|e| matches!(e, TranscriptEvent::Final { .. }))
        .count();
    assert_eq!(finals, 2, "{expected:?}");

    let before = thread_names();
    let (frame_tx, frame_rx) = tokio::sync::mpsc::channel(8);
    let (event_tx, mut event_rx) = tokio::sync::mpsc::channel(8);
    let stage =
        assistant_asr::listen::spawn(config.clone(), frame_rx, event_tx, CancellationToken::new()).expect("spawn");
    assert_eq!(
        new_threads(&before, &thread_names()),
        ["asr"],
        "the stage's own thread and no runtime thread"
    );
    let feeder = tokio::spawn(async move {
        for frame in input {
            frame_tx.send(frame).await.expect("stage alive");
        }
    });
    let mut got = Vec::new();
    while let Some(event) = event_rx.recv().await {
        got.push(event);
    }
    feeder.await.expect("feeder");
    let stats = stage.join().expect("thread").expect("stage ok");
    let untimed = |events: Vec<TranscriptEvent>| -> Vec<TranscriptEvent> {
        events.into_iter().map(TranscriptEvent::without_timings).collect()
    };
    assert_eq!(
        untimed(got),
        untimed(expected),
        "the same events as the listener driven by hand"
    );
    assert_eq!(stats.finals, 2);

    // Cancelled mid-utterance (the word ends at 0.8 s, 20 frames are
    // 0.4 s): the thread ends and sends nothing more. The join blocks this
    // runtime's only thread: the stage must stop without it.
    let (frame_tx, frame_rx) = tokio::sync::mpsc::channel(32);
    let (event_tx, mut event_rx) = tokio::sync::mpsc::channel(64);
    let cancel = CancellationToken::new();
    let stage = assistant_asr::listen::spawn(config, frame_rx, event_tx, cancel.clone()).expect("spawn");
    for frame in frames(&assets.join("tones/one_word.wav")).into_iter().take(20) {
        frame_tx.send(frame).await.expect("alive");
    }
    cancel.cancel();
    let stats = stage.join().expect("thread").expect("stage ok");
    assert!(stats.frames <= 20, "{stats:?}");
    assert_eq!(stats.finals, 0, "{stats:?}");
    while let Ok(event) = event_rx.try_recv() {
        assert!(
            !matches!(event, TranscriptEvent::Final { .. }),
            "no final after cancel: {event:?}"
        );
    }
    assert!(event_rx.recv().await.is_none(), "the stage let go of its channel");
    drop(frame_tx);
    assert_eq!(
        new_threads(&before, &thread_names()),
        Vec::<String>::new(),
        "both stages' threads are gone and nothing else is left"
    );
}
