//! [`Synthesizer::spawn`] called from inside a multi-thread tokio runtime,
//! as the daemon calls it: the `tts` and `tts-interrupt` threads wait
//! through the caller's runtime, the process gains those two threads and no
//! runtime of the stage's own, and barge-in still stops the model run in
//! progress even while the runtime's only worker is blocked.
//!
//! On the synthetic Piper voices of `scripts/models/make_piper_voice.py`,
//! as `streaming.rs`. This file holds one test, so that no other test's
//! threads come and go in this process while it counts threads.

#[allow(dead_code)] // shared with streaming.rs; this test uses part of it
mod common;

use std::path::Path;
use std::time::Duration;

use common::{SAMPLE_RATE, Voices};

use assistant_core::{Clock, TurnId};
use assistant_tts::stream::Synthesizer;
use assistant_tts::synth::{SynthesisOptions, Voice};
use assistant_tts::voice::{Scales, VoiceConfig};
use tokio_util::sync::CancellationToken;

fn voice(voices: &Voices) -> Voice {
    let name = "synthetic-single";
    let config = VoiceConfig::read(&voices.path(&format!("{name}.onnx.json"))).expect("the voice config reads");
    let library = Path::new(env!("SHERPA_ONNX_LIB_DIR")).join("libonnxruntime.so");
    assistant_tts::onnx::init(&library).expect("ONNX Runtime loads (run scripts/bootstrap)");
    Voice::open(&voices.path(&format!("{name}.onnx")), config, 1).expect("the synthetic voice opens")
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

/// The names of the threads that are not in `before` (as multisets), once
/// they are `expected` or after a second: a new thread carries its
/// parent's name until it has named itself.
fn new_threads(before: &[String], expected: &[&str]) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let mut left = before.to_vec();
        let new: Vec<String> = thread_names()
            .into_iter()
            .filter(|name| match left.iter().position(|b| b == name) {
                Some(i) => {
                    left.swap_remove(i);
                    false
                }
                None => true,
            })
            .collect();
        if new == expected || started.elapsed() > Duration::from_secs(1) {
            return new;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

// One worker, so that the test can block it: the interrupt must not need it.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn inside_a_runtime_the_stage_uses_it_streams_and_stops_on_barge_in() {
    // The body itself runs on the test's thread (in `Runtime::block_on`);
    // as a task it runs on the runtime's worker, which it blocks below.
    if let Err(e) = tokio::spawn(on_the_worker()).await {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn on_the_worker() {
    let Some(voices) = Voices::generate("inside_a_runtime_the_stage_uses_it_streams_and_stops_on_barge_in") else {
        return;
    };
    let voice = voice(&voices);
    let before = thread_names();
    let synthesizer = Synthesizer::spawn(voice, SynthesisOptions::default(), Clock::start()).expect("spawns");
    assert_eq!(
        new_threads(&before, &["tts", "tts-interrupt"]),
        ["tts", "tts-interrupt"],
        "the stage's own threads and no runtime thread"
    );

    // Streams, read with the async `next` on the runtime.
    let mut speech = synthesizer.synthesize(
        TurnId(1),
        "Hi. How are you doing today? Fine, thanks.",
        CancellationToken::new(),
    );
    let mut clauses = Vec::new();
    while let Some(item) = speech.next().await {
        let chunk = item.expect("audio");
        assert_eq!((chunk.turn, chunk.sample_rate), (TurnId(1), SAMPLE_RATE));
        assert!(!chunk.samples.is_empty());
        clauses.push(chunk.clause);
    }
    assert_eq!(clauses, [0, 1, 2]);

    // Barge-in on one long sentence (about a second of model run), with
    // this runtime's only worker blocked from the cancel until the job has
    // ended: only the `tts-interrupt` thread can stop the run part-way.
    let long = "word ".repeat(300);
    let slow = SynthesisOptions {
        scales: Some(Scales {
            noise_scale: 0.667,
            length_scale: 2.0,
            noise_w: 0.8,
        }),
        ..SynthesisOptions::default()
    };
    let turn = CancellationToken::new();
    let mut speech = synthesizer.synthesize_with(TurnId(2), long, slow, turn.child_token());
    while synthesizer.stats().runs < 4 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    turn.cancel();
    while synthesizer.stats().cancelled < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let stats = synthesizer.stats();
    assert_eq!(
        stats.interrupted_runs, 1,
        "the model run was stopped part-way: {stats:?}"
    );
    assert_eq!(
        stats.sentences, 3,
        "only the first job's sentences were finished: {stats:?}"
    );
    assert!(speech.next().await.is_none(), "nothing after the cancellation");

    // The thread is free for the next turn.
    let mut next = synthesizer.synthesize(TurnId(3), "Hi.", CancellationToken::new());
    let chunk = next.next().await.expect("a chunk").expect("audio");
    assert_eq!((chunk.turn, chunk.clause), (TurnId(3), 0));
    assert!(next.next().await.is_none());
    let stats = synthesizer.stats();
    assert_eq!(
        (stats.jobs, stats.cancelled, stats.runs, stats.chunks),
        (3, 1, 5, 4),
        "{stats:?}"
    );

    drop(synthesizer);
    assert_eq!(
        new_threads(&before, &[]),
        Vec::<String>::new(),
        "dropping the synthesizer ended both threads and nothing else is left"
    );
}
