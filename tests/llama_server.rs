//! The real OpenAI-compatible LLM server for tests: llama-cpp-python's
//! server (`scripts/llm/serve.py`, installed into `.venv` by
//! `scripts/bootstrap`) with the tiny `stories260K.gguf` from the shared
//! data, on a free loopback port.
//!
//! One server per test binary ([`LlamaServer::shared`]): it takes a couple
//! of seconds to start, and `serve.py` exits when the test binary does.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{shared_data, workspace_root};

/// A running llama.cpp server.
#[derive(Debug)]
pub struct LlamaServer {
    child: Mutex<Child>,
    turn: Mutex<()>,
    port: u16,
    model: PathBuf,
    alias: &'static str,
}

impl LlamaServer {
    /// The model's name on the server (`/v1/models`, the `model` field).
    pub const MODEL: &'static str = "stories260K";

    /// The test binary's server, started on first use; `None` after a SKIP
    /// message when the shared GGUF is absent.
    ///
    /// # Panics
    /// If the server is not installed (run `scripts/bootstrap`) or does not
    /// answer within 120 s.
    #[must_use]
    pub fn shared(test: &str) -> Option<&'static Self> {
        static SERVER: OnceLock<Option<LlamaServer>> = OnceLock::new();
        let data = shared_data(test)?;
        SERVER
            .get_or_init(|| Some(Self::start(data.join("llm/stories260K.gguf"), Self::MODEL, &[])))
            .as_ref()
    }

    /// The name [`LlamaServer::gemma`] serves its model under.
    pub const GEMMA: &'static str = "gemma-3-270m";

    /// The test binary's server of the real Gemma 3 270M (the registry
    /// model `llm/gemma-3-270m-q4_k_m`, installed by
    /// [`crate::real_models::RealModels`]) with Gemma's chat format, which
    /// the GGUF does not carry; `None` after a SKIP message when the model
    /// cannot be had.
    ///
    /// # Panics
    /// As [`LlamaServer::shared`].
    #[must_use]
    pub fn gemma(test: &str) -> Option<&'static Self> {
        static SERVER: OnceLock<Option<LlamaServer>> = OnceLock::new();
        let models = crate::real_models::RealModels::installed(test)?;
        SERVER
            .get_or_init(|| {
                Some(Self::start(
                    models.path("llm/gemma-3-270m-q4_k_m"),
                    Self::GEMMA,
                    &["--chat_format", "gemma"],
                ))
            })
            .as_ref()
    }

    fn start(model: PathBuf, alias: &'static str, extra: &[&str]) -> Self {
        let root = workspace_root();
        let python = root.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run scripts/bootstrap (it installs llama-cpp-python's server)",
            python.display()
        );
        let port = free_port();
        // uvicorn logs every request; keep that out of the test output
        // and show it only if the server fails to start.
        let log_path = std::env::temp_dir().join(format!("assistantd-llama-server-{port}.log"));
        let log =
            std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let child = Command::new(&python)
            .arg(root.join("scripts/llm/serve.py"))
            .arg("--model")
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // Queue concurrent requests instead of cutting the running one
            // short (llama-cpp-python's default), so tests can share it.
            .args(["--interrupt_requests", "false"])
            .args(extra)
            .args([
                "--model_alias",
                alias,
                "--n_ctx",
                "2048",
                "--n_threads",
                "1",
                "--verbose",
                "false",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let log_tail = || {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        };
        let server = Self {
            child: Mutex::new(child),
            turn: Mutex::new(()),
            port,
            model,
            alias,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !server.answers() {
            if let Ok(mut child) = server.child.lock()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "the llama.cpp server exited ({status}); is llama-cpp-python installed? run scripts/bootstrap\n{}",
                    log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the llama.cpp server did not answer within 120 s\n{}",
                log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Whether `GET /v1/models` answers 200.
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0_u8; 12];
        stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
    }

    /// Exclusive use of the server while the guard lives: tests that look
    /// at timing or at what crossed the socket hold it, so another test's
    /// request does not queue in front of theirs.
    pub fn exclusive(&self) -> std::sync::MutexGuard<'_, ()> {
        self.turn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The base URL, e.g. `http://127.0.0.1:34567`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The name the model is served under.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.alias
    }

    /// The model file served (named [`LlamaServer::name`]).
    #[must_use]
    pub fn model(&self) -> &std::path::Path {
        &self.model
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nobody listens on (free when asked).
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}
