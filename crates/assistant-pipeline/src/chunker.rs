//! Reply tokens in, speakable clauses out.
//!
//! The voice can start as soon as it has a clause, so the first clause is cut
//! early: at the first clause boundary (`,` `;` `:` or a sentence end) once
//! it holds [`ChunkerSettings::first_clause_min_chars`] characters. Later
//! clauses are whole sentences, which sound more natural, since the voice is
//! busy speaking the first one meanwhile. A line break (a list item, a
//! heading) always ends a clause, and a clause that grows past
//! [`ChunkerSettings::max_clause_chars`] without a sentence end is cut at its
//! last comma, or else its last space.
//!
//! A boundary counts only once the character after it is a space or the end
//! of the reply, so numbers (`3.14`, `$29.99`, `1,000`, `10:30`), URLs,
//! e-mail addresses and dotted names never split; a period after an
//! abbreviation (`Dr.`, `e.g.`, `U.S.`, a single initial) is no sentence end.
//! Markdown and emoji are removed first ([`crate::speakable`]). Tokens may
//! split words and marks anywhere: the clauses are the same for any split.

use assistant_core::{Clause, Timestamp, Token, TurnId};

use crate::speakable::{Piece, Speakable};

/// How replies are cut into clauses (the profile's `[chunker]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkerSettings {
    /// The first clause ends at the first clause boundary once it has this
    /// many characters (so "Sure," alone does not become a clause).
    pub first_clause_min_chars: usize,
    /// A clause longer than this is cut at its last comma or space.
    pub max_clause_chars: usize,
}

impl Default for ChunkerSettings {
    fn default() -> Self {
        Self {
            first_clause_min_chars: 12,
            max_clause_chars: 300,
        }
    }
}

/// Words after which a period does not end a sentence (compared without
/// case and without their dots).
const ABBREVIATIONS: [&str; 28] = [
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "eg", "ie", "cf", "al", "approx", "dept",
    "est", "fig", "gen", "gov", "lt", "col", "capt", "sgt", "rev", "no", "vol",
];

/// Cuts one reply into clauses. One per reply: [`Chunker::push`] each token
/// as it arrives, then [`Chunker::finish`].
#[derive(Clone, Debug)]
pub struct Chunker {
    settings: ChunkerSettings,
    turn: TurnId,
    speakable: Speakable,
    /// The clause being built (speakable text, whitespace collapsed).
    current: String,
    /// Clauses emitted so far.
    emitted: u32,
}

impl Chunker {
    /// A chunker for the reply of `turn`.
    #[must_use]
    pub fn new(turn: TurnId, settings: ChunkerSettings) -> Self {
        Self {
            settings,
            turn,
            speakable: Speakable::new(),
            current: String::new(),
            emitted: 0,
        }
    }

    /// Feeds one token; returns the clauses it completed, stamped with the
    /// token's arrival time.
    pub fn push(&mut self, token: &Token) -> Vec<Clause> {
        self.push_text(&token.text, token.at)
    }

    /// Feeds reply text that arrived at `at`.
    pub fn push_text(&mut self, text: &str, at: Timestamp) -> Vec<Clause> {
        let pieces = self.speakable.push(text);
        let mut out = Vec::new();
        self.feed(pieces, at, &mut out);
        out
    }

    /// The reply ended at `at`: returns the last clause, if any text is left.
    pub fn finish(&mut self, at: Timestamp) -> Vec<Clause> {
        let pieces = self.speakable.finish();
        let mut out = Vec::new();
        self.feed(pieces, at, &mut out);
        self.cut(at, &mut out);
        out
    }

    fn feed(&mut self, pieces: Vec<Piece>, at: Timestamp, out: &mut Vec<Clause>) {
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    for c in text.chars() {
                        self.char(c, at, out);
                    }
                }
                Piece::Break => self.cut(at, out),
            }
        }
    }

    fn char(&mut self, c: char, at: Timestamp, out: &mut Vec<Clause>) {
        if c.is_whitespace() {
            if self.ends_at_boundary() {
                self.cut(at, out);
            } else if !self.current.is_empty() && !self.current.ends_with(' ') {
                self.current.push(' ');
            }
            return;
        }
        // No space before closing punctuation ("today ." from a dropped emoji).
        if matches!(c, '.' | ',' | ';' | ':' | '!' | '?') && self.current.ends_with(' ') {
            self.current.pop();
        }
        self.current.push(c);
        if self.current.chars().count() > self.settings.max_clause_chars {
            self.cut_long(at, out);
        }
    }

    /// Whether the clause so far ends where a clause may end, given that a
    /// space follows.
    fn ends_at_boundary(&self) -> bool {
        let text = self.current.trim_end_matches(['"', '\'', ')', ']', '”', '’', '»']);
        let Some(last) = text.chars().last() else {
            return false;
        };
        match last {
            '!' | '?' | '…' => true,
            '.' => !self.abbreviation_before_period(text),
            ',' | ';' | ':' => self.emitted == 0 && text.chars().count() >= self.settings.first_clause_min_chars,
            _ => false,
        }
    }

    /// Whether the word ending in the final `.` of `text` is an
    /// abbreviation or an initial (`Dr.`, `e.g.`, `U.S.`, `J.`), not a
    /// sentence end. An ellipsis (`...`) always ends a sentence.
    fn abbreviation_before_period(&self, text: &str) -> bool {
        if text.ends_with("..") {
            return false;
        }
        let word = text.rsplit(' ').next().unwrap_or(text).trim_end_matches('.');
        let word = word.trim_start_matches(['"', '\'', '(', '“', '‘', '«']);
        let letters: String = word.chars().filter(|c| *c != '.').collect();
        if letters.is_empty() {
            return false;
        }
        let single_letters = word
            .split('.')
            .all(|part| part.chars().count() == 1 && part.chars().all(char::is_alphabetic));
        single_letters || ABBREVIATIONS.contains(&letters.to_lowercase().as_str())
    }

    /// A clause too long for its own good: cut after its last `,` `;` `:`
    /// that a space follows (not the comma of "1,000"), else at its last
    /// space; the rest stays for the next clause.
    fn cut_long(&mut self, at: Timestamp, out: &mut Vec<Clause>) {
        let split = self
            .current
            .match_indices([',', ';', ':'])
            .map(|(i, _)| i + 1)
            .rfind(|&end| self.current[end..].starts_with(' '))
            .or_else(|| self.current.rfind(' '))
            .filter(|&i| i > 0);
        let Some(split) = split else {
            return; // one huge word: wait for a space
        };
        let rest = self.current[split..].trim_start().to_owned();
        self.current.truncate(split);
        self.cut(at, out);
        self.current = rest;
    }

    fn cut(&mut self, at: Timestamp, out: &mut Vec<Clause>) {
        let text = self.current.trim();
        if text.chars().any(char::is_alphanumeric) {
            out.push(Clause {
                turn: self.turn,
                index: self.emitted,
                text: text.to_owned(),
                at,
            });
            self.emitted += 1;
        }
        self.current.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clauses(settings: ChunkerSettings, tokens: &[&str]) -> Vec<String> {
        let mut chunker = Chunker::new(TurnId(1), settings);
        let mut out = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            out.extend(chunker.push_text(t, Timestamp::from_nanos(i as u64)));
        }
        out.extend(chunker.finish(Timestamp::from_nanos(u64::MAX)));
        for (i, c) in out.iter().enumerate() {
            assert_eq!(c.index as usize, i, "indices count up");
        }
        out.into_iter().map(|c| c.text).collect()
    }

    fn cut(text: &str) -> Vec<String> {
        clauses(ChunkerSettings::default(), &[text])
    }

    #[test]
    fn the_first_clause_is_cut_early_and_later_ones_at_sentence_ends() {
        let table: [(&str, &[&str]); 8] = [
            (
                "Sure, the forecast says rain, so take an umbrella. It clears up by noon, then it gets warm.",
                &[
                    "Sure, the forecast says rain,",
                    "so take an umbrella.",
                    "It clears up by noon, then it gets warm.",
                ],
            ),
            ("Yes. It is ten past three.", &["Yes.", "It is ten past three."]),
            (
                "Okay; here is the plan: first we eat.",
                &["Okay; here is the plan:", "first we eat."],
            ),
            (
                "Really? Wow! That is great...  Truly.",
                &["Really?", "Wow!", "That is great...", "Truly."],
            ),
            (
                "He said \"stop.\" Then he left.",
                &["He said \"stop.\"", "Then he left."],
            ),
            ("No trailing punctuation here", &["No trailing punctuation here"]),
            ("", &[]),
            ("... !!! ???", &[]),
        ];
        for (text, want) in table {
            assert_eq!(cut(text), want, "{text:?}");
        }
    }

    #[test]
    fn numbers_abbreviations_urls_and_addresses_never_split() {
        let table: [(&str, &[&str]); 9] = [
            (
                "Pi is 3.14 and the cost is $29.99 today.",
                &["Pi is 3.14 and the cost is $29.99 today."],
            ),
            (
                "We meet at 10:30, in room 4.5b, with 1,000 people.",
                &["We meet at 10:30,", "in room 4.5b, with 1,000 people."],
            ),
            (
                "Dr. Smith and Mr. Jones met e.g. at noon. Then left.",
                &["Dr. Smith and Mr. Jones met e.g. at noon.", "Then left."],
            ),
            (
                "The U.S. economy grew. J. R. R. Tolkien wrote it.",
                &["The U.S. economy grew.", "J. R. R. Tolkien wrote it."],
            ),
            (
                "Visit https://example.org/a.b?c=d.e now. Thanks.",
                &["Visit https://example.org/a.b?c=d.e now.", "Thanks."],
            ),
            (
                "Mail jane.doe@example.co.uk today. Bye.",
                &["Mail jane.doe@example.co.uk today.", "Bye."],
            ),
            (
                "Call the config.toml file, then main.rs runs.",
                &["Call the config.toml file,", "then main.rs runs."],
            ),
            ("Version 2.0.1 is out. Update.", &["Version 2.0.1 is out.", "Update."]),
            ("It costs 5 vs. 6 dollars.", &["It costs 5 vs. 6 dollars."]),
        ];
        for (text, want) in table {
            assert_eq!(cut(text), want, "{text:?}");
        }
    }

    #[test]
    fn markdown_lines_and_emoji_shape_the_clauses() {
        let text =
            "**Here's your list** 🛒:\n\n- Eggs\n- Milk, *whole*\n1. Bread\n\n```python\nprint('x')\n```\nEnjoy! 😊";
        assert_eq!(
            cut(text),
            ["Here's your list:", "Eggs", "Milk, whole", "Bread", "Enjoy!"]
        );
        assert_eq!(
            cut("See [the docs](https://x.org/y) for more."),
            ["See the docs for more."]
        );
    }

    #[test]
    fn a_long_sentence_is_cut_at_its_last_comma_or_space() {
        let settings = ChunkerSettings {
            first_clause_min_chars: 12,
            max_clause_chars: 40,
        };
        let got = clauses(
            settings,
            &["one two three four five, six seven eight nine ten eleven twelve thirteen fourteen"],
        );
        assert!(got.iter().all(|c| c.chars().count() <= 40), "{got:?}");
        assert_eq!(
            got.join(" "),
            "one two three four five, six seven eight nine ten eleven twelve thirteen fourteen"
        );
        assert_eq!(got[0], "one two three four five,");
    }

    #[test]
    fn the_first_clause_waits_for_its_minimum_length() {
        let short = ChunkerSettings {
            first_clause_min_chars: 3,
            max_clause_chars: 300,
        };
        assert_eq!(
            clauses(short, &["Sure, it is sunny, warm. Bye."]),
            ["Sure,", "it is sunny, warm.", "Bye."]
        );
        assert_eq!(
            cut("Sure, it is sunny, warm. Bye."),
            ["Sure, it is sunny,", "warm.", "Bye."]
        );
    }

    #[test]
    fn clauses_carry_the_time_of_the_token_that_completed_them() {
        let mut chunker = Chunker::new(TurnId(7), ChunkerSettings::default());
        assert!(chunker.push_text("It is ten", Timestamp::from_nanos(1)).is_empty());
        assert!(
            chunker.push_text(" past three.", Timestamp::from_nanos(2)).is_empty(),
            "the boundary waits for a space"
        );
        let done = chunker.push_text(" And", Timestamp::from_nanos(3));
        assert_eq!(
            done,
            [Clause {
                turn: TurnId(7),
                index: 0,
                text: "It is ten past three.".into(),
                at: Timestamp::from_nanos(3),
            }]
        );
        let last = chunker.finish(Timestamp::from_nanos(9));
        assert_eq!(
            (last[0].index, last[0].text.as_str(), last[0].at),
            (1, "And", Timestamp::from_nanos(9))
        );
    }
}
