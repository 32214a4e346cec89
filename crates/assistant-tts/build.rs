//! Links Piper's espeak-ng (rhasspy's fork, from the PyPI wheel
//! `piper-phonemize` 1.1.0), which scripts/bootstrap unpacks into
//! `ESPEAK_NG_DIR` (set by .cargo/config.toml), and writes its folder into
//! this package's RUNPATH. Dependents add the same RUNPATH through
//! scripts/build/rpath.rs; the link search path reaches them from here.

#![allow(clippy::print_stdout)] // a build script talks to cargo on stdout

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ESPEAK_NG_DIR");
    let Ok(dir) = std::env::var("ESPEAK_NG_DIR") else {
        panic!(
            "ESPEAK_NG_DIR is not set: build from the workspace (its .cargo/config.toml sets it) after running scripts/bootstrap"
        );
    };
    let lib = std::path::Path::new(&dir).join("lib");
    if !lib.join("libespeak-ng.so").exists() {
        panic!(
            "{} has no libespeak-ng.so: run scripts/bootstrap, which installs Piper's espeak-ng there from the PyPI wheel piper-phonemize 1.1.0",
            lib.display()
        );
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
