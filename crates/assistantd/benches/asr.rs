//! Benchmark of the listening stage: how fast [`Listener`] turns audio into
//! transcripts with the real sherpa-onnx 2.0.1 library, and what it costs
//! while the room is quiet.
//!
//! ```sh
//! dir=$(scripts/models/ensure)
//! cargo bench -p assistant-asr --bench asr -- --model "$dir/transducer" --fixtures "$dir" \
//!     [--vad ../shared/data/silero-vad/v4/silero_vad.onnx] [--repeat 5] [--json]
//! ```
//!
//! `--fixtures` is the folder `scripts/models/ensure` prints (with `tones/`
//! and `speech/`). `scripts/bench/asr` runs this and the Python reference
//! (`scripts/bench/asr_reference.py`) side by side; `scripts/bench/README.md`
//! explains every figure.
//!
//! Part 1, per tone fixture: the file's 20 ms frames at its own rate go
//! through a [`Listener`] without VAD (greedy search, one thread, endpoint
//! rules 2.4 / 0.5 / 20 s as in `tests/tests/asr.rs`), measuring wall and
//! process CPU time from the first `push` to the end of `finish`, and the
//! latency of every `push` that ran at least one decode step ("per-chunk
//! decode latency"). One unmeasured warm-up pass precedes `--repeat` measured
//! passes; each figure is the median over the passes.
//!
//! Part 2, with `--vad`: CPU seconds per second of audio with the Silero VAD
//! gate (rule 2 1.2 s, as the gating test uses) on 60 s of digital silence,
//! on `gated_60s.wav`, and on speech (the espeak-ng fixtures' spoken parts,
//! concatenated); and, without a VAD, on the same silence and on the speech
//! tone fixtures concatenated, where the transducer runs on every sample.

#![allow(clippy::print_stdout)] // a benchmark binary reports on stdout

mod common;

use common::{cpu_time, median, positive};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use assistant_asr::{Endpointing, ListenConfig, Listener, Recognizer, RecognizerConfig, TransducerFiles, VadConfig};
use assistant_core::audio::{ASR_SAMPLE_RATE, frame_samples};
use assistant_core::{AudioFrame, Timestamp, TranscriptEvent};
use serde_json::{Value, json};

const USAGE: &str = "usage: asr --model DIR --fixtures DIR [--vad PATH] [--repeat N] [--json]

  --model DIR      the transducer folder (encoder.onnx, decoder.onnx, joiner.onnx, tokens.txt)
  --fixtures DIR   the folder scripts/models/ensure prints (holds tones/ and speech/)
  --vad PATH       Silero VAD v4 ONNX model; without it (or if absent) the VAD rows are skipped
  --repeat N       measured passes per input, after one warm-up pass (default 5)
  --json           print one JSON object instead of the tables";

/// Endpoint rule 1 (silence without text), seconds.
const RULE1_S: f32 = 2.4;
/// Endpoint rule 2 for the tone fixtures, seconds (as `tests/tests/asr.rs`).
const RULE2_S: f32 = 0.5;
/// Endpoint rule 2 with the VAD gate (as the gating test uses).
const RULE2_GATED_S: f32 = 1.2;
/// Endpoint rule 3 (maximum utterance), seconds.
const RULE3_S: f32 = 20.0;
/// Length of the generated silence, seconds.
const SILENCE_S: usize = 60;

struct Args {
    model: PathBuf,
    fixtures: PathBuf,
    vad: Option<PathBuf>,
    repeat: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut model = None;
    let mut fixtures = None;
    let mut vad = None;
    let mut repeat = 5;
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--model" => model = Some(PathBuf::from(value("--model")?)),
            "--fixtures" => fixtures = Some(PathBuf::from(value("--fixtures")?)),
            "--vad" => vad = Some(PathBuf::from(value("--vad")?)),
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
        fixtures: fixtures.ok_or_else(|| format!("--fixtures is required\n{USAGE}"))?,
        vad,
        repeat,
        json,
    })
}

/// One measured pass over one input.
struct Pass {
    wall: Duration,
    cpu: Duration,
    /// `push` latencies of the frames that ran at least one decode step.
    decode_latencies: Vec<Duration>,
    finals: Vec<String>,
    /// 16 kHz samples fed to the transducer.
    samples_fed: u64,
}

fn run(recognizer: &Recognizer, config: &ListenConfig, frames: &[AudioFrame]) -> Result<Pass, String> {
    let mut listener = Listener::new(recognizer, config).map_err(|e| e.to_string())?;
    let mut events: Vec<TranscriptEvent> = Vec::with_capacity(256);
    let mut decode_latencies = Vec::with_capacity(frames.len() / 4 + 1);
    let cpu_start = cpu_time();
    let start = Instant::now();
    for frame in frames {
        let steps = listener.stats().decode_steps;
        let t = Instant::now();
        listener.push(frame, &mut events).map_err(|e| e.to_string())?;
        let latency = t.elapsed();
        if listener.stats().decode_steps > steps {
            decode_latencies.push(latency);
        }
    }
    listener.finish(&mut events).map_err(|e| e.to_string())?;
    let wall = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    let finals = events
        .into_iter()
        .filter_map(|e| match e {
            TranscriptEvent::Final { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    Ok(Pass {
        wall,
        cpu,
        decode_latencies,
        finals,
        samples_fed: listener.stats().samples_fed,
    })
}

/// Nearest-rank percentile (the same rule as the Python reference).
fn percentile(values: &[Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn ms(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// A latency in ms with three decimals, or "-" for none.
fn cell(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "-".to_owned()
    }
}

/// A JSON number, or null for NaN.
fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

fn read_frames(path: &Path) -> Result<(Vec<AudioFrame>, u32, f64), String> {
    let pcm = assistant_audio::wav::read(path).map_err(|e| e.to_string())?;
    let rate = pcm.sample_rate;
    let seconds = pcm.duration().as_secs_f64();
    Ok((pcm.frames(Timestamp::from_nanos(0)), rate, seconds))
}

/// 16 kHz mono samples cut into 20 ms frames.
fn frames_16k(samples: &[f32]) -> Vec<AudioFrame> {
    let per_frame = frame_samples(ASR_SAMPLE_RATE);
    samples
        .chunks(per_frame)
        .enumerate()
        .map(|(i, chunk)| AudioFrame {
            sample_rate: ASR_SAMPLE_RATE,
            samples: chunk.to_vec(),
            captured_at: Timestamp::from_nanos(i as u64 * 20_000_000),
        })
        .collect()
}

fn manifest(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn recognizer_config(model: &Path, rule2: f32) -> RecognizerConfig {
    let mut c = RecognizerConfig::new(TransducerFiles {
        encoder: model.join("encoder.onnx"),
        decoder: model.join("decoder.onnx"),
        joiner: model.join("joiner.onnx"),
        tokens: model.join("tokens.txt"),
    });
    c.num_threads = 1;
    c.endpointing = Endpointing {
        silence_without_text_s: RULE1_S,
        silence_after_text_s: rule2,
        max_utterance_s: RULE3_S,
    };
    c
}

/// An input measured as a whole: `repeat` passes after a warm-up.
struct Input {
    name: String,
    sample_rate: u32,
    audio_s: f64,
    frames: Vec<AudioFrame>,
}

/// A row of part 2: key, gated, what the input is, the input, its medians.
type Row = (String, bool, &'static str, Input, Summary);

/// The medians of one input's passes.
struct Summary {
    wall_s: f64,
    cpu_s: f64,
    p50_ms: f64,
    p95_ms: f64,
    decode_frames: f64,
    fed_s: f64,
    finals: Vec<String>,
    /// The passes' finals disagreed (nondeterminism: reported, fails the run).
    unstable: bool,
}

fn summarize(passes: &[Pass]) -> Summary {
    let get = |f: &dyn Fn(&Pass) -> f64| median(&passes.iter().map(f).collect::<Vec<_>>());
    let finals = passes.first().map(|p| p.finals.clone()).unwrap_or_default();
    Summary {
        wall_s: get(&|p| p.wall.as_secs_f64()),
        cpu_s: get(&|p| p.cpu.as_secs_f64()),
        p50_ms: get(&|p| ms(percentile(&p.decode_latencies, 50.0))),
        p95_ms: get(&|p| ms(percentile(&p.decode_latencies, 95.0))),
        decode_frames: get(&|p| p.decode_latencies.len() as f64),
        fed_s: get(&|p| p.samples_fed as f64 / f64::from(ASR_SAMPLE_RATE)),
        unstable: passes.iter().any(|p| p.finals != finals),
        finals,
    }
}

/// Runs every input once unmeasured, then `repeat` measured rounds over all
/// of them (so a transient slowdown spreads over inputs instead of hitting
/// one), and returns each input's passes.
fn passes(
    recognizer: &Recognizer,
    config: &ListenConfig,
    inputs: &[Input],
    repeat: usize,
) -> Result<Vec<Vec<Pass>>, String> {
    for input in inputs {
        run(recognizer, config, &input.frames).map_err(|e| format!("{}: {e}", input.name))?;
    }
    let mut all: Vec<Vec<Pass>> = inputs.iter().map(|_| Vec::with_capacity(repeat)).collect();
    for _ in 0..repeat {
        for (input, out) in inputs.iter().zip(&mut all) {
            out.push(run(recognizer, config, &input.frames).map_err(|e| format!("{}: {e}", input.name))?);
        }
    }
    Ok(all)
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("asr bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<ExitCode, String> {
    let args = parse_args()?;
    let tones_dir = args.fixtures.join("tones");
    let speech_dir = args.fixtures.join("speech");

    // Part 1: every tone fixture, no VAD.
    let recognizer = Recognizer::new(&recognizer_config(&args.model, RULE2_S)).map_err(|e| e.to_string())?;
    let listen = ListenConfig::new(recognizer_config(&args.model, RULE2_S));
    let tones = manifest(&tones_dir.join("manifest.json"))?;
    let mut inputs = Vec::new();
    for fixture in tones["fixtures"]
        .as_array()
        .ok_or("tones/manifest.json has no fixtures list")?
    {
        let file = fixture["file"].as_str().ok_or("a fixture without a file name")?;
        let (frames, sample_rate, audio_s) = read_frames(&tones_dir.join(file))?;
        inputs.push(Input {
            name: file.to_owned(),
            sample_rate,
            audio_s,
            frames,
        });
    }
    let file_passes = passes(&recognizer, &listen, &inputs, args.repeat)?;
    let summaries: Vec<Summary> = file_passes.iter().map(|p| summarize(p)).collect();

    // Overall: per pass, totals over all files and latencies pooled over
    // all files; then the median over passes.
    let audio_total: f64 = inputs.iter().map(|i| i.audio_s).sum();
    let round =
        |k: usize, f: &dyn Fn(&Pass) -> Duration| -> f64 { file_passes.iter().map(|p| f(&p[k]).as_secs_f64()).sum() };
    let pooled = |k: usize| -> Vec<Duration> {
        file_passes
            .iter()
            .flat_map(|p| p[k].decode_latencies.iter().copied())
            .collect()
    };
    let overall_wall = median(&(0..args.repeat).map(|k| round(k, &|p| p.wall)).collect::<Vec<_>>());
    let overall_cpu = median(&(0..args.repeat).map(|k| round(k, &|p| p.cpu)).collect::<Vec<_>>());
    let overall_p50 = median(
        &(0..args.repeat)
            .map(|k| ms(percentile(&pooled(k), 50.0)))
            .collect::<Vec<_>>(),
    );
    let overall_p95 = median(
        &(0..args.repeat)
            .map(|k| ms(percentile(&pooled(k), 95.0)))
            .collect::<Vec<_>>(),
    );
    let overall_frames = median(&(0..args.repeat).map(|k| pooled(k).len() as f64).collect::<Vec<_>>());

    // Part 2: idle and speaking cost.
    let gated = recognizer_config(&args.model, RULE2_GATED_S);
    let gated_recognizer = Recognizer::new(&gated).map_err(|e| e.to_string())?;
    let ungated_listen = ListenConfig::new(gated.clone());
    let silence = Input {
        name: "silence 60 s".into(),
        sample_rate: ASR_SAMPLE_RATE,
        audio_s: SILENCE_S as f64,
        frames: frames_16k(&vec![0.0; SILENCE_S * ASR_SAMPLE_RATE as usize]),
    };
    // The speech tone fixtures at 16 kHz mono, back to back (very_long.wav
    // is mostly silence and left out).
    let mut tone_speech = Vec::new();
    for (input, fixture) in inputs.iter().zip(tones["fixtures"].as_array().into_iter().flatten()) {
        let has_words = fixture["transcripts"].as_array().is_some_and(|t| !t.is_empty());
        if has_words && input.sample_rate == ASR_SAMPLE_RATE && input.name != "very_long.wav" {
            tone_speech.extend(input.frames.iter().flat_map(|f| f.samples.iter().copied()));
        }
    }
    let tones_input = Input {
        name: "speech tones".into(),
        sample_rate: ASR_SAMPLE_RATE,
        audio_s: tone_speech.len() as f64 / f64::from(ASR_SAMPLE_RATE),
        frames: frames_16k(&tone_speech),
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut ungated_rows: Vec<Row> = Vec::new();
    for (key, input, what) in [
        ("silent", silence, "60 s of digital silence (zeros)"),
        (
            "speaking_tones",
            tones_input,
            "the speech tone fixtures at 16 kHz, concatenated",
        ),
    ] {
        let p = passes(
            &gated_recognizer,
            &ungated_listen,
            std::slice::from_ref(&input),
            args.repeat,
        )?;
        let s = summarize(&p[0]);
        ungated_rows.push((format!("{key}_novad"), false, what, input, s));
    }
    let vad_skip = match &args.vad {
        None => Some("no --vad given".to_owned()),
        Some(p) if !p.is_file() => Some(format!("the Silero VAD model {} is absent", p.display())),
        Some(_) => None,
    };
    if let (None, Some(vad)) = (&vad_skip, &args.vad) {
        let mut gated_listen = ListenConfig::new(gated.clone());
        gated_listen.vad = Some(VadConfig::new(vad));
        let speech = manifest(&speech_dir.join("manifest.json"))?;
        let (gated_frames, _, gated_s) = read_frames(&speech_dir.join("gated_60s.wav"))?;
        // The spoken part of every espeak-ng question, back to back.
        let mut spoken = Vec::new();
        for fixture in speech["fixtures"]
            .as_array()
            .ok_or("speech/manifest.json has no fixtures list")?
        {
            let file = fixture["file"].as_str().ok_or("a speech fixture without a file name")?;
            let pcm = assistant_audio::wav::read(speech_dir.join(file)).map_err(|e| e.to_string())?;
            if pcm.sample_rate != ASR_SAMPLE_RATE || pcm.channels != 1 {
                return Err(format!("{file}: expected 16 kHz mono"));
            }
            let at = |key: &str| (fixture[key].as_f64().unwrap_or(0.0) * f64::from(ASR_SAMPLE_RATE)) as usize;
            let (from, to) = (at("speech_start_s"), at("speech_end_s").min(pcm.samples.len()));
            spoken.extend_from_slice(pcm.samples.get(from..to).unwrap_or(&[]));
        }
        let silence = Input {
            name: "silence 60 s".into(),
            sample_rate: ASR_SAMPLE_RATE,
            audio_s: SILENCE_S as f64,
            frames: frames_16k(&vec![0.0; SILENCE_S * ASR_SAMPLE_RATE as usize]),
        };
        let gated_input = Input {
            name: "gated_60s.wav".into(),
            sample_rate: ASR_SAMPLE_RATE,
            audio_s: gated_s,
            frames: gated_frames,
        };
        let speech_input = Input {
            name: "espeak speech".into(),
            sample_rate: ASR_SAMPLE_RATE,
            audio_s: spoken.len() as f64 / f64::from(ASR_SAMPLE_RATE),
            frames: frames_16k(&spoken),
        };
        for (key, input, what) in [
            ("silent_vad", silence, "60 s of digital silence (zeros)"),
            (
                "gated_60s_vad",
                gated_input,
                "gated_60s.wav: 59 s of silence around one utterance",
            ),
            (
                "speaking_vad",
                speech_input,
                "the spoken parts of the espeak-ng questions, concatenated",
            ),
        ] {
            let p = passes(
                &gated_recognizer,
                &gated_listen,
                std::slice::from_ref(&input),
                args.repeat,
            )?;
            let s = summarize(&p[0]);
            rows.push((key.to_owned(), true, what, input, s));
        }
    }
    rows.append(&mut ungated_rows);

    let unstable: Vec<&str> = inputs
        .iter()
        .zip(&summaries)
        .filter(|(_, s)| s.unstable)
        .map(|(i, _)| i.name.as_str())
        .chain(rows.iter().filter(|r| r.4.unstable).map(|r| r.3.name.as_str()))
        .collect();

    if args.json {
        let files: Vec<Value> = inputs
            .iter()
            .zip(&summaries)
            .map(|(i, s)| {
                json!({
                    "file": i.name,
                    "sample_rate": i.sample_rate,
                    "audio_s": i.audio_s,
                    "wall_s": s.wall_s,
                    "cpu_s": s.cpu_s,
                    "rtf": s.wall_s / i.audio_s,
                    "cpu_per_audio_s": s.cpu_s / i.audio_s,
                    "frames": i.frames.len(),
                    "decode_frames": s.decode_frames,
                    "p50_ms": num(s.p50_ms),
                    "p95_ms": num(s.p95_ms),
                    "finals": s.finals,
                })
            })
            .collect();
        let idle: Vec<Value> = rows
            .iter()
            .map(|(key, vad, what, i, s)| {
                json!({
                    "name": key,
                    "vad": vad,
                    "input": what,
                    "audio_s": i.audio_s,
                    "fed_s": s.fed_s,
                    "wall_s": s.wall_s,
                    "cpu_s": s.cpu_s,
                    "rtf": s.wall_s / i.audio_s,
                    "cpu_per_audio_s": s.cpu_s / i.audio_s,
                    "finals": s.finals.len(),
                })
            })
            .collect();
        let out = json!({
            "implementation": "assistant-asr Listener (Rust, sherpa-onnx C API)",
            "sherpa_onnx": assistant_asr::library_version(),
            "onnxruntime": assistant_asr::onnxruntime_version(),
            "repeat": args.repeat,
            "settings": {
                "decoding": "greedy_search",
                "num_threads": 1,
                "rule1_s": RULE1_S,
                "rule2_s": RULE2_S,
                "rule2_gated_s": RULE2_GATED_S,
                "rule3_s": RULE3_S,
                "frame_ms": 20,
                "resampling": "rubato FFT in the Listener, before sherpa-onnx (which then sees 16 kHz)",
            },
            "files": files,
            "overall": {
                "audio_s": audio_total,
                "wall_s": overall_wall,
                "cpu_s": overall_cpu,
                "rtf": overall_wall / audio_total,
                "cpu_per_audio_s": overall_cpu / audio_total,
                "decode_frames": overall_frames,
                "p50_ms": num(overall_p50),
                "p95_ms": num(overall_p95),
            },
            "idle": {
                "vad_model": args.vad.as_ref().map(|p| p.display().to_string()),
                "skipped": vad_skip,
                "rows": idle,
            },
            "unstable": unstable,
        });
        println!("{out}");
    } else {
        println!(
            "assistant-asr Listener, sherpa-onnx {} (ONNX Runtime {}): greedy, 1 thread, rules {RULE1_S}/{RULE2_S}/{RULE3_S} s, 20 ms frames; median of {} passes after a warm-up",
            assistant_asr::library_version(),
            assistant_asr::onnxruntime_version(),
            args.repeat
        );
        println!();
        println!(
            "{:28} {:>6} {:>7} {:>8} {:>8} {:>7} {:>6} {:>7} {:>7}  finals",
            "file", "sr", "audio_s", "wall_ms", "cpu_ms", "RTF", "decfr", "p50_ms", "p95_ms"
        );
        for (i, s) in inputs.iter().zip(&summaries) {
            println!(
                "{:28} {:>6} {:>7.2} {:>8.2} {:>8.2} {:>7.4} {:>6} {:>7} {:>7}  {}",
                i.name,
                i.sample_rate,
                i.audio_s,
                s.wall_s * 1e3,
                s.cpu_s * 1e3,
                s.wall_s / i.audio_s,
                s.decode_frames,
                cell(s.p50_ms),
                cell(s.p95_ms),
                s.finals.join(" | ")
            );
        }
        println!(
            "{:28} {:>6} {:>7.2} {:>8.2} {:>8.2} {:>7.4} {:>6} {:>7} {:>7}",
            "overall",
            "",
            audio_total,
            overall_wall * 1e3,
            overall_cpu * 1e3,
            overall_wall / audio_total,
            overall_frames,
            cell(overall_p50),
            cell(overall_p95)
        );
        println!();
        println!("CPU per second of audio (rule 2 {RULE2_GATED_S} s):");
        println!(
            "{:20} {:>4} {:>7} {:>7} {:>8} {:>10}  input",
            "row", "VAD", "audio_s", "fed_s", "cpu_ms", "cpu_s/s"
        );
        for (key, vad, what, i, s) in &rows {
            println!(
                "{:20} {:>4} {:>7.2} {:>7.2} {:>8.2} {:>10.6}  {what}",
                key,
                if *vad { "yes" } else { "no" },
                i.audio_s,
                s.fed_s,
                s.cpu_s * 1e3,
                s.cpu_s / i.audio_s
            );
        }
        if let Some(reason) = &vad_skip {
            println!("VAD rows skipped: {reason}");
        }
        if !unstable.is_empty() {
            println!("finals differed between passes for: {}", unstable.join(", "));
        }
    }
    Ok(if unstable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
