//! Splitting streamed LLM text into clauses to synthesize (sans-IO).
//!
//! The LLM writes a few characters at a time; speech should start as soon as the first clause
//! is complete rather than when the whole answer is. [`ClauseSplitter`] buffers the text and
//! hands out a clause at each boundary it is sure of:
//! - always at sentence punctuation (`.`, `!`, `?`, `…`) followed by a space, and at line breaks;
//! - at `,`, `;`, `:` and `—` once the clause has a few words (fewer for the first clause of an
//!   answer, so the first audio comes early; more later, where longer clauses sound better and
//!   the LLM is ahead of the voice anyway);
//! - in the first clause only, before a conjunction (`and`, `but`, `because`, `which`...) once
//!   it has a few words: a natural phrase break that gets the voice going sooner;
//! - at a space once a clause grows past a word limit (a lower one for the first clause), so a
//!   run-on sentence cannot hold speech back; never right after "the", "to", "of" and the like,
//!   which would leave a phrase hanging.
//!
//! It is not fooled by decimals (`3.5`), thousands (`1,000`), times (`10:30`), initials
//! (`J. R. R. Tolkien`), acronyms (`U.S.`), titles (`Dr.`) or a list number (`1.`), and it never
//! emits code: fenced blocks are dropped. A `.` followed by a lowercase word is not a sentence
//! end (espeak-ng reads it the same way). Where the next character decides, it waits for it.
//! Every clause it hands out has been through [`clean_for_speech`].

use goassist_engines::tts::clean_for_speech;

/// Word counts that decide where clauses end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitterConfig {
    /// Words the first clause of an answer needs before a `,`/`;`/`:`/`—` ends it.
    pub first_clause_min_words: usize,
    /// Words later clauses need before a `,`/`;`/`:`/`—` ends them.
    pub min_words: usize,
    /// Words the first clause needs before it may end before a conjunction.
    pub first_clause_conjunction_words: usize,
    /// The first clause ends at a space once it has this many words.
    pub first_clause_max_words: usize,
    /// Later clauses end at a space once they have this many words.
    pub max_words: usize,
}

impl Default for SplitterConfig {
    fn default() -> Self {
        Self {
            first_clause_min_words: 3,
            min_words: 8,
            first_clause_conjunction_words: 5,
            first_clause_max_words: 12,
            max_words: 30,
        }
    }
}

/// Words before a `.` that do not end a sentence (compared in lowercase, without the dot).
const ABBREVIATIONS: [&str; 13] = [
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "approx", "fig", "e.g", "i.e",
];

/// Words a first clause may end before: they start a new phrase.
const CONJUNCTIONS: [&str; 10] = [
    "and", "but", "or", "because", "which", "while", "although", "though", "unless", "whereas",
];

/// Words a clause cut at the word limit must not end with: the phrase would hang.
const FUNCTION_WORDS: [&str; 36] = [
    "a", "an", "the", "to", "of", "in", "on", "at", "for", "with", "from", "by", "and", "or",
    "but", "is", "are", "was", "were", "be", "my", "your", "our", "their", "its", "his", "her",
    "this", "that", "these", "those", "as", "than", "not", "very", "i",
];

/// A clause past the word limit ends at the next space even after a function word once it has
/// this many more words.
const HARD_LIMIT_EXTRA_WORDS: usize = 5;

/// Characters that may close a sentence after its punctuation: quotes, brackets, emphasis.
fn is_closing(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '*' | '_' | '`'
    )
}

/// Streams text in, clauses out. Feed it with [`ClauseSplitter::push`], end an answer with
/// [`ClauseSplitter::finish`], drop everything on barge-in with [`ClauseSplitter::reset`].
#[derive(Debug, Clone, Default)]
pub struct ClauseSplitter {
    config: SplitterConfig,
    /// Text received and not yet handed out.
    pending: String,
    /// Inside a fenced code block: text is dropped until the closing fence.
    in_code_block: bool,
    /// Whether this answer has already produced a clause.
    emitted_any: bool,
    /// LLM text consumed that produced no speech (a code block, an emoji): it is handed out as
    /// part of the next clause's `raw`.
    unspoken_raw: String,
}

/// One clause to synthesize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// What to say: cleaned by [`clean_for_speech`], never empty.
    pub text: String,
    /// The LLM text this clause covers, exactly as written (markdown, skipped code blocks and
    /// the spaces before it included). The `raw` of successive clauses concatenate to the
    /// LLM's text, so after a barge-in the history can be cut to what was actually heard.
    /// (Unspeakable text after an answer's last clause belongs to no clause.)
    pub raw: String,
}

/// What scanning the pending text found.
enum Scan {
    /// A clause ends at this byte offset.
    Boundary(usize),
    /// A code fence opens at this offset (the text before it is a clause).
    FenceOpens(usize),
    /// Nothing certain yet: wait for more text.
    NeedMore,
}

impl ClauseSplitter {
    /// A splitter with the given word counts.
    pub fn new(config: SplitterConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Adds streamed text; returns the clauses it completed, in order (often none).
    pub fn push(&mut self, text: &str) -> Vec<Clause> {
        self.pending.push_str(text);
        self.drain(false)
    }

    /// Ends the answer: returns the remaining clauses and gets ready for the next answer.
    pub fn finish(&mut self) -> Vec<Clause> {
        let mut clauses = self.drain(true);
        if !self.in_code_block {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest, &mut clauses);
        }
        self.reset();
        clauses
    }

    /// Drops everything buffered (barge-in) and starts a new answer.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.in_code_block = false;
        self.emitted_any = false;
        self.unspoken_raw.clear();
    }

    /// Text received but not yet handed out (what a barge-in would drop).
    pub fn pending(&self) -> &str {
        &self.pending
    }

    fn drain(&mut self, at_end: bool) -> Vec<Clause> {
        let mut clauses = Vec::new();
        loop {
            if self.in_code_block {
                if !self.skip_code_block() {
                    return clauses;
                }
                continue;
            }
            match self.scan(at_end) {
                Scan::Boundary(end) => {
                    let clause: String = self.pending.drain(..end).collect();
                    self.emit(&clause, &mut clauses);
                }
                Scan::FenceOpens(start) => {
                    let clause: String = self.pending.drain(..start).collect();
                    self.emit(&clause, &mut clauses);
                    self.unspoken_raw.extend(self.pending.drain(..3));
                    self.in_code_block = true;
                }
                Scan::NeedMore => return clauses,
            }
        }
    }

    /// Inside a code block: drops text up to and including the closing fence. Returns whether
    /// the block closed.
    fn skip_code_block(&mut self) -> bool {
        if let Some(close) = self.pending.find("```") {
            self.unspoken_raw.extend(self.pending.drain(..close + 3));
            self.in_code_block = false;
            return true;
        }
        // Keep a possible partial fence ("`" or "``") at the end; drop the rest.
        let keep_from = self
            .pending
            .char_indices()
            .rev()
            .take_while(|(_, c)| *c == '`')
            .last()
            .map_or(self.pending.len(), |(i, _)| i);
        self.unspoken_raw.extend(self.pending.drain(..keep_from));
        false
    }

    /// Hands out `raw` as a clause if it has something to say; otherwise keeps it for the next.
    fn emit(&mut self, raw: &str, clauses: &mut Vec<Clause>) {
        self.unspoken_raw.push_str(raw);
        let text = clean_for_speech(raw);
        if text.chars().any(char::is_alphanumeric) {
            clauses.push(Clause {
                text,
                raw: std::mem::take(&mut self.unspoken_raw),
            });
            self.emitted_any = true;
        }
    }

    /// Finds the first certain clause end in the pending text.
    fn scan(&self, at_end: bool) -> Scan {
        let text = self.pending.as_str();
        let soft_min = if self.emitted_any {
            self.config.min_words
        } else {
            self.config.first_clause_min_words
        };
        let max_words = if self.emitted_any {
            self.config.max_words
        } else {
            self.config.first_clause_max_words
        };
        let mut words = 0;
        let mut in_word = false;
        for (i, c) in text.char_indices() {
            let word_ended = c.is_whitespace() && in_word;
            if !c.is_whitespace() && !in_word {
                words += 1;
            }
            in_word = !c.is_whitespace();
            if word_ended {
                let last = last_word(&text[..i]).to_lowercase();
                let hangs = FUNCTION_WORDS.contains(&last.as_str());
                if words >= max_words + HARD_LIMIT_EXTRA_WORDS || (words >= max_words && !hangs) {
                    return Scan::Boundary(i);
                }
                if !self.emitted_any && words >= self.config.first_clause_conjunction_words {
                    match next_word(text, i, at_end) {
                        Some(next) if CONJUNCTIONS.contains(&next.to_lowercase().as_str()) => {
                            return Scan::Boundary(i);
                        }
                        Some(_) => {}
                        None => return Scan::NeedMore,
                    }
                }
            }
            match c {
                '`' => {
                    let rest = &text[i..];
                    if rest.starts_with("```") {
                        return Scan::FenceOpens(i);
                    }
                    if "```".starts_with(rest) && !at_end {
                        return Scan::NeedMore; // maybe the start of a fence
                    }
                }
                '\n' if has_letters(&text[..i]) => return Scan::Boundary(i + 1),
                '.' | '!' | '?' | '…' => match self.sentence_end(i, at_end) {
                    Some(Some(end)) => return Scan::Boundary(end),
                    Some(None) => {}
                    None => return Scan::NeedMore,
                },
                ',' | ';' | ':' | '—' if words >= soft_min => {
                    match followed_by_space(text, i + c.len_utf8(), at_end) {
                        Some(true) => return Scan::Boundary(i + c.len_utf8()),
                        Some(false) => {}
                        None => return Scan::NeedMore,
                    }
                }
                _ => {}
            }
        }
        Scan::NeedMore
    }

    /// Decides whether the punctuation at byte `i` ends a sentence: `Some(Some(end))` yes (the
    /// clause ends at `end`), `Some(None)` no, `None` not yet known.
    fn sentence_end(&self, i: usize, at_end: bool) -> Option<Option<usize>> {
        let text = self.pending.as_str();
        // The clause takes the whole punctuation run ("?!", "...") and closing marks after it.
        let after_run = text[i..]
            .char_indices()
            .find(|(_, c)| !matches!(c, '.' | '!' | '?' | '…') && !is_closing(*c))
            .map_or(text.len(), |(j, _)| i + j);
        let Some(next) = text[after_run..].chars().next() else {
            return if at_end { Some(Some(after_run)) } else { None };
        };
        if !next.is_whitespace() {
            return Some(None); // 3.5, e.g., a.m., file.txt
        }
        let clause = &text[..i];
        if !has_letters(clause) {
            return Some(None); // "1." of a numbered list
        }
        let run = &text[i..after_run];
        let is_single_dot = run.trim_end_matches(is_closing) == ".";
        if is_single_dot {
            if is_abbreviation(last_word(clause)) {
                return Some(None);
            }
            // Like espeak-ng: a lowercase word after a dot means the dot was an abbreviation.
            match text[after_run..].trim_start().chars().next() {
                Some(c) if c.is_lowercase() => return Some(None),
                Some(_) => {}
                None if !at_end => return None,
                None => {}
            }
        }
        Some(Some(after_run))
    }
}

/// Whether the character at byte `at` is whitespace: `None` if the text ends there first.
fn followed_by_space(text: &str, at: usize, at_end: bool) -> Option<bool> {
    match text[at..].chars().next() {
        Some(c) => Some(c.is_whitespace()),
        None if at_end => Some(true),
        None => None,
    }
}

/// The word after the spaces at byte `at`, if it is complete (followed by a space: a word
/// followed by punctuation or the end of the answer is returned empty, so it never matches).
/// `None` while the text ends inside it.
fn next_word(text: &str, at: usize, at_end: bool) -> Option<&str> {
    let rest = text[at..].trim_start();
    match rest.find(|c: char| !c.is_alphanumeric()) {
        Some(end) if rest[end..].starts_with(char::is_whitespace) => Some(&rest[..end]),
        Some(_) => Some(""),
        None if at_end => Some(""),
        None => None,
    }
}

fn has_letters(text: &str) -> bool {
    text.chars().any(char::is_alphabetic)
}

/// The last whitespace-separated word, without leading quotes or brackets.
fn last_word(text: &str) -> &str {
    let word = text.rsplit(char::is_whitespace).next().unwrap_or("");
    word.trim_start_matches(|c: char| !c.is_alphanumeric())
}

/// Titles and Latin abbreviations, single initials (`J`) and dotted acronyms (`U.S`).
fn is_abbreviation(word: &str) -> bool {
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    let mut parts = word.split('.');
    parts.all(|p| {
        let mut chars = p.chars();
        matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` in chunks of `chunk` characters, the way an LLM streams it.
    fn split_clauses(text: &str, chunk: usize) -> Vec<Clause> {
        let mut splitter = ClauseSplitter::default();
        let chars: Vec<char> = text.chars().collect();
        let mut clauses = Vec::new();
        for piece in chars.chunks(chunk) {
            clauses.extend(splitter.push(&piece.iter().collect::<String>()));
        }
        clauses.extend(splitter.finish());
        clauses
    }

    fn texts(clauses: &[Clause]) -> Vec<String> {
        clauses.iter().map(|c| c.text.clone()).collect()
    }

    /// The same clauses whatever the token sizes; their raw texts rebuild the input.
    fn split_all_ways(text: &str) -> Vec<String> {
        let whole = split_clauses(text, usize::MAX / 2);
        for chunk in [1, 2, 3, 5, 8] {
            assert_eq!(
                split_clauses(text, chunk),
                whole,
                "chunk {chunk} of {text:?}"
            );
        }
        let raw: String = whole.iter().map(|c| c.raw.as_str()).collect();
        assert!(
            text.starts_with(&raw),
            "raw {raw:?} is not a prefix of {text:?}"
        );
        texts(&whole)
    }

    #[test]
    fn sentences_end_clauses() {
        assert_eq!(
            split_all_ways("Hello there. How are you? I am fine!"),
            ["Hello there.", "How are you?", "I am fine!"]
        );
    }

    #[test]
    fn a_clause_is_handed_out_as_soon_as_it_is_certain() {
        let mut s = ClauseSplitter::default();
        assert!(s.push("The capital of France").is_empty());
        assert!(s.push(" is Paris.").is_empty(), "could be an abbreviation");
        assert_eq!(texts(&s.push(" It")), ["The capital of France is Paris."]);
        assert!(s.push(" is big").is_empty());
        assert_eq!(texts(&s.finish()), ["It is big"]);
    }

    #[test]
    fn question_and_exclamation_need_only_the_space() {
        let mut s = ClauseSplitter::default();
        assert!(s.push("Really?").is_empty());
        assert_eq!(texts(&s.push(" ")), ["Really?"]);
    }

    #[test]
    fn commas_split_once_the_clause_has_a_few_words() {
        assert_eq!(
            split_all_ways("Sure, I can help with that, and here is how it works, step by step."),
            [
                "Sure, I can help with that,",
                "and here is how it works, step by step."
            ]
        );
    }

    #[test]
    fn numbers_do_not_split() {
        assert_eq!(
            split_all_ways("Ok. It is 3.5 meters long and costs 1,000 dollars at 10:30 today."),
            [
                "Ok.",
                "It is 3.5 meters long and costs 1,000 dollars at 10:30 today."
            ]
        );
    }

    #[test]
    fn abbreviations_and_initials_do_not_split() {
        assert_eq!(
            split_all_ways(
                "Hi. Dr. Smith met J. R. R. Tolkien in the U.S. Army e.g. at noon. Then he left."
            ),
            [
                "Hi.",
                "Doctor Smith met J. R. R. Tolkien in the U.S. Army e.g. at noon.",
                "Then he left."
            ]
        );
        assert_eq!(
            split_all_ways("I bought apples, pears, etc. and more."),
            ["I bought apples,", "pears, etc. and more."]
        );
    }

    #[test]
    fn ellipsis_and_repeated_marks_stay_with_their_clause() {
        assert_eq!(
            split_all_ways("Wait... What?! \"Yes.\" Fine"),
            ["Wait...", "What?!", "\"Yes.\"", "Fine"]
        );
    }

    #[test]
    fn markdown_lists_split_per_line_and_are_cleaned() {
        assert_eq!(
            split_all_ways("You need:\n1. **flour**\n2. eggs\n\nThat's it."),
            ["You need:", "1. flour", "2. eggs", "That's it."]
        );
    }

    #[test]
    fn code_blocks_are_never_spoken() {
        assert_eq!(
            split_all_ways("Try this:\n```python\nprint('a. b. c.')\n```\nIt prints. Done."),
            ["Try this:", "It prints.", "Done."]
        );
        assert_eq!(split_all_ways("Look:\n```\nunclosed. code."), ["Look:"]);
    }

    #[test]
    fn run_on_text_is_cut_at_the_word_limit() {
        let words: Vec<String> = (0..70).map(|i| format!("w{i}")).collect();
        let clauses = split_all_ways(&words.join(" "));
        let lengths: Vec<usize> = clauses.iter().map(|c| c.split(' ').count()).collect();
        assert_eq!(lengths, [12, 30, 28], "{clauses:?}");
    }

    #[test]
    fn a_long_first_clause_ends_before_a_conjunction() {
        assert_eq!(
            split_all_ways(
                "I checked the schedule this morning and the train leaves at nine from \
                 platform four and it arrives at noon."
            ),
            [
                "I checked the schedule this morning",
                "and the train leaves at nine from platform four and it arrives at noon."
            ]
        );
        // Too early, not a whole word, or the end of the sentence: no split.
        assert_eq!(
            split_all_ways("You and I went there."),
            ["You and I went there."]
        );
        assert_eq!(
            split_all_ways("My new phone runs android software very well."),
            ["My new phone runs android software very well."]
        );
        assert_eq!(
            split_all_ways("We should get pasta, bread or rice and."),
            ["We should get pasta,", "bread or rice and."]
        );
    }

    #[test]
    fn a_long_first_clause_is_cut_where_no_phrase_hangs() {
        assert_eq!(
            split_all_ways(
                "I think the best way to get there is to take the train from the station."
            ),
            [
                "I think the best way to get there is to take the train",
                "from the station."
            ]
        );
    }

    #[test]
    fn first_clause_splits_earlier_than_later_ones() {
        let config = SplitterConfig::default();
        assert!(config.first_clause_min_words < config.min_words);
        assert_eq!(
            split_all_ways(
                "Well, in the end, it worked out fine for most of us here, I think, and good."
            ),
            [
                "Well, in the end,",
                "it worked out fine for most of us here,",
                "I think, and good."
            ]
        );
    }

    #[test]
    fn emojis_only_clauses_are_dropped() {
        assert_eq!(split_all_ways("Done! 🎉 🎉. Bye."), ["Done!", "Bye."]);
    }

    #[test]
    fn raw_text_covers_markup_and_skipped_code_so_history_can_be_cut() {
        let text = "**Step one:** mix it.\n```sh\nmake\n```\n🎉 Then bake it. Done";
        let clauses = split_clauses(text, 3);
        assert_eq!(
            texts(&clauses),
            ["Step one: mix it.", "Then bake it.", "Done"]
        );
        assert_eq!(clauses[0].raw, "**Step one:** mix it.");
        assert_eq!(clauses[1].raw, "\n```sh\nmake\n```\n🎉 Then bake it.");
        assert_eq!(clauses[2].raw, " Done");
        let raw: String = clauses.iter().map(|c| c.raw.as_str()).collect();
        assert_eq!(raw, text);
    }

    #[test]
    fn reset_drops_the_pending_text() {
        let mut s = ClauseSplitter::default();
        assert!(s.push("I was saying something").is_empty());
        assert_eq!(s.pending(), "I was saying something");
        s.reset();
        assert!(s.finish().is_empty());
        // After a reset the next answer is a first clause again.
        assert_eq!(texts(&s.push("Okay, so then, ")), ["Okay, so then,"]);
    }

    #[test]
    fn finish_starts_a_new_answer() {
        let mut s = ClauseSplitter::default();
        assert_eq!(
            texts(&s.push("One two three, four five six, ")),
            ["One two three,"]
        );
        assert_eq!(texts(&s.finish()), ["four five six,"]);
        assert_eq!(texts(&s.push("One two three, ")), ["One two three,"]);
    }

    #[test]
    fn arbitrary_streams_never_panic_and_lose_no_words() {
        let texts = [
            "```",
            "``",
            "`a`",
            "...",
            "?!?!",
            ". . .",
            "a.b.c.d",
            "\n\n\n",
            "é. É. ü, ö; ß: —",
            "🎉. 🎉!",
            "1. 2. 3.",
            "Mr. Mrs. Dr.",
            "x\u{0}y. z",
            "a,b,c,d,e,f,g,h,i,j,k,l",
        ];
        for text in texts {
            let clauses = split_all_ways(text);
            for clause in &clauses {
                assert!(
                    clause.chars().any(char::is_alphanumeric),
                    "{clause:?} from {text:?}"
                );
            }
        }
        let text = "Alpha beta, gamma delta epsilon zeta: eta theta. Iota kappa? Lambda mu";
        let joined = split_all_ways(text).join(" ");
        assert_eq!(joined, text);
    }

    /// A small deterministic generator (no test-only dependency needed).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, below: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % below
        }
    }

    #[test]
    fn random_streams_split_the_same_however_they_are_chunked() {
        const PIECES: [&str; 24] = [
            "word", "Dr.", "3.5", "1,000", " ", " ", " ", ".", ",", "?", "!", ":", ";", "\n",
            "```", "`", "**", "U.S.", "é", "🎉", "—", "...", "\"", "Then",
        ];
        let mut rng = Lcg(7);
        for _ in 0..300 {
            let text: String = (0..rng.next(60))
                .map(|_| PIECES[rng.next(PIECES.len())])
                .collect();
            let whole = split_clauses(&text, usize::MAX / 2);
            let chunk = 1 + rng.next(7);
            assert_eq!(
                split_clauses(&text, chunk),
                whole,
                "chunk {chunk} of {text:?}"
            );
            let raw: String = whole.iter().map(|c| c.raw.as_str()).collect();
            assert!(text.starts_with(&raw), "raw {raw:?} of {text:?}");
            for clause in texts(&whole).iter() {
                assert!(
                    clause.chars().any(char::is_alphanumeric),
                    "{clause:?} from {text:?}"
                );
                assert_eq!(&clean_for_speech(clause), clause, "not clean: {clause:?}");
            }
        }
    }
}
