//! The benchmark's report: a table per stage (p50 / p95 / max), the JSON
//! report, the traces and the plots.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use assistant_llm::Client;
use assistant_trace::{Breakdown, ChromeTrace, TurnTrace};
use serde_json::{Value, json};

use super::compare::{self, Comparison};
use super::{BenchArgs, Run, plots, renumber, resources, short};
use crate::run::Stages;

/// The report's schema version: bumped when a field changes meaning.
pub const SCHEMA: u32 = 1;

/// The figures of the table, in pipeline order, with their labels.
const ROWS: [(&str, &str); 8] = [
    ("headline", "end of speech → first audio"),
    ("endpoint_delay", "  endpoint wait"),
    ("asr_finalisation", "  ASR finalisation"),
    ("llm_first_token", "  LLM first token"),
    ("llm_first_clause", "  LLM first clause"),
    ("tts_first_audio", "  TTS first audio"),
    ("playback_start", "  device buffer"),
    ("overhead", "  pipeline overhead"),
];

/// The stages' own figures, in pipeline order, with their labels: shown
/// (and summarised) where the turns have them.
const STAGE_ROWS: [(&str, &str); 6] = [
    ("asr_decode_per_chunk", "ASR decode, per chunk"),
    ("asr_decode_longest_chunk", "ASR decode, longest chunk"),
    ("llm_server_load", "LLM server: model load"),
    ("llm_server_prompt_eval", "LLM server: prompt"),
    ("llm_server_eval", "LLM server: generation"),
    ("tts_per_clause", "TTS, per clause"),
];

/// What `bench` measured.
#[derive(Debug)]
pub struct Report {
    /// The JSON report (`bench-report.json`).
    pub json: Value,
    /// The table printed on stdout.
    pub table: String,
    /// Against `--compare`'s report, if given.
    pub comparison: Option<Comparison>,
    runs: Vec<Run>,
}

/// p50 / p95 / max of one figure over the measured turns.
fn stats(values: &[f64]) -> Value {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    json!({
        "n": sorted.len(),
        "p50": plots::percentile(&sorted, 50.0),
        "p95": plots::percentile(&sorted, 95.0),
        "max": sorted.last(),
    })
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

/// The measured turns (warm-up left out) that reached first audio.
fn measured(runs: &[Run]) -> impl Iterator<Item = &TurnTrace> {
    runs.iter()
        .filter(|r| !r.warm_up)
        .flat_map(|r| &r.turns)
        .filter(|t| t.breakdown.headline.is_some())
}

fn figure(b: &Breakdown, name: &str) -> Option<f64> {
    b.figures().iter().find(|(n, _)| *n == name).and_then(|(_, d)| ms(*d))
}

/// A stage's own figure over `turn`: every clause's synthesis for
/// `tts_per_clause`, else the figure the stage reported.
fn stage_values(turn: &TurnTrace, name: &str) -> Vec<f64> {
    if name == "tts_per_clause" {
        return turn
            .spans
            .iter()
            .filter(|s| s.stage == assistant_trace::Stage::Speak)
            .filter_map(|s| ms(Some(s.duration())))
            .collect();
    }
    turn.figures
        .iter()
        .filter(|(n, _)| *n == name)
        .filter_map(|(_, d)| ms(Some(*d)))
        .collect()
}

/// The sha256 of every model file the stages load, by role (the LLM's
/// when it is the embedded model).
fn model_digests(stages: &Stages, llm: &Client) -> Value {
    let model = &stages.listen.recognizer.model;
    let mut files = vec![
        ("transducer_encoder", &model.encoder),
        ("transducer_decoder", &model.decoder),
        ("transducer_joiner", &model.joiner),
        ("transducer_tokens", &model.tokens),
        ("voice", &stages.speak.model),
    ];
    if let Some(vad) = &stages.listen.vad {
        files.push(("vad", &vad.model));
    }
    if let Some(embedded) = &llm.config().embedded {
        files.push(("llm", &embedded.model));
    }
    files
        .into_iter()
        .map(|(role, path)| {
            let digest = assistant_models::store::sha256_file(path)
                .map_or_else(|e| Value::String(format!("unreadable: {e}")), Value::String);
            (
                role.to_owned(),
                json!({ "path": path.display().to_string(), "sha256": digest }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

impl Report {
    pub(super) fn new(
        args: &BenchArgs,
        stages: &Stages,
        llm: &Client,
        buffer_ms: u32,
        mut runs: Vec<Run>,
        old: Option<&Value>,
    ) -> Self {
        let mut next = 1;
        for run in &mut runs {
            renumber(&mut run.turns, next);
            next += run.turns.len() as u64;
        }
        let summary: serde_json::Map<String, Value> = ROWS
            .iter()
            .map(|(name, _)| {
                let values: Vec<f64> = measured(&runs).filter_map(|t| figure(&t.breakdown, name)).collect();
                ((*name).to_owned(), stats(&values))
            })
            .collect();
        let stage_summary: serde_json::Map<String, Value> = STAGE_ROWS
            .iter()
            .filter_map(|(name, _)| {
                let values: Vec<f64> = measured(&runs).flat_map(|t| stage_values(t, name)).collect();
                (!values.is_empty()).then(|| ((*name).to_owned(), stats(&values)))
            })
            .collect();
        let process: Vec<(u32, resources::Resources)> = runs
            .iter()
            .filter(|r| !r.warm_up)
            .enumerate()
            .filter_map(|(k, r)| Some((u32::try_from(k + 1).ok()?, r.resources?)))
            .collect();
        let soak = resources::soak(&process);
        let scripted = llm.config().backend == assistant_llm::Backend::Scripted;
        let turns: Vec<Value> = runs
            .iter()
            .flat_map(|r| {
                r.turns.iter().map(move |t| {
                    json!({
                        "fixture": r.fixture.display().to_string(),
                        "run": r.index,
                        "warm_up": r.warm_up,
                        "reply_wav": r.reply.display().to_string(),
                        "trace": t.to_json(),
                    })
                })
            })
            .collect();
        let runs_json: Vec<Value> = runs
            .iter()
            .map(|r| {
                json!({
                    "fixture": r.fixture.display().to_string(),
                    "run": r.index,
                    "warm_up": r.warm_up,
                    "turns": r.summary.turns,
                    "completed": r.summary.completed,
                    "failed": r.summary.failed,
                    "frames_dropped": r.summary.frames_dropped,
                    "process": r.resources,
                    "heard": r.summary.heard,
                })
            })
            .collect();
        let endpointing = &stages.listen.recognizer.endpointing;
        let mut json = json!({
            "schema": SCHEMA,
            "assistantd": env!("CARGO_PKG_VERSION"),
            "machine": machine(),
            "settings": {
                "profile": stages.profile.path.display().to_string(),
                "pace": format!("{:?}", args.pace).to_lowercase(),
                "repeat": args.repeat,
                "fixtures": args.fixtures.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                "llm": llm.endpoint().to_string(),
                "llm_scripted": scripted,
                "model": llm.config().model,
                "voice": stages.speak.voice,
                "endpoint_silence_s": endpointing.silence_after_text_s,
                "device_buffer_ms": buffer_ms,
            },
            "models": model_digests(stages, llm),
            "summary_ms": summary,
            "stage_ms": stage_summary,
            "soak": soak,
            "runs": runs_json,
            "turns": turns,
        });
        let comparison = old.map(|old| {
            let name = args
                .compare
                .as_deref()
                .map_or_else(String::new, |p| p.display().to_string());
            compare::compare(old, &json, &name, &[("summary_ms", &ROWS), ("stage_ms", &STAGE_ROWS)])
        });
        if let Some(c) = &comparison {
            json["compare"] = c.json.clone();
        }
        let mut table = table(&json, &runs, scripted, &llm.endpoint().to_string());
        if let Some(c) = &comparison {
            table.push_str(&c.text);
        }
        Self {
            json,
            table,
            comparison,
            runs,
        }
    }

    /// Writes `bench-report.json`, the traces and the plots into `out`.
    ///
    /// # Errors
    /// If a file cannot be written (named).
    pub fn write(&self, out: &Path) -> Result<()> {
        let path = out.join("bench-report.json");
        let text = serde_json::to_string_pretty(&self.json).context("cannot serialize the report")?;
        std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        let lines: String = self
            .runs
            .iter()
            .flat_map(|r| &r.turns)
            .map(|t| format!("{}\n", t.to_json()))
            .collect();
        let path = out.join("trace.jsonl");
        std::fs::write(&path, lines).with_context(|| format!("cannot write {}", path.display()))?;
        let mut chrome = ChromeTrace::create(&out.join("trace.json"))?;
        for turn in self.runs.iter().flat_map(|r| &r.turns) {
            chrome.turn(turn)?;
        }
        chrome.close()?;
        let measured: Vec<&TurnTrace> = measured(&self.runs).collect();
        let mut by_headline = measured.clone();
        by_headline.sort_by_key(|t| t.breakdown.headline);
        if let Some(median) = by_headline.get(by_headline.len() / 2) {
            plots::waterfall(
                median,
                &format!("median turn ({} of {})", median.turn, measured.len()),
                &out.join("waterfall.svg"),
            )?;
        }
        let series: Vec<(&str, Vec<f64>)> = ROWS
            .iter()
            .map(|(name, _)| {
                (
                    *name,
                    measured.iter().filter_map(|t| figure(&t.breakdown, name)).collect(),
                )
            })
            .collect();
        plots::distribution(&series, "latency per stage (ms)", &out.join("distribution.svg"))?;
        Ok(())
    }
}

/// The table for people.
fn table(json: &Value, runs: &[Run], scripted: bool, llm: &str) -> String {
    let summary = &json["summary_ms"];
    let n = summary["headline"]["n"].as_u64().unwrap_or(0);
    let cell = |v: &Value| v.as_f64().map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    let mut out = format!(
        "{} measured turn(s) of {} run(s) (warm-up left out); LLM: {}{}\n\n{:<30} {:>9} {:>9} {:>9}\n",
        n,
        runs.iter().filter(|r| !r.warm_up).count(),
        llm,
        if scripted { " — SCRIPTED, not a model" } else { "" },
        "ms",
        "p50",
        "p95",
        "max"
    );
    let row = |label: &str, s: &Value| {
        format!(
            "{label:<30} {:>9} {:>9} {:>9}\n",
            cell(&s["p50"]),
            cell(&s["p95"]),
            cell(&s["max"])
        )
    };
    for (name, label) in ROWS {
        out.push_str(&row(label, &summary[name]));
    }
    let stage = &json["stage_ms"];
    let inside: Vec<&(&str, &str)> = STAGE_ROWS
        .iter()
        .filter(|(name, _)| stage.get(name).is_some())
        .collect();
    let inside_llm = inside.iter().any(|(name, _)| name.starts_with("llm_server"));
    if !inside.is_empty() {
        out.push_str("\ninside the stages\n");
        for (name, label) in inside {
            out.push_str(&row(&format!("  {label}"), &stage[name]));
        }
        if scripted && inside_llm {
            out.push_str("  (the LLM server rows are the scripted responder's settings, not measurements)\n");
        } else if inside_llm && llm.starts_with("the embedded model") {
            out.push_str("  (the LLM server rows are llama.cpp's own figures, in this process)\n");
        }
    }
    if json["soak"].is_object() {
        out.push('\n');
        out.push_str(&resources::line(&json["soak"]));
    }
    // What each fixture was heard as (its first measured run).
    let mut seen = std::collections::BTreeSet::new();
    let heard: Vec<String> = runs
        .iter()
        .filter(|r| !r.warm_up && !r.summary.heard.is_empty() && seen.insert(&r.fixture))
        .map(|r| {
            let said: Vec<String> = r.summary.heard.iter().map(|t| format!("{t:?}")).collect();
            format!("  {}: {}\n", short(&r.fixture), said.join(", then "))
        })
        .collect();
    if !heard.is_empty() {
        out.push_str("\nheard\n");
        out.extend(heard);
    }
    let unheard: Vec<String> = runs
        .iter()
        .filter(|r| r.turns.is_empty())
        .map(|r| short(&r.fixture))
        .collect();
    if !unheard.is_empty() {
        out.push_str(&format!("\nnothing heard in: {}\n", unheard.join(", ")));
    }
    out
}

/// What machine this is, for comparing reports.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |k| k.trim().to_owned());
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1),
        "os": std::env::consts::OS,
        "kernel": kernel,
        "arch": std::env::consts::ARCH,
    })
}
