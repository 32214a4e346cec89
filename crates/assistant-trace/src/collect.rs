//! The collector: receives what the stages record, assembles each turn's
//! trace, and writes it where the user asked when the turn ends.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assistant_core::TurnId;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::TraceError;
use crate::breakdown::Breakdown;
use crate::chrome::ChromeTrace;
use crate::timeline::{Mark, Span, Timeline};
use crate::tracer::Record;

/// Where finished turns go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// One summary line per turn in the log (info).
    pub log: bool,
    /// One JSON object per turn, a line each (`--trace-out`).
    pub json_lines: Option<PathBuf>,
    /// Chrome trace-event JSON, one track per stage (`--chrome-trace`).
    pub chrome: Option<PathBuf>,
    /// Keep every finished turn in memory for [`Collector::finish`] (a
    /// benchmark's report); an always-on daemon keeps none.
    pub keep: bool,
}

/// Everything recorded of one turn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TurnTrace {
    /// The turn.
    pub turn: TurnId,
    /// Its marks.
    pub timeline: Timeline,
    /// Its stages' work, in the order recorded.
    pub spans: Vec<Span>,
    /// The stages' own measurements.
    pub figures: Vec<(&'static str, Duration)>,
    /// How it ended ("completed", "barge-in", "failed", …; "unfinished" if
    /// the tracer stopped first).
    pub outcome: String,
    /// The derived figures (set when the turn ends).
    pub breakdown: Breakdown,
}

impl TurnTrace {
    fn new(turn: TurnId) -> Self {
        Self {
            turn,
            timeline: Timeline::new(turn),
            ..Self::default()
        }
    }

    /// The trace as one JSON object: marks in nanoseconds on the pipeline
    /// clock, figures and spans in milliseconds.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let marks: serde_json::Map<String, Value> = Mark::ALL
            .iter()
            .filter_map(|&m| {
                self.timeline
                    .get(m)
                    .map(|at| (m.name().to_owned(), json!(at.as_nanos())))
            })
            .collect();
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let figures: serde_json::Map<String, Value> = self
            .figures
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(ms(*value))))
            .collect();
        let spans: Vec<Value> = self
            .spans
            .iter()
            .map(|s| {
                json!({
                    "stage": s.stage.name(),
                    "name": s.name,
                    "start_ns": s.start.as_nanos(),
                    "ms": ms(s.duration()),
                })
            })
            .collect();
        let out_of_order: Vec<String> = self
            .timeline
            .out_of_order()
            .iter()
            .map(|(a, b)| format!("{} after {}", a.name(), b.name()))
            .collect();
        json!({
            "turn": self.turn.0,
            "outcome": self.outcome,
            "breakdown": self.breakdown,
            "marks_ns": marks,
            "figures_ms": figures,
            "spans": spans,
            "out_of_order": out_of_order,
        })
    }
}

/// Assembles turns from [`Record`]s and writes each when it ends.
#[derive(Debug)]
pub struct Collector {
    outputs: Outputs,
    open: BTreeMap<TurnId, TurnTrace>,
    done: Vec<TurnTrace>,
    json_lines: Option<(PathBuf, BufWriter<File>)>,
    chrome: Option<ChromeTrace>,
}

impl Collector {
    /// A collector writing to `outputs`; the files are created now.
    ///
    /// # Errors
    /// [`TraceError::Io`] naming a file that cannot be created.
    pub fn new(outputs: Outputs) -> Result<Self, TraceError> {
        let json_lines = match &outputs.json_lines {
            Some(path) => Some((path.clone(), BufWriter::new(create(path)?))),
            None => None,
        };
        let chrome = outputs.chrome.as_deref().map(ChromeTrace::create).transpose()?;
        Ok(Self {
            outputs,
            open: BTreeMap::new(),
            done: Vec::new(),
            json_lines,
            chrome,
        })
    }

    /// Takes one record; writes the turn out if it ended.
    ///
    /// # Errors
    /// [`TraceError::Io`] if a trace file cannot be written.
    pub fn accept(&mut self, record: Record) -> Result<(), TraceError> {
        match record {
            Record::Mark { turn, mark, at } => {
                self.turn(turn).timeline.record(mark, at);
            }
            Record::Span { turn, span } => self.turn(turn).spans.push(span),
            Record::Figure { turn, name, value } => self.turn(turn).figures.push((name, value)),
            Record::End { turn, outcome } => {
                let mut trace = self.open.remove(&turn).unwrap_or_else(|| TurnTrace::new(turn));
                outcome.clone_into(&mut trace.outcome);
                self.write(trace)?;
            }
        }
        Ok(())
    }

    /// How long [`Collector::run_blocking`] sleeps once the channel is empty.
    pub const POLL: Duration = Duration::from_millis(5);

    /// The longest it sleeps while nothing comes (an idle daemon's
    /// collector wakes 25 times a second).
    pub const POLL_IDLE: Duration = Duration::from_millis(40);

    /// Receives until every [`Tracer`](crate::Tracer) is gone, on the
    /// calling thread (give it one of its own); then [`finish`](Self::finish).
    ///
    /// It polls: it drains the channel, then sleeps [`Self::POLL`]
    /// (doubling up to [`Self::POLL_IDLE`] while nothing comes). A collector asleep in a
    /// blocking receive would have every record wake it, a system call the
    /// recording stage pays: 6 to 9 µs a mark on the build machine against
    /// about 0.2 µs this way (`cargo bench -p assistant-trace --bench mark`).
    /// The channel holds far more than a turn's records for that long.
    ///
    /// # Errors
    /// As [`accept`](Self::accept) and [`finish`](Self::finish); a write
    /// error ends the collection (the records after it are dropped).
    pub fn run_blocking(mut self, mut records: mpsc::Receiver<Record>) -> Result<Vec<TurnTrace>, TraceError> {
        let mut nap = Self::POLL;
        loop {
            match records.try_recv() {
                Ok(record) => {
                    self.accept(record)?;
                    nap = Self::POLL;
                }
                Err(mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Self::POLL_IDLE);
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        self.finish()
    }

    /// Writes out the turns still open (as "unfinished"), closes the files,
    /// and returns the kept turns.
    ///
    /// # Errors
    /// [`TraceError::Io`] if a trace file cannot be written.
    pub fn finish(mut self) -> Result<Vec<TurnTrace>, TraceError> {
        let open = std::mem::take(&mut self.open);
        for (_, mut trace) in open {
            "unfinished".clone_into(&mut trace.outcome);
            self.write(trace)?;
        }
        if let Some((path, mut out)) = self.json_lines.take() {
            out.flush().map_err(|e| TraceError::io(&path, e))?;
        }
        if let Some(chrome) = self.chrome.take() {
            chrome.close()?;
        }
        Ok(self.done)
    }

    fn turn(&mut self, turn: TurnId) -> &mut TurnTrace {
        self.open.entry(turn).or_insert_with(|| TurnTrace::new(turn))
    }

    fn write(&mut self, mut trace: TurnTrace) -> Result<(), TraceError> {
        trace.breakdown = Breakdown::of(&trace.timeline);
        if self.outputs.log {
            if trace.breakdown.headline.is_some() {
                tracing::info!(turn = %trace.turn, "latency: {}", trace.breakdown.summary());
            } else {
                tracing::info!(turn = %trace.turn, "latency: no first audio ({})", trace.outcome);
            }
            for (earlier, later) in trace.timeline.out_of_order() {
                tracing::warn!(turn = %trace.turn, "trace: {} recorded before {}", later.name(), earlier.name());
            }
        }
        if let Some((path, out)) = &mut self.json_lines {
            writeln!(out, "{}", trace.to_json()).map_err(|e| TraceError::io(path, e))?;
            out.flush().map_err(|e| TraceError::io(path, e))?;
        }
        if let Some(chrome) = &mut self.chrome {
            chrome.turn(&trace)?;
        }
        if self.outputs.keep {
            self.done.push(trace);
        }
        Ok(())
    }
}

fn create(path: &Path) -> Result<File, TraceError> {
    File::create(path).map_err(|e| TraceError::io(path, e))
}

#[cfg(test)]
mod tests {
    use assistant_core::Timestamp;

    use super::*;
    use crate::{Stage, Tracer};

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn turns_are_assembled_and_written_when_they_end() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let outputs = Outputs {
            log: false,
            json_lines: Some(dir.path().join("trace.jsonl")),
            chrome: Some(dir.path().join("trace.json")),
            keep: true,
        };
        let collector = Collector::new(outputs).unwrap_or_else(|e| panic!("{e}"));
        let (tracer, rx) = Tracer::channel(64);
        let thread = std::thread::spawn(move || collector.run_blocking(rx));
        let t1 = TurnId(1);
        tracer.mark(t1, Mark::SpeechEnd, at(100));
        tracer.mark(t1, Mark::Endpoint, at(600));
        tracer.span(t1, Stage::Speak, "synthesize clause 0", at(700), at(750));
        tracer.figure(t1, "llm_server_prompt_eval", Duration::from_millis(12));
        tracer.mark(t1, Mark::FirstAudioPlayed, at(800));
        tracer.end(t1, "completed");
        // Turn 2 never ends: written as unfinished when the tracer goes.
        tracer.mark(TurnId(2), Mark::SpeechEnd, at(900));
        drop(tracer);
        let turns = thread
            .join()
            .unwrap_or_else(|_| panic!("collector panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].outcome, "completed");
        assert_eq!(turns[0].breakdown.headline, Some(Duration::from_millis(700)));
        assert_eq!(turns[1].outcome, "unfinished");
        let lines = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap_or_default();
        let first: Value = serde_json::from_str(lines.lines().next().unwrap_or("")).unwrap_or_default();
        assert_eq!(first["breakdown"]["headline"], 700.0);
        assert_eq!(first["marks_ns"]["endpoint"], 600_000_000);
        assert_eq!(first["figures_ms"]["llm_server_prompt_eval"], 12.0);
        assert_eq!(first["spans"][0]["ms"], 50.0);
        let chrome: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("trace.json")).unwrap_or_default())
                .unwrap_or_else(|e| panic!("the Chrome trace is not JSON: {e}"));
        let events = chrome.as_array().cloned().unwrap_or_default();
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "X" && e["name"] == "synthesize clause 0" && e["dur"] == 50_000.0),
            "{events:?}"
        );
    }

    #[test]
    fn an_uncreatable_file_is_named() {
        let outputs = Outputs {
            json_lines: Some(PathBuf::from("/nonexistent-dir/trace.jsonl")),
            ..Outputs::default()
        };
        let err = Collector::new(outputs).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("/nonexistent-dir/trace.jsonl"), "{err}");
    }
}
