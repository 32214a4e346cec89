//! `assistantd ask` as a user runs it: against the real llama.cpp server
//! (OpenAI-compatible) with the shared stories260K GGUF, against a server
//! that speaks Ollama's API (`assistant_tests::fake_ollama`), with the
//! embedded model (the real Gemma 3 270M from the registry models), and
//! with `backend = "auto"` (the jarvis profile's) choosing between them.

use std::process::{Command, Output};

use assistant_tests::llama_server::LlamaServer;
use assistant_tests::real_models::RealModels;

fn assistantd(args: &[&str]) -> Output {
    assistantd_logging(args, "error")
}

fn assistantd_logging(args: &[&str], log: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assistantd"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env("ASSISTANTD_LOG", log)
        .output()
        .expect("assistantd runs")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn ask_answers_with_the_embedded_model_by_name_or_file() {
    let Some(models) = RealModels::installed("ask_answers_with_the_embedded_model_by_name_or_file") else {
        return;
    };
    let store = models.store_dir().to_string_lossy().into_owned();
    let out = assistantd(&[
        "ask",
        "What is the capital of France?",
        "--backend",
        "embedded",
        "--model",
        "llm/gemma-3-270m-q4_k_m",
        "--models-dir",
        &store,
        "--json",
        "--warm-up",
        "--max-tokens",
        "24",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    let warm_up = &lines[0];
    assert_eq!(warm_up["event"], "warm_up", "{lines:?}");
    assert!(warm_up["ms"].as_f64().is_some_and(|ms| ms > 0.0), "{warm_up}");
    assert!(warm_up["resident_bytes"].as_u64().is_some_and(|b| b > 0), "{warm_up}");
    assert_eq!(warm_up["file_bytes"], 253_113_024);
    let (done, tokens) = lines[1..].split_last().expect("lines");
    assert_eq!(done["event"], "done");
    assert!(!tokens.is_empty() && tokens.iter().all(|t| t["event"] == "token"));
    assert_eq!(done["tokens"].as_u64(), Some(tokens.len() as u64));
    assert!(tokens.len() <= 24, "{done}");
    assert_eq!(done["prompt_cached"], 0, "{done}");
    assert_eq!(done["prompt_evaluated"], done["prompt_tokens"], "{done}");

    // A .gguf path works the same, and the plain output names the model
    // and its load figures.
    let file = models.path("llm/gemma-3-270m-q4_k_m");
    let file = file.to_string_lossy();
    let out = assistantd(&[
        "ask",
        "Hello!",
        "--backend",
        "embedded",
        "--model",
        &file,
        "--warm-up",
        "--max-tokens",
        "16",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    assert!(
        stderr.contains("embedded model gemma-3-270m-q4_k_m.gguf (268 M parameters, 253 MB) loaded in")
            && stderr.contains("resident +")
            && stderr.contains("chat template gemma (the GGUF has none)")
            && stderr.contains("from the embedded model gemma-3-270m-q4_k_m.gguf"),
        "{stderr}"
    );

    // A file that is not a GGUF: the file and what is wrong.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bogus = dir.path().join("bogus.gguf");
    std::fs::write(&bogus, "not a model").expect("written");
    let out = assistantd(&[
        "ask",
        "Hi",
        "--backend",
        "embedded",
        "--model",
        &bogus.to_string_lossy(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bogus.gguf") && stderr.contains("not a GGUF"),
        "{stderr}"
    );
}

#[test]
fn auto_falls_back_to_the_embedded_model_and_says_why() {
    let Some(models) = RealModels::installed("auto_falls_back_to_the_embedded_model_and_says_why") else {
        return;
    };
    let store = models.store_dir().to_string_lossy().into_owned();
    let port = assistant_tests::llama_server::free_port();
    let url = format!("http://127.0.0.1:{port}");
    // The jarvis profile: backend auto, Qwen first (not installed here),
    // then Gemma.
    let out = assistantd_logging(
        &[
            "ask",
            "Hello!",
            "--llm-url",
            &url,
            "--models-dir",
            &store,
            "--max-tokens",
            "16",
        ],
        "warn",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("llm: ")).collect();
    assert_eq!(said.len(), 2, "the choice, and the note on the model: {stderr}");
    assert!(
        said[0].contains(&format!("backend auto: the model server at {url} does not answer (connection refused); using the embedded model llm/gemma-3-270m-q4_k_m")),
        "{stderr}"
    );
    assert!(
        said[1].contains("a base model") && said[1].contains("llm/qwen2.5-0.5b-instruct-q4_k_m is not installed"),
        "{stderr}"
    );

    // Nothing to fall back to: both reasons, and the fixes.
    let empty = tempfile::tempdir().expect("a temporary folder");
    let out = assistantd(&[
        "ask",
        "Hello!",
        "--llm-url",
        &url,
        "--models-dir",
        &empty.path().to_string_lossy(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not answer (connection refused)")
            && stderr.contains("there is no embedded model")
            && stderr.contains("assistantd models fetch llm/qwen2.5-0.5b-instruct-q4_k_m"),
        "{stderr}"
    );
}

#[test]
fn auto_uses_a_server_that_answers_whichever_protocol_it_speaks() {
    let Some(server) = LlamaServer::shared("auto_uses_a_server_that_answers_whichever_protocol_it_speaks") else {
        return;
    };
    let _only_us = server.exclusive();
    let url = server.url();
    let empty = tempfile::tempdir().expect("a temporary folder");
    let out = assistantd_logging(
        &[
            "ask",
            "Once upon a time",
            "--llm-url",
            &url,
            "--model",
            LlamaServer::MODEL,
            "--models-dir",
            &empty.path().to_string_lossy(),
            "--max-tokens",
            "16",
        ],
        "info",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "backend auto: the OpenAI-compatible server at {url} answers and has model '{}'; using it",
            LlamaServer::MODEL
        )) && stderr.contains("from the OpenAI-compatible server"),
        "{stderr}"
    );
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
    let out = assistantd(&[
        "ask",
        "hello",
        "--backend",
        "ollama",
        "--llm-url",
        &url,
        "--model",
        "llama3.2",
    ]);
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
    let out = assistantd(&[
        "ask",
        "Why is the sky blue?",
        "--backend",
        "ollama",
        "--llm-url",
        &url,
        "--model",
        "llama3.2",
    ]);
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

    let out = assistantd(&[
        "ask",
        "hi",
        "--backend",
        "ollama",
        "--llm-url",
        &url,
        "--model",
        "mistral",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ollama pull mistral") && stderr.contains("llama3.2"),
        "{stderr}"
    );
}
