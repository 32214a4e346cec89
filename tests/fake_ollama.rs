//! A fake Ollama server that speaks the real protocol and fails on cue.
//!
//! Tests need a model server that streams like Ollama — HTTP/1.1 keep-alive,
//! chunked NDJSON, the final line with its timings — and that can fail in
//! every way a real one does, at a precise point, on demand. This one is
//! written on a bare [`TcpListener`] with hand-written HTTP so nothing
//! between the bytes and the client smooths the faults over.
//!
//! Endpoints: `POST /api/chat` (streamed, `stream: false`, and the empty
//! `messages` model load), `GET /api/tags`, `GET /api/version`, and
//! Ollama's OpenAI-compatible `POST /v1/chat/completions` (SSE) and
//! `GET /v1/models`. Anything else gets Go's `404 page not found`.
//!
//! Each chat request takes the next [`ScriptedReply`] from a queue (the
//! script's default tokens when it is empty); its [`Fault`] says what goes
//! wrong. Every request ([`Recorded`]) and every connection's end
//! ([`ClosedBy`]) is recorded for assertions. [`FakeOllama::stop`] and
//! [`FakeOllama::restart`] make the port refuse connections and accept them
//! again.
//!
//! The `fake-ollama` binary serves a [`Script`] given as JSON on the
//! command line, for tests that run the daemon as a process.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinSet};

/// What the server knows and how it replies, as the `fake-ollama` binary
/// reads it from JSON. Every field is optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// The pulled models, as `/api/tags` lists them (`llama3.2:latest`). A
    /// chat for any other model gets Ollama's 404 `model 'X' not found`.
    pub models: Vec<String>,
    /// What `/api/version` reports.
    pub version: String,
    /// The reply's tokens when no scripted reply is queued.
    pub tokens: Vec<String>,
    /// Replies for the next chat requests, in order.
    pub replies: Vec<ScriptedReply>,
    /// If set, the `/v1` endpoints want `Authorization: Bearer <key>` (401
    /// otherwise). Ollama itself has no keys; proxies in front of it do.
    pub api_key: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            models: vec!["llama3.2:latest".into()],
            version: "0.6.2".into(),
            tokens: vec!["Hello".into(), " there".into(), "!".into()],
            replies: Vec::new(),
            api_key: None,
        }
    }
}

/// One chat request's reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptedReply {
    /// The tokens; `None` means the script's default tokens.
    pub tokens: Option<Vec<String>>,
    /// What goes wrong.
    pub fault: Fault,
    /// SSE only: end lines with `\r\n` (as sse-starlette, hence
    /// llama-cpp-python, does) instead of `\n`.
    pub crlf: bool,
    /// SSE only: send a `: ping` comment before every frame.
    pub comments: bool,
}

impl ScriptedReply {
    /// A normal reply with these tokens.
    #[must_use]
    pub fn tokens<S: Into<String>>(tokens: impl IntoIterator<Item = S>) -> Self {
        Self {
            tokens: Some(tokens.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }

    /// The default tokens, with a fault.
    #[must_use]
    pub fn fault(fault: Fault) -> Self {
        Self {
            fault,
            ..Self::default()
        }
    }

    /// These tokens, with a fault.
    #[must_use]
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }
}

/// What goes wrong with a reply. "After `tokens`" counts token lines
/// written; `tokens` equal to the reply's length means "before the final
/// line".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// A normal reply.
    #[default]
    None,
    /// 404 `{"error":"model 'X' not found"}`, whatever the model.
    ModelNotFound,
    /// This status with `{"error": message}` before any content, as Ollama
    /// does when generation fails to start.
    HttpError {
        /// The HTTP status.
        status: u16,
        /// The error text.
        message: String,
    },
    /// No status line for `ms` (Ollama sends none while it loads the model).
    StallBeforeHeaders {
        /// Milliseconds.
        ms: u64,
    },
    /// Status and headers, then nothing for `ms`.
    StallBeforeFirstToken {
        /// Milliseconds.
        ms: u64,
    },
    /// Nothing for `ms` after `tokens` tokens.
    StallAfter {
        /// Tokens sent first.
        tokens: usize,
        /// Milliseconds.
        ms: u64,
    },
    /// Close the socket after `tokens` tokens: no final line, no end chunk.
    DisconnectAfter {
        /// Tokens sent first.
        tokens: usize,
    },
    /// A line that is not JSON after `tokens` tokens (then the body ends).
    MalformedLineAfter {
        /// Tokens sent first.
        tokens: usize,
    },
    /// `{"error": message}` after `tokens` tokens (then the body ends), as
    /// Ollama reports a failure mid-reply.
    ErrorLineAfter {
        /// Tokens sent first.
        tokens: usize,
        /// The error text.
        message: String,
    },
    /// Every byte of the body in its own chunk, flushed alone, so lines and
    /// UTF-8 code points arrive split everywhere.
    ByteByByte,
    /// Each token waits for [`FakeOllama::release`].
    Gated,
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The connection it came on (see [`FakeOllama::closed`]).
    pub connection: u64,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/api/chat`.
    pub path: String,
    /// Headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` if empty or not JSON).
    pub body: Value,
}

impl Recorded {
    /// The first header with this (lower-case) name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether it is a chat request (`/api/chat` or `/v1/chat/completions`).
    #[must_use]
    pub fn is_chat(&self) -> bool {
        self.method == "POST" && (self.path == "/api/chat" || self.path == "/v1/chat/completions")
    }
}

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedBy {
    /// The client closed it (read end of stream, or a write failed).
    Client,
    /// The server closed it (a fault, `Connection: close`, or a stop).
    Server,
}

#[derive(Debug)]
struct State {
    script: Script,
    queue: VecDeque<ScriptedReply>,
    requests: Vec<Recorded>,
    /// `(connection id, how it ended)`.
    connections: Vec<(u64, Option<ClosedBy>)>,
    next_connection: u64,
    tokens_sent: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    gate: Semaphore,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The tasks of a listening server.
#[derive(Debug)]
struct Running {
    accept: AbortHandle,
    connections: Arc<Mutex<JoinSet<()>>>,
}

/// A running fake server. Dropping it stops it.
#[derive(Debug)]
pub struct FakeOllama {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<Running>,
}

impl FakeOllama {
    /// Serves the default script on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> Self {
        Self::start_with(Script::default()).await
    }

    /// Serves `script` on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start_with(script: Script) -> Self {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), script)
            .await
            .expect("bind a loopback port")
    }

    /// Serves `script` on `addr` (port 0: any free port).
    ///
    /// # Errors
    /// If the address cannot be bound.
    pub async fn bind(addr: SocketAddr, script: Script) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let queue = script.replies.iter().cloned().collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script,
                queue,
                requests: Vec::new(),
                connections: Vec::new(),
                next_connection: 0,
                tokens_sent: 0,
            }),
            gate: Semaphore::new(0),
        });
        let running = Some(spawn_accept(listener, Arc::clone(&shared)));
        Ok(Self { addr, shared, running })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues the reply for the next chat request.
    pub fn push(&self, reply: ScriptedReply) {
        self.shared.lock().queue.push_back(reply);
    }

    /// Sets the pulled models.
    pub fn set_models<S: Into<String>>(&self, models: impl IntoIterator<Item = S>) {
        self.shared.lock().script.models = models.into_iter().map(Into::into).collect();
    }

    /// Pulls a model (adds it to `/api/tags`).
    pub fn add_model(&self, model: impl Into<String>) {
        self.shared.lock().script.models.push(model.into());
    }

    /// Every request received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// The chat requests received so far.
    #[must_use]
    pub fn chat_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(Recorded::is_chat).collect()
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared.lock().connections.len()
    }

    /// How the connection ended, if it has.
    #[must_use]
    pub fn closed(&self, connection: u64) -> Option<ClosedBy> {
        self.shared
            .lock()
            .connections
            .iter()
            .find(|(id, _)| *id == connection)
            .and_then(|(_, end)| *end)
    }

    /// Waits up to `within` for the connection to end; how it ended, or
    /// `None` if it is still open.
    pub async fn wait_closed(&self, connection: u64, within: Duration) -> Option<ClosedBy> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.closed(connection) {
                return Some(end);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Token lines (or SSE content frames) fully written so far.
    #[must_use]
    pub fn tokens_sent(&self) -> u64 {
        self.shared.lock().tokens_sent
    }

    /// Lets `n` more tokens of a [`Fault::Gated`] reply go out.
    pub fn release(&self, n: usize) {
        self.shared.gate.add_permits(n);
    }

    /// Stops listening and closes every connection: the port refuses
    /// connections until [`restart`](Self::restart).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.accept.abort();
            let mut set = std::mem::take(&mut *running.connections.lock().unwrap_or_else(PoisonError::into_inner));
            set.abort_all();
            while set.join_next().await.is_some() {}
            // The accept task owns the listener; wait until it is gone.
            while !running.accept.is_finished() {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Listens again on the same port, with the same state.
    ///
    /// # Panics
    /// If the port was taken meanwhile.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.expect("bind the same port again");
        self.running = Some(spawn_accept(listener, Arc::clone(&self.shared)));
    }
}

impl Drop for FakeOllama {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.accept.abort();
            running
                .connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .abort_all();
        }
    }
}

fn spawn_accept(listener: TcpListener, shared: Arc<Shared>) -> Running {
    let connections = Arc::new(Mutex::new(JoinSet::new()));
    let set = Arc::clone(&connections);
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let id = {
                let mut state = shared.lock();
                let id = state.next_connection;
                state.next_connection += 1;
                state.connections.push((id, None));
                id
            };
            let shared = Arc::clone(&shared);
            set.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .spawn(serve(stream, id, shared));
        }
    })
    .abort_handle();
    Running { accept, connections }
}

/// Records how a connection ended, however its task ends (aborted included).
struct EndGuard {
    shared: Arc<Shared>,
    id: u64,
    by: ClosedBy,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(entry) = state.connections.iter_mut().find(|(id, _)| *id == self.id) {
            entry.1.get_or_insert(self.by);
        }
    }
}

/// What to do with the connection after a response.
enum Flow {
    KeepAlive,
    Close(ClosedBy),
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    /// Bytes read but not yet parsed.
    buf: Vec<u8>,
    shared: Arc<Shared>,
}

async fn serve(stream: TcpStream, id: u64, shared: Arc<Shared>) {
    let mut guard = EndGuard {
        shared: Arc::clone(&shared),
        id,
        by: ClosedBy::Server,
    };
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut conn = Conn {
        rd,
        wr,
        buf: Vec::new(),
        shared,
    };
    loop {
        let request = match conn.read_request().await {
            Ok(Some(request)) => request,
            Ok(None) | Err(ClosedBy::Client) => {
                guard.by = ClosedBy::Client;
                return;
            }
            Err(ClosedBy::Server) => return,
        };
        let close_requested = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        conn.shared.lock().requests.push(Recorded {
            connection: id,
            method: request.method.clone(),
            path: request.path.clone(),
            headers: request.headers.clone(),
            body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
        });
        match conn.respond(&request).await {
            Flow::KeepAlive if !close_requested => {}
            Flow::KeepAlive => return,
            Flow::Close(by) => {
                guard.by = by;
                return;
            }
        }
    }
}

impl Conn {
    /// The next request; `None` when the client closed an idle connection.
    async fn read_request(&mut self) -> Result<Option<Request>, ClosedBy> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or_default().split(' ');
                let method = first.next().unwrap_or_default().to_owned();
                let path = first.next().unwrap_or_default().to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                if headers
                    .iter()
                    .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
                {
                    // No client of ours sends chunked requests; say so and hang up.
                    self.write_json(
                        501,
                        &json!({"error": "chunked request bodies are not supported by the fake"}),
                    )
                    .await?;
                    return Err(ClosedBy::Server);
                }
                while self.buf.len() < end + 4 + length {
                    self.fill().await?;
                }
                let body = self.buf[end + 4..end + 4 + length].to_vec();
                self.buf.drain(..end + 4 + length);
                return Ok(Some(Request {
                    method,
                    path,
                    headers,
                    body,
                }));
            }
            if self.buf.len() > 64 << 10 {
                return Err(ClosedBy::Server);
            }
            match self.rd.read_buf(&mut self.buf).await {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) | Err(_) => return Err(ClosedBy::Client),
                Ok(_) => {}
            }
        }
    }

    async fn fill(&mut self) -> Result<(), ClosedBy> {
        match self.rd.read_buf(&mut self.buf).await {
            Ok(0) | Err(_) => Err(ClosedBy::Client),
            Ok(_) => Ok(()),
        }
    }

    /// Waits for `wait` unless the client hangs up first.
    async fn pause(&mut self, wait: impl Future<Output = ()>) -> Result<(), ClosedBy> {
        tokio::pin!(wait);
        let mut scratch = [0u8; 1024];
        loop {
            tokio::select! {
                () = &mut wait => return Ok(()),
                read = self.rd.read(&mut scratch) => match read {
                    Ok(0) | Err(_) => return Err(ClosedBy::Client),
                    Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                },
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ClosedBy> {
        self.wr.write_all(bytes).await.map_err(|_| ClosedBy::Client)?;
        self.wr.flush().await.map_err(|_| ClosedBy::Client)
    }

    async fn write_response(&mut self, status: u16, content_type: &str, body: &[u8]) -> Result<(), ClosedBy> {
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nDate: {}\r\nContent-Length: {}\r\n\r\n",
            reason(status),
            http_date(SystemTime::now()),
            body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.write(&bytes).await
    }

    async fn write_json(&mut self, status: u16, value: &Value) -> Result<(), ClosedBy> {
        self.write_response(status, "application/json; charset=utf-8", value.to_string().as_bytes())
            .await
    }

    fn chunked_head(content_type: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nDate: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
            http_date(SystemTime::now())
        )
    }

    /// One piece of a chunked body (several chunks of one byte each when
    /// `byte_by_byte`), preceded by `prefix` (the response head, if unsent);
    /// `last` appends the terminating chunk (in the same write, unless byte
    /// by byte).
    async fn write_chunk(
        &mut self,
        prefix: &mut String,
        data: &[u8],
        byte_by_byte: bool,
        last: bool,
    ) -> Result<(), ClosedBy> {
        if byte_by_byte {
            if !prefix.is_empty() {
                let head = std::mem::take(prefix);
                self.write(head.as_bytes()).await?;
            }
            for byte in data {
                let mut chunk = b"1\r\n".to_vec();
                chunk.push(*byte);
                chunk.extend_from_slice(b"\r\n");
                self.write(&chunk).await?;
            }
            if last {
                self.write(b"0\r\n\r\n").await?;
            }
            return Ok(());
        }
        let mut bytes = std::mem::take(prefix).into_bytes();
        bytes.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(b"\r\n");
        if last {
            bytes.extend_from_slice(b"0\r\n\r\n");
        }
        self.write(&bytes).await
    }

    async fn respond(&mut self, request: &Request) -> Flow {
        let result = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/version") => {
                let version = self.shared.lock().script.version.clone();
                self.write_json(200, &json!({ "version": version })).await
            }
            ("GET", "/api/tags") => {
                let models = self.shared.lock().script.models.clone();
                let models: Vec<Value> = models.iter().map(|m| tag(m)).collect();
                self.write_json(200, &json!({ "models": models })).await
            }
            ("GET", "/v1/models") => match self.check_key(request).await {
                Ok(true) => {
                    let models = self.shared.lock().script.models.clone();
                    let data: Vec<Value> = models
                        .iter()
                        .map(|m| json!({"id": m, "object": "model", "created": unix_now(), "owned_by": "library"}))
                        .collect();
                    self.write_json(200, &json!({"object": "list", "data": data})).await
                }
                other => other.map(|_| ()),
            },
            ("POST", "/api/chat") => return self.chat(request, false).await,
            ("POST", "/v1/chat/completions") => match self.check_key(request).await {
                Ok(true) => return self.chat(request, true).await,
                other => other.map(|_| ()),
            },
            _ => self.write_response(404, "text/plain", b"404 page not found").await,
        };
        match result {
            Ok(()) => Flow::KeepAlive,
            Err(by) => Flow::Close(by),
        }
    }

    /// `Ok(false)` after answering 401.
    async fn check_key(&mut self, request: &Request) -> Result<bool, ClosedBy> {
        let Some(key) = self.shared.lock().script.api_key.clone() else {
            return Ok(true);
        };
        if request.header("authorization") == Some(format!("Bearer {key}").as_str()) {
            return Ok(true);
        }
        let error = openai_error(401, "Invalid API key", Some("invalid_api_key"));
        self.write_json(401, &error).await?;
        Ok(false)
    }

    async fn chat(&mut self, request: &Request, openai: bool) -> Flow {
        match self.chat_inner(request, openai).await {
            Ok(flow) => flow,
            Err(by) => Flow::Close(by),
        }
    }

    async fn chat_inner(&mut self, request: &Request, openai: bool) -> Result<Flow, ClosedBy> {
        let started = Instant::now();
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            let message = "invalid character looking for beginning of value";
            let error = if openai {
                openai_error(400, message, None)
            } else {
                json!({ "error": message })
            };
            self.write_json(400, &error).await?;
            return Ok(Flow::KeepAlive);
        };
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let stream = body["stream"].as_bool().unwrap_or(!openai);
        let (reply, pulled, default_tokens) = {
            let mut state = self.shared.lock();
            let reply = state.queue.pop_front().unwrap_or_default();
            let pulled = state.script.models.iter().any(|m| same_model(&model, m));
            (reply, pulled, state.script.tokens.clone())
        };
        let tokens = reply.tokens.clone().unwrap_or(default_tokens);

        if !pulled || reply.fault == Fault::ModelNotFound {
            let message = format!("model '{model}' not found");
            let error = if openai {
                openai_error(404, &message, None)
            } else {
                json!({ "error": message })
            };
            self.write_json(404, &error).await?;
            return Ok(Flow::KeepAlive);
        }
        match &reply.fault {
            Fault::HttpError { status, message } => {
                let error = if openai {
                    openai_error(*status, message, None)
                } else {
                    json!({ "error": message })
                };
                self.write_json(*status, &error).await?;
                return Ok(Flow::KeepAlive);
            }
            Fault::StallBeforeHeaders { ms } => self.pause(tokio::time::sleep(Duration::from_millis(*ms))).await?,
            _ => {}
        }
        if messages.is_empty() && !openai {
            // The documented way to load a model: one object, done_reason "load".
            let load = json!({
                "model": model,
                "created_at": rfc3339(SystemTime::now()),
                "message": {"role": "assistant", "content": ""},
                "done_reason": "load",
                "done": true,
            });
            self.write_json(200, &load).await?;
            return Ok(Flow::KeepAlive);
        }
        let prompt_chars: usize = messages
            .iter()
            .map(|m| m["content"].as_str().map_or(0, |c| c.chars().count()))
            .sum();
        let prompt_tokens = (prompt_chars / 4 + 1) as u64;
        if !stream {
            let content: String = tokens.concat();
            let value = if openai {
                json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": unix_now(), "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens.len(), "total_tokens": prompt_tokens + tokens.len() as u64},
                })
            } else {
                let mut done = done_line(&model, prompt_tokens, tokens.len(), started);
                done["message"]["content"] = json!(content);
                done
            };
            self.write_json(200, &value).await?;
            return Ok(Flow::KeepAlive);
        }
        self.stream(&reply, &tokens, &model, prompt_tokens, started, openai)
            .await
    }

    async fn stream(
        &mut self,
        reply: &ScriptedReply,
        tokens: &[String],
        model: &str,
        prompt_tokens: u64,
        started: Instant,
        openai: bool,
    ) -> Result<Flow, ClosedBy> {
        let byte_by_byte = reply.fault == Fault::ByteByByte;
        let eol = if reply.crlf { "\r\n" } else { "\n" };
        let ping = if openai && reply.comments {
            format!(": ping{eol}{eol}")
        } else {
            String::new()
        };
        // A line (NDJSON) or a frame (SSE) with its ending(s).
        let frame = |value: &Value| -> String {
            if openai {
                format!("{ping}data: {value}{eol}{eol}")
            } else {
                format!("{value}\n")
            }
        };
        let chunk = |delta: Value, finish: Option<&str>| -> Value {
            json!({
                "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": unix_now(), "model": model,
                "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            })
        };
        // Like Go's net/http, the head goes out with the first write.
        let mut head = Self::chunked_head(if openai {
            "text/event-stream"
        } else {
            "application/x-ndjson"
        });
        if let Fault::StallBeforeFirstToken { ms } = reply.fault {
            let head = std::mem::take(&mut head);
            self.write(head.as_bytes()).await?;
            self.pause(tokio::time::sleep(Duration::from_millis(ms))).await?;
        }
        if openai {
            // llama.cpp opens with a role-only chunk.
            let first = frame(&chunk(json!({"role": "assistant", "content": null}), None));
            self.write_chunk(&mut head, first.as_bytes(), byte_by_byte, false)
                .await?;
        }
        for i in 0..=tokens.len() {
            match &reply.fault {
                Fault::StallAfter { tokens: n, ms } if *n == i => {
                    self.pause(tokio::time::sleep(Duration::from_millis(*ms))).await?;
                }
                Fault::DisconnectAfter { tokens: n } if *n == i => {
                    if !head.is_empty() {
                        let head = std::mem::take(&mut head);
                        self.write(head.as_bytes()).await?;
                    }
                    let _ = self.wr.shutdown().await;
                    return Ok(Flow::Close(ClosedBy::Server));
                }
                Fault::MalformedLineAfter { tokens: n } if *n == i => {
                    let line = if openai {
                        format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"trunc{eol}{eol}")
                    } else {
                        format!("{{\"model\":\"{model}\",\"message\":{{\"role\":\"assistant\",\"content\":\"trunc\n")
                    };
                    self.write_chunk(&mut head, line.as_bytes(), byte_by_byte, true).await?;
                    return Ok(Flow::KeepAlive);
                }
                Fault::ErrorLineAfter { tokens: n, message } if *n == i => {
                    let line = if openai {
                        frame(&openai_error(500, message, None))
                    } else {
                        frame(&json!({ "error": message }))
                    };
                    self.write_chunk(&mut head, line.as_bytes(), byte_by_byte, true).await?;
                    return Ok(Flow::KeepAlive);
                }
                Fault::Gated if i < tokens.len() => {
                    let shared = Arc::clone(&self.shared);
                    self.pause(async move {
                        if let Ok(permit) = shared.gate.acquire().await {
                            permit.forget();
                        }
                    })
                    .await?;
                }
                _ => {}
            }
            let Some(token) = tokens.get(i) else { break };
            let line = if openai {
                frame(&chunk(json!({"role": "assistant", "content": token}), None))
            } else {
                frame(&json!({
                    "model": model,
                    "created_at": rfc3339(SystemTime::now()),
                    "message": {"role": "assistant", "content": token},
                    "done": false,
                }))
            };
            self.write_chunk(&mut head, line.as_bytes(), byte_by_byte, false)
                .await?;
            self.shared.lock().tokens_sent += 1;
        }
        let end = if openai {
            let last = frame(&chunk(json!({"role": "assistant", "content": ""}), Some("stop")));
            let mut usage = chunk(json!({}), None);
            usage["choices"] = json!([]);
            usage["usage"] = json!({
                "prompt_tokens": prompt_tokens,
                "completion_tokens": tokens.len(),
                "total_tokens": prompt_tokens + tokens.len() as u64,
            });
            format!("{last}{}{ping}data: [DONE]{eol}{eol}", frame(&usage))
        } else {
            frame(&done_line(model, prompt_tokens, tokens.len(), started))
        };
        self.write_chunk(&mut head, end.as_bytes(), byte_by_byte, true).await?;
        Ok(Flow::KeepAlive)
    }
}

/// The final `/api/chat` line, with every timing field.
fn done_line(model: &str, prompt_tokens: u64, eval_count: usize, started: Instant) -> Value {
    let total = u64::try_from(started.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(3_000_000);
    json!({
        "model": model,
        "created_at": rfc3339(SystemTime::now()),
        "message": {"role": "assistant", "content": ""},
        "done_reason": "stop",
        "done": true,
        "total_duration": total,
        "load_duration": 1_000_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 1_000_000,
        "eval_count": eval_count,
        "eval_duration": total - 2_000_000,
    })
}

/// An `/api/tags` entry.
fn tag(name: &str) -> Value {
    json!({
        "name": name,
        "model": name,
        "modified_at": rfc3339(SystemTime::now()),
        "size": 2_019_393_189_u64,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    })
}

/// Ollama's OpenAI-compatible error body.
fn openai_error(status: u16, message: &str, code: Option<&str>) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "invalid_request_error",
        404 => "not_found_error",
        _ => "api_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// Ollama's rule: a name without a tag means `:latest`.
fn same_model(a: &str, b: &str) -> bool {
    fn normalize(name: &str) -> String {
        let last = name.rsplit('/').next().unwrap_or(name);
        if last.contains(':') {
            name.to_owned()
        } else {
            format!("{name}:latest")
        }
    }
    normalize(a) == normalize(b)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn split_time(t: SystemTime) -> (i64, u64, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    ((secs / 86_400) as i64, secs % 86_400, since.subsec_nanos())
}

/// `2024-09-12T21:17:29.110811123Z`, as Go formats `created_at`.
fn rfc3339(t: SystemTime) -> String {
    let (days, secs, nanos) = split_time(t);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `Thu, 12 Sep 2024 21:17:29 GMT`, the `Date` header.
fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, secs, _) = split_time(t);
    let (y, m, d) = civil(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_like_go() {
        let t = UNIX_EPOCH + Duration::from_secs(1_726_175_849) + Duration::from_nanos(110_811_123);
        assert_eq!(rfc3339(t), "2024-09-12T21:17:29.110811123Z");
        assert_eq!(http_date(t), "Thu, 12 Sep 2024 21:17:29 GMT");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn scripts_read_from_json() {
        let script: Script = serde_json::from_str(
            r#"{"models":["qwen:0.5b"],"replies":[{"tokens":["a"],"fault":{"disconnect_after":{"tokens":1}}},{"fault":"byte_by_byte"}]}"#,
        )
        .expect("parses");
        assert_eq!(script.models, vec!["qwen:0.5b"]);
        assert_eq!(script.version, Script::default().version);
        assert_eq!(script.replies[0].fault, Fault::DisconnectAfter { tokens: 1 });
        assert_eq!(script.replies[1].fault, Fault::ByteByByte);
        assert!(
            serde_json::from_str::<Script>(r#"{"modles":[]}"#).is_err(),
            "typos are refused"
        );
    }
}
