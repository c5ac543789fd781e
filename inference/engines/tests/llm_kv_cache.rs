//! The KV cache's buffers are shared by clones and written in place: every clone, truncated
//! copy and batch member must still see only its own positions. Checked against caches built
//! from nothing by the same steps, with the small SmolLM2 model (grouped-query attention,
//! three query heads per key/value head).

mod llm_support;

use goassist_engines::llm::{Decoder, KvCache, LlmEngine, LlmEngineConfig};
use llm_support::smollm_path;

fn engine() -> LlmEngine {
    LlmEngine::load(LlmEngineConfig::new(smollm_path(), "")).expect("load SmolLM2")
}

/// `n` token ids, different for each `seed`.
fn tokens(n: usize, seed: u32) -> Vec<u32> {
    (0..n as u32)
        .map(|i| 100 + (i * 37 + seed * 1009) % 40_000)
        .collect()
}

/// The logits of running `steps` one token at a time after `cache`.
fn step_by_step(decoder: &Decoder, cache: &mut KvCache, steps: &[u32]) -> Vec<Vec<f32>> {
    steps
        .iter()
        .map(|&t| decoder.forward(&[t], cache).unwrap().to_vec1().unwrap())
        .collect()
}

/// A cache built from nothing with `prompt` in one forward pass.
fn prefilled(decoder: &Decoder, prompt: &[u32]) -> KvCache {
    let mut cache = KvCache::default();
    decoder.forward(prompt, &mut cache).unwrap();
    cache
}

/// A cache built from nothing: `prompt` in one forward pass, then `steps` one at a time.
fn from_scratch(decoder: &Decoder, prompt: &[u32], steps: &[u32]) -> Vec<Vec<f32>> {
    step_by_step(decoder, &mut prefilled(decoder, prompt), steps)
}

#[test]
fn clones_extended_apart_keep_their_own_positions() {
    let engine = engine();
    let decoder = engine.decoder();
    // 250 positions: the steps below cross the buffers' first growth (256 positions).
    let prompt = tokens(250, 0);
    let mut original = prefilled(decoder, &prompt);
    let mut first = original.clone();
    let mut second = original.clone();
    let (a, b, c) = (tokens(10, 1), tokens(10, 2), tokens(10, 3));
    let (mut got_a, mut got_b, mut got_c) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, as sequences of one engine step.
    for i in 0..10 {
        got_a.extend(step_by_step(decoder, &mut first, &a[i..=i]));
        got_b.extend(step_by_step(decoder, &mut second, &b[i..=i]));
        got_c.extend(step_by_step(decoder, &mut original, &c[i..=i]));
    }
    assert_eq!(got_a, from_scratch(decoder, &prompt, &a), "first clone");
    assert_eq!(got_b, from_scratch(decoder, &prompt, &b), "second clone");
    assert_eq!(got_c, from_scratch(decoder, &prompt, &c), "the original");
    assert_eq!((first.len(), second.len(), original.len()), (260, 260, 260));
}

#[test]
fn a_truncated_cache_resumes_as_if_the_rest_was_never_run_and_leaves_the_rest_alone() {
    let engine = engine();
    let decoder = engine.decoder();
    let prompt = tokens(300, 4);
    let mut whole = prefilled(decoder, &prompt);
    let mut cut = whole.truncated(200);
    assert_eq!(cut.len(), 200);
    // Writes position 200 onwards: positions the whole cache still holds.
    let resumed = step_by_step(decoder, &mut cut, &tokens(5, 5));
    assert_eq!(
        resumed,
        from_scratch(decoder, &prompt[..200], &tokens(5, 5))
    );
    let went_on = step_by_step(decoder, &mut whole, &tokens(5, 6));
    assert_eq!(went_on, from_scratch(decoder, &prompt, &tokens(5, 6)));
}

#[test]
fn a_batched_step_writes_each_sequence_into_its_own_cache_only() {
    let engine = engine();
    let decoder = engine.decoder();
    let prompt = tokens(120, 7);
    let mut shared = prefilled(decoder, &prompt);
    let mut other = prefilled(decoder, &tokens(30, 8));
    // Two sequences from the same prefix (sharing buffers) and one of its own, stepped together.
    let (mut x, mut y) = (shared.clone(), shared.clone());
    let next = [tokens(4, 9), tokens(4, 10), tokens(4, 11)];
    let mut rows: Vec<Vec<Vec<f32>>> = vec![Vec::new(); 3];
    for step in 0..4 {
        let ids: Vec<u32> = next.iter().map(|t| t[step]).collect();
        let logits = decoder
            .forward_batch(&ids, &mut [&mut x, &mut y, &mut other])
            .unwrap();
        for (row, logits) in rows.iter_mut().zip(logits.to_vec2::<f32>().unwrap()) {
            row.push(logits);
        }
    }
    let alone = |prompt: &[u32], steps: &[u32]| -> Vec<usize> {
        from_scratch(decoder, prompt, steps)
            .iter()
            .map(|l| argmax(l))
            .collect()
    };
    let batched = |row: &[Vec<f32>]| -> Vec<usize> { row.iter().map(|l| argmax(l)).collect() };
    assert_eq!(batched(&rows[0]), alone(&prompt, &next[0]));
    assert_eq!(batched(&rows[1]), alone(&prompt, &next[1]));
    assert_eq!(batched(&rows[2]), alone(&tokens(30, 8), &next[2]));
    assert_eq!(
        shared.len(),
        120,
        "the prefix they started from is untouched"
    );
    assert_eq!(
        step_by_step(decoder, &mut shared, &next[0]),
        from_scratch(decoder, &prompt, &next[0])
    );
}

fn argmax(logits: &[f32]) -> usize {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap()
}
