//! `fake-ollama`: the workspace's fake Ollama server as a process, for
//! tests that run the daemon as a binary.
//!
//! ```text
//! fake-ollama [--host 127.0.0.1] [--port 11434] [--script JSON | --script-file PATH]
//! ```
//!
//! The script is `assistant_tests::fake_ollama::Script` as JSON, e.g.
//! `{"models":["llama3.2:latest"],"tokens":["Hi","!"],"replies":[{"fault":{"disconnect_after":{"tokens":1}}}]}`.
//! Port 0 picks a free port. Once listening it prints
//! `listening on http://HOST:PORT` on stdout, then serves until killed.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use assistant_tests::fake_ollama::{FakeOllama, Script};

const USAGE: &str = "usage: fake-ollama [--host 127.0.0.1] [--port 11434] [--script JSON | --script-file PATH]";

fn parse() -> Result<(SocketAddr, Script), String> {
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port = 11434_u16;
    let mut script = Script::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--host" => host = value()?.parse().map_err(|e| format!("--host: {e}"))?,
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--script" => script = serde_json::from_str(&value()?).map_err(|e| format!("--script: {e}"))?,
            "--script-file" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("--script-file {path}: {e}"))?;
                script = serde_json::from_str(&text).map_err(|e| format!("--script-file {path}: {e}"))?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok((SocketAddr::new(host, port), script))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (addr, script) = match parse() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let server = match FakeOllama::bind(addr, script).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("fake-ollama: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "listening on {}", server.url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
