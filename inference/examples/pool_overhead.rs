//! The engine pool's own cost per request: submit → reply with an engine that does nothing, so
//! what is measured is the slot table, the owner thread's wake-up and the reply's wake-up.
//!
//! ```text
//! cargo build --workspace --release --example pool_overhead
//! target/release/examples/pool_overhead [--requests 20000] [--concurrent 8]
//! ```
//!
//! Two runs: one request at a time (the latency a session sees), then `--concurrent` tasks
//! submitting at once (the table under contention). Prints median, p95 and p99 in microseconds
//! and the load average before and after; on a busy machine it says the figures are not fit to
//! publish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goassist_engines::EngineError;
use goassist_inference::engine_pool::{Engine, Pool, PoolSize, Priority};
use goassist_inference::metrics::PoolMetrics;

/// Hands its input straight back.
struct NoOp;

impl Engine for NoOp {
    type Input = u64;
    type Output = u64;

    fn run(&mut self, input: u64) -> Result<u64, EngineError> {
        Ok(input)
    }
}

fn main() {
    let mut requests = 20_000usize;
    let mut concurrent = 8usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--requests", Some(n)) if n > 0 => requests = n,
            ("--concurrent", Some(n)) if n > 0 => concurrent = n,
            _ => {
                eprintln!("usage: pool_overhead [--requests N] [--concurrent N]");
                std::process::exit(64);
            }
        }
    }
    let load_before = load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let size = PoolSize {
        slots: concurrent.max(1),
        queue: concurrent.max(1),
    };
    let pool = Arc::new(
        Pool::spawn("noop", NoOp, size, PoolMetrics::unregistered("noop")).expect("owner thread"),
    );

    let sequential = runtime.block_on(one_at_a_time(&pool, requests));
    let contended = runtime.block_on(at_once(&pool, requests, concurrent));
    let load_after = load_average();

    let build = if cfg!(debug_assertions) {
        "dev profile (not representative: build with --release)"
    } else {
        "release"
    };
    println!("engine pool overhead, no-op engine, {requests} requests, {build}");
    report("one at a time", sequential);
    report(&format!("{concurrent} at once"), contended);
    println!("load average before: {load_before}; after: {load_after}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let busiest = [&load_before, &load_after]
        .iter()
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    if busiest > cores / 2.0 {
        println!(
            "the machine is busy (1-min load {busiest:.1} on {cores} cores): these figures are not fit to publish"
        );
    }
}

/// Submit, await, repeat: the latency one session sees.
async fn one_at_a_time(pool: &Pool<NoOp>, requests: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests as u64 {
        let started = Instant::now();
        let reply = pool
            .submit(i, Priority::user_waiting(started))
            .expect("admitted");
        assert_eq!(reply.await.expect("answered"), i);
        times.push(started.elapsed());
    }
    times
}

/// `tasks` tasks each submitting their share one at a time, all at once.
async fn at_once(pool: &Arc<Pool<NoOp>>, requests: usize, tasks: usize) -> Vec<Duration> {
    let per_task = requests.div_ceil(tasks);
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let pool = Arc::clone(pool);
            tokio::spawn(async move { one_at_a_time(&pool, per_task).await })
        })
        .collect();
    let mut times = Vec::with_capacity(requests);
    for handle in handles {
        times.extend(handle.await.expect("task"));
    }
    times
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: f64| {
        let rank = (p * (times.len() - 1) as f64).round() as usize;
        times[rank].as_secs_f64() * 1e6
    };
    println!(
        "{label:>14}: median {:7.1} µs   p95 {:7.1} µs   p99 {:7.1} µs",
        at(0.50),
        at(0.95),
        at(0.99)
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
