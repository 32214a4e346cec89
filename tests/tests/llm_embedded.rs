//! The embedded backend on the real llama.cpp: Gemma 3 270M (the registry
//! model every machine can install, `assistant_tests::real_models`) with
//! Gemma's chat template (its GGUF has none), and the shared
//! stories260K GGUF where a valid but tiny model is enough. Skips where
//! the models cannot be had (fails on CI).
//!
//! Replies that are compared run on separate clients (separate contexts):
//! one engine reuses its KV cache, and llama.cpp evaluating one token
//! instead of a batch may round differently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assistant_core::{Clock, TurnId};
use assistant_llm::{Client, Conversation, EmbeddedConfig, Finish, LlmError, Message, ServerConfig, TemplateSource};
use assistant_tests::real_models::RealModels;

fn gemma(test: &str) -> Option<PathBuf> {
    Some(RealModels::installed(test)?.path("llm/gemma-3-270m-q4_k_m"))
}

fn config(model: &Path, max_tokens: u32) -> ServerConfig {
    let mut settings = EmbeddedConfig::new(model);
    settings.chat_template = Some("gemma".into());
    settings.threads = Some(2);
    let mut config = ServerConfig::embedded(settings);
    config.options.max_tokens = Some(max_tokens);
    config.options.temperature = Some(0.0);
    config.options.num_ctx = Some(2048);
    config
}

fn client(config: ServerConfig) -> Client {
    Client::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// Asks, collecting every token; returns the text and the finish.
async fn ask(client: &Client, turn: u64, messages: &[Message], clock: &Clock) -> (String, Finish) {
    let mut reply = client
        .chat(TurnId(turn), messages, clock)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    let mut last = None;
    while let Some(token) = reply.next().await {
        let token = token.unwrap_or_else(|e| panic!("{e}"));
        assert!(!token.text.is_empty());
        assert_eq!(token.turn, TurnId(turn));
        if let Some(previous) = last {
            assert!(token.at >= previous, "tokens are stamped in order");
        }
        last = Some(token.at);
        text.push_str(&token.text);
    }
    assert_eq!(reply.text(), text);
    let finish = reply.finish().cloned().unwrap_or_else(|| panic!("no finish"));
    (text, finish)
}

#[test]
fn the_second_turn_evaluates_only_its_new_tokens() {
    let Some(model) = gemma("the_second_turn_evaluates_only_its_new_tokens") else {
        return;
    };
    let client = client(config(&model, 24));
    let clock = Clock::start();
    runtime().block_on(async {
        let loaded = client.warm_up().await.unwrap_or_else(|e| panic!("{e}"));
        let info = client.model_info().unwrap_or_else(|| panic!("loaded, so described"));
        assert_eq!(info.load, loaded);
        assert!(loaded > Duration::ZERO);
        assert_eq!(info.context, 2048);
        assert_eq!(info.trained_context, 32768);
        assert_eq!(info.template, TemplateSource::Fallback("gemma".into()));
        assert!(info.parameters > 200_000_000 && info.parameters < 400_000_000, "{info}");
        assert!(info.resident.is_some_and(|r| r > 0), "{info}");

        let mut conversation = Conversation::new(
            Some("You are a helpful assistant. You answer questions about the weather, the time and the news in one short sentence.".into()),
            8_000,
        );
        conversation.push_user("What is the capital of France?");
        let (first, one) = ask(&client, 1, &conversation.messages(), &clock).await;
        assert!(!first.is_empty());
        assert!(one.tokens > 0 && one.time_to_first_token.is_some());
        let prompt_one = one.server.prompt_tokens.unwrap_or_else(|| panic!("{one:?}"));
        // A cold cache: llama.cpp evaluated the whole prompt.
        assert_eq!(one.server.prompt_cached, Some(0));
        assert_eq!(one.server.prompt_evaluated, Some(prompt_one), "{one:?}");

        conversation.record_reply(&first);
        conversation.push_user("And of Italy?");
        let (_, two) = ask(&client, 2, &conversation.messages(), &clock).await;
        let prompt_two = two.server.prompt_tokens.unwrap_or_else(|| panic!("{two:?}"));
        let cached = two.server.prompt_cached.unwrap_or_else(|| panic!("{two:?}"));
        // The whole first prompt came from the cache, and llama.cpp's own
        // count of evaluated prompt tokens is exactly the rest.
        assert!(cached >= prompt_one, "cached {cached} of the first prompt's {prompt_one}");
        assert_eq!(two.server.prompt_evaluated, Some(prompt_two - cached), "{two:?}");
        assert!(prompt_two - cached < prompt_two / 2, "{two:?}");

        // A trimmed history (the first exchange gone): re-evaluated from
        // where it changed, which is after the shared system prompt.
        let mut trimmed = Conversation::new(conversation.messages()[0].content.clone().into(), 8_000);
        trimmed.push_user("And of Italy?");
        let (_, three) = ask(&client, 3, &trimmed.messages(), &clock).await;
        let cached = three.server.prompt_cached.unwrap_or_else(|| panic!("{three:?}"));
        let prompt_three = three.server.prompt_tokens.unwrap_or_else(|| panic!("{three:?}"));
        assert!(cached > 10 && cached < prompt_one, "cached {cached}: the system prompt only");
        assert_eq!(three.server.prompt_evaluated, Some(prompt_three - cached), "{three:?}");
    });
}

#[test]
fn stop_sequences_end_the_reply_before_they_are_seen() {
    let Some(model) = gemma("stop_sequences_end_the_reply_before_they_are_seen") else {
        return;
    };
    let clock = Clock::start();
    let messages = [Message::user("Write three sentences about the sea.")];
    runtime().block_on(async {
        let (free, finish) = ask(&client(config(&model, 40)), 1, &messages, &clock).await;
        assert!(finish.tokens > 4, "{free:?}");
        // A word from the middle of the free reply, as the stop sequence.
        let words: Vec<&str> = free.split_whitespace().filter(|w| w.len() > 2).collect();
        let stop = words
            .get(words.len() / 2)
            .copied()
            .unwrap_or_else(|| panic!("a word in {free:?}"))
            .to_owned();
        let at = free.find(&stop).unwrap_or_else(|| panic!("{stop} in {free:?}"));
        let mut stopped = config(&model, 40);
        stopped.options.stop = vec![stop.clone()];
        let (cut, finish) = ask(&client(stopped), 2, &messages, &clock).await;
        assert_eq!(cut, free[..at], "stopped at {stop:?}");
        assert_eq!(finish.reason.as_deref(), Some("stop"));
    });
}

#[test]
fn a_fixed_seed_repeats_its_reply_and_another_seed_does_not() {
    let Some(model) = gemma("a_fixed_seed_repeats_its_reply_and_another_seed_does_not") else {
        return;
    };
    let clock = Clock::start();
    let messages = [Message::user("Tell me a story about a dragon.")];
    let sampled = |seed| {
        let mut config = config(&model, 32);
        config.options.temperature = Some(1.0);
        config.options.seed = Some(seed);
        client(config)
    };
    runtime().block_on(async {
        let (a, _) = ask(&sampled(42), 1, &messages, &clock).await;
        let (b, _) = ask(&sampled(42), 1, &messages, &clock).await;
        let (c, _) = ask(&sampled(4242), 1, &messages, &clock).await;
        assert_eq!(a, b, "the same seed, the same reply");
        assert_ne!(a, c, "another seed, another reply");
    });
}

#[test]
fn a_dropped_reply_stops_generation_and_the_next_request_is_served() {
    let Some(model) = gemma("a_dropped_reply_stops_generation_and_the_next_request_is_served") else {
        return;
    };
    let client = client(config(&model, 64));
    let clock = Clock::start();
    let counting = [Message::user(
        "Count from one to one hundred, in words: one, two, three, four,",
    )];
    runtime().block_on(async {
        // Left alone, this reply runs to max_tokens.
        let (_, whole) = ask(&client, 1, &counting, &clock).await;
        assert_eq!(whole.reason.as_deref(), Some("length"), "{whole:?}");
        assert_eq!(whole.tokens, 64);
        let before = client.generated_tokens().unwrap_or_else(|| panic!("loaded"));

        let mut reply = client
            .chat(TurnId(2), &counting, &clock)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            reply
                .next()
                .await
                .unwrap_or_else(|| panic!("a token"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        drop(reply);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stopped = client.generated_tokens().unwrap_or_else(|| panic!("loaded"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            client.generated_tokens(),
            Some(stopped),
            "the thread went on generating"
        );
        // Three tokens read, at most a couple more in flight: far from 64.
        assert!(stopped - before <= 8, "{} tokens after the drop", stopped - before);

        let (text, next) = ask(&client, 3, &[Message::user("Say hello.")], &clock).await;
        assert!(next.tokens > 0 && !text.is_empty(), "{next:?}");
    });
}

#[test]
fn bad_models_and_settings_are_refused_with_the_fix() {
    let test = "bad_models_and_settings_are_refused_with_the_fix";
    let Some(data) = assistant_tests::shared_data(test) else {
        return;
    };
    let stories = data.join("llm/stories260K.gguf");
    // Its own (short) trained context.
    let config = |model: &Path, max_tokens| {
        let mut config = config(model, max_tokens);
        config.options.num_ctx = None;
        config
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let runtime = runtime();
    let load = |config: ServerConfig| {
        let client = client(config);
        runtime.block_on(client.warm_up()).map(|_| client)
    };
    let refused = |config: ServerConfig| match load(config) {
        Ok(_) => panic!("loaded"),
        Err(e) => e,
    };

    let missing = dir.path().join("missing.gguf");
    let e = refused(config(&missing, 8));
    assert!(matches!(e, LlmError::Model { .. }), "{e}");
    assert!(
        e.to_string().contains("no such file") && e.to_string().contains("models fetch"),
        "{e}"
    );

    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "these are not weights\n").unwrap_or_else(|e| panic!("{e}"));
    let e = refused(config(&text, 8)).to_string();
    assert!(e.contains("notes.gguf") && e.contains("not a GGUF"), "{e}");

    let bytes = std::fs::read(&stories).unwrap_or_else(|e| panic!("{e}"));
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap_or_else(|e| panic!("{e}"));
    let e = refused(config(&cut, 8)).to_string();
    assert!(e.contains("cut.gguf") && e.contains("cut short"), "{e}");

    // stories260K has no chat template: without a fallback that is said.
    let mut plain = config(&stories, 8);
    if let Some(settings) = plain.embedded.as_mut() {
        settings.chat_template = None;
    }
    let e = refused(plain).to_string();
    assert!(
        e.contains("no chat template") && e.contains("[llm.embedded] chat_template"),
        "{e}"
    );
    let mut unknown = config(&stories, 8);
    if let Some(settings) = unknown.embedded.as_mut() {
        settings.chat_template = Some("no-such-template".into());
    }
    let e = refused(unknown).to_string();
    assert!(
        e.contains("\"no-such-template\" is not one of llama.cpp's built-in chat templates"),
        "{e}"
    );

    // More context than the model was trained for.
    let mut wide = config(&stories, 8);
    wide.options.num_ctx = Some(1 << 20);
    let e = refused(wide).to_string();
    assert!(e.contains("num_ctx") && e.contains("trained for"), "{e}");

    // A prompt that cannot fit the context, even with no history.
    let mut narrow = config(&stories, 8);
    narrow.options.num_ctx = Some(64);
    let client = load(narrow).unwrap_or_else(|e| panic!("{e}"));
    let clock = Clock::start();
    let long = Message::system("You are a storyteller. ".repeat(40));
    let e = runtime.block_on(async {
        let mut reply = client
            .chat(TurnId(1), &[long, Message::user("Once upon a time")], &clock)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        match reply.next().await {
            Some(Err(e)) => e,
            other => panic!("{other:?}"),
        }
    });
    // llama.cpp rounds a context up to 256 tokens.
    assert!(
        matches!(e, LlmError::ContextFull { context, prompt_tokens, .. } if context == 256 && prompt_tokens > 256),
        "{e}"
    );
    assert!(e.to_string().contains("raise [llm.options] num_ctx"), "{e}");
    // The engine is still usable afterwards.
    let (text, _) = runtime.block_on(ask(&client, 2, &[Message::user("Once upon a time")], &clock));
    assert!(!text.is_empty());
}
