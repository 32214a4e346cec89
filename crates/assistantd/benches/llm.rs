//! LLM client overhead against the real llama.cpp server.
//!
//! ```sh
//! cargo bench -p assistantd --bench llm [-- --requests 5 --tokens 400 --json]
//! ```
//!
//! llama-cpp-python's OpenAI-compatible server (`scripts/llm/serve.py`, the
//! shared `stories260K.gguf`) streams replies through a relay on loopback
//! (`assistant_tests::relay`) that notes when it wrote each chunk of the
//! response to our socket. For every token the benchmark compares that
//! moment (the token's last byte arriving on the socket) with the moment
//! [`Reply::next`](assistant_llm::Reply::next) handed the token to the
//! consumer: the client's overhead (kernel loopback delivery, hyper's
//! chunked decoding, SSE framing, JSON parsing, the task wake-up). It also
//! reports the client's CPU time per 1,000 tokens: the client runs on this
//! thread alone (a current-thread runtime), so the thread's CPU clock
//! counts its work and nothing else.
//!
//! The reference, in the same run, is the official OpenAI Python client
//! (`scripts/bench/llm_reference.py`, `openai` from the project venv) making
//! the same requests through the same relay; it stamps each token with
//! `time.monotonic_ns()`, the clock `Instant` reads, so both sides are
//! measured against the same socket times. `--no-reference` skips it.

#![allow(clippy::print_stdout)] // a benchmark binary reports on stdout

#[allow(dead_code)] // shared with the ASR and TTS benches; this one uses part of it
mod common;

use std::time::{Duration, Instant};

use assistant_core::{Clock, TurnId};
use assistant_llm::{Backend, Client, Conversation, ServerConfig};
use assistant_tests::llama_server::LlamaServer;
use assistant_tests::relay::{Chunk, Relay};

struct Args {
    requests: usize,
    tokens: usize,
    json: bool,
    reference: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        requests: 5,
        tokens: 400,
        json: false,
        reference: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--requests" => args.requests = common::positive("--requests", &it.next().unwrap_or_default())?,
            "--tokens" => args.tokens = common::positive("--tokens", &it.next().unwrap_or_default())?,
            "--json" => args.json = true,
            "--no-reference" => args.reference = false,
            "--bench" => {}
            other => {
                return Err(format!(
                    "unknown argument {other}; expected --requests N, --tokens N, --json"
                ));
            }
        }
    }
    Ok(args)
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    common::clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// When the last byte of each non-empty content event reached our socket,
/// in stream order.
fn content_arrivals(chunks: &[Chunk]) -> Vec<Instant> {
    let mut arrivals = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(&chunk.bytes);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data: ") else {
                continue;
            };
            let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
                continue;
            };
            let content = event["choices"][0]["delta"]["content"].as_str().unwrap_or("");
            if !content.is_empty() {
                arrivals.push(chunk.written_at);
            }
        }
    }
    arrivals
}

/// CLOCK_MONOTONIC now, in nanoseconds: what `Instant` and Python's
/// `time.monotonic_ns()` both read on Linux.
fn monotonic_ns() -> u64 {
    u64::try_from(common::clock(libc::CLOCK_MONOTONIC).as_nanos()).unwrap_or(0)
}

/// What one client measured.
#[derive(Default)]
struct Side {
    delivered_us: Vec<f64>,
    tokens: usize,
    cpu: Duration,
}

impl Side {
    fn cpu_per_1000(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.tokens.max(1) as f64 * 1000.0
    }

    fn summary(&mut self) -> serde_json::Value {
        self.delivered_us.sort_by(f64::total_cmp);
        serde_json::json!({
            "tokens": self.tokens,
            "p50_us": percentile(&self.delivered_us, 50.0),
            "p95_us": percentile(&self.delivered_us, 95.0),
            "p99_us": percentile(&self.delivered_us, 99.0),
            "max_us": self.delivered_us.last().copied().unwrap_or(f64::NAN),
            "cpu_ms_per_1000_tokens": self.cpu_per_1000(),
        })
    }
}

/// The official OpenAI Python client, same requests, same relay.
fn reference(relay: &Relay, args: &Args, anchor: (Instant, u64)) -> Result<(String, Side), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    relay.clear();
    let out = std::process::Command::new(&python)
        .arg(root.join("scripts/bench/llm_reference.py"))
        .args(["--url", &format!("{}/v1", relay.url()), "--model", LlamaServer::MODEL])
        .args([
            "--requests",
            &args.requests.to_string(),
            "--tokens",
            &args.tokens.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e} (run scripts/bootstrap)", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the reference client failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        ));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("the reference printed no JSON: {e}"))?;
    let requests = report["requests"].as_array().cloned().unwrap_or_default();
    let arrivals = content_arrivals(&relay.chunks());
    let delivered: usize = requests
        .iter()
        .map(|r| r["delivered_ns"].as_array().map_or(0, Vec::len))
        .sum();
    if arrivals.len() != delivered {
        return Err(format!(
            "{} content events crossed the socket but the reference delivered {delivered} tokens",
            arrivals.len()
        ));
    }
    let mut side = Side::default();
    let mut next = 0;
    for (i, request) in requests.iter().enumerate() {
        let stamps: Vec<u64> = request["delivered_ns"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default();
        let arrived = &arrivals[next..next + stamps.len()];
        next += stamps.len();
        if i == 0 {
            continue; // warm-up, as on our side
        }
        side.tokens += stamps.len();
        side.cpu += Duration::from_secs_f64(request["cpu_s"].as_f64().unwrap_or(0.0));
        for (delivered, arrived) in stamps.iter().zip(arrived) {
            let arrived_ns = anchor.1 + u64::try_from(arrived.duration_since(anchor.0).as_nanos()).unwrap_or(0);
            side.delivered_us
                .push(delivered.saturating_sub(arrived_ns) as f64 / 1e3);
        }
    }
    let client = report["client"].as_str().unwrap_or("openai").to_owned();
    Ok((client, side))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("llm bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let Some(server) = LlamaServer::shared("llm bench") else {
        eprintln!("llm bench: needs ../shared/data/llm/stories260K.gguf (set ASSISTANTD_SHARED_DATA)");
        return std::process::ExitCode::from(2);
    };
    let relay = Relay::start(server.port());
    let mut config = ServerConfig::new(Backend::OpenAi, relay.url(), LlamaServer::MODEL);
    config.options.max_tokens = u32::try_from(args.tokens).ok();
    config.options.temperature = Some(0.8);
    let client = match Client::new(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("llm bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("llm bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let clock = Clock::start();
    let mut ours = Side::default();
    let mut parsed_us = Vec::new();
    let mut generation = Duration::ZERO;
    // One unmeasured request warms the connection pool and the server.
    for request in 0..=args.requests {
        let mut conversation = Conversation::new(None, 10_000);
        conversation.push_user(format!("Once upon a time, story {request}"));
        relay.clear();
        let cpu_before = thread_cpu();
        let started = Instant::now();
        let result = runtime.block_on(async {
            let mut reply = client
                .chat(TurnId(request as u64), &conversation.messages(), &clock)
                .await?;
            let mut got = Vec::new();
            while let Some(token) = reply.next().await {
                let token = token?;
                got.push((token.at, Instant::now()));
            }
            Ok::<_, assistant_llm::LlmError>(got)
        });
        let cpu = thread_cpu().saturating_sub(cpu_before);
        let elapsed = started.elapsed();
        let got = match result {
            Ok(g) => g,
            Err(e) => {
                eprintln!("llm bench: request {request}: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        let arrivals = content_arrivals(&relay.chunks());
        if arrivals.len() != got.len() {
            eprintln!(
                "llm bench: request {request}: {} content events crossed the socket but {} tokens were delivered",
                arrivals.len(),
                got.len()
            );
            return std::process::ExitCode::from(1);
        }
        if request == 0 {
            continue;
        }
        ours.tokens += got.len();
        ours.cpu += cpu;
        generation += elapsed;
        for ((parsed, delivered), arrived) in got.iter().zip(&arrivals) {
            let arrived_ts = clock.at(*arrived);
            let delivered_ts = clock.at(*delivered);
            ours.delivered_us
                .push(delivered_ts.checked_since(arrived_ts).unwrap_or_default().as_secs_f64() * 1e6);
            parsed_us.push(parsed.checked_since(arrived_ts).unwrap_or_default().as_secs_f64() * 1e6);
        }
    }
    let rate = ours.tokens as f64 / generation.as_secs_f64();
    let mut theirs = if args.reference {
        let anchor = (Instant::now(), monotonic_ns());
        match reference(&relay, &args, anchor) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("llm bench: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    } else {
        None
    };
    parsed_us.sort_by(f64::total_cmp);
    let ours_summary = ours.summary();
    let theirs_summary = theirs.as_mut().map(|(client, side)| (client.clone(), side.summary()));
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "requests": args.requests,
                "server_tokens_per_s": rate,
                "ours": ours_summary,
                "ours_parsed_us": {"p50": percentile(&parsed_us, 50.0), "p95": percentile(&parsed_us, 95.0)},
                "reference": theirs_summary.as_ref().map(|(client, summary)| serde_json::json!({"client": client, "figures": summary})),
            })
        );
        return std::process::ExitCode::SUCCESS;
    }
    println!(
        "{} requests of up to {} tokens from llama.cpp (stories260K), {} measured tokens at {rate:.0} tokens/s",
        args.requests, args.tokens, ours.tokens
    );
    println!("delay from the token's last byte on the socket to the consumer; client CPU on its own thread");
    let row = |name: &str, key: &str, unit: &str| {
        let a = ours_summary[key].as_f64().unwrap_or(f64::NAN);
        match &theirs_summary {
            Some((_, t)) => {
                let b = t[key].as_f64().unwrap_or(f64::NAN);
                println!(
                    "  {name:<26} {a:>10.1} {unit:<3} {b:>10.1} {unit:<3}   ratio {:.3}",
                    a / b
                );
            }
            None => println!("  {name:<26} {a:>10.1} {unit}"),
        }
    };
    match &theirs_summary {
        Some((client, _)) => println!("  {:<26} {:>14} {:>14}", "", "ours", client),
        None => println!("  {:<26} {:>14}", "", "ours"),
    }
    row("p50", "p50_us", "us");
    row("p95 (goal < 1000 us)", "p95_us", "us");
    row("p99", "p99_us", "us");
    row("max", "max_us", "us");
    row("CPU per 1000 tokens", "cpu_ms_per_1000_tokens", "ms");
    println!(
        "  ours, socket -> parsed: p50 {:.1} us, p95 {:.1} us",
        percentile(&parsed_us, 50.0),
        percentile(&parsed_us, 95.0)
    );
    std::process::ExitCode::SUCCESS
}
