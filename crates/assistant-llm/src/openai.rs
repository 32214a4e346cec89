//! The OpenAI-compatible API: request bodies and the server-sent-events decoder.
//!
//! `POST /v1/chat/completions` with `stream: true` answers with SSE frames
//! `data: {chunk}` separated by blank lines and ended by `data: [DONE]`.
//! Servers differ in the details, so the decoder is liberal: any line ending
//! (the framer's job), comments (`: ping`), `event:`/`id:`/`retry:` fields,
//! multi-line data, a role-only first chunk, `finish_reason` and `usage` in
//! the last content chunk or in a usage-only chunk with empty `choices`,
//! llama.cpp's `timings`, and errors as `{"error": …}` data or an
//! `event: error` frame.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ollama::{error_text, excerpt};
use crate::reply::{Event, ServerStats};
use crate::{GenerationOptions, Message};

/// The `/v1/chat/completions` body.
pub(crate) fn chat_body(
    model: &str,
    messages: &[Message],
    stream: bool,
    options: &GenerationOptions,
    max_tokens: Option<u32>,
) -> Value {
    let mut body = json!({ "model": model, "messages": messages, "stream": stream });
    if stream {
        body["stream_options"] = json!({ "include_usage": true });
    }
    if let Some(t) = options.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = options.top_p {
        body["top_p"] = json!(p);
    }
    if let Some(n) = max_tokens.or(options.max_tokens) {
        body["max_tokens"] = json!(n);
    }
    if !options.stop.is_empty() {
        body["stop"] = json!(options.stop);
    }
    if let Some(seed) = options.seed {
        body["seed"] = json!(seed);
    }
    body
}

/// The model ids in a `GET /v1/models` answer.
pub(crate) fn model_ids(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Models {
        #[serde(default)]
        data: Vec<Model>,
    }
    #[derive(Deserialize)]
    struct Model {
        id: String,
    }
    let models: Models = serde_json::from_slice(body).map_err(|e| format!("GET /v1/models answered {e}"))?;
    Ok(models.data.into_iter().map(|m| m.id).collect())
}

/// Whether the configured name means the served `id`. Single-model servers
/// (llama.cpp) report the model file's path; its file name, with or without
/// `.gguf`, matches too.
pub(crate) fn model_matches(wanted: &str, id: &str) -> bool {
    let file = id.rsplit(['/', '\\']).next().unwrap_or(id);
    wanted == id || wanted == file || Some(wanted) == file.strip_suffix(".gguf")
}

/// A streamed chunk (or a whole non-streamed completion).
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    timings: Option<Timings>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Content>,
    #[serde(default)]
    message: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Content {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// llama.cpp's extra timing object, in milliseconds.
#[derive(Debug, Deserialize)]
struct Timings {
    #[serde(default)]
    prompt_ms: Option<f64>,
    #[serde(default)]
    predicted_ms: Option<f64>,
    /// Prompt tokens evaluated for this request.
    #[serde(default)]
    prompt_n: Option<u64>,
    /// Prompt tokens reused from the slot's cache.
    #[serde(default)]
    cache_n: Option<u64>,
}

fn millis(ms: f64) -> Option<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// Decodes an SSE body line by line (the framer has removed line endings).
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    data: String,
    has_data: bool,
    event: String,
    reason: Option<String>,
    stats: ServerStats,
    done: bool,
}

impl SseDecoder {
    /// One complete line.
    pub(crate) fn line(&mut self, line: &str, out: &mut dyn FnMut(Event)) -> Result<(), String> {
        if line.is_empty() {
            return self.dispatch(out);
        }
        if line.starts_with(':') {
            return Ok(()); // a comment, e.g. a keep-alive ping
        }
        if line.starts_with('{') && !self.has_data {
            // Liberal: a server that ignored `stream: true` and sent one
            // compact JSON object, or streams bare JSON lines.
            return if self.done {
                Ok(())
            } else {
                self.frame(line, false, out)
            };
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.event),
            _ => {} // `id`, `retry`, and unknown fields are ignored, as the SSE spec says
        }
        Ok(())
    }

    /// The body ended: a frame without its blank line still counts, and a
    /// reply that reported its `finish_reason` but no `[DONE]` is complete.
    pub(crate) fn end(&mut self, out: &mut dyn FnMut(Event)) -> Result<(), String> {
        self.dispatch(out)?;
        if !self.done && self.reason.is_some() {
            self.finish(out);
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut dyn FnMut(Event)) -> Result<(), String> {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            return Ok(());
        }
        let data = std::mem::take(&mut self.data);
        if self.done {
            return Ok(());
        }
        let is_error_event = event == "error";
        match self.frame(&data, is_error_event, out) {
            Ok(()) => Ok(()),
            // Liberal: a server that forgets the blank line between frames
            // sends several JSON objects as one multi-line frame.
            Err(_)
                if data.contains('\n')
                    && data
                        .lines()
                        .all(|l| l.trim().is_empty() || l.trim_start().starts_with(['{', '['])) =>
            {
                data.lines()
                    .filter(|l| !l.trim().is_empty())
                    .try_for_each(|l| self.frame(l, is_error_event, out))
            }
            Err(e) => Err(e),
        }
    }

    fn frame(&mut self, data: &str, is_error_event: bool, out: &mut dyn FnMut(Event)) -> Result<(), String> {
        let data = data.trim();
        if data == "[DONE]" {
            self.finish(out);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(value) => value,
            Err(_) if is_error_event => {
                out(Event::Error(data.to_owned()));
                return Ok(());
            }
            Err(e) => return Err(format!("an event's data is not JSON ({e}): {}", excerpt(data))),
        };
        if let Some(error) = value.get("error") {
            out(Event::Error(error_text(error)));
            return Ok(());
        }
        if is_error_event {
            out(Event::Error(error_text(&value)));
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_value(value)
            .map_err(|e| format!("an event's data is not a completion chunk ({e}): {}", excerpt(data)))?;
        for choice in chunk.choices {
            let content = choice.delta.or(choice.message).and_then(|c| c.content);
            if let Some(text) = content.filter(|t| !t.is_empty()) {
                out(Event::Token(text));
            }
            if let Some(reason) = choice.finish_reason {
                self.reason = Some(reason);
            }
        }
        if let Some(usage) = chunk.usage {
            self.stats.prompt_tokens = usage.prompt_tokens.or(self.stats.prompt_tokens);
            self.stats.completion_tokens = usage.completion_tokens.or(self.stats.completion_tokens);
        }
        if let Some(timings) = chunk.timings {
            self.stats.prompt_eval = timings.prompt_ms.and_then(millis).or(self.stats.prompt_eval);
            self.stats.eval = timings.predicted_ms.and_then(millis).or(self.stats.eval);
            self.stats.prompt_evaluated = timings.prompt_n.or(self.stats.prompt_evaluated);
            self.stats.prompt_cached = timings.cache_n.or(self.stats.prompt_cached);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn FnMut(Event)) {
        self.done = true;
        out(Event::Done {
            reason: self.reason.take(),
            stats: std::mem::take(&mut self.stats),
        });
    }
}

/// The text and finish of a non-streamed completion (the warm-up).
pub(crate) fn completion(body: &[u8]) -> Result<Vec<Event>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the completion is not UTF-8 ({e})"))?;
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    decoder.frame(text, false, &mut |e| events.push(e))?;
    decoder.finish(&mut |e| events.push(e));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LineFramer;

    /// Frames and decodes `body` fed in the given pieces.
    fn decode(pieces: &[&[u8]]) -> Result<Vec<Event>, String> {
        let mut framer = LineFramer::new(1 << 20);
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        let mut result = Ok(());
        for piece in pieces {
            framer
                .push(piece, |line| {
                    if result.is_ok() {
                        result = decoder.line(line, &mut |e| events.push(e));
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        framer
            .finish(|line| {
                if result.is_ok() {
                    result = decoder.line(line, &mut |e| events.push(e));
                }
            })
            .map_err(|e| e.to_string())?;
        result?;
        decoder.end(&mut |e| events.push(e))?;
        Ok(events)
    }

    /// The body must decode the same whole, split at every byte boundary
    /// (inside UTF-8 code points and `\r\n` pairs), and one byte at a time.
    fn decode_every_split(body: &str) -> Vec<Event> {
        let bytes = body.as_bytes();
        let whole = decode(&[bytes]).expect("decodes whole");
        for cut in 0..=bytes.len() {
            assert_eq!(
                decode(&[&bytes[..cut], &bytes[cut..]]).as_ref(),
                Ok(&whole),
                "cut at {cut}"
            );
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode(&singles).as_ref(), Ok(&whole), "byte by byte");
        whole
    }

    fn tokens(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Token(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    const LLAMA_CPP: &str = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}],\"object\":\"chat.completion.chunk\"}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bonjour, \"},\"finish_reason\":null}]}\n\n",
        ": ping\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"été 日本 🎉\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"timings\":{\"cache_n\":2,\"prompt_n\":5,\"prompt_ms\":12.5,\"predicted_n\":3,\"predicted_ms\":40.0}}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn a_role_only_first_chunk_then_content_then_usage_then_done() {
        let events = decode_every_split(LLAMA_CPP);
        assert_eq!(tokens(&events), vec!["Bonjour, ", "été 日本 🎉"]);
        assert_eq!(
            events.last(),
            Some(&Event::Done {
                reason: Some("stop".into()),
                stats: ServerStats {
                    prompt_tokens: Some(5),
                    completion_tokens: Some(3),
                    prompt_eval: Some(Duration::from_micros(12_500)),
                    eval: Some(Duration::from_millis(40)),
                    // llama.cpp's server: evaluated, and reused from its cache.
                    prompt_evaluated: Some(5),
                    prompt_cached: Some(2),
                    ..ServerStats::default()
                },
            })
        );
    }

    #[test]
    fn crlf_and_lone_cr_endings_decode_alike() {
        let crlf = LLAMA_CPP.replace('\n', "\r\n");
        let cr = LLAMA_CPP.replace('\n', "\r");
        let lf = decode(&[LLAMA_CPP.as_bytes()]);
        assert_eq!(decode_every_split(&crlf), lf.clone().unwrap_or_default());
        assert_eq!(decode_every_split(&cr), lf.unwrap_or_default());
    }

    #[test]
    fn fields_comments_and_multi_line_data() {
        let body = concat!(
            ": this is a comment\n",
            "retry: 1000\n",
            "id: 1\n",
            "event: message\n",
            "data: {\"choices\":[{\"delta\":\n",
            "data: {\"content\":\"a\"}}]}\n",
            "\n",
            "data:{\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n",
            "\n",
            "data: [DONE]\n",
            "\n",
        );
        let events = decode_every_split(body);
        assert_eq!(tokens(&events), vec!["a", "b"]);
        assert!(matches!(events.last(), Some(Event::Done { reason: Some(r), .. }) if r == "length"));
    }

    #[test]
    fn error_frames_are_errors() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n",
            "data: {\"error\":{\"message\":\"context overflow\",\"type\":\"server_error\",\"code\":500}}\n\n",
        );
        let events = decode_every_split(body);
        assert_eq!(
            events,
            vec![
                Event::Token("x".into()),
                Event::Error("context overflow (server_error, 500)".into())
            ]
        );
        let body = "event: error\ndata: {\"message\":\"model crashed\"}\n\n";
        assert_eq!(decode_every_split(body), vec![Event::Error("model crashed".into())]);
        let body = "event: error\ndata: out of memory\n\n";
        assert_eq!(decode_every_split(body), vec![Event::Error("out of memory".into())]);
    }

    #[test]
    fn frames_without_blank_lines_and_a_missing_done_are_tolerated() {
        // No blank lines between frames, no [DONE], no final newline.
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}",
        );
        let events = decode_every_split(body);
        assert_eq!(tokens(&events), vec!["a", "b"]);
        assert!(matches!(events.last(), Some(Event::Done { reason: Some(r), .. }) if r == "stop"));
    }

    #[test]
    fn bare_json_lines_are_taken_as_frames() {
        let body = concat!(
            "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi there\"},\"finish_reason\":\"stop\"}],",
            "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n",
        );
        let events = decode_every_split(body);
        assert_eq!(tokens(&events), vec!["Hi there"]);
        assert!(matches!(events.last(), Some(Event::Done { reason: Some(r), .. }) if r == "stop"));
    }

    #[test]
    fn nothing_after_done_counts_and_garbage_is_refused() {
        let events = decode(&[b"data: [DONE]\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n"]);
        assert_eq!(events.map(|e| tokens(&e).len()), Ok(0));
        let err = decode(&[b"data: <html>\n\n"]).err().unwrap_or_default();
        assert!(err.contains("not JSON") && err.contains("<html>"), "{err}");
    }

    #[test]
    fn request_bodies_use_openai_names_and_ask_for_usage() {
        let options = GenerationOptions {
            temperature: Some(0.5),
            top_p: Some(0.75),
            seed: Some(7),
            max_tokens: Some(64),
            num_ctx: Some(4096),
            stop: vec!["###".into()],
        };
        let body = chat_body(
            "qwen",
            &[Message::system("s"), Message::user("u")],
            true,
            &options,
            None,
        );
        assert_eq!(
            body,
            json!({
                "model": "qwen",
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "temperature": 0.5,
                "top_p": 0.75,
                "max_tokens": 64,
                "stop": ["###"],
                "seed": 7,
            })
        );
        let warm = chat_body(
            "qwen",
            &[Message::user("hi")],
            false,
            &GenerationOptions::default(),
            Some(1),
        );
        assert_eq!(
            warm,
            json!({"model": "qwen", "messages": [{"role": "user", "content": "hi"}], "stream": false, "max_tokens": 1})
        );
    }

    #[test]
    fn served_models_match_by_id_or_file_name() {
        assert!(model_matches("qwen", "qwen"));
        assert!(model_matches(
            "qwen2.5-0.5b-instruct-q4_k_m",
            "/models/qwen2.5-0.5b-instruct-q4_k_m.gguf"
        ));
        assert!(model_matches("m.gguf", "/models/m.gguf"));
        assert!(!model_matches("other", "/models/m.gguf"));
        assert_eq!(
            model_ids(br#"{"object":"list","data":[{"id":"a","object":"model"},{"id":"b"}]}"#),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn a_whole_completion_decodes() {
        let events = completion(
            br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":1}}"#,
        );
        assert_eq!(
            events,
            Ok(vec![
                Event::Token("Hi".into()),
                Event::Done {
                    reason: Some("length".into()),
                    stats: ServerStats {
                        prompt_tokens: Some(9),
                        completion_tokens: Some(1),
                        ..ServerStats::default()
                    }
                }
            ])
        );
    }
}
