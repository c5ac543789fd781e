//! The HTTP API through the real router: probes, metrics text format, admin auth, drain.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use goassist_inference::config;
use goassist_inference::http::{AppState, router};
use goassist_inference::readiness::ComponentState;
use goassist_inference::sessions::{AdmitError, EndReason, format_bridge_id};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TOKEN: &str = "test-admin-token-0123456789";

fn state() -> AppState {
    state_with(&[])
}

/// State from the test configuration with `extra` variables on top.
fn state_with(extra: &[(&str, &str)]) -> AppState {
    let dir = std::env::temp_dir().join(format!("goassist-http-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.gguf"), b"GGUF").unwrap();
    let vars: BTreeMap<String, String> = [
        ("MAX_CONCURRENT_SESSIONS", "2"),
        ("LLM_MODEL_PATH", dir.join("m.gguf").to_str().unwrap()),
        ("ASR_MODEL_PATH", dir.to_str().unwrap()),
        ("TTS_ENGINE", "piper"),
        ("TTS_MODEL_PATH", dir.to_str().unwrap()),
        ("ADMIN_TOKEN", TOKEN),
        ("DRAIN_TIMEOUT_S", "30"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    AppState::new(config::validate(&vars).config.expect("valid test config"))
}

fn all_ready(state: &AppState) {
    for c in ["vad", "asr", "llm", "tts", "animation"] {
        state.readiness.set(c, ComponentState::Ready);
    }
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn healthz_is_alive_from_the_start() {
    let s = state();
    let (status, _, body) = call(&s, "GET", "/healthz", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "alive");
}

#[tokio::test]
async fn readyz_turns_200_only_when_every_required_model_is_ready() {
    let s = state();
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json(&body);
    assert_eq!(body["ready"], false);
    assert_eq!(body["components"]["llm"]["state"], "loading");

    all_ready(&s);
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    s.readiness
        .set("llm", ComponentState::Failed("engine crashed".into()));
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["components"]["llm"]["detail"], "engine crashed");

    // Animation is never required: degraded animation keeps the server ready.
    s.readiness.set("llm", ComponentState::Ready);
    s.readiness.set(
        "animation",
        ComponentState::Degraded("fallback engine".into()),
    );
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["components"]["animation"]["state"], "degraded");
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_documented_names() {
    // Anyone may read them here (by default only private-network clients, see
    // http_hardening.rs; this request through the router has no peer address).
    let s = state_with(&[("API_METRICS", "public")]);
    s.metrics.ttfa_seconds.observe(0.42);
    s.metrics
        .stage_seconds
        .with_label_values(&["asr"])
        .observe(0.1);
    let (status, headers, body) = call(&s, "GET", "/metrics", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for name in [
        "goassist_ttfa_seconds_bucket",
        "goassist_voice_to_voice_seconds_count",
        "goassist_barge_in_seconds_sum",
        "goassist_sessions_active",
        "goassist_llm_queue_depth",
        "goassist_webrtc_packet_loss_ratio",
        "goassist_webrtc_jitter_seconds",
        "goassist_animation_slow_freeze_total",
        "goassist_stage_seconds_bucket{stage=\"asr\"",
    ] {
        assert!(body.contains(name), "missing {name}");
    }
    // Per-GPU series only once the GPU telemetry has seen a device (none in this test).
    assert!(
        !body.contains("goassist_vram_bytes"),
        "VRAM exported without a GPU"
    );
    // Every sample line parses as `name{labels} value` with a float value.
    let mut samples = 0;
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        // Our metrics, and the process collector's (start time, memory, fds, threads, CPU).
        assert!(
            name.starts_with("goassist_") || name.starts_with("process_"),
            "{line}"
        );
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        samples += 1;
    }
    assert!(samples > 20);
    assert!(body.contains("goassist_ttfa_seconds_count 1"));
    assert!(body.contains("# TYPE goassist_ttfa_seconds histogram"));
}

#[tokio::test]
async fn admin_endpoints_refuse_missing_or_wrong_tokens_without_hints() {
    let s = state();
    for (method, uri) in [
        ("GET", "/admin/sessions"),
        ("POST", "/admin/drain"),
        ("POST", "/admin/animation"),
        ("DELETE", "/admin/sessions/0000000000000001"),
    ] {
        for token in [
            None,
            Some("wrong"),
            Some(&TOKEN[..TOKEN.len() - 1]),
            Some(""),
        ] {
            let (status, headers, body) = call(&s, method, uri, token, "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {token:?}");
            assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
            assert!(
                !body.contains(TOKEN) && !body.contains("test-admin"),
                "hint in {body}"
            );
            assert_eq!(json(&body)["error"]["code"], "unauthorized");
        }
    }
    assert!(!s.sessions.is_draining(), "a refused drain must not start");
}

#[tokio::test]
async fn admin_without_a_configured_token_is_closed() {
    let mut s = state();
    let mut config = (*s.config).clone();
    config.admin_token = None;
    s.config = std::sync::Arc::new(config);
    let (status, _, _) = call(&s, "GET", "/admin/sessions", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_lists_and_ends_sessions() {
    let s = state();
    let ticket = s.sessions.admit().unwrap();
    ticket.set_state("listening");
    let (status, _, body) = call(&s, "GET", "/admin/sessions", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    let body = json(&body);
    assert_eq!(body["sessions"][0]["id"], ticket.public_id().to_string());
    assert_eq!(
        body["sessions"][0]["bridge_session"],
        format_bridge_id(ticket.bridge_id()),
        "the id render-bridge session routes name"
    );
    assert_eq!(body["sessions"][0]["state"], "listening");

    let cancelled = ticket.cancelled();
    let uri = format!("/admin/sessions/{}", ticket.public_id());
    let (status, _, _) = call(&s, "DELETE", &uri, Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cancelled.is_cancelled(), "the session task is told to end");
    drop(ticket);
    assert_eq!(s.sessions.count(), 0);
    assert!(
        s.metrics
            .render()
            .contains("goassist_sessions_ended_total{reason=\"admin\"} 1")
    );

    let (status, _, _) = call(&s, "DELETE", &uri, Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = call(&s, "DELETE", "/admin/sessions/not-an-id", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn animation_kill_switch_keeps_the_server_ready() {
    let s = state();
    all_ready(&s);
    let (status, _, body) = call(
        &s,
        "POST",
        "/admin/animation",
        Some(TOKEN),
        r#"{"enabled": false}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!s.animation.enabled());
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["components"]["animation"]["state"], "disabled");
    assert_eq!(json(&body)["animation_enabled"], false);

    let (status, _, _) = call(
        &s,
        "POST",
        "/admin/animation",
        Some(TOKEN),
        r#"{"enabled": true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(s.animation.enabled());

    let (status, _, body) = call(
        &s,
        "POST",
        "/admin/animation",
        Some(TOKEN),
        r#"{"enabled": "sometimes"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["error"]["code"], "bad_request");
}

#[tokio::test]
async fn readyz_says_unavailable_while_every_session_slot_is_taken() {
    let s = state();
    all_ready(&s);
    let max = s.config.max_concurrent_sessions;
    let held: Vec<_> = (0..max).map(|_| s.sessions.admit().unwrap()).collect();
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let body = json(&body);
    assert_eq!(body["saturated"]["sessions"], true);
    assert_eq!(body["saturated"]["llm"], false);
    assert_eq!(body["sessions"]["active"], max);
    // A session's own requests still reach the pod: /healthz (the owners' check) stays 200.
    let (status, _, _) = call(&s, "GET", "/healthz", None, "").await;
    assert_eq!(status, StatusCode::OK);

    drop(held);
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["saturated"]["sessions"], false);
}

#[tokio::test(start_paused = true)]
async fn drain_refuses_new_sessions_and_cancels_stragglers_at_the_deadline() {
    let s = state();
    all_ready(&s);
    let polite = s.sessions.admit().unwrap();
    let straggler = s.sessions.admit().unwrap();
    assert_eq!(s.sessions.admit().err(), Some(AdmitError::Capacity));

    let (status, _, body) = call(
        &s,
        "POST",
        "/admin/drain",
        Some(TOKEN),
        r#"{"deadline_s": 10}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(json(&body)["draining"], true);
    assert_eq!(s.sessions.admit().err(), Some(AdmitError::Draining));
    let (status, _, body) = call(&s, "GET", "/readyz", None, "").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "draining is not ready"
    );
    assert_eq!(json(&body)["draining"], true);

    // One session ends by itself; the other is still open at the deadline and is cancelled.
    drop(polite);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!straggler.cancelled().is_cancelled());
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        straggler.cancelled().is_cancelled(),
        "force-cancelled at the deadline"
    );
    straggler.set_end_reason(EndReason::Drain);
    drop(straggler);
    s.sessions.wait_empty().await;
    assert!(
        s.metrics
            .render()
            .contains("goassist_sessions_ended_total{reason=\"drain\"} 1")
    );

    let (status, _, _) = call(&s, "POST", "/admin/resume", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(s.sessions.admit().is_ok());
}

#[tokio::test]
async fn drain_with_exit_requested_triggers_shutdown_once_empty() {
    let s = state();
    let ticket = s.sessions.admit().unwrap();
    let (status, _, _) = call(
        &s,
        "POST",
        "/admin/drain",
        Some(TOKEN),
        r#"{"exit_when_drained": true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!s.shutdown.is_cancelled(), "a live session holds the exit");
    drop(ticket);
    tokio::time::timeout(Duration::from_secs(5), s.shutdown.cancelled())
        .await
        .expect("shutdown after the last session");
    let (status, _, body) = call(&s, "POST", "/admin/drain", Some(TOKEN), "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() {
    let s = state();
    let (status, _, body) = call(&s, "GET", "/nope", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json(&body)["error"]["code"], "not_found");
}

#[tokio::test]
async fn the_voice_page_and_every_module_it_imports_are_served() {
    let s = state();
    let (status, _, page) = call(&s, "GET", "/", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, app) = call(&s, "GET", "/app.js", None, "").await;
    assert!(page.contains("app.js") && app.contains("/face/face.js"));
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
        ("/network_help.js", "text/javascript"),
        ("/face/face.js", "text/javascript"),
        ("/face/demo.html", "text/html"),
    ] {
        let (status, headers, body) = call(&s, "GET", path, None, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        assert!(!body.is_empty(), "{path}");
    }
}

#[tokio::test]
async fn the_optional_3d_head_is_served_from_models_dir_and_nothing_outside_it() {
    let models = std::env::temp_dir().join(format!("goassist-http-vendor-{}", std::process::id()));
    let vendor = models.join("face/vendor");
    for (file, body) in [
        ("facecap.glb", "glTF head"),
        (
            "three/build/three.module.js",
            "export const REVISION = '187';",
        ),
        (
            "three/examples/jsm/libs/basis/basis_transcoder.wasm",
            "\0asm",
        ),
    ] {
        std::fs::create_dir_all(vendor.join(file).parent().unwrap()).unwrap();
        std::fs::write(vendor.join(file), body).unwrap();
    }
    std::fs::write(models.join("secret.txt"), "not for browsers").unwrap();
    let s = state_with(&[("MODELS_DIR", models.to_str().unwrap())]);

    for (path, kind, body) in [
        ("/face/vendor/facecap.glb", "model/gltf-binary", "glTF head"),
        (
            "/face/vendor/three/build/three.module.js",
            "text/javascript",
            "export const REVISION = '187';",
        ),
        (
            "/face/vendor/three/examples/jsm/libs/basis/basis_transcoder.wasm",
            "application/wasm",
            "\0asm",
        ),
    ] {
        let (status, headers, got) = call(&s, "GET", path, None, "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], kind, "{path}");
        assert_eq!(got, body, "{path}");
    }
    // The page probes with HEAD before it downloads three.js.
    let (status, _, body) = call(&s, "HEAD", "/face/vendor/facecap.glb", None, "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    for path in [
        "/face/vendor/nope.js",
        "/face/vendor/../../secret.txt",
        "/face/vendor/%2e%2e/%2e%2e/secret.txt",
        "/face/vendor/..%2f..%2fsecret.txt",
    ] {
        let (status, _, body) = call(&s, "GET", path, None, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.contains("not for browsers"), "{path}");
    }
    // Without the files (the default models tree has none here) the page gets a 404 and keeps
    // its built-in face.
    let (status, _, _) = call(&state(), "GET", "/face/vendor/facecap.glb", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let _ = std::fs::remove_dir_all(&models);
}
