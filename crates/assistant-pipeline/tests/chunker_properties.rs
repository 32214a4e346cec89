//! Properties of the chunker on generated replies: however the reply is split
//! into tokens, the clauses are the same; no word is lost or invented; no
//! clause is empty; none is longer than the limit unless one word is.

use assistant_core::{Timestamp, TurnId};
use assistant_pipeline::speakable::{Piece, Speakable};
use assistant_pipeline::{Chunker, ChunkerSettings};
use proptest::prelude::*;

const SETTINGS: ChunkerSettings = ChunkerSettings {
    first_clause_min_chars: 12,
    max_clause_chars: 60,
};

fn clauses(pieces: &[impl AsRef<str>]) -> Vec<String> {
    let mut chunker = Chunker::new(TurnId(1), SETTINGS);
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        out.extend(chunker.push_text(p.as_ref(), Timestamp::from_nanos(i as u64)));
    }
    out.extend(chunker.finish(Timestamp::from_nanos(u64::MAX)));
    out.into_iter().map(|c| c.text).collect()
}

/// The letters and digits that would be spoken (the filter's output).
fn spoken_alphanumerics(text: &str) -> String {
    let mut filter = Speakable::new();
    let mut pieces = filter.push(text);
    pieces.extend(filter.finish());
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Text(t) => Some(t.as_str()),
            Piece::Break => None,
        })
        .flat_map(str::chars)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Reply-like text: words, numbers, punctuation, markdown, emoji, newlines.
fn reply() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        4 => "[a-zA-Z]{1,9}",
        1 => "[0-9]{1,4}([.,:][0-9]{1,3})?",
        2 => Just(" ".to_owned()),
        1 => prop::sample::select(vec![".", ",", ";", ":", "!", "?", "...", "\"", "'", "(", ")"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            "**", "*", "`", "# ", "- ", "1. ", "[", "](", "http://a.b/c", "\n", "\n\n", "```", "Dr.", "e.g.", "U.S.",
            "$9.99", "a@b.co", "🎉", "👍🏽", "é", "日本",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(atom, 0..60).prop_map(|atoms| atoms.concat())
}

/// `text` cut at the given char positions.
fn split(text: &str, cuts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (chars.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain([chars.len()]) {
        pieces.push(chars[start..end].iter().collect());
        start = end;
    }
    pieces
}

proptest! {
    // A fixed seed: the same 512 cases on every run, so CI never fails on a
    // case nobody can reproduce (run with another seed to explore), and no
    // regression files written into the source tree.
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x0a55_157a),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_token_split_gives_the_same_clauses(text in reply(), cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let whole = clauses(&[text.as_str()]);
        prop_assert_eq!(clauses(&split(&text, &cuts)), whole);
    }

    #[test]
    fn every_spoken_word_reaches_a_clause_and_nothing_else(text in reply()) {
        let got = clauses(&[text.as_str()]);
        let said: String = got.concat().chars().filter(|c| c.is_alphanumeric()).collect();
        prop_assert_eq!(said, spoken_alphanumerics(&text));
        for clause in &got {
            prop_assert!(clause.chars().any(char::is_alphanumeric), "an empty clause: {:?}", clause);
            prop_assert_eq!(clause.trim(), clause.as_str());
            let longest_word = clause.split(' ').map(|w| w.chars().count()).max().unwrap_or(0);
            prop_assert!(
                clause.chars().count() <= SETTINGS.max_clause_chars || longest_word > SETTINGS.max_clause_chars / 2,
                "too long: {:?}", clause
            );
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,200}", cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        let _ = clauses(&split(&text, &cuts));
    }
}
