//! Shared model workers: one thread owns a model and serves every session's requests.
//!
//! The batched-inference pattern (moshi's slot table, simplified for CPU): a sync inbox, a reply
//! channel per request, and a worker thread that never runs on the async reactor. A request whose
//! reply receiver was dropped (the session moved on: barge-in, a newer partial) is skipped
//! without running the model. ASR finals go before partials, so a partial never delays the
//! end-of-turn transcript.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

/// What a worker hands back.
pub type Reply<T> = oneshot::Receiver<Result<T, String>>;

struct Job<I, O> {
    input: I,
    urgent: bool,
    enqueued: Instant,
    reply: oneshot::Sender<Result<O, String>>,
}

/// (urgent jobs, other jobs, shutting down).
type Queues<I, O> = (VecDeque<Job<I, O>>, VecDeque<Job<I, O>>, bool);

struct Inbox<I, O> {
    queue: Mutex<Queues<I, O>>,
    ready: Condvar,
}

/// A model owned by one thread, fed through a queue.
pub struct Worker<I, O> {
    inbox: Arc<Inbox<I, O>>,
    name: &'static str,
}

impl<I: Send + 'static, O: Send + 'static> Worker<I, O> {
    /// Starts the thread. `run` is called for each live request, in queue order (urgent first);
    /// `on_done` sees how long each request waited and ran.
    pub fn spawn<M, F>(name: &'static str, mut model: M, mut run: F) -> Self
    where
        M: Send + 'static,
        F: FnMut(&mut M, I) -> Result<O, String> + Send + 'static,
    {
        let inbox: Arc<Inbox<I, O>> = Arc::new(Inbox {
            queue: Mutex::new((VecDeque::new(), VecDeque::new(), false)),
            ready: Condvar::new(),
        });
        let thread_inbox = Arc::clone(&inbox);
        let spawned = std::thread::Builder::new()
            .name(format!("goassist-{name}"))
            .spawn(move || {
                loop {
                    let job = {
                        let mut queue =
                            thread_inbox.queue.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if queue.2 {
                                return;
                            }
                            if let Some(job) = queue.0.pop_front().or_else(|| queue.1.pop_front()) {
                                break job;
                            }
                            queue = thread_inbox
                                .ready
                                .wait(queue)
                                .unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    if job.reply.is_closed() {
                        continue;
                    }
                    let started = Instant::now();
                    // A panic in the model must not take the worker (and every session) down.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run(&mut model, job.input)
                    }))
                    .unwrap_or_else(|_| Err(format!("{name} panicked")));
                    tracing::trace!(
                        worker = name,
                        urgent = job.urgent,
                        wait_ms = (started - job.enqueued).as_millis() as u64,
                        run_ms = started.elapsed().as_millis() as u64,
                        "job done"
                    );
                    let _ = job.reply.send(result);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(worker = name, error = %e, "cannot start worker thread");
        }
        Worker { inbox, name }
    }

    /// Queues a request; `urgent` ones go before the others.
    pub fn submit(&self, input: I, urgent: bool) -> Reply<O> {
        let (reply, receiver) = oneshot::channel();
        let job = Job {
            input,
            urgent,
            enqueued: Instant::now(),
            reply,
        };
        let mut queue = self.inbox.queue.lock().unwrap_or_else(|e| e.into_inner());
        if urgent {
            queue.0.push_back(job);
        } else {
            queue.1.push_back(job);
        }
        drop(queue);
        self.inbox.ready.notify_one();
        receiver
    }

    /// Requests waiting (not counting the one running).
    pub fn queue_depth(&self) -> usize {
        let queue = self.inbox.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.0.len() + queue.1.len()
    }

    /// The worker's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<I, O> Drop for Worker<I, O> {
    fn drop(&mut self) {
        self.inbox.queue.lock().unwrap_or_else(|e| e.into_inner()).2 = true;
        self.inbox.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urgent_jobs_jump_the_queue_and_dropped_ones_are_skipped() {
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&ran);
        let worker = Worker::spawn("test", gate_rx, move |gate, n: u32| {
            if n == 0 {
                let _ = gate.recv();
            }
            log.lock().unwrap().push(n);
            Ok(n * 10)
        });
        let first = worker.submit(0, false);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let slow = worker.submit(1, false);
        let dropped = worker.submit(2, false);
        let urgent = worker.submit(3, true);
        drop(dropped);
        gate_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(0));
        assert_eq!(urgent.await.unwrap(), Ok(30));
        assert_eq!(slow.await.unwrap(), Ok(10));
        assert_eq!(*ran.lock().unwrap(), vec![0, 3, 1]);
    }

    #[tokio::test]
    async fn a_panicking_model_fails_the_request_not_the_worker() {
        let worker = Worker::spawn(
            "panicky",
            (),
            |_, n: u32| if n == 1 { panic!("boom") } else { Ok(n) },
        );
        assert!(
            worker
                .submit(1, false)
                .await
                .unwrap()
                .unwrap_err()
                .contains("panicked")
        );
        assert_eq!(worker.submit(2, false).await.unwrap(), Ok(2));
    }
}
