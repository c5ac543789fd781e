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
