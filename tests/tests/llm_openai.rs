//! The OpenAI-compatible client against a real server: llama-cpp-python's
//! `llama_cpp.server` with the tiny stories260K GGUF from the shared data
//! (`assistant_tests::llama_server`). Skips where the shared data is absent.
//!
//! A relay between client and server (`assistant_tests::relay`) shows what
//! crossed the socket, so the tests can check that tokens are delivered as
//! they arrive and that dropping a reply closes its connection.

use std::time::Duration;

use assistant_core::{Clock, TurnId};
use assistant_llm::{Backend, Client, Conversation, LlmError, ServerConfig};
use assistant_tests::llama_server::LlamaServer;
use assistant_tests::relay::Relay;

fn config(url: String, max_tokens: u32) -> ServerConfig {
    let mut config = ServerConfig::new(Backend::OpenAi, url, LlamaServer::MODEL);
    config.options.max_tokens = Some(max_tokens);
    config.options.seed = Some(7);
    config.options.temperature = Some(0.0);
    config
}

fn question() -> Vec<assistant_llm::Message> {
    let mut conversation = Conversation::new(Some("You tell stories.".into()), 4_000);
    conversation.push_user("Once upon a time");
    conversation.messages()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

#[test]
fn a_reply_streams_token_by_token_and_ends_with_its_reason() {
    let Some(server) = LlamaServer::shared("a_reply_streams_token_by_token_and_ends_with_its_reason") else {
        return;
    };
    let _only_us = server.exclusive();
    let relay = Relay::start(server.port());
    let client = Client::new(config(relay.url(), 24)).unwrap_or_else(|e| panic!("{e}"));
    let clock = Clock::start();
    runtime().block_on(async {
        client.check_model().await.unwrap_or_else(|e| panic!("{e}"));
        relay.clear();
        let mut reply = client
            .chat(TurnId(4), &question(), &clock)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut tokens = Vec::new();
        // Tokens the client had while the server had not yet sent the end
        // of the stream: a client that buffered the reply would have none.
        // (How many depends on the machine's load: this tiny model makes
        // tokens faster than a busy client may take them.)
        let mut before_the_end = 0;
        while let Some(token) = reply.next().await {
            let token = token.unwrap_or_else(|e| panic!("{e}"));
            let sent: Vec<u8> = relay.chunks().into_iter().flat_map(|c| c.bytes).collect();
            if !String::from_utf8_lossy(&sent).contains("[DONE]") {
                before_the_end += 1;
            }
            assert_eq!(token.turn, TurnId(4));
            tokens.push(token);
        }
        assert!(
            before_the_end >= 1,
            "all {} tokens were held back until the stream ended",
            tokens.len()
        );
        assert!(
            !tokens.is_empty(),
            "no tokens: {:?} {:?}",
            reply.finish(),
            String::from_utf8_lossy(&relay.chunks().into_iter().flat_map(|c| c.bytes).collect::<Vec<u8>>())
        );
        assert!(tokens.windows(2).all(|w| w[0].at <= w[1].at), "stamps go back in time");
        let text: String = tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(reply.text(), text);
        let finish = reply.finish().unwrap_or_else(|| panic!("no finish"));
        assert_eq!(finish.reason.as_deref(), Some("length"), "{finish:?}");
        assert_eq!(finish.tokens as usize, tokens.len());
        assert!(finish.time_to_first_token.is_some_and(|t| t <= finish.elapsed));

        // The same seed and temperature 0 give the same story.
        let mut again = client
            .chat(TurnId(5), &question(), &clock)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        while let Some(token) = again.next().await {
            token.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(again.text(), text);
    });
}

#[test]
fn dropping_a_reply_closes_its_connection_and_the_next_request_works() {
    let Some(server) = LlamaServer::shared("dropping_a_reply_closes_its_connection_and_the_next_request_works") else {
        return;
    };
    let _only_us = server.exclusive();
    let relay = Relay::start(server.port());
    let client = Client::new(config(relay.url(), 1_500)).unwrap_or_else(|e| panic!("{e}"));
    let clock = Clock::start();
    runtime().block_on(async {
        let mut reply = client
            .chat(TurnId(1), &question(), &clock)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            let token = reply.next().await;
            assert!(matches!(token, Some(Ok(_))), "{token:?}");
        }
        let connection = relay.connections() - 1;
        drop(reply); // barge-in
        assert!(
            relay.client_closed(connection, Duration::from_secs(5)).is_some(),
            "the dropped reply's connection stayed open"
        );
        // The server is free for the next turn.
        let mut next = client
            .chat(TurnId(2), &question(), &clock)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let first = next.next().await;
        assert!(matches!(first, Some(Ok(_))), "{first:?}");
    });
}

#[test]
fn timeouts_and_unknown_models_are_typed_errors_and_the_client_recovers() {
    let Some(server) = LlamaServer::shared("timeouts_and_unknown_models_are_typed_errors_and_the_client_recovers")
    else {
        return;
    };
    let _only_us = server.exclusive();
    let clock = Clock::start();
    runtime().block_on(async {
        // No model answers within a millisecond over HTTP.
        let mut impatient = config(server.url(), 8);
        impatient.timeouts.first_token = Duration::from_millis(1);
        let client = Client::new(impatient).unwrap_or_else(|e| panic!("{e}"));
        let error = match client.chat(TurnId(1), &question(), &clock).await {
            Err(e) => e,
            Ok(mut reply) => match reply.next().await {
                Some(Err(e)) => e,
                other => panic!("expected a first-token timeout, got {other:?}"),
            },
        };
        assert!(matches!(error, LlmError::FirstTokenTimeout { .. }), "{error:?}");
        assert!(error.to_string().contains("first_token_timeout_s"), "{error}");

        let mut wrong = config(server.url(), 8);
        wrong.model = "llama3.2".into();
        let client = Client::new(wrong).unwrap_or_else(|e| panic!("{e}"));
        let error = client.check_model().await.expect_err("not served");
        let LlmError::ModelNotFound { available, .. } = &error else {
            panic!("expected ModelNotFound, got {error:?}")
        };
        assert_eq!(available, &vec![LlamaServer::MODEL.to_owned()]);
        assert!(error.to_string().contains(LlamaServer::MODEL), "{error}");

        // A patient client on the same server gets its reply.
        let client = Client::new(config(server.url(), 8)).unwrap_or_else(|e| panic!("{e}"));
        let mut reply = client
            .chat(TurnId(2), &question(), &clock)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        while let Some(token) = reply.next().await {
            token.unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(!reply.text().is_empty());
        let warm = client.warm_up().await.unwrap_or_else(|e| panic!("warm-up: {e}"));
        assert!(warm > Duration::ZERO);
    });
}
