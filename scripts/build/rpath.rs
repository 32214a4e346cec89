//! Build script shared by every package whose binaries or tests link the
//! sherpa-onnx C API (assistant-asr, assistantd, assistant-tests).
//!
//! sherpa-onnx-sys emits its rpath with `cargo:rustc-link-arg`, which Cargo
//! applies only to that package's own targets, never to its dependents. So
//! each linking package adds the same RUNPATH itself: the folder that
//! scripts/bootstrap filled (SHERPA_ONNX_LIB_DIR, made absolute by
//! .cargo/config.toml), then `$ORIGIN` for binaries shipped with the
//! libraries beside them. No binary needs LD_LIBRARY_PATH.

#![allow(clippy::print_stdout)] // a build script talks to cargo on stdout

fn main() {
    println!("cargo:rerun-if-env-changed=SHERPA_ONNX_LIB_DIR");
    println!("cargo:rerun-if-changed={}", file!());
    match std::env::var("SHERPA_ONNX_LIB_DIR") {
        Ok(dir) if std::path::Path::new(&dir).is_dir() => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
        }
        Ok(dir) => panic!(
            "SHERPA_ONNX_LIB_DIR={dir} does not exist: run scripts/bootstrap, which installs the sherpa-onnx C API and ONNX Runtime there"
        ),
        Err(_) => panic!(
            "SHERPA_ONNX_LIB_DIR is not set: build from the workspace (its .cargo/config.toml sets it) after running scripts/bootstrap"
        ),
    }
}
