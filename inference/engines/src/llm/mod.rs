//! The local LLM engine: GGUF decoders (Qwen2, Llama/SmolLM2) on candle, the tokenizer built
//! from GGUF metadata, the ChatML template, prefix caching, a slot table of sequences stepped
//! from outside (chunked prefill, batched decode), and the Q8_0 re-quantization candle's CPU
//! kernels want.
//!
//! Pure compute: no threads, no async. The server's `llm` service owns an [`LlmEngine`] on a
//! thread of its own and drives its steps.

mod chat;
mod engine;
mod gguf;
mod model;
mod prefix_cache;
mod requantize;
mod sampling;
mod slots;
mod tokenizer;

pub use chat::{ChatMessage, Role};
pub use engine::{
    Emitted, GenerationParams, GenerationStats, LlmEngine, LlmEngineConfig, PREFILL_CHUNK_TOKENS,
    PrefillProgress, Started, StopReason, TokenSink,
};
pub use model::{Architecture, Decoder, KvCache, ModelConfig};
pub use requantize::{RequantizeReport, requantize_gguf};
pub use sampling::Sampling;
pub use slots::{CachedSequence, NoFreeSlot, SlotId, SlotState};
pub use tokenizer::{TextStream, TokenId, Tokenizer};
