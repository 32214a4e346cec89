//! `assistantd`: the command users run.
//!
//! The engine (`assistantd-engine`) links `libsherpa-onnx-c-api.so`, which
//! needs `libonnxruntime.so`; if either is missing, the dynamic loader stops
//! the engine before `main` with a bare "cannot open shared object file".
//! This launcher links neither. It looks for the libraries where the engine's
//! RUNPATH will, tries to load them, and either explains what is missing and
//! how to install it, or replaces itself with the engine (same pid, same
//! arguments, same exit status).

mod launch;

use std::process::ExitCode;

fn main() -> ExitCode {
    match launch::run() {
        Ok(never) => match never {},
        Err(message) => {
            eprintln!("assistantd: {message}");
            ExitCode::from(launch::EXIT_NATIVE)
        }
    }
}
