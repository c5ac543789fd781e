//! A decoding constraint against reading the user's words back: while an answer is decoded,
//! no token may complete a run of `n` tokens that also occurs in the user's last message
//! (Hugging Face calls the same rule `encoder_no_repeat_ngram_size`).
//!
//! Small chat models, given a statement rather than a question ("he was not an ill disposed
//! young man"), often answer by repeating it. A prompt alone did not stop that on the recorded
//! question set (docs/benchmarks/llm.md); banning long copies does, and leaves short shared
//! phrases ("your country") free.

use super::tokenizer::{TokenId, Tokenizer};

/// The user's words as token sequences, and the answer's last tokens.
#[derive(Debug, Clone)]
pub(crate) struct EchoGuard {
    n: usize,
    /// The user's message as the answer could spell it (with or without a leading space,
    /// first letter as said or capitalized): tokenizations differ between them.
    spellings: Vec<Vec<TokenId>>,
    /// The answer's last `n - 1` tokens.
    tail: Vec<TokenId>,
}

impl EchoGuard {
    /// A guard for an answer to `user` that bans copies of `n` tokens; `None` when `n < 2`
    /// (off) or the message is shorter than `n` tokens.
    pub(crate) fn new(tokenizer: &Tokenizer, user: &str, n: usize) -> Option<Self> {
        if n < 2 {
            return None;
        }
        let text = user.trim();
        let capitalized: String = text
            .chars()
            .take(1)
            .flat_map(char::to_uppercase)
            .chain(text.chars().skip(1))
            .collect();
        let mut spellings = Vec::new();
        for variant in [text.to_string(), capitalized] {
            for spelled in [variant.clone(), format!(" {variant}")] {
                if let Ok(tokens) = tokenizer.encode(&spelled)
                    && tokens.len() >= n
                    && !spellings.contains(&tokens)
                {
                    spellings.push(tokens);
                }
            }
        }
        (!spellings.is_empty()).then(|| Self::from_tokens(n, spellings))
    }

    fn from_tokens(n: usize, spellings: Vec<Vec<TokenId>>) -> Self {
        Self {
            n,
            spellings,
            tail: Vec::with_capacity(n),
        }
    }

    /// Sets the logits of the tokens that would complete a copy to minus infinity.
    pub(crate) fn mask(&self, logits: &mut [f32]) {
        if self.tail.len() + 1 < self.n {
            return;
        }
        for spelling in &self.spellings {
            for window in spelling.windows(self.n) {
                let (context, next) = window.split_at(self.n - 1);
                if context == self.tail.as_slice()
                    && let Some(logit) = logits.get_mut(next[0] as usize)
                {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
    }

    /// The answer went on with `token`.
    pub(crate) fn push(&mut self, token: TokenId) {
        self.tail.push(token);
        if self.tail.len() >= self.n {
            self.tail.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argmax(logits: &[f32]) -> usize {
        (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap()
    }

    #[test]
    fn a_token_completing_a_copy_of_n_tokens_is_banned_and_shorter_copies_are_not() {
        // The user said tokens 1 2 3 4; the model would like to say 1 2 3 4 (an echo).
        let mut guard = EchoGuard::from_tokens(3, vec![vec![1, 2, 3, 4]]);
        let prefers = |wanted: usize| {
            let mut logits = vec![0.0f32; 8];
            logits[wanted] = 5.0;
            logits
        };
        let mut said = Vec::new();
        for wanted in [1usize, 2, 3, 4] {
            let mut logits = prefers(wanted);
            guard.mask(&mut logits);
            let token = argmax(&logits);
            said.push(token);
            guard.push(token as TokenId);
        }
        assert_eq!(said[..2], [1, 2], "a copy of two tokens is allowed");
        assert_ne!(said[2], 3, "the third token of a copy is banned");
        // After the break a new copy may start again (two tokens are allowed).
        let mut logits = prefers(1);
        guard.mask(&mut logits);
        assert_eq!(argmax(&logits), 1);
    }

    #[test]
    fn only_the_completing_token_is_masked() {
        let mut guard = EchoGuard::from_tokens(2, vec![vec![5, 6, 5, 7]]);
        guard.push(5);
        let mut logits = vec![1.0f32; 8];
        guard.mask(&mut logits);
        let banned: Vec<usize> = (0..8).filter(|&i| logits[i].is_infinite()).collect();
        assert_eq!(
            banned,
            [6, 7],
            "both continuations of 5 in the user's words"
        );
    }
}
