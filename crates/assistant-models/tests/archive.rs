//! Archive entries: a `.tar.bz2` verified as a whole, then unpacked with
//! every listed member checked on its own.

use std::path::Path;

use assistant_models::fetch::{self, NoProgress};
use assistant_models::{FetchOptions, Fetched, Lock, ModelsError, Source, Store};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Deterministic bytes that do not compress to nothing.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// A `.tar.bz2` holding `files` (path, bytes) under the folder `model/`.
fn tar_bz2(files: &[(&str, &[u8])]) -> Vec<u8> {
    let encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("model/{path}"), *bytes)
            .expect("append");
    }
    builder
        .into_inner()
        .and_then(bzip2::write::BzEncoder::finish)
        .expect("finish archive")
}

struct Fixture {
    _dir: tempfile::TempDir,
    mirror: std::path::PathBuf,
    store: Store,
    lock: Lock,
    encoder: Vec<u8>,
    tokens: Vec<u8>,
}

/// A mirror holding `archive` and a lock entry for it; the encoder member
/// is pinned with `encoder_pin`, the tokens member is unpinned.
fn fixture(archive: &[u8], encoder: Vec<u8>, tokens: Vec<u8>, encoder_pin: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&mirror).expect("mkdir");
    std::fs::write(mirror.join("model.tar.bz2"), archive).expect("write archive");
    let text = format!(
        r#"version = 1

[[model]]
name = "asr/test"
kind = "asr"
url = "https://example.org/releases/model.tar.bz2"
size = {size}
sha256 = "{digest}"
digest = "computed"
license = "MIT"

[[model.member]]
name = "encoder"
path = "model/encoder.int8.onnx"
size = {encoder_size}
sha256 = "{encoder_pin}"

[[model.member]]
name = "tokens"
path = "model/tokens.txt"
size = {tokens_size}
sha256 = ""
"#,
        size = archive.len(),
        digest = sha256_hex(archive),
        encoder_size = encoder.len(),
        tokens_size = tokens.len(),
    );
    let lock = Lock::parse(&text, Path::new("models.lock")).expect("lock parses");
    let store = Store::new(dir.path().join("store"));
    Fixture {
        _dir: dir,
        mirror,
        store,
        lock,
        encoder,
        tokens,
    }
}

fn standard() -> Fixture {
    let encoder = content(200_000, 1);
    let tokens = b"<blk> 0\n\xe2\x96\x81one 1\n".to_vec();
    let unused = content(50_000, 2);
    let archive = tar_bz2(&[
        ("README.md", b"not kept"),
        ("encoder.onnx", &unused),
        ("encoder.int8.onnx", &encoder),
        ("tokens.txt", &tokens),
    ]);
    let pin = sha256_hex(&encoder);
    fixture(&archive, encoder, tokens, &pin)
}

async fn install(f: &Fixture) -> Result<Fetched, ModelsError> {
    let entry = f.lock.get("asr/test").expect("entry");
    fetch::fetch(
        &f.store,
        entry,
        Source::Mirror(&f.mirror),
        FetchOptions::default(),
        &mut NoProgress,
    )
    .await
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn only_listed_members_are_kept_each_verified() {
    let f = standard();
    let entry = f.lock.get("asr/test").expect("entry");
    let got = install(&f).await.expect("install");
    let dir = f.store.path(entry);
    assert!(
        matches!(&got, Fetched::Installed { path, .. } if *path == dir),
        "{got:?}"
    );
    // The archive and the members models.lock does not list are gone.
    assert_eq!(files_in(&dir), ["encoder.int8.onnx", "tokens.txt"]);
    assert_eq!(
        std::fs::read(dir.join("encoder.int8.onnx")).expect("encoder"),
        f.encoder
    );
    assert_eq!(std::fs::read(dir.join("tokens.txt")).expect("tokens"), f.tokens);

    // The unpinned member's digest was recorded from the verified archive.
    let (_, tokens) = f.lock.find("asr/test/tokens").expect("member");
    let tokens = tokens.expect("a member");
    assert_eq!(f.store.member_digest(entry, tokens), Some(sha256_hex(&f.tokens)));
    assert!(f.store.verify_fully(entry).is_ok());
    assert_eq!(
        install(&f).await.expect("again"),
        Fetched::AlreadyInstalled(dir.clone())
    );

    // Damage to either member is caught and named, with the fix.
    let mut bad = f.tokens.clone();
    bad[0] ^= 1;
    std::fs::write(dir.join("tokens.txt"), &bad).expect("corrupt");
    let err = f.store.verify_fully(entry).expect_err("corrupt member");
    let message = err.to_string();
    assert!(
        matches!(err, ModelsError::DigestMismatch { ref name, .. } if name == "asr/test/tokens"),
        "{message}"
    );
    assert!(
        message.contains("tokens.txt") && message.contains("assistantd models fetch asr/test/tokens"),
        "{message}"
    );
    std::fs::remove_file(dir.join("encoder.int8.onnx")).expect("remove");
    std::fs::write(dir.join("tokens.txt"), &f.tokens).expect("repair");
    assert!(matches!(
        f.store.verify_fully(entry),
        Err(ModelsError::NotInstalled { ref name, .. }) if name == "asr/test/encoder"
    ));
    // Fetching again restores it.
    assert!(matches!(install(&f).await, Ok(Fetched::Installed { .. })));
    assert!(f.store.verify_fully(entry).is_ok());
}

#[tokio::test]
async fn a_member_that_disagrees_with_its_pin_is_not_installed() {
    let encoder = content(10_000, 3);
    let tokens = b"<blk> 0\n".to_vec();
    let archive = tar_bz2(&[("encoder.int8.onnx", &encoder), ("tokens.txt", &tokens)]);
    let wrong = sha256_hex(b"something else");
    let f = fixture(&archive, encoder.clone(), tokens, &wrong);
    let err = install(&f).await.expect_err("member digest differs");
    match &err {
        ModelsError::DigestMismatch {
            name, expected, actual, ..
        } => {
            assert_eq!(name, "asr/test/encoder");
            assert_eq!((expected, actual), (&wrong, &sha256_hex(&encoder)));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    let dir = f.store.path(f.lock.get("asr/test").expect("entry"));
    assert!(
        !dir.join("encoder.int8.onnx").exists(),
        "nothing unverified is installed: {:?}",
        files_in(&dir)
    );
    assert!(
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".part")),
        "no part files are left behind"
    );
}

#[tokio::test]
async fn an_archive_missing_a_member_or_not_an_archive_is_explained() {
    let encoder = content(10_000, 4);
    let tokens = b"<blk> 0\n".to_vec();
    let archive = tar_bz2(&[("encoder.int8.onnx", &encoder)]);
    let pin = sha256_hex(&encoder);
    let f = fixture(&archive, encoder.clone(), tokens.clone(), &pin);
    let message = install(&f).await.expect_err("tokens missing").to_string();
    assert!(
        message.contains("cannot unpack") && message.contains("it has no member model/tokens.txt"),
        "{message}"
    );

    // Bytes that match the archive pin but are not bzip2 (a wrong pin in
    // models.lock): a clear error, no panic.
    let junk = content(4_096, 5);
    let f = fixture(&junk, encoder, tokens, &pin);
    let err = install(&f).await.expect_err("not an archive");
    assert!(matches!(err, ModelsError::Archive { .. }), "{err}");
}
