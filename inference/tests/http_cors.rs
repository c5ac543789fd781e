//! Cross-origin access through the real router: a page from another origin (the Profile C page
//! on the render pod) may open, end and inspect voice sessions and load the face files; the
//! admin and operations endpoints stay same-origin. The browser side of the same contract runs
//! in tests/profile_c_browser.rs (Chromium's own preflight against the real server).

use std::collections::BTreeMap;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use goassist_inference::config;
use goassist_inference::http::{AppState, VENDOR_DIR, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

const PAGE_ORIGIN: &str = "https://avatar.example.com";

fn state(models_dir: &Path) -> AppState {
    std::fs::create_dir_all(models_dir).unwrap();
    std::fs::write(models_dir.join("m.gguf"), b"GGUF").unwrap();
    let dir = models_dir.to_str().unwrap();
    let gguf = models_dir.join("m.gguf");
    let vars: BTreeMap<String, String> = [
        ("MAX_CONCURRENT_SESSIONS", "2"),
        ("MODELS_DIR", dir),
        ("LLM_MODEL_PATH", gguf.to_str().unwrap()),
        ("ASR_MODEL_PATH", dir),
        ("TTS_ENGINE", "piper"),
        ("TTS_MODEL_PATH", dir),
        ("ADMIN_TOKEN", "test-admin-token-0123456789"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    AppState::new(config::validate(&vars).config.expect("valid test config"))
}

fn temp_models(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("goassist-cors-{name}-{}", std::process::id()))
}

/// Sends one request; `headers` are added as given.
async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
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

fn get<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The comma-separated list in `name`, lower-cased.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    get(headers, name)
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

async fn preflight(state: &AppState, uri: &str, method: &str, request_headers: &str) -> HeaderMap {
    let (status, headers, _) = call(
        state,
        "OPTIONS",
        uri,
        &[
            ("origin", PAGE_ORIGIN),
            ("access-control-request-method", method),
            ("access-control-request-headers", request_headers),
        ],
        "",
    )
    .await;
    assert!(
        status.is_success(),
        "preflight {method} {uri} answered {status}"
    );
    headers
}

#[tokio::test]
async fn the_whip_preflight_allows_a_cross_origin_sdp_post() {
    let s = state(&temp_models("preflight"));
    let h = preflight(&s, "/v1/sessions", "POST", "content-type").await;
    assert_eq!(get(&h, "access-control-allow-origin"), "*");
    let methods = list(&h, "access-control-allow-methods");
    assert!(methods.contains(&"post".to_string()), "{methods:?}");
    let allowed = list(&h, "access-control-allow-headers");
    assert!(allowed.contains(&"content-type".to_string()), "{allowed:?}");
    assert!(
        allowed.contains(&"authorization".to_string()),
        "{allowed:?}"
    );
    assert_eq!(get(&h, "accept-post"), "application/sdp");
    assert_eq!(get(&h, "access-control-max-age"), "600");
    // No cookies or other credentials are ever invited.
    assert_eq!(get(&h, "access-control-allow-credentials"), "");
}

#[tokio::test]
async fn ending_a_session_cross_origin_is_preflighted_too() {
    let s = state(&temp_models("delete"));
    let capability = format!("/v1/sessions/{}/{}", "ab".repeat(16), "cd".repeat(32));
    for (uri, headers) in [
        // The Location as the 201 gives it (the secret in the path) ...
        (capability.as_str(), ""),
        // ... and the id alone with the secret as a bearer token.
        (
            "/v1/sessions/abababababababababababababababab",
            "authorization",
        ),
    ] {
        let h = preflight(&s, uri, "DELETE", headers).await;
        assert_eq!(get(&h, "access-control-allow-origin"), "*", "{uri}");
        assert!(list(&h, "access-control-allow-methods").contains(&"delete".to_string()));
        // The session route is not the WHIP endpoint: no Accept-Post there.
        assert_eq!(get(&h, "accept-post"), "");
    }
}

#[tokio::test]
async fn a_plain_options_says_what_the_routes_accept() {
    let s = state(&temp_models("plain"));
    let (status, h, _) = call(&s, "OPTIONS", "/v1/sessions", &[], "").await;
    assert!(status.is_success(), "{status}");
    assert_eq!(get(&h, "allow"), "POST, OPTIONS");
    assert_eq!(get(&h, "accept-post"), "application/sdp");
    let (status, h, _) = call(&s, "OPTIONS", "/v1/sessions/00000000000000aa", &[], "").await;
    assert!(status.is_success(), "{status}");
    assert_eq!(get(&h, "allow"), "DELETE, OPTIONS");
    let (_, h, _) = call(&s, "OPTIONS", "/v1/ice-servers", &[], "").await;
    assert_eq!(get(&h, "allow"), "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn cross_origin_answers_are_readable_errors_included() {
    let s = state(&temp_models("answers"));
    // Models are not loaded: 503 with Retry-After, which the page must be able to read.
    let (status, h, body) = call(
        &s,
        "POST",
        "/v1/sessions",
        &[("origin", PAGE_ORIGIN), ("content-type", "application/sdp")],
        include_str!("data/browser_offer.sdp"),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(get(&h, "access-control-allow-origin"), "*");
    let exposed = list(&h, "access-control-expose-headers");
    for name in ["location", "link", "retry-after"] {
        assert!(
            exposed.contains(&name.to_string()),
            "{name} not exposed: {exposed:?}"
        );
    }
    let (status, h, _) = call(&s, "GET", "/v1/ice-servers", &[("origin", PAGE_ORIGIN)], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&h, "access-control-allow-origin"), "*");
}

#[tokio::test]
async fn the_face_files_are_cross_origin_readable() {
    let models = temp_models("vendor");
    let vendor = models.join(VENDOR_DIR);
    std::fs::create_dir_all(&vendor).unwrap();
    std::fs::write(vendor.join("probe.js"), "export const ok = 1;\n").unwrap();
    let s = state(&models);
    let (status, h, body) = call(
        &s,
        "GET",
        "/face/vendor/probe.js",
        &[("origin", PAGE_ORIGIN)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "export const ok = 1;\n");
    assert_eq!(get(&h, "access-control-allow-origin"), "*");
    let h = preflight(&s, "/face/vendor/probe.js", "GET", "").await;
    assert_eq!(get(&h, "access-control-allow-origin"), "*");
}

#[tokio::test]
async fn admin_and_operations_endpoints_stay_same_origin() {
    let s = state(&temp_models("admin"));
    for uri in ["/admin/sessions", "/metrics", "/healthz", "/readyz"] {
        let (_, h, _) = call(&s, "GET", uri, &[("origin", PAGE_ORIGIN)], "").await;
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            "",
            "{uri} must not be readable cross-origin"
        );
        let (status, h, _) = call(
            &s,
            "OPTIONS",
            uri,
            &[
                ("origin", PAGE_ORIGIN),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization"),
            ],
            "",
        )
        .await;
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            "",
            "{uri}: {status}"
        );
    }
}
