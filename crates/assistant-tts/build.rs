//! Finds the system libespeak-ng (linked by `#[link]` in src/espeak.rs) (Debian: libespeak-ng-dev), with a message
//! that says how to install it when it is absent.

#![allow(clippy::print_stdout)] // a build script talks to cargo on stdout

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let found = std::process::Command::new("pkg-config")
        .args(["--libs-only-L", "espeak-ng"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    match found {
        Some(out) => {
            for dir in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Some(dir) = dir.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={dir}");
                }
            }
        }
        None => println!(
            "cargo:warning=pkg-config does not know espeak-ng; if linking fails, run scripts/bootstrap \
             (it installs libespeak-ng-dev)"
        ),
    }
}
