//! The public HTTP surface (API_PORT) against what a stranger on the network can try: guess
//! session ids, end other people's sessions, read internal detail from errors, hold connections
//! with unfinished headers or trickled bodies, send oversized offers, open sessions in a loop,
//! and wedge a drain with a huge deadline. The server is the real one: the router through
//! `oneshot`, and where the connection itself matters (timeouts, body limits, client
//! addresses) `server::serve_api` on a loopback port, spoken to in raw HTTP/1.1.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use goassist_inference::config;
use goassist_inference::http::{AppError, AppState, MAX_OFFER_BYTES, router};
use goassist_inference::sessions::SessionRegistry;
use goassist_protocol::auth::unix_now;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

const ADMIN: &str = "hardening-admin-token-0123456789";

/// How long any one network step may take before the test fails (the machine is shared).
const BOUND: Duration = Duration::from_secs(10);

/// An offer as a browser sends it (one Opus audio section), which the SDP parser accepts.
const OFFER: &str = include_str!("data/browser_offer.sdp");

/// The configuration of these tests (model paths that exist, no models loaded) plus `extra`.
fn validate_with(extra: &[(&str, &str)]) -> config::Validated {
    let dir = std::env::temp_dir().join(format!("goassist-hardening-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.gguf"), b"GGUF").unwrap();
    let vars: BTreeMap<String, String> = [
        ("MAX_CONCURRENT_SESSIONS", "4"),
        ("MODELS_DIR", dir.to_str().unwrap()),
        ("LLM_MODEL_PATH", dir.join("m.gguf").to_str().unwrap()),
        ("ASR_MODEL_PATH", dir.to_str().unwrap()),
        ("TTS_ENGINE", "piper"),
        ("TTS_MODEL_PATH", dir.to_str().unwrap()),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    config::validate(&vars)
}

fn state_with(extra: &[(&str, &str)]) -> AppState {
    let vars: Vec<(&str, &str)> = [("ADMIN_TOKEN", ADMIN)]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    AppState::new(validate_with(&vars).config.expect("valid test config"))
}

/// One request through the real router: status, headers and body text.
async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
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

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Starts the real API listener on a loopback port.
async fn serve(state: &AppState) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(goassist_inference::server::serve_api(
        listener,
        state.clone(),
    ));
    addr
}

/// Reads until the server closes the connection (or `BOUND` passes: `None`).
async fn read_to_close(stream: &mut TcpStream) -> Option<String> {
    let mut text = Vec::new();
    let read = tokio::time::timeout(BOUND, stream.read_to_end(&mut text)).await;
    match read {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&text).into_owned()),
        // A reset is a close as well.
        Ok(Err(_)) => Some(String::from_utf8_lossy(&text).into_owned()),
        Err(_) => None,
    }
}

/// Reads one response head (status line and headers) without waiting for a close.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut text = Vec::new();
    let mut byte = [0u8; 1];
    let head = async {
        while !text.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            text.push(byte[0]);
        }
        Some(String::from_utf8_lossy(&text).into_owned())
    };
    tokio::time::timeout(BOUND, head).await.ok().flatten()
}

fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// POSTs the offer over a fresh connection from this test's loopback address.
async fn post_offer(addr: std::net::SocketAddr, extra_headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{OFFER}",
        OFFER.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_to_close(&mut stream).await.expect("an answer")
}

// --- 1. session ids --------------------------------------------------------------------------

#[tokio::test]
async fn session_ids_are_128_random_bits_with_no_order_or_time_in_them() {
    let s = state_with(&[("MAX_CONCURRENT_SESSIONS", "100")]);
    // A second table stands for a restarted server.
    let other = SessionRegistry::new(100, s.metrics.clone());
    let tickets: Vec<_> = (0..50)
        .map(|_| s.sessions.admit().unwrap())
        .chain((0..50).map(|_| other.admit().unwrap()))
        .collect();
    let public: Vec<String> = tickets.iter().map(|t| t.public_id().to_string()).collect();
    for id in &public {
        assert_eq!(id.len(), 32, "128 bits in hex: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    assert_eq!(public.iter().collect::<HashSet<_>>().len(), public.len());
    // Ids drawn one after the other share no prefix the way a clock or a counter would: any
    // two random 128-bit ids agree in their first 8 hex digits with odds of 2^-32.
    let prefixes: HashSet<&str> = public.iter().map(|id| &id[..8]).collect();
    assert_eq!(prefixes.len(), public.len(), "{public:?}");
    // The bridge ids (64 bits) neither count up nor cluster.
    let mut bridge: Vec<u64> = tickets.iter().map(|t| t.bridge_id()).collect();
    bridge.sort_unstable();
    for pair in bridge.windows(2) {
        assert!(
            pair[1] - pair[0] > 1 << 32,
            "bridge ids too close to be random: {:016x} {:016x}",
            pair[0],
            pair[1]
        );
    }
    // The secret is not derived from the id.
    let t = &tickets[0];
    assert_eq!(t.secret().expose().len(), 64);
    assert!(!t.secret().expose().contains(&t.public_id().to_string()));
}

// --- 2. the WHIP resource needs its secret ---------------------------------------------------

#[tokio::test]
async fn the_whip_resource_answers_only_to_its_secret() {
    let s = state_with(&[]);
    let mine = s.sessions.admit().unwrap();
    let theirs = s.sessions.admit().unwrap();
    let id = mine.public_id().to_string();
    let secret = mine.secret().expose();
    let wrong = theirs.secret().expose();

    // Knowing the id (it is in the admin list, the logs and the session event) is not enough.
    let (status, h, body) = call(&s, "DELETE", &format!("/v1/sessions/{id}"), &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(h.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    let bearer_wrong = format!("Bearer {wrong}");
    let (status, _, not_found) = call(
        &s,
        "DELETE",
        &format!("/v1/sessions/{id}"),
        &[("authorization", &bearer_wrong)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) =
        call(&s, "DELETE", &format!("/v1/sessions/{id}/{wrong}"), &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, not_found, "a wrong secret and ...");
    let unknown = "0123456789abcdef0123456789abcdef";
    let (status, _, body) = call(
        &s,
        "DELETE",
        &format!("/v1/sessions/{unknown}/{secret}"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body, not_found,
        "... an unknown session get the same answer"
    );
    assert!(!body.contains(&id) && !body.contains(&secret), "{body}");
    // Trickle on the resource is guarded the same way before it says 405.
    let (status, _, _) = call(&s, "PATCH", &format!("/v1/sessions/{id}"), &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&s, "PATCH", &format!("/v1/sessions/{id}/{secret}"), &[], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        !mine.cancelled().is_cancelled() && !theirs.cancelled().is_cancelled(),
        "nothing refused ended a session"
    );

    // The capability URL (the 201's Location) ends it ...
    let (status, _, _) = call(
        &s,
        "DELETE",
        &format!("/v1/sessions/{id}/{secret}"),
        &[],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(mine.cancelled().is_cancelled());
    assert!(!theirs.cancelled().is_cancelled());
    // ... and so does the bearer form.
    let bearer = format!("Bearer {wrong}");
    let (status, _, _) = call(
        &s,
        "DELETE",
        &format!("/v1/sessions/{}", theirs.public_id()),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(theirs.cancelled().is_cancelled());
}

#[tokio::test]
async fn admin_tokens_still_end_any_session_by_its_listed_id() {
    let s = state_with(&[]);
    let ticket = s.sessions.admit().unwrap();
    let auth = format!("Bearer {ADMIN}");
    let (_, _, body) = call(
        &s,
        "GET",
        "/admin/sessions",
        &[("authorization", &auth)],
        "",
    )
    .await;
    let listed = json(&body)["sessions"][0].clone();
    let id = listed["id"].as_str().unwrap().to_string();
    assert_eq!(id, ticket.public_id().to_string());
    assert!(
        !body.contains(&ticket.secret().expose()),
        "the list never shows the secret"
    );
    let uri = format!("/admin/sessions/{id}");
    let (status, _, _) = call(&s, "DELETE", &uri, &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&s, "DELETE", &uri, &[("authorization", &auth)], "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(ticket.cancelled().is_cancelled());
}

// --- 3. generic public errors ----------------------------------------------------------------

/// Collects JSON log lines written while installed (this thread only).
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

#[tokio::test(flavor = "current_thread")]
async fn a_malformed_offer_gets_a_generic_400_and_the_detail_goes_to_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = state_with(&[]);
    // An origin line the parser chokes on: its error names a heap address (`PointerOffset`).
    let bad = "v=0\r\no=- SECRET-MARKER IN IP4\r\nm=audio x\r\n";
    let (status, _, body) = call(
        &s,
        "POST",
        "/v1/sessions",
        &[("content-type", "application/sdp")],
        bad,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        json(&body)["error"]["message"],
        "the SDP offer could not be parsed"
    );
    for leak in ["PointerOffset", "0x", "SECRET-MARKER", "Unexpected"] {
        assert!(!body.contains(leak), "{leak} in {body}");
    }
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("SDP offer refused"),
        "the refusal is logged: {log}"
    );
    assert!(
        log.contains("PointerOffset"),
        "the parser's words, which the old answer echoed, are in the log: {log}"
    );

    let (status, _, body) = call(
        &s,
        "POST",
        "/v1/sessions",
        &[("content-type", "application/sdp")],
        &OFFER.replace("m=audio", "m=video"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        json(&body)["error"]["message"],
        "the SDP offer has no audio section"
    );

    // A well-formed offer gets past the parser (to the readiness check: no models here).
    let (status, _, body) = call(
        &s,
        "POST",
        "/v1/sessions",
        &[("content-type", "application/sdp")],
        OFFER,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn an_internal_error_says_nothing_of_itself_to_the_client() {
    let detail = "engine at 0x55d4c3a2b1f0 failed: /opt/models/llm.gguf unreadable";
    let response = AppError::Internal(detail.into()).into_response();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert_eq!(json(&body)["error"]["message"], "internal error");
    assert!(
        !body.contains("0x55d4") && !body.contains("/opt/models"),
        "{body}"
    );
}

#[tokio::test]
async fn healthz_says_alive_and_nothing_that_helps_guessing() {
    let s = state_with(&[]);
    let (status, _, body) = call(&s, "GET", "/healthz", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body), serde_json::json!({ "status": "alive" }));
}

// --- 4. HTTP hardening -----------------------------------------------------------------------

#[tokio::test]
async fn an_oversized_offer_is_refused_from_its_content_length_before_any_body() {
    let s = state_with(&[]);
    let addr = serve(&s).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // Under the framework's own 2 MiB default, over the 64 KiB offer limit; no body follows.
    let request = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n",
        MAX_OFFER_BYTES + 1
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut stream)
        .await
        .expect("413 at once, without waiting for the body");
    assert_eq!(status_of(&head), 413, "{head}");
}

#[tokio::test]
async fn a_streamed_offer_is_cut_off_once_it_passes_the_limit() {
    let s = state_with(&[]);
    let addr = serve(&s).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = vec![b'a'; 8 * 1024];
    for _ in 0..(MAX_OFFER_BYTES / chunk.len() + 1) {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    // The body never ends (no last chunk): the answer must come anyway.
    let head = read_head(&mut stream)
        .await
        .expect("413 while the body is still open");
    assert_eq!(status_of(&head), 413, "{head}");
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let s = state_with(&[("HTTP_HEADER_TIMEOUT_S", "1")]);
    let addr = serve(&s).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let answer = read_to_close(&mut stream)
        .await
        .expect("the server closes a connection stuck in its headers");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
    assert!(
        answer.is_empty() || status_of(&answer) == 408,
        "closed, or told 408: {answer:?}"
    );
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_until_one_closes() {
    let s = state_with(&[("HTTP_MAX_CONNECTIONS", "2")]);
    let addr = serve(&s).await;
    // Two connections that send nothing hold both slots.
    let mut held = vec![
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    let deadline = tokio::time::Instant::now() + BOUND;
    while s.metrics.http_connections.get() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the two were never accepted"
        );
        tokio::task::yield_now().await;
    }
    // A third connects (the kernel's backlog) and asks, but is not served while both are held.
    // A correct server never answers here, so the bounded wait can only miss a broken cap.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), read_head(&mut third)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    assert_eq!(s.metrics.http_connections.get(), 2);

    // One closes: the third is accepted and answered.
    drop(held.pop());
    let answer = read_to_close(&mut third).await.expect("an answer");
    assert_eq!(status_of(&answer), 200, "{answer}");
}

#[tokio::test]
async fn a_request_whose_body_trickles_gets_408() {
    let s = state_with(&[("HTTP_REQUEST_TIMEOUT_S", "1")]);
    let addr = serve(&s).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\n\
              Content-Length: 1000\r\n\r\nv=0\r\n",
        )
        .await
        .unwrap();
    let head = read_head(&mut stream)
        .await
        .expect("an answer although the body never completes");
    assert_eq!(status_of(&head), 408, "{head}");
}

#[tokio::test]
async fn session_creation_is_limited_per_client_address() {
    let s = state_with(&[("SESSIONS_PER_IP_PER_MINUTE", "3")]);
    let addr = serve(&s).await;
    for _ in 0..3 {
        // Within the budget the request goes on (to 503: no models are loaded here).
        let answer = post_offer(addr, "").await;
        assert_eq!(status_of(&answer), 503, "{answer}");
    }
    // A forged X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    let answer = post_offer(addr, "X-Forwarded-For: 192.0.2.99\r\n").await;
    assert_eq!(status_of(&answer), 429, "{answer}");
    let retry: u64 = header_of(&answer, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(
        s.metrics
            .render()
            .contains("goassist_sessions_rejected_total{reason=\"rate_limited\"} 1")
    );
    // Other routes are not limited.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status_of(&read_to_close(&mut stream).await.unwrap()), 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let s = state_with(&[
        ("SESSIONS_PER_IP_PER_MINUTE", "1"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    let addr = serve(&s).await;
    let first = post_offer(addr, "X-Forwarded-For: 192.0.2.1\r\n").await;
    assert_eq!(status_of(&first), 503, "{first}");
    let again = post_offer(addr, "X-Forwarded-For: 192.0.2.1\r\n").await;
    assert_eq!(status_of(&again), 429, "{again}");
    let other = post_offer(addr, "X-Forwarded-For: 192.0.2.2\r\n").await;
    assert_eq!(status_of(&other), 503, "{other}");
}

#[tokio::test]
async fn a_huge_drain_deadline_is_refused_and_leaves_no_half_started_drain() {
    let s = state_with(&[]);
    let auth = format!("Bearer {ADMIN}");
    let (status, _, body) = call(
        &s,
        "POST",
        "/admin/drain",
        &[("authorization", &auth)],
        r#"{"deadline_s": 18446744073709551615}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(!s.sessions.is_draining(), "a refused drain starts nothing");
    assert!(s.sessions.admit().is_ok(), "sessions are still admitted");

    // The registry itself cannot overflow either: the deadline is cut to the hour.
    let status = s.sessions.start_drain(Duration::MAX);
    assert!(status.draining);
    assert!(status.deadline_in_s.unwrap() <= 3600, "{status:?}");
    s.sessions.resume();
    assert!(!s.sessions.is_draining());
}

#[test]
fn the_hardening_settings_have_safe_defaults_and_a_bad_proxy_list_stops_start_up() {
    let s = state_with(&[]);
    assert_eq!(s.config.sessions_per_ip_per_minute, 20);
    assert!(
        s.config.trusted_proxies.is_empty(),
        "no proxy is trusted unless named"
    );
    assert_eq!(s.config.http_header_timeout_s, 10);
    assert_eq!(s.config.http_request_timeout_s, 30);

    let validated = validate_with(&[("TRUSTED_PROXIES", "10.0.0.0/8,not-an-address")]);
    assert!(
        validated.config.is_none(),
        "a typo must not trust the wrong peers"
    );
    assert!(
        validated
            .problems
            .iter()
            .any(|p| p.message.contains("TRUSTED_PROXIES")),
        "{:?}",
        validated.problems
    );
}

// --- 2. join tokens and TURN credentials -----------------------------------------------------

const JOIN_SECRET: &str = "join-token-secret-0123456789abcdef";

fn rejected(state: &AppState, reason: &str) -> u64 {
    state
        .metrics
        .sessions_rejected_total
        .with_label_values(&[reason])
        .get()
}

#[tokio::test]
async fn with_a_token_secret_only_a_valid_join_token_starts_a_session() {
    use goassist_protocol::auth::{Audience, issue_token};
    let s = state_with(&[("SESSION_TOKEN_SECRET", JOIN_SECRET)]);
    let now = unix_now();
    let sdp = ("content-type", "application/sdp");
    let valid = issue_token(Audience::VoiceSession, JOIN_SECRET, "user-1", now + 60);
    let refused = [
        ("token_missing", None),
        (
            "token_expired",
            Some(issue_token(
                Audience::VoiceSession,
                JOIN_SECRET,
                "user-1",
                now - 1,
            )),
        ),
        (
            "token_invalid",
            Some(issue_token(
                Audience::VoiceSession,
                "another-secret-0123456789abcdef-xyz",
                "user-1",
                now + 60,
            )),
        ),
        // A Pixel Streaming player token signed with the same secret opens nothing here.
        (
            "token_invalid",
            Some(issue_token(
                Audience::PixelStreamingPlayer,
                JOIN_SECRET,
                "user-1",
                now + 60,
            )),
        ),
        ("token_invalid", Some(format!("{valid}x"))),
        ("token_invalid", Some("not a token".to_string())),
    ];
    for (reason, token) in refused {
        let before = rejected(&s, reason);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![sdp];
        headers.extend(auth.as_deref().map(|a| ("authorization", a)));
        let (status, h, body) = call(&s, "POST", "/v1/sessions", &headers, OFFER).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}: {body}");
        assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            json(&body)["error"]["message"],
            "missing or invalid bearer token",
            "the same words whatever was wrong"
        );
        assert_eq!(rejected(&s, reason), before + 1, "{reason} is counted");
    }

    // A valid token gets past the check, to the readiness check (no models in this test).
    let auth = format!("Bearer {valid}");
    let (status, _, body) = call(
        &s,
        "POST",
        "/v1/sessions",
        &[sdp, ("authorization", &auth)],
        OFFER,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(json(&body)["error"]["code"], "not_ready");

    // The ICE servers (TURN credentials) need the same token.
    let (status, _, _) = call(&s, "GET", "/v1/ice-servers", &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = call(
        &s,
        "GET",
        "/v1/ice-servers",
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Without the setting, nothing is asked for.
    let open = state_with(&[]);
    let (status, _, body) = call(&open, "POST", "/v1/sessions", &[sdp], OFFER).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn a_turn_secret_gives_every_hand_out_its_own_expiring_credentials() {
    use goassist_protocol::auth::turn_credentials;
    let turn_secret = "turn-rest-secret-0123456789";
    let s = state_with(&[
        ("WEBRTC_TURN_SERVER", "turn:turn.example.com:3478"),
        ("WEBRTC_TURN_SECRET", turn_secret),
        ("WEBRTC_TURN_CREDENTIAL_TTL_S", "120"),
    ]);
    let mut usernames = HashSet::new();
    for _ in 0..3 {
        let (status, h, body) = call(&s, "GET", "/v1/ice-servers", &[], "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert!(!body.contains(turn_secret));
        let turn = json(&body)["iceServers"][1].clone();
        let username = turn["username"].as_str().unwrap().to_string();
        let (expiry, label) = username.split_once(':').unwrap();
        let expiry: u64 = expiry.parse().unwrap();
        assert!(expiry.abs_diff(unix_now() + 120) <= 5, "{username}");
        let expected = turn_credentials(turn_secret, label, expiry - 120, 120);
        assert_eq!(turn["credential"], expected.credential.as_str());
        usernames.insert(username);
    }
    assert_eq!(usernames.len(), 3, "no two clients share credentials");
}

#[test]
fn turn_and_token_settings_are_checked_and_never_shown() {
    let messages = |v: &config::Validated| -> Vec<String> {
        v.problems.iter().map(|p| p.message.clone()).collect()
    };

    let short = validate_with(&[("SESSION_TOKEN_SECRET", "short-secret")]);
    assert!(
        short.config.is_none(),
        "a short key could be found offline from one token"
    );
    assert!(!format!("{:?}", short.problems).contains("short-secret"));

    let stat = validate_with(&[
        ("WEBRTC_TURN_SERVER", "turn:t.example"),
        ("WEBRTC_TURN_USERNAME", "u"),
        ("WEBRTC_TURN_PASSWORD", "static-pass-123"),
    ]);
    assert!(stat.config.is_some(), "static credentials still work");
    assert!(
        messages(&stat)
            .iter()
            .any(|m| m.contains("static TURN credentials go to every client")),
        "{:?}",
        messages(&stat)
    );

    let rest = validate_with(&[
        ("WEBRTC_TURN_SERVER", "turn:t.example"),
        ("WEBRTC_TURN_SECRET", "turn-rest-secret-0123456789"),
    ]);
    assert!(rest.config.is_some(), "{:?}", messages(&rest));
    assert!(
        messages(&rest).iter().all(|m| !m.contains("TURN")),
        "{:?}",
        messages(&rest)
    );
    let shown = format!("{:?} {:?}", rest.effective, rest.config);
    assert!(!shown.contains("turn-rest-secret"), "{shown}");

    let neither = validate_with(&[("WEBRTC_TURN_SERVER", "turn:t.example")]);
    assert!(neither.config.is_none());
    assert!(
        messages(&neither)[0]
            .contains("required when WEBRTC_TURN_SERVER is set without WEBRTC_TURN_SECRET"),
        "{:?}",
        messages(&neither)
    );
}

/// `GET path` over a real connection with extra header lines: the status.
async fn get_status(addr: std::net::SocketAddr, path: &str, extra_headers: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra_headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    status_of(&read_to_close(&mut stream).await.expect("an answer"))
}

#[tokio::test]
async fn metrics_on_the_api_port_are_for_private_clients_only_by_default() {
    // The test's reverse proxy is loopback; the client is what it names in X-Forwarded-For.
    let s = state_with(&[("TRUSTED_PROXIES", "127.0.0.1")]);
    assert_eq!(s.config.api_metrics, config::ApiMetrics::Private);
    let addr = serve(&s).await;
    assert_eq!(get_status(addr, "/metrics", "").await, 200, "loopback");
    let private = "X-Forwarded-For: 10.0.0.7\r\n";
    assert_eq!(
        get_status(addr, "/metrics", private).await,
        200,
        "in-cluster Prometheus"
    );
    let public = "X-Forwarded-For: 203.0.113.5\r\n";
    assert_eq!(
        get_status(addr, "/metrics", public).await,
        404,
        "internet client"
    );
    assert_eq!(
        get_status(addr, "/healthz", public).await,
        200,
        "probes stay public"
    );

    let open = state_with(&[("TRUSTED_PROXIES", "127.0.0.1"), ("API_METRICS", "public")]);
    let addr = serve(&open).await;
    assert_eq!(get_status(addr, "/metrics", public).await, 200);

    let off = state_with(&[("API_METRICS", "off")]);
    let addr = serve(&off).await;
    assert_eq!(get_status(addr, "/metrics", "").await, 404);
    // The separate Prometheus listener serves it whatever API_METRICS says.
    let response = goassist_inference::http::metrics_router(off.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
