//! The local LLM: a GGUF model, its tokenizer and chat template, prefix caching, and a slot
//! table of sequences stepped from outside (sans-IO, moshi / llama.cpp-server style).
//!
//! The step API is what the server's owner thread drives: [`LlmEngine::open_slot`] takes a
//! slot, [`LlmEngine::start_answer`] (or [`LlmEngine::start_open_turn`]) sets what it should
//! compute, [`LlmEngine::prefill`] runs one chunk of the prompt, and
//! [`LlmEngine::decode_step`] advances every answering sequence it is given by one token in one
//! batched forward pass. Nothing here blocks, sleeps or spawns: the caller decides the order
//! (a newcomer's prompt chunk between two decode steps stalls the others by one chunk at most).
//! [`LlmEngine::generate`] is the same steps in a loop for one sequence.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::chat::{ChatMessage, ChatMl, Role};
use super::echo_guard::EchoGuard;
use super::gguf::GgufFile;
use super::model::{Decoder, KvCache, candle_error};
use super::prefix_cache::{PrefixCache, common_prefix};
use super::sampling::{Sampler, Sampling};
use super::slots::{
    Answer, CachedSequence, Goal, NoFreeSlot, Sequence, SlotId, SlotState, SlotTable, Work,
};
use super::tokenizer::{TextStream, TokenId, Tokenizer};
use crate::EngineError;

/// Prompt tokens one [`LlmEngine::prefill`] call runs. Everyone else waits for a chunk, so it
/// bounds how long a newcomer stalls the sequences that are answering; chunks much smaller
/// cost throughput (see `examples/llm_bench.rs`, "prefill chunk"). Measured on a 2-core CPU
/// with Qwen2.5-0.5B Q8_0: prefill tok/s levels off from 32-token chunks on, and a 32-token
/// chunk takes about as long as a few decode steps.
pub const PREFILL_CHUNK_TOKENS: usize = 32;

/// How to load and run the model.
#[derive(Debug, Clone)]
pub struct LlmEngineConfig {
    /// The GGUF file (`general.architecture` `qwen2` or `llama`).
    pub model_path: PathBuf,
    /// System message used when a request brings none.
    pub system_prompt: String,
    /// Prompt plus answer never exceed this many tokens (LLM_MAX_CONTEXT_TOKENS); the oldest
    /// turns are dropped to fit.
    pub max_context_tokens: usize,
    /// Reuse KV caches of shared prompt prefixes (LLM_PREFIX_CACHING).
    pub prefix_caching: bool,
    /// How many conversations' caches to keep besides the system prompt's.
    pub cached_conversations: usize,
    /// Sequences the engine works on at once (LLM_MAX_BATCH_SIZE in the server): the slot
    /// table's size, and so the largest decode batch.
    pub slots: usize,
}

impl LlmEngineConfig {
    /// Defaults for a model file: prefix caching on, 4096-token context, 8 cached conversations,
    /// 8 slots.
    pub fn new(model_path: impl Into<PathBuf>, system_prompt: impl Into<String>) -> Self {
        Self {
            model_path: model_path.into(),
            system_prompt: system_prompt.into(),
            max_context_tokens: 4096,
            prefix_caching: true,
            cached_conversations: 8,
            slots: 8,
        }
    }
}

/// Per-request generation settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationParams {
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// Greedy or sampled.
    pub sampling: Sampling,
    /// No answer token may complete a run of this many tokens that the user's last message
    /// holds (a read-back instead of an answer); below 2: no such rule.
    pub no_echo_ngram: usize,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            sampling: Sampling::Greedy,
            no_echo_ngram: 0,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model ended its turn (EOS / `<|im_end|>`).
    EndOfTurn,
    /// `max_new_tokens` were generated.
    MaxTokens,
    /// The sink asked to stop.
    Cancelled,
    /// The model's position limit was reached.
    ContextFull,
}

/// What one generation did and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationStats {
    /// Tokens in the prompt (after trimming).
    pub prompt_tokens: usize,
    /// Prompt tokens taken from the prefix cache instead of being computed.
    pub reused_prompt_tokens: usize,
    /// Messages dropped from the start of the history to fit the context.
    pub dropped_messages: usize,
    /// Tokens generated (the end-of-turn token not counted).
    pub generated_tokens: usize,
    /// Time to compute the prompt's uncached part.
    pub prefill: Duration,
    /// From the call to the first generated token.
    pub time_to_first_token: Duration,
    /// Whole call.
    pub total: Duration,
    /// Why it ended.
    pub stop: StopReason,
}

impl GenerationStats {
    /// Decode speed after the first token, tokens per second.
    pub fn decode_tokens_per_second(&self) -> f64 {
        let decode = self.total.saturating_sub(self.time_to_first_token);
        if self.generated_tokens < 2 || decode.is_zero() {
            return 0.0;
        }
        (self.generated_tokens - 1) as f64 / decode.as_secs_f64()
    }
}

/// Receives the answer as it is generated.
pub trait TokenSink {
    /// A piece of text (one token's worth, or a character completed by it). Return
    /// `ControlFlow::Break(())` to stop generating.
    fn on_text(&mut self, text: &str) -> ControlFlow<()>;

    /// Polled before and during prefill and between tokens: `true` stops generation.
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl<F: FnMut(&str) -> ControlFlow<()>> TokenSink for F {
    fn on_text(&mut self, text: &str) -> ControlFlow<()> {
        self(text)
    }
}

/// A loaded model and its slot table. Every method takes `&mut self` or `&self` and returns
/// when its step is done: one owner (the server's engine thread) drives it.
pub struct LlmEngine {
    decoder: Decoder,
    tokenizer: Tokenizer,
    chat: ChatMl,
    config: LlmEngineConfig,
    cache: PrefixCache,
    slots: SlotTable,
    model_name: String,
}

/// How a prompt was set on a slot ([`LlmEngine::start_answer`], [`LlmEngine::start_open_turn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// Tokens in the prompt (after trimming).
    pub prompt_tokens: usize,
    /// Prompt tokens already computed: kept from the slot's own sequence, or taken from the
    /// shared prefix cache.
    pub reused_tokens: usize,
    /// Tokens the slot had computed past the point where the new prompt differs: thrown away
    /// (the cache is cut back to the common prefix).
    pub discarded_tokens: usize,
    /// Messages dropped from the start of the history to fit the context.
    pub dropped_messages: usize,
}

/// What a sequence produced in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// Answer text completed by this token (often one word piece; empty when the token ends
    /// inside a character, or for the end-of-turn token).
    pub text: String,
    /// `Some` when the answer is complete: the slot is idle again.
    pub finished: Option<StopReason>,
}

/// What one [`LlmEngine::prefill`] call achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum PrefillProgress {
    /// This many prompt tokens are still to run.
    Pending {
        /// Tokens left.
        remaining: usize,
    },
    /// The answer's prompt is in; this is its first token. Next: [`LlmEngine::decode_step`].
    Answering(Emitted),
    /// The open turn is in ([`LlmEngine::start_open_turn`]): the model's probability that the
    /// next token ends the user's message. The slot is idle again.
    EndOfTurn(f32),
}

impl std::fmt::Debug for LlmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmEngine")
            .field("model", &self.model_name)
            .field("decoder", &self.decoder)
            .field("tokenizer", &self.tokenizer)
            .finish()
    }
}

impl LlmEngine {
    /// Loads the model and, with prefix caching on, computes the system prompt's cache (which
    /// also warms the model up).
    pub fn load(config: LlmEngineConfig) -> Result<Self, EngineError> {
        let mut gguf = GgufFile::open(&config.model_path)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let chat = ChatMl::new(&tokenizer, gguf.string("tokenizer.chat_template").ok())
            .map_err(|reason| gguf.invalid(reason))?;
        let model_name = gguf
            .string("general.name")
            .unwrap_or("unnamed model")
            .to_string();
        let decoder = Decoder::load(&mut gguf)?;
        if decoder.config().vocab < tokenizer.vocab_size() {
            return Err(gguf.invalid(format!(
                "tokenizer has {} tokens but the embedding table only {}",
                tokenizer.vocab_size(),
                decoder.config().vocab
            )));
        }
        let cache = PrefixCache::new(
            config.cached_conversations,
            config.max_context_tokens * (config.cached_conversations + 1),
        );
        let slots = SlotTable::new(config.slots);
        let mut engine = Self {
            decoder,
            tokenizer,
            chat,
            config,
            cache,
            slots,
            model_name,
        };
        engine.warm_up()?;
        Ok(engine)
    }

    /// Runs the default system prompt once; with prefix caching on, keeps its cache pinned.
    fn warm_up(&mut self) -> Result<(), EngineError> {
        let system = ChatMessage::system(self.config.system_prompt.clone());
        let tokens = self.chat.message(&self.tokenizer, &system)?;
        let mut kv = KvCache::default();
        self.decoder.forward(&tokens, &mut kv)?;
        if self.config.prefix_caching {
            self.cache.insert(tokens, kv, true);
        }
        Ok(())
    }

    /// The model's `general.name`.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The decoder (weights).
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Turns prefix caching on or off (off also forgets every cached prefix).
    pub fn set_prefix_caching(&mut self, enabled: bool) -> Result<(), EngineError> {
        self.config.prefix_caching = enabled;
        self.cache.clear();
        if enabled {
            self.warm_up()?;
        }
        Ok(())
    }

    /// Renders a conversation to prompt tokens exactly as `generate` would.
    pub fn prompt_tokens(
        &self,
        messages: &[ChatMessage],
        max_new_tokens: usize,
    ) -> Result<Vec<TokenId>, EngineError> {
        Ok(self
            .chat
            .prompt(
                &self.tokenizer,
                &self.config.system_prompt,
                messages,
                self.budget(max_new_tokens)?,
            )?
            .tokens)
    }

    fn budget(&self, max_new_tokens: usize) -> Result<usize, EngineError> {
        let context = self
            .config
            .max_context_tokens
            .min(self.decoder.config().max_positions);
        context
            .checked_sub(max_new_tokens)
            .filter(|&b| b > 0)
            .ok_or_else(|| {
                EngineError::InvalidInput(format!(
                    "max_new_tokens {max_new_tokens} leaves no room in a {context}-token context"
                ))
            })
    }

    /// Answers the conversation (its last message is normally the user's), streaming text to
    /// `sink`. The history is trimmed to the context budget first. A thin loop over the step
    /// API on a slot of its own; needs a free slot.
    pub fn generate(
        &mut self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        sink: &mut dyn TokenSink,
    ) -> Result<GenerationStats, EngineError> {
        let started = Instant::now();
        let slot = self
            .open_slot()
            .map_err(|e| EngineError::InvalidInput(e.to_string()))?;
        let outcome = self.generate_on(slot, messages, params, sink, started);
        let sequence = self.release_slot(slot)?;
        if let Ok(stats) = &outcome
            && stats.prefill > Duration::ZERO
        {
            self.remember(sequence);
        }
        outcome
    }

    fn generate_on(
        &mut self,
        slot: SlotId,
        messages: &[ChatMessage],
        params: &GenerationParams,
        sink: &mut dyn TokenSink,
        started: Instant,
    ) -> Result<GenerationStats, EngineError> {
        let begun = self.start_answer(slot, messages, params)?;
        let mut stats = GenerationStats {
            prompt_tokens: begun.prompt_tokens,
            reused_prompt_tokens: begun.reused_tokens,
            dropped_messages: begun.dropped_messages,
            generated_tokens: 0,
            prefill: Duration::ZERO,
            time_to_first_token: Duration::ZERO,
            total: Duration::ZERO,
            stop: StopReason::Cancelled,
        };
        let prefill_started = Instant::now();
        let mut emitted = loop {
            if sink.is_cancelled() {
                stats.total = started.elapsed();
                return Ok(stats);
            }
            match self.prefill(slot)? {
                PrefillProgress::Pending { .. } => {}
                PrefillProgress::Answering(first) => break first,
                PrefillProgress::EndOfTurn(_) => {
                    return Err(EngineError::InvalidInput(
                        "the slot was not started for an answer".into(),
                    ));
                }
            }
        };
        stats.prefill = prefill_started.elapsed().max(Duration::from_nanos(1));
        stats.time_to_first_token = started.elapsed();
        stats.stop = loop {
            let delivered = emitted.text.is_empty() || sink.on_text(&emitted.text).is_continue();
            if let Some(stop) = emitted.finished {
                break stop;
            }
            if !delivered || sink.is_cancelled() {
                self.stop(slot)?;
                break StopReason::Cancelled;
            }
            emitted = self
                .decode_step(&[slot])?
                .pop()
                .ok_or_else(|| EngineError::InvalidInput("decode step returned nothing".into()))?;
        };
        stats.generated_tokens = self.generated_tokens(slot);
        stats.total = started.elapsed();
        Ok(stats)
    }

    // ---- The step API -------------------------------------------------------------------

    /// Slots in the table (the most sequences worked on at once).
    pub fn slot_capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Slots free to open.
    pub fn free_slots(&self) -> usize {
        self.slots.free()
    }

    /// Takes a free slot, empty and idle. Refused when every slot is in use.
    pub fn open_slot(&mut self) -> Result<SlotId, NoFreeSlot> {
        self.slots.open()
    }

    /// Frees the slot at once (whatever it was doing) and hands back what it had computed, to
    /// keep for the conversation's next turn ([`LlmEngine::restore`]), to share
    /// ([`LlmEngine::remember`]) or to drop. The handle is stale from now on.
    pub fn release_slot(&mut self, slot: SlotId) -> Result<CachedSequence, EngineError> {
        Ok(self.slots.release(slot)?.cached)
    }

    /// Puts a sequence computed earlier (released from a slot) back into an idle slot, so the
    /// next prompt resumes from it.
    pub fn restore(&mut self, slot: SlotId, cached: CachedSequence) -> Result<(), EngineError> {
        let sequence = self.slots.get_mut(slot)?;
        if sequence.state() != SlotState::Idle {
            return Err(EngineError::InvalidInput(
                "restore needs an idle slot".into(),
            ));
        }
        sequence.cached = cached;
        Ok(())
    }

    /// Keeps a released sequence in the shared prefix cache (with prefix caching on), so a
    /// later prompt that starts the same way resumes from it.
    pub fn remember(&mut self, cached: CachedSequence) {
        if self.config.prefix_caching && !cached.is_empty() {
            self.cache.insert(cached.tokens, cached.kv, false);
        }
    }

    /// What the slot is doing; `None` for a stale handle.
    pub fn slot_state(&self, slot: SlotId) -> Option<SlotState> {
        self.slots.get(slot).map(Sequence::state)
    }

    /// Tokens the slot's current (or last) answer has generated.
    pub fn generated_tokens(&self, slot: SlotId) -> usize {
        self.slots.get(slot).map_or(0, |s| s.generated)
    }

    /// Positions the slot has computed.
    pub fn computed_tokens(&self, slot: SlotId) -> usize {
        self.slots.get(slot).map_or(0, |s| s.cached.len())
    }

    /// Live slots that are answering: the batch for the next [`LlmEngine::decode_step`].
    pub fn decoding_slots(&self) -> Vec<SlotId> {
        self.slots_in(SlotState::Decoding)
    }

    /// Live slots with prompt tokens waiting for [`LlmEngine::prefill`].
    pub fn prefilling_slots(&self) -> Vec<SlotId> {
        self.slots_in(SlotState::Prefilling)
    }

    fn slots_in(&self, state: SlotState) -> Vec<SlotId> {
        self.slots
            .live()
            .filter(|(_, s)| s.state() == state)
            .map(|(id, _)| id)
            .collect()
    }

    /// Sets the slot to answer `messages`: renders the prompt (trimmed to the context), keeps
    /// the longest prefix it shares with what the slot holds (or with the shared prefix
    /// cache), cuts the slot's cache back to it, and queues the rest for [`LlmEngine::prefill`].
    /// Whatever the slot was doing is dropped.
    pub fn start_answer(
        &mut self,
        slot: SlotId,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> Result<Started, EngineError> {
        let prompt = self.chat.prompt(
            &self.tokenizer,
            &self.config.system_prompt,
            messages,
            self.budget(params.max_new_tokens)?,
        )?;
        let user = messages.iter().rev().find(|m| m.role == Role::User);
        let echo_guard =
            user.and_then(|m| EchoGuard::new(&self.tokenizer, &m.content, params.no_echo_ngram));
        let goal = Goal::Answer(Box::new(Answer {
            sampler: Sampler::new(params.sampling),
            text: TextStream::default(),
            generated: 0,
            max_new_tokens: params.max_new_tokens,
            echo_guard,
        }));
        let mut started = self.start_tokens(slot, prompt.tokens, goal)?;
        started.dropped_messages = prompt.dropped_messages;
        Ok(started)
    }

    /// Sets the slot to compute a user's turn still in progress: the conversation with the
    /// last (user) message left open, as [`LlmEngine::prefill`] will report the probability
    /// that the turn ends there. Reuses and cuts back the slot's cache like
    /// [`LlmEngine::start_answer`], so that a later answer to the finished turn only runs the
    /// last few tokens. `max_new_tokens` is the answer's, for the same history trimming.
    pub fn start_open_turn(
        &mut self,
        slot: SlotId,
        messages: &[ChatMessage],
        max_new_tokens: usize,
    ) -> Result<Started, EngineError> {
        let prompt = self.chat.open_turn_prompt(
            &self.tokenizer,
            &self.config.system_prompt,
            messages,
            self.budget(max_new_tokens)?,
        )?;
        let mut started = self.start_tokens(slot, prompt.tokens, Goal::EndOfTurn)?;
        started.dropped_messages = prompt.dropped_messages;
        Ok(started)
    }

    fn start_tokens(
        &mut self,
        slot: SlotId,
        target: Vec<TokenId>,
        goal: Goal,
    ) -> Result<Started, EngineError> {
        if target.is_empty() {
            return Err(EngineError::InvalidInput("empty prompt".into()));
        }
        if target.len() > self.decoder.config().max_positions {
            return Err(EngineError::InvalidInput(format!(
                "{} prompt tokens exceed the model's {} positions",
                target.len(),
                self.decoder.config().max_positions
            )));
        }
        if let Some(&bad) = target
            .iter()
            .find(|&&t| t as usize >= self.decoder.config().vocab)
        {
            return Err(EngineError::InvalidInput(format!(
                "token id {bad} out of range"
            )));
        }
        let sequence = self.slots.get_mut(slot)?;
        let held = sequence.cached.len();
        // At least one prompt token runs: its logits start the answer.
        let own = common_prefix(&sequence.cached.tokens, &target).min(target.len() - 1);
        let shared = match self.config.prefix_caching {
            true => self.cache.lookup_longer_than(&target, own),
            false => None,
        };
        let reused = match shared {
            Some((shared, kv)) => {
                sequence.cached = CachedSequence {
                    tokens: target[..shared].to_vec(),
                    kv,
                };
                shared
            }
            None => {
                if own < held {
                    sequence.cached = CachedSequence {
                        kv: sequence.cached.kv.truncated(own),
                        tokens: sequence.cached.tokens[..own].to_vec(),
                    };
                }
                own
            }
        };
        sequence.generated = 0;
        sequence.work = Work::Prefill {
            pending: target[reused..].to_vec(),
            done: 0,
            goal,
        };
        Ok(Started {
            prompt_tokens: target.len(),
            reused_tokens: reused,
            discarded_tokens: held - own.min(held),
            dropped_messages: 0,
        })
    }

    /// Runs the next chunk (at most [`PREFILL_CHUNK_TOKENS`]) of the slot's prompt. When the
    /// prompt is complete it says so: an answer's first token, or the end-of-turn probability
    /// of an open turn. On error the slot is left as it was.
    pub fn prefill(&mut self, slot: SlotId) -> Result<PrefillProgress, EngineError> {
        let sequence = self.slots.get_mut(slot)?;
        let Work::Prefill { pending, done, .. } = &mut sequence.work else {
            return Err(EngineError::InvalidInput(
                "the slot has no prompt to prefill".into(),
            ));
        };
        let end = (*done + PREFILL_CHUNK_TOKENS).min(pending.len());
        let chunk = &pending[*done..end];
        let logits = self.decoder.forward(chunk, &mut sequence.cached.kv)?;
        sequence.cached.tokens.extend_from_slice(chunk);
        *done = end;
        if end < pending.len() {
            return Ok(PrefillProgress::Pending {
                remaining: pending.len() - end,
            });
        }
        let Work::Prefill { goal, .. } = std::mem::replace(&mut sequence.work, Work::Idle) else {
            unreachable!("matched above");
        };
        let values: Vec<f32> = logits.to_vec1().map_err(candle_error)?;
        Ok(match goal {
            Goal::Answer(answer) => PrefillProgress::Answering(take_token(
                &self.tokenizer,
                self.decoder.config().max_positions,
                sequence,
                answer,
                &values,
            )),
            Goal::EndOfTurn => {
                PrefillProgress::EndOfTurn(probability(&values, self.chat.end_of_message()))
            }
        })
    }

    /// Advances every slot in `slots` (all answering, each at most once) by one token, in one
    /// batched forward pass. Returns what each produced, in the same order. A finished
    /// sequence is idle afterwards and leaves the batch. On error no slot changes.
    pub fn decode_step(&mut self, slots: &[SlotId]) -> Result<Vec<Emitted>, EngineError> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        let max_positions = self.decoder.config().max_positions;
        let mut sequences = self.slots.get_many_mut(slots)?;
        let mut tokens = Vec::with_capacity(slots.len());
        for sequence in &sequences {
            match &sequence.work {
                Work::Decode { next, .. } => tokens.push(*next),
                _ => {
                    return Err(EngineError::InvalidInput(
                        "decode_step needs answering slots".into(),
                    ));
                }
            }
        }
        let logits = {
            let mut caches: Vec<&mut KvCache> =
                sequences.iter_mut().map(|s| &mut s.cached.kv).collect();
            self.decoder.forward_batch(&tokens, &mut caches)?
        };
        let rows: Vec<Vec<f32>> = logits.to_vec2().map_err(candle_error)?;
        let mut emitted = Vec::with_capacity(slots.len());
        for ((sequence, token), values) in sequences.iter_mut().zip(tokens).zip(rows) {
            sequence.cached.tokens.push(token);
            let Work::Decode { answer, .. } = std::mem::replace(&mut sequence.work, Work::Idle)
            else {
                unreachable!("checked above");
            };
            emitted.push(take_token(
                &self.tokenizer,
                max_positions,
                sequence,
                answer,
                &values,
            ));
        }
        Ok(emitted)
    }

    /// Stops the slot's work at once (barge-in): it is idle, keeping what it has computed.
    pub fn stop(&mut self, slot: SlotId) -> Result<(), EngineError> {
        self.slots.get_mut(slot)?.work = Work::Idle;
        Ok(())
    }
}

/// Picks the answer's next token from `logits` and moves the sequence on: decoding (the token
/// is fed at the next step) or idle when the answer is complete.
fn take_token(
    tokenizer: &Tokenizer,
    max_positions: usize,
    sequence: &mut Sequence,
    mut answer: Box<Answer>,
    logits: &[f32],
) -> Emitted {
    let token = match &answer.echo_guard {
        Some(guard) => {
            let mut logits = logits.to_vec();
            guard.mask(&mut logits);
            answer.sampler.pick(&logits)
        }
        None => answer.sampler.pick(logits),
    };
    if let Some(guard) = &mut answer.echo_guard {
        guard.push(token);
    }
    let finish = |sequence: &mut Sequence, answer: &mut Answer, mut text: String, stop| {
        text.push_str(&answer.text.finish());
        sequence.generated = answer.generated;
        sequence.work = Work::Idle;
        Emitted {
            text,
            finished: Some(stop),
        }
    };
    if tokenizer.is_end_of_turn(token) {
        return finish(sequence, &mut answer, String::new(), StopReason::EndOfTurn);
    }
    answer.generated += 1;
    let text = answer.text.push(tokenizer.bytes_of(token));
    if answer.generated >= answer.max_new_tokens {
        return finish(sequence, &mut answer, text, StopReason::MaxTokens);
    }
    if sequence.cached.len() + 1 > max_positions {
        return finish(sequence, &mut answer, text, StopReason::ContextFull);
    }
    sequence.generated = answer.generated;
    sequence.work = Work::Decode {
        next: token,
        answer,
    };
    Emitted {
        text,
        finished: None,
    }
}

/// Softmax probability of `token` under `logits` (temperature 1).
fn probability(logits: &[f32], token: TokenId) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    match logits.get(token as usize) {
        Some(&l) if total > 0.0 => (f64::from(l - max).exp() / total) as f32,
        _ => 0.0,
    }
}
