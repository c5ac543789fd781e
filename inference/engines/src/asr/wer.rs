//! Word error rate, for accuracy tests and benchmarks.
//!
//! Both texts are normalized first so that only the words count: lower case, apostrophes
//! dropped inside words (`don't` = `dont`), every other non-alphanumeric character a word
//! break, and the common title abbreviations are spelled out (`Mr.` = `mister`, as reference
//! transcripts write them). Russian `ё` counts as `е`: Russian print mostly writes the one for
//! the other, so recognizers and references disagree on it without either being wrong. Numbers
//! are not spelled out: a reference should write them the way the model does.

/// Abbreviations that recognizers write and transcribers spell out.
const ABBREVIATIONS: [(&str, &str); 3] = [("mr", "mister"), ("mrs", "missus"), ("dr", "doctor")];

/// The normalized words of `text`.
pub fn normalized_words(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == 'ё' || c == 'Ё' {
            cleaned.push('е');
        } else if c.is_alphanumeric() {
            cleaned.extend(c.to_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // Apostrophes join: "don't" and "dont" are the same word.
        } else {
            cleaned.push(' ');
        }
    }
    cleaned
        .split_whitespace()
        .map(|word| {
            ABBREVIATIONS
                .iter()
                .find(|(short, _)| *short == word)
                .map_or(word, |(_, long)| long)
                .to_owned()
        })
        .collect()
}

/// Word-level edit distance (substitutions + deletions + insertions) between two word lists.
pub fn word_edit_distance(reference: &[String], hypothesis: &[String]) -> usize {
    // One row of the Levenshtein table at a time.
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    let mut current = vec![0; hypothesis.len() + 1];
    for (i, ref_word) in reference.iter().enumerate() {
        current[0] = i + 1;
        for (j, hyp_word) in hypothesis.iter().enumerate() {
            let substitution = previous[j] + usize::from(ref_word != hyp_word);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current[j + 1] = substitution.min(deletion).min(insertion);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[hypothesis.len()]
}

/// Word error rate of `hypothesis` against `reference` after normalization: edit distance
/// divided by the number of reference words (so it can exceed 1.0 with many insertions).
/// An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let reference = normalized_words(reference);
    let hypothesis = normalized_words(hypothesis);
    if reference.is_empty() {
        return if hypothesis.is_empty() { 0.0 } else { 1.0 };
    }
    word_edit_distance(&reference, &hypothesis) as f64 / reference.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_text_up_to_case_and_punctuation_is_zero() {
        assert_eq!(
            word_error_rate(
                "And so, my fellow Americans: ask not!",
                "and so my fellow americans ask not"
            ),
            0.0
        );
        assert_eq!(word_error_rate("Don't stop.", "dont stop"), 0.0);
        assert_eq!(word_error_rate("well-known", "well known"), 0.0);
        assert_eq!(
            word_error_rate("and mister john dashwood", "And Mr. John Dashwood"),
            0.0
        );
    }

    #[test]
    fn counts_substitutions_deletions_and_insertions() {
        // One substitution in four words.
        assert_eq!(word_error_rate("a b c d", "a x c d"), 0.25);
        // One deletion.
        assert_eq!(word_error_rate("a b c d", "a b d"), 0.25);
        // Two insertions.
        assert_eq!(word_error_rate("a b", "a x b y"), 1.0);
        // Everything wrong, and more.
        assert_eq!(word_error_rate("a b", "c d e"), 1.5);
    }

    #[test]
    fn empty_texts() {
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("...", ""), 0.0);
        assert_eq!(word_error_rate("", "hello"), 1.0);
        assert_eq!(word_error_rate("hello there", ""), 1.0);
    }

    #[test]
    fn russian_yo_is_e() {
        assert_eq!(word_error_rate("Ещё всё", "еще ВСЕ"), 0.0);
        assert_eq!(word_error_rate("щёки", "щеки"), 0.0);
    }

    #[test]
    fn unicode_and_odd_input_do_not_panic() {
        assert_eq!(word_error_rate("Ça va? ÉTÉ", "ça va été"), 0.0);
        let _ = word_error_rate("\u{0}\u{FFFD}\u{202E}", "\t\n\r");
    }
}
