//! Real-socket integration: the full signalling flow over WebSockets on loopback, metrics,
//! health endpoints, page serving and graceful shutdown.

mod common;

use common::{Proxy, http_get, metric, player, streamer};
use goassist_pixelstream_proxy::Frontend;
use serde_json::json;

#[tokio::test]
async fn full_flow_over_real_sockets_with_metrics() {
    let proxy = Proxy::start(&[], Frontend::empty()).await;
    let (status, body) = proxy.admin_get("/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert_eq!(proxy.admin_get("/healthz").await.0, 200);

    let mut s = streamer(&proxy, "", "Avatar").await;
    let mut p = player(&proxy, "").await;
    p.send(json!({"type": "listStreamers"})).await;
    assert_eq!(p.expect("streamerList").await["ids"], json!(["Avatar"]));
    p.send(json!({"type": "subscribe", "streamerId": "Avatar"}))
        .await;
    let connected = s.expect("playerConnected").await;
    let player_id = connected["playerId"].as_str().unwrap().to_owned();

    s.send(json!({"type": "offer", "playerId": player_id, "sdp": "v=0 offer"}))
        .await;
    assert_eq!(p.recv().await, json!({"type": "offer", "sdp": "v=0 offer"}));
    p.send(json!({"type": "answer", "sdp": "v=0 answer"})).await;
    assert_eq!(
        s.recv().await,
        json!({"type": "answer", "sdp": "v=0 answer", "playerId": player_id})
    );
    let candidate = json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    p.send(json!({"type": "iceCandidate", "candidate": candidate}))
        .await;
    assert_eq!(s.expect("iceCandidate").await["candidate"], candidate);
    s.send(json!({"type": "iceCandidate", "playerId": player_id, "candidate": candidate}))
        .await;
    assert_eq!(p.expect("iceCandidate").await["candidate"], candidate);

    p.send(json!({"type": "ping", "time": 42})).await;
    assert_eq!(p.recv().await, json!({"type": "pong", "time": 42}));
    // A malformed message is rejected and counted; the connection keeps working.
    p.send_text("{not json".into()).await;
    p.send(json!({"type": "bogus"})).await;
    p.send(json!({"type": "ping", "time": 43})).await;
    assert_eq!(p.expect("pong").await["time"], 43);

    let (_, text) = proxy.admin_get("/metrics").await;
    assert_eq!(metric(&text, "goassist_pixelstream_streamers"), 1.0);
    assert_eq!(metric(&text, "goassist_pixelstream_players"), 1.0);
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_messages_relayed_total{type="offer"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_messages_relayed_total{type="answer"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_messages_relayed_total{type="iceCandidate"}"#
        ),
        2.0
    );
    assert_eq!(
        metric(&text, "goassist_pixelstream_relay_latency_seconds_count"),
        4.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="not_json"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="unknown_type"}"#
        ),
        1.0
    );

    // Streamer leaves: the player is told and stays connected.
    drop(s);
    p.expect("streamerDisconnected").await;
    p.send(json!({"type": "listStreamers"})).await;
    assert_eq!(p.expect("streamerList").await["ids"], json!([]));

    // Graceful shutdown closes sockets with 1001 and reports not ready first.
    let closing = tokio::spawn(async move { p.closed().await });
    proxy.shutdown().await.expect("clean shutdown");
    assert_eq!(closing.await.unwrap(), Some(1001));
}

#[tokio::test]
async fn player_page_is_served_on_the_player_port() {
    let mut frontend = Frontend::empty();
    frontend.insert("/index.html", "<html>player</html>");
    frontend.insert("/player.js", "console.log(1)");
    let proxy = Proxy::start(&[], frontend).await;
    let (status, body) = http_get(proxy.player, "/").await;
    assert_eq!((status, body.as_str()), (200, "<html>player</html>"));
    let (status, _) = http_get(proxy.player, "/player.js").await;
    assert_eq!(status, 200);
    assert_ne!(http_get(proxy.player, "/../../etc/passwd").await.0, 200);
    assert_eq!(http_get(proxy.player, "/missing").await.0, 404);
    // The streamer port serves no page.
    assert_eq!(http_get(proxy.streamer, "/").await.0, 426);
}

#[tokio::test]
async fn disconnect_player_closes_the_socket_with_1011() {
    let proxy = Proxy::start(&[], Frontend::empty()).await;
    let mut s = streamer(&proxy, "", "Avatar").await;
    let mut p = player(&proxy, "").await;
    p.send(json!({"type": "subscribe", "streamerId": "Avatar"}))
        .await;
    let id = s.expect("playerConnected").await["playerId"].clone();
    s.send(json!({"type": "disconnectPlayer", "playerId": id, "reason": "bye"}))
        .await;
    assert_eq!(p.closed().await, Some(1011));
    assert_eq!(s.expect("playerDisconnected").await["playerId"], id);
}
