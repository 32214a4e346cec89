//! Text to Piper phoneme ids, exactly as `piper-phonemize` 1.1.0 does it.
//!
//! Piper voices were trained on the phonemes `piper-phonemize` produced, so
//! any difference here changes how a voice sounds. Like Piper, [`phonemize`]
//! drives espeak-ng (the same library build, see [`crate::espeak`]) clause by
//! clause with `espeak_TextToPhonemesWithTerminator`, which also says which
//! punctuation ended the clause, and applies Piper's rules:
//!
//! - the clause's IPA is NFD-decomposed and split into code points, with
//!   language-switch flags such as `(en)` removed;
//! - `.` `?` `!` are appended as they are; `,` `:` `;` are appended followed
//!   by a space; other terminators append nothing;
//! - a sentence-type terminator ends the sentence: the next clause starts a
//!   new one.
//!
//! [`phoneme_ids`] then builds the id sequence Piper feeds the model: `^`,
//! `_`, each phoneme's ids followed by `_`, then `$`; phonemes the voice
//! does not know are skipped and reported.

use std::collections::BTreeMap;

use unicode_normalization::UnicodeNormalization;

use crate::TtsError;
use crate::espeak::{
    CLAUSE_COLON, CLAUSE_COMMA, CLAUSE_EXCLAMATION, CLAUSE_PERIOD, CLAUSE_QUESTION, CLAUSE_SEMICOLON,
    CLAUSE_TYPE_SENTENCE, Espeak,
};

/// A sentence's phonemes, one code point each (as `piper-phonemize` counts).
pub type Sentence = Vec<char>;

/// Phonemizes `text` with the espeak-ng voice `voice` into sentences, as
/// `piper_phonemize.phonemize_espeak(text, voice)` does.
///
/// # Errors
/// [`TtsError::EspeakVoice`] for an unknown voice, [`TtsError::NulInText`]
/// for a NUL byte in `text`, [`TtsError::EspeakInit`] if espeak-ng cannot start.
pub fn phonemize(espeak: &mut Espeak, text: &str, voice: &str) -> Result<Vec<Sentence>, TtsError> {
    espeak.set_voice(voice)?;
    let mut sentences: Vec<Sentence> = Vec::new();
    let mut current: Option<Sentence> = None;
    for clause in espeak.clauses(text)? {
        let sentence = current.get_or_insert_with(Vec::new);
        let mut in_flag = false;
        for c in clause.phonemes.nfd() {
            match c {
                _ if in_flag => in_flag = c != ')',
                '(' => in_flag = true,
                _ => sentence.push(c),
            }
        }
        sentence.extend_from_slice(appended(clause.terminator));
        if clause.terminator & CLAUSE_TYPE_SENTENCE != 0 {
            sentences.extend(current.take());
        }
    }
    // Piper keeps an unterminated last sentence only if it says something.
    sentences.extend(current.filter(|s| !s.is_empty()));
    Ok(sentences)
}

/// What Piper appends to a clause for espeak-ng's `terminator`.
fn appended(terminator: i32) -> &'static [char] {
    match terminator & 0xF_FFFF {
        CLAUSE_PERIOD => &['.'],
        CLAUSE_QUESTION => &['?'],
        CLAUSE_EXCLAMATION => &['!'],
        CLAUSE_COMMA => &[',', ' '],
        CLAUSE_COLON => &[':', ' '],
        CLAUSE_SEMICOLON => &[';', ' '],
        _ => &[],
    }
}

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
