//! The tracer's command-line options and its collector thread, shared by
//! `run` and `bench`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use assistant_trace::{Collector, Outputs, TraceError, Tracer, TurnTrace};

/// Records in flight between the stages and the collector: a few hundred
/// turns' worth, so a busy collector drops nothing in practice.
const CAPACITY: usize = 4096;

/// How long the collector may take to write what is left after the
/// pipeline stopped.
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// Where per-turn traces go, besides the latency line in the log.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TraceArgs {
    /// Write one JSON object per turn to FILE: its marks on the pipeline
    /// clock, its spans, and the latency breakdown.
    #[arg(long, value_name = "FILE")]
    pub trace_out: Option<PathBuf>,
    /// Write a Chrome trace-event file to FILE, one track per stage; open it
    /// in Perfetto (ui.perfetto.dev) or chrome://tracing.
    #[arg(long, value_name = "FILE")]
    pub chrome_trace: Option<PathBuf>,
}

/// The collector, running on its own thread.
#[derive(Debug)]
pub struct TraceThread {
    result: std::sync::mpsc::Receiver<Result<Vec<TurnTrace>, TraceError>>,
}

impl TraceArgs {
    /// Starts the collector; `keep` holds every turn for [`TraceThread::finish`].
    ///
    /// # Errors
    /// If a trace file cannot be created, or the thread cannot start.
    pub fn start(&self, keep: bool) -> Result<(Tracer, TraceThread)> {
        let collector = Collector::new(Outputs {
            log: true,
            json_lines: self.trace_out.clone(),
            chrome: self.chrome_trace.clone(),
            keep,
        })?;
        let (tracer, records) = Tracer::channel(CAPACITY);
        let (done, result) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("trace".into())
            .spawn(move || {
                let _ = done.send(collector.run_blocking(records));
            })
            .context("cannot start the trace thread")?;
        Ok((tracer, TraceThread { result }))
    }
}

impl TraceThread {
    /// Waits for the collector to write the last turns (every [`Tracer`]
    /// must be gone) and returns the kept turns.
    ///
    /// # Errors
    /// If a trace file could not be written, or the collector did not
    /// finish in time (a tracer is still alive somewhere).
    pub fn finish(self) -> Result<Vec<TurnTrace>> {
        match self.result.recv_timeout(FINISH_WAIT) {
            Ok(turns) => Ok(turns?),
            Err(_) => anyhow::bail!(
                "the trace collector did not finish within {} s; the trace files may be incomplete",
                FINISH_WAIT.as_secs()
            ),
        }
    }
}
