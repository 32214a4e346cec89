//! Shared by the test binaries of this crate: the synthetic Piper voices of
//! `scripts/models/make_piper_voice.py`, generated into a temporary folder.

use std::path::PathBuf;
use std::process::Command;

/// The synthetic voices' sample rate.
pub const SAMPLE_RATE: u32 = 22_050;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The generated voices, or `None` (after a SKIP message) without the shared
/// Piper config.
pub struct Voices {
    /// Holds synthetic-{single,multi}.onnx and their .onnx.json configs.
    pub dir: tempfile::TempDir,
}

impl Voices {
    pub fn generate(test: &str) -> Option<Self> {
        let root = workspace_root();
        let config = assistant_tests::shared_data(test)?.join("piper-config/en_US-test.onnx.json");
        let python = root.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run scripts/bootstrap to create the project venv (onnx, numpy)",
            python.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("synthetic-voice-")
            .tempdir()
            .expect("a temporary folder");
        let run = Command::new(&python)
            .current_dir(&root)
            .arg("scripts/models/make_piper_voice.py")
            .arg("--out")
            .arg(dir.path())
            .arg("--config")
            .arg(&config)
            .output()
            .expect("the venv's python starts");
        assert!(
            run.status.success(),
            "make_piper_voice.py failed ({}):\n{}{}",
            run.status,
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        Some(Self { dir })
    }

    /// A file in the voices' folder.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

/// Goertzel power of `samples` at `hz`.
pub fn power_at(samples: &[f32], hz: f64) -> f64 {
    assistant_tests::tone_power(samples, hz, SAMPLE_RATE)
}

/// The strongest frequency of `samples` on a 5 Hz grid from 100 to 7000 Hz.
pub fn dominant_hz(samples: &[f32]) -> u32 {
    (100..=7_000)
        .step_by(5)
        .map(|hz| (hz, power_at(samples, f64::from(hz))))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(hz, _)| hz)
        .expect("a non-empty grid")
}
