//! The `assistantd` launcher as users meet it: a process started from a shell.

use std::process::Command;

/// The launcher as a user's shell starts it: cargo's test harness puts the
/// target folder on LD_LIBRARY_PATH, which would hide a wrong RUNPATH.
fn launcher() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_assistantd"));
    command.env_remove("LD_LIBRARY_PATH");
    command
}

#[test]
fn missing_native_libraries_are_explained_not_a_loader_error() {
    let empty = std::env::temp_dir().join(format!("assistantd-nolibs-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("tempdir");
    let out = launcher()
        .arg("doctor")
        .env("ASSISTANTD_LIB_DIR", &empty)
        .output()
        .expect("launcher runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{stderr}");
    assert!(
        stderr.starts_with("assistantd: the native speech libraries are not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("libsherpa-onnx-c-api.so") && stderr.contains("libonnxruntime.so"),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/bootstrap"), "{stderr}");
    assert!(
        !stderr.contains("cannot open shared object file"),
        "the loader's own error leaked: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn with_libraries_in_place_the_engine_runs_with_the_same_arguments() {
    let out = launcher().arg("--version").output().expect("launcher runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("assistantd {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_relocated_libraries_are_used_through_the_override() {
    // Copy the engine's libraries elsewhere and point the launcher there: it
    // must check that folder and hand it to the engine.
    let lib_dir = std::path::Path::new(env!("SHERPA_ONNX_LIB_DIR"));
    let moved = std::env::temp_dir().join(format!("assistantd-libs-{}", std::process::id()));
    std::fs::create_dir_all(&moved).expect("tempdir");
    for lib in ["libonnxruntime.so", "libsherpa-onnx-c-api.so"] {
        std::fs::copy(lib_dir.join(lib), moved.join(lib)).expect("copy library");
    }
    // Piper's espeak-ng goes along, under its soname.
    let espeak = "libespeak-ng-e09f6b87.so.1.1.51";
    let espeak_dir = std::path::Path::new(env!("ESPEAK_NG_DIR")).join("lib");
    std::fs::copy(espeak_dir.join(espeak), moved.join(espeak)).expect("copy espeak-ng");
    let out = launcher()
        .args(["doctor", "--json"])
        .env("ASSISTANTD_LIB_DIR", &moved)
        .output()
        .expect("launcher runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The engine ran (the launcher found the libraries and exec'd it); the
    // profile's checks (models, devices, LLM server) may fail on a test
    // machine, the native ones must not.
    let checks: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
    };
    for name in ["sherpa-onnx", "onnxruntime", "espeak-ng"] {
        assert_eq!(check(name)["ok"], true, "{}", check(name));
    }
    let onnx = check("onnxruntime")["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        onnx.contains(&moved.display().to_string()),
        "ort should use the relocated runtime: {onnx}"
    );
    let _ = std::fs::remove_dir_all(&moved);
}
