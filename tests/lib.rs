//! Shared helpers for the workspace-level tests in `tests/tests/`.
//!
//! The rules in [`architecture`] are what ARCHITECTURE.md states as
//! invariants; `tests/tests/architecture.rs` checks them against
//! `cargo metadata`, so the architecture cannot rot silently.

pub mod architecture;
pub mod fake_ollama;
pub mod llama_server;
pub mod pulse;
pub mod relay;

use std::path::PathBuf;

/// The workspace root.
#[must_use]
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The real small files in `../shared/data` (see its MANIFEST.md), or `None`
/// with a message on stderr when they are absent: tests that need them skip.
/// `ASSISTANTD_SHARED_DATA` overrides the location.
#[must_use]
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("ASSISTANTD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP {test}: shared test data not found at {} (set ASSISTANTD_SHARED_DATA to the folder holding MANIFEST.md)",
            dir.display()
        );
        None
    }
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
