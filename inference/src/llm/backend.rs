//! What a source of answers implements, and the jobs the service hands it.
//!
//! The service ([`super::LlmService`]) admits a request (the waiting-queue cap, the health
//! check), wraps it in a job that keeps the queue gauges right however it ends, and passes it
//! to its backend. The local engine pool and the remote client are the two backends; anything
//! built over them (failover to a second backend, say) is another type implementing the same
//! trait around them, not a new case in the service.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{ChatMessage, ChatRequest, LlmError, LlmEvent, Shared};

/// Identifies a conversation whose computed prompt a backend may keep between turns
/// ([`super::LlmSession`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey(pub(crate) u64);

/// A source of answers.
pub(crate) trait LlmBackend: Send + Sync {
    /// Starts answering `job`: its events go to the job's channel. Must not block.
    fn generate(&self, job: AnswerJob);

    /// Computes a user's turn in progress ahead of time and replies with the probability that
    /// it ends there. A backend that cannot replies `None` (the default).
    fn prefill(&self, job: OpenTurnJob) {
        job.reply(None);
    }

    /// The session is over: drop whatever is kept for it.
    fn end_session(&self, _session: SessionKey) {}

    /// An operator's restart: reload the model now, failing what is in flight with the
    /// reason. A backend with nothing to restart here (a remote server) says why not.
    fn restart(&self) -> Result<(), String> {
        Err("the LLM is a remote server (LLM_BASE_URL): restart it where it runs".into())
    }

    /// Makes the backend fail as a crash would, to exercise recovery (the drills' fault
    /// switch, tests). A backend that cannot crash here says why not.
    fn inject_crash(&self) -> Result<(), String> {
        Err("this LLM backend has no crash to inject".into())
    }
}

/// Keeps one of the service's gauges raised for as long as it lives, so every way a job ends
/// (answered, failed, cancelled, dropped with its receiver, lost in a crash) lowers it.
pub(crate) struct Raised {
    shared: Arc<Shared>,
    gauge: Gauge,
}

#[derive(Clone, Copy)]
enum Gauge {
    /// Admitted, not yet given a slot (local) or a connection (remote).
    Waiting,
    /// Admitted and not finished.
    InFlight,
}

impl Drop for Raised {
    fn drop(&mut self) {
        match self.gauge {
            Gauge::Waiting => self.shared.add_waiting(-1),
            Gauge::InFlight => self.shared.finish_in_flight(),
        }
    }
}

/// A request to answer, admitted by the service.
pub(crate) struct AnswerJob {
    pub(crate) request: ChatRequest,
    pub(crate) session: Option<SessionKey>,
    pub(crate) cancel: CancellationToken,
    pub(crate) submitted: Instant,
    pub(crate) seed: u64,
    events: mpsc::Sender<LlmEvent>,
    waiting: Option<Raised>,
    in_flight: Option<Raised>,
}

impl AnswerJob {
    /// Admits a request: raises the in-flight and waiting gauges (the waiting one is lowered
    /// when the job is picked up, both when it is dropped). Refused with [`LlmError::Busy`]
    /// when `limit` requests are already in flight (every slot busy and the queue full).
    pub(crate) fn admit(
        shared: &Arc<Shared>,
        limit: usize,
        request: ChatRequest,
        session: Option<SessionKey>,
        cancel: CancellationToken,
        events: mpsc::Sender<LlmEvent>,
        seed: u64,
    ) -> Result<Self, LlmError> {
        if !shared.try_start_in_flight(limit) {
            return Err(LlmError::Busy {
                waiting: shared.waiting(),
            });
        }
        let in_flight = Raised {
            shared: shared.clone(),
            gauge: Gauge::InFlight,
        };
        shared.add_waiting(1);
        let waiting = Raised {
            shared: shared.clone(),
            gauge: Gauge::Waiting,
        };
        Ok(Self {
            request,
            session,
            cancel,
            submitted: Instant::now(),
            seed,
            events,
            waiting: Some(waiting),
            in_flight: Some(in_flight),
        })
    }

    /// The job has a slot (or a connection): it no longer counts as waiting.
    pub(crate) fn picked_up(&mut self) {
        self.waiting = None;
    }

    /// Nobody wants the answer any more.
    pub(crate) fn abandoned(&self) -> bool {
        self.cancel.is_cancelled() || self.events.is_closed()
    }

    /// Sends an event without waiting. The channel holds a whole answer (see
    /// [`super::LlmService`]), so a full channel means the receiver stopped reading: `false`
    /// then, and when it is closed.
    pub(crate) fn send(&self, event: LlmEvent) -> bool {
        self.events.try_send(event).is_ok()
    }

    /// Sends the last event (`Done` or `Error`), lowering the gauges first: whoever reads it
    /// sees the service's counts without this request.
    pub(crate) fn finish(&mut self, event: LlmEvent) -> bool {
        self.count_finished(&event);
        self.send(event)
    }

    /// [`AnswerJob::finish`], waiting for room (async backends).
    pub(crate) async fn finish_async(&mut self, event: LlmEvent) -> bool {
        self.count_finished(&event);
        self.send_async(event).await
    }

    /// Lowers the gauges (dropping their guards) and counts a finished answer's tokens.
    fn count_finished(&mut self, event: &LlmEvent) {
        self.waiting = None;
        let in_flight = self.in_flight.take();
        if let (Some(raised), LlmEvent::Done(stats)) = (&in_flight, event) {
            raised
                .shared
                .metrics
                .generated_tokens
                .inc_by(stats.generated_tokens as u64);
        }
    }

    /// Sends an event, waiting for room (async backends).
    pub(crate) async fn send_async(&self, event: LlmEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Resolves when the receiver is dropped.
    pub(crate) async fn closed(&self) {
        self.events.closed().await
    }
}

/// A user's turn in progress, to compute ahead of time ([`super::LlmSession::prefill`]).
pub(crate) struct OpenTurnJob {
    pub(crate) session: SessionKey,
    pub(crate) messages: Vec<ChatMessage>,
    reply: oneshot::Sender<Option<f32>>,
}

impl OpenTurnJob {
    pub(crate) fn new(
        session: SessionKey,
        messages: Vec<ChatMessage>,
    ) -> (Self, oneshot::Receiver<Option<f32>>) {
        let (reply, receiver) = oneshot::channel();
        (
            Self {
                session,
                messages,
                reply,
            },
            receiver,
        )
    }

    /// Answers the job: the end-of-turn probability, or `None` (not computed).
    pub(crate) fn reply(self, probability: Option<f32>) {
        let _ = self.reply.send(probability);
    }

    /// Nobody waits for the reply any more.
    pub(crate) fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
}
