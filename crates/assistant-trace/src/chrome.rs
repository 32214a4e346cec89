//! Chrome's trace-event format (JSON array), which Perfetto and
//! `chrome://tracing` open: one track per stage, each turn's work as
//! slices, its marks as instants, the turn itself on a track of its own.
//!
//! The array is written as turns end, so a daemon killed mid-run leaves a
//! file without its closing `]`, which both viewers accept.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::TraceError;
use crate::collect::TurnTrace;
use crate::timeline::{Mark, Stage};

/// The track of whole turns; stage tracks follow it.
const TURNS_TRACK: u64 = 1;

/// A Chrome trace being written.
#[derive(Debug)]
pub struct ChromeTrace {
    path: PathBuf,
    out: BufWriter<File>,
    events: u64,
}

impl ChromeTrace {
    /// Creates `path` and names the tracks.
    ///
    /// # Errors
    /// [`TraceError::Io`] naming `path`.
    pub fn create(path: &Path) -> Result<Self, TraceError> {
        let file = File::create(path).map_err(|e| TraceError::io(path, e))?;
        let mut trace = Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            events: 0,
        };
        trace.raw("[")?;
        trace.event(&json!({"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "assistantd"}}))?;
        trace.event(
            &json!({"ph": "M", "pid": 1, "tid": TURNS_TRACK, "name": "thread_name", "args": {"name": "turns"}}),
        )?;
        for stage in Stage::ALL {
            trace.event(&json!({
                "ph": "M", "pid": 1, "tid": track(stage), "name": "thread_name", "args": {"name": stage.name()}
            }))?;
        }
        trace.flush()?;
        Ok(trace)
    }

    /// Adds one turn.
    ///
    /// # Errors
    /// [`TraceError::Io`] naming the file.
    pub fn turn(&mut self, trace: &TurnTrace) -> Result<(), TraceError> {
        let turn = trace.turn.0;
        let timeline = &trace.timeline;
        if let (Some(start), Some(headline)) = (timeline.get(Mark::SpeechEnd), trace.breakdown.headline) {
            self.event(&json!({
                "ph": "X", "pid": 1, "tid": TURNS_TRACK, "cat": "turn",
                "name": format!("turn {turn}: {:.0} ms to first audio", headline.as_secs_f64() * 1e3),
                "ts": micros(start.as_nanos()), "dur": micros(u64::try_from(headline.as_nanos()).unwrap_or(u64::MAX)),
                "args": {"turn": turn, "outcome": trace.outcome, "breakdown": trace.breakdown},
            }))?;
        }
        for span in &trace.spans {
            self.event(&json!({
                "ph": "X", "pid": 1, "tid": track(span.stage), "cat": span.stage.name(), "name": span.name,
                "ts": micros(span.start.as_nanos()),
                "dur": micros(u64::try_from(span.duration().as_nanos()).unwrap_or(u64::MAX)),
                "args": {"turn": turn},
            }))?;
        }
        for mark in Mark::ALL {
            if let Some(at) = timeline.get(mark) {
                self.event(&json!({
                    "ph": "i", "s": "t", "pid": 1, "tid": track(mark.stage()), "cat": "mark",
                    "name": mark.name(), "ts": micros(at.as_nanos()), "args": {"turn": turn},
                }))?;
            }
        }
        self.flush()
    }

    /// Closes the array.
    ///
    /// # Errors
    /// [`TraceError::Io`] naming the file.
    pub fn close(mut self) -> Result<(), TraceError> {
        self.raw("\n]\n")?;
        self.flush()
    }

    fn event(&mut self, event: &Value) -> Result<(), TraceError> {
        let separator = if self.events == 0 { "\n" } else { ",\n" };
        self.events += 1;
        self.raw(&format!("{separator}{event}"))
    }

    fn raw(&mut self, text: &str) -> Result<(), TraceError> {
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| TraceError::io(&self.path, e))
    }

    fn flush(&mut self) -> Result<(), TraceError> {
        self.out.flush().map_err(|e| TraceError::io(&self.path, e))
    }
}

fn track(stage: Stage) -> u64 {
    TURNS_TRACK + 1 + stage as u64
}

/// Trace-event times are microseconds (fractions allowed).
fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1e3
}
