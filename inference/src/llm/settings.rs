//! What the LLM service is configured with (the server maps `LLM_*` variables into this).

use std::path::PathBuf;
use std::time::Duration;

pub use crate::config::{DEFAULT_SYSTEM_PROMPT, Secret};

/// An OpenAI-compatible server (vLLM, llama.cpp server, Ollama).
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// Base URL without the `/v1/...` path, e.g. `http://vllm:8000`.
    pub base_url: String,
    /// Bearer token, if the server wants one.
    pub api_key: Option<Secret>,
    /// The `model` field of requests.
    pub model: String,
    /// Limit for connecting and for each wait on the server (first byte, next chunk, probe).
    pub timeout: Duration,
}

/// Where answers come from.
#[derive(Debug, Clone)]
pub enum BackendKind {
    /// The embedded GGUF model, on an engine thread of this process.
    Local,
    /// A remote OpenAI-compatible server.
    Remote(RemoteSettings),
}

/// Restart/reconnect pacing: `initial`, doubling on each failure, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Cap.
    pub max: Duration,
}

impl Backoff {
    /// The delay after `failures` consecutive failures (0 → `initial`).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// Settings of the LLM service.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// GGUF model for the local backend (LLM_MODEL_PATH).
    pub model_path: PathBuf,
    /// Local or remote.
    pub backend: BackendKind,
    /// Prompt + answer budget in tokens (LLM_MAX_CONTEXT_TOKENS); oldest turns are dropped.
    pub max_context_tokens: usize,
    /// Reuse KV caches of shared prefixes (LLM_PREFIX_CACHING; local backend; a remote server
    /// does its own).
    pub prefix_caching: bool,
    /// LLM_MAX_BATCH_SIZE: requests answered at once. Local: the engine's slots, all decoded
    /// together in one forward pass per step (the rest wait in the queue); also how many
    /// finished conversations the shared prefix cache keeps. Remote: requests in flight at
    /// once (the server batches them).
    pub max_batch_size: usize,
    /// LLM_MAX_QUEUE: requests that may wait for a slot; one more is refused at once with
    /// [`LlmError::Busy`](super::LlmError::Busy).
    pub max_queue: usize,
    /// Used when a request brings no system message.
    pub system_prompt: String,
    /// Longest answer in tokens.
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// The local engine's echo guard: no answer token completes this many tokens in a row of
    /// the user's last message (`LLM_NO_ECHO_NGRAM`; below 2: off).
    pub no_echo_ngram: usize,
    /// Base seed for sampling (each request uses the next one).
    pub seed: u64,
    /// Pacing of engine restarts and remote reconnection probes.
    pub restart_backoff: Backoff,
    /// How often a healthy remote server is probed.
    pub health_probe_interval: Duration,
    /// Nice increment of the local engine's thread (and the compute threads it starts) below the
    /// audio path (`ENGINE_THREAD_NICE`; 0 = the same priority).
    pub engine_thread_nice: i32,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            model_path: PathBuf::from("models/llm/qwen2.5-0.5b-instruct-q8.gguf"),
            backend: BackendKind::Local,
            max_context_tokens: 8192,
            prefix_caching: true,
            max_batch_size: 8,
            max_queue: 5,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_string(),
            max_new_tokens: 160,
            temperature: 0.0,
            no_echo_ngram: goassist_engines::llm::DEFAULT_NO_ECHO_NGRAM,
            seed: 0x5eed,
            restart_backoff: Backoff::default(),
            health_probe_interval: Duration::from_secs(5),
            engine_thread_nice: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_never_print() {
        let settings = LlmSettings {
            backend: BackendKind::Remote(RemoteSettings {
                base_url: "http://x".into(),
                api_key: Some(Secret::new("sk-very-secret")),
                model: "m".into(),
                timeout: Duration::from_secs(1),
            }),
            ..Default::default()
        };
        let shown = format!("{settings:?} {settings:#?}");
        assert!(!shown.contains("sk-very-secret"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(b.delay(0), Duration::from_millis(100));
        assert_eq!(b.delay(2), Duration::from_millis(400));
        assert_eq!(b.delay(10), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }
}
