//! `scripts/package` as another machine meets it: the tarball, unpacked into
//! an empty folder and run from there with a clean environment (no
//! `ASSISTANTD_LIB_DIR`, `ESPEAK_DATA_PATH` or `LD_LIBRARY_PATH`; HOME and
//! the XDG folders in temporary folders), runs `doctor` and `say -o` on its
//! own libraries and espeak-ng data, and cannot reach the checkout it was
//! built from: its RUNPATHs name only the package, the loader's own trace
//! (`LD_DEBUG=libs`) never touches the checkout, and it still works in a
//! mount namespace where the checkout and the target folder are empty.
//!
//! It packages the binaries this test run built (`--no-build`: cargo builds
//! a package's binaries for its integration tests), in the same profile.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use assistant_tests::real_models::RealModels;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The libraries the package carries, in `lib/assistantd/`.
const LIBRARIES: [&str; 3] = [
    "libsherpa-onnx-c-api.so",
    "libonnxruntime.so",
    "libespeak-ng-e09f6b87.so.1.1.51",
];

/// The only RUNPATH the packaged engine may have.
const ENGINE_RUNPATH: &str = "$ORIGIN/../lib/assistantd";

const SENTENCE: &str = "Hello from the package.";

/// The checkout, resolved.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the checkout")
}

/// The folder holding the binaries this test run built.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_assistantd"))
        .parent()
        .expect("the binaries' folder")
        .to_path_buf()
}

/// Whether `tool` runs (`tool --version`).
fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The tools the package and this test need, or a skip naming the missing one.
fn tools(test: &str) -> Option<()> {
    for (tool, why) in [
        (
            "patchelf",
            "scripts/package rewrites the RUNPATHs with it; scripts/bootstrap installs it",
        ),
        (
            "readelf",
            "this test reads the RUNPATHs with it (Debian package binutils)",
        ),
        ("tar", "the package is a tarball"),
    ] {
        if !have(tool) {
            return assistant_tests::skip(test, format!("{tool} is missing: {why}"));
        }
    }
    Some(())
}

/// The package, built from this run's binaries and unpacked into an empty
/// folder. Tests running at the same time share one; the last to finish
/// removes it.
struct Package {
    /// The unpacked `assistantd-<version>-<arch>-linux/`, resolved.
    root: PathBuf,
    /// The tarball, in another folder.
    tarball: PathBuf,
    _dir: tempfile::TempDir,
}

impl Package {
    fn get() -> Arc<Self> {
        static SHARED: Mutex<Weak<Package>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(package) = shared.upgrade() {
            return package;
        }
        let package = Arc::new(Self::build());
        *shared = Arc::downgrade(&package);
        package
    }

    fn build() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bins = bin_dir();
        let profile = match bins.file_name().and_then(|n| n.to_str()) {
            Some("release") => "--release",
            Some("debug") => "--debug",
            other => panic!(
                "the binaries are in {}, a profile scripts/package does not know ({other:?})",
                bins.display()
            ),
        };
        let target = bins.parent().expect("the target folder");
        let out_dir = dir.path().join("out");
        let out = Command::new("bash")
            .arg(checkout().join("scripts/package"))
            .args([profile, "--no-build", "--out"])
            .arg(&out_dir)
            .env("CARGO_TARGET_DIR", target)
            .output()
            .expect("bash runs scripts/package");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "scripts/package failed ({}):\n{stderr}",
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tarball = PathBuf::from(stdout.lines().last().expect("the tarball's path, last on stdout"));
        assert_eq!(tarball.parent(), Some(out_dir.as_path()), "{stdout}");
        let name = tarball
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a file name")
            .to_owned();
        let folder = name.strip_suffix(".tar.gz").expect("a .tar.gz").to_owned();
        assert_eq!(
            folder,
            format!(
                "assistantd-{}-{}-linux",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH
            )
        );

        let sums = std::fs::read_to_string(out_dir.join(format!("{name}.sha256"))).expect("the .sha256 beside it");
        let digest = Sha256::digest(std::fs::read(&tarball).expect("the tarball"));
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            sums,
            format!("{hex}  {name}\n"),
            "the .sha256 is sha256sum's line for the tarball"
        );

        let unpacked = dir.path().join("unpacked");
        std::fs::create_dir(&unpacked).expect("mkdir");
        let untar = Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&unpacked)
            .output()
            .expect("tar runs");
        assert!(untar.status.success(), "{}", String::from_utf8_lossy(&untar.stderr));
        let top: Vec<String> = std::fs::read_dir(&unpacked)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            top,
            std::slice::from_ref(&folder),
            "one folder at the top of the tarball"
        );
        let root = unpacked.join(&folder).canonicalize().expect("resolve");
        Self {
            root,
            tarball,
            _dir: dir,
        }
    }
}

/// An empty HOME and working folder for one test's runs of the package.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["home", "cwd", "data", "config", "cache", "runtime"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        Self { dir }
    }

    fn cwd(&self) -> PathBuf {
        self.dir.path().join("cwd")
    }

    /// `program` with nothing of this process's environment but PATH.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let at = |sub: &str| self.dir.path().join(sub);
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", at("home"))
            .env("XDG_DATA_HOME", at("data"))
            .env("XDG_CONFIG_HOME", at("config"))
            .env("XDG_CACHE_HOME", at("cache"))
            .env("XDG_RUNTIME_DIR", at("runtime"))
            .current_dir(at("cwd"));
        command
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// doctor's checks by name.
fn checks(out: &Output) -> HashMap<String, (bool, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            let name = v["name"].as_str().expect("a name").to_owned();
            let ok = v["ok"].as_bool().expect("an ok field");
            (name, (ok, v["detail"].as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// doctor found ONNX Runtime and espeak-ng's data in the package.
fn assert_doctor_used_the_package(package: &Package, out: &Output) {
    let found = checks(out);
    let get = |name: &str| {
        found
            .get(name)
            .unwrap_or_else(|| panic!("no {name} check:\n{}", text(out)))
            .clone()
    };
    let (ok, onnx) = get("onnxruntime");
    assert!(ok, "onnxruntime: {onnx}");
    let runtime = package.root.join("lib/assistantd/libonnxruntime.so");
    assert!(
        onnx.contains(&format!("from {} ", runtime.display())),
        "ONNX Runtime must be the package's: {onnx}"
    );
    let (ok, espeak) = get("espeak-ng");
    assert!(ok, "espeak-ng: {espeak}");
    let data = package.root.join("share/assistantd/espeak-ng-data");
    assert!(
        espeak.contains(&format!("with {} ", data.display())),
        "espeak-ng's data must be the package's: {espeak}"
    );
    let (ok, sherpa) = get("sherpa-onnx");
    assert!(ok, "sherpa-onnx: {sherpa}");
    let checkout = checkout().display().to_string();
    for (name, (_, detail)) in &found {
        assert!(!detail.contains(&checkout), "{name} mentions the checkout: {detail}");
    }
}

/// `say` wrote a plausible sentence of the voice's format.
fn assert_spoken(wav: &Path, out: &Output) {
    assert!(out.status.success(), "say failed:\n{}", text(out));
    let reader = hound::WavReader::open(wav).unwrap_or_else(|e| panic!("{}: {e}\n{}", wav.display(), text(out)));
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 22_050), "{spec:?}");
    let seconds = f64::from(reader.duration()) / 22_050.0;
    assert!(
        (0.5..10.0).contains(&seconds),
        "{seconds:.2} s for {SENTENCE:?} is not speech"
    );
}

/// `readelf -d`'s RPATH and RUNPATH entries of `file`: ("RUNPATH", "a:b").
fn search_paths(file: &Path) -> Vec<(String, String)> {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(file)
        .output()
        .expect("readelf runs");
    assert!(out.status.success(), "readelf -d {}: {}", file.display(), text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let tag = ["RUNPATH", "RPATH"]
                .into_iter()
                .find(|t| l.contains(&format!("({t})")))?;
            let value = l.split_once('[')?.1.strip_suffix(']')?;
            Some((tag.to_owned(), value.to_owned()))
        })
        .collect()
}

/// An entry as [`search_paths`] returns it.
fn entry(tag: &str, value: &str) -> (String, String) {
    (tag.to_owned(), value.to_owned())
}

#[test]
fn the_unpacked_package_runs_doctor_and_say_on_its_own_files() {
    const TEST: &str = "the_unpacked_package_runs_doctor_and_say_on_its_own_files";
    let Some(()) = tools(TEST) else { return };
    let Some(models) = RealModels::installed(TEST) else {
        return;
    };
    let package = Package::get();
    let root = &package.root;
    let checkout = checkout();
    assert!(!root.starts_with(&checkout), "unpacked outside the checkout");
    assert!(!package.tarball.starts_with(&checkout));

    // The layout.
    for file in ["bin/assistantd", "bin/assistantd-engine"] {
        let mode = std::fs::metadata(root.join(file)).expect(file).permissions().mode();
        assert_ne!(mode & 0o111, 0, "{file} is executable");
    }
    let native = [
        Path::new(env!("SHERPA_ONNX_LIB_DIR")).to_path_buf(),
        Path::new(env!("SHERPA_ONNX_LIB_DIR")).to_path_buf(),
        Path::new(env!("ESPEAK_NG_DIR")).join("lib"),
    ];
    for (lib, from) in LIBRARIES.iter().zip(&native) {
        let packaged = std::fs::read(root.join("lib/assistantd").join(lib)).expect(lib);
        let pinned = std::fs::read(from.join(lib)).expect("the checkout's copy");
        assert!(packaged == pinned, "{lib} is the pinned file, byte for byte");
    }
    assert!(root.join("share/assistantd/espeak-ng-data/phontab").is_file());
    assert!(root.join("share/assistantd/espeak-ng-data/en_dict").is_file());
    let unit = std::fs::read_to_string(root.join("share/systemd/user/assistantd.service")).expect("the unit");
    assert_eq!(
        unit,
        std::fs::read_to_string(checkout.join("dist/systemd/assistantd.service")).expect("dist's unit")
    );
    let readme = std::fs::read_to_string(root.join("README")).expect("README");
    for words in [
        "models fetch --profile jarvis",
        "~/.local",
        "systemctl --user enable --now assistantd",
        "GPL-3.0",
    ] {
        assert!(readme.contains(words), "the README says {words:?}");
    }
    for licence in [
        "onnxruntime-MIT.txt",
        "sherpa-onnx-Apache-2.0.txt",
        "espeak-ng-GPL-3.0.txt",
    ] {
        let path = root.join("share/doc/assistantd/licences").join(licence);
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 500),
            "{} holds the licence",
            path.display()
        );
    }

    // The RUNPATHs: the engine's names the package alone, the launcher has
    // none, and the libraries' ($ORIGIN) nothing outside their folder.
    assert_eq!(
        search_paths(&root.join("bin/assistantd-engine")),
        [entry("RUNPATH", ENGINE_RUNPATH)]
    );
    assert_eq!(search_paths(&root.join("bin/assistantd")), []);
    for lib in LIBRARIES {
        for (tag, value) in search_paths(&root.join("lib/assistantd").join(lib)) {
            assert_eq!(value, "$ORIGIN", "{lib}'s {tag}");
        }
    }

    // doctor, with the loader tracing every library it looks for and loads.
    let sandbox = Sandbox::new();
    let out = sandbox
        .command(root.join("bin/assistantd"))
        .args(["doctor", "--json"])
        .env("LD_DEBUG", "libs")
        .output()
        .expect("the packaged assistantd runs");
    assert_doctor_used_the_package(&package, &out);
    let trace = String::from_utf8_lossy(&out.stderr);
    let checkout_text = checkout.display().to_string();
    let touched: Vec<&str> = trace.lines().filter(|l| l.contains(&checkout_text)).collect();
    assert!(touched.is_empty(), "the loader looked into the checkout: {touched:#?}");
    // Each library is initialised twice: loaded by the launcher's check,
    // then by the engine's loader (through `$ORIGIN/../lib/assistantd`).
    let inits: Vec<PathBuf> = trace
        .lines()
        .filter_map(|l| l.split_once("calling init: "))
        .map(|(_, path)| Path::new(path.trim()).canonicalize().expect("a loaded file"))
        .collect();
    for lib in LIBRARIES {
        let packaged = root.join("lib/assistantd").join(lib);
        let times = inits.iter().filter(|p| **p == packaged).count();
        assert!(
            times >= 2,
            "{lib} was loaded from the package {times} time(s), not by both binaries: {inits:#?}"
        );
    }
    let same_name: Vec<&PathBuf> = inits
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| LIBRARIES.iter().any(|l| n == *l)) && !p.starts_with(root))
        .collect();
    assert!(same_name.is_empty(), "copies loaded from elsewhere: {same_name:?}");

    // say, into a WAV in the (empty) working folder, with the real voice.
    let out = sandbox
        .command(root.join("bin/assistantd"))
        .args([
            "say",
            "-o",
            "out.wav",
            SENTENCE,
            "--voice",
            "en_US-joe-medium",
            "--models-dir",
        ])
        .arg(models.store_dir())
        .output()
        .expect("the packaged assistantd runs");
    assert_spoken(&sandbox.cwd().join("out.wav"), &out);
}

/// Folders to empty so that nothing the build left can be reached: the
/// checkout, the target folder and the native libraries, wherever they are.
fn build_folders() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = [
        checkout(),
        bin_dir().join(".."),
        PathBuf::from(env!("SHERPA_ONNX_LIB_DIR")),
        PathBuf::from(env!("ESPEAK_NG_DIR")),
    ]
    .iter()
    .map(|p| p.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", p.display())))
    .collect();
    found.sort();
    // A folder inside another is hidden with it.
    found.dedup_by(|later, earlier| later.starts_with(earlier));
    found
}

/// The shell script that hides its arguments up to `--` under empty
/// read-only tmpfs mounts, checks they look empty, then execs the rest.
const HIDE: &str = r#"set -eu
while [ "$1" != -- ]; do
  mount -t tmpfs -o ro,size=4k assistantd-hidden "$1"
  [ -z "$(ls -A "$1")" ] || { echo "$1 is still visible" >&2; exit 98; }
  shift
done
shift
exec "$@""#;

/// `program args` in a new user and mount namespace where `hidden` are empty.
fn hidden_command(sandbox: &Sandbox, hidden: &[PathBuf], program: &Path) -> Command {
    let mut command = sandbox.command("unshare");
    command
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--",
            "/bin/sh",
            "-c",
            HIDE,
            "sh",
        ])
        .args(hidden)
        .arg("--")
        .arg(program);
    command
}

#[test]
fn the_unpacked_package_runs_with_the_checkout_hidden() {
    const TEST: &str = "the_unpacked_package_runs_with_the_checkout_hidden";
    let Some(()) = tools(TEST) else { return };
    let Some(models) = RealModels::installed(TEST) else {
        return;
    };
    let hidden = build_folders();
    let sandbox = Sandbox::new();
    // Can this machine hide folders (unprivileged user namespaces)?
    let probe = match hidden_command(&sandbox, &[sandbox.cwd()], Path::new("/bin/true")).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(e) => Some(format!("unshare: {e}")),
    };
    if let Some(why) = probe {
        let _ = assistant_tests::skip::<()>(
            TEST,
            format!(
                "cannot hide folders in a mount namespace ({why}); this needs util-linux's unshare and \
                 unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
            ),
        );
        return;
    }
    let store = models.store_dir().canonicalize().expect("the store");
    if let Some(inside) = hidden.iter().find(|h| store.starts_with(h)) {
        let _ = assistant_tests::skip::<()>(
            TEST,
            format!(
                "the test models are in {} inside {}, which this test hides; set ASSISTANTD_TEST_MODELS elsewhere",
                store.display(),
                inside.display()
            ),
        );
        return;
    }
    let package = Package::get();
    for h in &hidden {
        assert!(
            !package.root.starts_with(h) && !sandbox.dir.path().starts_with(h),
            "{}",
            h.display()
        );
    }

    let launcher = package.root.join("bin/assistantd");
    let out = hidden_command(&sandbox, &hidden, &launcher)
        .args(["doctor", "--json"])
        .output()
        .expect("unshare runs");
    assert_doctor_used_the_package(&package, &out);

    let out = hidden_command(&sandbox, &hidden, &launcher)
        .args([
            "say",
            "-o",
            "hidden.wav",
            SENTENCE,
            "--voice",
            "en_US-joe-medium",
            "--models-dir",
        ])
        .arg(&store)
        .output()
        .expect("unshare runs");
    assert_spoken(&sandbox.cwd().join("hidden.wav"), &out);
}
