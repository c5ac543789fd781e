//! Text cleanup before speech: the voice must never read markup or symbols aloud.
//!
//! LLMs answer in markdown. Read literally, `**Note:**` becomes "asterisk asterisk note", a code
//! block becomes a minute of punctuation names and an emoji becomes its Unicode name. This keeps
//! the words and drops the rest. It is idempotent: cleaning clean text changes nothing.

/// Turns LLM text (markdown, emojis, code) into plain sentences for the synthesizer.
///
/// Code blocks are left out entirely (the screen shows them; the voice does not read them),
/// inline code keeps its words, links keep their text, bare URLs are dropped, list and heading
/// markers go, each line ends as a clause, and common title abbreviations are written out
/// ("Dr." → "Doctor") so they do not end a sentence.
pub fn clean_for_speech(text: &str) -> String {
    let without_code = drop_code_blocks(text);
    let mut lines = Vec::new();
    for line in without_code.lines() {
        let line = clean_line(line);
        if line.chars().any(char::is_alphanumeric) {
            lines.push(line);
        }
    }
    let last = lines.len().saturating_sub(1);
    let mut out = String::new();
    for (i, line) in lines.into_iter().enumerate() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&line);
        // A line break is a pause: end the line as a clause if it has no punctuation of its own.
        if i < last && !line.ends_with(['.', ',', ';', ':', '!', '?', '…']) {
            out.push('.');
        }
    }
    out
}

/// Removes fenced code blocks (```` ``` ```` … ```` ``` ````), including an unclosed one.
fn drop_code_blocks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        out.push_str(&rest[..open]);
        out.push('\n');
        let after_open = &rest[open + 3..];
        match after_open.find("```") {
            Some(close) => rest = &after_open[close + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Cleans one line of markdown.
fn clean_line(line: &str) -> String {
    let line = strip_line_markers(line.trim());
    let line = strip_html_tags(&replace_links(line));
    let cleaned: Vec<String> = line.split_whitespace().map(clean_word).collect();
    let mut out = String::with_capacity(line.len());
    for word in cleaned.iter().flat_map(|w| w.split_whitespace()) {
        if word.chars().all(is_pause_mark) {
            // Punctuation left alone by removed markup ("__done__." → "done ."): attach it to the
            // word before, or drop it at the start of the line.
            if !out.is_empty() {
                out.push_str(word);
            }
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&expand_abbreviation(word));
    }
    // Removing markup can expose a marker ("🎉 - item" → "- item"): clean again until stable.
    // The line shrinks every round, so this ends.
    let stripped = strip_line_markers(&out);
    if stripped.len() < out.len() {
        return clean_line(stripped);
    }
    out
}

fn is_pause_mark(c: char) -> bool {
    matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '…')
}

/// Drops heading (`#`), quote (`>`), bullet (`-`, `*`, `+`) and table-rule markers at the start
/// of a line; a horizontal rule (`---`, `***`) leaves nothing.
fn strip_line_markers(mut line: &str) -> &str {
    loop {
        let trimmed = line.trim_start_matches(['#', '>']).trim_start();
        let trimmed = match trimmed.strip_prefix(['-', '*', '+', '•']) {
            Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
            _ => trimmed,
        };
        if trimmed == line {
            break;
        }
        line = trimmed;
    }
    if line
        .chars()
        .all(|c| matches!(c, '-' | '*' | '_' | '=' | '|' | ':' | ' '))
    {
        return "";
    }
    line
}

/// `[text](target)` and `![alt](target)` become `text` / `alt`.
fn replace_links(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|c| open + c) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|e| close + e) else {
            break;
        };
        let before = rest[..open].strip_suffix('!').unwrap_or(&rest[..open]);
        out.push_str(before);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Drops HTML tags such as `<br>`, `</b>` or `<br/>` (a `<` that does not open a short tag
/// stays for [`clean_word`]).
fn strip_html_tags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let opens_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        let close = after
            .find('>')
            .filter(|&c| c <= 40 && !after[..c].contains('<'));
        match (opens_tag, close) {
            (true, Some(close)) => {
                out.push(' ');
                rest = &after[close + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Cleans one whitespace-separated word: drops URLs, markup characters and pictographs;
/// `snake_case` reads as two words.
fn clean_word(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if is_pictograph(c) || matches!(c, '*' | '`' | '#' | '~' | '^' | '\\' | '{' | '}') {
            continue;
        }
        if matches!(c, '_' | '|' | '<' | '>') {
            // `snake_case` and `a|b` read as separate words; emphasis underscores at a word's
            // edge disappear; leftover `<`/`>` (arrows like `->`) are never read "less than".
            out.push(' ');
            continue;
        }
        out.push(c);
    }
    if out.split_whitespace().any(is_url) {
        return out
            .split_whitespace()
            .filter(|piece| !is_url(piece))
            .collect::<Vec<_>>()
            .join(" ");
    }
    out
}

fn is_url(word: &str) -> bool {
    let lower = word
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.")
}

/// Emojis, dingbats, arrows, shapes and the invisible characters that build emoji sequences.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF   // emoji, pictographs, flags, playing cards
        | 0x2190..=0x21FF   // arrows
        | 0x2300..=0x23FF   // misc technical (⌚, ⏰)
        | 0x25A0..=0x27BF   // shapes, misc symbols, dingbats
        | 0x2900..=0x297F   // supplemental arrows
        | 0x2B00..=0x2BFF   // misc symbols and arrows (⭐)
        | 0xFE00..=0xFE0F   // variation selectors
        | 0x200D            // zero-width joiner
        | 0x20E3            // combining keycap
        | 0xE0020..=0xE007F // tag characters (subdivision flags)
    )
}

/// Titles that espeak-ng would otherwise treat as the end of a sentence.
fn expand_abbreviation(word: &str) -> String {
    const TITLES: [(&str, &str); 6] = [
        ("Dr.", "Doctor"),
        ("Mr.", "Mister"),
        ("Mrs.", "Missus"),
        ("Ms.", "Miz"),
        ("Prof.", "Professor"),
        ("vs.", "versus"),
    ];
    for (short, long) in TITLES {
        if word == short {
            return long.to_owned();
        }
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_emphasis_and_headings_go() {
        assert_eq!(
            clean_for_speech("## Summary\n**Note:** this is *very* __important__."),
            "Summary. Note: this is very important."
        );
    }

    #[test]
    fn code_blocks_are_not_read() {
        let text = "Run this:\n```python\nprint(\"hi\")\nx = [1, 2]\n```\nThen you are done.";
        assert_eq!(clean_for_speech(text), "Run this: Then you are done.");
        assert_eq!(clean_for_speech("Look: ```rust\nfn main() {}"), "Look:");
    }

    #[test]
    fn inline_code_keeps_its_words() {
        assert_eq!(
            clean_for_speech("Call `load_model` first."),
            "Call load model first."
        );
    }

    #[test]
    fn lists_become_clauses() {
        assert_eq!(
            clean_for_speech("You need:\n- flour\n- two eggs\n* milk"),
            "You need: flour. two eggs. milk"
        );
    }

    #[test]
    fn links_keep_their_text_and_urls_go() {
        assert_eq!(
            clean_for_speech("See [the docs](https://example.com/a.b) or https://x.y/z today."),
            "See the docs or today."
        );
    }

    #[test]
    fn emojis_and_symbols_go() {
        assert_eq!(
            clean_for_speech("Great job! 🎉👍🏽 You did it ✅ → next ⭐"),
            "Great job! You did it next"
        );
        assert_eq!(clean_for_speech("👨\u{200D}👩\u{200D}👧 family"), "family");
    }

    #[test]
    fn html_tags_go_and_comparisons_are_not_read_as_symbols() {
        assert_eq!(
            clean_for_speech("First<br>second <b>bold</b>, a -> b, x|y"),
            "First second bold, a - b, x y"
        );
    }

    #[test]
    fn titles_are_written_out() {
        assert_eq!(
            clean_for_speech("Dr. Smith met Mr. Jones."),
            "Doctor Smith met Mister Jones."
        );
    }

    #[test]
    fn numbers_and_plain_punctuation_stay() {
        let text = "It costs $3.50, about 10% less; really? Yes!";
        assert_eq!(clean_for_speech(text), text);
    }

    #[test]
    fn nothing_to_say_is_empty() {
        for text in [
            "",
            "   ",
            "```\ncode\n```",
            "---",
            "🎉🎉",
            "** **",
            "| --- | --- |",
        ] {
            assert_eq!(clean_for_speech(text), "", "{text:?}");
        }
    }

    #[test]
    fn cleaning_is_idempotent() {
        let texts = [
            "## Plan\n1. **Mix** the `flour_and_water`.\n2. Bake 🍞\n\nDone! See [here](http://a.b).",
            "Dr. Who? > quoted\n- item one\n- item two",
            "a_b __c__ <br> x -> y",
        ];
        for text in texts {
            let once = clean_for_speech(text);
            assert_eq!(clean_for_speech(&once), once, "{text:?}");
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let nasty = [
            "[",
            "](",
            "[a](",
            "![",
            "```",
            "``",
            "`",
            "**",
            "\u{0}",
            "\u{FEFF}",
            "[](",
            "[a]()",
            "é́́́",
            "\u{E0067}\u{E007F}",
            "<<<>>>",
            "#####",
            "- - - -",
            "]([)]",
        ];
        for text in nasty {
            let _ = clean_for_speech(text);
        }
    }

    #[test]
    fn random_markdown_cleans_idempotently_and_keeps_no_symbols() {
        const PIECES: [&str; 22] = [
            "word",
            " ",
            " ",
            "\n",
            "**",
            "*",
            "_",
            "`",
            "```",
            "#",
            "- ",
            "> ",
            "[a](b)",
            "http://x.y",
            "🎉",
            "\u{200D}",
            ".",
            ",",
            "!",
            "|",
            "<br>",
            "é",
        ];
        let mut state = 11u64;
        let mut next = |below: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % below
        };
        for _ in 0..5000 {
            let text: String = (0..next(40)).map(|_| PIECES[next(PIECES.len())]).collect();
            let once = clean_for_speech(&text);
            assert_eq!(clean_for_speech(&once), once, "{text:?}");
            assert!(
                !once.contains(['*', '`', '#', '|', '<', '>', '\n', '\u{200D}', '🎉']),
                "{once:?} from {text:?}"
            );
        }
    }
}
