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
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        requests: 5,
        tokens: 400,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--requests" => args.requests = common::positive("--requests", &it.next().unwrap_or_default())?,
            "--tokens" => args.tokens = common::positive("--tokens", &it.next().unwrap_or_default())?,
            "--json" => args.json = true,
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
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel provides.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
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
    let mut delivered_us = Vec::new();
    let mut parsed_us = Vec::new();
    let mut tokens_total = 0_usize;
    let mut cpu_total = Duration::ZERO;
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
        tokens_total += got.len();
        cpu_total += cpu;
        generation += elapsed;
        for ((parsed, delivered), arrived) in got.iter().zip(&arrivals) {
            let arrived_ts = clock.at(*arrived);
            let delivered_ts = clock.at(*delivered);
            delivered_us.push(delivered_ts.checked_since(arrived_ts).unwrap_or_default().as_secs_f64() * 1e6);
            parsed_us.push(parsed.checked_since(arrived_ts).unwrap_or_default().as_secs_f64() * 1e6);
        }
    }
    delivered_us.sort_by(f64::total_cmp);
    parsed_us.sort_by(f64::total_cmp);
    let cpu_per_1000 = cpu_total.as_secs_f64() * 1000.0 / tokens_total.max(1) as f64 * 1000.0;
    let rate = tokens_total as f64 / generation.as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "requests": args.requests,
                "tokens": tokens_total,
                "server_tokens_per_s": rate,
                "delivery_us": {
                    "p50": percentile(&delivered_us, 50.0),
                    "p95": percentile(&delivered_us, 95.0),
                    "p99": percentile(&delivered_us, 99.0),
                    "max": delivered_us.last().copied().unwrap_or(f64::NAN),
                },
                "parsed_us": {
                    "p50": percentile(&parsed_us, 50.0),
                    "p95": percentile(&parsed_us, 95.0),
                },
                "client_cpu_ms_per_1000_tokens": cpu_per_1000,
            })
        );
    } else {
        println!(
            "{} requests, {tokens_total} tokens from llama.cpp (stories260K) at {rate:.0} tokens/s",
            args.requests
        );
        println!(
            "socket -> consumer   p50 {:7.1} us   p95 {:7.1} us   p99 {:7.1} us   max {:7.1} us",
            percentile(&delivered_us, 50.0),
            percentile(&delivered_us, 95.0),
            percentile(&delivered_us, 99.0),
            delivered_us.last().copied().unwrap_or(f64::NAN)
        );
        println!(
            "socket -> parsed     p50 {:7.1} us   p95 {:7.1} us",
            percentile(&parsed_us, 50.0),
            percentile(&parsed_us, 95.0)
        );
        println!("client CPU           {cpu_per_1000:.1} ms per 1000 tokens (goal for delivery: p95 < 1000 us)");
    }
    std::process::ExitCode::SUCCESS
}
