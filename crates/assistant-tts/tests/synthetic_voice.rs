//! The synthetic Piper voices of `scripts/models/make_piper_voice.py`, run
//! through [`assistant_tts::onnx`] on the ONNX Runtime that sherpa-onnx ships.
//!
//! The models have Piper's exact ONNX contract and a known audio rule: every
//! phoneme id `i` becomes `max(1, round_half_even(2205 * length_scale))`
//! samples of `0.5 * sin` at `200 + 25 * i` Hz (plus 0/100/200 Hz for sid
//! 0/1/2 of the multi-speaker voice), starting at phase 0, concatenated in id
//! order; noise_scale and noise_w are ignored. The test generates the models
//! itself into a temporary folder and skips when the real Piper config in
//! `../shared/data` is absent.

mod common;

use std::path::Path;

use common::{SAMPLE_RATE, Voices, dominant_hz};

use assistant_tts::onnx::Model;
use ort::value::Tensor;

const BASE_SAMPLES: f32 = 2_205.0;
const SPEAKER_OFFSET_HZ: [u32; 3] = [0, 100, 200];
/// Float32 `sin` of ONNX Runtime vs Rust; the phase itself is exact.
const TOLERANCE: f32 = 1e-5;

impl Voices {
    fn open(&self, name: &str) -> Model {
        let library = Path::new(env!("SHERPA_ONNX_LIB_DIR")).join("libonnxruntime.so");
        assistant_tts::onnx::init(&library).expect("ONNX Runtime loads (run scripts/bootstrap)");
        Model::open(&self.path(&format!("{name}.onnx")), 1).expect("the synthetic voice opens")
    }

    fn config(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.onnx.json"))).expect("the voice config is written")
    }
}

/// Output shape and samples of one run.
fn synthesize(model: &mut Model, ids: &[i64], length: i64, scales: [f32; 3], sid: Option<i64>) -> (Vec<i64>, Vec<f32>) {
    try_synthesize(model, ids, length, scales, sid).expect("the synthetic voice runs")
}

fn try_synthesize(
    model: &mut Model,
    ids: &[i64],
    length: i64,
    scales: [f32; 3],
    sid: Option<i64>,
) -> ort::Result<(Vec<i64>, Vec<f32>)> {
    let mut inputs = ort::inputs![
        "input" => Tensor::from_array(([1_usize, ids.len()], ids.to_vec()))?,
        "input_lengths" => Tensor::from_array(([1_usize], vec![length]))?,
        "scales" => Tensor::from_array(([3_usize], scales.to_vec()))?,
    ];
    if let Some(sid) = sid {
        inputs.push(("sid".into(), Tensor::from_array(([1_usize], vec![sid]))?.into()));
    }
    let outputs = model.session_mut().run(inputs)?;
    let (shape, samples) = outputs["output"].try_extract_tensor::<f32>()?;
    Ok((shape.to_vec(), samples.to_vec()))
}

fn scales(length_scale: f32) -> [f32; 3] {
    [0.667, length_scale, 0.8]
}

/// Samples per id: `max(1, round_half_even(float32(2205) * float32(length_scale)))`.
fn segment_samples(length_scale: f32) -> usize {
    (BASE_SAMPLES * length_scale).round_ties_even().max(1.0) as usize
}

fn frequency_hz(id: i64, sid: Option<i64>) -> u32 {
    let offset = sid.map_or(0, |s| SPEAKER_OFFSET_HZ[usize::try_from(s).expect("sid >= 0")]);
    200 + 25 * u32::try_from(id).expect("id >= 0") + offset
}

/// The audio rule, computed independently of the Python reference.
fn expected(ids: &[i64], length_scale: f32, sid: Option<i64>) -> Vec<f32> {
    let step = (2.0 * std::f64::consts::PI / f64::from(SAMPLE_RATE)) as f32;
    let mut out = Vec::new();
    for &id in ids {
        let hz = u64::from(frequency_hz(id, sid));
        for n in 0..segment_samples(length_scale) as u64 {
            let m = (hz * n) % u64::from(SAMPLE_RATE);
            out.push(0.5 * (m as f32 * step).sin());
        }
    }
    out
}

/// Asserts shape [1,1,1,T], T = len * L, every sample, and each segment's
/// dominant frequency.
fn assert_voice(label: &str, (shape, audio): &(Vec<i64>, Vec<f32>), ids: &[i64], length_scale: f32, sid: Option<i64>) {
    let per_id = segment_samples(length_scale);
    let t = ids.len() * per_id;
    assert_eq!(shape, &[1, 1, 1, t as i64], "{label}: output shape");
    assert_eq!(audio.len(), t, "{label}: T = {} ids x {per_id} samples", ids.len());
    let want = expected(ids, length_scale, sid);
    let worst = audio
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0_f32, f32::max);
    assert!(worst <= TOLERANCE, "{label}: max |error| {worst} vs the audio rule");
    for (k, (&id, segment)) in ids.iter().zip(audio.chunks_exact(per_id)).enumerate() {
        let found = dominant_hz(segment);
        let want = frequency_hz(id, sid);
        assert!(
            found.abs_diff(want) <= 5,
            "{label}: segment {k} (id {id}) peaks at {found} Hz, want {want} Hz"
        );
    }
}

fn port_names(ports: &[assistant_tts::onnx::Port]) -> Vec<&str> {
    ports.iter().map(|p| p.name.as_str()).collect()
}

/// `^ _ h _ ə _ l _ oʊ $`-like ids, as Piper interleaves pads, and a wide spread.
const SENTENCES: [&[i64]; 3] = [&[1, 0, 20, 0, 59, 0, 24, 0, 27, 2], &[3], &[155, 42, 255, 7, 100]];

#[test]
fn single_speaker_voice_follows_the_audio_rule() {
    let Some(voices) = Voices::generate("single_speaker_voice_follows_the_audio_rule") else {
        return;
    };
    let config = voices.config("synthetic-single");
    for field in [
        "\"sample_rate\": 22050",
        "\"voice\": \"en-us\"",
        "\"num_speakers\": 1",
        "\"speaker_id_map\": {}",
    ] {
        assert!(config.contains(field), "synthetic-single.onnx.json lacks {field}");
    }
    let mut model = voices.open("synthetic-single");
    let inputs = model.inputs();
    let outputs = model.outputs();
    eprintln!("synthetic-single: inputs {inputs:?}, outputs {outputs:?}");
    assert_eq!(port_names(&inputs), ["input", "input_lengths", "scales"]);
    assert_eq!(port_names(&outputs), ["output"]);
    assert_eq!(inputs[0].kind, "Tensor<i64>(batch_size, phonemes)");
    assert_eq!(inputs[2].kind, "Tensor<f32>(3)");
    assert_eq!(outputs[0].kind, "Tensor<f32>(1, 1, 1, time)");

    for ids in SENTENCES {
        let mut lengths = Vec::new();
        for length_scale in [0.5, 1.0, 2.0] {
            let run = synthesize(&mut model, ids, ids.len() as i64, scales(length_scale), None);
            assert_voice(
                &format!("ids {ids:?} length_scale {length_scale}"),
                &run,
                ids,
                length_scale,
                None,
            );
            lengths.push(run.1.len());
        }
        // 2205 * 0.5 = 1102.5 rounds to even: 1102, not 1103.
        assert_eq!(lengths, [ids.len() * 1102, ids.len() * 2205, ids.len() * 4410]);
        assert_eq!(lengths[2], 2 * lengths[1], "length_scale 2.0 doubles T");
    }

    // Only the first input_lengths[0] ids count.
    let ids = [14, 15, 16, 17, 18];
    let short = synthesize(&mut model, &ids, 3, scales(1.0), None);
    assert_voice("input_lengths 3 of 5", &short, &ids[..3], 1.0, None);
    let none = synthesize(&mut model, &ids, 0, scales(1.0), None);
    assert_eq!(none.0, [1, 1, 1, 0], "input_lengths 0 gives no audio");

    // noise_scale and noise_w are ignored.
    let quiet = synthesize(&mut model, &ids, 5, [0.0, 1.0, 0.0], None);
    let noisy = synthesize(&mut model, &ids, 5, [1.0, 1.0, 1.0], None);
    assert_eq!(quiet, noisy, "noise scales change nothing");

    // An id past num_symbols (256) fails like a real voice's embedding lookup.
    assert!(
        try_synthesize(&mut model, &[1, 256], 2, scales(1.0), None).is_err(),
        "id 256 must be rejected"
    );
}

#[test]
fn multi_speaker_voice_shifts_pitch_by_speaker() {
    let Some(voices) = Voices::generate("multi_speaker_voice_shifts_pitch_by_speaker") else {
        return;
    };
    let config = voices.config("synthetic-multi");
    for field in ["\"num_speakers\": 3", "\"alice\": 0", "\"bob\": 1", "\"carol\": 2"] {
        assert!(config.contains(field), "synthetic-multi.onnx.json lacks {field}");
    }
    let mut model = voices.open("synthetic-multi");
    let inputs = model.inputs();
    eprintln!("synthetic-multi: inputs {inputs:?}, outputs {:?}", model.outputs());
    assert_eq!(port_names(&inputs), ["input", "input_lengths", "scales", "sid"]);
    assert_eq!(inputs[3].kind, "Tensor<i64>(1)");
    assert_eq!(port_names(&model.outputs()), ["output"]);

    let ids: &[i64] = &[1, 0, 20, 0, 59, 0, 2];
    let mut runs = Vec::new();
    for sid in 0..3 {
        for length_scale in [0.5, 1.0, 2.0] {
            let run = synthesize(&mut model, ids, ids.len() as i64, scales(length_scale), Some(sid));
            assert_voice(
                &format!("sid {sid} length_scale {length_scale}"),
                &run,
                ids,
                length_scale,
                Some(sid),
            );
            if length_scale == 1.0 {
                runs.push(run);
            }
        }
    }
    // Same durations, different pitch: a test can tell the speaker apart.
    assert!(runs.iter().all(|r| r.0 == runs[0].0), "the speaker does not change T");
    assert_ne!(runs[0].1, runs[1].1, "sid 1 sounds different from sid 0");
    assert_ne!(runs[1].1, runs[2].1, "sid 2 sounds different from sid 1");
    let first = &runs[1].1[..segment_samples(1.0)];
    assert_eq!(dominant_hz(first), 200 + 25 + 100, "bob (sid 1) speaks id 1 at 325 Hz");

    // sid 0 is exactly the single-speaker voice.
    let mut single = voices.open("synthetic-single");
    let alone = synthesize(&mut single, ids, ids.len() as i64, scales(1.0), None);
    assert_eq!(alone, runs[0], "sid 0 equals the single-speaker voice");

    // A sid past num_speakers fails like a real voice's speaker embedding.
    assert!(
        try_synthesize(&mut model, ids, ids.len() as i64, scales(1.0), Some(3)).is_err(),
        "sid 3 must be rejected"
    );
}

/// The speaking path end to end: text → Piper phonemes → ids → the model →
/// int16 sentences, on the synthetic voices.
mod speaking {
    use std::ops::ControlFlow;

    use assistant_tts::espeak::Espeak;
    use assistant_tts::phonemize::phoneme_ids;
    use assistant_tts::synth::{SentenceAudio, Speaker, SynthesisOptions, Voice, to_int16};
    use assistant_tts::voice::VoiceConfig;

    use super::*;

    fn voice(voices: &Voices, name: &str) -> Voice {
        let library = Path::new(env!("SHERPA_ONNX_LIB_DIR")).join("libonnxruntime.so");
        assistant_tts::onnx::init(&library).expect("ONNX Runtime loads");
        let config = VoiceConfig::read(&voices.path(&format!("{name}.onnx.json"))).expect("config");
        Voice::open(&voices.path(&format!("{name}.onnx")), config, 1).expect("voice opens")
    }

    fn speak(voice: &mut Voice, text: &str, options: &SynthesisOptions) -> Vec<SentenceAudio> {
        let mut out = Vec::new();
        voice
            .speak(text, options, |s| {
                out.push(s);
                ControlFlow::Continue(())
            })
            .expect("speaks");
        out
    }

    #[test]
    fn sentences_follow_their_ids_and_the_length_scale() {
        let Some(voices) = Voices::generate("sentences_follow_their_ids_and_the_length_scale") else {
            return;
        };
        let mut single = voice(&voices, "synthetic-single");
        let text = "Hello there. How are you?";
        let no_silence = SynthesisOptions {
            sentence_silence_s: 0.0,
            ..SynthesisOptions::default()
        };
        let got = speak(&mut single, text, &no_silence);
        assert_eq!(got.len(), 2, "two sentences, each as soon as it is ready");
        let config = single.config().clone();
        let sentences = config
            .phonemize(&mut Espeak::lock().expect("espeak"), text)
            .expect("phonemes");
        for (audio, sentence) in got.iter().zip(&sentences) {
            let ids = phoneme_ids(sentence, &config.phoneme_id_map).expect("ids").ids;
            // Every id is one 0.1 s segment at its own pitch, in order.
            let want = to_int16(&expected(&ids, 1.0, None));
            assert_eq!(
                audio.samples.len(),
                want.len(),
                "sentence {}: {}",
                audio.index,
                audio.phonemes
            );
            // ONNX Runtime's float32 sin and Rust's differ in the last bit,
            // which may move a sample by one int16 step.
            let worst = audio
                .samples
                .iter()
                .zip(&want)
                .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                .max()
                .unwrap_or(0);
            assert!(worst <= 1, "sentence {}: max |error| {worst} int16 steps", audio.index);
        }

        // Twice the length scale, twice the duration; the rate divides it.
        let slow = SynthesisOptions {
            scales: Some(assistant_tts::voice::Scales {
                length_scale: 2.0,
                ..config.scales
            }),
            ..no_silence.clone()
        };
        let got_slow = speak(&mut single, text, &slow);
        assert_eq!(got_slow[0].samples.len(), 2 * got[0].samples.len());
        let fast = SynthesisOptions { rate: 2.0, ..slow };
        assert_eq!(speak(&mut single, text, &fast)[0].samples.len(), got[0].samples.len());

        // Sentence silence is appended to each sentence.
        let padded = speak(&mut single, text, &SynthesisOptions::default());
        assert_eq!(padded[0].samples.len(), got[0].samples.len() + 4_410);
        assert!(padded[0].samples[got[0].samples.len()..].iter().all(|&s| s == 0));
    }

    #[test]
    fn speakers_cancellation_and_silence() {
        let Some(voices) = Voices::generate("speakers_cancellation_and_silence") else {
            return;
        };
        let mut multi = voice(&voices, "synthetic-multi");
        let bob = SynthesisOptions {
            speaker: Some(Speaker::Name("bob".into())),
            sentence_silence_s: 0.0,
            ..SynthesisOptions::default()
        };
        let by_name = speak(&mut multi, "Hi.", &bob);
        let by_id = speak(
            &mut multi,
            "Hi.",
            &SynthesisOptions {
                speaker: Some(Speaker::Id(1)),
                ..bob.clone()
            },
        );
        assert_eq!(by_name, by_id);
        let first = &by_name[0].samples[..2_205];
        let floats: Vec<f32> = first.iter().map(|&s| f32::from(s)).collect();
        // `^` (id 1) for speaker 1: 200 + 25 + 100 Hz.
        assert_eq!(dominant_hz(&floats), 325);
        let err = multi
            .speak(
                "Hi.",
                &SynthesisOptions {
                    speaker: Some(Speaker::Name("dave".into())),
                    ..bob.clone()
                },
                |_| ControlFlow::Continue(()),
            )
            .expect_err("unknown speaker");
        assert!(
            err.to_string().contains("dave") && err.to_string().contains("alice"),
            "{err}"
        );

        // A single-speaker voice gets no sid, and refuses a speaker.
        let mut single = voice(&voices, "synthetic-single");
        assert!(single.speak("Hi.", &bob, |_| ControlFlow::Continue(())).is_err());

        // Barge-in: stop after the first sentence; the others are never made.
        let mut made = 0;
        single
            .speak("One. Two. Three. Four.", &SynthesisOptions::default(), |_| {
                made += 1;
                ControlFlow::Break(())
            })
            .expect("speaks");
        assert_eq!(made, 1);

        // Nothing speakable: no audio, no error.
        for text in ["", "   ", "\n\n"] {
            assert!(
                speak(&mut single, text, &SynthesisOptions::default()).is_empty(),
                "{text:?}"
            );
        }
        // 100 kB of text is phonemized and spoken sentence by sentence.
        let long = "This is a sentence. ".repeat(5_000);
        let mut count = 0;
        single
            .speak(&long, &SynthesisOptions::default(), |_| {
                count += 1;
                if count == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .expect("long text");
        assert_eq!(count, 3);
    }
}
