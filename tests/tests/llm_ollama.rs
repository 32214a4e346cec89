//! The LLM stage against the fake Ollama server (`assistant_tests::fake_ollama`):
//! streaming without buffering, cancellation by drop, and every fault a
//! model server can produce — each a typed error whose message names the
//! fix, after which the same client works again.
//!
//! No test asserts wall-clock speed; waits for an event use a generous
//! deadline ([`DEADLINE`]), and stalls are long on the server side and short
//! on the client side so the tests stay fast.

use std::io::BufRead as _;
use std::time::Duration;

use assistant_core::{Clock, Token, TurnId};
use assistant_llm::{
    Backend, Client, Conversation, GenerationOptions, LlmError, Message, Reply, Retry, ServerConfig, Timeouts,
};
use assistant_tests::fake_ollama::{ClosedBy, FakeOllama, Fault, Script, ScriptedReply};
use serde_json::json;

/// The bound for something that should happen promptly.
const DEADLINE: Duration = Duration::from_secs(5);
/// A client-side timeout short enough to keep the tests fast, long enough
/// for a normal reply on a loaded machine (the recovery checks use it too).
const SHORT: Duration = Duration::from_secs(1);
/// A server-side stall far longer than any client timeout here.
const LONG_MS: u64 = 10_000;

fn config(server: &FakeOllama) -> ServerConfig {
    let mut config = ServerConfig::new(Backend::Ollama, server.url(), "llama3.2");
    config.timeouts = Timeouts {
        connect: Duration::from_secs(2),
        first_token: DEADLINE,
        idle: DEADLINE,
        warm_up: DEADLINE,
    };
    config.retry = Retry {
        attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    config
}

fn openai_config(server: &FakeOllama) -> ServerConfig {
    let mut config = config(server);
    config.backend = Backend::OpenAi;
    config.url = format!("{}/v1", server.url());
    config
}

fn client(config: ServerConfig) -> Client {
    Client::new(config).expect("a valid configuration")
}

async fn ask(client: &Client, clock: &Clock, text: &str) -> Result<Reply, LlmError> {
    client.chat(TurnId(1), &[Message::user(text)], clock).await
}

/// Reads a reply to its end: the tokens, and the error that ended it.
async fn drain(reply: &mut Reply) -> (Vec<Token>, Option<LlmError>) {
    let mut tokens = Vec::new();
    while let Some(item) = reply.next().await {
        match item {
            Ok(token) => tokens.push(token),
            Err(error) => {
                assert!(reply.next().await.is_none(), "an error ends the stream");
                return (tokens, Some(error));
            }
        }
    }
    (tokens, None)
}

fn texts(tokens: &[Token]) -> Vec<&str> {
    tokens.iter().map(|t| t.text.as_str()).collect()
}

/// The same client gets a normal reply: it was not left broken.
async fn assert_recovers(server: &FakeOllama, client: &Client, clock: &Clock) {
    server.push(ScriptedReply::tokens(["fine", " again"]));
    let mut reply = ask(client, clock, "again").await.expect("the next request succeeds");
    let (tokens, error) = drain(&mut reply).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(texts(&tokens), ["fine", " again"]);
    assert!(reply.finish().is_some());
}

#[tokio::test]
async fn tokens_stream_in_order_with_stats_and_the_request_is_ollamas() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::tokens(["The", " sky", " is", " blue."]));
    let mut config = config(&server);
    config.keep_alive = Some("30m".into());
    config.options = GenerationOptions {
        temperature: Some(0.5),
        top_p: None,
        seed: Some(42),
        max_tokens: Some(64),
        num_ctx: Some(2048),
        stop: vec!["User:".into()],
    };
    let client = client(config);
    let clock = Clock::start();
    let mut conversation = Conversation::new(Some("Be brief.".into()), 4_000);
    conversation.push_user("hi");
    conversation.record_reply("Hello!");
    conversation.push_user("Why is the sky blue?");

    let mut reply = client
        .chat(TurnId(7), &conversation.messages(), &clock)
        .await
        .expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(texts(&tokens), ["The", " sky", " is", " blue."]);
    assert!(tokens.iter().all(|t| t.turn == TurnId(7)));
    assert!(
        tokens.windows(2).all(|w| w[0].at <= w[1].at),
        "stamped in arrival order"
    );
    assert_eq!(reply.text(), "The sky is blue.");
    assert_eq!(reply.turn(), TurnId(7));

    let finish = reply.finish().expect("a finished reply");
    assert_eq!(finish.reason.as_deref(), Some("stop"));
    assert_eq!(finish.tokens, 4);
    let ttft = finish.time_to_first_token.expect("a first token");
    assert!(ttft <= finish.elapsed);
    assert!(tokens[3].at <= clock.now(), "stamped on the given clock");
    let stats = &finish.server;
    assert_eq!(stats.completion_tokens, Some(4));
    assert!(stats.prompt_tokens.is_some() && stats.total.is_some() && stats.load.is_some());
    assert!(stats.prompt_eval.is_some() && stats.eval.is_some());

    let requests = server.chat_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/api/chat");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[0].body,
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Why is the sky blue?"},
            ],
            "stream": true,
            "options": {"temperature": 0.5, "seed": 42, "num_predict": 64, "num_ctx": 2048, "stop": ["User:"]},
            "keep_alive": "30m",
        })
    );
}

#[tokio::test]
async fn each_token_is_delivered_before_the_next_is_sent() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::tokens(["one", " two", " three"]).with_fault(Fault::Gated));
    let client = client(config(&server));
    let clock = Clock::start();
    // Ollama sends its headers with the first token: let that one go.
    server.release(1);
    let mut reply = ask(&client, &clock, "count").await.expect("accepted");
    for (k, expected) in ["one", " two", " three"].into_iter().enumerate() {
        let token = reply.next().await.expect("a token").expect("no error");
        assert_eq!(token.text, expected);
        // The server is held at its gate: nothing after this token was sent,
        // so the client cannot have been waiting for more bytes.
        assert!(
            server.tokens_sent() <= k as u64 + 1,
            "token {k} arrived before the next was sent"
        );
        server.release(1);
    }
    assert!(reply.next().await.is_none());
    assert_eq!(reply.finish().map(|f| f.tokens), Some(3));
}

#[tokio::test]
async fn tokens_split_at_every_byte_arrive_whole() {
    let server = FakeOllama::start().await;
    let words = ["é", "日本", "🎉", " naïve", "\n", "\"quoted\" \\ back"];
    server.push(ScriptedReply::tokens(words).with_fault(Fault::ByteByByte));
    let client = client(config(&server));
    let clock = Clock::start();
    let mut reply = ask(&client, &clock, "unicode").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(texts(&tokens), words);
    assert_eq!(reply.finish().and_then(|f| f.reason.as_deref()), Some("stop"));
}

#[tokio::test]
async fn a_five_megabyte_reply_streams_through() {
    let server = FakeOllama::start().await;
    let words: Vec<String> = (0..5 * 1024).map(|i| format!("{i:08}{}", "ü".repeat(508))).collect();
    assert!(words.iter().all(|w| w.len() == 1024));
    server.push(ScriptedReply::tokens(words.clone()));
    let client = client(config(&server));
    let clock = Clock::start();
    let mut reply = ask(&client, &clock, "long").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(tokens.len(), words.len());
    assert_eq!(reply.text().len(), 5 << 20);
    assert_eq!(reply.text(), words.concat());
}

#[tokio::test]
async fn dropping_the_reply_closes_its_connection() {
    let server = FakeOllama::start().await;
    server.push(
        ScriptedReply::tokens(["Once", " upon", " a", " time"]).with_fault(Fault::StallAfter { tokens: 2, ms: 60_000 }),
    );
    let client = client(config(&server));
    let clock = Clock::start();
    let mut conversation = Conversation::new(None, 1_000);
    conversation.push_user("tell me a story");
    let mut reply = client
        .chat(TurnId(1), &conversation.messages(), &clock)
        .await
        .expect("accepted");
    let mut spoken = String::new();
    for _ in 0..2 {
        spoken.push_str(&reply.next().await.expect("a token").expect("no error").text);
    }
    let connection = server.chat_requests()[0].connection;
    assert_eq!(server.closed(connection), None, "open while streaming");

    drop(reply); // barge-in
    assert_eq!(
        server.wait_closed(connection, DEADLINE).await,
        Some(ClosedBy::Client),
        "the server saw the client hang up"
    );
    assert!(conversation.record_interrupted(&spoken));
    assert_eq!(conversation.messages().last(), Some(&Message::assistant("Once upon")));
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn a_missing_model_says_ollama_pull_and_works_once_pulled() {
    let server = FakeOllama::start().await;
    let mut config = config(&server);
    config.model = "qwen2.5:0.5b".into();
    let client = client(config);
    let clock = Clock::start();

    let error = ask(&client, &clock, "hi").await.expect_err("not pulled");
    match &error {
        LlmError::ModelNotFound { model, available, .. } => {
            assert_eq!(model, "qwen2.5:0.5b");
            assert_eq!(available, &["llama3.2:latest"]);
        }
        other => panic!("expected ModelNotFound, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("run `ollama pull qwen2.5:0.5b`"), "{message}");
    assert!(message.contains(&server.url()), "{message}");
    assert!(!error.is_transient());
    assert!(matches!(
        client.check_model().await,
        Err(LlmError::ModelNotFound { .. })
    ));

    server.add_model("qwen2.5:0.5b");
    client.check_model().await.expect("pulled now");
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn a_server_error_before_the_reply_is_an_http_error() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::fault(Fault::HttpError {
        status: 500,
        message: "llama runner process has terminated: signal: killed".into(),
    }));
    let client = client(config(&server));
    let clock = Clock::start();
    let error = ask(&client, &clock, "hi").await.expect_err("500");
    match &error {
        LlmError::Http { status, message, .. } => {
            assert_eq!(*status, 500);
            assert_eq!(message, "llama runner process has terminated: signal: killed");
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert!(error.is_transient());
    assert!(error.to_string().contains("check the server's log"), "{error}");
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported_and_the_client_recovers() {
    let mut server = FakeOllama::start().await;
    let client = client(config(&server));
    let clock = Clock::start();
    server.stop().await;

    let error = ask(&client, &clock, "hi").await.expect_err("nobody listening");
    match &error {
        LlmError::Connect { reason, attempts, .. } => {
            assert_eq!(reason, "connection refused");
            assert_eq!(*attempts, 2, "retried once");
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("is `ollama serve` running?"), "{message}");
    assert!(message.contains("set [llm] url"), "{message}");
    assert!(error.is_transient());

    server.restart().await;
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn a_server_that_comes_up_during_the_retries_is_reached() {
    let mut server = FakeOllama::start().await;
    let mut config = config(&server);
    config.retry = Retry {
        attempts: 200,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(20),
    };
    let client = client(config);
    let clock = Clock::start();
    server.stop().await;
    let (reply, ()) = tokio::join!(ask(&client, &clock, "hi"), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        server.restart().await;
    });
    let mut reply = reply.expect("reached after the restart");
    let (tokens, error) = drain(&mut reply).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(texts(&tokens), ["Hello", " there", "!"]);
    assert_eq!(server.chat_requests().len(), 1);
}

#[tokio::test]
async fn a_connection_that_never_completes_is_a_connect_timeout() {
    // A listener whose accept queue is full drops new SYNs: connect hangs.
    let wait = Duration::from_millis(300);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(([127, 0, 0, 1], 0).into()).expect("bind");
    let addr = socket.local_addr().expect("address");
    let _listener = socket.listen(0).expect("listen");
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(wait, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    assert!(
        fillers.len() < 8,
        "the kernel accepted past the backlog: no way to make connect hang here"
    );
    let mut config = ServerConfig::new(Backend::Ollama, format!("http://{addr}"), "llama3.2");
    config.timeouts.connect = wait;
    config.retry.attempts = 2;
    config.retry.initial_backoff = Duration::from_millis(10);
    let client = client(config);
    let error = ask(&client, &Clock::start(), "hi").await.expect_err("no connection");
    assert!(
        matches!(error, LlmError::ConnectTimeout { attempts: 2, after, .. } if after == wait),
        "{error:?}"
    );
    assert!(error.to_string().contains("raise [llm] connect_timeout_s"), "{error}");
}

#[tokio::test]
async fn a_disconnect_mid_reply_is_reported_after_its_tokens_and_never_retried() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::tokens(["a", "b", "c"]).with_fault(Fault::DisconnectAfter { tokens: 2 }));
    let client = client(config(&server));
    let clock = Clock::start();
    let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert_eq!(texts(&tokens), ["a", "b"]);
    match &error {
        Some(LlmError::Disconnected { tokens: 2, .. }) => {}
        other => panic!("expected Disconnected after 2 tokens, got {other:?}"),
    }
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("broke off after 2 tokens"), "{message}");
    assert!(message.contains("check the server's log"), "{message}");
    assert_eq!(reply.finish(), None);
    assert_eq!(server.chat_requests().len(), 1, "a reply that began is never retried");

    // Headers, then the connection drops before any token: still not retried.
    server.push(ScriptedReply::fault(Fault::DisconnectAfter { tokens: 0 }));
    let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert!(tokens.is_empty());
    assert!(
        matches!(error, Some(LlmError::Disconnected { tokens: 0, .. })),
        "{error:?}"
    );
    assert_eq!(server.chat_requests().len(), 2);
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn a_malformed_line_is_a_protocol_error() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::tokens(["a", "b"]).with_fault(Fault::MalformedLineAfter { tokens: 1 }));
    let client = client(config(&server));
    let clock = Clock::start();
    let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert_eq!(texts(&tokens), ["a"]);
    let Some(error @ LlmError::Protocol { .. }) = error else {
        panic!("expected Protocol, got {error:?}");
    };
    let message = error.to_string();
    assert!(message.contains("not Ollama's NDJSON"), "{message}");
    assert!(message.contains("[llm] backend"), "{message}");
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn an_error_line_mid_reply_is_a_server_error() {
    let server = FakeOllama::start().await;
    let said = "an error was encountered while running the model: unexpected EOF";
    server.push(
        ScriptedReply::tokens(["a", "b", "c"]).with_fault(Fault::ErrorLineAfter {
            tokens: 2,
            message: said.into(),
        }),
    );
    let client = client(config(&server));
    let clock = Clock::start();
    let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert_eq!(texts(&tokens), ["a", "b"]);
    match &error {
        Some(LlmError::Server { message, tokens: 2, .. }) => assert_eq!(message, said),
        other => panic!("expected Server after 2 tokens, got {other:?}"),
    }
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn a_model_still_loading_hits_the_first_token_timeout() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::fault(Fault::StallBeforeHeaders { ms: LONG_MS }));
    let mut config = config(&server);
    config.timeouts.first_token = SHORT;
    let client = client(config);
    let clock = Clock::start();
    let error = ask(&client, &clock, "hi").await.expect_err("no headers in time");
    assert!(
        matches!(error, LlmError::FirstTokenTimeout { after, .. } if after == SHORT),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("no first token within 1 s"), "{message}");
    assert!(message.contains("raise [llm] first_token_timeout_s"), "{message}");
    let connection = server.chat_requests()[0].connection;
    assert_eq!(server.wait_closed(connection, DEADLINE).await, Some(ClosedBy::Client));
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn headers_then_silence_hit_the_first_token_timeout() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::fault(Fault::StallBeforeFirstToken { ms: LONG_MS }));
    let mut config = config(&server);
    config.timeouts.first_token = SHORT;
    let client = client(config);
    let clock = Clock::start();
    let mut reply = ask(&client, &clock, "hi").await.expect("headers arrive");
    let (tokens, error) = drain(&mut reply).await;
    assert!(tokens.is_empty());
    assert!(matches!(error, Some(LlmError::FirstTokenTimeout { .. })), "{error:?}");
    let connection = server.chat_requests()[0].connection;
    assert_eq!(server.wait_closed(connection, DEADLINE).await, Some(ClosedBy::Client));
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn a_stall_between_tokens_hits_the_idle_timeout() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::tokens(["a", "b"]).with_fault(Fault::StallAfter { tokens: 1, ms: LONG_MS }));
    let mut config = config(&server);
    config.timeouts.idle = SHORT;
    let client = client(config);
    let clock = Clock::start();
    let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert_eq!(texts(&tokens), ["a"]);
    let Some(error) = error else {
        panic!("expected an idle timeout")
    };
    assert!(matches!(error, LlmError::IdleTimeout { tokens: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("raise [llm] idle_timeout_s"), "{error}");
    assert_eq!(reply.text(), "a");
    assert_recovers(&server, &client, &clock).await;
}

#[tokio::test]
async fn warm_up_loads_the_model_with_the_chat_options_and_reports_how_long() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::fault(Fault::StallBeforeHeaders { ms: 200 }));
    let mut config = config(&server);
    config.keep_alive = Some("-1".into());
    config.options.num_ctx = Some(2048);
    let client = client(config.clone());
    let took = client.warm_up().await.expect("loaded");
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert_eq!(
        server.chat_requests()[0].body,
        json!({"model": "llama3.2", "messages": [], "stream": false, "options": {"num_ctx": 2048}, "keep_alive": -1})
    );

    // A load slower than the warm-up timeout.
    server.push(ScriptedReply::fault(Fault::StallBeforeHeaders { ms: LONG_MS }));
    config.timeouts.warm_up = SHORT;
    let slow = Client::new(config).expect("valid");
    let error = slow.warm_up().await.expect_err("too slow");
    assert!(matches!(error, LlmError::LoadTimeout { .. }), "{error:?}");
    assert!(error.to_string().contains("raise [llm] warm_up_timeout_s"), "{error}");
    slow.warm_up().await.expect("the next warm-up succeeds");
}

#[tokio::test]
async fn version_tags_and_model_check() {
    let server = FakeOllama::start().await;
    let client = client(config(&server));
    assert_eq!(client.version().await.expect("version"), Some("0.6.2".to_owned()));
    assert_eq!(client.list_models().await.expect("tags"), ["llama3.2:latest"]);
    client.check_model().await.expect("llama3.2 means llama3.2:latest");
    let requests = server.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>(),
        ["GET /api/version", "GET /api/tags", "GET /api/tags"]
    );
    assert!(
        requests.iter().all(|r| r.connection == requests[0].connection),
        "one keep-alive connection"
    );
}

#[tokio::test]
async fn openai_streams_over_crlf_with_pings_and_reports_usage() {
    let server = FakeOllama::start_with(Script {
        api_key: Some("sk-local".into()),
        ..Script::default()
    })
    .await;
    let words = ["Bon", "jour ", "日本 🎉"];
    server.push(ScriptedReply {
        crlf: true,
        comments: true,
        ..ScriptedReply::tokens(words)
    });
    server.push(ScriptedReply {
        crlf: true,
        ..ScriptedReply::tokens(words).with_fault(Fault::ByteByByte)
    });
    let mut config = openai_config(&server);
    config.api_key = Some("sk-local".into());
    config.options.temperature = Some(0.25);
    config.options.max_tokens = Some(32);
    config.options.num_ctx = Some(4096);
    config.keep_alive = Some("5m".into());
    let client = client(config);
    let clock = Clock::start();
    for _ in 0..2 {
        let mut reply = client
            .chat(
                TurnId(2),
                &[Message::system("Be brief."), Message::user("hello")],
                &clock,
            )
            .await
            .expect("accepted");
        let (tokens, error) = drain(&mut reply).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(texts(&tokens), words);
        let finish = reply.finish().expect("finished");
        assert_eq!(finish.reason.as_deref(), Some("stop"));
        assert_eq!(finish.server.completion_tokens, Some(3));
        assert!(finish.server.prompt_tokens.is_some());
    }
    let request = &server.chat_requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-local"));
    assert_eq!(
        request.body,
        json!({
            "model": "llama3.2",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": 0.25,
            "max_tokens": 32,
        })
    );
}

#[tokio::test]
async fn openai_a_refused_key_names_api_key_env() {
    let server = FakeOllama::start_with(Script {
        api_key: Some("sk-local".into()),
        ..Script::default()
    })
    .await;
    let mut config = openai_config(&server);
    config.api_key = Some("sk-wrong".into());
    let client = client(config);
    let error = ask(&client, &Clock::start(), "hi").await.expect_err("401");
    match &error {
        LlmError::Unauthorized {
            status: 401, message, ..
        } => assert!(message.contains("Invalid API key"), "{message}"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert!(error.to_string().contains("set [llm] api_key_env"), "{error}");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn openai_errors_missing_models_and_warm_up() {
    let server = FakeOllama::start().await;
    let client = client(openai_config(&server));
    let clock = Clock::start();

    // An error frame mid-stream.
    server.push(ScriptedReply::tokens(["a", "b"]).with_fault(Fault::ErrorLineAfter {
        tokens: 1,
        message: "out of memory".into(),
    }));
    let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
    let (tokens, error) = drain(&mut reply).await;
    assert_eq!(texts(&tokens), ["a"]);
    match &error {
        Some(LlmError::Server { message, tokens: 1, .. }) => assert!(message.starts_with("out of memory"), "{message}"),
        other => panic!("expected Server, got {other:?}"),
    }

    // A model the server does not serve.
    let mut config = openai_config(&server);
    config.model = "nope".into();
    let missing = Client::new(config).expect("valid");
    let error = ask(&missing, &clock, "hi").await.expect_err("404");
    match &error {
        LlmError::ModelNotFound { available, .. } => assert_eq!(available, &["llama3.2:latest"]),
        other => panic!("expected ModelNotFound, got {other:?}"),
    }
    assert!(error.to_string().contains("set [llm] model"), "{error}");
    assert!(matches!(
        missing.check_model().await,
        Err(LlmError::ModelNotFound { .. })
    ));

    // Warm-up: a one-token completion.
    client.warm_up().await.expect("warmed up");
    let warm = server.chat_requests().pop().expect("the warm-up request");
    assert_eq!(
        warm.body,
        json!({"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}], "stream": false, "max_tokens": 1})
    );
    assert_recovers(&server, &client, &clock).await;
}

/// Kills the child process however the test ends.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_fake_ollama_binary_serves_a_script() {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-ollama"))
        .args(["--port", "0", "--script", r#"{"tokens":["from"," the"," binary"]}"#])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("fake-ollama starts");
    let mut child = Kill(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("joined")
    .expect("a line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("announces its URL")
        .to_owned();

    let client = client(ServerConfig::new(Backend::Ollama, url, "llama3.2"));
    let mut reply = ask(&client, &Clock::start(), "hi").await.expect("accepted");
    let (_, error) = drain(&mut reply).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(reply.text(), "from the binary");
}

#[tokio::test]
async fn a_finished_reply_hands_its_connection_back_for_the_next() {
    let server = FakeOllama::start().await;
    let client = client(config(&server));
    let clock = Clock::start();
    for _ in 0..3 {
        let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
        let (_, error) = drain(&mut reply).await;
        assert!(error.is_none(), "{error:?}");
    }
    let connections: Vec<u64> = server.chat_requests().iter().map(|r| r.connection).collect();
    assert_eq!(connections, [0, 0, 0], "one keep-alive connection");
    assert_eq!(server.closed(0), None);
}

#[tokio::test]
async fn next_can_lose_a_select_race_without_losing_a_token() {
    let server = FakeOllama::start().await;
    server.push(ScriptedReply::tokens(["a", "b", "c"]).with_fault(Fault::Gated));
    let client = client(config(&server));
    let clock = Clock::start();
    server.release(1);
    let mut reply = ask(&client, &clock, "hi").await.expect("accepted");
    let mut got = Vec::new();
    let mut lost_races = 0;
    loop {
        tokio::select! {
            item = reply.next() => match item {
                Some(token) => got.push(token.expect("no error").text),
                None => break,
            },
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                // `next` was dropped mid-wait; let the next token out.
                lost_races += 1;
                server.release(1);
            }
        }
    }
    assert_eq!(got, ["a", "b", "c"]);
    assert!(lost_races >= 2, "the gate made next wait");
    assert!(reply.finish().is_some());
}
