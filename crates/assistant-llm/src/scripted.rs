//! The scripted responder: a fixed reply streamed on a fixed schedule, with
//! no model server.
//!
//! `assistantd bench --llm scripted:…` measures every other stage
//! (listening, chunking, speaking, playback) with it, reproducibly and on
//! any machine: the thinking stage then takes exactly the time the
//! [`Script`] says. It sits behind the same [`Client`](crate::Client) and
//! [`Reply`] as the HTTP backends, so the pipeline cannot tell; reports
//! can, because its [`Endpoint`] reads "the scripted responder (ttft
//! 200 ms, 30 tokens/s)".
//!
//! The text is cut into tokens the way a model streams it (words with
//! their leading space, punctuation on its own: `Hello`, `,`, ` world`,
//! `.`), and token `k` (from 0) is due [`Pace::ttft`] + `k`/[`Pace::rate`]
//! after the call to [`Client::chat`](crate::Client::chat), each offset
//! computed from the start so that nothing drifts. Waiting uses tokio's
//! clock, so a test on paused time (`start_paused = true`) sees the schedule
//! exactly, at the resolution of tokio's timer: it wakes on whole
//! milliseconds, rounding up (a token due at 233.33 ms comes at 234 ms).
//! Each token is stamped on the pipeline clock the moment it is yielded.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use assistant_core::{Clock, Timestamp, Token, TurnId};
use thiserror::Error;
use tokio::time::Instant;

use crate::error::Endpoint;
use crate::reply::{Finish, Reply, ServerStats};
use crate::{LlmError, Message, ServerConfig};

/// The scripted responder's one model name, and its version.
pub(crate) const SCRIPTED: &str = "scripted";

/// The accepted spec syntax, quoted by every [`ScriptError`].
pub const SCRIPT_SYNTAX: &str = "scripted:TEXT or scripted(ttft=150ms,rate=40):TEXT \
     (ttft: time to the first token, in ms or s, default 200ms; rate: tokens per second, \
     a whole number, default 30; each optional, in any order)";

/// A deadline this far ahead stands for "never" when a pace overflows the clock.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// How fast the scripted responder answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pace {
    /// From the call to [`Client::chat`](crate::Client::chat) to the first
    /// token: what a model server spends on the prompt.
    pub ttft: Duration,
    /// Tokens per second after the first.
    pub rate: NonZeroU32,
}

impl Pace {
    /// The default time to first token: 200 ms.
    pub const DEFAULT_TTFT: Duration = Duration::from_millis(200);
    /// The default rate: 30 tokens per second.
    // 1 + 29: `NonZeroU32::new` is not usable in a constant without a panic path.
    pub const DEFAULT_RATE: NonZeroU32 = NonZeroU32::MIN.saturating_add(29);

    /// When token `index` (counted from 0) is due, after the call to
    /// `chat`: `ttft + index / rate`, each offset computed on its own in
    /// whole nanoseconds (rounded down), so no error accumulates.
    #[must_use]
    pub fn offset(&self, index: u32) -> Duration {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.rate.get());
        self.ttft
            .saturating_add(Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    /// The settings in spec form, e.g. `scripted(ttft=200ms,rate=30)`:
    /// followed by `:TEXT`, [`Script::parse`] reads it back.
    #[must_use]
    pub fn spec(&self) -> String {
        format!("{SCRIPTED}(ttft={}ms,rate={})", millis(self.ttft), self.rate)
    }
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            ttft: Self::DEFAULT_TTFT,
            rate: Self::DEFAULT_RATE,
        }
    }
}

/// "ttft 200 ms, 30 tokens/s".
impl fmt::Display for Pace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ttft {} ms, {} tokens/s", millis(self.ttft), self.rate)
    }
}

/// What the scripted responder says, the same for every turn, and how fast.
///
/// Made from a spec ([`Script::parse`]: `scripted:TEXT`,
/// `scripted(ttft=150ms,rate=40):TEXT`) or directly; handed to the client
/// through [`ServerConfig::scripted`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Script {
    /// The reply, streamed exactly as written (the tokens concatenate to it).
    pub text: String,
    /// When the tokens come.
    pub pace: Pace,
}

impl Script {
    /// A script saying `text` at the default pace (200 ms to the first
    /// token, then 30 tokens/s).
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            pace: Pace::default(),
        }
    }

    /// Reads a spec: `scripted:TEXT` (the default pace) or
    /// `scripted(ttft=150ms,rate=40):TEXT`, where `ttft` takes `ms` or `s`
    /// (decimals allowed: `0.15s`), `rate` is a whole number of tokens per
    /// second, and either may be left out, in any order. Everything after
    /// the first `:` (after the settings, if any) is the text, verbatim.
    ///
    /// # Errors
    /// [`ScriptError`] naming the part at fault and quoting
    /// [`SCRIPT_SYNTAX`].
    pub fn parse(spec: &str) -> Result<Self, ScriptError> {
        let spec = spec.trim_start();
        let Some(rest) = spec.strip_prefix(SCRIPTED) else {
            return Err(ScriptError::NotScripted { found: head(spec) });
        };
        let (settings, text) = if let Some(text) = rest.strip_prefix(':') {
            (None, text)
        } else if let Some(inside) = rest.strip_prefix('(') {
            let Some((settings, after)) = inside.split_once(')') else {
                return Err(ScriptError::Unclosed);
            };
            match after.strip_prefix(':') {
                Some(text) => (Some(settings), text),
                None if after.is_empty() => return Err(ScriptError::NoText),
                None => return Err(ScriptError::AfterSettings { found: head(after) }),
            }
        } else if rest.is_empty() {
            return Err(ScriptError::NoText);
        } else {
            return Err(ScriptError::NotScripted { found: head(spec) });
        };
        let pace = match settings {
            Some(settings) => parse_settings(settings)?,
            None => Pace::default(),
        };
        if text.trim().is_empty() {
            return Err(ScriptError::EmptyText);
        }
        Ok(Self {
            text: text.to_owned(),
            pace,
        })
    }

    /// The tokens the text is streamed as: each word with the whitespace
    /// before it (` world`), each other character on its own (`,` `.` `?`,
    /// also with the whitespace before it); whitespace at the very end is a
    /// token of its own. An apostrophe between letters stays in its word
    /// (`don't`). Concatenated, the tokens are the text.
    pub fn tokens(&self) -> impl Iterator<Item = &str> + '_ {
        let mut rest = self.text.as_str();
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let (token, tail) = rest.split_at(token_len(rest));
            rest = tail;
            Some(token)
        })
    }
}

impl FromStr for Script {
    type Err = ScriptError;

    fn from_str(spec: &str) -> Result<Self, ScriptError> {
        Self::parse(spec)
    }
}

/// The spec that [`Script::parse`] reads back:
/// `scripted(ttft=200ms,rate=30):TEXT`.
impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.pace.spec(), self.text)
    }
}

/// A scripted responder spec that cannot be read. Each message names the
/// part at fault and ends with the accepted syntax.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ScriptError {
    /// The spec does not start with `scripted:` or `scripted(`.
    #[error("'{found}' is not a scripted responder spec; expected {SCRIPT_SYNTAX}")]
    NotScripted {
        /// The start of the spec.
        found: String,
    },
    /// The spec ends before the `:` that starts the text.
    #[error("the scripted responder spec has no ':' before the reply text; expected {SCRIPT_SYNTAX}")]
    NoText,
    /// `scripted(` without the closing `)`.
    #[error("the scripted responder's settings '(' are not closed by ')'; expected {SCRIPT_SYNTAX}")]
    Unclosed,
    /// Something other than `:` follows the settings' `)`.
    #[error("expected ':' after the scripted responder's settings, found '{found}'; expected {SCRIPT_SYNTAX}")]
    AfterSettings {
        /// What follows the `)`.
        found: String,
    },
    /// Two commas with nothing between them, or a trailing comma.
    #[error("an empty setting in the scripted responder's settings (a stray ','); expected {SCRIPT_SYNTAX}")]
    EmptySetting,
    /// A setting without `=`.
    #[error("the scripted responder's setting '{setting}' is not key=value; expected {SCRIPT_SYNTAX}")]
    NotKeyValue {
        /// The setting as written.
        setting: String,
    },
    /// A key other than `ttft` and `rate`.
    #[error("unknown scripted responder setting '{key}' (the settings are ttft and rate); expected {SCRIPT_SYNTAX}")]
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// The same key twice.
    #[error("the scripted responder's setting '{key}' is given twice; expected {SCRIPT_SYNTAX}")]
    Repeated {
        /// The key.
        key: &'static str,
    },
    /// `ttft` is not a duration with a unit.
    #[error(
        "the scripted responder's ttft '{value}' is not a duration such as 150ms or 0.2s; expected {SCRIPT_SYNTAX}"
    )]
    BadTtft {
        /// The value as written.
        value: String,
    },
    /// `rate` is not a whole number of at least 1.
    #[error(
        "the scripted responder's rate '{value}' is not a whole number of tokens per second, at least 1; expected {SCRIPT_SYNTAX}"
    )]
    BadRate {
        /// The value as written.
        value: String,
    },
    /// Nothing (or only whitespace) after the `:`.
    #[error("the scripted responder's reply text after ':' is empty; expected {SCRIPT_SYNTAX}")]
    EmptyText,
}

/// The settings between the parentheses: `ttft=150ms,rate=40`, either
/// optional (an empty list means the defaults).
fn parse_settings(settings: &str) -> Result<Pace, ScriptError> {
    let mut pace = Pace::default();
    if settings.trim().is_empty() {
        return Ok(pace);
    }
    let (mut ttft_set, mut rate_set) = (false, false);
    for setting in settings.split(',') {
        let setting = setting.trim();
        if setting.is_empty() {
            return Err(ScriptError::EmptySetting);
        }
        let Some((key, value)) = setting.split_once('=') else {
            return Err(ScriptError::NotKeyValue {
                setting: setting.to_owned(),
            });
        };
        let value = value.trim();
        match key.trim() {
            "ttft" => {
                if std::mem::replace(&mut ttft_set, true) {
                    return Err(ScriptError::Repeated { key: "ttft" });
                }
                pace.ttft = parse_duration(value).ok_or_else(|| ScriptError::BadTtft {
                    value: value.to_owned(),
                })?;
            }
            "rate" => {
                if std::mem::replace(&mut rate_set, true) {
                    return Err(ScriptError::Repeated { key: "rate" });
                }
                pace.rate =
                    value
                        .parse::<u32>()
                        .ok()
                        .and_then(NonZeroU32::new)
                        .ok_or_else(|| ScriptError::BadRate {
                            value: value.to_owned(),
                        })?;
            }
            other => {
                return Err(ScriptError::UnknownKey { key: other.to_owned() });
            }
        }
    }
    Ok(pace)
}

/// `150ms`, `0.2s`, `1.5 s`: a decimal number and a unit, read exactly
/// (no floating point; digits past the nanosecond are dropped).
fn parse_duration(value: &str) -> Option<Duration> {
    let (number, unit_nanos) = if let Some(number) = value.strip_suffix("ms") {
        (number, 1_000_000_u128)
    } else if let Some(number) = value.strip_suffix('s') {
        (number, 1_000_000_000_u128)
    } else {
        return None;
    };
    let number = number.trim_end();
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let mut nanos = if whole.is_empty() {
        0
    } else {
        whole.parse::<u128>().ok()?.checked_mul(unit_nanos)?
    };
    let mut scale = unit_nanos;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos += u128::from(digit - b'0') * scale;
    }
    Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
}

/// The byte length of the first token of `text` (not empty).
fn token_len(text: &str) -> usize {
    let body = text.trim_start();
    let space = text.len() - body.len();
    let mut chars = body.chars();
    let Some(first) = chars.next() else {
        // Whitespace to the end: one token.
        return text.len();
    };
    let mut len = first.len_utf8();
    if first.is_alphanumeric() {
        let mut rest = chars.as_str();
        loop {
            let mut ahead = rest.chars();
            let Some(c) = ahead.next() else { break };
            let joins = matches!(c, '\'' | '\u{2019}') && ahead.next().is_some_and(char::is_alphanumeric);
            if !(c.is_alphanumeric() || joins) {
                break;
            }
            len += c.len_utf8();
            rest = &rest[c.len_utf8()..];
        }
    }
    space + len
}

/// A duration in milliseconds, as briefly as exact: `200`, `1500`, `0.5`.
fn millis(d: Duration) -> String {
    let whole = d.as_millis();
    let nanos = d.subsec_nanos() % 1_000_000;
    if nanos == 0 {
        whole.to_string()
    } else {
        let fraction = format!("{nanos:06}");
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    }
}

/// The start of `text`, up to its first `:` or `(`, for an error message.
fn head(text: &str) -> String {
    let end = text.find([':', '(']).unwrap_or(text.len());
    text[..end].chars().take(40).collect()
}

/// The client side of the scripted responder: answers without a server.
#[derive(Debug)]
pub(crate) struct Scripted {
    config: ServerConfig,
    server: Endpoint,
    script: Script,
}

impl Scripted {
    /// See [`Client::new`](crate::Client::new): the configuration must carry a script.
    pub(crate) fn new(config: ServerConfig) -> Result<Self, LlmError> {
        let Some(script) = config.script.clone() else {
            return Err(LlmError::Config {
                field: "backend",
                reason: format!(
                    "the scripted responder has no script; give it one (ServerConfig::scripted), from a spec such as {SCRIPT_SYNTAX}"
                ),
            });
        };
        let server = Endpoint {
            backend: config.backend,
            url: script.pace.spec(),
            pace: Some(script.pace),
        };
        Ok(Self { config, server, script })
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.server
    }

    /// Starts the script's reply; its schedule counts from now. The
    /// messages are not read: every turn gets the same text.
    pub(crate) fn chat(&self, turn: TurnId, messages: &[Message], clock: &Clock) -> Reply {
        tracing::debug!(%turn, server = %self.server, messages = messages.len(), "scripted reply started");
        Reply::scripted(ScriptedReply::new(&self.script, turn, *clock))
    }
}

/// A scripted reply: the script's tokens, each yielded when it is due.
///
/// Cancel-safe by construction: the deadline of the next token follows from
/// when the reply started and how many tokens were yielded, and nothing
/// changes until the wait is over, so a `next` that loses a race is simply
/// polled again. Nothing runs in the background.
#[derive(Debug)]
pub(crate) struct ScriptedReply {
    turn: TurnId,
    clock: Clock,
    pace: Pace,
    /// Tokens not yet yielded.
    pending: VecDeque<String>,
    /// Tokens yielded.
    count: u32,
    /// When `chat` was called, on tokio's clock: the schedule's origin.
    started: Instant,
    /// The same moment on the pipeline clock.
    started_at: Timestamp,
    first_at: Option<Timestamp>,
    text: String,
    finish: Option<Finish>,
}

impl ScriptedReply {
    fn new(script: &Script, turn: TurnId, clock: Clock) -> Self {
        let started = Instant::now();
        Self {
            turn,
            clock,
            pace: script.pace,
            pending: script.tokens().map(str::to_owned).collect(),
            count: 0,
            started,
            started_at: stamp(&clock, started),
            first_at: None,
            text: String::with_capacity(script.text.len()),
            finish: None,
        }
    }

    /// See [`Reply::next`]: the next token once it is due, then `None`.
    pub(crate) async fn next(&mut self) -> Option<Result<Token, LlmError>> {
        if self.finish.is_some() {
            return None;
        }
        let due = self.due(self.pace.offset(self.count));
        if self.pending.is_empty() {
            if self.count == 0 {
                // An empty script still takes its time to first token.
                tokio::time::sleep_until(due).await;
            }
            self.finish = Some(self.finished());
            return None;
        }
        tokio::time::sleep_until(due).await;
        let text = self.pending.pop_front()?;
        let at = stamp(&self.clock, Instant::now());
        self.first_at.get_or_insert(at);
        self.count += 1;
        self.text.push_str(&text);
        Some(Ok(Token {
            turn: self.turn,
            text,
            at,
        }))
    }

    pub(crate) fn turn(&self) -> TurnId {
        self.turn
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn finish(&self) -> Option<&Finish> {
        self.finish.as_ref()
    }

    /// `offset` after the start, on tokio's clock.
    fn due(&self, offset: Duration) -> Instant {
        self.started
            .checked_add(offset)
            .or_else(|| self.started.checked_add(FAR_FUTURE))
            .unwrap_or(self.started)
    }

    /// How the reply ended: our measurements, and the script's figures
    /// where a server would report its own.
    fn finished(&self) -> Finish {
        let now = stamp(&self.clock, Instant::now());
        let last = match self.count.checked_sub(1) {
            Some(last) => self.pace.offset(last),
            None => self.pace.ttft,
        };
        Finish {
            reason: Some("stop".to_owned()),
            tokens: self.count,
            time_to_first_token: self.first_at.and_then(|t| t.checked_since(self.started_at)),
            elapsed: now.checked_since(self.started_at).unwrap_or_default(),
            server: ServerStats {
                // No prompt is read.
                prompt_tokens: None,
                completion_tokens: Some(u64::from(self.count)),
                total: Some(last),
                // Nothing to load.
                load: Some(Duration::ZERO),
                prompt_eval: Some(self.pace.ttft),
                // From the first token to the last.
                eval: Some(last.saturating_sub(self.pace.ttft)),
                prompt_evaluated: None,
                prompt_cached: None,
            },
        }
    }
}

impl Drop for ScriptedReply {
    fn drop(&mut self) {
        if self.finish.is_none() {
            tracing::debug!(turn = %self.turn, tokens = self.count, "scripted reply dropped before its end");
        }
    }
}

/// `instant` (tokio's clock) on the pipeline clock. Outside a paused test
/// runtime tokio's clock is the system's monotonic clock, so this is
/// `clock.now()` for the present moment; on paused time it follows the
/// paused clock, which keeps the stamps on the schedule.
fn stamp(clock: &Clock, instant: Instant) -> Timestamp {
    clock.at(instant.into_std())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        Script::new(text).tokens().map(str::to_owned).collect()
    }

    #[test]
    fn text_is_cut_like_a_model_streams_it() {
        assert_eq!(tokens("Hello, world."), vec!["Hello", ",", " world", "."]);
        assert_eq!(
            tokens("Is it  3.5?  Don't \u{2019}quote\u{2019} me!\n"),
            vec![
                "Is",
                " it",
                "  3",
                ".",
                "5",
                "?",
                "  Don't",
                " \u{2019}",
                "quote",
                "\u{2019}",
                " me",
                "!",
                "\n"
            ]
        );
        assert_eq!(tokens("  leading"), vec!["  leading"]);
        assert_eq!(tokens("   "), vec!["   "]);
        assert_eq!(tokens("naïve café 日本語"), vec!["naïve", " café", " 日本語"]);
        assert_eq!(tokens("it's' end"), vec!["it's", "'", " end"]);
        assert!(tokens("").is_empty());
    }

    #[test]
    fn ttft_reads_exactly() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("150ms"), Some(ms(150)));
        assert_eq!(parse_duration("0.15s"), Some(ms(150)));
        assert_eq!(parse_duration("1.5 s"), Some(ms(1500)));
        assert_eq!(parse_duration(".5s"), Some(ms(500)));
        assert_eq!(parse_duration("2.s"), Some(ms(2000)));
        assert_eq!(parse_duration("0.0000001ms"), Some(Duration::ZERO));
        assert_eq!(parse_duration("0ms"), Some(Duration::ZERO));
        for bad in [
            "150",
            "ms",
            "s",
            ".s",
            "-1s",
            "1e3ms",
            "1.2.3s",
            "x ms",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_print_exactly() {
        assert_eq!(millis(Duration::from_millis(200)), "200");
        assert_eq!(millis(Duration::from_micros(1500)), "1.5");
        assert_eq!(millis(Duration::from_nanos(1)), "0.000001");
        assert_eq!(millis(Duration::from_secs(2)), "2000");
    }
}
