//! The local LLM engine: GGUF decoders (Qwen2, Llama/SmolLM2) on candle, the tokenizer built
//! from GGUF metadata, the ChatML template, prefix caching, a slot table of sequences stepped
//! from outside (chunked prefill, batched decode), our own Q8_0 matrix kernel, and the Q8_0
//! re-quantization for the formats that have no fast CPU kernel.
//!
//! Pure compute: no threads, no async. The server's `llm` service owns an [`LlmEngine`] on a
//! thread of its own and drives its steps.

mod chat;
mod echo_guard;
mod engine;
mod gguf;
mod model;
mod prefix_cache;
mod q8_matmul;
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

/// The echo guard's copy length a voice session gets by default (`LLM_NO_ECHO_NGRAM`): no four
/// tokens in a row of the user's last message are read back (see `echo_guard.rs`).
pub const DEFAULT_NO_ECHO_NGRAM: usize = 4;

/// The system prompt a voice session gets by default (`LLM_SYSTEM_PROMPT`). The user's words
/// come from a recognizer (no punctuation, often a statement rather than a question), and small
/// models tend to read such a turn back; the prompt says what to do instead, and was chosen on
/// the recorded question set of the `answer_eval` example (docs/benchmarks/llm.md).
pub const DEFAULT_VOICE_PROMPT: &str = "You are GoAssist, a friendly voice assistant in a spoken conversation. \
The user's words come from speech recognition, without punctuation. \
Reply in one or two short sentences of your own: answer a question, or respond to a statement \
with a brief comment and a follow-up question. Never repeat the user's words back to them. \
Do not use lists, markdown or emoji.\n\n\
Examples of good replies:\n\
User: the weather was lovely in the park today\n\
GoAssist: That sounds wonderful! Did you get to stay out long?\n\
User: she had never seen the sea before\n\
GoAssist: Her first sight of the sea must have been unforgettable. Where did she see it?\n\
User: what is the capital of france\n\
GoAssist: The capital of France is Paris.";
