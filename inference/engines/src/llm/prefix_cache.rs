//! Reuse of computed KV caches across requests (LLM_PREFIX_CACHING).
//!
//! Every prompt starts with the same system message, and each turn of a conversation extends
//! the previous prompt and answer. So the cache keeps a few (token sequence, KV cache) pairs
//! and a new prompt resumes from the longest common prefix with any of them: the system
//! prompt at worst, the whole previous conversation at best. A KV cache can be cut back to any
//! prefix, so an entry still helps when the new prompt diverges part-way (a re-tokenized
//! answer, a barge-in that cut the last reply short).

use super::model::KvCache;
use super::tokenizer::TokenId;

struct Entry {
    tokens: Vec<TokenId>,
    kv: KvCache,
    last_used: u64,
    pinned: bool,
}

/// A small LRU of reusable KV caches.
pub(crate) struct PrefixCache {
    entries: Vec<Entry>,
    max_entries: usize,
    max_tokens: usize,
    clock: u64,
}

impl PrefixCache {
    /// Keeps at most `max_entries` unpinned conversations and `max_tokens` positions overall.
    pub(crate) fn new(max_entries: usize, max_tokens: usize) -> Self {
        Self {
            entries: Vec::new(),
            max_entries: max_entries.max(1),
            max_tokens,
            clock: 0,
        }
    }

    /// The cache for the longest prefix of `prompt` seen before, leaving at least one prompt
    /// token to run (its logits start the answer). `None` when nothing is shared.
    #[cfg(test)]
    pub(crate) fn lookup(&mut self, prompt: &[TokenId]) -> Option<(usize, KvCache)> {
        self.lookup_longer_than(prompt, 0)
    }

    /// Like [`PrefixCache::lookup`], but only a prefix longer than `known` tokens counts (the
    /// caller already holds that much; a shorter cache would be no gain).
    pub(crate) fn lookup_longer_than(
        &mut self,
        prompt: &[TokenId],
        known: usize,
    ) -> Option<(usize, KvCache)> {
        let limit = prompt.len().saturating_sub(1);
        let best = self
            .entries
            .iter_mut()
            .map(|e| {
                let shared = common_prefix(&e.tokens, prompt).min(limit);
                (shared, e)
            })
            .max_by_key(|(shared, _)| *shared);
        match best {
            Some((shared, entry)) if shared > known => {
                self.clock += 1;
                entry.last_used = self.clock;
                Some((shared, entry.kv.truncated(shared)))
            }
            _ => None,
        }
    }

    /// Remembers `kv` as the cache of `tokens` (`kv.len() == tokens.len()`). Unpinned entries
    /// that the new one extends are dropped (it serves them too); the least recently used go
    /// when over the limits. A pinned entry (the system prompt) is never evicted.
    pub(crate) fn insert(&mut self, tokens: Vec<TokenId>, kv: KvCache, pinned: bool) {
        debug_assert_eq!(tokens.len(), kv.len());
        if tokens.is_empty() || tokens.len() != kv.len() {
            return;
        }
        self.entries
            .retain(|e| e.pinned || !tokens.starts_with(&e.tokens));
        if self.entries.iter().any(|e| e.tokens == tokens) {
            return;
        }
        self.clock += 1;
        self.entries.push(Entry {
            tokens,
            kv,
            last_used: self.clock,
            pinned,
        });
        while self.unpinned() > self.max_entries || self.total_tokens() > self.max_tokens {
            let oldest = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.pinned)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i);
            match oldest {
                Some(i) => {
                    self.entries.remove(i);
                }
                None => break,
            }
        }
    }

    /// Forgets everything, pinned entries included.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of cached sequences.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn unpinned(&self) -> usize {
        self.entries.iter().filter(|e| !e.pinned).count()
    }

    fn total_tokens(&self) -> usize {
        self.entries.iter().map(|e| e.tokens.len()).sum()
    }
}

pub(crate) fn common_prefix(a: &[TokenId], b: &[TokenId]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in cache of the right length (the tests here are about bookkeeping, not tensors).
    fn kv(len: usize) -> KvCache {
        use candle_core::{Device, Tensor};
        let t = Tensor::zeros((1, 1, len, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        KvCache::from_layers_for_test(vec![(t.clone(), t)], len)
    }

    #[test]
    fn resumes_from_the_longest_shared_prefix() {
        let mut cache = PrefixCache::new(4, 1000);
        cache.insert(vec![1, 2, 3], kv(3), true);
        cache.insert(vec![1, 2, 3, 4, 5, 6], kv(6), false);
        let (shared, kv) = cache.lookup(&[1, 2, 3, 4, 5, 9, 9]).unwrap();
        assert_eq!((shared, kv.len()), (5, 5));
        let (shared, _) = cache.lookup(&[1, 2, 7]).unwrap();
        assert_eq!(shared, 2);
        assert!(cache.lookup(&[8, 1, 2]).is_none());
        // At least one token is left to run even when the whole prompt is cached.
        let (shared, _) = cache.lookup(&[1, 2, 3]).unwrap();
        assert_eq!(shared, 2);
    }

    #[test]
    fn extensions_replace_their_prefix_and_lru_evicts_but_never_the_pinned() {
        let mut cache = PrefixCache::new(2, 1000);
        cache.insert(vec![1, 2], kv(2), true);
        cache.insert(vec![1, 2, 3], kv(3), false);
        cache.insert(vec![1, 2, 3, 4], kv(4), false);
        assert_eq!(cache.len(), 2, "the extended entry replaced its prefix");
        cache.insert(vec![1, 2, 5], kv(3), false);
        cache.insert(vec![1, 2, 6], kv(3), false);
        assert_eq!(cache.len(), 3, "pinned + two most recent");
        assert_eq!(cache.lookup(&[1, 2, 3, 4, 0]).unwrap().0, 2);
        let mut small = PrefixCache::new(8, 5);
        small.insert(vec![1, 2], kv(2), true);
        small.insert(vec![1, 2, 3, 4], kv(4), false);
        assert_eq!(small.len(), 1, "token budget evicts unpinned entries");
    }
}
