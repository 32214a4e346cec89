//! The scripted responder through the public API: spec parsing, the exact
//! schedule on paused time, cancellation, the finish figures and the
//! metadata calls.

use std::net::TcpListener;
use std::num::NonZeroU32;
use std::time::Duration;

use assistant_core::{Clock, Token, TurnId};
use assistant_llm::{
    Backend, Client, Conversation, LlmError, Message, Pace, Reply, SCRIPT_SYNTAX, Script, ScriptError, ServerConfig,
};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn rate(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("a non-zero rate")
}

fn client(spec: &str) -> Client {
    let script = Script::parse(spec).expect("a valid spec");
    Client::new(ServerConfig::scripted(script)).expect("a scripted client")
}

/// A pipeline clock whose epoch precedes tokio's paused clock, so that
/// stamps taken from the paused clock do not saturate at the epoch.
async fn paused_clock() -> Clock {
    tokio::time::advance(Duration::from_secs(3600)).await;
    Clock::start()
}

/// Drains a reply, noting when (on tokio's clock, since `t0`) each token came.
async fn drain(reply: &mut Reply, t0: Instant) -> Vec<(Token, Duration)> {
    let mut out = Vec::new();
    while let Some(token) = reply.next().await {
        out.push((token.expect("a scripted reply does not fail"), t0.elapsed()));
    }
    out
}

#[test]
fn specs_are_read() {
    let script = Script::parse("scripted:Hello, world.").expect("defaults");
    assert_eq!(script.text, "Hello, world.");
    assert_eq!(script.pace, Pace::default());
    assert_eq!(script.pace.ttft, ms(200));
    assert_eq!(script.pace.rate, rate(30));

    let script = Script::parse("scripted(ttft=150ms,rate=40):Hi: (there) a=b, c").expect("both set");
    assert_eq!(
        script.text, "Hi: (there) a=b, c",
        "the text is verbatim after the first ':'"
    );
    assert_eq!(script.pace.ttft, ms(150));
    assert_eq!(script.pace.rate, rate(40));

    let script = Script::parse("scripted( rate = 12 , ttft = 0.5s ): padded ").expect("any order, spaces");
    assert_eq!((script.pace.ttft, script.pace.rate), (ms(500), rate(12)));
    assert_eq!(script.text, " padded ");

    assert_eq!(Script::parse("scripted(rate=5):x").map(|s| s.pace.ttft), Ok(ms(200)));
    assert_eq!(Script::parse("scripted(ttft=1s):x").map(|s| s.pace.rate), Ok(rate(30)));
    assert_eq!(Script::parse("scripted():x").map(|s| s.pace), Ok(Pace::default()));
    assert_eq!(
        Script::parse("scripted(ttft=0ms):x").map(|s| s.pace.ttft),
        Ok(Duration::ZERO)
    );

    // Display writes a spec that reads back.
    let script = Script::parse("scripted(ttft=1.5ms,rate=7):Back again.").expect("valid");
    assert_eq!(script.to_string(), "scripted(ttft=1.5ms,rate=7):Back again.");
    assert_eq!(script.to_string().parse::<Script>(), Ok(script));
}

#[test]
fn bad_specs_name_the_bad_part_and_the_syntax() {
    let cases: &[(&str, ScriptError, &str)] = &[
        (
            "ollama:hi",
            ScriptError::NotScripted { found: "ollama".into() },
            "'ollama' is not a scripted responder spec",
        ),
        (
            "scriptedx:hi",
            ScriptError::NotScripted {
                found: "scriptedx".into(),
            },
            "'scriptedx' is not",
        ),
        ("scripted", ScriptError::NoText, "no ':' before the reply text"),
        ("scripted(rate=3)", ScriptError::NoText, "no ':'"),
        ("scripted(rate=3:hi", ScriptError::Unclosed, "not closed by ')'"),
        (
            "scripted(rate=3) hi",
            ScriptError::AfterSettings { found: " hi".into() },
            "found ' hi'",
        ),
        ("scripted(rate=3,):hi", ScriptError::EmptySetting, "stray ','"),
        (
            "scripted(fast):hi",
            ScriptError::NotKeyValue { setting: "fast".into() },
            "setting 'fast' is not key=value",
        ),
        (
            "scripted(speed=3):hi",
            ScriptError::UnknownKey { key: "speed".into() },
            "unknown scripted responder setting 'speed' (the settings are ttft and rate)",
        ),
        (
            "scripted(rate=3,rate=4):hi",
            ScriptError::Repeated { key: "rate" },
            "'rate' is given twice",
        ),
        (
            "scripted(ttft=150):hi",
            ScriptError::BadTtft { value: "150".into() },
            "ttft '150' is not a duration such as 150ms or 0.2s",
        ),
        (
            "scripted(ttft=-1s):hi",
            ScriptError::BadTtft { value: "-1s".into() },
            "ttft '-1s'",
        ),
        (
            "scripted(rate=0):hi",
            ScriptError::BadRate { value: "0".into() },
            "rate '0' is not a whole number of tokens per second, at least 1",
        ),
        (
            "scripted(rate=7.5):hi",
            ScriptError::BadRate { value: "7.5".into() },
            "rate '7.5'",
        ),
        ("scripted:", ScriptError::EmptyText, "reply text after ':' is empty"),
        ("scripted(rate=3):  ", ScriptError::EmptyText, "is empty"),
    ];
    for (spec, error, words) in cases {
        let got = Script::parse(spec);
        assert_eq!(got.as_ref().err(), Some(error), "{spec}");
        let message = got.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains(words), "{spec}: {message}");
        assert!(
            message.ends_with(&format!("expected {SCRIPT_SYNTAX}")),
            "{spec}: {message}"
        );
    }
    assert!(SCRIPT_SYNTAX.starts_with("scripted:TEXT or scripted(ttft=150ms,rate=40):TEXT"));
}

#[test]
fn tokens_concatenate_to_the_text() {
    let text = "Well,  it's 3.5 degrees -- cold!  Isn't it?\nYes… 😀 ok. ";
    let script = Script::new(text);
    let tokens: Vec<&str> = script.tokens().collect();
    assert_eq!(tokens.concat(), text);
    assert_eq!(
        tokens,
        vec![
            "Well", ",", "  it's", " 3", ".", "5", " degrees", " -", "-", " cold", "!", "  Isn't", " it", "?", "\nYes",
            "…", " 😀", " ok", ".", " "
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn tokens_come_exactly_on_schedule_and_round_trip_the_text() {
    let clock = paused_clock().await;
    let text = "Sure!  Here it is: one, two,   three.";
    let client = client(&format!("scripted(ttft=150ms,rate=40):{text}"));
    let mut conversation = Conversation::new(Some("Be brief.".into()), 1000);
    conversation.push_user("count to three");

    let t0 = Instant::now();
    let asked = clock.at(t0.into_std());
    let mut reply = client
        .chat(TurnId(7), &conversation.messages(), &clock)
        .await
        .expect("a scripted reply");
    assert_eq!(t0.elapsed(), Duration::ZERO, "chat returns at once");
    assert_eq!(reply.turn(), TurnId(7));
    let tokens = drain(&mut reply, t0).await;

    let expected = Script::new(text);
    let expected: Vec<&str> = expected.tokens().collect();
    assert_eq!(
        tokens.iter().map(|(t, _)| t.text.as_str()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        expected[..5],
        ["Sure", "!", "  Here", " it", " is"],
        "words keep their leading space, punctuation stands alone"
    );
    assert_eq!(reply.text(), text);
    for (k, (token, came)) in tokens.iter().enumerate() {
        // 150 ms, then one every 25 ms, exactly.
        let due = ms(150) + ms(25) * u32::try_from(k).expect("few tokens");
        assert_eq!(*came, due, "token {k} on tokio's clock");
        assert_eq!(
            token.at.checked_since(asked),
            Some(due),
            "token {k} on the pipeline clock"
        );
        assert_eq!(token.turn, TurnId(7));
    }
    assert_eq!(reply.next().await.map(|r| r.is_ok()), None, "stays ended");
    conversation.record_reply(reply.text());
    assert_eq!(conversation.history_len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_fractional_interval_does_not_drift() {
    let clock = paused_clock().await;
    // 30 tokens/s: 33.333… ms apart, each offset computed from the start
    // (rounded down to the nanosecond), so no error accumulates.
    let pace = Pace::default();
    let nanos = |n: u64| ms(200) + Duration::from_nanos(n);
    let offsets: Vec<Duration> = (0..7).map(|k| pace.offset(k)).collect();
    assert_eq!(
        offsets,
        vec![
            nanos(0),
            nanos(33_333_333),
            nanos(66_666_666),
            nanos(100_000_000),
            nanos(133_333_333),
            nanos(166_666_666),
            nanos(200_000_000),
        ]
    );
    assert_eq!(
        pace.offset(30),
        ms(1200),
        "30 tokens after the first: exactly one second"
    );

    // tokio's timer wakes on whole milliseconds, rounding up: a token due at
    // 233.33 ms is yielded, and stamped, at 234 ms, never early.
    let client = client("scripted:a b c d e f g");
    let t0 = Instant::now();
    let asked = clock.at(t0.into_std());
    let mut reply = client.chat(TurnId(1), &[], &clock).await.expect("a reply");
    let tokens = drain(&mut reply, t0).await;
    let came: Vec<Duration> = tokens.iter().map(|(_, at)| *at).collect();
    let expected: Vec<Duration> = [200, 234, 267, 300, 334, 367, 400].into_iter().map(ms).collect();
    assert_eq!(came, expected);
    let stamped: Vec<Option<Duration>> = tokens.iter().map(|(t, _)| t.at.checked_since(asked)).collect();
    assert_eq!(stamped, expected.into_iter().map(Some).collect::<Vec<_>>());
    // The server figures are the script's, exact.
    assert_eq!(reply.finish().and_then(|f| f.server.total), Some(pace.offset(6)));
}

#[tokio::test(start_paused = true)]
async fn finish_reports_the_scripts_figures() {
    let clock = paused_clock().await;
    let client = client("scripted(ttft=300ms,rate=20):One, two.");
    let t0 = Instant::now();
    let mut reply = client
        .chat(TurnId(2), &[Message::user("hi")], &clock)
        .await
        .expect("a reply");
    assert_eq!(reply.finish(), None);
    let tokens = drain(&mut reply, t0).await;
    assert_eq!(tokens.len(), 4, "One , two .");
    let finish = reply.finish().expect("finished");
    assert_eq!(finish.reason.as_deref(), Some("stop"));
    assert_eq!(finish.tokens, 4);
    assert_eq!(finish.time_to_first_token, Some(ms(300)));
    // The last token at 300 + 3 × 50 ms; the end is seen at once.
    assert_eq!(finish.elapsed, ms(450));
    let stats = &finish.server;
    assert_eq!(stats.completion_tokens, Some(4));
    assert_eq!(stats.prompt_tokens, None, "no prompt is read");
    assert_eq!(stats.load, Some(Duration::ZERO), "nothing to load");
    assert_eq!(stats.prompt_eval, Some(ms(300)));
    assert_eq!(stats.eval, Some(ms(150)), "first token to last");
    assert_eq!(stats.total, Some(ms(450)));
}

#[tokio::test(start_paused = true)]
async fn an_empty_script_ends_after_its_ttft() {
    let clock = paused_clock().await;
    let client = Client::new(ServerConfig::scripted(Script::new(""))).expect("a client");
    let t0 = Instant::now();
    let mut reply = client.chat(TurnId(3), &[], &clock).await.expect("a reply");
    assert!(reply.next().await.is_none());
    assert_eq!(t0.elapsed(), ms(200));
    let finish = reply.finish().expect("finished");
    assert_eq!((finish.tokens, finish.time_to_first_token), (0, None));
    assert_eq!(finish.elapsed, ms(200));
    assert_eq!(finish.server.eval, Some(Duration::ZERO));
    assert_eq!(reply.text(), "");
}

#[tokio::test(start_paused = true)]
async fn losing_a_select_race_loses_no_token_and_keeps_the_schedule() {
    let clock = paused_clock().await;
    let text = "Racing, racing: still every token.";
    let client = client(&format!("scripted(ttft=100ms,rate=10):{text}"));
    let t0 = Instant::now();
    let asked = clock.at(t0.into_std());
    let mut reply = client.chat(TurnId(4), &[], &clock).await.expect("a reply");
    let mut tokens: Vec<(Token, Duration)> = Vec::new();
    let mut lost = 0;
    loop {
        tokio::select! {
            next = reply.next() => match next {
                Some(token) => tokens.push((token.expect("no failure"), t0.elapsed())),
                None => break,
            },
            () = tokio::time::sleep(ms(7)) => lost += 1,
        }
    }
    assert!(lost > 50, "the timeout won {lost} races");
    assert_eq!(tokens.iter().map(|(t, _)| t.text.as_str()).collect::<String>(), text);
    assert_eq!(reply.text(), text);
    for (k, (token, came)) in tokens.iter().enumerate() {
        let due = ms(100) + ms(100) * u32::try_from(k).expect("few tokens");
        assert_eq!(*came, due, "token {k}");
        assert_eq!(token.at.checked_since(asked), Some(due));
    }
    assert_eq!(
        reply.finish().map(|f| f.tokens),
        Some(u32::try_from(tokens.len()).expect("few"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_reply_stops_and_the_next_starts_afresh() {
    let clock = paused_clock().await;
    let client = client("scripted(ttft=50ms,rate=100):one two three four five");
    let runtime = tokio::runtime::Handle::current();
    let t0 = Instant::now();
    let mut reply = client.chat(TurnId(5), &[], &clock).await.expect("a reply");
    assert_eq!(runtime.metrics().num_alive_tasks(), 0, "nothing runs in the background");
    let first = reply.next().await.expect("a token").expect("no failure");
    let second = reply.next().await.expect("a token").expect("no failure");
    assert_eq!((first.text.as_str(), second.text.as_str()), ("one", " two"));
    assert_eq!(t0.elapsed(), ms(60));
    assert_eq!(reply.text(), "one two");
    drop(reply);
    assert_eq!(runtime.metrics().num_alive_tasks(), 0);
    // Nothing is pending: time passes with nothing woken.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(runtime.metrics().num_alive_tasks(), 0);

    // The next turn has its own schedule, from its own call.
    let t1 = Instant::now();
    let mut reply = client.chat(TurnId(6), &[], &clock).await.expect("a reply");
    let tokens = drain(&mut reply, t1).await;
    assert_eq!(
        tokens.first().map(|(t, at)| (t.text.as_str(), *at)),
        Some(("one", ms(50)))
    );
    assert_eq!(reply.text(), "one two three four five");
}

#[tokio::test(start_paused = true)]
async fn a_pace_too_long_for_the_clock_waits_without_panicking() {
    let clock = paused_clock().await;
    let script = Script {
        text: "never".into(),
        pace: Pace {
            ttft: Duration::MAX,
            rate: rate(1),
        },
    };
    let client = Client::new(ServerConfig::scripted(script)).expect("a client");
    let mut reply = client.chat(TurnId(8), &[], &clock).await.expect("a reply");
    let raced = tokio::time::timeout(Duration::from_secs(86_400), reply.next()).await;
    assert!(raced.is_err(), "no token within a day");
    assert_eq!(reply.text(), "");
}

#[tokio::test(start_paused = true)]
async fn metadata_calls_answer_at_once_without_any_request() {
    // A listener at the configured URL: nothing may connect to it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    listener.set_nonblocking(true).expect("non-blocking");
    let mut config = ServerConfig::scripted(Script::parse("scripted:Hi.").expect("valid"));
    config.url = format!("http://{}", listener.local_addr().expect("an address"));
    let client = Client::new(config).expect("a client");

    let clock = paused_clock().await;
    let t0 = Instant::now();
    assert_eq!(client.warm_up().await.ok(), Some(Duration::ZERO));
    assert!(client.check_model().await.is_ok());
    assert_eq!(client.list_models().await.ok(), Some(vec!["scripted".to_owned()]));
    assert_eq!(client.version().await.ok(), Some(Some("scripted".to_owned())));
    assert_eq!(t0.elapsed(), Duration::ZERO, "no call waits");
    let mut reply = client.chat(TurnId(9), &[], &clock).await.expect("a reply");
    while reply.next().await.is_some() {}
    assert_eq!(reply.text(), "Hi.");
    let finish = reply.finish().expect("finished");
    assert_eq!(finish.time_to_first_token, Some(ms(200)));
    // Due at 233.33 ms; tokio's timer wakes at the next whole millisecond.
    assert_eq!(finish.elapsed, ms(234));
    assert_eq!(finish.tokens, 2);
    assert_eq!(
        listener.accept().err().map(|e| e.kind()),
        Some(std::io::ErrorKind::WouldBlock),
        "no connection was made"
    );
}

#[test]
fn reports_say_the_reply_was_scripted() {
    let client = client("scripted(ttft=150ms,rate=40):Hi.");
    let endpoint = client.endpoint();
    assert_eq!(endpoint.backend, Backend::Scripted);
    assert_eq!(
        endpoint.to_string(),
        "the scripted responder (ttft 150 ms, 40 tokens/s)"
    );
    assert_eq!(endpoint.url, "scripted(ttft=150ms,rate=40)");
    assert_eq!(Backend::Scripted.label(), "scripted responder");
    assert_eq!(client.config().backend, Backend::Scripted);
    assert_eq!(client.config().model, "scripted");
    assert_eq!(client.config().script.as_ref().map(|s| s.text.as_str()), Some("Hi."));
    let default = Client::new(ServerConfig::scripted(Script::new("x"))).expect("a client");
    assert_eq!(
        default.endpoint().to_string(),
        "the scripted responder (ttft 200 ms, 30 tokens/s)"
    );
}

#[test]
fn the_scripted_backend_needs_a_script() {
    let config = ServerConfig::new(Backend::Scripted, "", "scripted");
    let err = Client::new(config).err();
    assert!(
        matches!(err, Some(LlmError::Config { field: "backend", .. })),
        "{err:?}"
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("the scripted responder has no script") && message.contains(SCRIPT_SYNTAX),
        "{message}"
    );
}
