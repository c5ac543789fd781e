//! Moonshine's `tokenizer.bin`: token id → bytes, for decoding model output to text.
//!
//! The file is the vocabulary in id order, each entry a one-byte length followed by that many
//! bytes. The SentencePiece word marker `▁` (U+2581) stands for a space, ids 0–2 are `<unk>`,
//! `<s>`, `</s>`, and the byte-fallback tokens hold single raw bytes, so text is rebuilt by
//! concatenating bytes first and decoding UTF-8 once at the end.

use crate::EngineError;

/// Beginning-of-sequence token id.
pub const BOS: u32 = 1;
/// End-of-sequence token id.
pub const EOS: u32 = 2;
/// Ids below this are control tokens (`<unk>`, `<s>`, `</s>`) and never printed.
const FIRST_TEXT_ID: u32 = 3;
const WORD_MARKER: &str = "\u{2581}";

/// The id → bytes table.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    pieces: Vec<Vec<u8>>,
}

impl Tokenizer {
    /// Parses the `tokenizer.bin` bytes. A truncated entry is an error naming its index.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = bytes;
        while let Some((&len, tail)) = rest.split_first() {
            let len = usize::from(len);
            if tail.len() < len {
                return Err(format!(
                    "entry {} claims {len} bytes but only {} remain",
                    pieces.len(),
                    tail.len()
                ));
            }
            pieces.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        if pieces.len() <= FIRST_TEXT_ID as usize {
            return Err(format!("only {} entries", pieces.len()));
        }
        Ok(Self { pieces })
    }

    /// Reads and parses a `tokenizer.bin` file.
    pub fn load(path: &std::path::Path) -> Result<Self, EngineError> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::ModelNotFound {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(&bytes).map_err(|reason| EngineError::InvalidModel {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// True if there are no entries (never, for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Text of a token sequence: control tokens and ids outside the vocabulary are skipped,
    /// `▁` becomes a space, invalid UTF-8 becomes U+FFFD, and outer spaces are trimmed.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            if id < FIRST_TEXT_ID {
                continue;
            }
            if let Some(piece) = self.pieces.get(id as usize) {
                bytes.extend_from_slice(piece);
            }
        }
        String::from_utf8_lossy(&bytes)
            .replace(WORD_MARKER, " ")
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(pieces: &[&[u8]]) -> Vec<u8> {
        pieces
            .iter()
            .flat_map(|p| std::iter::once(p.len() as u8).chain(p.iter().copied()))
            .collect()
    }

    fn sample() -> Tokenizer {
        let hello = "\u{2581}hello".as_bytes();
        let world = "\u{2581}wor".as_bytes();
        Tokenizer::from_bytes(&encode(&[
            b"<unk>",
            b"<s>",
            b"</s>",
            hello,
            world,
            b"ld",
            &[0xE2],
            &[0x82],
            &[0xAC],
        ]))
        .unwrap()
    }

    #[test]
    fn decodes_pieces_with_word_markers_and_skips_control_tokens() {
        let t = sample();
        assert_eq!(t.len(), 9);
        assert_eq!(t.decode(&[BOS, 3, 4, 5, EOS]), "hello world");
        assert_eq!(t.decode(&[]), "");
        assert_eq!(t.decode(&[0, 1, 2]), "");
    }

    #[test]
    fn byte_fallback_tokens_join_into_one_character() {
        // U+20AC (euro sign) split over three byte tokens.
        assert_eq!(sample().decode(&[3, 6, 7, 8]), "hello\u{20AC}");
    }

    #[test]
    fn ids_outside_the_vocabulary_and_broken_utf8_do_not_panic() {
        let t = sample();
        assert_eq!(t.decode(&[3, 9, 32_767, u32::MAX]), "hello");
        assert_eq!(t.decode(&[3, 6]), "hello\u{FFFD}");
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(Tokenizer::from_bytes(&[]).is_err());
        assert!(Tokenizer::from_bytes(&encode(&[b"a", b"b"])).is_err());
        let mut truncated = encode(&[b"<unk>", b"<s>", b"</s>", b"abc"]);
        truncated.pop();
        let err = Tokenizer::from_bytes(&truncated).unwrap_err();
        assert!(err.contains("entry 3"), "{err}");
        // Every prefix of a valid file parses or errors; none panics.
        let valid = encode(&[b"<unk>", b"<s>", b"</s>", b"abc", b"", b"xyz"]);
        for end in 0..valid.len() {
            let _ = Tokenizer::from_bytes(&valid[..end]);
        }
    }

    #[test]
    fn the_real_vocabulary_has_32000_entries_and_the_control_tokens() {
        let path = crate::test_models_dir().join("asr/moonshine-base-en/tokenizer.bin");
        let t = Tokenizer::load(&path).unwrap();
        assert_eq!(t.len(), 32_000);
        assert_eq!(t.pieces[BOS as usize], b"<s>");
        assert_eq!(t.pieces[EOS as usize], b"</s>");
    }
}
