//! ONNX Runtime, loaded once per process.
//!
//! `ort` is built with `load-dynamic`: it opens `libonnxruntime.so` at run
//! time. The daemon passes the path of the runtime that sherpa-onnx already
//! loaded (the one from the same `sherpa-onnx-core` wheel), so the dynamic
//! loader hands back the same library and the process holds a single ONNX
//! Runtime. [`init`] enforces that: a second call with another file is an
//! error, not a second runtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::session::{RunOptions, Session};

use crate::TtsError;

/// The loaded runtime.
#[derive(Debug)]
pub struct Runtime {
    library: PathBuf,
    minor_version: u32,
    environment: ort::environment::Environment,
}

impl Runtime {
    /// The library file it was loaded from.
    #[must_use]
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The runtime's version as `1.<minor>` (the library reports it; `ort`
    /// needs API 28, i.e. 1.28 or later).
    #[must_use]
    pub fn version(&self) -> String {
        format!("1.{}", self.minor_version)
    }

    /// ONNX Runtime's build description (version, commit, flags).
    #[must_use]
    pub fn build_info(&self) -> &'static str {
        ort::info()
    }
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime from `library` (once per process) and returns it.
///
/// # Errors
/// [`TtsError::RuntimeLoad`] if the file cannot be loaded or is not an ONNX
/// Runtime this build supports (API 28, i.e. 1.28 or later);
/// [`TtsError::RuntimeMismatch`] if a different file was loaded before.
pub fn init(library: &Path) -> Result<&'static Runtime, TtsError> {
    let _guard = INIT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let requested = library.canonicalize().map_err(|e| TtsError::RuntimeLoad {
        path: library.to_path_buf(),
        reason: e.to_string(),
    })?;
    if let Some(runtime) = RUNTIME.get() {
        if runtime.library != requested {
            return Err(TtsError::RuntimeMismatch {
                loaded: runtime.library.clone(),
                requested,
            });
        }
        return Ok(runtime);
    }
    let load_error = |reason: String| TtsError::RuntimeLoad {
        path: requested.clone(),
        reason,
    };
    let minor_version =
        ort::util::probe(&requested).ok_or_else(|| load_error("not an ONNX Runtime 1.x library".into()))?;
    if minor_version < 28 {
        return Err(load_error(format!(
            "it is ONNX Runtime 1.{minor_version}; assistantd needs 1.28 or later"
        )));
    }
    let environment = ort::init_from(&requested)
        .map_err(|e| load_error(e.to_string()))?
        .with_name("assistantd")
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    Ok(RUNTIME.get_or_init(|| Runtime {
        library: requested,
        minor_version,
        environment,
    }))
}

/// The runtime, if [`init`] succeeded.
#[must_use]
pub fn runtime() -> Option<&'static Runtime> {
    RUNTIME.get()
}

/// One input or output of a model, as ONNX Runtime reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Its name in the graph.
    pub name: String,
    /// Element type and shape, e.g. `Tensor<i64>(1, -1)`.
    pub kind: String,
}

impl Port {
    fn list(outlets: &[ort::value::Outlet]) -> Vec<Self> {
        outlets
            .iter()
            .map(|o| Self {
                name: o.name().to_owned(),
                kind: o.dtype().to_string(),
            })
            .collect()
    }
}

/// How to open a model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelOptions {
    /// Intra-op threads (0 is taken as 1).
    pub threads: usize,
    /// A folder for optimized copies of models (see [`Model::open_with`]);
    /// `None` optimizes the model on every load.
    pub optimized_cache: Option<PathBuf>,
}

/// An ONNX model opened for inference.
#[derive(Debug)]
pub struct Model {
    path: PathBuf,
    session: Session,
    from_cache: bool,
}

impl Model {
    /// Opens `path` with `threads` intra-op threads, optimizing it as it
    /// loads (no cache).
    ///
    /// # Errors
    /// [`TtsError::RuntimeNotLoaded`] before [`init`]; [`TtsError::Model`] if
    /// the file is missing or ONNX Runtime rejects it.
    pub fn open(path: &Path, threads: usize) -> Result<Self, TtsError> {
        Self::open_with(
            path,
            &ModelOptions {
                threads,
                optimized_cache: None,
            },
        )
    }

    /// Opens `path` as `options` say. With a cache folder, the first load
    /// saves the graph ONNX Runtime optimized for this machine in ORT's own
    /// format (`<cache>/<model>-<key>.ort`, the key covering the model file's
    /// path, size and mtime, the runtime's version and the CPU's features),
    /// and later loads read that instead: it skips the graph optimizations
    /// and the protobuf parse (measured with ONNX Runtime 1.28 on a medium
    /// Piper voice: about 1.05 s to 0.86 s). A cached copy that fails to
    /// load is deleted and the model is loaded from its file; a cache that
    /// cannot be written only costs the attempt.
    ///
    /// # Errors
    /// As [`Model::open`].
    pub fn open_with(path: &Path, options: &ModelOptions) -> Result<Self, TtsError> {
        let runtime = runtime().ok_or(TtsError::RuntimeNotLoaded)?;
        let model_error = |reason: String| TtsError::Model {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(model_error("no such file".into()));
        }
        let new_builder = || {
            Session::builder(&runtime.environment)
                .map_err(|e| model_error(e.to_string()))?
                .with_intra_threads(options.threads.max(1))
                .map_err(|e| model_error(e.to_string()))
        };
        let cached = options
            .optimized_cache
            .as_deref()
            .and_then(|dir| cache_file(dir, path, runtime));
        if let Some(cached) = &cached
            && cached.is_file()
        {
            match new_builder()?.commit_from_file(cached) {
                Ok(session) => {
                    return Ok(Self {
                        path: path.to_path_buf(),
                        session,
                        from_cache: true,
                    });
                }
                Err(e) => {
                    tracing::warn!(
                        "the optimized copy {} of {} does not load ({e}); removing it and loading the model itself",
                        cached.display(),
                        path.display()
                    );
                    let _ = std::fs::remove_file(cached);
                }
            }
        }
        let mut builder = new_builder()?;
        let mut saving = None;
        if let Some(cached) = &cached
            && let Some(dir) = cached.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            let part = cached.with_extension(format!("ort.{}.part", std::process::id()));
            let configured = match builder.with_config_entry("session.save_model_format", "ORT") {
                Ok(b) => b.with_optimized_model_path(&part),
                Err(e) => Err(e),
            };
            match configured {
                Ok(b) => {
                    builder = b;
                    saving = Some(part);
                }
                Err(e) => {
                    tracing::warn!("cannot cache the optimized model: {e}");
                    builder = e.recover();
                }
            }
        }
        let session = match (builder.commit_from_file(path), &saving) {
            (Ok(session), _) => session,
            // Saving the copy may be what failed (a full disk, a read-only
            // cache): the cache must never cost the voice itself.
            (Err(e), Some(part)) => {
                tracing::warn!(
                    "cannot cache the optimized model of {} ({e}); loading it without",
                    path.display()
                );
                let _ = std::fs::remove_file(part);
                saving = None;
                new_builder()?
                    .commit_from_file(path)
                    .map_err(|e| model_error(e.to_string()))?
            }
            (Err(e), None) => return Err(model_error(e.to_string())),
        };
        if let (Some(part), Some(cached)) = (saving, &cached) {
            // The runtime wrote the part while it committed; publish it whole.
            if let Err(e) = std::fs::rename(&part, cached) {
                tracing::warn!("cannot keep the optimized model at {}: {e}", cached.display());
                let _ = std::fs::remove_file(&part);
            } else {
                remove_stale_copies(cached);
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            session,
            from_cache: false,
        })
    }

    /// Whether the session was made from the optimized copy in the cache.
    #[must_use]
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The model file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The graph's inputs.
    #[must_use]
    pub fn inputs(&self) -> Vec<Port> {
        Port::list(self.session.inputs())
    }

    /// The graph's outputs.
    #[must_use]
    pub fn outputs(&self) -> Vec<Port> {
        Port::list(self.session.outputs())
    }

    /// The session, for running inference.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }
}

/// Where the optimized copy of `model` is kept in `dir`, or `None` if the
/// model file's metadata cannot be read. The name changes whenever the
/// model file, the runtime or the CPU does, so a stale copy is never used.
fn cache_file(dir: &Path, model: &Path, runtime: &Runtime) -> Option<PathBuf> {
    use std::hash::{Hash, Hasher};
    let canonical = model.canonicalize().ok()?;
    let meta = std::fs::metadata(&canonical).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    // Two independent 64-bit hashes of the key: a collision would need both.
    let mut hashes = [
        std::collections::hash_map::DefaultHasher::new(),
        std::collections::hash_map::DefaultHasher::new(),
    ];
    hashes[1].write_u8(1);
    for h in &mut hashes {
        (&canonical, meta.len(), mtime, runtime.build_info(), cpu_features()).hash(h);
    }
    let stem = canonical.file_stem()?.to_string_lossy();
    Some(dir.join(format!(
        "{stem}-{:016x}{:016x}.ort",
        hashes[0].finish(),
        hashes[1].finish()
    )))
}

/// Removes the other cached copies of the same model (an older file, runtime
/// or CPU), so the cache holds one copy per model.
fn remove_stale_copies(kept: &Path) {
    let (Some(dir), Some(name)) = (kept.parent(), kept.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    // "<stem>-<32 hex>.ort": the stem is everything before the last '-'.
    let Some((stem, _)) = name.rsplit_once('-') else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let other = entry.file_name();
        let Some(other) = other.to_str() else { continue };
        let same_model = other
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".ort"))
            .is_some_and(|key| key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()));
        if same_model && other != name {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The CPU features ONNX Runtime's kernels and layout choices depend on:
/// an optimized graph may use them, so the cache key includes them.
fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let features = [
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("f16c", std::arch::is_x86_feature_detected!("f16c")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
            ("avx512vnni", std::arch::is_x86_feature_detected!("avx512vnni")),
            ("avxvnni", std::arch::is_x86_feature_detected!("avxvnni")),
        ];
        features
            .iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(",")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_owned()
    }
}

/// Stops a model run in progress from another thread (barge-in), through
/// ONNX Runtime's terminate flag on the run's `RunOptions`.
///
/// Each run is *armed* first ([`Interrupt::arm`]), which clears the flag and
/// returns the run's generation; [`Interrupt::trigger`] sets the flag only if
/// that generation is still the current one. So a trigger that arrives late,
/// after its run ended and the next was armed, cannot stop the next run.
/// Clones share the flag.
#[derive(Clone)]
pub struct Interrupt {
    inner: Arc<InterruptInner>,
}

struct InterruptInner {
    options: RunOptions,
    /// (current generation, whether its run was told to stop).
    state: Mutex<(u64, bool)>,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state.lock().map(|s| *s).unwrap_or_default();
        f.debug_struct("Interrupt")
            .field("generation", &state.0)
            .field("triggered", &state.1)
            .finish()
    }
}

impl Interrupt {
    /// A new, unarmed interrupt.
    ///
    /// # Errors
    /// [`TtsError::RuntimeNotLoaded`] before [`init`]; [`TtsError::Synthesis`]
    /// if ONNX Runtime cannot make run options.
    pub fn new() -> Result<Self, TtsError> {
        runtime().ok_or(TtsError::RuntimeNotLoaded)?;
        let options = RunOptions::new().map_err(|e| TtsError::Synthesis { reason: e.to_string() })?;
        Ok(Self {
            inner: Arc::new(InterruptInner {
                options,
                state: Mutex::new((0, false)),
            }),
        })
    }

    /// Prepares the next run: clears the flag; returns the run's generation.
    pub fn arm(&self) -> u64 {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.1 {
            if let Err(e) = self.inner.options.unterminate() {
                tracing::warn!("cannot clear ONNX Runtime's terminate flag: {e}");
            }
            state.1 = false;
        }
        state.0 += 1;
        state.0
    }

    /// Stops the run of `generation` if it is still the current one
    /// (running or about to run); otherwise does nothing. Returns whether
    /// it set the flag.
    pub fn trigger(&self, generation: u64) -> bool {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.0 != generation || state.1 {
            return false;
        }
        match self.inner.options.terminate() {
            Ok(()) => {
                state.1 = true;
                true
            }
            Err(e) => {
                tracing::warn!("cannot set ONNX Runtime's terminate flag: {e}");
                false
            }
        }
    }

    /// Whether the current generation was told to stop.
    #[must_use]
    pub fn triggered(&self) -> bool {
        self.inner.state.lock().map(|s| s.1).unwrap_or(false)
    }

    /// The run options to pass to the run.
    #[must_use]
    pub fn run_options(&self) -> &RunOptions {
        &self.inner.options
    }
}
