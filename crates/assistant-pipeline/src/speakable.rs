//! What of an LLM's reply is read aloud.
//!
//! Chat models write markdown even when asked not to. A voice must not say
//! "asterisk asterisk" or read a code block, a link's URL or an emoji's name.
//! [`Speakable`] is a streaming filter: reply text goes in piece by piece (a
//! token may split `**` or a link anywhere), speakable text comes out, the
//! same whatever the split. It holds back only what it cannot decide yet: the
//! start of a line (a heading, a bullet, a code fence?) and an open link.
//!
//! - `**bold**`, `*italic*`, `` `code` ``, `~~struck~~`: the marks go, the words stay;
//! - `# Heading`, `- item`, `* item`, `+ item`, `1. item`, `2) item` at the start of a
//!   line: the marker goes; each line ends a clause ([`Piece::Break`]);
//! - fenced code blocks (```` ``` ````): dropped whole, fences and content;
//! - `[text](url)`: the text; a bracket that turns out to be no link is kept;
//! - emoji (and their joiners and variation selectors): dropped.

/// What the filter emits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text to speak.
    Text(String),
    /// The end of a line or list item: a clause ends here whatever its length.
    Break,
}

/// The longest link text held back waiting for `](`; past it the bracket is
/// taken as plain text.
const MAX_LINK_TEXT: usize = 200;
/// The longest URL held back waiting for `)`.
const MAX_LINK_URL: usize = 2_000;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Link {
    /// Not in a link.
    None,
    /// After `[`: the text so far.
    Text(String),
    /// After `]`: waiting for `(`.
    Closed(String),
    /// After `](`: the text, and how much URL was skipped.
    Url(String, usize),
}

/// The streaming markdown-to-speech filter (see the module docs).
#[derive(Clone, Debug)]
pub struct Speakable {
    /// The current line's first characters, while they may still be a
    /// marker (`#`, `-`, `1.`, a fence).
    line_start: Option<String>,
    /// Inside a fenced code block.
    in_fence: bool,
    /// The current line opened or closed a fence: drop it to its end.
    dropping_line: bool,
    link: Link,
    out: Vec<Piece>,
}

impl Default for Speakable {
    fn default() -> Self {
        Self::new()
    }
}

impl Speakable {
    /// A filter at the start of a reply.
    #[must_use]
    pub fn new() -> Self {
        Self {
            line_start: Some(String::new()),
            in_fence: false,
            dropping_line: false,
            link: Link::None,
            out: Vec::new(),
        }
    }

    /// Feeds reply text; returns what can be spoken of it so far.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        for c in text.chars() {
            self.char(c);
        }
        std::mem::take(&mut self.out)
    }

    /// The reply ended: returns whatever was held back.
    pub fn finish(&mut self) -> Vec<Piece> {
        if let Some(start) = self.line_start.take() {
            self.resolve_line_start(&start);
        }
        self.flush_link();
        self.line_start = Some(String::new());
        self.in_fence = false;
        self.dropping_line = false;
        std::mem::take(&mut self.out)
    }

    fn char(&mut self, c: char) {
        if c == '\n' || c == '\r' {
            self.end_line();
            return;
        }
        if self.dropping_line {
            return;
        }
        if let Some(start) = &mut self.line_start {
            start.push(c);
            if Self::line_start_decided(start) {
                let start = std::mem::take(start);
                self.line_start = None;
                self.resolve_line_start(&start);
            }
            return;
        }
        if self.in_fence {
            return;
        }
        self.inline(c);
    }

    /// Whether the line's start is decided (so it can be resolved), or may
    /// still become a marker or a fence.
    fn line_start_decided(start: &str) -> bool {
        let trimmed = start.trim_start();
        if trimmed.is_empty() {
            return false;
        }
        let could_be_fence = "```".starts_with(trimmed) || "~~~".starts_with(trimmed);
        let could_be_marker = trimmed.chars().all(|c| c == '#')
            || trimmed == "-"
            || trimmed == "*"
            || trimmed == "+"
            || (trimmed.chars().all(|c| c.is_ascii_digit()) && trimmed.len() < 4)
            || is_numbered_marker_prefix(trimmed);
        !(could_be_fence || could_be_marker)
    }

    /// Handles a decided line start: a fence, a marker, or plain text.
    fn resolve_line_start(&mut self, start: &str) {
        let trimmed = start.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            self.in_fence = !self.in_fence;
            self.dropping_line = true;
            return;
        }
        if self.in_fence {
            return;
        }
        // A marker needs its space: a lone "-" or "12" is text.
        let rest = strip_marker(trimmed).unwrap_or(trimmed);
        for c in rest.chars() {
            self.inline(c);
        }
    }

    fn end_line(&mut self) {
        if let Some(start) = self.line_start.take() {
            self.resolve_line_start(&start);
        }
        self.flush_link();
        self.dropping_line = false;
        self.line_start = Some(String::new());
        if !self.in_fence {
            self.out.push(Piece::Break);
        }
    }

    fn inline(&mut self, c: char) {
        match std::mem::replace(&mut self.link, Link::None) {
            Link::None => {
                if c == '[' {
                    self.link = Link::Text(String::new());
                } else {
                    self.emit(c);
                }
            }
            Link::Text(mut text) => {
                if c == ']' {
                    self.link = Link::Closed(text);
                } else if c == '[' || text.chars().count() >= MAX_LINK_TEXT {
                    self.emit('[');
                    self.emit_str(&text);
                    self.link = Link::None;
                    self.inline(c);
                } else {
                    text.push(c);
                    self.link = Link::Text(text);
                }
            }
            Link::Closed(text) => {
                if c == '(' {
                    self.link = Link::Url(text, 0);
                } else {
                    // "[x]" with no URL: say what was in the brackets.
                    self.emit_str(&text);
                    self.inline(c);
                }
            }
            Link::Url(text, skipped) => {
                if c == ')' {
                    self.emit_str(&text);
                } else if skipped >= MAX_LINK_URL || c.is_whitespace() {
                    // Not a URL after all: keep what was written.
                    self.emit_str(&text);
                    self.emit(' ');
                    self.emit(c);
                } else {
                    self.link = Link::Url(text, skipped + 1);
                }
            }
        }
    }

    fn flush_link(&mut self) {
        match std::mem::replace(&mut self.link, Link::None) {
            Link::None => {}
            Link::Text(text) => {
                self.emit('[');
                self.emit_str(&text);
            }
            Link::Closed(text) | Link::Url(text, _) => self.emit_str(&text),
        }
    }

    fn emit_str(&mut self, text: &str) {
        for c in text.chars() {
            self.emit(c);
        }
    }

    fn emit(&mut self, c: char) {
        if matches!(c, '*' | '`' | '~') || is_emoji(c) {
            return;
        }
        match self.out.last_mut() {
            Some(Piece::Text(text)) => text.push(c),
            _ => self.out.push(Piece::Text(c.to_string())),
        }
    }
}

/// `1.` or `12)` so far (digits then `.` or `)`), without the space yet.
fn is_numbered_marker_prefix(s: &str) -> bool {
    let digits = s.trim_end_matches(['.', ')']);
    s.len() == digits.len() + 1 && !digits.is_empty() && digits.len() < 4 && digits.chars().all(|c| c.is_ascii_digit())
}

/// The line after its marker (`# `, `- `, `* `, `+ `, `1. `, `2) `), or
/// `None` if the line has none.
fn strip_marker(line: &str) -> Option<&str> {
    let hashes = line.trim_start_matches('#');
    if hashes.len() < line.len() && (hashes.is_empty() || hashes.starts_with(' ')) {
        return Some(hashes.trim_start());
    }
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return Some(rest.trim_start());
        }
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if (1..4).contains(&digits) {
        let rest = &line[digits..];
        for mark in [". ", ") "] {
            if let Some(after) = rest.strip_prefix(mark) {
                return Some(after.trim_start());
            }
        }
    }
    None
}

/// Emoji and the characters that only shape them (joiner, variation
/// selectors, skin tones, regional indicators, keycap).
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF   // mahjong … symbols and pictographs extended-A (incl. flags, skin tones)
        | 0x2600..=0x27BF   // miscellaneous symbols, dingbats
        | 0x2B00..=0x2BFF   // arrows and stars such as ⭐
        | 0xFE00..=0xFE0F   // variation selectors
        | 0x200D            // zero-width joiner
        | 0x20E3            // combining keycap
        | 0xE0020..=0xE007F // tag characters (subdivision flags)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speak(pieces: &[&str]) -> String {
        let mut filter = Speakable::new();
        let mut out = Vec::new();
        for p in pieces {
            out.extend(filter.push(p));
        }
        out.extend(filter.finish());
        out.iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Break => "|",
            })
            .collect()
    }

    #[test]
    fn markdown_marks_and_emoji_are_not_spoken() {
        let cases: [(&str, &str); 12] = [
            ("**Sure!** Here it is.", "Sure! Here it is."),
            ("It is *really* `cold` today 🥶.", "It is really cold today ."),
            ("# Weather\nSunny.", "Weather|Sunny."),
            ("- eggs\n- milk\n* bread", "eggs|milk|bread"),
            ("1. Preheat.\n2) Bake.", "Preheat.|Bake."),
            ("See [the docs](https://example.org/a_b?c=d) now.", "See the docs now."),
            ("Tick [x] done.", "Tick x done."),
            ("Run:\n```sh\nrm -rf /\n```\nDone.", "Run:||Done."),
            ("~~old~~ new", "old new"),
            ("Go 👍🏽 team 🇫🇷!", "Go  team !"),
            ("A-B 3-4 and 10.5 stay.", "A-B 3-4 and 10.5 stay."),
            ("#1 fan, - 5 degrees", "#1 fan, - 5 degrees"),
        ];
        for (input, spoken) in cases {
            assert_eq!(speak(&[input]), spoken, "{input:?}");
        }
    }

    #[test]
    fn any_split_gives_the_same_speech() {
        let text = "**Hi** there.\n- [one](http://x.y/z) *two*\n```\ncode\n```\n3. three 🎉 done";
        let whole = speak(&[text]);
        let chars: Vec<char> = text.chars().collect();
        for cut in 0..=chars.len() {
            let (a, b): (String, String) = (chars[..cut].iter().collect(), chars[cut..].iter().collect());
            assert_eq!(speak(&[&a, &b]), whole, "split at {cut}");
        }
        let one_by_one: Vec<String> = chars.iter().map(char::to_string).collect();
        let pieces: Vec<&str> = one_by_one.iter().map(String::as_str).collect();
        assert_eq!(speak(&pieces), whole);
    }

    #[test]
    fn an_unfinished_construct_is_spoken_at_the_end() {
        assert_eq!(speak(&["see [the docs"]), "see [the docs");
        assert_eq!(speak(&["see [the docs](http://x"]), "see the docs");
        assert_eq!(speak(&["-"]), "-");
        assert_eq!(speak(&["12"]), "12");
    }
}
