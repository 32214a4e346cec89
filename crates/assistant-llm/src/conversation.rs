//! Chat messages and the per-session history sent with each request.
//!
//! A voice assistant's history must say what the user actually heard: when
//! the user barges in, the reply is recorded only up to what was spoken
//! ([`Conversation::record_interrupted`]), so the model does not believe it
//! said things nobody heard. The history is bounded by a character budget;
//! the oldest whole exchanges go first, the system prompt and the newest
//! exchange never.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the whole conversation.
    System,
    /// What the user said.
    User,
    /// What the assistant replied.
    Assistant,
}

/// One chat message, serialized as both protocols expect:
/// `{"role": "user", "content": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A user message and the reply the user heard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// What the user said.
    pub user: String,
    /// What the assistant said, if anything was recorded yet.
    pub assistant: Option<String>,
    /// The user cut the reply short: `assistant` holds only the spoken part.
    pub interrupted: bool,
}

/// One session's system prompt and history.
///
/// Usage per turn: [`push_user`](Self::push_user) the final transcript, send
/// [`messages`](Self::messages), then record what was spoken with
/// [`record_reply`](Self::record_reply) or
/// [`record_interrupted`](Self::record_interrupted).
///
/// Roles always alternate (many chat templates reject two user messages in a
/// row): a user message that got no recorded reply (the request failed, or
/// the user barged in before a word was spoken) is merged with the next one.
#[derive(Clone, Debug)]
pub struct Conversation {
    system: Option<String>,
    budget_chars: usize,
    exchanges: VecDeque<Exchange>,
}

impl Conversation {
    /// An empty conversation. `budget_chars` bounds the characters of all
    /// messages sent, the system prompt included; see [`messages`](Self::messages).
    #[must_use]
    pub fn new(system: Option<String>, budget_chars: usize) -> Self {
        Self {
            system: system.filter(|s| !s.is_empty()),
            budget_chars,
            exchanges: VecDeque::new(),
        }
    }

    /// The system prompt.
    #[must_use]
    pub fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    /// Starts a turn with what the user said. If the previous user message
    /// got no reply, the two are joined by a newline.
    pub fn push_user(&mut self, text: impl Into<String>) {
        let text = text.into();
        match self.exchanges.back_mut() {
            Some(open) if open.assistant.is_none() => {
                open.user.push('\n');
                open.user.push_str(&text);
            }
            _ => self.exchanges.push_back(Exchange {
                user: text,
                assistant: None,
                interrupted: false,
            }),
        }
        self.trim();
    }

    /// Records the reply to the newest user message, spoken in full. An
    /// empty reply records nothing (the exchange stays open). Returns whether
    /// it was recorded: `false` also if there is no user message awaiting a
    /// reply.
    pub fn record_reply(&mut self, text: &str) -> bool {
        self.record(text, false)
    }

    /// Records the part of the reply that was spoken before the user barged
    /// in. Nothing spoken records nothing (the exchange stays open, and the
    /// user's next words join this message). Returns whether it was recorded.
    pub fn record_interrupted(&mut self, spoken: &str) -> bool {
        self.record(spoken, true)
    }

    fn record(&mut self, text: &str, interrupted: bool) -> bool {
        if text.trim().is_empty() {
            return false;
        }
        let Some(open) = self.exchanges.back_mut().filter(|e| e.assistant.is_none()) else {
            tracing::warn!("a reply was recorded with no user message awaiting one; ignored");
            return false;
        };
        open.assistant = Some(text.to_owned());
        open.interrupted = interrupted;
        self.trim();
        true
    }

    /// What to send: the system prompt first, then the history, oldest
    /// first. The history already fits the budget (the newest exchange is
    /// kept even if it alone exceeds it).
    #[must_use]
    pub fn messages(&self) -> Vec<Message> {
        let mut out = Vec::with_capacity(1 + 2 * self.exchanges.len());
        if let Some(system) = &self.system {
            out.push(Message::system(system.clone()));
        }
        for exchange in &self.exchanges {
            out.push(Message::user(exchange.user.clone()));
            if let Some(reply) = &exchange.assistant {
                out.push(Message::assistant(reply.clone()));
            }
        }
        out
    }

    /// The exchanges kept, oldest first.
    pub fn exchanges(&self) -> impl ExactSizeIterator<Item = &Exchange> {
        self.exchanges.iter()
    }

    /// How many exchanges are kept.
    #[must_use]
    pub fn history_len(&self) -> usize {
        self.exchanges.len()
    }

    /// Characters [`messages`](Self::messages) would send (what the budget counts).
    #[must_use]
    pub fn chars(&self) -> usize {
        self.system.as_deref().map_or(0, count) + self.exchanges.iter().map(exchange_chars).sum::<usize>()
    }

    /// Forgets the history (a new session); the system prompt stays.
    pub fn clear(&mut self) {
        self.exchanges.clear();
    }

    /// Drops the oldest exchanges until the budget holds or one is left.
    fn trim(&mut self) {
        let mut total = self.chars();
        while total > self.budget_chars && self.exchanges.len() > 1 {
            if let Some(dropped) = self.exchanges.pop_front() {
                total -= exchange_chars(&dropped);
            }
        }
    }
}

fn count(text: &str) -> usize {
    text.chars().count()
}

fn exchange_chars(e: &Exchange) -> usize {
    count(&e.user) + e.assistant.as_deref().map_or(0, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(c: &Conversation) -> Vec<(Role, String)> {
        c.messages().into_iter().map(|m| (m.role, m.content)).collect()
    }

    #[test]
    fn the_system_prompt_comes_first_and_roles_alternate() {
        let mut c = Conversation::new(Some("Be brief.".into()), 1000);
        c.push_user("hi");
        assert!(c.record_reply("Hello!"));
        c.push_user("what time is it");
        assert_eq!(
            contents(&c),
            vec![
                (Role::System, "Be brief.".into()),
                (Role::User, "hi".into()),
                (Role::Assistant, "Hello!".into()),
                (Role::User, "what time is it".into()),
            ]
        );
        let json = serde_json::to_value(c.messages()).unwrap_or_default();
        assert_eq!(json[0], serde_json::json!({"role": "system", "content": "Be brief."}));
    }

    #[test]
    fn the_oldest_whole_exchanges_go_first_and_the_newest_user_message_stays() {
        // Budget counts the system prompt (4 chars) too.
        let mut c = Conversation::new(Some("sys.".into()), 20);
        c.push_user("aaaa");
        c.record_reply("bbbb"); // 4 + 8 = 12
        c.push_user("cccc");
        c.record_reply("dddd"); // 20: still fits
        assert_eq!(c.history_len(), 2);
        assert_eq!(c.chars(), 20);
        c.push_user("eeee"); // 24 > 20: the first exchange goes, whole
        assert_eq!(
            contents(&c),
            vec![
                (Role::System, "sys.".into()),
                (Role::User, "cccc".into()),
                (Role::Assistant, "dddd".into()),
                (Role::User, "eeee".into()),
            ]
        );
        // A user message longer than the budget alone is still sent.
        let long = "x".repeat(100);
        c.record_reply("ffff");
        c.push_user(long.clone());
        assert_eq!(contents(&c), vec![(Role::System, "sys.".into()), (Role::User, long)]);
    }

    #[test]
    fn characters_not_bytes_are_counted() {
        let mut c = Conversation::new(None, 6);
        c.push_user("日本");
        c.record_reply("éé");
        c.push_user("ab"); // 2 + 2 + 2 = 6 characters (12 bytes)
        assert_eq!(c.history_len(), 2);
        assert_eq!(c.chars(), 6);
    }

    #[test]
    fn an_interrupted_reply_is_recorded_up_to_what_was_spoken() {
        let mut c = Conversation::new(None, 1000);
        c.push_user("tell me a story");
        assert!(c.record_interrupted("Once upon a time,"));
        let last = c.exchanges().last().cloned();
        assert_eq!(
            last,
            Some(Exchange {
                user: "tell me a story".into(),
                assistant: Some("Once upon a time,".into()),
                interrupted: true,
            })
        );
        // Nothing left to reply to.
        assert!(!c.record_reply("late"));
    }

    #[test]
    fn an_unanswered_user_message_joins_the_next() {
        let mut c = Conversation::new(None, 1000);
        c.push_user("turn on");
        assert!(!c.record_interrupted(""), "nothing spoken records nothing");
        c.push_user("the lights");
        assert_eq!(contents(&c), vec![(Role::User, "turn on\nthe lights".into())]);
        assert!(!c.record_reply("   "), "an empty reply records nothing");
        assert!(c.record_reply("Done."));
        assert_eq!(c.history_len(), 1);
    }

    #[test]
    fn clearing_keeps_the_system_prompt() {
        let mut c = Conversation::new(Some("S".into()), 100);
        c.push_user("a");
        c.clear();
        assert_eq!(contents(&c), vec![(Role::System, "S".into())]);
        assert_eq!(Conversation::new(Some(String::new()), 10).system(), None);
    }
}
