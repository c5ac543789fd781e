//! The LLM service the sessions share: one owner of the model, a visible queue, health that
//! `/readyz` reads, and automatic recovery.
//!
//! Two backends behind one API. **Local**: the GGUF engine (`goassist_engines::llm`) lives on
//! a dedicated thread that takes requests from a queue one at a time (CPU inference cannot
//! usefully run two at once); a panic or load failure marks the service unavailable and the
//! thread reloads the model with backoff. **Remote**: a streaming OpenAI-compatible client
//! (`/v1/chat/completions`, SSE) with at most `max_batch_size` requests in flight (the server
//! batches them) and a health probe that reconnects with backoff.
//!
//! A request's events arrive on a channel: `Token`s, then `Done` or `Error`. Cancelling the
//! token (barge-in) or dropping the receiver stops generation at the next token; the channel
//! then closes, possibly without `Done`.

mod local;
mod remote;
mod settings;
pub mod sse;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use goassist_engines::llm::{ChatMessage, Role};
pub use settings::{
    Backoff, DEFAULT_SYSTEM_PROMPT, LlmBackend, LlmSettings, RemoteSettings, Secret,
};

/// Events buffered per request before the producer waits for the consumer.
const EVENT_BUFFER: usize = 256;

/// A conversation to answer; the last message is normally the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    /// The history, oldest first. Without a leading system message the configured system
    /// prompt is used.
    pub messages: Vec<ChatMessage>,
}

/// Timing and size of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmStats {
    /// Prompt tokens (0 when a remote server does not report usage).
    pub prompt_tokens: usize,
    /// Prompt tokens served from the prefix cache (local backend).
    pub reused_prompt_tokens: usize,
    /// Answer tokens.
    pub generated_tokens: usize,
    /// From `generate` to the start of work on it.
    pub queue_wait: Duration,
    /// From `generate` to the first answer token (queue wait included).
    pub time_to_first_token: Duration,
    /// From `generate` to the end.
    pub total: Duration,
}

/// What a request's channel carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmEvent {
    /// The next piece of answer text.
    Token(String),
    /// The answer is complete.
    Done(LlmStats),
    /// No (further) answer: the reason.
    Error(String),
}

/// Whether the service can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmHealth {
    /// Starting: the model is loading (requests wait in the queue).
    Loading,
    /// Answering.
    Ready,
    /// Not answering; recovery is under way.
    Unavailable {
        /// Why (load error, crash, unreachable server).
        reason: String,
    },
}

impl LlmHealth {
    /// Whether requests are answered now.
    pub fn is_ready(&self) -> bool {
        *self == LlmHealth::Ready
    }
}

/// State both backends report into.
struct Shared {
    health: watch::Sender<LlmHealth>,
    restarts: AtomicU64,
    queue_depth: AtomicUsize,
}

impl Shared {
    fn set_health(&self, health: LlmHealth) {
        self.health.send_if_modified(|current| {
            if *current == health {
                false
            } else {
                match &health {
                    LlmHealth::Unavailable { reason } => {
                        tracing::warn!(%reason, "LLM unavailable")
                    }
                    other => tracing::info!(health = ?other, "LLM health"),
                }
                *current = health;
                true
            }
        });
    }
}

enum Backend {
    Local(local::LocalBackend),
    Remote(remote::RemoteBackend),
}

/// The shared LLM. Create once with [`LlmService::start`], share the `Arc`.
pub struct LlmService {
    backend: Backend,
    shared: Arc<Shared>,
    settings: LlmSettings,
    requests: AtomicU64,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for LlmService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmService")
            .field("settings", &self.settings)
            .field("health", &self.health())
            .finish()
    }
}

impl LlmService {
    /// Starts the backend: the local engine thread begins loading the model, or the remote
    /// health probe starts. Must be called inside a tokio runtime (the remote backend spawns
    /// tasks). Returns at once; watch [`LlmService::health`].
    pub fn start(settings: LlmSettings) -> Arc<Self> {
        let (health, _) = watch::channel(LlmHealth::Loading);
        let shared = Arc::new(Shared {
            health,
            restarts: AtomicU64::new(0),
            queue_depth: AtomicUsize::new(0),
        });
        let shutdown = CancellationToken::new();
        let backend = match &settings.backend {
            LlmBackend::Local => {
                Backend::Local(local::LocalBackend::start(&settings, shared.clone()))
            }
            LlmBackend::Remote(remote) => Backend::Remote(remote::RemoteBackend::start(
                &settings,
                remote.clone(),
                shared.clone(),
                shutdown.clone(),
            )),
        };
        Arc::new(Self {
            backend,
            shared,
            settings,
            requests: AtomicU64::new(0),
            shutdown,
        })
    }

    /// Current health.
    pub fn health(&self) -> LlmHealth {
        self.shared.health.borrow().clone()
    }

    /// Health changes as they happen.
    pub fn subscribe_health(&self) -> watch::Receiver<LlmHealth> {
        self.shared.health.subscribe()
    }

    /// Requests waiting for the engine (local) or for a free slot on the server (remote).
    pub fn queue_depth(&self) -> usize {
        self.shared.queue_depth.load(Ordering::Relaxed)
    }

    /// Times the engine was reloaded after a failure, or the remote server reconnected.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// Queues a request. Events arrive on the returned channel; `cancel` stops it.
    pub fn generate(
        &self,
        request: ChatRequest,
        cancel: CancellationToken,
    ) -> mpsc::Receiver<LlmEvent> {
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        if let LlmHealth::Unavailable { reason } = self.health() {
            let _ = events.try_send(LlmEvent::Error(format!("LLM unavailable: {reason}")));
            return receiver;
        }
        let seed = self
            .settings
            .seed
            .wrapping_add(self.requests.fetch_add(1, Ordering::Relaxed));
        let job = Job {
            request,
            cancel,
            events,
            submitted: std::time::Instant::now(),
            seed,
        };
        match &self.backend {
            Backend::Local(local) => local.submit(job),
            Backend::Remote(remote) => remote.submit(job),
        }
        receiver
    }

    /// Makes the local engine thread panic, to exercise crash recovery. Not for production.
    #[doc(hidden)]
    pub fn crash_engine_for_test(&self) {
        if let Backend::Local(local) = &self.backend {
            local.crash();
        }
    }
}

impl Drop for LlmService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One queued request.
struct Job {
    request: ChatRequest,
    cancel: CancellationToken,
    events: mpsc::Sender<LlmEvent>,
    submitted: std::time::Instant,
    seed: u64,
}

impl Job {
    /// Nobody wants the answer any more.
    fn abandoned(&self) -> bool {
        self.cancel.is_cancelled() || self.events.is_closed()
    }
}

/// The messages to send: the request's, with the configured system prompt in front when the
/// request has none.
fn with_system_prompt(messages: &[ChatMessage], system_prompt: &str) -> Vec<ChatMessage> {
    match messages.first() {
        Some(first) if first.role == Role::System => messages.to_vec(),
        _ if system_prompt.is_empty() => messages.to_vec(),
        _ => std::iter::once(ChatMessage::system(system_prompt))
            .chain(messages.iter().cloned())
            .collect(),
    }
}
