//! Installing models from a mirror folder and over HTTP, against a local
//! server that can cut a download short, ignore ranges, or fail.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assistant_models::fetch::{self, NoProgress};
use assistant_models::{DigestKind, FetchOptions, Fetched, Lock, ModelEntry, ModelsError, Source, Store};
use sha2::{Digest, Sha256};

/// How the server answers the next request.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Serve the body, honouring `Range: bytes=N-`.
    Serve,
    /// Declare the full length, send this many bytes, then close.
    CutAfter(usize),
    /// Serve the whole body with 200 whatever the Range header says.
    IgnoreRange,
    /// Answer with this status and no body.
    Status(u16),
}

struct Server {
    url: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

impl Server {
    /// Serves `body` at /model.bin, one behaviour per request (the last repeats).
    fn start(body: Vec<u8>, script: Vec<Behaviour>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}/model.bin", listener.local_addr().expect("addr"));
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let r = Arc::clone(&ranges);
        std::thread::spawn(move || {
            let mut script = script;
            for stream in listener.incoming().take(16) {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        range = v.trim().trim_end_matches('-').parse::<usize>().ok();
                    }
                }
                r.lock().expect("lock").push(range.map(|n| format!("bytes={n}-")));
                let behaviour = { if script.len() > 1 { script.remove(0) } else { script[0] } };
                let _ = match behaviour {
                    Behaviour::Status(code) => stream.write_all(
                        format!("HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                    ),
                    Behaviour::Serve if range.is_some_and(|n| n < body.len()) => {
                        let from = range.unwrap_or(0);
                        let head = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
                            body.len() - from,
                            body.len() - 1,
                            body.len()
                        );
                        stream
                            .write_all(head.as_bytes())
                            .and_then(|()| stream.write_all(&body[from..]))
                    }
                    Behaviour::Serve | Behaviour::IgnoreRange | Behaviour::CutAfter(_) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let upto = match behaviour {
                            Behaviour::CutAfter(n) => n,
                            _ => body.len(),
                        };
                        stream
                            .write_all(head.as_bytes())
                            .and_then(|()| stream.write_all(&body[..upto]))
                    }
                };
            }
        });
        Self { url, ranges }
    }

    fn ranges_seen(&self) -> Vec<Option<String>> {
        self.ranges.lock().expect("lock").clone()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn entry_for(url: &str, content: &[u8]) -> ModelEntry {
    ModelEntry {
        name: "test/model".into(),
        kind: "test".into(),
        url: url.into(),
        size: content.len() as u64,
        sha256: Some(sha256_hex(content)),
        digest: DigestKind::Computed,
        digest_source: String::new(),
        license: "MIT".into(),
        profiles: vec![],
        members: vec![],
        non_commercial: false,
        registry: vec![],
    }
}

async fn get(store: &Store, entry: &ModelEntry, options: FetchOptions) -> Result<Fetched, ModelsError> {
    let downloader = assistant_models::Downloader::new().expect("client");
    fetch::fetch(store, entry, Source::Http(&downloader), options, &mut NoProgress).await
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut parts = assistant_tests::files_under(dir);
    parts.retain(|p| p.extension().is_some_and(|x| x == "part"));
    parts
}

#[tokio::test]
async fn downloads_verify_and_install_atomically() {
    let content = body(300_000);
    let server = Server::start(content.clone(), vec![Behaviour::Serve]);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let entry = entry_for(&server.url, &content);
    let got = get(&store, &entry, FetchOptions::default()).await.expect("download");
    let path = store.path(&entry);
    assert_eq!(
        got,
        Fetched::Installed {
            path: path.clone(),
            transferred: 300_000,
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(&path).expect("installed"), content);
    assert!(leftovers(dir.path()).is_empty());
    // A second fetch finds the verified copy and transfers nothing.
    assert_eq!(
        get(&store, &entry, FetchOptions::default()).await.expect("again"),
        Fetched::AlreadyInstalled(path)
    );
    assert_eq!(server.ranges_seen().len(), 1);
}

#[tokio::test]
async fn an_interrupted_download_resumes_where_it_stopped() {
    let content = body(500_000);
    let server = Server::start(content.clone(), vec![Behaviour::CutAfter(123_456), Behaviour::Serve]);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let entry = entry_for(&server.url, &content);

    let err = get(&store, &entry, FetchOptions::default())
        .await
        .expect_err("cut short");
    assert!(matches!(err, ModelsError::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("run the command again to resume"), "{err}");
    assert!(
        !store.path(&entry).exists(),
        "nothing installed from a partial download"
    );
    let parts = leftovers(dir.path());
    assert_eq!(parts.len(), 1);
    // Every byte that arrived before the cut is on disk when fetch returns.
    let kept = std::fs::metadata(&parts[0]).expect("part").len();
    assert_eq!(kept, 123_456);

    let got = get(&store, &entry, FetchOptions::default()).await.expect("resume");
    assert_eq!(
        got,
        Fetched::Installed {
            path: store.path(&entry),
            transferred: 500_000 - kept,
            resumed_from: kept
        }
    );
    assert_eq!(server.ranges_seen(), vec![None, Some(format!("bytes={kept}-"))]);
    assert_eq!(std::fs::read(store.path(&entry)).expect("installed"), content);
    assert!(leftovers(dir.path()).is_empty());
}

#[tokio::test]
async fn a_server_that_ignores_ranges_gets_a_fresh_download() {
    let content = body(200_000);
    let server = Server::start(
        content.clone(),
        vec![Behaviour::CutAfter(50_000), Behaviour::IgnoreRange],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let entry = entry_for(&server.url, &content);
    assert!(get(&store, &entry, FetchOptions::default()).await.is_err());
    let got = get(&store, &entry, FetchOptions::default()).await.expect("fresh");
    assert_eq!(
        got,
        Fetched::Installed {
            path: store.path(&entry),
            transferred: 200_000,
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(store.path(&entry)).expect("installed"), content);
}

#[tokio::test]
async fn wrong_bytes_are_never_installed() {
    let content = body(10_000);
    let mut tampered = content.clone();
    tampered[5_000] ^= 1;
    let server = Server::start(tampered.clone(), vec![Behaviour::Serve]);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let entry = entry_for(&server.url, &content);
    let err = get(&store, &entry, FetchOptions::default())
        .await
        .expect_err("digest differs");
    match &err {
        ModelsError::DigestMismatch { expected, actual, .. } => {
            assert_eq!(expected, entry.sha256.as_ref().expect("pinned"));
            assert_eq!(actual, &sha256_hex(&tampered));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(!store.path(&entry).exists());
    assert!(leftovers(dir.path()).is_empty(), "the bad part is removed");
}

#[tokio::test]
async fn server_errors_and_unreachable_servers_are_explained() {
    let content = body(100);
    let server = Server::start(content.clone(), vec![Behaviour::Status(404)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let err = get(&store, &entry_for(&server.url, &content), FetchOptions::default())
        .await
        .expect_err("404");
    assert!(matches!(err, ModelsError::HttpStatus { status: 404, .. }), "{err:?}");

    // A port nothing listens on: bind, learn the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let entry = entry_for(&format!("http://127.0.0.1:{port}/model.bin"), &content);
    let err = get(&store, &entry, FetchOptions::default()).await.expect_err("refused");
    let message = err.to_string();
    assert!(matches!(err, ModelsError::Network { .. }), "{err:?}");
    assert!(
        message.contains("--mirror DIR") && message.contains("ASSISTANT_MODEL_MIRROR"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unpinned_file_needs_trust_new_which_records_its_digest() {
    let content = body(4_096);
    let server = Server::start(content.clone(), vec![Behaviour::Serve]);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    let mut entry = entry_for(&server.url, &content);
    let digest = entry.sha256.take().expect("digest");

    let err = get(&store, &entry, FetchOptions::default())
        .await
        .expect_err("unpinned");
    assert!(matches!(err, ModelsError::UnknownDigest { .. }), "{err:?}");
    assert!(err.to_string().contains("--trust-new"));
    assert!(server.ranges_seen().is_empty(), "nothing downloaded without trust");

    let got = get(
        &store,
        &entry,
        FetchOptions {
            trust_new: true,
            force: false,
        },
    )
    .await
    .expect("trusted");
    assert_eq!(
        got,
        Fetched::Trusted {
            path: store.path(&entry),
            sha256: digest.clone()
        }
    );
    assert_eq!(store.expected_digest(&entry), Some(digest));
    assert!(store.verify_fully(&entry).is_ok());
}

#[tokio::test]
async fn the_real_silero_vad_installs_from_the_shared_mirror() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(mirror) = assistant_tests::shared_data("the_real_silero_vad_installs_from_the_shared_mirror") else {
        return;
    };
    let lock = Lock::read(&root.join("models.lock")).expect("models.lock");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(dir.path());
    for name in ["silero-vad/v4", "silero-vad/v5"] {
        let entry = lock.get(name).expect("pinned");
        let got = fetch::fetch(
            &store,
            entry,
            Source::Mirror(&mirror),
            FetchOptions::default(),
            &mut NoProgress,
        )
        .await
        .expect("mirror install");
        assert!(
            matches!(got, Fetched::Installed { transferred, resumed_from: 0, .. } if transferred == entry.size),
            "{got:?}"
        );
        assert!(store.verify_fully(entry).is_ok());
    }
    // A mirror without the file names where it looked.
    let empty = tempfile::tempdir().expect("tempdir");
    let entry = lock.get("silero-vad/v4").expect("pinned");
    let err = fetch::fetch(
        &store,
        entry,
        Source::Mirror(empty.path()),
        FetchOptions {
            force: true,
            ..FetchOptions::default()
        },
        &mut NoProgress,
    )
    .await
    .expect_err("not in mirror");
    assert!(err.to_string().contains("silero-vad/v4/silero_vad.onnx"), "{err}");
}
