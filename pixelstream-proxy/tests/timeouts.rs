//! Liveness over real sockets: a peer that stops answering pings, or a player that never
//! subscribes, is closed and counted.

mod common;

use std::time::Duration;

use common::{Proxy, metric, player};
use goassist_pixelstream_proxy::Frontend;

#[tokio::test]
async fn silent_peers_hit_the_ping_timeout() {
    let proxy = Proxy::start(
        &[("PS_PING_INTERVAL_S", "1"), ("PS_PING_TIMEOUT_S", "2")],
        Frontend::empty(),
    )
    .await;
    // Never polled, so tungstenite never answers the server's pings.
    let _silent = player(&proxy, "").await;
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, text) = proxy.admin_get("/metrics").await;
        if metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="ping_timeout"}"#,
        ) == 1.0
        {
            assert_eq!(metric(&text, "goassist_pixelstream_players"), 0.0);
            gone = true;
            break;
        }
    }
    assert!(gone, "ping timeout within 5 s");
}

#[tokio::test]
async fn players_that_never_subscribe_hit_the_idle_timeout() {
    let proxy = Proxy::start(&[("PS_IDLE_TIMEOUT_S", "5")], Frontend::empty()).await;
    let mut idle = player(&proxy, "").await;
    assert_eq!(idle.closed().await, Some(1008));
    let (_, text) = proxy.admin_get("/metrics").await;
    assert_eq!(
        metric(
            &text,
            r#"goassist_pixelstream_rejections_total{reason="idle_timeout"}"#
        ),
        1.0
    );
}
