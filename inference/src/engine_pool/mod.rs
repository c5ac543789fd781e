//! Engine pools: one thread owns a model and serves every session's requests through a slot
//! table.
//!
//! Model compute never runs on the async reactor. A [`Pool`] starts one owner thread per
//! engine; sessions [`Pool::submit`] requests from async code and await the [`Reply`]. Inside:
//!
//! - **Slots** ([`table::SlotTable`]): each admitted request holds a slot until its result is
//!   delivered or its caller gives up. Beyond the slots, a bounded wait queue; beyond that,
//!   [`PoolError::NoFreeSlot`] at once — never an unbounded backlog.
//! - **Deadline-first**: the engine runs the request a user is waiting on now before work ahead
//!   of playback, then the earliest deadline, then the oldest ([`Priority`]).
//! - **Cancellation is dropping the [`Reply`]**: the request leaves the table at once; one that
//!   has not started is never run, and the result of one already running is discarded. The id
//!   of a slot's holder is its generation, so a late result never reaches the slot's next
//!   holder.
//! - **Gauges** (`goassist_engine_queue_depth`, `goassist_engine_slots_active`) are set from
//!   the table under its lock after every change — admission, start, delivery, a dropped
//!   `Reply`, shutdown — and the owner thread's exit guard zeroes them and fails every pending
//!   request when it stops, even by a panic of its own. An engine panic fails only the request
//!   it was running. `goassist_engine_step_seconds` is the engine time per request.
//!
//! ASR and TTS are served through their traits by [`speech::AsrEngine`] and
//! [`speech::TtsEngine`]. The layout follows moshi-server's batched ASR (a slot per request, a
//! generation per slot, an explicit refusal); our CPU engines take one request per step.

pub mod priority;
pub mod speech;
pub mod table;
pub mod turn;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use goassist_engines::EngineError;
use tokio::sync::oneshot;

use crate::metrics::PoolMetrics;
pub use priority::{Class, Priority};
pub use speech::{AsrEngine, AsrPool, SynthesizedClause, TtsEngine, TtsPool};
use table::{Cancelled, RequestId, SlotTable};
pub use turn::{TurnEngine, TurnPool};

/// A model a pool can serve: one request in, one result out, on the pool's owner thread.
pub trait Engine: Send + 'static {
    /// What a request carries.
    type Input: Send + 'static;
    /// What a request gets back.
    type Output: Send + 'static;
    /// Runs one request.
    fn run(&mut self, input: Self::Input) -> Result<Self::Output, EngineError>;
}

/// Why a request got no result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every slot is held and the wait queue is full: try later, or do without (a partial
    /// transcript) or tell the user (a final transcript, a clause).
    #[error("{engine} is saturated: no free slot and the wait queue is full")]
    NoFreeSlot {
        /// The pool's engine (`asr`, `tts`).
        engine: &'static str,
    },
    /// The pool has shut down.
    #[error("{engine} has stopped")]
    Stopped {
        /// The pool's engine.
        engine: &'static str,
    },
    /// The engine panicked on this request (the pool goes on serving).
    #[error("{engine} panicked: {message}")]
    Panicked {
        /// The pool's engine.
        engine: &'static str,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// The engine failed on this request.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// How many requests a pool holds: `slots` admitted and schedulable, then `queue` waiting for a
/// slot; one more is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// Slots (at least one).
    pub slots: usize,
    /// Requests that may wait for a slot.
    pub queue: usize,
}

/// What the owner thread sends back for one request.
type Outcome<O> = Result<O, PoolError>;
type Sender<O> = oneshot::Sender<Outcome<O>>;

struct State<I, O> {
    table: SlotTable<I, Sender<O>>,
    /// False once the pool is dropped or its owner thread ended: nothing is admitted.
    open: bool,
}

struct Shared<I, O> {
    engine: &'static str,
    state: Mutex<State<I, O>>,
    work: Condvar,
    metrics: PoolMetrics,
}

impl<I, O> Shared<I, O> {
    fn lock(&self) -> MutexGuard<'_, State<I, O>> {
        // The table's methods leave it consistent at every return, so a panic elsewhere while
        // the lock was held does not poison its contents.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the gauges from the table (under its lock, so updates land in order).
    fn publish(&self, state: &State<I, O>) {
        self.metrics
            .queue_depth
            .set(state.table.queue_depth() as i64);
        self.metrics
            .slots_active
            .set(state.table.active_slots() as i64);
    }
}

/// What a [`Reply`] needs to cancel its request, whatever the pool's input type.
trait Cancel: Send + Sync {
    fn cancel(&self, id: RequestId);
}

impl<I: Send, O: Send> Cancel for Shared<I, O> {
    fn cancel(&self, id: RequestId) {
        let mut state = self.lock();
        let where_it_was = state.table.cancel(id);
        self.publish(&state);
        drop(state);
        if where_it_was != Cancelled::NotFound {
            self.metrics.cancelled.inc();
            // The freed slot may have gone to a waiting request: the engine may have work.
            self.work.notify_one();
        }
    }
}

/// The result of a submitted request: await it. Dropping it cancels the request.
#[must_use = "dropping a Reply cancels its request"]
pub struct Reply<O> {
    rx: oneshot::Receiver<Outcome<O>>,
    /// Set until the result (or the pool's end) has been received.
    pending: Option<(RequestId, Arc<dyn Cancel>)>,
    engine: &'static str,
}

impl<O> Future for Reply<O> {
    type Output = Result<O, PoolError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let received = std::task::ready!(Pin::new(&mut self.rx).poll(cx));
        self.pending = None;
        Poll::Ready(received.unwrap_or(Err(PoolError::Stopped {
            engine: self.engine,
        })))
    }
}

impl<O> Drop for Reply<O> {
    fn drop(&mut self) {
        if let Some((id, pool)) = self.pending.take() {
            pool.cancel(id);
        }
    }
}

/// A model on its owner thread, fed through a slot table (see the module docs).
pub struct Pool<E: Engine> {
    shared: Arc<Shared<E::Input, E::Output>>,
}

impl<E: Engine> Pool<E> {
    /// Starts the owner thread (`goassist-{name}`) with `engine`; `name` labels the metrics and
    /// errors.
    pub fn spawn(
        name: &'static str,
        engine: E,
        size: PoolSize,
        metrics: PoolMetrics,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            engine: name,
            state: Mutex::new(State {
                table: SlotTable::new(size.slots, size.queue),
                open: true,
            }),
            work: Condvar::new(),
            metrics,
        });
        shared.publish(&shared.lock());
        let owner = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("goassist-{name}"))
            .spawn(move || serve(owner, engine))?;
        Ok(Pool { shared })
    }

    /// Admits a request; await the [`Reply`] for its result. Refuses at once with
    /// [`PoolError::NoFreeSlot`] when the pool is full, [`PoolError::Stopped`] when it is gone.
    pub fn submit(
        &self,
        input: E::Input,
        priority: Priority,
    ) -> Result<Reply<E::Output>, PoolError> {
        let shared = &self.shared;
        let (tx, rx) = oneshot::channel();
        let mut state = shared.lock();
        if !state.open {
            return Err(PoolError::Stopped {
                engine: shared.engine,
            });
        }
        let Ok(id) = state.table.admit(input, priority, tx) else {
            drop(state);
            shared.metrics.refused.inc();
            return Err(PoolError::NoFreeSlot {
                engine: shared.engine,
            });
        };
        shared.publish(&state);
        drop(state);
        shared.work.notify_one();
        let cancel: Arc<dyn Cancel> = Arc::clone(shared) as Arc<dyn Cancel>;
        Ok(Reply {
            rx,
            pending: Some((id, cancel)),
            engine: shared.engine,
        })
    }

    /// Requests admitted and not started (as `goassist_engine_queue_depth`).
    pub fn queue_depth(&self) -> usize {
        self.shared.lock().table.queue_depth()
    }

    /// Slots held (as `goassist_engine_slots_active`).
    pub fn active_slots(&self) -> usize {
        self.shared.lock().table.active_slots()
    }

    /// The engine's name.
    pub fn name(&self) -> &'static str {
        self.shared.engine
    }
}

impl<E: Engine> Drop for Pool<E> {
    fn drop(&mut self) {
        // The owner thread finishes the request it is running, then fails the rest and ends.
        self.shared.lock().open = false;
        self.shared.work.notify_all();
    }
}

/// Ends the pool when the owner thread ends, whichever way: closes admission, fails every
/// request still owed (their `Reply` resolves to `Stopped`) and zeroes the gauges.
struct OwnerExit<I, O>(Arc<Shared<I, O>>);

impl<I, O> Drop for OwnerExit<I, O> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.open = false;
        let owed = state.table.drain();
        self.0.publish(&state);
        drop(state);
        drop(owed);
        tracing::debug!(engine = self.0.engine, "engine pool stopped");
    }
}

/// The owner thread: take the best ready request, run it, deliver its result if its caller is
/// still there.
fn serve<E: Engine>(shared: Arc<Shared<E::Input, E::Output>>, mut engine: E) {
    let _exit = OwnerExit(Arc::clone(&shared));
    loop {
        let job = {
            let mut state = shared.lock();
            loop {
                if !state.open {
                    return;
                }
                if let Some(job) = state.table.start_next() {
                    shared.publish(&state);
                    break job;
                }
                state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let started = Instant::now();
        // A panic in the model must not take the pool (and every session) down.
        let outcome = catch_unwind(AssertUnwindSafe(|| engine.run(job.input)));
        shared
            .metrics
            .step_seconds
            .observe(started.elapsed().as_secs_f64());
        let (result, counter) = match outcome {
            Ok(Ok(output)) => (Ok(output), &shared.metrics.ok),
            Ok(Err(e)) => (Err(PoolError::Engine(e)), &shared.metrics.error),
            Err(payload) => (
                Err(PoolError::Panicked {
                    engine: shared.engine,
                    message: panic_message(&*payload),
                }),
                &shared.metrics.panic,
            ),
        };
        let reply = {
            let mut state = shared.lock();
            let reply = state.table.finish(job.slot, job.id);
            shared.publish(&state);
            reply
        };
        // No reply: the caller cancelled while the engine ran (already counted); the slot may
        // already belong to someone else, who must not get this result.
        if let Some(reply) = reply {
            counter.inc();
            let _ = reply.send(result);
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

#[cfg(test)]
mod tests;
