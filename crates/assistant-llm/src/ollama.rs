//! Ollama's native API: request bodies and the NDJSON reply decoder.
//!
//! `POST /api/chat` with `stream: true` answers with one JSON object per line:
//! `{"model":…,"created_at":…,"message":{"role":"assistant","content":"…"},"done":false}`,
//! then a line with `"done": true`, `done_reason` and the timings (all in
//! nanoseconds, all optional). An error before the reply is an HTTP status
//! with `{"error":"…"}`; an error during it is a final `{"error":"…"}` line.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::reply::{Event, ServerStats, nanos};
use crate::{GenerationOptions, Message};

/// The `/api/chat` body. Empty `messages` asks Ollama only to load the model.
pub(crate) fn chat_body(
    model: &str,
    messages: &[Message],
    stream: bool,
    options: &GenerationOptions,
    keep_alive: Option<&str>,
) -> Value {
    let mut body = json!({ "model": model, "messages": messages, "stream": stream });
    let options = options_object(options);
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    if let Some(keep_alive) = keep_alive {
        body["keep_alive"] = keep_alive_value(keep_alive);
    }
    body
}

/// Ollama's names for the generation options.
fn options_object(o: &GenerationOptions) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(t) = o.temperature {
        map.insert("temperature".into(), json!(t));
    }
    if let Some(p) = o.top_p {
        map.insert("top_p".into(), json!(p));
    }
    if let Some(seed) = o.seed {
        map.insert("seed".into(), json!(seed));
    }
    if let Some(n) = o.max_tokens {
        map.insert("num_predict".into(), json!(n));
    }
    if let Some(n) = o.num_ctx {
        map.insert("num_ctx".into(), json!(n));
    }
    if !o.stop.is_empty() {
        map.insert("stop".into(), json!(o.stop));
    }
    map
}

/// `"-1"` or `"300"` are seconds (a JSON number); anything else (`"30m"`) is
/// a Go duration string, which Ollama parses itself.
fn keep_alive_value(text: &str) -> Value {
    text.trim().parse::<i64>().map_or_else(|_| json!(text), |n| json!(n))
}

/// Whether the configured model name means the pulled `tag`: a name without
/// a tag means `:latest`.
pub(crate) fn model_matches(wanted: &str, tag: &str) -> bool {
    fn normalize(name: &str) -> String {
        let last = name.rsplit('/').next().unwrap_or(name);
        if last.contains(':') {
            name.to_owned()
        } else {
            format!("{name}:latest")
        }
    }
    normalize(wanted) == normalize(tag)
}

/// The model names in a `GET /api/tags` answer.
pub(crate) fn tags(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Tags {
        #[serde(default)]
        models: Vec<Tag>,
    }
    #[derive(Deserialize)]
    struct Tag {
        name: Option<String>,
        model: Option<String>,
    }
    let tags: Tags = serde_json::from_slice(body).map_err(|e| format!("GET /api/tags answered {e}"))?;
    Ok(tags.models.into_iter().filter_map(|t| t.name.or(t.model)).collect())
}

/// The version in a `GET /api/version` answer.
pub(crate) fn version(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Version {
        version: String,
    }
    serde_json::from_slice::<Version>(body)
        .map(|v| v.version)
        .map_err(|e| format!("GET /api/version answered {e}"))
}

/// One line of a `/api/chat` reply (streamed) or the whole reply (not streamed).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatLine {
    #[serde(default)]
    message: Option<LineMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    total_duration: Option<u64>,
    #[serde(default)]
    load_duration: Option<u64>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    prompt_eval_duration: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    eval_duration: Option<u64>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct LineMessage {
    #[serde(default)]
    content: Option<String>,
}

impl ChatLine {
    /// Parses one line.
    pub(crate) fn parse(line: &str) -> Result<Self, String> {
        serde_json::from_str(line).map_err(|e| format!("a reply line is not a JSON object ({e}): {}", excerpt(line)))
    }

    /// Whether the line is the last one of a reply.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The events the line carries, in order.
    pub(crate) fn events(self, out: &mut dyn FnMut(Event)) {
        if let Some(error) = self.error {
            out(Event::Error(error_text(&error)));
            return;
        }
        if let Some(text) = self.message.and_then(|m| m.content).filter(|t| !t.is_empty()) {
            out(Event::Token(text));
        }
        if self.done {
            out(Event::Done {
                reason: self.done_reason,
                stats: ServerStats {
                    prompt_tokens: self.prompt_eval_count,
                    completion_tokens: self.eval_count,
                    total: self.total_duration.map(nanos),
                    load: self.load_duration.map(nanos),
                    prompt_eval: self.prompt_eval_duration.map(nanos),
                    eval: self.eval_duration.map(nanos),
                    prompt_evaluated: None,
                    prompt_cached: None,
                },
            });
        }
    }
}

/// Decodes a streamed `/api/chat` body, line by line.
#[derive(Debug, Default)]
pub(crate) struct NdjsonDecoder;

impl NdjsonDecoder {
    /// One complete line.
    pub(crate) fn line(&mut self, line: &str, out: &mut dyn FnMut(Event)) -> Result<(), String> {
        if line.trim().is_empty() {
            return Ok(());
        }
        ChatLine::parse(line)?.events(out);
        Ok(())
    }
}

/// The text of an `error` field: a string, or an object's `message`.
pub(crate) fn error_text(error: &Value) -> String {
    match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let message = o.get("message").and_then(Value::as_str).unwrap_or("(no message)");
            let kind = o.get("type").and_then(Value::as_str);
            let code = o.get("code").filter(|c| !c.is_null()).map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            match (kind, code) {
                (Some(k), Some(c)) => format!("{message} ({k}, {c})"),
                (Some(k), None) => format!("{message} ({k})"),
                (None, Some(c)) => format!("{message} ({c})"),
                (None, None) => message.to_owned(),
            }
        }
        other => other.to_string(),
    }
}

/// The start of a line, for messages.
pub(crate) fn excerpt(line: &str) -> String {
    const MAX: usize = 120;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &line[..cut]),
        None => format!("{line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn decode(lines: &[&str]) -> Result<Vec<Event>, String> {
        let mut d = NdjsonDecoder;
        let mut events = Vec::new();
        for line in lines {
            d.line(line, &mut |e| events.push(e))?;
        }
        Ok(events)
    }

    #[test]
    fn tokens_then_done_with_every_timing() {
        let events = decode(&[
            r#"{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"Hel"},"done":false}"#,
            "",
            r#"{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"lo"},"done":false}"#,
            r#"{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}"#,
        ]);
        assert_eq!(
            events,
            Ok(vec![
                Event::Token("Hel".into()),
                Event::Token("lo".into()),
                Event::Done {
                    reason: Some("stop".into()),
                    stats: ServerStats {
                        prompt_tokens: Some(26),
                        completion_tokens: Some(282),
                        total: Some(Duration::from_nanos(4_883_583_458)),
                        load: Some(Duration::from_nanos(1_334_875)),
                        prompt_eval: Some(Duration::from_nanos(342_546_000)),
                        eval: Some(Duration::from_nanos(4_535_599_000)),
                        prompt_evaluated: None,
                        prompt_cached: None,
                    },
                },
            ])
        );
    }

    #[test]
    fn timings_are_optional_and_an_error_line_is_an_error() {
        let events = decode(&[
            r#"{"done":true}"#,
            r#"{"error":"model runner has unexpectedly stopped"}"#,
        ]);
        assert_eq!(
            events,
            Ok(vec![
                Event::Done {
                    reason: None,
                    stats: ServerStats::default()
                },
                Event::Error("model runner has unexpectedly stopped".into()),
            ])
        );
    }

    #[test]
    fn a_malformed_line_is_refused_with_an_excerpt() {
        let err = decode(&[r#"{"message":{"content":"a"#]).err().unwrap_or_default();
        assert!(
            err.contains("not a JSON object") && err.contains(r#"{\"message\""#),
            "{err}"
        );
    }

    #[test]
    fn request_bodies_map_options_to_ollama_names() {
        let options = GenerationOptions {
            temperature: Some(0.5),
            top_p: Some(0.75),
            seed: Some(42),
            max_tokens: Some(128),
            num_ctx: Some(4096),
            stop: vec!["\nUser:".into()],
        };
        let body = chat_body("llama3.2", &[Message::user("hi")], true, &options, Some("-1"));
        assert_eq!(
            body,
            json!({
                "model": "llama3.2",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
                "options": {"temperature": 0.5, "top_p": 0.75, "seed": 42, "num_predict": 128, "num_ctx": 4096, "stop": ["\nUser:"]},
                "keep_alive": -1,
            })
        );
        let body = chat_body("m", &[], false, &GenerationOptions::default(), Some("30m"));
        assert_eq!(
            body,
            json!({"model": "m", "messages": [], "stream": false, "keep_alive": "30m"})
        );
    }

    #[test]
    fn a_name_without_a_tag_means_latest() {
        assert!(model_matches("llama3.2", "llama3.2:latest"));
        assert!(model_matches("llama3.2:latest", "llama3.2:latest"));
        assert!(model_matches("llama3.2:3b", "llama3.2:3b"));
        assert!(!model_matches("llama3.2", "llama3.2:3b"));
        assert!(!model_matches("llama3", "llama3.2:latest"));
        assert!(model_matches("hf.co/org/model", "hf.co/org/model:latest"));
        assert_eq!(
            tags(
                br#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":1},{"model":"qwen:0.5b"}]}"#
            ),
            Ok(vec!["llama3.2:latest".to_owned(), "qwen:0.5b".to_owned()])
        );
        assert_eq!(version(br#"{"version":"0.6.2"}"#), Ok("0.6.2".to_owned()));
    }
}
