//! `assistantd ask` as a user runs it: against the real llama.cpp server
//! (OpenAI-compatible) with the shared stories260K GGUF, and against a
//! server that speaks Ollama's API (`assistant_tests::fake_ollama`).

use std::process::{Command, Output};

use assistant_tests::llama_server::LlamaServer;

fn assistantd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env("ASSISTANTD_LOG", "error")
        .output()
        .expect("assistantd runs")
}

#[test]
fn ask_streams_a_reply_from_the_real_llama_cpp_server() {
    let Some(server) = LlamaServer::shared("ask_streams_a_reply_from_the_real_llama_cpp_server") else {
        return;
    };
    let url = server.url();
    let common = [
        "--backend",
        "openai",
        "--llm-url",
        url.as_str(),
        "--model",
        LlamaServer::MODEL,
    ];

    let mut args = vec!["ask", "Once upon a time", "--json", "--warm-up"];
    args.extend(common);
    let out = assistantd(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["event"], "warm_up", "{lines:?}");
    assert!(lines[0]["ms"].as_f64().is_some_and(|ms| ms > 0.0));
    let (done, tokens) = lines[1..].split_last().expect("lines");
    assert_eq!(done["event"], "done");
    assert!(!tokens.is_empty() && tokens.iter().all(|t| t["event"] == "token"));
    assert_eq!(done["tokens"].as_u64(), Some(tokens.len() as u64));
    // The jarvis profile caps replies at 200 tokens.
    assert!(
        tokens.len() <= 200 && done["reason"] == "length" || done["reason"] == "stop",
        "{done}"
    );
    let first = done["first_token_ms"].as_f64().expect("a first-token time");
    let stamps: Vec<f64> = tokens.iter().filter_map(|t| t["at_ms"].as_f64()).collect();
    assert!(
        (stamps[0] - first).abs() < 1.0 && stamps.windows(2).all(|w| w[0] <= w[1]),
        "{stamps:?}"
    );

    // Plain: the text on stdout, a summary on stderr.
    let mut args = vec!["ask", "Once upon a time"];
    args.extend(common);
    let out = assistantd(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    assert!(
        stderr.contains("from the OpenAI-compatible server") && stderr.contains("first token after"),
        "{stderr}"
    );
}

#[test]
fn ask_fails_with_the_fix_when_no_server_listens() {
    let port = assistant_tests::llama_server::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = assistantd(&["ask", "hello", "--llm-url", &url, "--model", "llama3.2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to the Ollama server at {url}"))
            && stderr.contains("ollama serve")
            && stderr.contains("[llm] url"),
        "{stderr}"
    );
    let out = assistantd(&["ask", "hello", "--profile", "/nonexistent/profile.toml"]);
    assert!(!out.status.success());
}

#[test]
fn ask_speaks_ollamas_protocol_and_names_a_missing_model() {
    use assistant_tests::fake_ollama::{FakeOllama, Script};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(FakeOllama::start_with(Script {
        tokens: vec!["The sky ".into(), "is blue ".into(), "because…".into()],
        ..Script::default()
    }));
    let url = server.url();

    // The jarvis profile's own settings go out: its system prompt, options
    // and keep_alive, to the model named on the command line.
    let out = assistantd(&["ask", "Why is the sky blue?", "--llm-url", &url, "--model", "llama3.2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "The sky is blue because…\n");
    assert!(stderr.contains("3 token(s) from the Ollama server"), "{stderr}");
    let chats = server.chat_requests();
    let body = &chats.last().expect("a chat request").body;
    assert_eq!(body["model"], "llama3.2");
    assert_eq!(body["stream"], true);
    assert_eq!(body["keep_alive"], "30m");
    assert_eq!(body["options"]["num_predict"], 200);
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .is_some_and(|s| s.starts_with("You are Jarvis"))
    );
    assert_eq!(body["messages"][1]["content"], "Why is the sky blue?");

    let out = assistantd(&["ask", "hi", "--llm-url", &url, "--model", "mistral"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ollama pull mistral") && stderr.contains("llama3.2"),
        "{stderr}"
    );
}
