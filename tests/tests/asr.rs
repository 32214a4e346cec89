//! The listening stage through the real sherpa-onnx 2.0.1 library, with the
//! synthetic tone transducer and the generated fixtures
//! (`scripts/models/ensure`): exact transcripts, partials, endpoint timing,
//! resampling, VAD gating, threading and bad input.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assistant_asr::{
    AsrError, Decoding, Endpointing, Hotwords, ListenConfig, ListenStats, Listener, Recognizer, RecognizerConfig,
    TransducerFiles, VadConfig,
};
use assistant_core::{AudioFrame, Timestamp, TranscriptEvent};

/// Rule 2 for the tone model: tone + gap (0.45 s) + one 40 ms frame must fit.
const RULE2_S: f32 = 0.5;
/// Rule 2 rounded up to whole 40 ms encoder frames, as sherpa counts it.
const RULE2_FRAMES_S: f64 = 0.52;
/// One decode chunk of the tone model (16 fbank frames of 10 ms).
const CHUNK_S: f64 = 0.16;
/// One encoder frame (4 fbank frames).
const FRAME_S: f64 = 0.04;
/// One capture frame.
const FEED_S: f64 = 0.02;

fn model() -> TransducerFiles {
    let m = assistant_tests::synthetic_assets().join("transducer");
    TransducerFiles {
        encoder: m.join("encoder.onnx"),
        decoder: m.join("decoder.onnx"),
        joiner: m.join("joiner.onnx"),
        tokens: m.join("tokens.txt"),
    }
}

fn config() -> RecognizerConfig {
    let mut c = RecognizerConfig::new(model());
    c.endpointing = Endpointing {
        silence_without_text_s: 2.4,
        silence_after_text_s: RULE2_S,
        max_utterance_s: 20.0,
    };
    c
}

fn tones() -> PathBuf {
    assistant_tests::synthetic_assets().join("tones")
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

/// The frames a capture device would deliver for a WAV file: 20 ms, the
/// file's own rate, mono, stamped from t = 0.
fn frames(path: &Path) -> Vec<AudioFrame> {
    let pcm = assistant_audio::wav::read(path).unwrap_or_else(|e| panic!("{e}"));
    pcm.into_mono().frames(Timestamp::from_nanos(0))
}

fn listen(
    recognizer: &Recognizer,
    config: &ListenConfig,
    frames: &[AudioFrame],
) -> (Vec<TranscriptEvent>, ListenStats) {
    let mut listener = Listener::new(recognizer, config).expect("listener");
    let mut events = Vec::new();
    for frame in frames {
        listener.push(frame, &mut events).expect("frame accepted");
    }
    listener.finish(&mut events).expect("finish");
    (events, listener.stats())
}

fn secs(t: Timestamp) -> f64 {
    t.since_epoch().as_secs_f64()
}

/// (text, speech_end_at, endpoint_at) of every final.
fn finals(events: &[TranscriptEvent]) -> Vec<(String, f64, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            TranscriptEvent::Final {
                text,
                speech_end_at,
                endpoint_at,
                ..
            } => Some((text.clone(), secs(*speech_end_at), secs(*endpoint_at))),
            _ => None,
        })
        .collect()
}

#[test]
fn every_tone_fixture_decodes_exactly_with_growing_partials_and_timely_endpoints() {
    let recognizer = Recognizer::new(&config()).expect("recognizer");
    let listen_config = ListenConfig::new(config());
    let m = manifest(&tones());
    let fixtures = m["fixtures"].as_array().expect("fixtures");
    assert!(fixtures.len() >= 18, "the manifest lists every fixture");
    for fixture in fixtures {
        let file = fixture["file"].as_str().expect("file");
        let want: Vec<&str> = fixture["transcripts"]
            .as_array()
            .expect("transcripts")
            .iter()
            .filter_map(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        let ends: Vec<f64> = fixture["speech_end_s"]
            .as_array()
            .expect("speech_end_s")
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect();
        let (events, _) = listen(&recognizer, &listen_config, &frames(&tones().join(file)));
        let got = finals(&events);
        let texts: Vec<&str> = got.iter().map(|(t, _, _)| t.as_str()).collect();
        assert_eq!(texts, want, "{file}: one final per utterance, exact words");

        // Per turn: SpeechStarted first, then partials that only grow, each
        // a prefix of the final.
        for (turn_index, (final_text, speech_end, endpoint)) in got.iter().enumerate() {
            let turn = assistant_core::TurnId(turn_index as u64 + 1);
            let of_turn: Vec<&TranscriptEvent> = events.iter().filter(|e| e.turn() == turn).collect();
            assert!(
                matches!(of_turn.first(), Some(TranscriptEvent::SpeechStarted { .. })),
                "{file}: {turn} opens with SpeechStarted: {of_turn:?}"
            );
            let partials: Vec<&str> = of_turn
                .iter()
                .filter_map(|e| match e {
                    TranscriptEvent::Partial { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert!(!partials.is_empty(), "{file}: {turn} has partials");
            for pair in partials.windows(2) {
                assert!(
                    pair[1].starts_with(pair[0]) && pair[1].len() > pair[0].len(),
                    "{file}: partials grow: {partials:?}"
                );
            }
            assert_eq!(partials.last(), Some(&final_text.as_str()), "{file}");

            // The endpoint fires after rule 2's silence, within one decode
            // chunk (plus sherpa's 40 ms frame quantisation and one feed).
            let truth = ends[turn_index];
            let delay = endpoint - truth;
            let latest = RULE2_FRAMES_S + CHUNK_S + FRAME_S + FEED_S;
            assert!(
                delay >= f64::from(RULE2_S) && delay <= latest + 1e-6,
                "{file}: endpoint {delay:.3} s after speech end, expected {RULE2_S}..{latest:.2}"
            );
            // speech_end_at is the last token's time, which sherpa puts
            // on the 40 ms encoder-frame grid next to the tone's end.
            let lag = speech_end - truth;
            assert!(
                lag.abs() <= FRAME_S + 1e-6,
                "{file}: speech_end_at {speech_end:.3} vs true end {truth:.3}"
            );
        }
    }
}

#[test]
fn the_same_words_at_every_rate_and_sample_format() {
    let recognizer = Recognizer::new(&config()).expect("recognizer");
    let listen_config = ListenConfig::new(config());
    let mut endpoints = Vec::new();
    for file in [
        "three_words.wav",
        "three_words_8k.wav",
        "three_words_44k1.wav",
        "three_words_44k1_stereo.wav",
        "three_words_48k_float.wav",
        "three_words_24bit.wav",
        "three_words_32bit.wav",
    ] {
        let (events, _) = listen(&recognizer, &listen_config, &frames(&tones().join(file)));
        let got = finals(&events);
        assert_eq!(got.len(), 1, "{file}: {got:?}");
        assert_eq!(got[0].0, "one two three", "{file}");
        endpoints.push((file, got[0].2));
    }
    // Resampling keeps the timeline: endpoints agree within one decode chunk.
    let first = endpoints[0].1;
    for (file, at) in &endpoints {
        assert!(
            (at - first).abs() <= CHUNK_S + 1e-6,
            "{file}: endpoint {at:.3} vs {first:.3}"
        );
    }
}

#[test]
fn a_maximum_length_utterance_is_cut_as_configured() {
    let mut c = config();
    c.endpointing.max_utterance_s = 1.0;
    let recognizer = Recognizer::new(&c).expect("recognizer");
    let (events, _) = listen(
        &recognizer,
        &ListenConfig::new(c),
        &frames(&tones().join("six_words.wav")),
    );
    let got = finals(&events);
    assert!(got.len() >= 2, "rule 3 cut the 2.7 s utterance: {got:?}");
    let words: Vec<&str> = got.iter().flat_map(|(t, _, _)| t.split(' ')).collect();
    assert_eq!(
        words,
        ["four", "five", "six", "seven", "eight", "nine"],
        "no word lost or doubled"
    );
    // Each piece ends within rule 3 plus one chunk of the previous cut.
    let mut previous_end = got[0].2 - 1.0;
    for (_, _, endpoint) in &got[..got.len() - 1] {
        assert!(endpoint - previous_end <= 1.0 + CHUNK_S + FRAME_S + 1e-6, "{got:?}");
        previous_end = *endpoint;
    }
}

#[test]
fn silence_and_very_short_audio_give_no_transcript_and_no_panic() {
    let recognizer = Recognizer::new(&config()).expect("recognizer");
    let listen_config = ListenConfig::new(config());
    for file in ["silence.wav", "very_short.wav"] {
        let (events, stats) = listen(&recognizer, &listen_config, &frames(&tones().join(file)));
        assert!(events.is_empty(), "{file}: {events:?}");
        assert!(stats.samples > 0);
    }
    // Zero-length audio: nothing at all.
    let (events, stats) = listen(&recognizer, &listen_config, &[]);
    assert!(events.is_empty() && stats.samples == 0);
}

#[test]
fn nan_samples_are_refused_and_the_listener_carries_on() {
    let recognizer = Recognizer::new(&config()).expect("recognizer");
    let mut listener = Listener::new(&recognizer, &ListenConfig::new(config())).expect("listener");
    let mut events = Vec::new();
    let mut all = frames(&tones().join("one_word.wav"));
    let mut poisoned = all[3].clone();
    poisoned.samples[17] = f32::NAN;
    let err = listener.push(&poisoned, &mut events).expect_err("NaN");
    assert!(matches!(err, AsrError::BadAudio { .. }), "{err}");
    assert!(err.to_string().contains("sample 17"), "{err}");
    for frame in all.drain(..) {
        listener.push(&frame, &mut events).expect("clean frames");
    }
    listener.finish(&mut events).expect("finish");
    assert_eq!(finals(&events).len(), 1, "{events:?}");
}

#[test]
fn bad_model_files_are_named_before_sherpa_sees_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = model();

    let mut missing = good.clone();
    missing.encoder = dir.path().join("nope.onnx");
    let err = Recognizer::new(&RecognizerConfig::new(missing)).expect_err("missing");
    assert!(matches!(err, AsrError::ModelMissing { what: "encoder", .. }), "{err}");

    // A tokens file from another model: fewer symbols than the decoder's
    // vocabulary (sherpa-onnx itself would crash on the first such token).
    let short = dir.path().join("tokens.txt");
    let text = std::fs::read_to_string(&good.tokens).expect("tokens");
    std::fs::write(&short, text.lines().take(5).collect::<Vec<_>>().join("\n")).expect("write");
    let mut mismatched = good.clone();
    mismatched.tokens = short;
    let message = Recognizer::new(&RecognizerConfig::new(mismatched))
        .expect_err("mismatch")
        .to_string();
    assert!(
        message.contains("5 symbols") && message.contains("vocabulary of 13"),
        "{message}"
    );

    // A tokens file that is not one; an encoder that is not ONNX.
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(&garbage, "hello world\n").expect("write");
    let mut bad_tokens = good.clone();
    bad_tokens.tokens = garbage.clone();
    let message = Recognizer::new(&RecognizerConfig::new(bad_tokens))
        .expect_err("bad tokens")
        .to_string();
    assert!(
        message.contains("garbage.txt") && message.contains("<symbol> <id>"),
        "{message}"
    );
    let mut not_onnx = good.clone();
    not_onnx.encoder = good.tokens.clone();
    let message = Recognizer::new(&RecognizerConfig::new(not_onnx))
        .expect_err("not onnx")
        .to_string();
    assert!(
        message.contains("encoder") && message.contains("not an ONNX model"),
        "{message}"
    );

    // The decoder in the encoder's place: ONNX, but no model_type.
    let mut swapped = good.clone();
    swapped.encoder = good.decoder.clone();
    let message = Recognizer::new(&RecognizerConfig::new(swapped))
        .expect_err("swapped")
        .to_string();
    assert!(message.contains("model_type"), "{message}");

    // Settings out of range name their field.
    let mut c = RecognizerConfig::new(good);
    c.endpointing.silence_after_text_s = -1.0;
    let message = Recognizer::new(&c).expect_err("negative").to_string();
    assert!(message.contains("asr.endpoint.silence_after_text_s"), "{message}");
}

#[test]
fn hotwords_need_beam_search_and_a_vocabulary_that_can_spell_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hotwords.txt");
    std::fs::write(&file, "hello stop\n").expect("write");
    let mut c = config();
    c.hotwords = Some(Hotwords {
        file: file.clone(),
        score: 1.5,
        bpe_vocab: None,
    });
    let message = Recognizer::new(&c).expect_err("greedy").to_string();
    assert!(message.contains("modified_beam_search"), "{message}");

    // The tone model's tokens are whole words with a leading "▁", which
    // sherpa-onnx cannot spell from hotword text without a BPE vocabulary:
    // it would log and drop the phrase; we refuse it and say why.
    c.decoding = Decoding::ModifiedBeam { max_active_paths: 4 };
    let message = Recognizer::new(&c).expect_err("unspellable").to_string();
    assert!(
        message.contains("line 1") && message.contains("\"hello\"") && message.contains("bpe.vocab"),
        "{message}"
    );

    // Without hotwords, beam search decodes the same as greedy search.
    c.hotwords = None;
    let recognizer = Recognizer::new(&c).expect("beam search");
    let (events, _) = listen(
        &recognizer,
        &ListenConfig::new(c.clone()),
        &frames(&tones().join("two_utterances.wav")),
    );
    let texts: Vec<String> = finals(&events).into_iter().map(|(t, _, _)| t).collect();
    assert_eq!(texts, ["hello stop", "stop one"]);
}

#[test]
fn the_threaded_stage_matches_the_listener_and_stops_on_cancel() {
    let listen_config = ListenConfig::new(config());
    let input = frames(&tones().join("two_utterances.wav"));
    let recognizer = Recognizer::new(&config()).expect("recognizer");
    let (expected, _) = listen(&recognizer, &listen_config, &input);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (frame_tx, frame_rx) = tokio::sync::mpsc::channel(8);
        let (event_tx, mut event_rx) = tokio::sync::mpsc::channel(8);
        let cancel = tokio_util::sync::CancellationToken::new();
        let handle =
            assistant_asr::listen::spawn(listen_config.clone(), frame_rx, event_tx, cancel.clone()).expect("spawn");
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
        let stats = handle.join().expect("thread").expect("stage ok");
        let untimed = |events: Vec<TranscriptEvent>| -> Vec<TranscriptEvent> {
            events.into_iter().map(TranscriptEvent::without_timings).collect()
        };
        assert_eq!(untimed(got), untimed(expected));
        assert_eq!(stats.finals, 2);

        // Cancelled mid-stream: the thread ends promptly and sends nothing more.
        let (frame_tx, frame_rx) = tokio::sync::mpsc::channel(8);
        let (event_tx, mut event_rx) = tokio::sync::mpsc::channel(64);
        let cancel = tokio_util::sync::CancellationToken::new();
        let handle = assistant_asr::listen::spawn(listen_config, frame_rx, event_tx, cancel.clone()).expect("spawn");
        for frame in frames(&tones().join("one_word.wav")).into_iter().take(20) {
            frame_tx.send(frame).await.expect("alive");
        }
        cancel.cancel();
        let joined = tokio::task::spawn_blocking(move || handle.join());
        let stats = tokio::time::timeout(Duration::from_secs(10), joined)
            .await
            .expect("the stage stops on cancel")
            .expect("join task")
            .expect("thread")
            .expect("stage ok");
        assert!(stats.frames <= 20);
        while let Ok(event) = event_rx.try_recv() {
            assert!(
                !matches!(event, TranscriptEvent::Final { .. }),
                "no final after cancel: {event:?}"
            );
        }
        drop(frame_tx);
    });

    // A bad configuration is reported by spawn itself.
    let mut bad = config();
    bad.model.joiner = PathBuf::from("/nonexistent/joiner.onnx");
    let (_tx, rx) = tokio::sync::mpsc::channel(1);
    let (etx, _erx) = tokio::sync::mpsc::channel(1);
    let err = assistant_asr::listen::spawn(
        ListenConfig::new(bad),
        rx,
        etx,
        tokio_util::sync::CancellationToken::new(),
    )
    .expect_err("missing joiner");
    assert!(matches!(err, AsrError::ModelMissing { what: "joiner", .. }), "{err}");
}

/// The Silero VAD v4 model from the shared data, or `None` (skip).
fn vad_model(test: &str) -> Option<PathBuf> {
    let data = assistant_tests::shared_data(test)?;
    Some(data.join("silero-vad/v4/silero_vad.onnx"))
}

#[test]
fn vad_gating_feeds_only_the_utterance_and_pre_roll_keeps_its_first_word() {
    let Some(vad) = vad_model("vad_gating") else { return };
    let speech = assistant_tests::synthetic_assets().join("speech");
    let m = manifest(&speech);
    let gated = m["gated"].as_array().expect("gated fixtures");
    let long = gated
        .iter()
        .find(|g| g["file"] == "gated_60s.wav")
        .expect("gated_60s.wav in the manifest");
    let start = long["whisper_start_s"].as_f64().expect("whisper_start_s");
    let end = long["speech_end_s"].as_f64().expect("speech_end_s");
    let input = frames(&speech.join("gated_60s.wav"));

    // The whispered words between "hello" and "stop" hold no tone, so the
    // pause between those words is 0.84 s: rule 2 must be longer.
    let mut c = config();
    c.endpointing.silence_after_text_s = 1.2;
    let recognizer = Recognizer::new(&c).expect("recognizer");
    let mut gated_config = ListenConfig::new(c);
    gated_config.vad = Some(VadConfig::new(&vad));
    let (events, stats) = listen(&recognizer, &gated_config, &input);
    let got = finals(&events);
    assert_eq!(got.len(), 1, "{events:?}");
    assert_eq!(got[0].0, "hello stop three", "pre-roll kept the first word");
    let fed_s = stats.samples_fed as f64 / 16_000.0;
    let total_s = stats.samples as f64 / 16_000.0;
    // Fed: the pre-roll and VAD lag before the onset, the utterance, and
    // the trailing silence the endpoint needs; nothing of the other 58 s.
    let most = (end - start) + 0.3 + 0.25 + 0.032 + 1.24 + CHUNK_S + FRAME_S + 2.0 * FEED_S;
    assert!(
        fed_s >= end - start && fed_s <= most,
        "fed {fed_s:.2} s of {total_s:.1} s; expected {:.2}..{most:.2}",
        end - start
    );
    // The VAD noticed speech only after the first word had ended: the
    // word reached the transducer through the pre-roll alone.
    let first_word_end = long["first_tone_end_s"].as_f64().expect("first_tone_end_s");
    match events.first() {
        Some(TranscriptEvent::SpeechStarted { at, .. }) => assert!(
            secs(*at) > first_word_end,
            "onset noticed at {:.3} s, first word ended at {first_word_end:.3} s",
            secs(*at)
        ),
        other => panic!("expected SpeechStarted first, got {other:?}"),
    }
}

#[test]
fn quiet_audio_skips_the_vad_and_the_utterance_is_heard_the_same() {
    let Some(vad) = vad_model("quiet_audio_skips_the_vad") else {
        return;
    };
    let speech = assistant_tests::synthetic_assets().join("speech");
    let input = frames(&speech.join("gated_60s.wav"));
    let mut c = config();
    c.endpointing.silence_after_text_s = 1.2;
    let recognizer = Recognizer::new(&c).expect("recognizer");
    let mut every = ListenConfig::new(c);
    every.vad = Some(VadConfig::new(&vad));
    let mut floored = every.clone();
    floored.vad_floor_dbfs = Some(-60.0);
    let (all_events, all_stats) = listen(&recognizer, &every, &input);
    let (events, stats) = listen(&recognizer, &floored, &input);
    // The same transcript, at the same times give or take one VAD window
    // (the model sees its 32 ms windows aligned differently after a
    // skipped stretch), from as much audio. The endpoint fires on the
    // transducer's chunk grid, which starts where the gate opened: one
    // VAD window earlier or later moves it by up to a decode chunk.
    let (got, all) = (finals(&events), finals(&all_events));
    assert_eq!(got.len(), all.len(), "{got:?} vs {all:?}");
    for ((text, end, endpoint), (all_text, all_end, all_endpoint)) in got.iter().zip(&all) {
        assert_eq!(text, all_text);
        assert!((end - all_end).abs() <= 0.041, "speech end {end} vs {all_end}");
        assert!(
            (endpoint - all_endpoint).abs() <= CHUNK_S + 0.041,
            "endpoint {endpoint} vs {all_endpoint}"
        );
    }
    assert!(
        stats.samples_fed.abs_diff(all_stats.samples_fed) <= (CHUNK_S * 16_000.0) as u64 + 640,
        "{stats:?} vs {all_stats:?}"
    );
    assert_eq!(all_stats.below_vad_floor, 0);
    // Nearly all of the 60 s of digital silence never reached the VAD.
    let skipped_s = stats.below_vad_floor as f64 / 16_000.0;
    assert!(skipped_s > 55.0, "only {skipped_s:.1} s skipped the VAD");
    // A floor out of range is refused, naming the setting.
    let mut wrong = floored.clone();
    wrong.vad_floor_dbfs = Some(12.0);
    let refused = Listener::new(&recognizer, &wrong).err().map(|e| e.to_string());
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("asr.vad.floor_dbfs")),
        "{refused:?}"
    );
}

/// `samples` at 16 kHz, three times the rate: each sample, then two
/// interpolated by a windowed sinc (a sound server's resampler, near
/// enough; the test needs a 48 kHz microphone's frames, not a perfect one).
fn to_48k(samples: &[f32]) -> Vec<f32> {
    const TAPS: i64 = 16;
    let at = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| samples.get(i))
            .copied()
            .unwrap_or(0.0)
    };
    let mut out = Vec::with_capacity(samples.len() * 3);
    for n in 0..samples.len() as i64 {
        out.push(at(n));
        for phase in [1.0_f64 / 3.0, 2.0 / 3.0] {
            let mut acc = 0.0_f64;
            for k in -TAPS + 1..=TAPS {
                let x = k as f64 - phase;
                let sinc = (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x);
                let window = 0.5 + 0.5 * (std::f64::consts::PI * x / TAPS as f64).cos();
                acc += f64::from(at(n + k)) * sinc * window;
            }
            out.push(acc as f32);
        }
    }
    out
}

#[test]
fn a_quiet_onset_is_heard_at_every_alignment_below_the_vad_floor() {
    let Some(vad) = vad_model("a_quiet_onset_is_heard_at_every_alignment") else {
        return;
    };
    // The whisper before the tones is all that opens the gate: the VAD
    // must hear it however the skipped quiet blocks fell around its onset.
    let pcm = assistant_audio::wav::read(assistant_tests::synthetic_assets().join("speech/gated_short.wav"))
        .unwrap_or_else(|e| panic!("{e}"));
    let question = pcm.into_mono();
    let mut c = config();
    c.endpointing.silence_after_text_s = 1.2;
    let recognizer = Recognizer::new(&c).expect("recognizer");
    let mut floored = ListenConfig::new(c);
    floored.vad = Some(VadConfig::new(&vad));
    floored.vad_floor_dbfs = Some(-60.0);
    let mut missed = Vec::new();
    assert_eq!(question.sample_rate, 16_000);
    let (rate, base) = (48_000, to_48k(&question.samples));
    // Every 12th 48 kHz sample across one 20 ms frame.
    for offset in (0..960).step_by(12) {
        let mut samples = vec![0.0; offset];
        samples.extend_from_slice(&base);
        samples.extend(std::iter::repeat_n(0.0, rate as usize * 2));
        let microphone = assistant_audio::Pcm {
            sample_rate: rate,
            channels: 1,
            samples,
        };
        let (events, _) = listen(&recognizer, &floored, &microphone.frames(Timestamp::from_nanos(0)));
        let got = finals(&events);
        if got.len() != 1 || got[0].0 != "hello stop three" {
            missed.push((offset, got));
        }
    }
    assert!(missed.is_empty(), "missed at these 48 kHz offsets: {missed:?}");
}

#[test]
fn events_are_timed_by_their_frames_capture_times_not_by_counting_samples() {
    let Some(vad) = vad_model("events_are_timed_by_their_frames") else {
        return;
    };
    // A microphone whose clock runs 0.1 % slow against the pipeline's:
    // each 20 ms frame is stamped 20.02 ms after the last. An event's time
    // must follow its frame's stamp, or the drift would pile up over an
    // always-on day.
    let speech = assistant_tests::synthetic_assets().join("speech");
    let nominal = frames(&speech.join("gated_60s.wav"));
    let drifting: Vec<AudioFrame> = nominal
        .iter()
        .enumerate()
        .map(|(i, f)| AudioFrame {
            captured_at: Timestamp::from_nanos(i as u64 * 20_020_000),
            ..f.clone()
        })
        .collect();
    let mut c = config();
    c.endpointing.silence_after_text_s = 1.2;
    let recognizer = Recognizer::new(&c).expect("recognizer");
    let mut gated = ListenConfig::new(c);
    gated.vad = Some(VadConfig::new(&vad));
    let (a, _) = listen(&recognizer, &gated, &nominal);
    let (b, _) = listen(&recognizer, &gated, &drifting);
    let (a, b) = (finals(&a), finals(&b));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].0, b[0].0);
    for (what, at_a, at_b) in [("speech end", a[0].1, b[0].1), ("endpoint", a[0].2, b[0].2)] {
        let expected = at_a * 1.001;
        assert!(
            (at_b - expected).abs() < 0.021,
            "{what}: {at_b:.3} s on the drifting clock, expected {expected:.3} s (nominal {at_a:.3} s)"
        );
    }
}
