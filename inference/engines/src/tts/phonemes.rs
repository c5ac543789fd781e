//! From espeak-ng clauses to what Piper is fed (and what a face animator can use).
//!
//! Piper's phonemizer writes each clause's IPA, then the punctuation that ended it (`.`, `?`,
//! `!`, or `,`/`:`/`;` plus a space), and starts a new sentence after `.`, `?` and `!`. Each
//! sentence is synthesized on its own. Phonemes are Unicode scalars after canonical
//! decomposition (NFD), so `ç` is fed as `c` + combining cedilla.

use super::espeak::{ClauseEnd, PhonemizedClause};

/// Groups espeak-ng clauses into Piper sentences of phoneme symbols.
pub fn sentences_from_clauses(clauses: &[PhonemizedClause]) -> Vec<Vec<char>> {
    let mut sentences = Vec::new();
    let mut current: Vec<char> = Vec::new();
    for clause in clauses {
        if current.last().is_some_and(|c| *c != ' ') {
            // The previous clause ended without punctuation (a paragraph break, or espeak-ng
            // split a long clause): keep its last word apart from this one's first.
            current.push(' ');
        }
        for c in clause.ipa.chars() {
            push_decomposed(c, &mut current);
        }
        match clause.end {
            ClauseEnd::Period => current.push('.'),
            ClauseEnd::Question => current.push('?'),
            ClauseEnd::Exclamation => current.push('!'),
            ClauseEnd::Comma => current.extend([',', ' ']),
            ClauseEnd::Colon => current.extend([':', ' ']),
            ClauseEnd::Semicolon => current.extend([';', ' ']),
            ClauseEnd::None => {}
        }
        if clause.end.ends_sentence() {
            sentences.push(std::mem::take(&mut current));
        }
    }
    if current.iter().any(|c| !c.is_whitespace()) {
        sentences.push(current);
    }
    sentences
}

/// Canonical decomposition of the precomposed letters whose parts Piper voices know: a base
/// letter plus a combining cedilla (U+0327) or tilde (U+0303). Every other symbol espeak-ng
/// writes in IPA mode is already a single, undecomposable scalar.
fn push_decomposed(c: char, out: &mut Vec<char>) {
    const CEDILLA: char = '\u{0327}';
    const TILDE: char = '\u{0303}';
    let (base, mark) = match c {
        'ç' => ('c', CEDILLA),
        'Ç' => ('C', CEDILLA),
        'ş' => ('s', CEDILLA),
        'ţ' => ('t', CEDILLA),
        'ȩ' => ('e', CEDILLA),
        'ã' => ('a', TILDE),
        'ẽ' => ('e', TILDE),
        'ĩ' => ('i', TILDE),
        'õ' => ('o', TILDE),
        'ũ' => ('u', TILDE),
        'ỹ' => ('y', TILDE),
        'ñ' => ('n', TILDE),
        'ṽ' => ('v', TILDE),
        _ => {
            out.push(c);
            return;
        }
    };
    out.extend([base, mark]);
}

/// The phonemes a sentence speaks, in order, for text-side visemes: each base IPA symbol with
/// the modifiers that follow it (length `ː`, aspiration `ʰ`, r-colouring `˞`, combining
/// diacritics). Stress marks, word spaces and punctuation are left out. Diphthongs and
/// affricates stay as their parts (`aɪ` is `a`, `ɪ`), which is what mouth shapes follow.
pub fn spoken_phonemes(symbols: &[char]) -> Vec<String> {
    let mut phonemes: Vec<String> = Vec::new();
    for &c in symbols {
        if is_modifier(c) {
            if let Some(last) = phonemes.last_mut() {
                last.push(c);
            }
        } else if !is_separator(c) {
            phonemes.push(c.to_string());
        }
    }
    phonemes
}

fn is_modifier(c: char) -> bool {
    matches!(c, 'ː' | 'ˑ' | 'ʰ' | 'ʲ' | 'ˤ' | '˞') || ('\u{0300}'..='\u{036F}').contains(&c)
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || c.is_ascii_punctuation() || matches!(c, 'ˈ' | 'ˌ' | '↓')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(ipa: &str, end: ClauseEnd) -> PhonemizedClause {
        PhonemizedClause {
            ipa: ipa.into(),
            end,
        }
    }

    #[test]
    fn punctuation_is_written_the_way_piper_does() {
        let clauses = [
            clause("wˈɛl", ClauseEnd::Comma),
            clause("hˈaɪ", ClauseEnd::Period),
            clause("ɹˈiəli", ClauseEnd::Question),
            clause("jˈɛs", ClauseEnd::Semicolon),
            clause("ɡˈoʊ", ClauseEnd::None),
        ];
        let sentences: Vec<String> = sentences_from_clauses(&clauses)
            .iter()
            .map(|s| s.iter().collect())
            .collect();
        assert_eq!(sentences, ["wˈɛl, hˈaɪ.", "ɹˈiəli?", "jˈɛs; ɡˈoʊ"]);
    }

    #[test]
    fn clauses_without_punctuation_keep_a_word_space() {
        let clauses = [
            clause("həlˈoʊ", ClauseEnd::None),
            clause("wˈɜːld", ClauseEnd::None),
        ];
        let sentence: String = sentences_from_clauses(&clauses)[0].iter().collect();
        assert_eq!(sentence, "həlˈoʊ wˈɜːld");
    }

    #[test]
    fn precomposed_letters_are_decomposed() {
        let sentence = &sentences_from_clauses(&[clause("çã", ClauseEnd::None)])[0];
        assert_eq!(sentence, &['c', '\u{0327}', 'a', '\u{0303}']);
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(sentences_from_clauses(&[]).is_empty());
    }

    #[test]
    fn spoken_phonemes_group_modifiers_and_drop_stress_and_pauses() {
        let symbols: Vec<char> = "həlˈoʊ, wˈɜːld.".chars().collect();
        assert_eq!(
            spoken_phonemes(&symbols),
            ["h", "ə", "l", "o", "ʊ", "w", "ɜː", "l", "d"]
        );
        // A modifier with nothing before it is dropped, never a panic.
        assert!(spoken_phonemes(&['ː']).is_empty());
    }
}
