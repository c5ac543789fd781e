//! The pool with a gated fake engine: every run announces itself and waits for the test's go,
//! so orders are asserted from events, never from sleeps.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;

/// Long enough for a loaded CI machine, short enough that a broken test fails rather than hangs.
const WAIT: Duration = Duration::from_secs(10);

/// Announces each input when it starts, then runs only when the test says go.
struct Gated {
    started: mpsc::Sender<&'static str>,
    go: mpsc::Receiver<()>,
}

impl Engine for Gated {
    type Input = &'static str;
    type Output = &'static str;

    fn run(&mut self, input: &'static str) -> Result<&'static str, EngineError> {
        let _ = self.started.send(input);
        self.go
            .recv_timeout(WAIT)
            .map_err(|_| EngineError::InvalidInput("the test never said go".into()))?;
        match input {
            "panic" => std::panic::resume_unwind(Box::new("engine bug")),
            "fail" => Err(EngineError::InvalidInput("bad input".into())),
            _ => Ok(input),
        }
    }
}

struct Harness {
    pool: Pool<Gated>,
    started: mpsc::Receiver<&'static str>,
    go: mpsc::Sender<()>,
    metrics: PoolMetrics,
}

impl Harness {
    fn new(slots: usize, queue: usize) -> Self {
        let (started_tx, started) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let metrics = PoolMetrics::unregistered("fake");
        let engine = Gated {
            started: started_tx,
            go: go_rx,
        };
        let pool = Pool::spawn("fake", engine, PoolSize { slots, queue }, metrics.clone())
            .expect("owner thread");
        Harness {
            pool,
            started,
            go,
            metrics,
        }
    }

    /// The next input the engine started.
    fn next_started(&self) -> &'static str {
        self.started
            .recv_timeout(WAIT)
            .expect("the engine started a job")
    }

    fn go(&self) {
        self.go.send(()).expect("engine alive");
    }

    /// (queue depth, active slots) as exported.
    fn gauges(&self) -> (i64, i64) {
        (
            self.metrics.queue_depth.get(),
            self.metrics.slots_active.get(),
        )
    }
}

async fn answer<O>(reply: Reply<O>) -> Result<O, PoolError> {
    tokio::time::timeout(WAIT, reply).await.expect("a reply")
}

fn ahead(ms: u64) -> Priority {
    Priority::ahead_of_playback(Instant::now() + Duration::from_millis(ms))
}

#[tokio::test]
async fn runs_what_a_user_waits_on_first_then_by_deadline_and_skips_the_dropped() {
    let h = Harness::new(8, 0);
    let now = Instant::now();
    let blocker = h.pool.submit("blocker", ahead(0)).unwrap();
    assert_eq!(h.next_started(), "blocker");
    // Queued while the engine is busy, in an order the scheduler must undo.
    let partial = h.pool.submit("partial", ahead(900)).unwrap();
    let later_clause = h.pool.submit("later clause", ahead(300)).unwrap();
    let dropped = h
        .pool
        .submit("dropped", Priority::user_waiting(now))
        .unwrap();
    let final_transcript = h.pool.submit("final", Priority::user_waiting(now)).unwrap();
    let first_clause = h
        .pool
        .submit("first clause", Priority::user_waiting(now))
        .unwrap();
    let same_deadline = h.pool.submit("same deadline", ahead(300)).unwrap();
    drop(dropped);
    assert_eq!(h.gauges(), (5, 6), "5 ready + the running blocker");

    let mut order = Vec::new();
    for _ in 0..6 {
        h.go();
        if order.len() < 5 {
            order.push(h.next_started());
        }
    }
    assert_eq!(
        order,
        [
            "final",
            "first clause",
            "later clause",
            "same deadline",
            "partial"
        ]
    );
    for (reply, want) in [
        (blocker, "blocker"),
        (final_transcript, "final"),
        (first_clause, "first clause"),
        (later_clause, "later clause"),
        (same_deadline, "same deadline"),
        (partial, "partial"),
    ] {
        assert_eq!(answer(reply).await.unwrap(), want);
    }
    assert!(
        h.started.try_recv().is_err(),
        "the dropped request never ran"
    );
    assert_eq!(h.gauges(), (0, 0));
    assert_eq!((h.metrics.ok.get(), h.metrics.cancelled.get()), (6, 1));
}

#[tokio::test]
async fn a_cancelled_requests_late_result_never_reaches_the_next_holder_of_its_slot() {
    let h = Harness::new(1, 0);
    let first = h.pool.submit("first user", ahead(0)).unwrap();
    assert_eq!(h.next_started(), "first user");
    drop(first);
    assert_eq!(h.gauges(), (0, 0), "the slot is free while the engine runs");
    // The only slot goes to a new request while the cancelled one is still running.
    let second = h.pool.submit("second user", ahead(0)).unwrap();
    h.go(); // the first user's result comes back now, and must go nowhere
    assert_eq!(h.next_started(), "second user");
    h.go();
    assert_eq!(answer(second).await.unwrap(), "second user");
    assert_eq!((h.metrics.ok.get(), h.metrics.cancelled.get()), (1, 1));
    assert_eq!(h.gauges(), (0, 0));
}

#[tokio::test]
async fn refuses_when_full_and_keeps_the_gauges_right_when_callers_give_up() {
    let h = Harness::new(1, 1);
    let running = h.pool.submit("running", ahead(0)).unwrap();
    assert_eq!(h.next_started(), "running");
    let waiting = h.pool.submit("waiting", ahead(0)).unwrap();
    assert_eq!(h.gauges(), (1, 1));
    let refused = h
        .pool
        .submit("refused", Priority::user_waiting(Instant::now()));
    assert!(
        matches!(refused, Err(PoolError::NoFreeSlot { engine: "fake" })),
        "an explicit refusal, not a queue"
    );
    assert_eq!(h.metrics.refused.get(), 1);

    drop(waiting);
    assert_eq!(h.gauges(), (0, 1));
    drop(running);
    assert_eq!(h.gauges(), (0, 0));
    h.go();
    // Room again: the pool serves the next request normally.
    let next = h.pool.submit("next", ahead(0)).unwrap();
    assert_eq!(h.next_started(), "next");
    h.go();
    assert_eq!(answer(next).await.unwrap(), "next");
    assert_eq!(h.gauges(), (0, 0));
    assert_eq!(h.metrics.cancelled.get(), 2);
}

#[tokio::test]
async fn a_panicking_or_failing_engine_fails_the_request_not_the_pool() {
    let h = Harness::new(2, 0);
    let panics = h.pool.submit("panic", ahead(0)).unwrap();
    let fails = h.pool.submit("fail", ahead(1)).unwrap();
    for _ in 0..2 {
        h.next_started();
        h.go();
    }
    let err = answer(panics).await.unwrap_err();
    assert!(
        matches!(&err, PoolError::Panicked { message, .. } if message == "engine bug"),
        "{err}"
    );
    assert!(matches!(
        answer(fails).await,
        Err(PoolError::Engine(EngineError::InvalidInput(_)))
    ));
    let after = h.pool.submit("after", ahead(0)).unwrap();
    h.next_started();
    h.go();
    assert_eq!(answer(after).await.unwrap(), "after");
    assert_eq!(h.gauges(), (0, 0));
    let m = &h.metrics;
    assert_eq!((m.panic.get(), m.error.get(), m.ok.get()), (1, 1, 1));
    assert_eq!(m.step_seconds.get_sample_count(), 3);
}

#[tokio::test]
async fn dropping_the_pool_fails_what_is_pending_and_zeroes_the_gauges() {
    let Harness {
        pool,
        started,
        go,
        metrics,
    } = Harness::new(2, 2);
    let running = pool.submit("running", ahead(0)).unwrap();
    assert_eq!(started.recv_timeout(WAIT).unwrap(), "running");
    let ready = pool.submit("ready", ahead(0)).unwrap();
    let waiting = pool.submit("waiting", ahead(0)).unwrap();
    assert_eq!(
        (metrics.queue_depth.get(), metrics.slots_active.get()),
        (2, 2)
    );
    drop(pool);
    go.send(()).unwrap();
    assert_eq!(
        answer(running).await.unwrap(),
        "running",
        "the running one finishes"
    );
    for reply in [ready, waiting] {
        assert!(matches!(
            answer(reply).await,
            Err(PoolError::Stopped { engine: "fake" })
        ));
    }
    assert_eq!(
        (metrics.queue_depth.get(), metrics.slots_active.get()),
        (0, 0)
    );
    assert!(started.try_recv().is_err(), "nothing else ran");
}
