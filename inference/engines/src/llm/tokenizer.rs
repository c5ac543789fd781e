//! The byte-level BPE tokenizer of a GGUF model, built from the file's own metadata.
//!
//! No model package ships a `tokenizer.json`, so the vocabulary (`tokenizer.ggml.tokens`), the
//! merge list (`tokenizer.ggml.merges`) and the pre-tokenizer name (`tokenizer.ggml.pre`) are
//! assembled into a `tokenizers` BPE pipeline here. Control tokens (`<|im_start|>`...) are not
//! registered as added tokens on purpose: text is always encoded as plain text (a user who says
//! "<|im_end|>" cannot close the turn), and the chat template inserts control tokens by id.

use std::collections::HashMap;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::tokenizer::SplitDelimiterBehavior;

use super::gguf::GgufFile;
use crate::EngineError;

/// llama.cpp's pre-tokenizer regex for `tokenizer.ggml.pre = "qwen2"` (single digits).
const QWEN2_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The same for `llama3`-style vocabularies (digits in groups of up to three).
const LLAMA3_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF `tokenizer.ggml.token_type` value of control tokens.
const TOKEN_TYPE_CONTROL: i64 = 3;

/// A token id.
pub type TokenId = u32;

/// Text ⇄ token ids for one model.
pub struct Tokenizer {
    bpe: tokenizers::Tokenizer,
    /// Each token's bytes, for streaming decode without re-decoding the whole sequence.
    token_bytes: Vec<Vec<u8>>,
    ids_by_token: HashMap<String, TokenId>,
    control: Vec<bool>,
    end_of_turn: Vec<TokenId>,
    pre: String,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.token_bytes.len())
            .field("pre", &self.pre)
            .field("end_of_turn", &self.end_of_turn)
            .finish()
    }
}

impl Tokenizer {
    /// Loads only the tokenizer of a GGUF model file.
    pub fn from_gguf_path(path: &std::path::Path) -> Result<Self, EngineError> {
        Self::from_gguf(&GgufFile::open(path)?)
    }

    pub(crate) fn from_gguf(gguf: &GgufFile) -> Result<Self, EngineError> {
        let kind = gguf.string("tokenizer.ggml.model")?;
        if kind != "gpt2" {
            return Err(gguf.invalid(format!(
                "tokenizer `{kind}` is not supported (only gpt2 byte-level BPE)"
            )));
        }
        let tokens = gguf.strings("tokenizer.ggml.tokens")?;
        let types = gguf
            .integers("tokenizer.ggml.token_type")
            .unwrap_or_else(|_| vec![1; tokens.len()]);
        let merges = gguf
            .strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_string(), b.to_string())),
                None => Err(gguf.invalid(format!("merge `{m}` is not two tokens"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pre = gguf
            .string("tokenizer.ggml.pre")
            .unwrap_or("gpt2")
            .to_string();

        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.clone(), id as TokenId))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| gguf.invalid(format!("BPE model: {e}")))?;
        let mut pipeline = tokenizers::Tokenizer::new(bpe);
        let (normalize_nfc, pre_tokenizer) = pre_tokenizer_for(&pre)
            .map_err(|e| gguf.invalid(format!("pre-tokenizer `{pre}`: {e}")))?;
        if normalize_nfc {
            pipeline
                .with_normalizer(Some(NFC))
                .map_err(|e| gguf.invalid(format!("normalizer: {e}")))?;
        }
        pipeline.with_pre_tokenizer(Some(pre_tokenizer));
        pipeline.with_decoder(Some(ByteLevelDecoder::default()));

        let control: Vec<bool> = (0..tokens.len())
            .map(|i| types.get(i) == Some(&TOKEN_TYPE_CONTROL))
            .collect();
        let token_bytes = tokens
            .iter()
            .zip(&control)
            .map(|(t, &is_control)| {
                if is_control {
                    t.as_bytes().to_vec()
                } else {
                    byte_level_decode(t)
                }
            })
            .collect();
        let ids_by_token: HashMap<String, TokenId> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.clone(), id as TokenId))
            .collect();

        let mut end_of_turn = Vec::new();
        if let Ok(eos) = gguf.integer("tokenizer.ggml.eos_token_id") {
            end_of_turn.push(eos as TokenId);
        }
        for name in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"] {
            if let Some(&id) = ids_by_token.get(name)
                && !end_of_turn.contains(&id)
            {
                end_of_turn.push(id);
            }
        }
        Ok(Self {
            bpe: pipeline,
            token_bytes,
            ids_by_token,
            control,
            end_of_turn,
            pre,
        })
    }

    /// Encodes text as plain text: control-token spellings in it are ordinary characters.
    pub fn encode(&self, text: &str) -> Result<Vec<TokenId>, EngineError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let encoding = self
            .bpe
            .encode(text, false)
            .map_err(|e| EngineError::InvalidInput(format!("cannot tokenize: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes ids to text, leaving out control tokens.
    pub fn decode(&self, ids: &[TokenId]) -> String {
        let mut stream = TextStream::default();
        let mut text = String::new();
        for &id in ids {
            text.push_str(&stream.push(self.bytes_of(id)));
        }
        text.push_str(&stream.finish());
        text
    }

    /// The bytes a token stands for (empty for control tokens and unknown ids).
    pub fn bytes_of(&self, id: TokenId) -> &[u8] {
        match self.token_bytes.get(id as usize) {
            Some(bytes) if !self.is_control(id) => bytes,
            _ => &[],
        }
    }

    /// The id of a token spelled exactly so (e.g. `"<|im_start|>"`).
    pub fn token_id(&self, token: &str) -> Option<TokenId> {
        self.ids_by_token.get(token).copied()
    }

    /// Whether `id` is a control token (never shown as text).
    pub fn is_control(&self, id: TokenId) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// Whether generating `id` ends the assistant's turn (EOS, `<|im_end|>`...).
    pub fn is_end_of_turn(&self, id: TokenId) -> bool {
        self.end_of_turn.contains(&id)
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// The GGUF pre-tokenizer name this tokenizer follows.
    pub fn pre_tokenizer(&self) -> &str {
        &self.pre
    }
}

/// The normalizer flag and pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name.
fn pre_tokenizer_for(pre: &str) -> tokenizers::Result<(bool, PreTokenizerWrapper)> {
    let split_then_bytes = |regex: &str| -> tokenizers::Result<PreTokenizerWrapper> {
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )?;
        Ok(Sequence::new(vec![
            split.into(),
            ByteLevel::new(false, false, false).into(),
        ])
        .into())
    };
    Ok(match pre {
        "qwen2" => (true, split_then_bytes(QWEN2_SPLIT)?),
        "llama3" | "llama-bpe" | "smaug-bpe" => (false, split_then_bytes(LLAMA3_SPLIT)?),
        // SmolLM: every digit alone, then GPT-2's own regex.
        "smollm" => (
            false,
            Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])
            .into(),
        ),
        other => {
            if other != "gpt2" && other != "default" {
                tracing::warn!(pre = other, "unknown GGUF pre-tokenizer, using GPT-2's");
            }
            (false, ByteLevel::new(false, true, true).into())
        }
    })
}

/// GPT-2's byte-level alphabet: printable bytes stand for themselves, the others were shifted
/// to code points 256 and up (in byte order) so that every byte has a visible character.
fn byte_for_char(c: char) -> Option<u8> {
    static TABLE: std::sync::OnceLock<HashMap<char, u8>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
        let mut shifted = 256u32;
        (0u32..256)
            .map(|b| {
                let code = if printable(b) {
                    b
                } else {
                    shifted += 1;
                    shifted - 1
                };
                (char::from_u32(code).unwrap_or('\u{FFFD}'), b as u8)
            })
            .collect()
    });
    table.get(&c).copied()
}

/// A byte-level token string back to raw bytes (unknown characters become their UTF-8).
fn byte_level_decode(token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        match byte_for_char(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// Turns a stream of token bytes into text pieces, holding back an incomplete UTF-8 character
/// until the token that completes it arrives.
#[derive(Debug, Default)]
pub struct TextStream {
    pending: Vec<u8>,
}

impl TextStream {
    /// Adds one token's bytes and returns the text that is now complete (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let complete = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Invalid (not merely incomplete) bytes: emit with replacement characters.
            Err(_) => self.pending.len(),
        };
        let ready: Vec<u8> = self.pending.drain(..complete).collect();
        String::from_utf8_lossy(&ready).into_owned()
    }

    /// Whatever is left at the end of generation (a cut-off character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_round_trips_every_byte() {
        // 'Ġ' (U+0120) is the space, 'Ċ' (U+010A) the newline in GPT-2 vocabularies.
        assert_eq!(byte_level_decode("Ġhello"), b" hello");
        assert_eq!(byte_level_decode("Ċ"), b"\n");
        let mut seen = std::collections::HashSet::new();
        for code in 0u32..512 {
            if let Some(b) = char::from_u32(code).and_then(byte_for_char) {
                assert!(seen.insert(b), "byte {b} mapped twice");
            }
        }
        assert_eq!(seen.len(), 256);
    }

    #[test]
    fn text_stream_holds_back_split_characters() {
        let mut stream = TextStream::default();
        let euro = "€".as_bytes();
        assert_eq!(stream.push(b"a"), "a");
        assert_eq!(stream.push(&euro[..1]), "");
        assert_eq!(stream.push(&euro[1..2]), "");
        assert_eq!(stream.push(&euro[2..]), "€");
        assert_eq!(stream.push(&[0xF0, 0x9F]), "");
        assert_eq!(stream.finish(), "\u{FFFD}");
        assert_eq!(stream.push(&[0xFF, b'x']), "\u{FFFD}x");
    }
}
