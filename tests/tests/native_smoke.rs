//! Crosses every native boundary assistantd depends on, for real: the
//! sherpa-onnx C library (a Silero VAD over real speech), ONNX Runtime through
//! `ort` (the Silero v5 model run by hand), and espeak-ng (IPA phonemes), all
//! in one process that must end up with exactly one ONNX Runtime mapped.
//! A missing install step fails here, loudly.

use std::path::Path;

use assistant_tests::shared_data;

fn ljspeech(data: &Path, id: &str) -> Vec<f32> {
    let pcm = assistant_audio::wav::read(data.join(format!("ljspeech/wavs/{id}.wav"))).expect("LJ Speech WAV reads");
    assert_eq!(
        (pcm.sample_rate, pcm.channels),
        (16_000, 1),
        "MANIFEST.md says 16 kHz mono"
    );
    pcm.samples
}

#[test]
fn sherpa_onnx_detects_speech_and_silence_with_silero_vad() {
    assert_eq!(
        assistant_asr::library_version(),
        "2.0.1",
        "the C API must match the sherpa-onnx crate version"
    );
    let Some(data) = shared_data("sherpa_onnx_detects_speech_and_silence_with_silero_vad") else {
        return;
    };
    for version in ["v4", "v5"] {
        let model = data.join(format!("silero-vad/{version}/silero_vad.onnx"));
        let mut vad =
            assistant_asr::Vad::new(&assistant_asr::VadConfig::new(&model)).expect("sherpa-onnx loads Silero VAD");

        let silence = vec![0.0_f32; 16_000 * 2];
        let mut segments = vad.accept(&silence);
        segments.extend(vad.finish());
        assert!(
            segments.is_empty(),
            "{version}: silence gave {} segment(s)",
            segments.len()
        );

        let speech = ljspeech(&data, "LJ001-0001");
        let mut padded = vec![0.0_f32; 8_000];
        padded.extend_from_slice(&speech);
        padded.extend(std::iter::repeat_n(0.0, 16_000));
        let mut segments = Vec::new();
        for frame in padded.chunks(320) {
            segments.extend(vad.accept(frame));
        }
        segments.extend(vad.finish());
        let voiced: usize = segments.iter().map(|s| s.samples.len()).sum();
        assert!(!segments.is_empty(), "{version}: no speech found in LJ001-0001");
        assert!(
            voiced as f64 > 0.6 * speech.len() as f64 && voiced <= padded.len(),
            "{version}: {voiced} voiced samples of {} spoken",
            speech.len()
        );
        assert!(
            segments[0].start_sample >= 4_000,
            "{version}: speech found inside the leading silence at {}",
            segments[0].start_sample
        );
    }
}

#[test]
fn ort_runs_silero_v5_on_the_runtime_sherpa_onnx_loaded() {
    let runtime = assistantd::native::init_onnxruntime().expect("ort loads the wheel's ONNX Runtime");
    let loaded = assistantd::native::loaded_onnxruntimes();
    assert_eq!(
        loaded,
        vec![runtime.library().to_path_buf()],
        "one ONNX Runtime per process"
    );
    assert_eq!(
        runtime.version(),
        assistant_asr::onnxruntime_version()
            .rsplit_once('.')
            .map_or("", |v| v.0),
        "ort reports the runtime sherpa-onnx was built with"
    );

    let Some(data) = shared_data("ort_runs_silero_v5_on_the_runtime_sherpa_onnx_loaded") else {
        return;
    };
    let mut model =
        assistant_tts::onnx::Model::open(&data.join("silero-vad/v5/silero_vad.onnx"), 1).expect("ort opens Silero v5");
    let inputs: Vec<String> = model.inputs().into_iter().map(|p| p.name).collect();
    assert_eq!(inputs, ["input", "state", "sr"], "MANIFEST.md's contract for v5");

    let speech = ljspeech(&data, "LJ001-0002");
    let probabilities = |samples: &[f32], model: &mut assistant_tts::onnx::Model| -> Vec<f32> {
        let mut state = vec![0.0_f32; 2 * 128];
        let mut context = vec![0.0_f32; 64];
        let mut out = Vec::new();
        for window in samples.chunks_exact(512) {
            let mut input = context.clone();
            input.extend_from_slice(window);
            let outputs = model
                .session_mut()
                .run(ort::inputs![
                    "input" => ort::value::Tensor::from_array(([1_usize, 576], input)).expect("input tensor"),
                    "state" => ort::value::Tensor::from_array(([2_usize, 1, 128], state.clone())).expect("state tensor"),
                    "sr" => ort::value::Tensor::from_array(([1_usize], vec![16_000_i64])).expect("sr tensor"),
                ])
                .expect("silero v5 runs");
            let (_, p) = outputs["output"].try_extract_tensor::<f32>().expect("output");
            out.push(p[0]);
            let (_, s) = outputs["stateN"].try_extract_tensor::<f32>().expect("stateN");
            state.copy_from_slice(s);
            context.copy_from_slice(&window[512 - 64..]);
        }
        out
    };
    let on_speech = probabilities(&speech, &mut model);
    let on_silence = probabilities(&vec![0.0; 16_000], &mut model);
    let share = on_speech.iter().filter(|&&p| p > 0.5).count() as f64 / on_speech.len() as f64;
    assert!(
        share > 0.5,
        "speech probability above 0.5 in only {:.0}% of windows",
        share * 100.0
    );
    assert!(
        on_silence.iter().all(|&p| p < 0.5),
        "silence scored as speech: {on_silence:?}"
    );
    assert_eq!(
        assistantd::native::loaded_onnxruntimes().len(),
        1,
        "still one ONNX Runtime after inference"
    );
}

#[test]
fn espeak_ng_phonemizes_like_piper_expects() {
    let mut espeak = assistant_tts::espeak::Espeak::lock().expect("espeak-ng initializes");
    espeak.set_voice("en-us").expect("en-us");
    let clauses = espeak
        .clauses("The quick brown fox jumps over the lazy dog.")
        .expect("phonemize");
    let ipa: Vec<&str> = clauses.iter().map(|c| c.phonemes.as_str()).collect();
    assert_eq!(ipa, ["ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ"]);
}
