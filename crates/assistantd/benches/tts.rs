//! Benchmark of the speaking stage: how fast [`Voice::speak`] turns assistant
//! replies into audio with a Piper voice on the native ONNX Runtime 1.28.2,
//! and how soon the first sentence's audio is ready.
//!
//! ```sh
//! .venv/bin/python scripts/bench/make_bench_voice.py --out /tmp/bench-voice \
//!     --config ../shared/data/piper-config/en_US-test.onnx.json
//! cargo bench -p assistantd --bench tts -- --model /tmp/bench-voice/bench-medium.onnx \
//!     [--config PATH] [--texts scripts/bench/tts_texts.json] [--threads 1] [--repeat 5] [--json]
//! ```
//!
//! `scripts/bench/tts` runs this and the Python reference (`piper-tts` 1.2.0,
//! `scripts/bench/tts_reference.py`) side by side on the same voice and
//! texts; `scripts/bench/README.md` explains every figure.
//!
//! Per text, from the call to [`Voice::speak`] to its return (phonemizing the
//! whole text, then every sentence through the model, peak normalisation and
//! the sentence silence): wall time, process CPU time, and the time until the
//! first sentence's audio reached the sink (time to first audio). Separately,
//! the time [`VoiceConfig::phonemize`] alone takes, and the time the model
//! runs alone take ([`Voice::infer`] per sentence, ids made beforehand, summed
//! over the sentences). One unmeasured warm-up
//! pass over every text precedes `--repeat` measured passes; each figure is
//! the median over the passes. Every pass must produce the same samples.

#![allow(clippy::print_stdout)] // a benchmark binary reports on stdout

mod common;

use common::{cpu_time, median, positive};

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use assistant_tts::espeak::Espeak;
use assistant_tts::onnx::ModelOptions;
use assistant_tts::phonemize::phoneme_ids;
use assistant_tts::synth::{SynthesisOptions, Voice};
use assistant_tts::voice::VoiceConfig;
use serde_json::{Value, json};

const USAGE: &str = "usage: tts --model PATH [--config PATH] [--texts PATH] [--threads N] [--repeat N] [--json]

  --model PATH     a Piper voice (.onnx), e.g. the one scripts/bench/make_bench_voice.py writes
  --config PATH    its config (default: the model path + .json)
  --texts PATH     the texts (default: scripts/bench/tts_texts.json)
  --threads N      ONNX Runtime intra-op threads (default 1, as assistantd say)
  --repeat N       measured passes over every text, after one warm-up pass (default 5)
  --json           print one JSON object instead of the table";

/// Silence after each sentence, seconds: our default, passed to the
/// reference explicitly (piper-tts defaults to 0).
const SENTENCE_SILENCE_S: f32 = 0.2;

struct Args {
    model: PathBuf,
    config: Option<PathBuf>,
    texts: PathBuf,
    threads: usize,
    repeat: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut model = None;
    let mut config = None;
    let mut texts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/tts_texts.json");
    let mut threads = 1;
    let mut repeat = 5;
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--model" => model = Some(PathBuf::from(value("--model")?)),
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--texts" => texts = PathBuf::from(value("--texts")?),
            "--threads" => threads = positive("--threads", &value("--threads")?)?,
            "--repeat" => repeat = positive("--repeat", &value("--repeat")?)?,
            "--json" => json = true,
            // `cargo bench` passes --bench to every bench binary.
            "--bench" => {}
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        model: model.ok_or_else(|| format!("--model is required\n{USAGE}"))?,
        config,
        texts,
        threads,
        repeat,
        json,
    })
}

/// CRC-32 (IEEE, as Python's `zlib.crc32`) of the samples as little-endian
/// int16 bytes: a fingerprint to compare the audio of both sides.
fn crc32(samples: &[i16]) -> u32 {
    let mut crc = !0_u32;
    for byte in samples.iter().flat_map(|s| s.to_le_bytes()) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// One text of the texts file.
struct Text {
    name: String,
    text: String,
}

fn read_texts(path: &Path) -> Result<(Vec<Text>, String), String> {
    let raw = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&raw).map_err(|e| format!("{}: {e}", path.display()))?;
    let texts = v["texts"]
        .as_array()
        .ok_or_else(|| format!("{}: no \"texts\" list", path.display()))?
        .iter()
        .map(|t| match (t["name"].as_str(), t["text"].as_str()) {
            (Some(name), Some(text)) => Ok(Text {
                name: name.to_owned(),
                text: text.to_owned(),
            }),
            _ => Err(format!("{}: every text needs a name and a text", path.display())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let reply = v["reply"]
        .as_str()
        .ok_or_else(|| format!("{}: no \"reply\"", path.display()))?
        .to_owned();
    if !texts.iter().any(|t| t.name == reply) {
        return Err(format!(
            "{}: the reply {reply:?} is not one of the texts",
            path.display()
        ));
    }
    Ok((texts, reply))
}

/// One measured pass over one text.
struct Pass {
    wall: Duration,
    cpu: Duration,
    /// From the call to the first sentence's audio reaching the sink.
    first_audio: Option<Duration>,
    /// Samples per sentence (sentence silence included).
    sentence_samples: Vec<usize>,
    /// Each sentence's phonemes.
    phonemes: Vec<String>,
    crc32: u32,
}

fn speak(voice: &mut Voice, text: &str, options: &SynthesisOptions) -> Result<Pass, String> {
    let mut audio: Vec<i16> = Vec::with_capacity(22_050 * 30);
    let mut sentence_samples = Vec::new();
    let mut phonemes = Vec::new();
    let mut first_audio = None;
    let cpu_start = cpu_time();
    let start = Instant::now();
    voice
        .speak(text, options, |sentence| {
            if first_audio.is_none() {
                first_audio = Some(start.elapsed());
            }
            sentence_samples.push(sentence.samples.len());
            audio.extend_from_slice(&sentence.samples);
            phonemes.push(sentence.phonemes);
            ControlFlow::Continue(())
        })
        .map_err(|e| e.to_string())?;
    let wall = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    Ok(Pass {
        wall,
        cpu,
        first_audio,
        sentence_samples,
        phonemes,
        crc32: crc32(&audio),
    })
}

/// How long phonemizing `text` alone takes.
fn phonemize_time(config: &VoiceConfig, text: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let mut espeak = Espeak::lock().map_err(|e| e.to_string())?;
    config.phonemize(&mut espeak, text).map_err(|e| e.to_string())?;
    Ok(start.elapsed())
}

/// How long the model runs alone take for `text`'s sentences (ids made
/// before timing; each sentence's [`Voice::infer`] timed and summed).
fn model_time(voice: &mut Voice, text: &str, options: &SynthesisOptions) -> Result<Duration, String> {
    let sentences = {
        let mut espeak = Espeak::lock().map_err(|e| e.to_string())?;
        voice.config().phonemize(&mut espeak, text).map_err(|e| e.to_string())?
    };
    let mut ids = Vec::with_capacity(sentences.len());
    for sentence in &sentences {
        let p = phoneme_ids(sentence, &voice.config().phoneme_id_map).map_err(|e| e.to_string())?;
        // As speak: a sentence with no phoneme the voice knows is not run.
        if p.missing.len() < sentence.len() {
            ids.push(p.ids);
        }
    }
    let mut total = Duration::ZERO;
    for sentence in &ids {
        let start = Instant::now();
        voice.infer(sentence, options).map_err(|e| e.to_string())?;
        total += start.elapsed();
    }
    Ok(total)
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tts bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let args = parse_args()?;
    let (texts, reply) = read_texts(&args.texts)?;
    let library = Path::new(env!("SHERPA_ONNX_LIB_DIR")).join("libonnxruntime.so");
    let runtime = assistant_tts::onnx::init(&library).map_err(|e| e.to_string())?;
    // The ASR crate links the same runtime; it reports the full version.
    let ort_version = assistant_asr::onnxruntime_version();
    let mapped = assistantd::native::loaded_onnxruntimes();
    if mapped.len() != 1 {
        return Err(format!("expected one ONNX Runtime in the process, found {mapped:?}"));
    }
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.json", args.model.display())));
    let config = VoiceConfig::read(&config_path).map_err(|e| e.to_string())?;
    let sample_rate = config.sample_rate;
    let scales = config.scales;
    // Voice load three ways: as piper-tts does (optimizing the graph on
    // every load), then with a fresh optimized-model cache (the first load
    // writes the copy, the next reads it), as `assistantd say` does.
    let load_start = Instant::now();
    let mut voice = Voice::open(&args.model, config.clone(), args.threads).map_err(|e| e.to_string())?;
    let load_s = load_start.elapsed().as_secs_f64();
    let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cached = ModelOptions {
        threads: args.threads,
        optimized_cache: Some(cache.path().to_path_buf()),
    };
    let cached_load = || -> Result<(f64, bool), String> {
        let start = Instant::now();
        let voice = Voice::open_with(&args.model, config.clone(), &cached).map_err(|e| e.to_string())?;
        Ok((start.elapsed().as_secs_f64(), voice.model().from_cache()))
    };
    let (load_cache_write_s, _) = cached_load()?;
    let (load_cached_s, from_cache) = cached_load()?;
    if !from_cache {
        return Err("the second load did not use the optimized-model cache".into());
    }
    let options = SynthesisOptions {
        sentence_silence_s: SENTENCE_SILENCE_S,
        ..SynthesisOptions::default()
    };

    // Warm-up, then `repeat` rounds over every text (so a transient slowdown
    // spreads over texts instead of hitting one).
    for t in &texts {
        speak(&mut voice, &t.text, &options).map_err(|e| format!("{}: {e}", t.name))?;
    }
    // The phonemizer and model-only timings run in the same rounds, right
    // after each text's pass, so that load from other processes hits all
    // three alike.
    let mut passes: Vec<Vec<Pass>> = texts.iter().map(|_| Vec::with_capacity(args.repeat)).collect();
    let mut phonemize_s: Vec<Vec<f64>> = texts.iter().map(|_| Vec::new()).collect();
    let mut model_s: Vec<Vec<f64>> = texts.iter().map(|_| Vec::new()).collect();
    for _ in 0..args.repeat {
        for (((t, out), ph), m) in texts.iter().zip(&mut passes).zip(&mut phonemize_s).zip(&mut model_s) {
            out.push(speak(&mut voice, &t.text, &options).map_err(|e| format!("{}: {e}", t.name))?);
            ph.push(phonemize_time(voice.config(), &t.text)?.as_secs_f64());
            m.push(model_time(&mut voice, &t.text, &options)?.as_secs_f64());
        }
    }

    let mut rows = Vec::new();
    let mut unstable = Vec::new();
    for (((t, p), ph), m) in texts.iter().zip(&passes).zip(&phonemize_s).zip(&model_s) {
        let first = &p[0];
        let stable = p
            .iter()
            .all(|x| x.sentence_samples == first.sentence_samples && x.crc32 == first.crc32);
        if !stable {
            unstable.push(t.name.clone());
        }
        let samples: usize = first.sentence_samples.iter().sum();
        let audio_s = samples as f64 / f64::from(sample_rate);
        let wall = median(&p.iter().map(|x| x.wall.as_secs_f64()).collect::<Vec<_>>());
        let cpu = median(&p.iter().map(|x| x.cpu.as_secs_f64()).collect::<Vec<_>>());
        let first_audio = median(
            &p.iter()
                .map(|x| x.first_audio.map_or(f64::NAN, |d| d.as_secs_f64()))
                .collect::<Vec<_>>(),
        );
        rows.push(json!({
            "name": t.name,
            "text": t.text,
            "sentences": first.sentence_samples.len(),
            "sentence_samples": first.sentence_samples,
            "phonemes": first.phonemes,
            "samples": samples,
            "audio_s": audio_s,
            "crc32": first.crc32,
            "wall_s": wall,
            "cpu_s": cpu,
            "first_audio_s": if first_audio.is_finite() { json!(first_audio) } else { Value::Null },
            "phonemize_s": median(ph),
            "model_s": median(m),
            "rtf": wall / audio_s,
            "stable": stable,
        }));
    }
    // Overall: per pass, the sums over every text; then the median.
    let sum = |k: usize, f: &dyn Fn(&Pass) -> Duration| -> f64 { passes.iter().map(|p| f(&p[k]).as_secs_f64()).sum() };
    let overall_wall = median(&(0..args.repeat).map(|k| sum(k, &|p| p.wall)).collect::<Vec<_>>());
    let overall_cpu = median(&(0..args.repeat).map(|k| sum(k, &|p| p.cpu)).collect::<Vec<_>>());
    let overall_audio: f64 = rows.iter().filter_map(|r| r["audio_s"].as_f64()).sum();

    if args.json {
        let out = json!({
            "implementation": "assistant-tts Voice::speak (Rust, ort)",
            "onnxruntime": ort_version,
            "onnxruntime_library": runtime.library().display().to_string(),
            "onnxruntime_build": runtime.build_info(),
            "repeat": args.repeat,
            "threads": args.threads,
            "voice": {
                "model": args.model.display().to_string(),
                "config": config_path.display().to_string(),
                "sample_rate": sample_rate,
                "load_s": load_s,
                "load_cache_write_s": load_cache_write_s,
                "load_cached_s": load_cached_s,
            },
            "settings": {
                "noise_scale": scales.noise_scale,
                "length_scale": scales.length_scale,
                "noise_w": scales.noise_w,
                "sentence_silence_s": SENTENCE_SILENCE_S,
            },
            "reply": reply,
            "texts": rows,
            "overall": {
                "audio_s": overall_audio,
                "wall_s": overall_wall,
                "cpu_s": overall_cpu,
                "rtf": overall_wall / overall_audio,
            },
            "unstable": unstable,
        });
        println!("{out}");
    } else {
        println!(
            "assistant-tts Voice::speak, ONNX Runtime {ort_version} ({}), {} intra-op thread(s); {}; median of {} passes after a warm-up",
            runtime.library().display(),
            args.threads,
            args.model.display(),
            args.repeat
        );
        println!();
        println!(
            "{:10} {:>4} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7}",
            "text", "sent", "audio_s", "wall_ms", "cpu_ms", "first_ms", "phon_ms", "model_ms", "RTF"
        );
        for r in &rows {
            println!(
                "{:10} {:>4} {:>8.2} {:>9.1} {:>9.1} {:>9.1} {:>8.2} {:>9.1} {:>7.4}{}",
                r["name"].as_str().unwrap_or(""),
                r["sentences"],
                r["audio_s"].as_f64().unwrap_or(f64::NAN),
                r["wall_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
                r["cpu_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
                r["first_audio_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
                r["phonemize_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
                r["model_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
                r["rtf"].as_f64().unwrap_or(f64::NAN),
                if r["name"] == reply.as_str() { "  (reply)" } else { "" },
            );
        }
        println!(
            "{:10} {:>4} {:>8.2} {:>9.1} {:>9.1} {:>9} {:>8} {:>9} {:>7.4}",
            "overall",
            "",
            overall_audio,
            overall_wall * 1e3,
            overall_cpu * 1e3,
            "",
            "",
            "",
            overall_wall / overall_audio
        );
        println!(
            "voice loaded in {:.1} ms (optimizing the graph), {:.1} ms from the optimized-model cache ({:.1} ms for the load that wrote it)",
            load_s * 1e3,
            load_cached_s * 1e3,
            load_cache_write_s * 1e3
        );
        if !unstable.is_empty() {
            println!("the audio differed between passes for: {}", unstable.join(", "));
        }
    }
    Ok(if unstable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
