//! Process-wide native set-up: one ONNX Runtime for the whole process, and
//! where espeak-ng finds its data.
//!
//! sherpa-onnx's C API is linked at build time and pulls in
//! `libonnxruntime.so` when the process starts. `ort` (used for Piper voices)
//! loads ONNX Runtime at run time from a path. [`init_onnxruntime`] finds the
//! runtime the dynamic loader already mapped and hands exactly that file to
//! `ort`, so both engines share one runtime (one thread pool configuration,
//! one set of kernels, one copy in memory).

use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// File name (soname) of the ONNX Runtime library in the sherpa-onnx wheel.
pub const ONNXRUNTIME_SONAME: &str = "libonnxruntime.so";

/// Failure to set up the native runtime.
#[derive(Debug, Error)]
pub enum NativeError {
    /// No ONNX Runtime is mapped, though sherpa-onnx's C API needs one.
    #[error(
        "no {ONNXRUNTIME_SONAME} is mapped into this process although sherpa-onnx needs it; reinstall the native libraries with scripts/bootstrap"
    )]
    NoRuntime,
    /// More than one ONNX Runtime file is mapped into the process.
    #[error("{} copies of ONNX Runtime are loaded ({}); the process must use one", paths.len(), paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    TwoRuntimes {
        /// The mapped files.
        paths: Vec<PathBuf>,
    },
    /// `ort` could not use the runtime.
    #[error(transparent)]
    Ort(#[from] assistant_tts::TtsError),
}

/// Lets a closed stdout end the process quietly, as it does any Unix
/// command (`assistantd models list | head`), instead of a panic in the
/// next `println!`: Rust ignores SIGPIPE by default, and this restores the
/// default action.
pub fn die_quietly_on_a_closed_pipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler
    // of ours; it runs first thing in `main`, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Where ONNX Runtime's optimized copies of models are kept
/// ([`assistant_tts::onnx::Model::open_with`]): `$ASSISTANTD_CACHE_DIR/onnx`,
/// else `$XDG_CACHE_HOME/assistantd/onnx`, else `~/.cache/assistantd/onnx`;
/// `None` without any of them, or with `ASSISTANTD_CACHE_DIR=off`.
#[must_use]
pub fn onnx_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("ASSISTANTD_CACHE_DIR") {
        return (dir.as_os_str() != "off").then(|| dir.join("onnx"));
    }
    var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|home| home.join(".cache")))
        .map(|cache| cache.join("assistantd/onnx"))
}

/// Every shared object mapped into this process, in load order.
#[must_use]
pub fn loaded_objects() -> Vec<PathBuf> {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info pointer for the duration
        // of the callback, and `data` is the `&mut Vec` we passed in below.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<PathBuf>>()) };
        if !info.dlpi_name.is_null() {
            // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) };
            if !name.is_empty() {
                out.push(PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())));
            }
        }
        0
    }
    let mut out: Vec<PathBuf> = Vec::new();
    // SAFETY: `visit` matches the callback signature, only reads loader data
    // during the call, and `out` outlives dl_iterate_phdr.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut out).cast()) };
    out
}

/// The distinct ONNX Runtime files mapped into this process.
#[must_use]
pub fn loaded_onnxruntimes() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = loaded_objects()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(ONNXRUNTIME_SONAME.as_bytes()))
        })
        .map(|p| p.canonicalize().unwrap_or(p))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Points `ort` at the ONNX Runtime sherpa-onnx loaded, once per process.
///
/// # Errors
/// [`NativeError`] if no runtime can be found, two are mapped, or `ort`
/// cannot use it.
pub fn init_onnxruntime() -> Result<&'static assistant_tts::onnx::Runtime, NativeError> {
    // Referencing the sherpa-onnx C API guarantees it (and the runtime it
    // needs) is linked and mapped, whatever else this binary uses.
    let _ = assistant_asr::library_version();
    let path = match loaded_onnxruntimes().as_slice() {
        [one] => one.clone(),
        [] => return Err(NativeError::NoRuntime),
        many => {
            return Err(NativeError::TwoRuntimes { paths: many.to_vec() });
        }
    };
    let runtime = assistant_tts::onnx::init(&path)?;
    match loaded_onnxruntimes().as_slice() {
        [_] => Ok(runtime),
        many => Err(NativeError::TwoRuntimes { paths: many.to_vec() }),
    }
}

/// Where a package (scripts/package) keeps espeak-ng's data, relative to the
/// folder above the binaries' `bin/`: `share/assistantd/espeak-ng-data`.
pub const PACKAGED_ESPEAK_HOME: &str = "share/assistantd";

/// Points espeak-ng at its data, before the first phonemization:
/// `$ESPEAK_DATA_PATH` (espeak-ng's own variable: the folder that holds
/// `espeak-ng-data`) when it is set; else a package's own copy
/// ([`packaged_espeak_home`]), which must win over the data of the checkout
/// the package was built in (compiled in as the speaking stage's default,
/// and still there on the machine that built it); otherwise the speaking
/// stage's default: the data scripts/bootstrap installed, else
/// `espeak-ng-data` beside the executable.
pub fn configure_espeak() {
    let chosen = std::env::var_os("ESPEAK_DATA_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_exe().ok().and_then(|exe| packaged_espeak_home(&exe)));
    if let Some(dir) = chosen {
        assistant_tts::espeak::use_data_home(dir);
    }
}

/// `<prefix>/share/assistantd` for an executable `<prefix>/bin/…`, if it
/// holds `espeak-ng-data` (the layout of scripts/package, also once copied
/// into `~/.local`).
#[must_use]
pub fn packaged_espeak_home(exe: &Path) -> Option<PathBuf> {
    let home = exe.parent()?.parent()?.join(PACKAGED_ESPEAK_HOME);
    home.join("espeak-ng-data/phontab").is_file().then_some(home)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_maps_libc_and_sherpa_onnx() {
        let _ = assistant_asr::library_version();
        let objects = loaded_objects();
        let names: Vec<String> = objects
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert!(names.iter().any(|n| n.starts_with("libc.so")), "{names:?}");
        assert!(names.iter().any(|n| n == "libsherpa-onnx-c-api.so"), "{names:?}");
        assert_eq!(loaded_onnxruntimes().len(), 1, "{objects:?}");
    }

    #[test]
    fn a_package_finds_its_espeak_data_beside_its_bin_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("bin/assistantd-engine");
        assert_eq!(packaged_espeak_home(&exe), None, "no data laid out yet");
        let data = dir.path().join("share/assistantd/espeak-ng-data");
        std::fs::create_dir_all(&data).expect("mkdir");
        assert_eq!(
            packaged_espeak_home(&exe),
            None,
            "a folder without phontab is not espeak-ng data"
        );
        std::fs::write(data.join("phontab"), b"").expect("write");
        assert_eq!(packaged_espeak_home(&exe), Some(dir.path().join("share/assistantd")));
    }
}
