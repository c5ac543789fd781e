//! Hardening over real sockets: player tokens and the streamer secret are checked before the
//! WebSocket upgrade; players per streamer, message size, rate and slow consumers are bounded.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, Proxy, metric, player, streamer};
use goassist_pixelstream_proxy::Frontend;
use goassist_pixelstream_proxy::auth::{Audience, issue_token};
use serde_json::json;
use tokio_tungstenite::tungstenite::Error as WsError;

const TOKEN_SECRET: &str = "player-token-secret-0123456789";
const STREAMER_SECRET: &str = "streamer-secret-0123456789";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn http_status(result: Result<Client, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
        Ok(_) => panic!("expected an HTTP refusal, got a WebSocket"),
    }
}

#[tokio::test]
async fn player_tokens_are_enforced_before_upgrade() {
    let proxy = Proxy::start(
        &[("PS_PLAYER_TOKEN_SECRET", TOKEN_SECRET)],
        Frontend::empty(),
    )
    .await;
    let mut mine = streamer(&proxy, "", "Mine").await;
    let _theirs = streamer(&proxy, "", "Theirs").await;
    let url = |q: &str| format!("ws://{}/{q}", proxy.player);

    assert_eq!(http_status(Client::connect(&url("")).await), 401);
    let expired = issue_token(
        Audience::PixelStreamingPlayer,
        TOKEN_SECRET,
        "Mine",
        now() - 1,
    );
    assert_eq!(
        http_status(Client::connect(&url(&format!("?token={expired}"))).await),
        401
    );
    let valid = issue_token(
        Audience::PixelStreamingPlayer,
        TOKEN_SECRET,
        "Mine",
        now() + 60,
    );
    let tampered = valid.replacen("TWluZQ", "VGhlaXJz", 1); // Mine -> Theirs
    assert_ne!(tampered, valid);
    assert_eq!(
        http_status(Client::connect(&url(&format!("?token={tampered}"))).await),
        401
    );
    let forged = issue_token(
        Audience::PixelStreamingPlayer,
        "another-secret-of-enough-length",
        "Mine",
        now() + 60,
    );
    assert_eq!(
        http_status(Client::connect(&url(&format!("?token={forged}"))).await),
        401
    );
    assert_eq!(
        http_status(Client::connect(&url("?token=garbage")).await),
        401
    );

    let mut p = player(&proxy, &format!("?token={valid}")).await;
    p.send(json!({"type": "listStreamers"})).await;
    assert_eq!(p.expect("streamerList").await["ids"], json!(["Mine"]));
    p.send(json!({"type": "subscribe", "streamerId": "Theirs"}))
        .await;
    p.expect("subscribeFailed").await;
    p.send(json!({"type": "subscribe", "streamerId": "Mine"}))
        .await;
    mine.expect("playerConnected").await;

    let (_, text) = proxy.admin_get("/metrics").await;
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="token_missing"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="token_expired"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="token_bad_signature"}"#
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="token_malformed"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="token_streamer_mismatch"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn streamer_secret_is_required_when_configured() {
    let proxy = Proxy::start(
        &[("PS_STREAMER_SECRET", STREAMER_SECRET)],
        Frontend::empty(),
    )
    .await;
    let url = |q: &str| format!("ws://{}/{q}", proxy.streamer);
    assert_eq!(http_status(Client::connect(&url("")).await), 401);
    assert_eq!(
        http_status(Client::connect(&url("?secret=wrong")).await),
        401
    );
    streamer(&proxy, &format!("?secret={STREAMER_SECRET}"), "ByQuery").await;

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url("").into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {STREAMER_SECRET}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("bearer accepted");
    use futures_util::StreamExt;
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("\"config\""));
    let (_, text) = proxy.admin_get("/metrics").await;
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="bad_streamer_secret"}"#
        ),
        2.0
    );
}

#[tokio::test]
async fn players_per_streamer_are_capped() {
    let proxy = Proxy::start(&[("PS_MAX_PLAYERS_PER_STREAMER", "2")], Frontend::empty()).await;
    let mut s = streamer(&proxy, "", "Avatar").await;
    let mut players = Vec::new();
    for _ in 0..2 {
        let mut p = player(&proxy, "").await;
        p.send(json!({"type": "subscribe", "streamerId": "Avatar"}))
            .await;
        s.expect("playerConnected").await;
        players.push(p);
    }
    let mut third = player(&proxy, "").await;
    third
        .send(json!({"type": "subscribe", "streamerId": "Avatar"}))
        .await;
    let failed = third.expect("subscribeFailed").await;
    assert!(
        failed["message"].as_str().unwrap().contains("full"),
        "{failed}"
    );
}

#[tokio::test]
async fn rate_and_size_limits_close_abusers() {
    let proxy = Proxy::start(
        &[
            ("PS_PLAYER_RATE", "1"),
            ("PS_PLAYER_BURST", "3"),
            ("PS_MAX_PLAYER_MESSAGE_BYTES", "512"),
        ],
        Frontend::empty(),
    )
    .await;
    let mut flooder = player(&proxy, "").await;
    for _ in 0..10 {
        flooder.send(json!({"type": "ping", "time": 1})).await;
    }
    let mut pongs = 0;
    let code = loop {
        match tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut flooder.ws),
        )
        .await
        {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))) => pongs += 1,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f)))) => {
                break f.map(|f| u16::from(f.code));
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((pongs, code), (3, Some(1008)));

    let mut big = player(&proxy, "").await;
    big.send(json!({"type": "ping", "pad": "x".repeat(800)}))
        .await;
    assert_eq!(big.closed().await, Some(1009));
    // Far beyond the cap the WebSocket layer refuses to buffer it at all.
    let mut huge = player(&proxy, "").await;
    huge.send_text("x".repeat(100_000)).await;
    huge.closed().await;

    let (_, text) = proxy.admin_get("/metrics").await;
    // Three answered, then the fourth drop past the burst of three closes the flooder.
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="rate_limited"}"#
        ),
        4.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="too_large"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="transport_error"}"#
        ),
        1.0
    );
    // The server is still serving.
    let mut fine = player(&proxy, "").await;
    fine.send(json!({"type": "ping", "time": 5})).await;
    fine.expect("pong").await;
}

#[tokio::test]
async fn a_stuck_player_never_stalls_the_streamer_or_other_players() {
    let proxy = Proxy::start(&[("PS_SEND_QUEUE", "8")], Frontend::empty()).await;
    let mut s = streamer(&proxy, "", "Avatar").await;
    let mut stuck = player(&proxy, "").await;
    stuck
        .send(json!({"type": "subscribe", "streamerId": "Avatar"}))
        .await;
    let stuck_id = s.expect("playerConnected").await["playerId"].clone();
    let mut healthy = player(&proxy, "").await;
    healthy
        .send(json!({"type": "subscribe", "streamerId": "Avatar"}))
        .await;
    let healthy_id = s.expect("playerConnected").await["playerId"].clone();

    // The stuck player never reads. Large offers fill its socket buffers, then its queue.
    let sdp = "a".repeat(200_000);
    let mut delivered = 0;
    for round in 0..200 {
        s.send(json!({"type": "offer", "playerId": stuck_id, "sdp": sdp}))
            .await;
        s.send(json!({"type": "iceCandidate", "playerId": healthy_id, "candidate": {"candidate": format!("c{round}")}})).await;
        let m = healthy.expect("iceCandidate").await;
        assert_eq!(m["candidate"]["candidate"], format!("c{round}"));
        delivered += 1;
        let (_, text) = proxy.admin_get("/metrics").await;
        if metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="slow_consumer"}"#,
        ) == 1.0
        {
            break;
        }
    }
    let (_, text) = proxy.admin_get("/metrics").await;
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="slow_consumer"}"#
        ),
        1.0,
        "after {delivered} rounds"
    );
    // The streamer learns the stuck player is gone and keeps serving the healthy one.
    let gone = s.expect("playerDisconnected").await;
    assert_eq!(gone["playerId"], stuck_id);
    s.send(json!({"type": "offer", "playerId": healthy_id, "sdp": "v=0"}))
        .await;
    healthy.expect("offer").await;
    drop(stuck);
}

/// A player upgrade carrying one extra request header (`Origin` as a browser page sends it,
/// `X-Forwarded-For` as a reverse proxy does).
async fn player_with(proxy: &Proxy, header: &'static str, value: &str) -> Result<Client, WsError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/", proxy.player)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(header, value.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(Client { ws })
}

async fn player_from_origin(proxy: &Proxy, origin: &str) -> Result<Client, WsError> {
    player_with(proxy, "Origin", origin).await
}

#[tokio::test]
async fn only_this_hosts_pages_and_allowed_origins_open_the_player_socket() {
    let proxy = Proxy::start(
        &[("PS_ALLOWED_ORIGINS", "https://app.example.com")],
        Frontend::empty(),
    )
    .await;
    let own = format!("http://{}", proxy.player);
    assert!(player_from_origin(&proxy, &own).await.is_ok(), "own page");
    assert!(
        player_from_origin(&proxy, "https://app.example.com")
            .await
            .is_ok(),
        "allowed origin"
    );
    assert_eq!(
        http_status(player_from_origin(&proxy, "https://evil.example").await),
        403
    );
    let (_, text) = proxy.admin_get("/metrics").await;
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="origin_not_allowed"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_player_sockets() {
    let proxy = Proxy::start(&[("PS_MAX_PLAYERS_PER_IP", "2")], Frontend::empty()).await;
    let first = player(&proxy, "").await;
    let _second = player(&proxy, "").await;
    let url = format!("ws://{}/", proxy.player);
    assert_eq!(http_status(Client::connect(&url).await), 429);
    let (_, text) = proxy.admin_get("/metrics").await;
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="too_many_from_address"}"#
        ),
        1.0
    );

    // The slot comes back when a socket closes: wait (bounded) for the server to see it.
    let mut first = first;
    first.ws.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(&url).await {
            Ok(_) => break,
            Err(WsError::Http(r)) if r.status() == 429 => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed socket's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn behind_a_trusted_reverse_proxy_each_forwarded_client_has_its_own_share() {
    let proxy = Proxy::start(
        &[
            ("PS_MAX_PLAYERS_PER_IP", "1"),
            ("PS_TRUSTED_PROXIES", "127.0.0.1"),
        ],
        Frontend::empty(),
    )
    .await;
    // Every connection comes from 127.0.0.1, the trusted reverse proxy; X-Forwarded-For names
    // the player behind it.
    let from = |client: &'static str| player_with(&proxy, "X-Forwarded-For", client);
    let _first = from("198.51.100.1").await.expect("first player");
    let _second = from("198.51.100.2")
        .await
        .expect("another player behind the same proxy");
    assert_eq!(
        http_status(from("198.51.100.1").await),
        429,
        "the first player's share is used"
    );
}
