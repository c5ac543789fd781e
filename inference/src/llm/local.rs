//! The local backend: one thread owns the GGUF engine and serves a queue.
//!
//! The thread loads the model, then takes requests one at a time. A panic anywhere in the
//! engine (or a failed load) is caught on the thread: the service turns `Unavailable`,
//! requests queued meanwhile are answered with an error, and the model is reloaded after a
//! backoff. The engine is never shared across threads, so it needs no locks.

use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use goassist_engines::llm::{
    GenerationParams, LlmEngine, LlmEngineConfig, Sampling, StopReason, TokenSink,
};

use super::{Job, LlmEvent, LlmHealth, LlmSettings, LlmStats, Shared};

enum Command {
    Generate(Job),
    Crash,
}

pub(super) struct LocalBackend {
    commands: Sender<Command>,
    shared: Arc<Shared>,
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
            },
            max_new_tokens: settings.max_new_tokens,
            temperature: settings.temperature,
            backoff: settings.restart_backoff,
            shared: shared.clone(),
            inbox,
        };
        let spawned = std::thread::Builder::new()
            .name("llm-engine".into())
            .spawn(move || owner.run());
        if let Err(e) = spawned {
            shared.set_health(LlmHealth::Unavailable {
                reason: format!("cannot start the engine thread: {e}"),
            });
        }
        Self { commands, shared }
    }

    pub(super) fn submit(&self, job: Job) {
        self.shared.queue_depth.fetch_add(1, Ordering::Relaxed);
        if let Err(returned) = self.commands.send(Command::Generate(job)) {
            self.shared.queue_depth.fetch_sub(1, Ordering::Relaxed);
            if let Command::Generate(job) = returned.0 {
                let _ = job
                    .events
                    .try_send(LlmEvent::Error("LLM engine thread has stopped".into()));
            }
        }
    }

    pub(super) fn crash(&self) {
        let _ = self.commands.send(Command::Crash);
    }
}

/// How serving a loaded engine ended.
enum Ended {
    /// The service was dropped.
    Shutdown,
    /// The engine panicked: reload it.
    Crashed(String),
}

struct Owner {
    config: LlmEngineConfig,
    max_new_tokens: usize,
    temperature: f32,
    backoff: super::Backoff,
    shared: Arc<Shared>,
    inbox: Receiver<Command>,
}

impl Owner {
    fn run(self) {
        let mut failures = 0u32;
        loop {
            let started = Instant::now();
            let reason =
                match catch_unwind(AssertUnwindSafe(|| LlmEngine::load(self.config.clone()))) {
                    Ok(Ok(mut engine)) => {
                        tracing::info!(
                            model = engine.model_name(),
                            load_ms = started.elapsed().as_millis() as u64,
                            "LLM engine loaded"
                        );
                        self.shared.set_health(LlmHealth::Ready);
                        failures = 0;
                        match self.serve(&mut engine) {
                            Ended::Shutdown => return,
                            Ended::Crashed(reason) => reason,
                        }
                    }
                    Ok(Err(e)) => format!("LLM model failed to load: {e}"),
                    Err(panic) => format!("LLM model load panicked: {}", panic_message(&*panic)),
                };
            self.shared.set_health(LlmHealth::Unavailable {
                reason: reason.clone(),
            });
            let delay = self.backoff.delay(failures);
            failures = failures.saturating_add(1);
            if !self.refuse_until(Instant::now() + delay, &reason) {
                return;
            }
            self.shared.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::info!(attempt = failures, "restarting the LLM engine");
        }
    }

    /// Serves requests until the service is dropped or the engine panics.
    fn serve(&self, engine: &mut LlmEngine) -> Ended {
        loop {
            let Ok(command) = self.inbox.recv() else {
                return Ended::Shutdown;
            };
            let job = match command {
                Command::Crash => {
                    let reason = match catch_unwind(forced_crash) {
                        Err(panic) => panic_message(&*panic),
                        Ok(()) => "forced engine crash".into(),
                    };
                    return Ended::Crashed(format!("LLM engine panicked: {reason}"));
                }
                Command::Generate(job) => job,
            };
            self.shared.queue_depth.fetch_sub(1, Ordering::Relaxed);
            if job.abandoned() {
                continue;
            }
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.answer(engine, &job))) {
                let reason = format!("LLM engine panicked: {}", panic_message(&*panic));
                let _ = job.events.blocking_send(LlmEvent::Error(reason.clone()));
                return Ended::Crashed(reason);
            }
        }
    }

    fn answer(&self, engine: &mut LlmEngine, job: &Job) {
        let picked_up = Instant::now();
        let params = GenerationParams {
            max_new_tokens: self.max_new_tokens,
            sampling: Sampling::from_temperature(self.temperature, job.seed),
        };
        let mut sink = ChannelSink {
            job,
            first_token: None,
        };
        let outcome = engine.generate(&job.request.messages, &params, &mut sink);
        let first_token = sink.first_token;
        let event = match outcome {
            Ok(stats) => {
                if stats.stop == StopReason::Cancelled {
                    return;
                }
                LlmEvent::Done(LlmStats {
                    prompt_tokens: stats.prompt_tokens,
                    reused_prompt_tokens: stats.reused_prompt_tokens,
                    generated_tokens: stats.generated_tokens,
                    queue_wait: picked_up - job.submitted,
                    time_to_first_token: first_token.unwrap_or_else(Instant::now) - job.submitted,
                    total: job.submitted.elapsed(),
                })
            }
            Err(e) => LlmEvent::Error(e.to_string()),
        };
        let _ = job.events.blocking_send(event);
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
                Ok(Command::Generate(job)) => {
                    self.shared.queue_depth.fetch_sub(1, Ordering::Relaxed);
                    let _ = job
                        .events
                        .try_send(LlmEvent::Error(format!("LLM unavailable: {reason}")));
                }
                Ok(Command::Crash) => {}
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }
}

/// Streams text into the request's channel; stops when the request is cancelled or its
/// receiver is gone.
struct ChannelSink<'a> {
    job: &'a Job,
    first_token: Option<Instant>,
}

impl TokenSink for ChannelSink<'_> {
    fn on_text(&mut self, text: &str) -> ControlFlow<()> {
        self.first_token.get_or_insert_with(Instant::now);
        if self.job.cancel.is_cancelled() {
            return ControlFlow::Break(());
        }
        match self
            .job
            .events
            .blocking_send(LlmEvent::Token(text.to_string()))
        {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.job.abandoned()
    }
}

/// The test hook's crash: a real panic on the engine thread.
fn forced_crash() {
    panic!("forced engine crash (test hook)")
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
