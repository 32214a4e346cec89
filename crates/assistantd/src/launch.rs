//! Finds the native libraries and execs the engine. Std and libc only: this
//! file must not pull in any crate that links a native library.

use std::convert::Infallible;
use std::ffi::{CStr, CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit status when the native libraries or the engine cannot be found.
pub const EXIT_NATIVE: u8 = 127;

/// The libraries the engine's loader needs, in load order.
const LIBRARIES: [&str; 2] = ["libonnxruntime.so", "libsherpa-onnx-c-api.so"];

/// System libraries the engine links, by soname, with the Debian package
/// that provides each. (espeak-ng is not one: the engine links Piper's build,
/// found like the speech libraries, see [`ESPEAK_LIBRARY`].)
const SYSTEM_LIBRARIES: [(&str, &str); 2] = [("libssl.so.3", "libssl3"), ("libasound.so.2", "libasound2")];

/// Piper's espeak-ng (from the PyPI wheel piper-phonemize 1.1.0), by soname.
const ESPEAK_LIBRARY: &str = "libespeak-ng-e09f6b87.so.1.1.51";

/// Where Piper's espeak-ng was at build time (ESPEAK_NG_DIR from
/// .cargo/config.toml, plus `lib`).
const BUILD_ESPEAK_DIR: Option<&str> = option_env!("ESPEAK_NG_DIR");

/// Where the libraries were at build time (SHERPA_ONNX_LIB_DIR from
/// .cargo/config.toml): the engine's RUNPATH names this folder first.
const BUILD_LIB_DIR: Option<&str> = option_env!("SHERPA_ONNX_LIB_DIR");

/// Set to a folder to load the libraries from there instead (passed to the
/// engine as LD_LIBRARY_PATH).
const OVERRIDE_VAR: &str = "ASSISTANTD_LIB_DIR";

/// Where a package (scripts/package) keeps the libraries, relative to the
/// folder above the binaries' `bin/`. The packaged engine's RUNPATH is
/// exactly `$ORIGIN/../lib/assistantd`, so where this folder exists it is the
/// only one worth checking: the build-time folders ([`BUILD_LIB_DIR`],
/// [`BUILD_ESPEAK_DIR`]) belong to a checkout a package must not depend on.
const PACKAGED_LIB_DIR: &str = "lib/assistantd";

/// Checks the libraries, then execs the engine; returns only on failure.
pub fn run() -> Result<Infallible, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate its own executable: {e}"))?;
    let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let engine = exe_dir.join("assistantd-engine");
    if !engine.is_file() {
        return Err(format!(
            "the engine {} is missing; build it with `cargo build --release -p assistantd` \
             (it builds both binaries) or install both with `cargo install --path crates/assistantd`",
            engine.display()
        ));
    }
    let override_dir = std::env::var_os(OVERRIDE_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    // The one folder the engine will load from, if that is known: the
    // override (LD_LIBRARY_PATH comes before RUNPATH), else a package's.
    let only = override_dir.clone().or_else(|| {
        exe_dir
            .parent()
            .map(|prefix| prefix.join(PACKAGED_LIB_DIR))
            .filter(|dir| dir.is_dir())
    });
    let candidates: Vec<PathBuf> = match &only {
        Some(dir) => vec![dir.clone()],
        None => BUILD_LIB_DIR
            .map(PathBuf::from)
            .into_iter()
            .chain([exe_dir.clone()])
            .collect(),
    };
    check_libraries(&candidates)?;
    let espeak_candidates: Vec<PathBuf> = match &only {
        Some(dir) => vec![dir.clone()],
        None => BUILD_ESPEAK_DIR
            .map(|d| Path::new(d).join("lib"))
            .into_iter()
            .chain([exe_dir])
            .collect(),
    };
    check_espeak(&espeak_candidates)?;
    check_system_libraries(&SYSTEM_LIBRARIES)?;

    let mut command = Command::new(&engine);
    command.arg0("assistantd").args(std::env::args_os().skip(1));
    if let Some(dir) = override_dir {
        let mut paths = OsString::from(dir.as_os_str());
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
            paths.push(":");
            paths.push(old);
        }
        command.env("LD_LIBRARY_PATH", paths);
    }
    let err = command.exec();
    Err(format!("cannot run the engine {}: {err}", engine.display()))
}

/// Succeeds if one candidate folder holds every library and they load.
fn check_libraries(candidates: &[PathBuf]) -> Result<PathBuf, String> {
    let mut problems = Vec::new();
    for dir in candidates {
        let missing: Vec<&str> = LIBRARIES
            .iter()
            .copied()
            .filter(|lib| !dir.join(lib).is_file())
            .collect();
        if !missing.is_empty() {
            problems.push(format!("{} lacks {}", dir.display(), missing.join(" and ")));
            continue;
        }
        // The C API finds the runtime through its own RUNPATH ($ORIGIN).
        match try_load(&dir.join(LIBRARIES[1])) {
            Ok(()) => return Ok(dir.clone()),
            Err(why) => problems.push(format!("{} does not load: {why}", dir.join(LIBRARIES[1]).display())),
        }
    }
    Err(format!(
        "the native speech libraries are not installed ({}).\n  \
         From the source checkout, run scripts/bootstrap: it installs libsherpa-onnx-c-api.so and \
         libonnxruntime.so (PyPI wheel sherpa-onnx-core, sha256-pinned) into .native/.\n  \
         Elsewhere, put both files in lib/assistantd beside the bin folder holding assistantd (the layout of \
         scripts/package), or beside the assistantd binary, or point {OVERRIDE_VAR} at the folder holding them.",
        problems.join("; ")
    ))
}

/// Succeeds if one candidate folder holds Piper's espeak-ng and it loads.
fn check_espeak(candidates: &[PathBuf]) -> Result<PathBuf, String> {
    let mut problems = Vec::new();
    for dir in candidates {
        let lib = dir.join(ESPEAK_LIBRARY);
        if !lib.is_file() {
            problems.push(format!("{} lacks {ESPEAK_LIBRARY}", dir.display()));
            continue;
        }
        match try_load(&lib) {
            Ok(()) => return Ok(dir.clone()),
            Err(why) => problems.push(format!("{} does not load: {why}", lib.display())),
        }
    }
    Err(format!(
        "Piper's espeak-ng is not installed ({}).\n  \
         From the source checkout, run scripts/bootstrap: it installs {ESPEAK_LIBRARY} and espeak-ng-data \
         (PyPI wheel piper-phonemize 1.1.0, sha256-pinned) into .native/.\n  \
         Elsewhere, put the library in lib/assistantd and espeak-ng-data in share/assistantd beside the bin \
         folder holding assistantd (the layout of scripts/package), or both beside the assistantd binary, or \
         point {OVERRIDE_VAR} at the folder holding the library (and ESPEAK_DATA_PATH at the one holding \
         espeak-ng-data).",
        problems.join("; ")
    ))
}

/// Succeeds if every system library loads from the default search path.
fn check_system_libraries(libraries: &[(&str, &str)]) -> Result<(), String> {
    let failed: Vec<String> = libraries
        .iter()
        .filter_map(|(soname, package)| {
            try_load(Path::new(soname))
                .err()
                .map(|why| format!("{soname} ({why}); Debian package {package}"))
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "system libraries the engine needs do not load: {}.\n  Run scripts/bootstrap from the source checkout \
         (it installs them), or install the packages named above.",
        failed.join("; ")
    ))
}

fn try_load(path: &Path) -> Result<(), String> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| "path contains a NUL byte".to_owned())?;
    // SAFETY: `c_path` is a valid NUL-terminated string for the call; RTLD_LAZY
    // defers symbol binding, so loading runs only the libraries' initializers.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a thread-local NUL-terminated message or null.
        let message = unsafe { libc::dlerror() };
        return Err(if message.is_null() {
            "unknown loader error".to_owned()
        } else {
            // SAFETY: non-null, NUL-terminated, valid until the next dl* call.
            unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
        });
    }
    // The handle stays open: the engine replaces this process image anyway.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_folder_and_what_it_lacks() {
        let dir = std::env::temp_dir().join(format!("assistantd-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tempdir");
        std::fs::write(dir.join("libonnxruntime.so"), b"").expect("write");
        let err = check_libraries(&[dir.clone(), PathBuf::from("/nonexistent")]).expect_err("incomplete");
        assert!(
            err.contains(&format!("{} lacks libsherpa-onnx-c-api.so", dir.display())),
            "{err}"
        );
        assert!(
            err.contains("/nonexistent lacks libonnxruntime.so and libsherpa-onnx-c-api.so"),
            "{err}"
        );
        assert!(err.contains("scripts/bootstrap"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_library_reports_the_loader_error() {
        let dir = std::env::temp_dir().join(format!("assistantd-launch-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tempdir");
        for lib in LIBRARIES {
            std::fs::write(dir.join(lib), b"not an ELF file").expect("write");
        }
        let err = check_libraries(std::slice::from_ref(&dir)).expect_err("damaged");
        assert!(err.contains("does not load"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_system_library_names_its_package() {
        let err = check_system_libraries(&[("libassistantd-nonexistent.so.9", "libassistantd-nonexistent9")])
            .expect_err("no such library");
        assert!(
            err.contains("libassistantd-nonexistent.so.9") && err.contains("Debian package libassistantd-nonexistent9"),
            "{err}"
        );
        assert_eq!(
            check_system_libraries(&SYSTEM_LIBRARIES),
            Ok(()),
            "OpenSSL and ALSA are installed by scripts/bootstrap"
        );
    }

    #[test]
    fn espeak_is_looked_for_in_each_folder() {
        let err = check_espeak(&[PathBuf::from("/nonexistent")]).expect_err("not there");
        assert!(err.contains(&format!("/nonexistent lacks {ESPEAK_LIBRARY}")), "{err}");
        assert!(
            err.contains("scripts/bootstrap") && err.contains("piper-phonemize"),
            "{err}"
        );
        let Some(dir) = BUILD_ESPEAK_DIR else {
            panic!("ESPEAK_NG_DIR was not set at build time; .cargo/config.toml sets it");
        };
        let lib = Path::new(dir).join("lib");
        assert_eq!(check_espeak(&[PathBuf::from("/nonexistent"), lib.clone()]), Ok(lib));
    }

    #[test]
    fn the_installed_libraries_load() {
        let Some(dir) = BUILD_LIB_DIR else {
            panic!("SHERPA_ONNX_LIB_DIR was not set at build time; .cargo/config.toml sets it");
        };
        assert_eq!(check_libraries(&[PathBuf::from(dir)]), Ok(PathBuf::from(dir)));
    }
}
