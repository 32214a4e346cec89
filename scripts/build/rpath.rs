//! Build script shared by every package whose binaries or tests link the
//! native libraries (assistant-asr, assistantd, assistant-tests).
//!
//! sherpa-onnx-sys and assistant-tts emit their rpath with
//! `cargo:rustc-link-arg`, which Cargo applies only to that package's own
//! targets, never to its dependents. So each linking package adds the same
//! RUNPATH itself: the folders that scripts/bootstrap filled
//! (SHERPA_ONNX_LIB_DIR, and ESPEAK_NG_DIR's `lib/`, made absolute by
//! .cargo/config.toml), then `$ORIGIN` for binaries shipped with the
//! libraries beside them. No binary needs LD_LIBRARY_PATH.

#![allow(clippy::print_stdout)] // a build script talks to cargo on stdout

fn main() {
    println!("cargo:rerun-if-env-changed=SHERPA_ONNX_LIB_DIR");
    println!("cargo:rerun-if-env-changed=ESPEAK_NG_DIR");
    println!("cargo:rerun-if-changed={}", file!());
    for (var, sub, what) in [
        ("SHERPA_ONNX_LIB_DIR", "", "the sherpa-onnx C API and ONNX Runtime"),
        ("ESPEAK_NG_DIR", "lib", "Piper's espeak-ng"),
    ] {
        match std::env::var(var) {
            Ok(dir) if std::path::Path::new(&dir).join(sub).is_dir() => {
                let dir = std::path::Path::new(&dir).join(sub);
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
            Ok(dir) => panic!("{var}={dir} does not exist: run scripts/bootstrap, which installs {what} there"),
            Err(_) => panic!(
                "{var} is not set: build from the workspace (its .cargo/config.toml sets it) after running scripts/bootstrap"
            ),
        }
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN");
}
