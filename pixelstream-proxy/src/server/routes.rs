//! HTTP edges: the player port (page + player WebSocket on the same origin), the streamer
//! port, and the admin port. Authentication happens here, before the WebSocket upgrade, so
//! an unauthorised client never gets a socket.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::socket::serve_socket;
use super::state::{Shared, unix_now};
use crate::auth::{Audience, TokenError, secrets_match, verify_token};
use crate::signalling::{RejectReason, Role};

/// Query parameters a WebSocket upgrade may carry.
#[derive(Debug, Default, Deserialize)]
struct Credentials {
    token: Option<String>,
    secret: Option<String>,
}

/// Router of the player port: the page, its assets, and the player WebSocket on any path.
pub fn player_router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(get(player_entry)).with_state(shared)
}

/// Router of the streamer port: the streamer WebSocket on any path.
pub fn streamer_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(get(streamer_entry))
        .with_state(shared)
}

/// Router of the admin port.
pub fn admin_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

fn refuse(shared: &Shared, reason: RejectReason, status: StatusCode) -> Response {
    shared.metrics.reject(reason);
    tracing::warn!(reason = reason.as_str(), "upgrade refused");
    (status, format!("{}\n", reason.as_str())).into_response()
}

async fn player_entry(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Query(credentials): Query<Credentials>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return static_file(&shared, uri.path());
    };
    let bound_streamer = match &shared.config.player_token_secret {
        None => None,
        Some(secret) => {
            let token = credentials.token.unwrap_or_default();
            match verify_token(
                Audience::PixelStreamingPlayer,
                secret.expose(),
                &token,
                unix_now(),
            ) {
                Ok(claims) => Some(claims.subject),
                Err(e) => return refuse(&shared, token_reason(e), StatusCode::UNAUTHORIZED),
            }
        }
    };
    if shared.counts().1 >= shared.config.limits.max_players {
        return refuse(
            &shared,
            RejectReason::TooManyConnections,
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    let cap = shared.config.limits.max_player_message_bytes * 2;
    upgrade
        .max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| serve_socket(shared, socket, Role::Player { bound_streamer }))
}

async fn streamer_entry(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(credentials): Query<Credentials>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "streamer WebSocket endpoint\n",
        )
            .into_response();
    };
    if let Some(expected) = &shared.config.streamer_secret {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let presented = credentials.secret.as_deref().or(bearer).unwrap_or("");
        if !secrets_match(expected.expose(), presented) {
            return refuse(
                &shared,
                RejectReason::BadStreamerSecret,
                StatusCode::UNAUTHORIZED,
            );
        }
    }
    if shared.counts().0 >= shared.config.limits.max_streamers {
        return refuse(
            &shared,
            RejectReason::TooManyConnections,
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    let cap = shared.config.limits.max_streamer_message_bytes * 2;
    upgrade
        .max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| serve_socket(shared, socket, Role::Streamer))
}

fn token_reason(e: TokenError) -> RejectReason {
    match e {
        TokenError::Missing => RejectReason::TokenMissing,
        TokenError::Malformed => RejectReason::TokenMalformed,
        TokenError::BadSignature => RejectReason::TokenBadSignature,
        TokenError::Expired => RejectReason::TokenExpired,
    }
}

fn static_file(shared: &Shared, path: &str) -> Response {
    match shared.frontend.get(path) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}
