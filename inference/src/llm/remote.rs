//! The remote backend: a streaming client for OpenAI-compatible servers (vLLM, llama.cpp
//! server, Ollama), with a bounded number of requests in flight and a reconnecting health
//! probe.
//!
//! Health comes from `GET /v1/models` every `health_probe_interval`; after a failure (or a
//! request that could not connect) it is probed again with backoff until it answers, and each
//! recovery counts as a restart. Requests are refused with an error while it is down.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::backend::{AnswerJob, LlmBackend};
use super::sse::{Chunk, SseDecoder, parse_chunk};
use super::{
    ChatMessage, LlmError, LlmEvent, LlmHealth, LlmSettings, LlmStats, RemoteSettings, Shared,
};

/// Rough characters per token, to trim history without the server's tokenizer.
const CHARS_PER_TOKEN: usize = 4;

pub(super) struct RemoteBackend {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    remote: RemoteSettings,
    settings: LlmSettings,
    shared: Arc<Shared>,
    in_flight: Semaphore,
    /// Wakes the probe early when a request found the server unreachable.
    probe_now: Notify,
}

#[derive(Serialize)]
struct CompletionRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    max_tokens: usize,
    temperature: f32,
    seed: u64,
    stream_options: StreamOptions,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// How long an idle connection to the server is kept for reuse. OpenAI-compatible servers
/// close idle keep-alive connections after 5 s (llama.cpp's server, vLLM's uvicorn); a request
/// sent on one just as the server closes it fails ("error sending request"), and the health
/// probe, every 5 s by default, would leave connections idle for just about that long. So the
/// client lets them go well before.
const IDLE_CONNECTION_KEPT: Duration = Duration::from_secs(2);

/// How many times a request is sent when the server closes the connection before answering.
/// That happens to a pooled keep-alive connection the server lets go just as the request goes
/// out, and to one a busy server drops (llama.cpp's HTTP threads are few). Nothing of the answer
/// has reached the user then, and a server that did start decoding stops at its next token, as
/// it does for a barge-in; so one more try, on a new connection, is safe. (OpenAI's own client
/// libraries retry such connection errors twice.)
const SEND_ATTEMPTS: usize = 2;

/// Why a request failed, and whether it says the server is down.
struct Failure {
    message: String,
    server_down: bool,
}

impl RemoteBackend {
    pub(super) fn start(
        settings: &LlmSettings,
        remote: RemoteSettings,
        shared: Arc<Shared>,
        shutdown: CancellationToken,
    ) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(remote.timeout)
            .read_timeout(remote.timeout)
            .pool_idle_timeout(IDLE_CONNECTION_KEPT)
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "HTTP client set-up failed; using defaults");
                reqwest::Client::new()
            });
        let inner = Arc::new(Inner {
            client,
            remote,
            settings: settings.clone(),
            shared,
            in_flight: Semaphore::new(settings.max_batch_size.max(1)),
            probe_now: Notify::new(),
        });
        tokio::spawn(probe_loop(inner.clone(), shutdown));
        Self { inner }
    }
}

impl LlmBackend for RemoteBackend {
    fn generate(&self, mut job: AnswerJob) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let permit = tokio::select! {
                permit = inner.in_flight.acquire() => permit.ok(),
                _ = job.cancel.cancelled() => None,
                _ = job.closed() => None,
            };
            let Some(_permit) = permit else { return };
            job.picked_up();
            let picked_up = Instant::now();
            let outcome = tokio::select! {
                outcome = inner.stream_answer(&job, picked_up) => outcome,
                _ = job.cancel.cancelled() => return,
            };
            match outcome {
                Ok(Some(stats)) => {
                    job.finish_async(LlmEvent::Done(stats)).await;
                }
                Ok(None) => {}
                Err(failure) => {
                    let error = if failure.server_down {
                        inner.shared.set_health(LlmHealth::Unavailable {
                            reason: failure.message.clone(),
                        });
                        inner.probe_now.notify_one();
                        LlmError::Unavailable {
                            reason: failure.message,
                        }
                    } else {
                        LlmError::Failed(failure.message)
                    };
                    job.finish_async(LlmEvent::Error(error)).await;
                }
            }
        });
    }
}

impl Inner {
    /// `path` (which starts with `/v1/`) on the server. OpenAI-compatible servers are usually
    /// named by their API root (`http://vllm:8000/v1`, as deploy/config.yaml shows), sometimes by
    /// the host alone: both forms reach the same endpoints.
    fn url(&self, path: &str) -> String {
        let base = self.remote.base_url.trim_end_matches('/');
        let host = base.strip_suffix("/v1").unwrap_or(base);
        format!("{host}{path}")
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.remote.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        }
    }

    /// Sends the request and waits for the response's head. A connection the server closes
    /// before it answers is tried once more on a new one (see `SEND_ATTEMPTS`).
    async fn send_completion(&self, body: Vec<u8>) -> Result<reqwest::Response, Failure> {
        let mut attempt = 1;
        loop {
            let request = self
                .authorized(self.client.post(self.url("/v1/chat/completions")))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .body(body.clone());
            let sent = tokio::time::timeout(self.remote.timeout, request.send())
                .await
                .map_err(|_| Failure {
                    message: format!("LLM server did not answer within {:?}", self.remote.timeout),
                    server_down: true,
                })?;
            match sent {
                Ok(response) => return Ok(response),
                Err(e) if attempt < SEND_ATTEMPTS && closed_before_answering(&e) => {
                    tracing::info!(attempt, error = %without_url(&e), "LLM request sent again");
                    attempt += 1;
                }
                Err(e) => {
                    return Err(Failure {
                        server_down: e.is_connect() || e.is_timeout(),
                        message: format!("LLM server request failed: {}", without_url(&e)),
                    });
                }
            }
        }
    }

    /// Streams one answer into the job's channel. `Ok(None)`: the receiver went away.
    async fn stream_answer(
        &self,
        job: &AnswerJob,
        picked_up: Instant,
    ) -> Result<Option<LlmStats>, Failure> {
        let messages = trim_to_budget(
            super::with_system_prompt(&job.request.messages, &self.settings.system_prompt),
            self.settings
                .max_context_tokens
                .saturating_sub(self.settings.max_new_tokens),
        );
        let body = CompletionRequest {
            model: &self.remote.model,
            messages: messages
                .iter()
                .map(|m| WireMessage {
                    role: m.role.as_str(),
                    content: &m.content,
                })
                .collect(),
            stream: true,
            max_tokens: self.settings.max_new_tokens,
            temperature: self.settings.temperature.max(0.0),
            seed: job.seed,
            stream_options: StreamOptions {
                include_usage: true,
            },
        };
        let body = serde_json::to_vec(&body).map_err(|e| Failure {
            message: format!("cannot encode the request: {e}"),
            server_down: false,
        })?;
        let response = self.send_completion(body).await?;
        let status = response.status();
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            return Err(Failure {
                message: format!(
                    "LLM server answered {status}: {}",
                    detail.chars().take(200).collect::<String>()
                ),
                server_down: status.is_server_error(),
            });
        }

        let mut response = response;
        let mut decoder = SseDecoder::default();
        let mut stats = LlmStats {
            prompt_tokens: 0,
            reused_prompt_tokens: 0,
            generated_tokens: 0,
            queue_wait: picked_up - job.submitted,
            time_to_first_token: Duration::ZERO,
            total: Duration::ZERO,
        };
        let mut counted_pieces = 0;
        let mut usage = None;
        loop {
            let bytes = match response.chunk().await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure {
                        server_down: e.is_timeout() || e.is_connect(),
                        message: format!("LLM stream broke: {}", without_url(&e)),
                    });
                }
            };
            let events = decoder.push(&bytes).map_err(|e| Failure {
                message: e.to_string(),
                server_down: false,
            })?;
            for event in events {
                match parse_chunk(&event.data).map_err(|e| Failure {
                    message: e.to_string(),
                    server_down: false,
                })? {
                    Chunk::Done => return Ok(Some(finish(stats, usage, counted_pieces, job))),
                    Chunk::Content(content) => {
                        if content.usage.is_some() {
                            usage = content.usage;
                        }
                        if content.text.is_empty() {
                            continue;
                        }
                        if counted_pieces == 0 {
                            stats.time_to_first_token = job.submitted.elapsed();
                        }
                        counted_pieces += 1;
                        if !job.send_async(LlmEvent::Token(content.text)).await {
                            return Ok(None);
                        }
                    }
                }
            }
        }
        // Some servers end the stream without `[DONE]`.
        Ok(Some(finish(stats, usage, counted_pieces, job)))
    }

    /// One health probe: `GET /v1/models` answering 2xx.
    async fn probe(&self) -> Result<(), String> {
        let request = self.authorized(self.client.get(self.url("/v1/models")));
        match tokio::time::timeout(self.remote.timeout, request.send()).await {
            Err(_) => Err(format!(
                "LLM server did not answer within {:?}",
                self.remote.timeout
            )),
            Ok(Err(e)) => Err(format!("LLM server unreachable: {}", without_url(&e))),
            Ok(Ok(r)) if r.status().is_success() => Ok(()),
            Ok(Ok(r)) => Err(format!("LLM server health probe answered {}", r.status())),
        }
    }
}

fn finish(
    mut stats: LlmStats,
    usage: Option<(usize, usize)>,
    pieces: usize,
    job: &AnswerJob,
) -> LlmStats {
    stats.total = job.submitted.elapsed();
    match usage {
        Some((prompt, completion)) => {
            stats.prompt_tokens = prompt;
            stats.generated_tokens = completion;
        }
        None => stats.generated_tokens = pieces,
    }
    stats
}

/// The connection broke after the request went out and before the response's head came back:
/// not a refused connection (the server is down) and not a timeout (it is stuck).
fn closed_before_answering(e: &reqwest::Error) -> bool {
    e.is_request() && !e.is_connect() && !e.is_timeout()
}

/// The error and its causes, without the URL (it may carry credentials in user-info).
fn without_url(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    if let Some(start) = message.find(" for url (") {
        message.truncate(start);
    }
    // reqwest's own text ("error sending request") hides the cause, which tells an operator
    // whether the server refused, reset or closed the connection.
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Keeps the first (system) message and the newest turns that fit `budget` estimated tokens.
fn trim_to_budget(messages: Vec<ChatMessage>, budget: usize) -> Vec<ChatMessage> {
    let cost = |m: &ChatMessage| m.content.len() / CHARS_PER_TOKEN + 4;
    let (system, turns) = match messages.first() {
        Some(m) if m.role == super::Role::System => (Some(m.clone()), &messages[1..]),
        _ => (None, &messages[..]),
    };
    let mut left = budget.saturating_sub(system.as_ref().map_or(0, cost));
    let mut start = turns.len();
    while start > 0 && (start == turns.len() || cost(&turns[start - 1]) <= left) {
        left = left.saturating_sub(cost(&turns[start - 1]));
        start -= 1;
    }
    // Do not open the kept history with an assistant reply.
    while start + 1 < turns.len() && turns[start].role != super::Role::User {
        start += 1;
    }
    system
        .into_iter()
        .chain(turns[start..].iter().cloned())
        .collect()
}

async fn probe_loop(inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut failures = 0u32;
    let mut was_down = false;
    loop {
        let wait = match inner.probe().await {
            Ok(()) => {
                if was_down {
                    inner.shared.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("LLM server reachable again");
                }
                was_down = false;
                failures = 0;
                inner.shared.set_health(LlmHealth::Ready);
                inner.settings.health_probe_interval
            }
            Err(reason) => {
                was_down = true;
                inner.shared.set_health(LlmHealth::Unavailable { reason });
                let delay = inner.settings.restart_backoff.delay(failures);
                failures = failures.saturating_add(1);
                delay
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = inner.probe_now.notified() => {
                was_down = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_system_and_newest_turns() {
        let mut messages = vec![ChatMessage::system("be brief")];
        for i in 0..20 {
            messages.push(ChatMessage::user(format!(
                "question {i} {}",
                "x".repeat(100)
            )));
            messages.push(ChatMessage::assistant(format!(
                "answer {i} {}",
                "y".repeat(100)
            )));
        }
        messages.push(ChatMessage::user("last"));
        let kept = trim_to_budget(messages.clone(), 200);
        assert_eq!(kept[0], messages[0]);
        assert_eq!(kept.last(), messages.last());
        assert!(kept.len() < messages.len());
        assert_eq!(kept[1].role, super::super::Role::User);
        assert_eq!(trim_to_budget(messages.clone(), 1_000_000), messages);
        // Even a budget of zero keeps the newest message.
        assert_eq!(trim_to_budget(messages.clone(), 0).len(), 2);
    }
}
