//! One task per WebSocket: reads frames into the hub, writes the connection's bounded queue
//! out, pings, and enforces the ping and write timeouts. Everything protocol-related is in the
//! hub; this is only the socket shell around it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::sync::{mpsc, watch};

use super::state::{PeerHandle, Shared};
use tracing::Instrument;

use crate::signalling::{ConnId, RejectReason, Role};

/// Runs one connection until it closes, inside a span naming the connection.
pub async fn serve_socket(shared: Arc<Shared>, socket: WebSocket, role: Role) {
    let conn = shared.next_conn_id();
    let kind = if matches!(role, Role::Player { .. }) {
        "player"
    } else {
        "streamer"
    };
    let span = tracing::info_span!("ws", conn = conn.0, role = kind);
    run_connection(shared, socket, role, conn)
        .instrument(span)
        .await;
}

async fn run_connection(shared: Arc<Shared>, mut socket: WebSocket, role: Role, conn: ConnId) {
    let limits = shared.config.limits.clone();
    let is_player = matches!(role, Role::Player { .. });
    let (queue, mut outbound) = mpsc::channel::<String>(limits.send_queue_len);
    let (close, mut close_requested) = watch::channel(None);
    shared.connect(
        conn,
        role,
        PeerHandle {
            queue,
            close,
            is_player,
        },
    );
    tracing::debug!("connected");

    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + limits.ping_interval,
        limits.ping_interval,
    );
    let mut last_heard = Instant::now();
    let end = loop {
        tokio::select! {
            biased;
            changed = close_requested.changed() => {
                let request = if changed.is_ok() { close_requested.borrow().clone() } else { None };
                let (code, reason) = request.unwrap_or((1000, String::new()));
                let frame = CloseFrame { code, reason: reason.into() };
                // Best effort: the peer may already be gone.
                let _ = tokio::time::timeout(limits.write_timeout, socket.send(Message::Close(Some(frame)))).await;
                break End::ClosedByHub;
            }
            Some(text) = outbound.recv() => {
                if !write(&mut socket, Message::Text(text.into()), limits.write_timeout).await {
                    break End::Failed(RejectReason::WriteTimeout);
                }
            }
            frame = socket.recv() => {
                let received_at = Instant::now();
                last_heard = received_at;
                match frame {
                    Some(Ok(Message::Text(text))) => shared.receive(conn, text.as_str(), received_at),
                    Some(Ok(Message::Binary(_))) => shared.metrics.reject(RejectReason::BinaryFrame),
                    // axum answers pings itself; both only prove liveness.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break End::PeerClosed,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        break End::Failed(RejectReason::TransportError);
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= limits.ping_timeout {
                    let frame = CloseFrame { code: 1008, reason: "ping timeout".into() };
                    let _ = tokio::time::timeout(limits.write_timeout, socket.send(Message::Close(Some(frame)))).await;
                    break End::Failed(RejectReason::PingTimeout);
                }
                if !write(&mut socket, Message::Ping(Default::default()), limits.write_timeout).await {
                    break End::Failed(RejectReason::WriteTimeout);
                }
            }
        }
    };
    match end {
        End::ClosedByHub => {}
        End::PeerClosed => shared.disconnect(conn),
        End::Failed(reason) => {
            tracing::info!(reason = reason.as_str(), "connection dropped");
            shared.close(conn, reason, 1008, reason.as_str());
        }
    }
    tracing::debug!(?end, "disconnected");
}

#[derive(Debug)]
enum End {
    ClosedByHub,
    PeerClosed,
    Failed(RejectReason),
}

/// Sends one frame; false when it failed or blocked past `timeout` (a stuck peer).
async fn write(socket: &mut WebSocket, message: Message, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, socket.send(message)).await,
        Ok(Ok(()))
    )
}
