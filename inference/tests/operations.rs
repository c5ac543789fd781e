//! What operations rely on (docs/runbook.md §5, §6, §10): scoped admin tokens, the audit trail
//! of admin procedures (log line and counter), and the metrics the dashboard and alert rules
//! read (process metrics, build info, configured thresholds, per-session distributions, latency
//! buckets up to 60 s). Through the real router, as the server serves it.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use goassist_inference::config;
use goassist_inference::http::{AppState, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

const ADMIN: &str = "legacy-admin-token-0123456789";
const ONCALL: &str = "oncall-secret-aaaaaaaaaaaaaaaa";
const LEAD: &str = "lead-secret-bbbbbbbbbbbbbbbbbbbb";

fn vars(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let dir = std::env::temp_dir().join(format!("goassist-ops-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.gguf"), b"GGUF").unwrap();
    [
        ("MAX_CONCURRENT_SESSIONS", "2"),
        ("LLM_MODEL_PATH", dir.join("m.gguf").to_str().unwrap()),
        ("ASR_MODEL_PATH", dir.to_str().unwrap()),
        ("TTS_ENGINE", "piper"),
        ("TTS_MODEL_PATH", dir.to_str().unwrap()),
        ("ADMIN_TOKEN", ADMIN),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn state() -> AppState {
    let tokens = format!("alice:oncall:{ONCALL},bob:lead:{LEAD}");
    let validated = config::validate(&vars(&[
        ("ADMIN_TOKENS", &tokens),
        ("ALERT_CRASH_LOOP_THRESHOLD", "5"),
        ("LLM_VRAM_CAP_GB", "16"),
    ]));
    AppState::new(validated.config.expect("valid test config"))
}

async fn call(state: &AppState, method: &str, uri: &str, token: &str, body: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await.unwrap();
    status
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series}"))
}

fn actions(state: &AppState, action: &str, outcome: &str) -> f64 {
    metric(
        &state.metrics.render(),
        &format!("goassist_admin_actions_total{{action=\"{action}\",outcome=\"{outcome}\"}}"),
    )
}

/// Collects the JSON log lines written while it is installed (this thread only).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn audit_events(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["target"] == "goassist::audit")
            .collect()
    }
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn oncall_scope_runs_procedures_but_cannot_end_a_users_session() {
    let s = state();
    let ticket = s.sessions.admit().unwrap();
    let uri = format!("/admin/sessions/{}", ticket.public_id());

    assert_eq!(
        call(&s, "GET", "/admin/sessions", ONCALL, "").await,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/admin/animation",
            ONCALL,
            r#"{"enabled":false}"#
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        call(&s, "DELETE", &uri, ONCALL, "").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.sessions.count(), 1, "a forbidden call changes nothing");
    assert_eq!(
        call(&s, "DELETE", &uri, LEAD, "").await,
        StatusCode::NO_CONTENT
    );
    drop(ticket);
    assert_eq!(s.sessions.count(), 0);

    // The legacy ADMIN_TOKEN keeps every power (scope lead).
    let other = s.sessions.admit().unwrap();
    let uri = format!("/admin/sessions/{}", other.public_id());
    assert_eq!(
        call(&s, "DELETE", &uri, ADMIN, "").await,
        StatusCode::NO_CONTENT
    );
    // A secret that is only a prefix of a real one is no token.
    assert_eq!(
        call(&s, "POST", "/admin/resume", &ONCALL[..10], "").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_llm_restart_needs_a_token_and_waits_for_the_models() {
    let s = state();
    assert_eq!(
        call(&s, "POST", "/admin/llm/restart", "wrong", "").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(actions(&s, "llm_restart", "unauthorized"), 1.0);
    // An on-call token may restart the LLM; with the models still loading there is nothing
    // to restart yet, and the attempt is audited as failed.
    assert_eq!(
        call(&s, "POST", "/admin/llm/restart", ONCALL, "").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(actions(&s, "llm_restart", "failed"), 1.0);
    assert_eq!(actions(&s, "llm_restart", "ok"), 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn every_procedure_is_audited_by_token_name_and_counted() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // The other tests of this binary run on other threads with no subscriber. If one of them
    // hits an audit call site while this subscriber is being registered, the site can keep a
    // cached "nobody listens" (tracing's interest cache), and this test sees no events: one CI
    // run failed so. Recompute the cache now that this subscriber exists.
    tracing::callsite::rebuild_interest_cache();

    let s = state();
    let ticket = s.sessions.admit().unwrap();
    let uri = format!("/admin/sessions/{}", ticket.public_id());
    assert_eq!(
        call(&s, "POST", "/admin/drain", ONCALL, r#"{"deadline_s":60}"#).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        call(&s, "POST", "/admin/resume", ONCALL, "").await,
        StatusCode::OK
    );
    assert_eq!(
        call(&s, "DELETE", &uri, ONCALL, "").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&s, "DELETE", &uri, "wrong", "").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&s, "DELETE", &uri, LEAD, "").await,
        StatusCode::NO_CONTENT
    );
    drop(ticket); // the session task lets go of its slot
    assert_eq!(
        call(&s, "DELETE", &uri, LEAD, "").await,
        StatusCode::NOT_FOUND,
        "the session is gone"
    );
    assert_eq!(
        call(&s, "POST", "/admin/animation", LEAD, "{oops").await,
        StatusCode::BAD_REQUEST
    );
    // Reads are not procedures.
    assert_eq!(
        call(&s, "GET", "/admin/drain", ONCALL, "").await,
        StatusCode::OK
    );

    let events: Vec<(String, String, String)> = captured
        .audit_events()
        .iter()
        .map(|e| {
            let f = &e["fields"];
            (
                f["token"].as_str().unwrap().to_string(),
                f["action"].as_str().unwrap().to_string(),
                f["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("alice", "drain", "ok"),
        ("alice", "resume", "ok"),
        ("alice", "end_session", "forbidden"),
        ("-", "end_session", "unauthorized"),
        ("bob", "end_session", "ok"),
        ("bob", "end_session", "failed"),
        ("bob", "animation", "failed"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(events, expected);
    let all = captured.audit_events();
    assert_eq!(
        all[0]["fields"]["detail"],
        "deadline 60s, exit_when_drained false"
    );
    assert!(
        all.iter().all(|e| e.get("timestamp").is_some()),
        "every event has a time"
    );
    let log = captured.text();
    for secret in [ONCALL, LEAD, ADMIN] {
        assert!(!log.contains(secret), "a token value reached the log");
    }

    assert_eq!(actions(&s, "drain", "ok"), 1.0);
    assert_eq!(actions(&s, "resume", "ok"), 1.0);
    assert_eq!(actions(&s, "end_session", "ok"), 1.0);
    assert_eq!(actions(&s, "end_session", "forbidden"), 1.0);
    assert_eq!(actions(&s, "end_session", "unauthorized"), 1.0);
    assert_eq!(actions(&s, "end_session", "failed"), 1.0);
    assert_eq!(actions(&s, "animation", "failed"), 1.0);
    assert_eq!(actions(&s, "animation", "ok"), 0.0, "pre-created at zero");
    assert!(
        !s.metrics.render().contains(ONCALL),
        "no secret in /metrics"
    );
}

#[tokio::test]
async fn metrics_carry_process_build_thresholds_and_session_distributions() {
    let s = state();
    s.metrics.webrtc_packet_loss_ratio.observe(0.0);
    s.metrics.webrtc_packet_loss_ratio.observe(0.03);
    s.metrics.webrtc_jitter_seconds.observe(0.004);
    s.metrics.ttfa_seconds.observe(34.0);
    let text = s.metrics.render();

    for name in [
        "process_start_time_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(metric(&text, name) > 0.0, "{name}");
    }
    assert!(metric(&text, "process_cpu_seconds_total") >= 0.0);
    let started = metric(&text, "process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - started).abs() < 600.0,
        "start time is this process's"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(text.contains(&format!(
        "goassist_build_info{{revision=\"unknown\",service=\"goassist-inference\",version=\"{version}\"}} 1"
    )));
    assert_eq!(
        metric(&text, "goassist_alert_threshold{threshold=\"crash_loop\"}"),
        5.0
    );
    assert_eq!(
        metric(
            &text,
            "goassist_alert_threshold{threshold=\"vram_cap_bytes\"}"
        ),
        16.0 * 1024.0 * 1024.0 * 1024.0
    );
    // Loss and jitter are distributions over sessions' reports, not a last-writer gauge.
    assert!(text.contains("# TYPE goassist_webrtc_packet_loss_ratio histogram"));
    assert_eq!(
        metric(&text, "goassist_webrtc_packet_loss_ratio_count"),
        2.0
    );
    assert_eq!(
        metric(&text, "goassist_webrtc_packet_loss_ratio_bucket{le=\"0\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "goassist_webrtc_packet_loss_ratio_bucket{le=\"0.05\"}"
        ),
        2.0
    );
    assert_eq!(metric(&text, "goassist_webrtc_jitter_seconds_count"), 1.0);
    // A 34 s TTFA (the CPU sweep's worst) lands in a finite bucket, not only in +Inf.
    assert_eq!(
        metric(&text, "goassist_ttfa_seconds_bucket{le=\"30\"}"),
        0.0
    );
    assert_eq!(
        metric(&text, "goassist_ttfa_seconds_bucket{le=\"45\"}"),
        1.0
    );
    assert!(text.contains("goassist_ttfa_seconds_bucket{le=\"60\"}"));
}

#[test]
fn admin_tokens_and_threshold_are_validated_without_leaking_secrets() {
    let bad = config::validate(&vars(&[(
        "ADMIN_TOKENS",
        "alice:root:do-not-print-me-123456",
    )]));
    assert!(bad.config.is_none());
    let errors: Vec<String> = bad.errors().map(|p| p.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("ADMIN_TOKENS entry 1 (alice): scope must be oncall or lead"));
    assert!(!errors[0].contains("do-not-print-me"));

    let reused = config::validate(&vars(&[("ADMIN_TOKENS", &format!("carol:oncall:{ADMIN}"))]));
    assert!(reused.errors().any(|p| {
        p.message
            .contains("carol has the same secret as ADMIN_TOKEN")
    }));

    let short = config::validate(&vars(&[
        ("ADMIN_TOKENS", "dave:oncall:short"),
        ("ALERT_CRASH_LOOP_THRESHOLD", "0"),
    ]));
    let config = short.config.as_ref().expect("warnings only");
    assert_eq!(
        config.alert_crash_loop_threshold, 3,
        "out of range: the default"
    );
    let warnings: Vec<String> = short.warnings().map(|p| p.message.clone()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("secret of dave is shorter"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("ALERT_CRASH_LOOP_THRESHOLD"))
    );

    let good = config::validate(&vars(&[(
        "ADMIN_TOKENS",
        &format!("alice:oncall:{ONCALL},bob:lead:{LEAD}"),
    )]));
    // --check-config shows the variable as a secret; the parsed tokens keep names and scopes.
    assert!(
        good.effective
            .contains(&("ADMIN_TOKENS", "<redacted>".into()))
    );
    assert!(
        good.effective
            .contains(&("ALERT_CRASH_LOOP_THRESHOLD", "3".into()))
    );
    let tokens: Vec<(String, &str)> = good
        .config
        .unwrap()
        .admin_tokens
        .iter()
        .map(|t| (t.name.clone(), t.scope.as_str()))
        .collect();
    assert_eq!(
        tokens,
        [("alice".to_string(), "oncall"), ("bob".to_string(), "lead")]
    );
}

/// Like [`call`], with the body (`token` empty = no Authorization header).
async fn call_body(
    state: &AppState,
    method: &str,
    uri: &str,
    token: &str,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if !token.is_empty() {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, body)
}

const FAULT: &str = "/admin/faults/llm-crash";

#[tokio::test(flavor = "current_thread")]
async fn the_fault_switch_is_off_unless_configured_and_then_answers_like_an_unknown_path() {
    let s = state();
    assert!(!s.config.admin_fault_drills, "off by default");
    let unknown = call_body(&s, "POST", "/admin/faults/no-such-fault", LEAD).await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    for token in [LEAD, ADMIN, ONCALL, "wrong", ""] {
        assert_eq!(
            call_body(&s, "POST", FAULT, token).await,
            unknown,
            "off: the same 404 as an unknown path, whoever asks ({token:?})"
        );
    }
    assert!(
        !s.metrics.render().contains("fault_llm_crash"),
        "nothing audited or counted while off"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_fault_switch_needs_the_lead_scope_and_is_audited() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // See every_procedure_is_audited_by_token_name_and_counted.
    tracing::callsite::rebuild_interest_cache();

    let tokens = format!("alice:oncall:{ONCALL},bob:lead:{LEAD}");
    let validated = config::validate(&vars(&[
        ("ADMIN_TOKENS", &tokens),
        ("ADMIN_FAULT_DRILLS", "true"),
    ]));
    let s = AppState::new(validated.config.expect("valid test config"));
    assert_eq!(
        call(&s, "POST", FAULT, "wrong", "").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&s, "POST", FAULT, ONCALL, "").await,
        StatusCode::FORBIDDEN
    );
    // The lead may; with the models still loading there is nothing to crash: audited as failed.
    let (status, body) = call_body(&s, "POST", FAULT, LEAD).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_ready");
    let events: Vec<(String, String, String)> = captured
        .audit_events()
        .iter()
        .map(|e| {
            let f = &e["fields"];
            (
                f["token"].as_str().unwrap().to_string(),
                f["action"].as_str().unwrap().to_string(),
                f["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("-", "fault_llm_crash", "unauthorized"),
        ("alice", "fault_llm_crash", "forbidden"),
        ("bob", "fault_llm_crash", "failed"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(events, expected);
    assert_eq!(actions(&s, "fault_llm_crash", "unauthorized"), 1.0);
    assert_eq!(actions(&s, "fault_llm_crash", "forbidden"), 1.0);
    assert_eq!(actions(&s, "fault_llm_crash", "failed"), 1.0);
}

/// Polls `check` every 50 ms until it holds or `limit` passes; says whether it held.
async fn within(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The fault switch on a server with its real models: the engine really crashes mid-answer,
/// the answer ends with an explicit error, readiness drops and returns by itself, and the
/// restart is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_switch_crashes_the_real_engine_mid_answer_and_the_server_recovers() {
    use goassist_inference::llm::{ChatMessage, ChatRequest, LlmError, LlmEvent};
    use goassist_inference::readiness::ComponentState;
    use std::time::Duration;

    let models = goassist_engines::test_models_dir();
    let llm = models.join("llm/smollm2-135m-instruct-q8.gguf");
    let validated = config::validate(
        &[
            ("MAX_CONCURRENT_SESSIONS", "1"),
            ("MODELS_DIR", models.to_str().unwrap()),
            ("LLM_MODEL_PATH", llm.to_str().unwrap()),
            (
                "ASR_MODEL_PATH",
                models.join("asr/moonshine-base-en").to_str().unwrap(),
            ),
            ("TTS_ENGINE", "piper"),
            (
                "TTS_MODEL_PATH",
                models
                    .join("tts/piper/en_US-joe-medium.onnx")
                    .to_str()
                    .unwrap(),
            ),
            ("TURN_DETECTOR", "silence"),
            ("ANIMATION_ENABLED", "false"),
            ("LLM_MAX_NEW_TOKENS", "400"),
            ("ADMIN_TOKEN", ADMIN),
            ("ADMIN_FAULT_DRILLS", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let s = AppState::new(validated.config.expect("valid config"));
    goassist_inference::services::start(s.clone());
    assert!(
        within(Duration::from_secs(240), || s.readiness.models_ready()
            && s.voice.get().is_some())
        .await,
        "models not ready: {:?}",
        s.readiness.snapshot()
    );
    let llm = s.voice.get().unwrap().llm.clone();
    let mut answer = llm.generate(
        ChatRequest {
            messages: vec![ChatMessage::user(
                "Count from one to two hundred in words, separated by commas.",
            )],
        },
        tokio_util::sync::CancellationToken::new(),
    );
    let first = tokio::time::timeout(Duration::from_secs(60), answer.recv()).await;
    assert!(
        matches!(first, Ok(Some(LlmEvent::Token(_)))),
        "the answer started: {first:?}"
    );

    let (status, body) = call_body(&s, "POST", FAULT, ADMIN).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["llm"], "crashing");
    assert_eq!(body["answers_in_flight"], 1, "the answer was in flight");
    assert_eq!(actions(&s, "fault_llm_crash", "ok"), 1.0);

    // The answer in flight ends with an explicit error, not silence.
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match answer.recv().await {
                Some(LlmEvent::Token(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the answer ended");
    match outcome {
        Some(LlmEvent::Error(LlmError::Unavailable { reason })) => {
            assert!(reason.contains("forced engine crash"), "{reason}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Readiness shows the failure (with the reason) and then comes back by itself.
    assert!(
        within(Duration::from_secs(10), || matches!(
            s.readiness.get("llm"),
            Some(ComponentState::Failed(_))
        ))
        .await,
        "llm never failed in readiness"
    );
    let (status, body) = call_body(&s, "GET", "/readyz", "").await;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert_eq!(body["components"]["llm"]["state"], "failed", "{body}");
    } // else: already back (the reload can beat this request); the readiness table saw it
    assert!(
        within(Duration::from_secs(120), || s.readiness.models_ready()).await,
        "the LLM did not come back: {:?}",
        s.readiness.get("llm")
    );
    assert_eq!(call_body(&s, "GET", "/readyz", "").await.0, StatusCode::OK);
    assert!(
        within(Duration::from_secs(5), || s
            .metrics
            .render()
            .contains("goassist_restarts_total{component=\"llm\"} 1"))
        .await,
        "the restart was not counted"
    );
    assert_eq!(llm.in_flight(), 0);
    // A crash with nothing in flight works too; while the engine is down (the backoff before
    // the reload is at least 0.5 s) there is nothing to crash: 409, audited as failed.
    let mut health = llm.subscribe_health();
    let (status, body) = call_body(&s, "POST", FAULT, ADMIN).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["answers_in_flight"], 0);
    tokio::time::timeout(Duration::from_secs(10), health.wait_for(|h| !h.is_ready()))
        .await
        .expect("down again")
        .unwrap();
    let (status, body) = call_body(&s, "POST", FAULT, ADMIN).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not running"),
        "{body}"
    );
    assert_eq!(actions(&s, "fault_llm_crash", "failed"), 1.0);
    assert!(
        within(Duration::from_secs(120), || llm.restarts() == 2
            && llm.health().is_ready())
        .await,
        "recovered again"
    );
}
