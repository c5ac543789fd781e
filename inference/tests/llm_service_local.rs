//! The local LLM service: one engine thread behind a queue, streaming, cancellation, and
//! recovery from a crashed or unloadable engine (SmolLM2, the small model).

use std::time::{Duration, Instant};

use goassist_inference::llm::{
    Backoff, ChatMessage, ChatRequest, LlmEvent, LlmHealth, LlmService, LlmSettings, LlmStats,
};
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

fn models_dir() -> std::path::PathBuf {
    goassist_engines::test_models_dir()
}

fn settings() -> LlmSettings {
    let dir = models_dir().join("llm");
    let q8 = dir.join("smollm2-135m-instruct-q8.gguf");
    LlmSettings {
        model_path: if q8.exists() {
            q8
        } else {
            dir.join("smollm2-135m-instruct-q4_1.gguf")
        },
        max_new_tokens: 24,
        max_context_tokens: 2048,
        restart_backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        ..Default::default()
    }
}

async fn wait_for(service: &LlmService, want: impl Fn(&LlmHealth) -> bool, what: &str) {
    let mut health = service.subscribe_health();
    let deadline = Duration::from_secs(90);
    tokio::time::timeout(deadline, health.wait_for(|h| want(h)))
        .await
        .unwrap_or_else(|_| panic!("no {what} within {deadline:?}: {:?}", service.health()))
        .expect("health channel open");
}

fn ask(question: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user(question)],
    }
}

/// Collects a whole answer: its text and final stats.
async fn collect(mut events: Receiver<LlmEvent>) -> (String, Result<LlmStats, String>) {
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        match event {
            LlmEvent::Token(t) => text.push_str(&t),
            LlmEvent::Done(stats) => return (text, Ok(stats)),
            LlmEvent::Error(e) => return (text, Err(e)),
        }
    }
    (text, Err("channel closed without Done".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_answers_through_one_queue() {
    let service = LlmService::start(settings());
    assert_eq!(service.health(), LlmHealth::Loading);
    wait_for(&service, LlmHealth::is_ready, "Ready").await;

    let questions = ["Say hello.", "Name a fruit.", "Name a colour."];
    let receivers: Vec<_> = questions
        .iter()
        .map(|q| service.generate(ask(q), CancellationToken::new()))
        .collect();
    // One runs, the others wait in the queue.
    let depth = service.queue_depth();
    assert!(depth >= 1, "queue depth {depth}");

    let mut waits = Vec::new();
    for rx in receivers {
        let (text, stats) = collect(rx).await;
        let stats = stats.expect("answer");
        assert!(!text.trim().is_empty());
        assert!(stats.generated_tokens > 0 && stats.prompt_tokens > 0);
        assert!(stats.time_to_first_token <= stats.total);
        waits.push(stats.queue_wait);
    }
    // The last request waited for the two before it.
    assert!(waits[2] > waits[0], "{waits:?}");
    assert_eq!(service.queue_depth(), 0);
    assert_eq!(service.restarts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_the_answer_and_the_engine_moves_on() {
    let service = LlmService::start(LlmSettings {
        max_new_tokens: 200,
        ..settings()
    });
    wait_for(&service, LlmHealth::is_ready, "Ready").await;
    let cancel = CancellationToken::new();
    let mut events = service.generate(
        ask("Count from one to one hundred in words."),
        cancel.clone(),
    );
    let first = tokio::time::timeout(Duration::from_secs(60), events.recv())
        .await
        .unwrap();
    assert!(matches!(first, Some(LlmEvent::Token(_))), "{first:?}");
    let cancelled_at = Instant::now();
    cancel.cancel();
    let mut after = 0;
    while let Some(event) = events.recv().await {
        assert!(!matches!(event, LlmEvent::Done(_)), "no Done after cancel");
        after += 1;
    }
    // At most the tokens already buffered or in flight arrive after the cancel.
    assert!(after <= 2, "{after} events after cancel");
    println!("channel closed {:?} after cancel", cancelled_at.elapsed());
    let (text, stats) = collect(service.generate(ask("Say yes."), CancellationToken::new())).await;
    assert!(stats.is_ok() && !text.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_engine_is_reported_and_restarted() {
    let service = LlmService::start(settings());
    wait_for(&service, LlmHealth::is_ready, "Ready").await;
    let mut health = service.subscribe_health();
    service.crash_engine_for_test();
    tokio::time::timeout(
        Duration::from_secs(10),
        health.wait_for(|h| matches!(h, LlmHealth::Unavailable { .. })),
    )
    .await
    .expect("Unavailable after the crash")
    .unwrap();
    match service.health() {
        LlmHealth::Unavailable { reason } => assert!(reason.contains("panicked"), "{reason}"),
        LlmHealth::Ready => {} // already reloaded
        other => panic!("{other:?}"),
    }
    wait_for(&service, LlmHealth::is_ready, "Ready after restart").await;
    assert_eq!(service.restarts(), 1);
    let (text, stats) = collect(service.generate(ask("Say hi."), CancellationToken::new())).await;
    assert!(stats.is_ok() && !text.is_empty(), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unloadable_model_is_unavailable_and_retried() {
    let service = LlmService::start(LlmSettings {
        model_path: models_dir().join("llm/no-such-model.gguf"),
        ..settings()
    });
    wait_for(
        &service,
        |h| matches!(h, LlmHealth::Unavailable { .. }),
        "Unavailable",
    )
    .await;
    let LlmHealth::Unavailable { reason } = service.health() else {
        panic!("{:?}", service.health())
    };
    assert!(reason.contains("no-such-model.gguf"), "{reason}");
    // Requests get an explicit error instead of hanging.
    let (_, outcome) = collect(service.generate(ask("Hello?"), CancellationToken::new())).await;
    assert!(outcome.unwrap_err().contains("unavailable"));
    // It keeps trying with backoff.
    let deadline = Instant::now() + Duration::from_secs(10);
    while service.restarts() < 2 {
        assert!(
            Instant::now() < deadline,
            "no retries: {}",
            service.restarts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
