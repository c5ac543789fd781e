//! The remote LLM backend against a small OpenAI-compatible SSE server started here on
//! 127.0.0.1 (a stand-in for vLLM: same endpoints and stream format, canned answers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use goassist_inference::llm::{
    BackendKind, Backoff, ChatMessage, ChatRequest, LlmEvent, LlmHealth, LlmService, LlmSettings,
    RemoteSettings, Secret,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const KEY: &str = "test-key-123";

#[derive(Default)]
struct StandIn {
    requests: AtomicUsize,
    last_body: std::sync::Mutex<Option<serde_json::Value>>,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {KEY}"))
}

async fn models(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(serde_json::json!({"object": "list", "data": [{"id": "stand-in"}]})).into_response()
}

async fn completions(
    State(state): State<Arc<StandIn>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(request) = serde_json::from_str::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    state.requests.fetch_add(1, Ordering::SeqCst);
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    *state.last_body.lock().unwrap() = Some(request);
    // "count" asks for a long, slow answer (for cancellation); anything else gets a short one.
    let words: Vec<String> = if last.contains("count") {
        (1..=200).map(|i| format!("{i} ")).collect()
    } else {
        ["The ", "capital ", "of ", "France ", "is ", "Paris."]
            .iter()
            .map(|w| w.to_string())
            .collect()
    };
    let total = words.len();
    let events = futures_util::stream::unfold(0usize, move |i| {
        let words = words.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let data = match i {
                i if i < total => serde_json::json!({
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": words[i]}, "finish_reason": null}]
                })
                .to_string(),
                i if i == total => serde_json::json!({
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 17, "completion_tokens": total}
                })
                .to_string(),
                i if i == total + 1 => "[DONE]".to_string(),
                _ => return None,
            };
            Some((Ok::<_, std::io::Error>(format!("data: {data}\n\n")), i + 1))
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(events))
        .unwrap()
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn serve(listener: TcpListener, state: Arc<StandIn>) -> Server {
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(completions))
        .with_state(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server { stop, task }
}

impl Server {
    async fn shut_down(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

fn settings(addr: SocketAddr) -> LlmSettings {
    settings_for(format!("http://{addr}/"))
}

fn settings_for(base_url: String) -> LlmSettings {
    LlmSettings {
        backend: BackendKind::Remote(RemoteSettings {
            base_url,
            api_key: Some(Secret::new(KEY)),
            model: "stand-in".into(),
            timeout: Duration::from_secs(2),
        }),
        model_path: "/unused".into(),
        max_new_tokens: 64,
        restart_backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        health_probe_interval: Duration::from_millis(100),
        ..Default::default()
    }
}

async fn wait_for(service: &LlmService, want: impl Fn(&LlmHealth) -> bool, what: &str) {
    let mut health = service.subscribe_health();
    tokio::time::timeout(Duration::from_secs(10), health.wait_for(|h| want(h)))
        .await
        .unwrap_or_else(|_| panic!("no {what}: {:?}", service.health()))
        .unwrap();
}

fn ask(question: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user(question)],
    }
}

#[tokio::test]
async fn streams_tokens_from_an_openai_compatible_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(StandIn::default());
    let server = serve(listener, state.clone()).await;
    let service = LlmService::start(settings(addr));
    wait_for(&service, LlmHealth::is_ready, "Ready").await;

    let mut events = service.generate(
        ask("What is the capital of France?"),
        CancellationToken::new(),
    );
    let mut pieces = Vec::new();
    let stats = loop {
        match events.recv().await.expect("events until Done") {
            LlmEvent::Token(t) => pieces.push(t),
            LlmEvent::Done(stats) => break stats,
            LlmEvent::Error(e) => panic!("{e}"),
        }
    };
    assert_eq!(pieces.concat(), "The capital of France is Paris.");
    assert_eq!(pieces.len(), 6, "streamed piece by piece");
    assert_eq!((stats.prompt_tokens, stats.generated_tokens), (17, 6));
    assert!(stats.time_to_first_token > Duration::ZERO && stats.time_to_first_token <= stats.total);

    let body = state.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "stand-in");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(
        body["messages"][0]["role"], "system",
        "configured system prompt sent"
    );
    assert_eq!(
        body["messages"][1]["content"],
        "What is the capital of France?"
    );

    // Cancelling mid-answer stops the stream early.
    let cancel = CancellationToken::new();
    let mut events = service.generate(ask("please count"), cancel.clone());
    let mut received = 0;
    while let Some(event) = events.recv().await {
        assert!(matches!(event, LlmEvent::Token(_)), "{event:?}");
        received += 1;
        if received == 3 {
            cancel.cancel();
        }
    }
    assert!(received < 10, "{received} tokens despite cancel");
    assert_eq!(service.restarts(), 0);
    // An operator's restart has nothing to act on here: it says where to restart instead.
    let refused = service
        .restart()
        .expect_err("a remote LLM is not restarted from here");
    assert!(refused.contains("LLM_BASE_URL"), "{refused}");
    server.shut_down().await;
}

/// deploy/config.yaml names the server by its API root (`…/v1`); the host alone works too.
#[tokio::test]
async fn base_urls_with_and_without_v1_reach_the_same_endpoints() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve(listener, Arc::new(StandIn::default())).await;
    for base in [
        format!("http://{addr}"),
        format!("http://{addr}/v1"),
        format!("http://{addr}/v1/"),
    ] {
        let service = LlmService::start(settings_for(base.clone()));
        wait_for(&service, LlmHealth::is_ready, &format!("Ready with {base}")).await;
        let mut events = service.generate(
            ask("What is the capital of France?"),
            CancellationToken::new(),
        );
        let mut answer = String::new();
        loop {
            match events.recv().await.expect("events until Done") {
                LlmEvent::Token(t) => answer.push_str(&t),
                LlmEvent::Done(_) => break,
                LlmEvent::Error(e) => panic!("{base}: {e}"),
            }
        }
        assert_eq!(answer, "The capital of France is Paris.", "{base}");
    }
    server.shut_down().await;
}

#[tokio::test]
async fn server_down_is_unavailable_and_recovery_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(StandIn::default());
    let server = serve(listener, state.clone()).await;
    let service = LlmService::start(settings(addr));
    wait_for(&service, LlmHealth::is_ready, "Ready").await;

    server.shut_down().await;
    wait_for(
        &service,
        |h| matches!(h, LlmHealth::Unavailable { .. }),
        "Unavailable",
    )
    .await;
    let mut events = service.generate(ask("Anyone there?"), CancellationToken::new());
    match events.recv().await {
        Some(LlmEvent::Error(e)) => {
            let e = e.to_string();
            assert!(e.contains("unavailable") || e.contains("LLM server"), "{e}")
        }
        other => panic!("{other:?}"),
    }

    // Back up on the same address.
    let listener = TcpListener::bind(addr)
        .await
        .expect("rebind the stand-in's port");
    let server = serve(listener, state.clone()).await;
    wait_for(&service, LlmHealth::is_ready, "Ready again").await;
    assert!(service.restarts() >= 1);
    let text = whole_answer(&service, "Hello again").await.unwrap();
    assert!(text.contains("Paris"));
    server.shut_down().await;
}

#[tokio::test]
async fn a_wrong_api_key_never_becomes_ready_and_the_key_is_not_shown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve(listener, Arc::new(StandIn::default())).await;
    let mut settings = settings(addr);
    if let BackendKind::Remote(remote) = &mut settings.backend {
        remote.api_key = Some(Secret::new("wrong-secret-value"));
    }
    let service = LlmService::start(settings);
    wait_for(
        &service,
        |h| matches!(h, LlmHealth::Unavailable { .. }),
        "Unavailable",
    )
    .await;
    let LlmHealth::Unavailable { reason } = service.health() else {
        unreachable!()
    };
    assert!(reason.contains("401"), "{reason}");
    assert!(!format!("{service:?} {reason}").contains("wrong-secret-value"));
    server.shut_down().await;
}

/// A server that takes each chat request and then hangs up without answering, `hang_ups` times,
/// before it answers one (a short canned stream, `Connection: close`). `/v1/models` always
/// answers. What a keep-alive connection closed as the request goes out looks like, and a
/// busy llama.cpp server dropping one.
async fn hanging_up_server(
    listener: TcpListener,
    hang_ups: usize,
    chat_requests: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let chat_requests = chat_requests.clone();
        tokio::spawn(async move {
            // The head, then as much body as Content-Length says.
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            };
            let head = String::from_utf8_lossy(&request[..head_end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while request.len() < head_end + length {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let response = if head.starts_with("get /v1/models") {
                let body = r#"{"object":"list","data":[{"id":"stand-in"}]}"#;
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                if chat_requests.fetch_add(1, Ordering::SeqCst) < hang_ups {
                    return; // dropped: the connection closes with the request read, unanswered
                }
                let piece = |text: &str| {
                    let chunk =
                        serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]});
                    format!("data: {chunk}\n\n")
                };
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
                     {}{}data: [DONE]\n\n",
                    piece("Paris "),
                    piece("it is.")
                )
            };
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}

/// Every event of one answer, to its end.
async fn whole_answer(service: &LlmService, question: &str) -> Result<String, String> {
    let mut events = service.generate(ask(question), CancellationToken::new());
    let mut text = String::new();
    loop {
        match events.recv().await {
            Some(LlmEvent::Token(t)) => text.push_str(&t),
            Some(LlmEvent::Done(_)) => return Ok(text),
            Some(LlmEvent::Error(e)) => return Err(e.to_string()),
            None => return Err("the stream ended without Done".into()),
        }
    }
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_sent_again_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chat_requests = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(hanging_up_server(listener, 1, chat_requests.clone()));
    let service = LlmService::start(settings(addr));
    wait_for(&service, LlmHealth::is_ready, "Ready").await;

    let text = whole_answer(&service, "What is the capital of France?").await;
    assert_eq!(text.as_deref(), Ok("Paris it is."));
    assert_eq!(chat_requests.load(Ordering::SeqCst), 2, "sent twice");
    assert_eq!(
        service.health(),
        LlmHealth::Ready,
        "a dropped connection is no outage"
    );
    server.abort();
}

#[tokio::test]
async fn a_server_that_keeps_hanging_up_fails_the_answer_after_the_second_try() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chat_requests = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(hanging_up_server(
        listener,
        usize::MAX,
        chat_requests.clone(),
    ));
    let service = LlmService::start(settings(addr));
    wait_for(&service, LlmHealth::is_ready, "Ready").await;

    let error = whole_answer(&service, "What is the capital of France?")
        .await
        .expect_err("no answer from a server that always hangs up");
    assert_eq!(
        chat_requests.load(Ordering::SeqCst),
        2,
        "two tries, no more"
    );
    // The log's message names the transport's cause, not just reqwest's "error sending request".
    assert!(
        error.starts_with("LLM server request failed: error sending request: ")
            && error.len() > "LLM server request failed: error sending request: ".len(),
        "{error}"
    );
    server.abort();
}
