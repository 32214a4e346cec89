//! From token bytes to reply text: whole UTF-8 characters only, and stop
//! sequences cut out before they are seen.
//!
//! llama.cpp hands out each token as bytes, and a byte-level vocabulary
//! splits one character across tokens (an emoji, an accented letter in
//! some tokenizers), so [`Utf8Assembler`] holds back an unfinished
//! sequence until the next token completes it. A stop sequence may span
//! tokens too (`"\n\n"` as two `"\n"`), so [`StopMatcher`] holds back the
//! end of the text that could still become one: the listener never hears
//! half of a stop string.

/// Turns a stream of byte pieces into text, one whole character at a time.
#[derive(Debug, Default)]
pub(crate) struct Utf8Assembler {
    pending: Vec<u8>,
}

impl Utf8Assembler {
    /// Appends `bytes` and returns the text now complete (possibly empty).
    /// Bytes that can never become valid UTF-8 come out as U+FFFD.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix was just checked.
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // An unfinished sequence at the end: wait for more.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// The end of the reply: an unfinished sequence becomes U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            self.pending.clear();
            char::REPLACEMENT_CHARACTER.to_string()
        }
    }
}

/// What [`StopMatcher::push`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Matched {
    /// Text that can be handed out: no stop sequence can begin in it.
    pub(crate) text: String,
    /// A stop sequence was found: the reply ends with `text`.
    pub(crate) stopped: bool,
}

/// Finds the reply's stop sequences in text arriving piece by piece.
#[derive(Debug)]
pub(crate) struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored).
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Appends `text`; returns what is safe to hand out, and whether a stop
    /// sequence ended the reply (everything from it on is dropped).
    pub(crate) fn push(&mut self, text: &str) -> Matched {
        self.held.push_str(text);
        let first_stop = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min();
        if let Some(at) = first_stop {
            let text = self.held[..at].to_owned();
            self.held.clear();
            return Matched { text, stopped: true };
        }
        // Hold back the longest end of the text that begins a stop sequence.
        let keep = self
            .stops
            .iter()
            .map(|stop| longest_suffix_prefix(&self.held, stop))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let text = self.held[..cut].to_owned();
        self.held.drain(..cut);
        Matched { text, stopped: false }
    }

    /// The end of the reply without a stop sequence: what was held back.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// The length of the longest end of `text` that is a proper beginning of
/// `stop`, in bytes, at a character boundary.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let longest = stop.len().saturating_sub(1).min(text.len());
    (1..=longest)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n) && stop.as_bytes().starts_with(&text.as_bytes()[text.len() - n..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_pieces_come_out_whole() {
        let mut utf8 = Utf8Assembler::default();
        let euro = "€".as_bytes(); // e2 82 ac
        assert_eq!(utf8.push(b"a"), "a");
        assert_eq!(utf8.push(&euro[..1]), "");
        assert_eq!(utf8.push(&euro[1..2]), "");
        assert_eq!(utf8.push(&[euro[2], b'b']), "€b");
        // A byte that cannot start a character is replaced, and what
        // follows it still comes through.
        assert_eq!(utf8.push(&[0xff, b'c']), "\u{fffd}c");
        // An unfinished sequence at the end of the reply.
        assert_eq!(utf8.push(&euro[..2]), "");
        assert_eq!(utf8.finish(), "\u{fffd}");
        assert_eq!(utf8.finish(), "");
    }

    #[test]
    fn stop_sequences_are_cut_even_across_pieces() {
        let stops = vec!["\n\n".to_owned(), "User:".to_owned()];
        let mut stop = StopMatcher::new(&stops);
        assert_eq!(
            stop.push("Hello"),
            Matched {
                text: "Hello".into(),
                stopped: false
            }
        );
        // "\n" could begin "\n\n": held back.
        assert_eq!(stop.push(" there.\n").text, " there.");
        assert_eq!(
            stop.push("\nUser: more"),
            Matched {
                text: String::new(),
                stopped: true
            }
        );

        let mut stop = StopMatcher::new(&stops);
        assert_eq!(stop.push("Us").text, "");
        // Not a stop after all: the held text comes out with the rest.
        assert_eq!(stop.push("ually").text, "Usually");
        assert_eq!(stop.push(" yes. Us").text, " yes. ");
        assert_eq!(stop.finish(), "Us");

        let mut stop = StopMatcher::new(&stops);
        assert_eq!(
            stop.push("Fine.User: next"),
            Matched {
                text: "Fine.".into(),
                stopped: true
            }
        );
        // No stops: nothing is held.
        let mut none = StopMatcher::new(&[String::new()]);
        assert_eq!(none.push("a\n").text, "a\n");
        // Multi-byte text before a partial stop keeps its characters whole.
        let mut stop = StopMatcher::new(&["é!".to_owned()]);
        assert_eq!(stop.push("café").text, "caf");
        assert_eq!(stop.push("?").text, "é?");
    }
}
