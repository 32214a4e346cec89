//! What of a reply the person actually heard.
//!
//! A reply reaches the speaker as numbered pieces of audio (one or more per
//! clause). Playback reports each piece as finished, or as cut by barge-in
//! with the samples that were played. The conversation history must record
//! only what was heard ([`assistant_llm::Conversation::record_interrupted`]),
//! so the model does not believe it said what the person never heard.
//! [`Spoken`] keeps that account: whole clauses whose audio all played, then
//! the words of a cut clause in proportion to the share of its audio that
//! played, rounded down to whole words.

/// One piece of audio queued for the speaker.
#[derive(Clone, Debug)]
struct Piece {
    clause: u32,
    samples: usize,
    played: usize,
}

/// The account of one reply. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Spoken {
    /// Clause texts by clause index.
    clauses: Vec<(u32, String)>,
    /// Pieces by their playback number.
    pieces: Vec<(u32, Piece)>,
}

impl Spoken {
    /// A clause's text, before any of its audio is queued.
    pub fn clause(&mut self, clause: u32, text: &str) {
        if !self.clauses.iter().any(|(c, _)| *c == clause) {
            self.clauses.push((clause, text.to_owned()));
        }
    }

    /// Piece `piece` of `samples` samples speaks (part of) `clause`.
    pub fn queued(&mut self, piece: u32, clause: u32, samples: usize) {
        self.pieces.push((
            piece,
            Piece {
                clause,
                samples,
                played: 0,
            },
        ));
    }

    /// Playback says `played` samples of `piece` were heard (all of them
    /// when it finished).
    pub fn played(&mut self, piece: u32, played: usize) {
        if let Some((_, p)) = self.pieces.iter_mut().find(|(n, _)| *n == piece) {
            p.played = played.min(p.samples);
        }
    }

    /// Playback finished `piece`.
    pub fn finished(&mut self, piece: u32) {
        if let Some((_, p)) = self.pieces.iter_mut().find(|(n, _)| *n == piece) {
            p.played = p.samples;
        }
    }

    /// Whether every queued piece has been heard in full (and at least one
    /// was queued).
    #[must_use]
    pub fn all_heard(&self) -> bool {
        !self.pieces.is_empty() && self.pieces.iter().all(|(_, p)| p.played == p.samples)
    }

    /// Samples heard so far.
    #[must_use]
    pub fn samples_heard(&self) -> usize {
        self.pieces.iter().map(|(_, p)| p.played).sum()
    }

    /// Every clause's text, heard or not, in order: the reply as far as it
    /// was written.
    #[must_use]
    pub fn written(&self) -> String {
        let mut clauses = self.clauses.clone();
        clauses.sort_by_key(|(c, _)| *c);
        clauses.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(" ")
    }

    /// The text heard: whole clauses, then the heard share of the first
    /// clause that was cut, in whole words; nothing after it.
    #[must_use]
    pub fn text(&self) -> String {
        let mut clauses = self.clauses.clone();
        clauses.sort_by_key(|(c, _)| *c);
        let mut out: Vec<String> = Vec::new();
        for (clause, text) in &clauses {
            let (samples, played) = self
                .pieces
                .iter()
                .filter(|(_, p)| p.clause == *clause)
                .fold((0, 0), |(s, h), (_, p)| (s + p.samples, h + p.played));
            if samples == 0 {
                break;
            }
            if played == samples {
                out.push(text.clone());
                continue;
            }
            let words: Vec<&str> = text.split_whitespace().collect();
            let heard = words.len() * played / samples;
            if heard > 0 {
                out.push(words[..heard].join(" "));
            }
            break;
        }
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> Spoken {
        let mut s = Spoken::default();
        s.clause(0, "Sure,");
        s.clause(1, "the capital of France is Paris.");
        s.clause(2, "It has two million people.");
        s.queued(0, 0, 1000);
        s.queued(1, 1, 6000);
        s.queued(2, 2, 5000);
        s
    }

    #[test]
    fn whole_clauses_then_the_heard_share_of_the_cut_one() {
        let mut s = reply();
        assert_eq!(s.text(), "", "nothing played yet");
        s.finished(0);
        assert_eq!(s.text(), "Sure,");
        // Half of "the capital of France is Paris." (6 words) -> 3 words.
        s.played(1, 3000);
        assert_eq!(s.text(), "Sure, the capital of");
        assert_eq!(
            s.written(),
            "Sure, the capital of France is Paris. It has two million people."
        );
        assert!(!s.all_heard());
        assert_eq!(s.samples_heard(), 4000);
        s.finished(1);
        s.finished(2);
        assert_eq!(
            s.text(),
            "Sure, the capital of France is Paris. It has two million people."
        );
        assert!(s.all_heard());
    }

    #[test]
    fn nothing_after_a_cut_clause_counts_and_pieces_of_one_clause_add_up() {
        let mut s = reply();
        s.finished(0);
        s.played(1, 100);
        // A later piece cannot have been heard after an earlier was cut.
        s.played(2, 5000);
        assert_eq!(s.text(), "Sure,");
        // A clause spoken as two pieces: heard in full only when both are.
        let mut s = Spoken::default();
        s.clause(0, "One. Two three four.");
        s.queued(0, 0, 1000);
        s.queued(1, 0, 3000);
        s.finished(0);
        assert_eq!(s.text(), "One.", "a quarter of four words");
        s.finished(1);
        assert_eq!(s.text(), "One. Two three four.");
        assert!(!Spoken::default().all_heard(), "an empty reply was not heard");
    }
}
