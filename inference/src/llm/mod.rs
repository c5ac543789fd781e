//! The LLM service the sessions share: one owner of the model, admission with a bounded
//! waiting queue, health that `/readyz` reads, and automatic recovery.
//!
//! Two backends behind one trait ([`backend::LlmBackend`]). **Local** (`local.rs`): the GGUF
//! engine lives on a dedicated thread that steps every active sequence together, one batched
//! decode step at a time, with newcomers' prompts run a chunk at a time in between; a panic
//! or load failure marks the service unavailable and the thread reloads the model with
//! backoff. **Remote** (`remote.rs`): a streaming OpenAI-compatible client
//! (`/v1/chat/completions`, SSE) with at most `max_batch_size` requests in flight (the server
//! batches them) and a health probe that reconnects with backoff.
//!
//! The API a session uses:
//! - [`LlmService::generate`]`(request, cancel)` answers one request. Events arrive on the
//!   returned channel: `Token`s, then `Done` or `Error`. Cancelling the token (barge-in) or
//!   dropping the receiver stops generation at the next step; the channel then closes,
//!   possibly without `Done`. Over the waiting-queue cap (LLM_MAX_QUEUE) the first event is
//!   at once `Error(LlmError::Busy)`.
//! - [`LlmService::open_session`] gives a conversation a handle ([`LlmSession`]) whose computed
//!   prompt is kept between turns, so each turn only computes what is new; its `prefill` works
//!   on the user's turn while they are still speaking (and says how likely the turn is over),
//!   and its `generate` answers reusing all of that.

mod backend;
mod local;
mod metrics;
mod remote;
mod settings;
pub mod sse;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use backend::{AnswerJob, LlmBackend, OpenTurnJob, SessionKey};
pub use goassist_engines::llm::{ChatMessage, Role};
pub use metrics::LlmMetrics;
pub use settings::{
    BackendKind, Backoff, DEFAULT_SYSTEM_PROMPT, LlmSettings, RemoteSettings, Secret,
};

/// Events buffered per request at least (a local answer's channel holds all of it).
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
    /// No (further) answer: why.
    Error(LlmError),
}

/// Why a request gets no (further) answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// Every slot is busy and LLM_MAX_QUEUE requests already wait: refused at once, nothing
    /// was started. Worth a short "one moment" and a retry.
    #[error("LLM busy: {waiting} requests already waiting")]
    Busy {
        /// Requests waiting when this one was refused.
        waiting: usize,
    },
    /// The backend is down (crashed, failed to load, server unreachable); recovery is under way.
    #[error("LLM unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
    /// This request failed (the server refused it, the stream broke...).
    #[error("{0}")]
    Failed(String),
}

impl LlmError {
    /// What the user's client is told. The `Display` text is for the log: it names the server,
    /// the transport's failure and up to 200 characters of what the server answered, none of
    /// which is the client's business.
    pub fn for_client(&self) -> &'static str {
        match self {
            LlmError::Busy { .. } => "the assistant is busy; ask again in a moment",
            LlmError::Unavailable { .. } => "the assistant cannot answer right now",
            LlmError::Failed(_) => "the answer could not be completed",
        }
    }
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

/// State the backends report into and the service reads.
struct Shared {
    health: watch::Sender<LlmHealth>,
    restarts: AtomicU64,
    /// Requests admitted and not finished.
    in_flight: AtomicUsize,
    /// Of those, the ones without a slot (or connection) yet.
    waiting: AtomicUsize,
    metrics: LlmMetrics,
}

impl Shared {
    fn new(metrics: LlmMetrics) -> Self {
        let (health, _) = watch::channel(LlmHealth::Loading);
        metrics.requests.set(0);
        metrics.waiting.set(0);
        metrics.slots_active.set(0);
        Self {
            health,
            restarts: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            metrics,
        }
    }

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

    /// Counts one more request in flight unless `limit` already are.
    fn try_start_in_flight(&self, limit: usize) -> bool {
        let admitted = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            self.metrics.requests.inc();
        }
        admitted
    }

    fn finish_in_flight(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.metrics.requests.dec();
    }

    fn add_waiting(&self, delta: i64) {
        if delta >= 0 {
            self.waiting.fetch_add(delta as usize, Ordering::SeqCst);
        } else {
            self.waiting
                .fetch_sub(delta.unsigned_abs() as usize, Ordering::SeqCst);
        }
        self.metrics.waiting.add(delta);
    }

    fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// The shared LLM. Create once with [`LlmService::start`], share the `Arc`.
pub struct LlmService {
    backend: Box<dyn LlmBackend>,
    shared: Arc<Shared>,
    settings: LlmSettings,
    requests: AtomicU64,
    sessions: AtomicU64,
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
    /// Starts the backend with metrics registered nowhere; see
    /// [`LlmService::start_with_metrics`].
    pub fn start(settings: LlmSettings) -> Arc<Self> {
        Self::start_with_metrics(settings, LlmMetrics::unregistered())
    }

    /// Starts the backend: the local engine thread begins loading the model, or the remote
    /// health probe starts. Must be called inside a tokio runtime (the remote backend spawns
    /// tasks). Returns at once; watch [`LlmService::health`].
    pub fn start_with_metrics(settings: LlmSettings, metrics: LlmMetrics) -> Arc<Self> {
        let shared = Arc::new(Shared::new(metrics));
        let shutdown = CancellationToken::new();
        let backend: Box<dyn LlmBackend> = match &settings.backend {
            BackendKind::Local => Box::new(local::LocalBackend::start(&settings, shared.clone())),
            BackendKind::Remote(remote) => Box::new(remote::RemoteBackend::start(
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
            sessions: AtomicU64::new(0),
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

    /// Requests waiting for a slot on the engine (local) or on the server (remote).
    pub fn queue_depth(&self) -> usize {
        self.shared.waiting()
    }

    /// Requests admitted and not finished (waiting or being answered).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// True when the next request would be refused as busy: every slot answers and
    /// `LLM_MAX_QUEUE` requests wait. `/readyz` reports it so a router sends new sessions
    /// elsewhere.
    pub fn is_saturated(&self) -> bool {
        self.in_flight() >= self.admission_limit()
    }

    /// Requests admitted at once: the slots plus the queue.
    fn admission_limit(&self) -> usize {
        self.settings.max_batch_size.max(1) + self.settings.max_queue
    }

    /// Times the engine was reloaded after a failure, or the remote server reconnected.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// Answers a request (no conversation state kept for it beyond the shared prefix cache).
    /// Events arrive on the returned channel; `cancel` stops it.
    pub fn generate(
        &self,
        request: ChatRequest,
        cancel: CancellationToken,
    ) -> mpsc::Receiver<LlmEvent> {
        self.submit(request, None, cancel)
    }

    /// A handle for one conversation (one voice session): its computed prompt stays cached
    /// between turns while the handle lives.
    pub fn open_session(self: &Arc<Self>) -> LlmSession {
        LlmSession {
            service: self.clone(),
            key: SessionKey(self.sessions.fetch_add(1, Ordering::Relaxed)),
        }
    }

    fn submit(
        &self,
        request: ChatRequest,
        session: Option<SessionKey>,
        cancel: CancellationToken,
    ) -> mpsc::Receiver<LlmEvent> {
        let (events, receiver) = mpsc::channel(EVENT_BUFFER.max(self.settings.max_new_tokens + 2));
        if let LlmHealth::Unavailable { reason } = self.health() {
            let _ = events.try_send(LlmEvent::Error(LlmError::Unavailable { reason }));
            return receiver;
        }
        let seed = self
            .settings
            .seed
            .wrapping_add(self.requests.fetch_add(1, Ordering::Relaxed));
        match AnswerJob::admit(
            &self.shared,
            self.admission_limit(),
            request,
            session,
            cancel,
            events.clone(),
            seed,
        ) {
            Ok(job) => self.backend.generate(job),
            Err(refused) => {
                tracing::warn!(error = %refused, "LLM request refused");
                let _ = events.try_send(LlmEvent::Error(refused));
            }
        }
        receiver
    }

    /// An operator's restart (`POST /admin/llm/restart`): the local engine reloads its model
    /// at once; answers in flight end with an explicit error, readiness shows the LLM loading
    /// until it is back, and the restart is counted like a crash's (`restarts`). A remote LLM
    /// has nothing to restart here: the error says so.
    pub fn restart(&self) -> Result<(), String> {
        self.backend.restart()
    }

    /// Fault injection for the recovery drills (`POST /admin/faults/llm-crash`, only with
    /// `ADMIN_FAULT_DRILLS`) and tests: the local engine thread panics for real at its next
    /// step, so everything a crash does follows (answers in flight end with
    /// [`LlmError::Unavailable`], health turns `Unavailable`, the engine reloads after the
    /// backoff, `restarts` counts it). Refused when the engine is not answering now (a crash
    /// would wait for the load to finish) and with a remote LLM (stop that server instead).
    pub fn inject_crash(&self) -> Result<(), String> {
        if let BackendKind::Remote(_) = self.settings.backend {
            return Err(
                "the LLM is a remote server (LLM_BASE_URL): stop that server to drill its failure"
                    .into(),
            );
        }
        match self.health() {
            LlmHealth::Ready => self.backend.inject_crash(),
            other => Err(format!("the LLM engine is not running now ({other:?})")),
        }
    }
}

impl Drop for LlmService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One conversation's handle on the LLM ([`LlmService::open_session`]). What the model has
/// computed for the conversation stays cached between turns (the system prompt's cache is
/// shared by all): an answer only computes what differs from the last thing the session ran,
/// cutting the cache back to the common prefix first, so no word the user did not say is ever
/// answered. Dropping the handle frees the cache.
///
/// Each session does one thing at a time: a newer `prefill` or `generate` supersedes what the
/// session was doing (a superseded prefill replies `None`; cancel a running answer before
/// starting the next, as on barge-in).
pub struct LlmSession {
    service: Arc<LlmService>,
    key: SessionKey,
}

impl std::fmt::Debug for LlmSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSession")
            .field("key", &self.key.0)
            .finish()
    }
}

impl LlmSession {
    /// Speculative, low priority: computes the conversation with the user's turn so far
    /// (`messages` ends with the partial transcript as a user message) while they are still
    /// speaking, and resolves to the model's probability that the turn ends there (the chat
    /// template's end-of-message token, `<|im_end|>`, coming next): the text signal of the turn
    /// detector. Resolves to `None` when nothing was computed: the backend cannot (remote),
    /// no slot was free, a newer `prefill` or `generate` of this session superseded it, or
    /// the service is not ready.
    pub fn prefill(&self, messages: Vec<ChatMessage>) -> PrefillReply {
        let (job, reply) = OpenTurnJob::new(self.key, messages);
        if self.service.health().is_ready() {
            self.service.backend.prefill(job);
        } else {
            job.reply(None);
        }
        PrefillReply(reply)
    }

    /// Answers `request` like [`LlmService::generate`], resuming from what this session has
    /// computed (its previous turns, its latest `prefill`): only the tokens after the common
    /// prefix are computed.
    pub fn generate(
        &self,
        request: ChatRequest,
        cancel: CancellationToken,
    ) -> mpsc::Receiver<LlmEvent> {
        self.service.submit(request, Some(self.key), cancel)
    }
}

impl Drop for LlmSession {
    fn drop(&mut self) {
        self.service.backend.end_session(self.key);
    }
}

/// The outcome of [`LlmSession::prefill`]: resolves to the end-of-turn probability, or `None`.
#[derive(Debug)]
pub struct PrefillReply(oneshot::Receiver<Option<f32>>);

impl Future for PrefillReply {
    type Output = Option<f32>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.ok().flatten())
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
