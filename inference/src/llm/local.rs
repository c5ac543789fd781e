//! The local backend: one thread owns the GGUF engine and steps every request together.
//!
//! The engine (`goassist_engines::llm`) is a sans-IO slot table; this thread is its only
//! driver. Each turn of its loop is a step boundary:
//! 1. take what arrived (new answers, speculative open turns, ended sessions) and drop work
//!    nobody wants any more: a cancelled (barged-in) or unread answer leaves its slot at once;
//! 2. give free slots to waiting answers, oldest first (taking a slot from speculative work if
//!    none is free);
//! 3. run at most one prefill chunk: an answer's before speculative work, and among them the
//!    newest first (the user who just finished speaking is waiting for it right now);
//! 4. run one batched decode step over every answering slot and stream each new token to its
//!    request.
//!
//! It sleeps on its inbox only when no slot has work. A panic anywhere in the engine (or a
//! failed load) is caught on the thread: the service turns `Unavailable`, every request in
//! hand or queued meanwhile is answered with an error, and the model is reloaded after a
//! backoff. The engine is never shared across threads, so it needs no locks.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use goassist_engines::llm::{
    CachedSequence, Emitted, GenerationParams, LlmEngine, LlmEngineConfig, PrefillProgress,
    Sampling, SlotId, SlotState, Started,
};

use super::backend::{AnswerJob, LlmBackend, OpenTurnJob, SessionKey};
use super::{LlmError, LlmEvent, LlmHealth, LlmSettings, LlmStats, Shared};

enum Command {
    Answer(AnswerJob),
    OpenTurn(OpenTurnJob),
    EndSession(SessionKey),
    /// An operator's restart (`POST /admin/llm/restart`).
    Restart,
    /// An injected crash (`LlmService::inject_crash`): the thread panics.
    Crash,
}

pub(super) struct LocalBackend {
    commands: Sender<Command>,
}

impl LocalBackend {
    pub(super) fn start(settings: &LlmSettings, shared: Arc<Shared>) -> Self {
        let (commands, inbox) = channel();
        let owner = Owner {
            config: LlmEngineConfig {
                model_path: settings.model_path.clone(),
                system_prompt: settings.system_prompt.clone(),
                max_context_tokens: settings.max_context_tokens,
                prefix_caching: settings.prefix_caching,
                cached_conversations: settings.max_batch_size.max(1),
                slots: settings.max_batch_size.max(1),
            },
            max_new_tokens: settings.max_new_tokens,
            temperature: settings.temperature,
            no_echo_ngram: settings.no_echo_ngram,
            backoff: settings.restart_backoff,
            shared: shared.clone(),
            inbox,
        };
        let nice = settings.engine_thread_nice;
        let spawned = std::thread::Builder::new()
            .name("llm-engine".into())
            .spawn(move || {
                // Below the audio path; candle's compute threads start from here and inherit it.
                crate::priority::lower_current_thread(nice);
                owner.run()
            });
        if let Err(e) = spawned {
            shared.set_health(LlmHealth::Unavailable {
                reason: format!("cannot start the engine thread: {e}"),
            });
        }
        Self { commands }
    }
}

impl LlmBackend for LocalBackend {
    fn generate(&self, job: AnswerJob) {
        if let Err(returned) = self.commands.send(Command::Answer(job))
            && let Command::Answer(mut job) = returned.0
        {
            job.finish(LlmEvent::Error(LlmError::Unavailable {
                reason: "the LLM engine thread has stopped".into(),
            }));
        }
    }

    fn prefill(&self, job: OpenTurnJob) {
        if let Err(returned) = self.commands.send(Command::OpenTurn(job))
            && let Command::OpenTurn(job) = returned.0
        {
            job.reply(None);
        }
    }

    fn end_session(&self, session: SessionKey) {
        let _ = self.commands.send(Command::EndSession(session));
    }

    fn restart(&self) -> Result<(), String> {
        self.commands
            .send(Command::Restart)
            .map_err(|_| "the LLM engine thread is gone".to_string())
    }

    fn inject_crash(&self) -> Result<(), String> {
        self.commands
            .send(Command::Crash)
            .map_err(|_| "the LLM engine thread is gone".to_string())
    }
}

/// Why serving stopped without a panic.
enum Stop {
    /// The service was dropped: the thread ends.
    Shutdown,
    /// An operator asked for a restart: the model is loaded again at once.
    Restart,
}

/// What requests in flight are told when an operator restarts the engine.
const RESTARTED_BY_OPERATOR: &str = "the LLM engine is being restarted by an operator";

struct Owner {
    config: LlmEngineConfig,
    max_new_tokens: usize,
    temperature: f32,
    no_echo_ngram: usize,
    backoff: super::Backoff,
    shared: Arc<Shared>,
    inbox: Receiver<Command>,
}

impl Owner {
    fn run(self) {
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            let mut work = Work::default();
            let reason = match catch_unwind(AssertUnwindSafe(|| {
                LlmEngine::load(self.config.clone())
            })) {
                Ok(Ok(mut engine)) => {
                    tracing::info!(
                        model = engine.model_name(),
                        load_ms = started.elapsed().as_millis() as u64,
                        slots = engine.slot_capacity(),
                        "LLM engine loaded"
                    );
                    self.shared.set_health(LlmHealth::Ready);
                    failures = 0;
                    match catch_unwind(AssertUnwindSafe(|| self.serve(&mut engine, &mut work))) {
                        Ok(Stop::Shutdown) => return,
                        Ok(Stop::Restart) => RESTARTED_BY_OPERATOR.to_string(),
                        Err(panic) => {
                            format!("LLM engine panicked: {}", panic_message(&*panic))
                        }
                    }
                }
                Ok(Err(e)) => format!("LLM model failed to load: {e}"),
                Err(panic) => format!("LLM model load panicked: {}", panic_message(&*panic)),
            };
            self.shared.set_health(LlmHealth::Unavailable {
                reason: reason.clone(),
            });
            work.fail_all(&reason);
            self.shared.metrics.slots_active.set(0);
            self.shared.metrics.sessions_kept.set(0);
            // An operator's restart reloads at once; failures back off.
            let delay = if reason == RESTARTED_BY_OPERATOR {
                Duration::ZERO
            } else {
                let delay = self.backoff.delay(failures);
                failures = failures.saturating_add(1);
                delay
            };
            if !self.refuse_until(Instant::now() + delay, &reason) {
                return;
            }
            self.shared.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::info!(attempt = failures, "restarting the LLM engine");
        }
    }

    /// Steps the engine until the service is dropped or an operator restarts it (a panic
    /// unwinds out of here).
    fn serve(&self, engine: &mut LlmEngine, work: &mut Work) -> Stop {
        let mut turn = Turn {
            engine,
            work,
            owner: self,
        };
        loop {
            if turn.work.is_empty() {
                match self.inbox.recv() {
                    Ok(Command::Restart) => return Stop::Restart,
                    Ok(command) => turn.take(command),
                    Err(_) => return Stop::Shutdown,
                }
            }
            loop {
                match self.inbox.try_recv() {
                    Ok(Command::Restart) => return Stop::Restart,
                    Ok(command) => turn.take(command),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Stop::Shutdown,
                }
            }
            turn.drop_abandoned();
            turn.admit_waiting();
            turn.prefill_one_chunk();
            turn.decode_one_step();
            let live = turn.work.active.len();
            self.shared.metrics.slots_active.set(live as i64);
            let kept = turn.work.sessions.len();
            self.shared.metrics.sessions_kept.set(kept as i64);
        }
    }

    fn params(&self, seed: u64) -> GenerationParams {
        GenerationParams {
            max_new_tokens: self.max_new_tokens,
            sampling: Sampling::from_temperature(self.temperature, seed),
            no_echo_ngram: self.no_echo_ngram,
        }
    }

    /// While waiting to reload, answers queued requests with the failure. Returns `false` if
    /// the service was dropped meanwhile.
    fn refuse_until(&self, deadline: Instant, reason: &str) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left == Duration::ZERO {
                return true;
            }
            match self.inbox.recv_timeout(left) {
                Ok(Command::Answer(mut job)) => {
                    job.finish(LlmEvent::Error(LlmError::Unavailable {
                        reason: reason.to_string(),
                    }));
                }
                Ok(Command::OpenTurn(job)) => job.reply(None),
                // Reloading is what comes next anyway.
                Ok(Command::EndSession(_) | Command::Restart | Command::Crash) => {}
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }
}

/// Requests in hand: waiting for a slot, or holding one.
#[derive(Default)]
struct Work {
    /// Answers without a slot yet, oldest first.
    waiting: VecDeque<AnswerJob>,
    /// Slots in use.
    active: Vec<Active>,
    /// Conversations between turns: what their last work computed.
    sessions: HashMap<SessionKey, CachedSequence>,
    /// Orders arrivals ("newest first").
    arrivals: u64,
}

impl Work {
    fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.active.is_empty()
    }

    /// The engine is gone (crash): every request in hand gets the reason.
    fn fail_all(&mut self, reason: &str) {
        let error = || {
            LlmEvent::Error(LlmError::Unavailable {
                reason: reason.to_string(),
            })
        };
        for mut job in self.waiting.drain(..) {
            job.finish(error());
        }
        for active in self.active.drain(..) {
            match active.task {
                Task::Answer(mut answer) => {
                    answer.job.finish(error());
                }
                Task::OpenTurn(job) => job.reply(None),
            }
        }
        self.sessions.clear();
    }
}

/// A slot in use.
struct Active {
    slot: SlotId,
    session: Option<SessionKey>,
    arrived: u64,
    task: Task,
}

enum Task {
    Answer(Answering),
    OpenTurn(OpenTurnJob),
}

struct Answering {
    job: AnswerJob,
    started: Started,
    picked_up: Instant,
    first_token: Option<Instant>,
}

/// One pass of the loop, with everything it works on.
struct Turn<'a> {
    engine: &'a mut LlmEngine,
    work: &'a mut Work,
    owner: &'a Owner,
}

impl Turn<'_> {
    fn take(&mut self, command: Command) {
        match command {
            Command::Answer(job) => self.arrive(job),
            Command::OpenTurn(job) => self.open_turn(job),
            Command::EndSession(session) => self.end_session(session),
            // Taken by `serve` before it gets here.
            Command::Restart => {}
            Command::Crash => forced_crash(),
        }
    }

    fn next_arrival(&mut self) -> u64 {
        self.work.arrivals += 1;
        self.work.arrivals
    }

    fn position_of(&self, session: SessionKey) -> Option<usize> {
        self.work
            .active
            .iter()
            .position(|a| a.session == Some(session))
    }

    /// A new answer: straight into its session's slot if the session holds one (its newer
    /// request supersedes whatever that slot did), else into the waiting queue.
    fn arrive(&mut self, mut job: AnswerJob) {
        if job.abandoned() {
            return;
        }
        let arrived = self.next_arrival();
        let Some(i) = job.session.and_then(|s| self.position_of(s)) else {
            self.work.waiting.push_back(job);
            return;
        };
        let slot = self.work.active[i].slot;
        job.picked_up();
        let task = Task::Answer(Answering {
            job,
            started: empty_start(),
            picked_up: Instant::now(),
            first_token: None,
        });
        match std::mem::replace(&mut self.work.active[i].task, task) {
            Task::OpenTurn(superseded) => superseded.reply(None),
            Task::Answer(superseded) => {
                tracing::debug!("a session's newer answer supersedes the one running");
                drop(superseded);
            }
        }
        self.work.active[i].arrived = arrived;
        self.start_answer(i, slot);
    }

    /// Sets the slot of `active[i]` (whose task is an answer) to answer its request.
    fn start_answer(&mut self, i: usize, slot: SlotId) {
        let Task::Answer(answer) = &mut self.work.active[i].task else {
            return;
        };
        let params = self.owner.params(answer.job.seed);
        match self
            .engine
            .start_answer(slot, &answer.job.request.messages, &params)
        {
            Ok(started) => {
                let metrics = &self.owner.shared.metrics;
                metrics
                    .prefill_reused_tokens
                    .inc_by(started.reused_tokens as u64);
                metrics
                    .wasted_tokens
                    .inc_by(started.discarded_tokens as u64);
                answer.started = started;
            }
            Err(e) => {
                answer
                    .job
                    .finish(LlmEvent::Error(LlmError::Failed(e.to_string())));
                self.leave(i);
            }
        }
    }

    /// Speculative work for a session: only into a slot nobody waits for.
    fn open_turn(&mut self, job: OpenTurnJob) {
        if job.abandoned() {
            return;
        }
        let arrived = self.next_arrival();
        let slot = match self.position_of(job.session) {
            Some(i) => {
                let active = &mut self.work.active[i];
                if matches!(active.task, Task::Answer(_)) {
                    // The session is being answered: leave that alone.
                    return job.reply(None);
                }
                active.arrived = arrived;
                if let Task::OpenTurn(superseded) =
                    std::mem::replace(&mut active.task, Task::OpenTurn(job))
                {
                    superseded.reply(None);
                }
                active.slot
            }
            None => {
                if !self.work.waiting.is_empty() || self.engine.free_slots() == 0 {
                    return job.reply(None);
                }
                let Ok(slot) = self.engine.open_slot() else {
                    return job.reply(None);
                };
                if let Some(cached) = self.work.sessions.remove(&job.session)
                    && let Err(e) = self.engine.restore(slot, cached)
                {
                    tracing::warn!(error = %e, "could not restore a session's cache");
                }
                self.work.active.push(Active {
                    slot,
                    session: Some(job.session),
                    arrived,
                    task: Task::OpenTurn(job),
                });
                slot
            }
        };
        let i = self
            .work
            .active
            .iter()
            .position(|a| a.slot == slot)
            .expect("just placed");
        let Task::OpenTurn(job) = &self.work.active[i].task else {
            return;
        };
        match self
            .engine
            .start_open_turn(slot, &job.messages, self.owner.max_new_tokens)
        {
            Ok(started) => {
                self.owner
                    .shared
                    .metrics
                    .wasted_tokens
                    .inc_by(started.discarded_tokens as u64);
            }
            Err(e) => {
                tracing::debug!(error = %e, "open turn not computed");
                self.leave(i);
            }
        }
    }

    fn end_session(&mut self, session: SessionKey) {
        if let Some(i) = self.position_of(session) {
            // Nothing of an ended session is kept for a next turn: its slot goes to the shared
            // prefix cache when it is freed. (Freed with the session still set, a speculative
            // task's sequence went back into `sessions` after the removal below: kept forever.)
            self.work.active[i].session = None;
            if matches!(self.work.active[i].task, Task::OpenTurn(_)) {
                self.leave(i);
            }
            // An answer may still be read to its end.
        }
        self.work.sessions.remove(&session);
    }

    /// Frees `active[i]`'s slot at once. A session's sequence is kept for its next turn,
    /// another finished conversation goes to the shared prefix cache. A speculative task that
    /// had not finished replies `None`.
    fn leave(&mut self, i: usize) {
        let active = self.work.active.swap_remove(i);
        if let Task::OpenTurn(job) = active.task {
            job.reply(None);
        }
        self.release(active.slot, active.session);
    }

    fn release(&mut self, slot: SlotId, session: Option<SessionKey>) {
        let cached = match self.engine.release_slot(slot) {
            Ok(cached) => cached,
            Err(e) => {
                tracing::error!(error = %e, "releasing an LLM slot");
                return;
            }
        };
        match session {
            Some(session) if self.owner.config.prefix_caching => {
                self.work.sessions.insert(session, cached);
            }
            _ => self.engine.remember(cached),
        }
    }

    fn drop_abandoned(&mut self) {
        self.work.waiting.retain(|job| !job.abandoned());
        for i in (0..self.work.active.len()).rev() {
            let abandoned = match &self.work.active[i].task {
                Task::Answer(answer) => answer.job.abandoned(),
                Task::OpenTurn(job) => job.abandoned(),
            };
            if abandoned {
                self.leave(i);
            }
        }
    }

    /// Gives free slots to waiting answers, oldest first; speculative work gives way.
    fn admit_waiting(&mut self) {
        while !self.work.waiting.is_empty() {
            if self.engine.free_slots() == 0 {
                let speculative = self
                    .work
                    .active
                    .iter()
                    .position(|a| matches!(a.task, Task::OpenTurn(_)));
                match speculative {
                    Some(i) => self.leave(i),
                    None => return,
                }
            }
            let Ok(slot) = self.engine.open_slot() else {
                return;
            };
            let Some(mut job) = self.work.waiting.pop_front() else {
                let _ = self.engine.release_slot(slot);
                return;
            };
            job.picked_up();
            if let Some(cached) = job.session.and_then(|s| self.work.sessions.remove(&s))
                && let Err(e) = self.engine.restore(slot, cached)
            {
                tracing::warn!(error = %e, "could not restore a session's cache");
            }
            let arrived = self.next_arrival();
            self.work.active.push(Active {
                slot,
                session: job.session,
                arrived,
                task: Task::Answer(Answering {
                    job,
                    started: empty_start(),
                    picked_up: Instant::now(),
                    first_token: None,
                }),
            });
            let i = self.work.active.len() - 1;
            self.start_answer(i, slot);
        }
    }

    /// Runs one prompt chunk: answers before speculative work, the newest first.
    fn prefill_one_chunk(&mut self) {
        let next = self
            .work
            .active
            .iter()
            .enumerate()
            .filter(|(_, a)| self.engine.slot_state(a.slot) == Some(SlotState::Prefilling))
            .max_by_key(|(_, a)| (matches!(a.task, Task::Answer(_)), a.arrived))
            .map(|(i, _)| i);
        let Some(i) = next else { return };
        let slot = self.work.active[i].slot;
        let started = Instant::now();
        let progress = self.engine.prefill(slot);
        self.owner
            .shared
            .metrics
            .step_seconds
            .observe(started.elapsed().as_secs_f64());
        match progress {
            Ok(PrefillProgress::Pending { .. }) => {}
            Ok(PrefillProgress::Answering(first)) => self.deliver(i, first),
            Ok(PrefillProgress::EndOfTurn(probability)) => {
                let active = self.work.active.swap_remove(i);
                if let Task::OpenTurn(job) = active.task {
                    job.reply(Some(probability));
                }
                self.release(active.slot, active.session);
            }
            Err(e) => self.fail(i, &e.to_string()),
        }
    }

    /// One batched decode step over every answering slot.
    fn decode_one_step(&mut self) {
        let members: Vec<(usize, SlotId)> = self
            .work
            .active
            .iter()
            .enumerate()
            .filter(|(_, a)| self.engine.slot_state(a.slot) == Some(SlotState::Decoding))
            .map(|(i, a)| (i, a.slot))
            .collect();
        if members.is_empty() {
            return;
        }
        let slots: Vec<SlotId> = members.iter().map(|&(_, s)| s).collect();
        let started = Instant::now();
        let outcome = self.engine.decode_step(&slots);
        self.owner
            .shared
            .metrics
            .step_seconds
            .observe(started.elapsed().as_secs_f64());
        // Highest index first, so leaving (swap_remove) never moves a member not yet seen.
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&m| std::cmp::Reverse(members[m].0));
        match outcome {
            Ok(emitted) => {
                let mut emitted: Vec<Option<Emitted>> = emitted.into_iter().map(Some).collect();
                for m in order {
                    if let Some(e) = emitted[m].take() {
                        self.deliver(members[m].0, e);
                    }
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for m in order {
                    self.fail(members[m].0, &reason);
                }
            }
        }
    }

    /// Streams a token to `active[i]`'s request; a finished answer gets `Done` and leaves, an
    /// unread one leaves.
    fn deliver(&mut self, i: usize, emitted: Emitted) {
        let slot = self.work.active[i].slot;
        let generated = self.engine.generated_tokens(slot);
        let Task::Answer(answer) = &mut self.work.active[i].task else {
            return;
        };
        if !emitted.text.is_empty() {
            answer.first_token.get_or_insert_with(Instant::now);
            if !answer.job.send(LlmEvent::Token(emitted.text)) {
                return self.leave(i);
            }
        }
        if emitted.finished.is_some() {
            let job = &mut answer.job;
            let stats = LlmStats {
                prompt_tokens: answer.started.prompt_tokens,
                reused_prompt_tokens: answer.started.reused_tokens,
                generated_tokens: generated,
                queue_wait: answer.picked_up - job.submitted,
                time_to_first_token: answer.first_token.unwrap_or_else(Instant::now)
                    - job.submitted,
                total: job.submitted.elapsed(),
            };
            job.finish(LlmEvent::Done(stats));
            self.leave(i);
        }
    }

    fn fail(&mut self, i: usize, reason: &str) {
        if let Task::Answer(answer) = &mut self.work.active[i].task {
            answer
                .job
                .finish(LlmEvent::Error(LlmError::Failed(reason.to_string())));
        }
        self.leave(i);
    }
}

fn empty_start() -> Started {
    Started {
        prompt_tokens: 0,
        reused_tokens: 0,
        discarded_tokens: 0,
        dropped_messages: 0,
    }
}

/// An injected crash (fault drill or test): a real panic on the engine thread.
fn forced_crash() {
    panic!("forced engine crash (fault injection)")
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
