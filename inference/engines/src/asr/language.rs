//! The spoken language a recognizer is told to expect (`ASR_LANGUAGE`).
//!
//! Plain data with no model behind it, so configuration can be validated in any build (with or
//! without the `whisper` feature).

use std::fmt;

/// The 99 language codes of the multilingual Whisper models, in the order of their tokens
/// (`<|en|>` = 50259, `<|zh|>` = 50260, ...). ISO 639-1 where one exists; `haw` (Hawaiian) and
/// `jw` (Javanese, Whisper's spelling) are Whisper's own.
pub const WHISPER_LANGUAGES: [&str; 99] = [
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su",
];

/// What the recognizer listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsrLanguage {
    /// Detect the language of each utterance (Whisper runs its language identification first).
    #[default]
    Auto,
    /// One known language: one of [`WHISPER_LANGUAGES`].
    Code(&'static str),
}

impl AsrLanguage {
    /// English, the only language Moonshine base-en knows.
    pub const ENGLISH: AsrLanguage = AsrLanguage::Code("en");

    /// `auto` or a code of [`WHISPER_LANGUAGES`], any case, surrounding spaces ignored; `None`
    /// for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        if text == "auto" {
            return Some(AsrLanguage::Auto);
        }
        WHISPER_LANGUAGES
            .iter()
            .find(|code| **code == text)
            .map(|code| AsrLanguage::Code(code))
    }

    /// `"auto"` or the code, as whisper.cpp takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AsrLanguage::Auto => "auto",
            AsrLanguage::Code(code) => code,
        }
    }
}

impl fmt::Display for AsrLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_auto_and_codes_in_any_case() {
        assert_eq!(AsrLanguage::parse("auto"), Some(AsrLanguage::Auto));
        assert_eq!(AsrLanguage::parse(" AUTO "), Some(AsrLanguage::Auto));
        assert_eq!(AsrLanguage::parse("de"), Some(AsrLanguage::Code("de")));
        assert_eq!(AsrLanguage::parse("RU"), Some(AsrLanguage::Code("ru")));
        assert_eq!(AsrLanguage::parse("haw"), Some(AsrLanguage::Code("haw")));
        assert_eq!(AsrLanguage::parse("en").unwrap().to_string(), "en");
    }

    #[test]
    fn refuses_what_whisper_does_not_know() {
        for bad in ["", "german", "de-DE", "xx", "iw", "yue", "a\u{0}"] {
            assert_eq!(AsrLanguage::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut codes = WHISPER_LANGUAGES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), WHISPER_LANGUAGES.len());
    }
}
