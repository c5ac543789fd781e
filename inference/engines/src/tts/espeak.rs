//! espeak-ng as a phonemizer: text in, IPA phonemes out, clause by clause.
//!
//! espeak-ng keeps its state (voice, decoder, translator) in C globals and is not thread-safe,
//! so every call in this process goes through [`ESPEAK`], one lock. Nothing else in GoAssist may
//! call espeak-ng directly; use [`phonemize`] (or add a function here that takes the lock).
//!
//! Piper was trained on a patched espeak-ng whose `espeak_TextToPhonemesWithTerminator` also
//! reports how each clause ended, and it writes that punctuation into the phoneme string (a `.`,
//! `?` or `!` at a sentence end, `, ` after a comma...). Stock espeak-ng (Debian's 1.51) only has
//! `espeak_TextToPhonemes`, which advances the text pointer past the clause it translated. We get
//! the same information by reading the punctuation at the end of the text each call consumed.

#![allow(unsafe_code)] // The FFI to libespeak-ng lives here and nowhere else.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::Mutex;

use crate::EngineError;

/// `AUDIO_OUTPUT_SYNCHRONOUS`: we never play audio, only translate text.
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_DONT_EXIT`: without it espeak-ng calls `exit()` when its data is missing.
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeakCHARS_UTF8`.
const CHARS_UTF8: c_int = 1;
/// `espeakPHONEMES_IPA`: phoneme names as IPA (UTF-8), which is what Piper's ids are keyed by.
const PHONEMES_IPA: c_int = 0x02;
/// `EE_OK`.
const EE_OK: c_int = 0;

#[link(name = "espeak-ng")]
unsafe extern "C" {
    fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
}

/// What the process-wide lock guards: whether espeak-ng is initialized and which voice is set.
struct EspeakState {
    initialized: bool,
    voice: Option<String>,
}

/// The one lock around espeak-ng's global state.
static ESPEAK: Mutex<EspeakState> = Mutex::new(EspeakState {
    initialized: false,
    voice: None,
});

/// How espeak-ng ended a clause, read from the punctuation that closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClauseEnd {
    /// `.`: the end of a statement.
    Period,
    /// `?`
    Question,
    /// `!`
    Exclamation,
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `;`, also an ellipsis or an em dash (as espeak-ng classes them).
    Semicolon,
    /// No punctuation: end of text, or espeak-ng split a long clause itself.
    None,
}

impl ClauseEnd {
    /// Whether this ends a sentence (Piper synthesizes sentence by sentence).
    pub fn ends_sentence(self) -> bool {
        matches!(self, Self::Period | Self::Question | Self::Exclamation)
    }

    /// Reads the end of the text one `espeak_TextToPhonemes` call consumed: the last punctuation
    /// mark before trailing spaces, closing quotes and brackets. When the call stopped before
    /// the end of the text, espeak-ng has also consumed the first character of the next clause
    /// (`read_ahead`), which is dropped first.
    fn from_consumed_text(consumed: &str, read_ahead: bool) -> Self {
        let mut consumed = consumed;
        if read_ahead && !consumed.ends_with(char::is_whitespace) {
            let mut chars = consumed.chars();
            chars.next_back();
            consumed = chars.as_str();
        }
        let trimmed = consumed.trim_end_matches(|c: char| c.is_whitespace() || is_closing_mark(c));
        if trimmed.ends_with("..") || trimmed.ends_with('…') {
            // espeak-ng treats an ellipsis as a semicolon-like pause, not a full stop.
            return Self::Semicolon;
        }
        match trimmed.chars().next_back() {
            Some('.') => Self::Period,
            Some('?') => Self::Question,
            Some('!') => Self::Exclamation,
            Some(',') => Self::Comma,
            Some(':') => Self::Colon,
            Some(';' | '—') => Self::Semicolon,
            _ => Self::None,
        }
    }
}

/// Quotes and brackets that may follow the punctuation which ends a clause.
fn is_closing_mark(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»')
}

/// One clause as espeak-ng translated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonemizedClause {
    /// IPA phonemes, words separated by spaces, with stress marks (`ˈ`, `ˌ`).
    pub ipa: String,
    /// How the clause ended.
    pub end: ClauseEnd,
}

/// Translates `text` into IPA with the espeak-ng voice `voice` (e.g. `"en-us"`), one entry per
/// clause as espeak-ng splits them. Takes the process-wide espeak-ng lock for the whole call.
pub fn phonemize(text: &str, voice: &str) -> Result<Vec<PhonemizedClause>, EngineError> {
    // espeak-ng reads a NUL-terminated string: a NUL inside would silently cut the text.
    // The trailing space matters: when espeak-ng ends a clause it reads ahead to the next
    // non-blank character and keeps it in a global for the next call. If that character were the
    // last of our text, espeak-ng would report the end of the text, the character would never be
    // translated, and it would leak into the next caller's text. Ending in a space makes the
    // read-ahead always land inside the text.
    let c_text = CString::new(format!("{} ", text.replace('\0', " ")))
        .map_err(|e| EngineError::InvalidInput(format!("text for espeak-ng: {e}")))?;
    let c_voice = CString::new(voice)
        .map_err(|_| EngineError::InvalidInput(format!("espeak voice name {voice:?}")))?;

    // A panic while holding the lock cannot leave espeak-ng half-changed in a way we track, so a
    // poisoned lock is still usable.
    let mut state = ESPEAK.lock().unwrap_or_else(|p| p.into_inner());
    ensure_initialized(&mut state)?;
    if state.voice.as_deref() != Some(voice) {
        // SAFETY: espeak-ng is initialized and we hold the lock; the name is NUL-terminated and
        // outlives the call.
        let rc = unsafe { espeak_SetVoiceByName(c_voice.as_ptr()) };
        if rc != EE_OK {
            state.voice = None;
            return Err(EngineError::Runtime {
                engine: "espeak-ng",
                reason: format!("voice {voice:?} not found (error {rc})"),
            });
        }
        state.voice = Some(voice.to_owned());
    }

    let bytes = c_text.as_bytes();
    let start = c_text.as_ptr();
    let mut cursor: *const c_void = start.cast();
    let mut clauses = Vec::new();
    // Every call translates at least one character, so this bounds the loop even if espeak-ng
    // misbehaves; reaching it means we stopped early, which is reported rather than hidden.
    let mut calls_left = bytes.len() + 2;
    while !cursor.is_null() {
        if calls_left == 0 {
            return Err(EngineError::Runtime {
                engine: "espeak-ng",
                reason: "espeak_TextToPhonemes did not reach the end of the text".into(),
            });
        }
        calls_left -= 1;
        let before = offset_in(start, cursor, bytes.len());
        // SAFETY: `cursor` points into `c_text` (NUL-terminated, alive until the end of this
        // function) or was set by espeak-ng to a position inside it; we hold the lock.
        let phonemes = unsafe { espeak_TextToPhonemes(&mut cursor, CHARS_UTF8, PHONEMES_IPA) };
        if phonemes.is_null() {
            break;
        }
        // SAFETY: espeak-ng returns a NUL-terminated string in its own buffer, valid until the
        // next call; we copy it out at once.
        let ipa = unsafe { CStr::from_ptr(phonemes) }
            .to_string_lossy()
            .trim()
            .to_owned();
        let at_end = cursor.is_null();
        let after = if at_end {
            bytes.len()
        } else {
            offset_in(start, cursor, bytes.len())
        };
        let consumed = String::from_utf8_lossy(&bytes[before.min(after)..after]);
        let end = ClauseEnd::from_consumed_text(&consumed, !at_end);
        if !ipa.is_empty() {
            clauses.push(PhonemizedClause { ipa, end });
        }
    }
    Ok(clauses)
}
/// Byte offset of `cursor` within the `len`-byte string at `start`, clamped to it.
fn offset_in(start: *const c_char, cursor: *const c_void, len: usize) -> usize {
    (cursor as usize).saturating_sub(start as usize).min(len)
}

fn ensure_initialized(state: &mut EspeakState) -> Result<(), EngineError> {
    if state.initialized {
        return Ok(());
    }
    // SAFETY: we hold the lock; a null path means the default data directory (or
    // ESPEAK_DATA_PATH); DONT_EXIT makes a missing data directory an error return.
    let rate = unsafe {
        espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            std::ptr::null(),
            INITIALIZE_DONT_EXIT,
        )
    };
    if rate <= 0 {
        return Err(EngineError::Runtime {
            engine: "espeak-ng",
            reason: format!(
                "espeak_Initialize failed ({rate}): is espeak-ng-data installed \
                 (apt install espeak-ng-data, or set ESPEAK_DATA_PATH)?"
            ),
        });
    }
    state.initialized = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonemizes_a_sentence_into_ipa() {
        let clauses = phonemize("Hello world.", "en-us").unwrap();
        assert_eq!(clauses.len(), 1, "{clauses:?}");
        assert_eq!(clauses[0].end, ClauseEnd::Period);
        let ipa = &clauses[0].ipa;
        assert!(ipa.contains('ˈ'), "stress marks expected: {ipa}");
        assert!(ipa.starts_with('h'), "{ipa}");
        assert_eq!(ipa.split(' ').count(), 2, "two words: {ipa}");
    }

    #[test]
    fn reports_how_each_clause_ended() {
        let clauses = phonemize("Well, is it raining? Yes! It is; look: rain.", "en-us").unwrap();
        let ends: Vec<ClauseEnd> = clauses.iter().map(|c| c.end).collect();
        assert_eq!(
            ends,
            [
                ClauseEnd::Comma,
                ClauseEnd::Question,
                ClauseEnd::Exclamation,
                ClauseEnd::Semicolon,
                ClauseEnd::Colon,
                ClauseEnd::Period
            ],
            "{clauses:?}"
        );
    }

    #[test]
    fn decimal_numbers_do_not_end_a_clause() {
        let clauses = phonemize("It costs 3.5 dollars", "en-us").unwrap();
        assert_eq!(clauses.len(), 1, "{clauses:?}");
        assert_eq!(clauses[0].end, ClauseEnd::None);
        // "three point five"
        assert!(clauses[0].ipa.contains("θɹ"), "{}", clauses[0].ipa);
    }

    #[test]
    fn the_last_character_is_never_lost_or_leaked_into_the_next_call() {
        // espeak-ng reads one character past a clause end; when that was the last character it
        // used to vanish here and reappear at the start of the next text.
        let clauses = phonemize("Yes! I", "en-us").unwrap();
        assert_eq!(clauses.len(), 2, "{clauses:?}");
        assert_eq!(clauses[1].ipa, "ˈaɪ");
        let fresh = phonemize("abc def", "en-us").unwrap();
        for text in ["Hello, w", "Yes! I", "Stop. X", "Why? Z", "Hi.", "end "] {
            phonemize(text, "en-us").unwrap();
            assert_eq!(
                phonemize("abc def", "en-us").unwrap(),
                fresh,
                "after {text:?}"
            );
        }
    }

    #[test]
    fn ellipsis_and_dash_pause_like_a_semicolon() {
        let clauses = phonemize("Wait... what? A — B", "en-us").unwrap();
        let ends: Vec<ClauseEnd> = clauses.iter().map(|c| c.end).collect();
        assert_eq!(
            ends,
            [
                ClauseEnd::Semicolon,
                ClauseEnd::Question,
                ClauseEnd::Semicolon,
                ClauseEnd::None
            ],
            "{clauses:?}"
        );
    }

    #[test]
    fn unknown_voice_is_an_error_not_a_crash() {
        let err = phonemize("hello", "xx-no-such-voice").unwrap_err();
        assert!(err.to_string().contains("xx-no-such-voice"), "{err}");
        // The lock and espeak-ng still work afterwards.
        assert!(!phonemize("hello", "en-us").unwrap().is_empty());
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "",
            " ",
            "\0",
            "...",
            "?!?!",
            "\u{1F600}",
            "a\0b",
            "ʃʃʃ",
            "1.2.3.4.5",
        ] {
            let _ = phonemize(text, "en-us").unwrap();
        }
    }

    #[test]
    fn concurrent_callers_are_serialized() {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let clauses = phonemize(&format!("Number {i} is here."), "en-us").unwrap();
                        assert_eq!(clauses.len(), 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
