//! The speaking stage's thread ([`assistant_tts::stream`]) on the synthetic
//! Piper voices of `scripts/models/make_piper_voice.py`.
//!
//! The voices' audio rule makes every property checkable by counting: each
//! phoneme id becomes `round_half_even(2205 * length_scale)` samples of a
//! sine at `200 + 25 * id` Hz (plus 100/200 Hz for sid 1/2 of the
//! multi-speaker voice), and each sentence is followed by 0.2 s (4410
//! samples) of silence. Cancellation is checked by what the thread reports
//! it did ([`Synthesizer::stats`]), never by the clock: a job that follows a
//! cancelled one in the queue completing is proof that the thread let go.
//! The tests generate the voices into a temporary folder and skip when the
//! real Piper config in `../shared/data` is absent.

mod common;

use std::path::Path;

use common::{SAMPLE_RATE, Voices, dominant_hz};

use assistant_core::{Clock, SpeechChunk, TurnId};
use assistant_tts::TtsError;
use assistant_tts::espeak::Espeak;
use assistant_tts::phonemize::phoneme_ids;
use assistant_tts::stream::{CHUNK_CAPACITY, Synthesis, Synthesizer};
use assistant_tts::synth::{Speaker, SynthesisOptions, Voice, to_int16};
use assistant_tts::voice::{Scales, VoiceConfig};
use tokio_util::sync::CancellationToken;

/// 0.2 s of sentence silence at 22.05 kHz (the default option).
const SILENCE: usize = 4_410;
/// Three sentences of different lengths, so order shows in the durations.
const THREE: &str = "Hi. How are you doing today? Fine, thanks.";
/// Twelve short sentences.
const TWELVE: &str = "One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten. Eleven. Twelve.";

impl Voices {
    fn config(&self, name: &str) -> VoiceConfig {
        VoiceConfig::read(&self.path(&format!("{name}.onnx.json"))).expect("the voice config reads")
    }

    fn voice_with(&self, name: &str, config: VoiceConfig) -> Voice {
        let library = Path::new(env!("SHERPA_ONNX_LIB_DIR")).join("libonnxruntime.so");
        assistant_tts::onnx::init(&library).expect("ONNX Runtime loads (run scripts/bootstrap)");
        Voice::open(&self.path(&format!("{name}.onnx")), config, 1).expect("the synthetic voice opens")
    }

    fn spawn_with(&self, name: &str, options: SynthesisOptions) -> Synthesizer {
        let voice = self.voice_with(name, self.config(name));
        Synthesizer::spawn(voice, options, Clock::start()).expect("the speaking thread starts")
    }

    fn spawn(&self, name: &str) -> Synthesizer {
        self.spawn_with(name, SynthesisOptions::default())
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a test runtime")
        .block_on(future)
}

/// Everything a job yields, read with the async `next`.
fn collect(mut synthesis: Synthesis) -> Vec<Result<SpeechChunk, TtsError>> {
    block_on(async move {
        let mut items = Vec::new();
        while let Some(item) = synthesis.next().await {
            items.push(item);
        }
        items
    })
}

/// The chunks of a job that must succeed, read with `blocking_next`.
fn chunks(mut synthesis: Synthesis) -> Vec<SpeechChunk> {
    let mut out = Vec::new();
    while let Some(item) = synthesis.blocking_next() {
        out.push(item.expect("the job succeeds"));
    }
    out
}

/// The phoneme ids of each sentence of `text`, as the voice is fed them.
fn sentence_ids(config: &VoiceConfig, text: &str) -> Vec<Vec<i64>> {
    let sentences = config
        .phonemize(&mut Espeak::lock().expect("espeak-ng starts"), text)
        .expect("phonemes");
    sentences
        .iter()
        .map(|s| phoneme_ids(s, &config.phoneme_id_map).expect("ids").ids)
        .collect()
}

/// Samples per id: `max(1, round_half_even(float32(2205) * float32(length_scale)))`.
fn segment_samples(length_scale: f32) -> usize {
    (2_205.0_f32 * length_scale).round_ties_even().max(1.0) as usize
}

/// The audio rule for one sentence, before normalisation and silence.
fn expected(ids: &[i64], length_scale: f32, speaker_offset_hz: u64) -> Vec<f32> {
    let step = (2.0 * std::f64::consts::PI / f64::from(SAMPLE_RATE)) as f32;
    let mut out = Vec::new();
    for &id in ids {
        let hz = 200 + 25 * u64::try_from(id).expect("id >= 0") + speaker_offset_hz;
        for n in 0..segment_samples(length_scale) as u64 {
            let m = (hz * n) % u64::from(SAMPLE_RATE);
            out.push(0.5 * (m as f32 * step).sin());
        }
    }
    out
}

/// Waits (without a deadline: a broken thread hangs the test, it cannot
/// make it pass) until the thread has run the model `sentences` times.
fn wait_for_sentences(synthesizer: &Synthesizer, sentences: u64) {
    while synthesizer.stats().sentences < sentences {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn chunks_follow_the_ids_and_the_length_scale_in_order() {
    let Some(voices) = Voices::generate("chunks_follow_the_ids_and_the_length_scale_in_order") else {
        return;
    };
    let config = voices.config("synthetic-single");
    let ids = sentence_ids(&config, THREE);
    assert_eq!(ids.len(), 3, "{THREE:?} is three sentences");
    assert!(
        ids[0].len() < ids[2].len() && ids[2].len() < ids[1].len(),
        "the sentences differ in length, so their order shows: {ids:?}"
    );
    for length_scale in [1.0, 0.5] {
        let options = SynthesisOptions {
            scales: Some(Scales {
                length_scale,
                ..config.scales
            }),
            ..SynthesisOptions::default()
        };
        let synthesizer = voices.spawn_with("synthetic-single", options);
        assert_eq!(synthesizer.sample_rate(), SAMPLE_RATE);
        let cancel = CancellationToken::new();
        let got: Vec<SpeechChunk> = collect(synthesizer.synthesize(TurnId(7), THREE, cancel.child_token()))
            .into_iter()
            .map(|item| item.expect("the job succeeds"))
            .collect();
        assert_eq!(got.len(), 3, "length_scale {length_scale}: one chunk per sentence");
        let per_id = segment_samples(length_scale);
        assert_eq!(per_id, if length_scale == 1.0 { 2_205 } else { 1_102 });
        for (k, (chunk, ids)) in got.iter().zip(&ids).enumerate() {
            let label = format!("length_scale {length_scale}, sentence {k}");
            assert_eq!(chunk.turn, TurnId(7), "{label}");
            assert_eq!(chunk.clause, k as u32, "{label}: clauses in order");
            assert_eq!(chunk.sample_rate, SAMPLE_RATE, "{label}");
            assert_eq!(
                chunk.samples.len(),
                ids.len() * per_id + SILENCE,
                "{label}: {} ids x {per_id} samples + 0.2 s",
                ids.len()
            );
            // The speech is the audio rule, peak-normalised, as int16/32768
            // (ONNX Runtime's float32 sin may move a sample by one step).
            let want = to_int16(&expected(ids, length_scale, 0));
            let (speech, silence) = chunk.samples.split_at(want.len());
            let worst = speech
                .iter()
                .zip(&want)
                .map(|(&a, &b)| ((a * 32_768.0) as i32 - i32::from(b)).abs())
                .max()
                .unwrap_or(0);
            assert!(worst <= 1, "{label}: max |error| {worst} int16 steps");
            assert!(speech.iter().all(|s| (-1.0..1.0).contains(s)), "{label}: in [-1, 1)");
            assert!(silence.iter().all(|&s| s == 0.0), "{label}: silence at the end");
        }
        assert!(
            got.windows(2).all(|w| w[0].synthesized_at <= w[1].synthesized_at),
            "stamped in order on the pipeline clock"
        );
        let stats = synthesizer.stats();
        assert_eq!((stats.jobs, stats.sentences, stats.chunks), (1, 3, 3));
    }
}

#[test]
fn sid_goes_only_to_multi_speaker_voices() {
    let Some(voices) = Voices::generate("sid_goes_only_to_multi_speaker_voices") else {
        return;
    };
    let multi = voices.spawn("synthetic-multi");
    let single = voices.spawn("synthetic-single");
    let cancel = CancellationToken::new();
    let speaking = |synthesizer: &Synthesizer, speaker: Option<Speaker>| {
        let options = SynthesisOptions {
            speaker,
            ..SynthesisOptions::default()
        };
        chunks(synthesizer.synthesize_with(TurnId(1), "Hi.", options, cancel.child_token()))
    };
    // `^` (id 1) opens every sentence: 225 Hz, plus the speaker's offset.
    let first_id = |chunks: &[SpeechChunk]| dominant_hz(&chunks[0].samples[..2_205]);
    let bob = speaking(&multi, Some(Speaker::Name("bob".into())));
    assert_eq!(first_id(&bob), 325, "bob is sid 1: +100 Hz");
    assert_eq!(speaking(&multi, Some(Speaker::Id(1)))[0].samples, bob[0].samples);
    assert_eq!(first_id(&speaking(&multi, Some(Speaker::Name("carol".into())))), 425);
    let alice = speaking(&multi, None);
    assert_eq!(first_id(&alice), 225, "no speaker is sid 0");
    // The single-speaker voice, fed no sid, sounds exactly like sid 0.
    let alone = speaking(&single, None);
    assert_eq!(alone[0].samples, alice[0].samples);
    assert_eq!(
        bob[0].samples.len(),
        alone[0].samples.len(),
        "the speaker does not change durations"
    );

    // A speaker for the single-speaker voice is the job's error, not a sid.
    let options = SynthesisOptions {
        speaker: Some(Speaker::Name("bob".into())),
        ..SynthesisOptions::default()
    };
    let items = collect(single.synthesize_with(TurnId(2), "Hi.", options.clone(), cancel.child_token()));
    assert!(
        matches!(items.as_slice(), [Err(TtsError::UnknownSpeaker { .. })]),
        "one error item, then the end: {items:?}"
    );
    assert_eq!(
        chunks(single.synthesize(TurnId(3), "Hi.", cancel.child_token())).len(),
        1
    );
    // Spawned with it, the voice is refused at once.
    let voice = voices.voice_with("synthetic-single", voices.config("synthetic-single"));
    let refused = Synthesizer::spawn(voice, options, Clock::start()).expect_err("a speaker on a single-speaker voice");
    assert!(matches!(refused, TtsError::UnknownSpeaker { .. }), "{refused}");
}

#[test]
fn an_unknown_speaker_is_an_error_item_and_the_next_job_runs() {
    let Some(voices) = Voices::generate("an_unknown_speaker_is_an_error_item_and_the_next_job_runs") else {
        return;
    };
    let multi = voices.spawn("synthetic-multi");
    let cancel = CancellationToken::new();
    for speaker in [Speaker::Name("dave".into()), Speaker::Id(3), Speaker::Id(-1)] {
        let options = SynthesisOptions {
            speaker: Some(speaker.clone()),
            ..SynthesisOptions::default()
        };
        // Even with nothing to say, the speaker is checked.
        for text in [THREE, ""] {
            let items = collect(multi.synthesize_with(TurnId(1), text, options.clone(), cancel.child_token()));
            let [Err(TtsError::UnknownSpeaker { speaker: named, known })] = items.as_slice() else {
                panic!("{speaker:?}, {text:?}: want one UnknownSpeaker item, got {items:?}");
            };
            assert!(
                named.contains("dave") || named.contains('3') || named.contains("-1"),
                "{named}"
            );
            assert_eq!(known, &["alice", "bob", "carol"]);
        }
        let next = chunks(multi.synthesize(TurnId(2), THREE, cancel.child_token()));
        assert_eq!(next.len(), 3, "after {speaker:?}, the next job runs");
    }
    let stats = multi.stats();
    assert_eq!((stats.jobs, stats.failed, stats.sentences), (9, 6, 9));
}

#[test]
fn a_model_failure_ends_the_job_after_the_chunks_before_it() {
    let Some(voices) = Voices::generate("a_model_failure_ends_the_job_after_the_chunks_before_it") else {
        return;
    };
    // `z` mapped past the voice's 256 symbols: the model run fails, as a
    // real voice's embedding lookup would.
    let mut config = voices.config("synthetic-single");
    config.phoneme_id_map.insert("z".into(), vec![999]);
    let voice = voices.voice_with("synthetic-single", config);
    let synthesizer = Synthesizer::spawn(voice, SynthesisOptions::default(), Clock::start()).expect("spawns");
    let cancel = CancellationToken::new();
    let items = collect(synthesizer.synthesize(TurnId(1), "Hi. Zoo. Hi.", cancel.child_token()));
    match items.as_slice() {
        [Ok(first), Err(TtsError::Synthesis { .. })] => assert_eq!(first.clause, 0),
        other => panic!("want sentence 0, then the failure, then the end: {other:?}"),
    }
    assert_eq!(
        chunks(synthesizer.synthesize(TurnId(2), "Hi. Hi.", cancel.child_token())).len(),
        2
    );
    let stats = synthesizer.stats();
    assert_eq!((stats.jobs, stats.failed, stats.chunks), (2, 1, 3));
}

#[test]
fn cancelling_ends_the_job_and_frees_the_thread() {
    let Some(voices) = Voices::generate("cancelling_ends_the_job_and_frees_the_thread") else {
        return;
    };
    let synthesizer = voices.spawn("synthetic-single");
    let turn = CancellationToken::new();
    let mut speech = synthesizer.synthesize(TurnId(1), TWELVE, turn.child_token());
    let first = speech.blocking_next().expect("a first chunk").expect("it is audio");
    assert_eq!((first.turn, first.clause), (TurnId(1), 0));
    turn.cancel();
    let at_cancel = synthesizer.stats().sentences;
    // Chunks already in the channel are not handed out: the turn is over.
    assert!(speech.blocking_next().is_none(), "nothing after the cancellation");
    assert!(speech.blocking_next().is_none(), "and the stream stays ended");

    // The thread is free: the next job runs, and when it is done the
    // cancelled one is too.
    let next = chunks(synthesizer.synthesize(TurnId(2), "Hi.", CancellationToken::new()));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].turn, TurnId(2));
    let stats = synthesizer.stats();
    let cancelled_job = stats.sentences - 1;
    assert!(
        cancelled_job <= at_cancel + 1,
        "at most the sentence in progress is finished after the cancellation: {at_cancel} before, {cancelled_job} after"
    );
    assert!(
        cancelled_job <= CHUNK_CAPACITY as u64 + 2 && cancelled_job < 12,
        "the bounded channel kept the thread close behind the reader: {cancelled_job} of 12 sentences"
    );
    assert_eq!((stats.jobs, stats.cancelled), (2, 1));

    // A job whose turn is already over runs nothing.
    let over = CancellationToken::new();
    over.cancel();
    assert!(collect(synthesizer.synthesize(TurnId(3), TWELVE, over.child_token())).is_empty());
    assert_eq!(
        chunks(synthesizer.synthesize(TurnId(4), "Hi.", CancellationToken::new())).len(),
        1
    );
    let after = synthesizer.stats();
    assert_eq!(
        after.sentences,
        stats.sentences + 1,
        "the cancelled job ran no sentence"
    );
    assert_eq!((after.jobs, after.cancelled), (4, 2));
}

#[test]
fn dropping_a_synthesis_cancels_it_and_the_next_job_runs() {
    let Some(voices) = Voices::generate("dropping_a_synthesis_cancels_it_and_the_next_job_runs") else {
        return;
    };
    let synthesizer = voices.spawn("synthetic-single");
    let turn = CancellationToken::new();

    // Dropped after its first chunk.
    let mut first = synthesizer.synthesize(TurnId(1), TWELVE, turn.child_token());
    assert!(first.blocking_next().is_some_and(|c| c.is_ok()));
    drop(first);
    let next = chunks(synthesizer.synthesize(TurnId(2), THREE, turn.child_token()));
    assert_eq!(next.len(), 3, "the next job runs to its end");
    assert!(next.iter().all(|c| c.turn == TurnId(2)));
    assert!(!turn.is_cancelled(), "only the dropped job's own token is cancelled");

    // Queued behind a job that is dropped unread: that job stops, this one
    // runs (jobs run in order, so it completing means the first let go).
    let unread = synthesizer.synthesize(TurnId(3), TWELVE, turn.child_token());
    let queued = synthesizer.synthesize(TurnId(4), THREE, turn.child_token());
    drop(unread);
    let got = chunks(queued);
    assert_eq!(
        got.iter().map(|c| (c.turn, c.clause)).collect::<Vec<_>>(),
        [(TurnId(4), 0), (TurnId(4), 1), (TurnId(4), 2)]
    );
    let stats = synthesizer.stats();
    assert_eq!((stats.jobs, stats.cancelled), (4, 2));
    assert!(
        stats.sentences < 12 + 3 + 3,
        "neither dropped job ran to its end: {stats:?}"
    );
}

#[test]
fn a_stalled_reader_does_not_hold_the_thread_after_cancel() {
    let Some(voices) = Voices::generate("a_stalled_reader_does_not_hold_the_thread_after_cancel") else {
        return;
    };
    let synthesizer = voices.spawn("synthetic-single");
    let turn = CancellationToken::new();
    // Nobody reads: the channel fills up with CHUNK_CAPACITY sentences and
    // the thread, having synthesized one more, waits for room.
    let mut stalled = synthesizer.synthesize(TurnId(1), TWELVE, turn.child_token());
    let queued = synthesizer.synthesize(TurnId(2), "Hi.", CancellationToken::new());
    wait_for_sentences(&synthesizer, CHUNK_CAPACITY as u64 + 1);
    let full = synthesizer.stats();
    assert_eq!(
        full.chunks, CHUNK_CAPACITY as u64,
        "the channel holds {CHUNK_CAPACITY} chunks"
    );
    // The reader is still there, just not reading; its turn is cancelled.
    turn.cancel();
    let got = chunks(queued);
    assert_eq!(got.len(), 1, "the waiting thread woke up and took the next job");
    let stats = synthesizer.stats();
    assert_eq!(
        stats.sentences,
        CHUNK_CAPACITY as u64 + 2,
        "the cancelled job synthesized nothing after the one it could not send"
    );
    assert_eq!(stats.chunks, CHUNK_CAPACITY as u64 + 1);
    assert_eq!(stats.cancelled, 1);
    assert!(
        stalled.blocking_next().is_none(),
        "the buffered chunks of a cancelled turn are not handed out"
    );
}

#[test]
fn text_with_nothing_to_say_is_silence() {
    let Some(voices) = Voices::generate("text_with_nothing_to_say_is_silence") else {
        return;
    };
    let synthesizer = voices.spawn("synthetic-single");
    let cancel = CancellationToken::new();
    let quiet = [
        "",
        "   ",
        "\n\t\n",
        "...",
        "!",
        "!!!",
        "?!",
        "— … -- ;",
        "😀😀",
        "🙂 🎉 ✨",
        "👍🏽",
        "🇩🇪",
        "\u{0}",
    ];
    for text in quiet {
        let items = collect(synthesizer.synthesize(TurnId(1), text, cancel.child_token()));
        assert!(items.is_empty(), "{text:?}: nothing to say, no error: {items:?}");
    }
    let stats = synthesizer.stats();
    assert_eq!((stats.jobs, stats.sentences, stats.failed), (quiet.len() as u64, 0, 0));
    // Next to words, symbols are left to espeak-ng, as in Piper: it reads
    // the emoji's name ("slightly smiling face") as a sentence of its own.
    let spoken = chunks(synthesizer.synthesize(TurnId(2), "Hi! 🙂", cancel.child_token()));
    assert_eq!(spoken.iter().map(|c| c.clause).collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn bad_input_and_settings_are_errors_not_panics() {
    let Some(voices) = Voices::generate("bad_input_and_settings_are_errors_not_panics") else {
        return;
    };
    let synthesizer = voices.spawn("synthetic-single");
    let cancel = CancellationToken::new();
    let items = collect(synthesizer.synthesize(TurnId(1), "Hi\0there.", cancel.child_token()));
    assert!(
        matches!(items.as_slice(), [Err(TtsError::NulInText { at: 2 })]),
        "{items:?}"
    );
    let config = voices.config("synthetic-single");
    for (option, options) in [
        (
            "length_scale",
            SynthesisOptions {
                scales: Some(Scales {
                    length_scale: f32::NAN,
                    ..config.scales
                }),
                ..SynthesisOptions::default()
            },
        ),
        (
            "length_scale",
            SynthesisOptions {
                scales: Some(Scales {
                    length_scale: 0.0,
                    ..config.scales
                }),
                ..SynthesisOptions::default()
            },
        ),
        (
            "sentence_silence_s",
            SynthesisOptions {
                sentence_silence_s: f32::INFINITY,
                ..SynthesisOptions::default()
            },
        ),
        (
            "sentence_silence_s",
            SynthesisOptions {
                sentence_silence_s: -1.0,
                ..SynthesisOptions::default()
            },
        ),
        (
            "rate",
            SynthesisOptions {
                rate: 0.0,
                ..SynthesisOptions::default()
            },
        ),
    ] {
        let items = collect(synthesizer.synthesize_with(TurnId(2), "Hi.", options.clone(), cancel.child_token()));
        assert!(
            matches!(items.as_slice(), [Err(TtsError::InvalidOption { option: o, .. })] if *o == option),
            "{option}: {items:?}"
        );
        let voice = voices.voice_with("synthetic-single", config.clone());
        let refused = Synthesizer::spawn(voice, options, Clock::start()).expect_err("refused at start");
        assert!(refused.to_string().contains(option), "{refused}");
    }
    assert_eq!(
        chunks(synthesizer.synthesize(TurnId(3), "Hi.", cancel.child_token())).len(),
        1
    );
}

#[test]
fn a_hundred_kilobytes_of_text_stream_sentence_by_sentence() {
    let Some(voices) = Voices::generate("a_hundred_kilobytes_of_text_stream_sentence_by_sentence") else {
        return;
    };
    let long = "This is a sentence. ".repeat(5_000);
    assert_eq!(long.len(), 100_000);
    let config = voices.config("synthetic-single");
    let sentences = config
        .phonemize(&mut Espeak::lock().expect("espeak-ng starts"), &long)
        .expect("phonemes")
        .len();
    assert_eq!(sentences, 5_000);
    let synthesizer = voices.spawn("synthetic-single");
    let turn = CancellationToken::new();
    let mut speech = synthesizer.synthesize(TurnId(1), long, turn.child_token());
    let first = block_on(speech.next()).expect("a first chunk").expect("audio");
    assert_eq!(first.clause, 0);
    let ids = &sentence_ids(&config, "This is a sentence.")[0];
    assert_eq!(first.samples.len(), ids.len() * 2_205 + SILENCE);
    turn.cancel();
    assert!(block_on(speech.next()).is_none());
    assert_eq!(
        chunks(synthesizer.synthesize(TurnId(2), "Hi.", CancellationToken::new())).len(),
        1
    );
    let made = synthesizer.stats().sentences - 1;
    assert!(
        made <= CHUNK_CAPACITY as u64 + 2,
        "the first chunk came while {} of {sentences} sentences were still unsynthesized ({made} made)",
        sentences as u64 - made
    );
}

#[test]
fn dropping_the_synthesizer_ends_its_thread_and_streams() {
    let Some(voices) = Voices::generate("dropping_the_synthesizer_ends_its_thread_and_streams") else {
        return;
    };
    let synthesizer = voices.spawn("synthetic-single");
    let turn = CancellationToken::new();
    // One job stalled on a full channel, one queued behind it.
    let mut stalled = synthesizer.synthesize(TurnId(1), TWELVE, turn.child_token());
    let mut queued = synthesizer.synthesize(TurnId(2), THREE, turn.child_token());
    wait_for_sentences(&synthesizer, CHUNK_CAPACITY as u64 + 1);
    // Joins the thread: this returns only because the thread stopped waiting.
    drop(synthesizer);
    // What was already sent can still be read; then the stream ends.
    let mut read = 0;
    while let Some(item) = stalled.blocking_next() {
        let chunk = item.expect("audio");
        assert_eq!(chunk.clause, read);
        read += 1;
    }
    assert_eq!(read as usize, CHUNK_CAPACITY);
    assert!(queued.blocking_next().is_none(), "the queued job never ran");
    assert!(!turn.is_cancelled());
}

#[test]
fn barge_in_stops_the_model_run_in_progress() {
    let Some(voices) = Voices::generate("barge_in_stops_the_model_run_in_progress") else {
        return;
    };
    // One long sentence: about a second of model run on this voice.
    let long = "word ".repeat(300);
    let slow = SynthesisOptions {
        scales: Some(Scales {
            noise_scale: 0.667,
            length_scale: 2.0,
            noise_w: 0.8,
        }),
        ..SynthesisOptions::default()
    };

    // The voice alone: a triggered interrupt fails the run, a stale one
    // (for an earlier generation) does not, and arming clears it.
    let mut voice = voices.voice_with("synthetic-single", voices.config("synthetic-single"));
    let short = voice.sentences("Hi.").expect("phonemes");
    let interrupt = voice.interrupt();
    let first = interrupt.arm();
    assert!(interrupt.trigger(first));
    let result = voice.synthesize_sentence(0, &short[0], &SynthesisOptions::default());
    assert!(matches!(result, Err(TtsError::Interrupted)), "{result:?}");
    let second = interrupt.arm();
    assert!(!interrupt.trigger(first), "a late trigger for the previous run");
    let result = voice.synthesize_sentence(0, &short[0], &SynthesisOptions::default());
    assert!(matches!(result, Ok(Some(_))), "{result:?}");
    assert!(second > first);

    // The stage: cancel while the long run is under way.
    let synthesizer = Synthesizer::spawn(voice, SynthesisOptions::default(), Clock::start()).expect("spawns");
    let turn = CancellationToken::new();
    let mut speech = synthesizer.synthesize_with(TurnId(1), long, slow, turn.child_token());
    while synthesizer.stats().runs < 1 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    turn.cancel();
    assert!(speech.blocking_next().is_none(), "nothing after the cancellation");
    // The next job completing proves the thread let go of the cancelled one.
    let next = chunks(synthesizer.synthesize(TurnId(2), "Hi.", CancellationToken::new()));
    assert_eq!(next.len(), 1);
    let stats = synthesizer.stats();
    assert_eq!(stats.interrupted_runs, 1, "{stats:?}");
    assert_eq!(
        stats.sentences, 1,
        "only the next job's sentence was finished: {stats:?}"
    );
    assert_eq!((stats.jobs, stats.cancelled, stats.runs), (2, 1, 2), "{stats:?}");
}
