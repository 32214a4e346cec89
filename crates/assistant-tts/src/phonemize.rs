//! Text to Piper phoneme ids, exactly as `piper-phonemize` 1.1.0 does it.
//!
//! Piper voices were trained on the phonemes `piper-phonemize` produced, so
//! any difference here changes how a voice sounds. Piper drives espeak-ng
//! clause by clause with a patched call, `espeak_TextToPhonemesWithTerminator`,
//! that also says which punctuation ended the clause. Debian's espeak-ng 1.51
//! lacks that call, so [`phonemize`] recovers the terminator from how far
//! espeak-ng advanced through the text (it stops one code point into the next
//! clause) and then applies Piper's rules:
//!
//! - the clause's IPA is NFD-decomposed and split into code points, with
//!   language-switch flags such as `(en)` removed;
//! - `.` `?` `!` are appended as they are; `,` `:` `;` are appended followed
//!   by a space; other terminators append nothing;
//! - a sentence-type terminator (`.` `?` `!`, end of text) ends the
//!   sentence: the next clause starts a new one.
//!
//! [`phoneme_ids`] then builds the id sequence Piper feeds the model: `^`,
//! `_`, each phoneme's ids followed by `_`, then `$`; phonemes the voice
//! does not know are skipped and reported.

use std::collections::BTreeMap;

use unicode_normalization::UnicodeNormalization;

use crate::TtsError;
use crate::espeak::Espeak;

/// A sentence's phonemes, one code point each (as `piper-phonemize` counts).
pub type Sentence = Vec<char>;

/// How espeak-ng ended a clause, as far as Piper cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Terminator {
    Period,
    Question,
    Exclamation,
    Comma,
    Colon,
    Semicolon,
    /// Any other clause end (end of text, a dash, a bracket…).
    Other {
        sentence: bool,
    },
}

impl Terminator {
    /// What Piper appends to the clause's phonemes.
    fn appended(self) -> &'static [char] {
        match self {
            Self::Period => &['.'],
            Self::Question => &['?'],
            Self::Exclamation => &['!'],
            Self::Comma => &[',', ' '],
            Self::Colon => &[':', ' '],
            Self::Semicolon => &[';', ' '],
            Self::Other { .. } => &[],
        }
    }

    fn ends_sentence(self) -> bool {
        match self {
            Self::Period | Self::Question | Self::Exclamation => true,
            Self::Comma | Self::Colon | Self::Semicolon => false,
            Self::Other { sentence } => sentence,
        }
    }
}

/// Phonemizes `text` with the espeak-ng voice `voice` into sentences, as
/// `piper_phonemize.phonemize_espeak(text, voice)` does.
///
/// # Errors
/// [`TtsError::EspeakVoice`] for an unknown voice, [`TtsError::NulInText`]
/// for a NUL byte in `text`, [`TtsError::EspeakInit`] if espeak-ng cannot start.
pub fn phonemize(espeak: &mut Espeak, text: &str, voice: &str) -> Result<Vec<Sentence>, TtsError> {
    espeak.set_voice(voice)?;
    let clauses = espeak.clauses(text)?;
    let mut sentences: Vec<Sentence> = Vec::new();
    let mut open = false;
    let mut start = 0;
    let count = clauses.len();
    for (index, clause) in clauses.iter().enumerate() {
        let last = index + 1 == count;
        // Before the end of the text, espeak-ng has read one code point of
        // the next clause: it belongs to the next clause, not to this one.
        let end = clause.consumed.clamp(start, text.len());
        let overshoot = if last {
            0
        } else {
            text[start..end].chars().next_back().map_or(0, char::len_utf8)
        };
        let terminator = terminator_of(
            &text[start..end - overshoot],
            text[end - overshoot..].chars().next(),
            last,
        );
        if !open {
            sentences.push(Vec::new());
            open = true;
        }
        let sentence = sentences
            .last_mut()
            .unwrap_or_else(|| unreachable!("a sentence was just opened"));
        let mut in_flag = false;
        for c in clause.phonemes.nfd() {
            match c {
                _ if in_flag => in_flag = c != ')',
                '(' => in_flag = true,
                _ => sentence.push(c),
            }
        }
        sentence.extend_from_slice(terminator.appended());
        if terminator.ends_sentence() {
            open = false;
        }
        start = end - overshoot;
    }
    Ok(sentences)
}

/// Recovers the punctuation that ended `clause` (its text, as espeak-ng
/// read it); `next` is the first code point of the next clause.
fn terminator_of(clause: &str, next: Option<char>, last: bool) -> Terminator {
    // Closing quotes and brackets may follow the punctuation ("Stop!" he…).
    let body = clause.trim_end_matches(|c: char| c.is_whitespace() || CLOSERS.contains(&c));
    // The run of punctuation that ends the clause; espeak-ng classifies the
    // clause by the run's first mark ("?!" is a question, "St.," a full stop).
    let words = body.trim_end_matches(|c: char| PUNCTUATION.contains(&c) || CLOSERS.contains(&c));
    let run = &body[words.len()..];
    let Some(mark) = run.chars().find(|c| PUNCTUATION.contains(c)) else {
        return Terminator::Other { sentence: last };
    };
    // A clause of punctuation alone says nothing, and appends nothing.
    if !words.chars().any(char::is_alphanumeric) {
        return Terminator::Other { sentence: last };
    }
    let ellipsis = mark == '\u{2026}' || run.starts_with("..");
    let followed_by_lower = next.is_some_and(char::is_lowercase);
    match mark {
        // An ellipsis pauses without ending anything; a full stop before a
        // lower-case word does not end the sentence (espeak-ng's rules).
        _ if ellipsis => Terminator::Other { sentence: last },
        '.' if followed_by_lower => Terminator::Other { sentence: false },
        '.' => Terminator::Period,
        '?' => Terminator::Question,
        '!' => Terminator::Exclamation,
        ',' => Terminator::Comma,
        ':' => Terminator::Colon,
        // espeak-ng reads a dash between words as a semicolon.
        ';' | '\u{2014}' | '\u{2013}' => Terminator::Semicolon,
        _ => Terminator::Other { sentence: last },
    }
}

/// Marks that can end a clause.
const PUNCTUATION: [char; 9] = ['.', '?', '!', ',', ':', ';', '\u{2026}', '\u{2014}', '\u{2013}'];

/// Characters that may stand between a clause's punctuation and the space.
const CLOSERS: [char; 12] = [
    '"', '\'', ')', ']', '}', '\u{201d}', '\u{2019}', '\u{201c}', '\u{00bb}', '\u{00ab}', '\u{203a}', '\u{2039}',
];

/// Piper's phoneme-id map: each phoneme to its ids.
pub type PhonemeIdMap = BTreeMap<String, Vec<i64>>;

/// The ids of one sentence, and the phonemes the map lacked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhonemeIds {
    /// The ids, as fed to the model's `input`.
    pub ids: Vec<i64>,
    /// Phonemes skipped because the map has no entry for them.
    pub missing: Vec<char>,
}

/// Builds Piper's id sequence for one sentence: `^ _ (phoneme _)* $`.
///
/// # Errors
/// [`TtsError::VoiceConfig`] if the map lacks one of `^`, `_`, `$`.
pub fn phoneme_ids(sentence: &[char], map: &PhonemeIdMap) -> Result<PhonemeIds, TtsError> {
    let special = |key: &str| {
        map.get(key).ok_or_else(|| TtsError::VoiceConfig {
            reason: format!("phoneme_id_map has no {key:?}, which Piper needs"),
        })
    };
    let (bos, pad, eos) = (special("^")?, special("_")?, special("$")?);
    let mut out = PhonemeIds::default();
    out.ids.extend_from_slice(bos);
    out.ids.extend_from_slice(pad);
    let mut key = String::new();
    for &phoneme in sentence {
        key.clear();
        key.push(phoneme);
        match map.get(&key) {
            Some(ids) => {
                out.ids.extend_from_slice(ids);
                out.ids.extend_from_slice(pad);
            }
            None => out.missing.push(phoneme),
        }
    }
    out.ids.extend_from_slice(eos);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<String> {
        let mut e = Espeak::lock().expect("espeak-ng");
        phonemize(&mut e, text, "en-us")
            .expect("phonemize")
            .into_iter()
            .map(|s| s.into_iter().collect())
            .collect()
    }

    #[test]
    fn punctuation_is_kept_the_piper_way() {
        assert_eq!(sentences("Hello world."), ["həlˈoʊ wˈɜːld."]);
        let two = sentences("One, two. Three!");
        assert_eq!(two.len(), 2, "{two:?}");
        assert!(two[0].ends_with("tˈuː."), "{two:?}");
        assert!(two[0].contains(", "), "a comma is followed by a space: {two:?}");
        assert!(two[1].ends_with('!'), "{two:?}");
        assert_eq!(sentences("Is it?").len(), 1);
        assert!(sentences("Is it?")[0].ends_with('?'));
        // No punctuation at the end of the text: nothing appended.
        assert_eq!(sentences("Hello world"), ["həlˈoʊ wˈɜːld"]);
    }

    #[test]
    fn terminators_are_recovered_from_the_overshoot() {
        assert_eq!(terminator_of("One, ", Some('t'), false), Terminator::Comma);
        assert_eq!(terminator_of("two. ", Some('T'), false), Terminator::Period);
        assert_eq!(terminator_of("Three!", None, true), Terminator::Exclamation);
        assert_eq!(terminator_of("Go \"now.\" ", Some('T'), false), Terminator::Period);
        assert_eq!(terminator_of("end", None, true), Terminator::Other { sentence: true });
        assert_eq!(terminator_of("Really?!", None, true), Terminator::Question);
        assert_eq!(terminator_of("Baker St., ", Some('A'), false), Terminator::Period);
        assert_eq!(
            terminator_of("Well... ", Some('I'), false),
            Terminator::Other { sentence: false }
        );
        assert_eq!(terminator_of("spell \"this\"?", None, true), Terminator::Question);
        assert_eq!(terminator_of("?!", None, true), Terminator::Other { sentence: true });
    }

    #[test]
    fn ids_follow_the_piper_layout_and_skip_unknown_phonemes() {
        let map: PhonemeIdMap = [("^", 1), ("_", 0), ("$", 2), ("a", 14), ("b", 15)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), vec![v]))
            .collect();
        let got = phoneme_ids(&['a', 'x', 'b'], &map).expect("ids");
        assert_eq!(got.ids, [1, 0, 14, 0, 15, 0, 2]);
        assert_eq!(got.missing, ['x']);
        let mut no_pad = map.clone();
        no_pad.remove("_");
        assert!(phoneme_ids(&['a'], &no_pad).is_err());
    }
}
