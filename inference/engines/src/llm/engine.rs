//! The local LLM: a GGUF model, its tokenizer and chat template, prefix caching, and a
//! token-streaming generate loop that the caller can stop at any token (barge-in).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::chat::{ChatMessage, ChatMl};
use super::gguf::GgufFile;
use super::model::{Decoder, KvCache, candle_error};
use super::prefix_cache::PrefixCache;
use super::sampling::{Sampler, Sampling};
use super::tokenizer::{TextStream, TokenId, Tokenizer};
use crate::EngineError;

/// Prompt tokens run per forward pass during prefill; cancellation is checked between passes.
const PREFILL_STEP: usize = 128;

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
}

impl LlmEngineConfig {
    /// Defaults for a model file: prefix caching on, 4096-token context, 8 cached conversations.
    pub fn new(model_path: impl Into<PathBuf>, system_prompt: impl Into<String>) -> Self {
        Self {
            model_path: model_path.into(),
            system_prompt: system_prompt.into(),
            max_context_tokens: 4096,
            prefix_caching: true,
            cached_conversations: 8,
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
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            sampling: Sampling::Greedy,
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

/// A loaded model. `generate` needs `&mut self` (it updates the prefix cache), so one engine
/// serves one request at a time; the server shares it through a queue on an owner thread.
pub struct LlmEngine {
    decoder: Decoder,
    tokenizer: Tokenizer,
    chat: ChatMl,
    config: LlmEngineConfig,
    cache: PrefixCache,
    model_name: String,
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
        let mut engine = Self {
            decoder,
            tokenizer,
            chat,
            config,
            cache,
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
    /// `sink`. The history is trimmed to the context budget first.
    pub fn generate(
        &mut self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        sink: &mut dyn TokenSink,
    ) -> Result<GenerationStats, EngineError> {
        let started = Instant::now();
        let prompt = self.chat.prompt(
            &self.tokenizer,
            &self.config.system_prompt,
            messages,
            self.budget(params.max_new_tokens)?,
        )?;
        let mut stats = GenerationStats {
            prompt_tokens: prompt.tokens.len(),
            reused_prompt_tokens: 0,
            dropped_messages: prompt.dropped_messages,
            generated_tokens: 0,
            prefill: Duration::ZERO,
            time_to_first_token: Duration::ZERO,
            total: Duration::ZERO,
            stop: StopReason::Cancelled,
        };

        let (reused, mut kv) = match self.config.prefix_caching {
            true => self.cache.lookup(&prompt.tokens)?.unwrap_or_default(),
            false => (0, KvCache::default()),
        };
        stats.reused_prompt_tokens = reused;

        let prefill_started = Instant::now();
        let mut logits = None;
        for chunk in prompt.tokens[reused..].chunks(PREFILL_STEP) {
            if sink.is_cancelled() {
                stats.total = started.elapsed();
                return Ok(stats);
            }
            logits = Some(self.decoder.forward(chunk, &mut kv)?);
        }
        stats.prefill = prefill_started.elapsed();
        let Some(mut logits) = logits else {
            return Err(EngineError::InvalidInput("empty prompt".into()));
        };

        let mut sampler = Sampler::new(params.sampling);
        let mut text = TextStream::default();
        let mut fed: Vec<TokenId> = prompt.tokens;
        let stop = loop {
            let values: Vec<f32> = logits.to_vec1().map_err(candle_error)?;
            let token = sampler.pick(&values);
            if stats.generated_tokens == 0 {
                stats.time_to_first_token = started.elapsed();
            }
            if self.tokenizer.is_end_of_turn(token) {
                break StopReason::EndOfTurn;
            }
            stats.generated_tokens += 1;
            let piece = text.push(self.tokenizer.bytes_of(token));
            if !piece.is_empty() && sink.on_text(&piece).is_break() {
                break StopReason::Cancelled;
            }
            if stats.generated_tokens >= params.max_new_tokens {
                break StopReason::MaxTokens;
            }
            if kv.len() + 1 > self.decoder.config().max_positions {
                break StopReason::ContextFull;
            }
            if sink.is_cancelled() {
                break StopReason::Cancelled;
            }
            logits = self.decoder.forward(&[token], &mut kv)?;
            fed.push(token);
        };
        let rest = text.finish();
        if stop != StopReason::Cancelled && !rest.is_empty() {
            let _ = sink.on_text(&rest);
        }
        if self.config.prefix_caching {
            self.cache.insert(fed, kv, false);
        }
        stats.stop = stop;
        stats.total = started.elapsed();
        Ok(stats)
    }
}
