//! `assistantd transcribe FILE.wav…`: the listening stage on WAV files.
//!
//! Each file goes through exactly what the microphone path runs (20 ms
//! frames at the file's own rate, resampling, VAD gating, the transducer
//! and its endpoint rules), stamped with the file's own time from 0, so
//! the printed times are positions in the file.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use assistant_asr::{ListenConfig, Listener, Recognizer};
use assistant_core::{Timestamp, TranscriptEvent};
use serde::Serialize;

/// One line of `--json` output.
#[derive(Serialize)]
struct JsonEvent<'a> {
    file: &'a str,
    #[serde(flatten)]
    event: &'a TranscriptEvent,
}

/// The summary line of `--json` output for one file.
#[derive(Serialize)]
struct JsonSummary<'a> {
    file: &'a str,
    event: &'static str,
    audio_s: f64,
    wall_s: f64,
    real_time_factor: f64,
    samples_fed_s: f64,
}

fn secs(t: Timestamp) -> f64 {
    t.since_epoch().as_secs_f64()
}

/// Transcribes `files` with `config`, writing to `out`.
///
/// # Errors
/// If the models cannot be loaded, or a file cannot be read (the other
/// files are still transcribed; the error names every failure).
pub fn run(config: &ListenConfig, files: &[PathBuf], json: bool, out: &mut dyn Write) -> Result<()> {
    let recognizer = Recognizer::new(&config.recognizer)?;
    let mut failures = Vec::new();
    for file in files {
        if let Err(e) = one(&recognizer, config, file, json, out) {
            eprintln!("assistantd: {e:#}");
            failures.push(file.display().to_string());
        }
    }
    if !failures.is_empty() {
        anyhow::bail!("could not transcribe {}", failures.join(", "));
    }
    Ok(())
}

fn one(recognizer: &Recognizer, config: &ListenConfig, file: &PathBuf, json: bool, out: &mut dyn Write) -> Result<()> {
    let name = file.display().to_string();
    let pcm = assistant_audio::wav::read(file)?;
    let audio_s = pcm.duration().as_secs_f64();
    let frames = pcm.frames(Timestamp::from_nanos(0));
    let mut listener = Listener::new(recognizer, config)?;
    let mut events = Vec::new();
    if !json {
        writeln!(out, "{name} ({audio_s:.2} s)")?;
    }
    let started = Instant::now();
    let print = |events: &mut Vec<TranscriptEvent>, out: &mut dyn Write| -> Result<()> {
        for event in events.drain(..) {
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&JsonEvent {
                        file: &name,
                        event: &event
                    })?
                )?;
                continue;
            }
            match &event {
                TranscriptEvent::SpeechStarted { at, .. } => writeln!(out, "  {:>8.2}  speech", secs(*at))?,
                TranscriptEvent::Partial { text, at, .. } => writeln!(out, "  {:>8.2}  partial  {text}", secs(*at))?,
                TranscriptEvent::Final {
                    text,
                    speech_end_at,
                    endpoint_at,
                    ..
                } => writeln!(
                    out,
                    "  {:>8.2}  FINAL    {text}    (speech ended {:.2}, endpoint after {:.0} ms)",
                    secs(*endpoint_at),
                    secs(*speech_end_at),
                    (secs(*endpoint_at) - secs(*speech_end_at)) * 1e3
                )?,
            }
        }
        Ok(())
    };
    for frame in &frames {
        listener
            .push(frame, &mut events)
            .with_context(|| format!("{name}: at {:.2} s", secs(frame.captured_at)))?;
        print(&mut events, out)?;
    }
    listener.finish(&mut events)?;
    print(&mut events, out)?;
    let wall_s = started.elapsed().as_secs_f64();
    let stats = listener.stats();
    let fed_s = stats.samples_fed as f64 / 16_000.0;
    if json {
        let summary = JsonSummary {
            file: &name,
            event: "summary",
            audio_s,
            wall_s,
            real_time_factor: if audio_s > 0.0 { wall_s / audio_s } else { 0.0 },
            samples_fed_s: fed_s,
        };
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        writeln!(
            out,
            "  {} final(s); {fed_s:.2} s of {audio_s:.2} s reached the transducer; {:.1} ms to process (RTF {:.4})",
            stats.finals,
            wall_s * 1e3,
            if audio_s > 0.0 { wall_s / audio_s } else { 0.0 }
        )?;
    }
    Ok(())
}
