//! The WHIP resource of a real session, end to end: the real server (real models), a real
//! WebRTC client that follows `Location` as any WHIP client does. The `Location` is the
//! capability URL `/v1/sessions/<32-hex id>/<64-hex secret>`; the id alone (which the `session`
//! event, the admin list and the logs show) cannot end the session, a wrong secret gets the 404
//! of an unknown session, and the client's own DELETE on its `Location` ends it. The secret never
//! appears in the admin list or the server's log.
//!
//! The server runs as a public deployment would: `SESSION_TOKEN_SECRET` (a join token is needed
//! to start a session or read the ICE servers) and `WEBRTC_TURN_SECRET` (each hand-out gets its
//! own expiring TURN credentials). Neither secret reaches a response, `/metrics` or the log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use goassist_client::VoiceClient;
use goassist_e2e::{Server, tail};
use goassist_protocol::auth::{Audience, issue_token, turn_credentials, unix_now};

const ADMIN: &str = "e2e-admin-token-0123456789abcdef";
const JOIN_SECRET: &str = "e2e-join-token-secret-0123456789abcdef";
const TURN_SECRET: &str = "e2e-turn-rest-secret-0123";

/// One HTTP/1.1 request on loopback: (status, body).
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn listed_sessions(port: u16) -> serde_json::Value {
    let auth = format!("Bearer {ADMIN}");
    let (status, body) = request(port, "GET", "/admin/sessions", &[("Authorization", &auth)]);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["sessions"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_client_holding_the_location_ends_its_session() {
    let mut server = Server::start(&[
        ("ADMIN_TOKEN", ADMIN.into()),
        ("SESSION_TOKEN_SECRET", JOIN_SECRET.into()),
        ("WEBRTC_TURN_SERVER", "turn:127.0.0.1:3478".into()),
        ("WEBRTC_TURN_SECRET", TURN_SECRET.into()),
        ("WEBRTC_TURN_CREDENTIAL_TTL_S", "600".into()),
    ]);
    server.wait_ready(Duration::from_secs(240));
    let port = server.port;
    let whip = format!("{}/v1/sessions", server.url());

    // No join token, or one signed with another secret: 401, and no session.
    let Err(err) = VoiceClient::connect(&whip).await else {
        panic!("a session without a join token");
    };
    assert!(err.to_string().contains("401"), "{err}");
    let forged = issue_token(
        Audience::VoiceSession,
        "not-the-secret-0123456789abcdef-x",
        "mallory",
        unix_now() + 60,
    );
    let Err(err) = VoiceClient::connect_with_token(&whip, Some(&forged)).await else {
        panic!("a session with a forged join token");
    };
    assert!(err.to_string().contains("401"), "{err}");
    let (status, _) = request(port, "GET", "/v1/ice-servers", &[]);
    assert_eq!(status, 401, "the TURN credentials are not for strangers");

    // With a token: the ICE servers carry TURN credentials of this hand-out's own, which the
    // TURN server can check with the shared secret alone.
    let token = issue_token(
        Audience::VoiceSession,
        JOIN_SECRET,
        "user-42",
        unix_now() + 60,
    );
    let bearer_token = format!("Bearer {token}");
    let (status, body) = request(
        port,
        "GET",
        "/v1/ice-servers",
        &[("Authorization", &bearer_token)],
    );
    assert_eq!(status, 200, "{body}");
    let servers: serde_json::Value = serde_json::from_str(&body).unwrap();
    let turn = &servers["iceServers"][1];
    assert_eq!(turn["urls"], "turn:127.0.0.1:3478");
    let username = turn["username"].as_str().expect("a TURN username");
    let (expiry, label) = username.split_once(':').expect("<expiry>:<label>");
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        expiry.abs_diff(unix_now() + 600) <= 5,
        "expires after the TTL: {username}"
    );
    assert!(is_hex(label, 16), "an unguessable label: {username}");
    let recomputed = turn_credentials(TURN_SECRET, label, expiry - 600, 600);
    assert_eq!(turn["credential"], recomputed.credential.as_str());
    let (_, again) = request(
        port,
        "GET",
        "/v1/ice-servers",
        &[("Authorization", &bearer_token)],
    );
    assert!(
        !again.contains(username),
        "each hand-out has its own credentials"
    );

    let client = VoiceClient::connect_with_token(&whip, Some(&token))
        .await
        .expect("WebRTC session");

    let resource = client.resource().expect("a Location").to_string();
    let path = resource
        .strip_prefix(&server.url())
        .unwrap_or_else(|| panic!("Location on this server: {resource}"));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    assert_eq!(parts[..2], ["v1", "sessions"], "{path}");
    assert_eq!(parts.len(), 4, "/v1/sessions/<id>/<secret>: {path}");
    let (id, secret) = (parts[2], parts[3]);
    assert!(is_hex(id, 32), "a 128-bit id: {id}");
    assert!(is_hex(secret, 64), "a 256-bit secret");

    let event = client
        .wait_for_event("\"session\"", Duration::from_secs(30))
        .await
        .expect("the session event");
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        event["session_id"], id,
        "the event names the same public id"
    );

    let listed = listed_sessions(port);
    assert_eq!(listed[0]["id"], id);
    assert!(is_hex(listed[0]["bridge_session"].as_str().unwrap(), 16));
    assert!(
        !listed.to_string().contains(secret),
        "the list never shows the secret"
    );

    // A stranger who learned the id cannot end the session.
    let (status, _) = request(port, "DELETE", &format!("/v1/sessions/{id}"), &[]);
    assert_eq!(status, 401);
    let wrong: String = secret
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let (status, body) = request(port, "DELETE", &format!("/v1/sessions/{id}/{wrong}"), &[]);
    assert_eq!(status, 404, "{body}");
    let bearer = format!("Bearer {wrong}");
    let (status, _) = request(
        port,
        "DELETE",
        &format!("/v1/sessions/{id}"),
        &[("Authorization", &bearer)],
    );
    assert_eq!(status, 404);
    assert_eq!(
        listed_sessions(port).as_array().unwrap().len(),
        1,
        "the session is still open"
    );

    // The client's DELETE on its Location ends it.
    client.close().await.expect("DELETE on the Location");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed_sessions(port).as_array().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the session did not end; log:\n{}",
            tail(&server.logs(), 30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, metrics) = request(port, "GET", "/metrics", &[]);
    assert!(
        metrics.contains("goassist_sessions_ended_total{reason=\"client\"} 1"),
        "ended by the client"
    );
    let rejected = "goassist_sessions_rejected_total{reason=\"token_missing\"} 2";
    assert!(
        metrics.contains(rejected),
        "both tokenless calls are counted"
    );
    assert!(metrics.contains("goassist_sessions_rejected_total{reason=\"token_invalid\"} 1"));
    let log = server.logs();
    assert!(log.contains(id), "the logs name the session by its id");
    assert!(log.contains("user-42"), "the log names the token's subject");
    for secret in [secret, JOIN_SECRET, TURN_SECRET, token.as_str()] {
        assert!(!log.contains(secret), "a secret is never logged");
        assert!(!metrics.contains(secret), "nor exported");
    }
}
