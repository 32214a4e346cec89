//! `--compare OLD.json`: this run against an earlier report, figure by
//! figure, with regressions flagged only beyond the noise.
//!
//! The noise of a median is what the two runs themselves show: the larger
//! of either run's p95 − p50 spread, 5 % of the old median, and 1 ms (the
//! clock and the scheduler). A p95's noise is the old run's spread, 5 % of
//! the old p95 and 1 ms: a new run's wider tail is the change itself, not
//! its noise. A figure that moved by more than its noise changed; upward,
//! it regressed. Two reports of different machines or
//! settings still compare, with the differences named above the table, so
//! nobody reads a laptop-versus-server gap as a code change.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::report::SCHEMA;

/// The comparison, for the table and for the report.
#[derive(Debug)]
pub struct Comparison {
    /// Printed after the table.
    pub text: String,
    /// `compare` in the new report.
    pub json: Value,
    /// Figures that got worse beyond the noise.
    pub regressions: Vec<String>,
}

/// Reads an earlier `bench-report.json`.
///
/// # Errors
/// A file that cannot be read, is not JSON, or is of another schema (named,
/// with what to do).
pub fn load(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the report {}", path.display()))?;
    let old: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a bench report (not JSON); give the bench-report.json of an earlier run",
            path.display()
        )
    })?;
    match old["schema"].as_u64() {
        Some(v) if v == u64::from(SCHEMA) => Ok(old),
        Some(v) => bail!(
            "{} is a bench report of schema {v}, this assistantd writes schema {SCHEMA}; run the old benchmark again with this version",
            path.display()
        ),
        None => bail!(
            "{} has no \"schema\": it is not a bench-report.json written by assistantd bench",
            path.display()
        ),
    }
}

/// The settings and machine fields whose difference is worth saying.
const CONTEXT: [(&str, &str); 8] = [
    ("/machine/cpu", "CPU"),
    ("/machine/cores", "cores"),
    ("/settings/pace", "pace"),
    ("/settings/llm", "LLM"),
    ("/settings/model", "model"),
    ("/settings/voice", "voice"),
    ("/settings/endpoint_silence_s", "endpoint silence"),
    ("/settings/device_buffer_ms", "device buffer"),
];

/// Compares `new` with `old` on every figure of `groups` (`(key, rows)`:
/// the summary objects and their `(figure, label)` rows).
#[must_use]
pub fn compare(old: &Value, new: &Value, old_name: &str, groups: &[(&str, &[(&str, &str)])]) -> Comparison {
    let mut text = format!("\ncompared with {old_name}:\n");
    for (pointer, label) in CONTEXT {
        let (a, b) = (old.pointer(pointer), new.pointer(pointer));
        if a != b {
            let show = |v: Option<&Value>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
            text.push_str(&format!("  note: {label} differs: {} then, {} now\n", show(a), show(b)));
        }
    }
    if old["settings"]["fixtures"] != new["settings"]["fixtures"] {
        text.push_str("  note: the fixtures differ\n");
    }
    text.push_str(&format!(
        "{:<30} {:>9} {:>9} {:>9} {:>8} {:>7}  \n",
        "p50 ms", "then", "now", "Δ", "noise", "Δ %"
    ));
    let mut rows = Vec::new();
    let mut regressions = Vec::new();
    for (group, figures) in groups {
        for (name, label) in *figures {
            let (a, b) = (&old[group][name], &new[group][name]);
            let get = |v: &Value, p: &str| v[p].as_f64();
            let (Some(a50), Some(b50)) = (get(a, "p50"), get(b, "p50")) else {
                continue;
            };
            let spread = |v: &Value| (get(v, "p95").unwrap_or_default() - get(v, "p50").unwrap_or_default()).max(0.0);
            let noise = spread(a).max(spread(b)).max(0.05 * a50.abs()).max(1.0);
            let a95 = get(a, "p95").unwrap_or(a50);
            let noise95 = spread(a).max(0.05 * a95.abs()).max(1.0);
            let d50 = b50 - a50;
            let d95 = get(b, "p95").unwrap_or(b50) - a95;
            let verdict = if d50 > noise || d95 > noise95 {
                regressions.push((*name).to_owned());
                "REGRESSION"
            } else if d50 < -noise {
                "better"
            } else {
                ""
            };
            let percent = if a50.abs() > f64::EPSILON {
                d50 / a50 * 100.0
            } else {
                0.0
            };
            text.push_str(&format!(
                "{label:<30} {a50:>9.1} {b50:>9.1} {d50:>+9.1} {noise:>8.1} {percent:>+6.1}%  {verdict}\n"
            ));
            rows.push(json!({
                "figure": name,
                "then_p50": a50,
                "now_p50": b50,
                "delta_p50": d50,
                "delta_p95": d95,
                "noise": noise,
                "noise_p95": noise95,
                "verdict": if verdict.is_empty() { "same" } else { verdict },
            }));
        }
    }
    text.push_str(&if regressions.is_empty() {
        "no regression beyond the noise\n".to_owned()
    } else {
        format!("{} regression(s): {}\n", regressions.len(), regressions.join(", "))
    });
    Comparison {
        text,
        json: json!({ "against": old_name, "figures": rows, "regressions": regressions }),
        regressions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: [(&str, &str); 2] = [("headline", "headline"), ("overhead", "overhead")];

    fn report(headline: (f64, f64), overhead: (f64, f64), pace: &str) -> Value {
        json!({
            "schema": SCHEMA,
            "machine": { "cpu": "x", "cores": 2 },
            "settings": { "pace": pace, "fixtures": ["a.wav"] },
            "summary_ms": {
                "headline": { "p50": headline.0, "p95": headline.1 },
                "overhead": { "p50": overhead.0, "p95": overhead.1 },
            },
        })
    }

    #[test]
    fn a_change_within_the_noise_is_no_regression_and_one_beyond_it_is() {
        let old = report((1800.0, 1820.0), (0.4, 0.5), "realtime");
        // +15 ms on 1800 with a 20 ms spread: noise. The overhead doubles
        // but stays within 1 ms: noise too.
        let same = compare(
            &old,
            &report((1815.0, 1830.0), (0.8, 0.9), "realtime"),
            "old.json",
            &[("summary_ms", &ROWS)],
        );
        assert!(same.regressions.is_empty(), "{}", same.text);
        assert!(same.text.contains("no regression"), "{}", same.text);
        // +120 ms: beyond 5 % of 1800 (90) and the spread.
        let worse = compare(
            &old,
            &report((1920.0, 1940.0), (3.0, 4.0), "realtime"),
            "old.json",
            &[("summary_ms", &ROWS)],
        );
        assert_eq!(worse.regressions, ["headline", "overhead"], "{}", worse.text);
        assert!(worse.text.contains("REGRESSION"), "{}", worse.text);
        assert_eq!(worse.json["figures"][0]["verdict"], "REGRESSION");
        // Faster beyond the noise is said too.
        let better = compare(
            &old,
            &report((1600.0, 1610.0), (0.4, 0.5), "realtime"),
            "old.json",
            &[("summary_ms", &ROWS)],
        );
        assert!(better.regressions.is_empty());
        assert_eq!(better.json["figures"][0]["verdict"], "better");
    }

    #[test]
    fn a_worse_tail_alone_is_a_regression() {
        let old = report((1800.0, 1820.0), (0.4, 0.5), "realtime");
        // The median holds; p95 moves 130 ms, beyond 5 % of 1820 (91).
        let tail = compare(
            &old,
            &report((1800.0, 1950.0), (0.4, 0.5), "realtime"),
            "old.json",
            &[("summary_ms", &ROWS)],
        );
        assert_eq!(tail.regressions, ["headline"], "{}", tail.text);
        assert_eq!(tail.json["figures"][0]["delta_p95"], 130.0);
    }

    #[test]
    fn different_settings_are_named() {
        let old = report((1800.0, 1820.0), (0.4, 0.5), "realtime");
        let c = compare(
            &old,
            &report((900.0, 910.0), (0.4, 0.5), "fast"),
            "old.json",
            &[("summary_ms", &ROWS)],
        );
        assert!(
            c.text.contains("pace differs: \"realtime\" then, \"fast\" now"),
            "{}",
            c.text
        );
    }

    #[test]
    fn a_report_of_another_schema_or_none_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("old.json");
        std::fs::write(&path, r#"{"schema": 99}"#).unwrap_or_else(|e| panic!("{e}"));
        let e = format!("{:#}", load(&path).err().unwrap_or_else(|| anyhow::anyhow!("loaded")));
        assert!(e.contains("schema 99") && e.contains("old.json"), "{e}");
        std::fs::write(&path, "not json").unwrap_or_else(|e| panic!("{e}"));
        let e = format!("{:#}", load(&path).err().unwrap_or_else(|| anyhow::anyhow!("loaded")));
        assert!(e.contains("not a bench report"), "{e}");
        std::fs::write(&path, "{}").unwrap_or_else(|e| panic!("{e}"));
        let e = format!("{:#}", load(&path).err().unwrap_or_else(|| anyhow::anyhow!("loaded")));
        assert!(e.contains("no \"schema\""), "{e}");
    }
}
