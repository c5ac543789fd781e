//! HTTP edges: the player port (page + player WebSocket on the same origin), the streamer
//! port, and the admin port. Authentication happens here, before the WebSocket upgrade, so
//! an unauthorised client never gets a socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use goassist_config::forwarded_client;
use serde::Deserialize;

use super::admission::{is_private, origin_allowed};
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    Query(credentials): Query<Credentials>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return static_file(&shared, uri.path());
    };
    if !origin_allowed(&headers, &shared.config.allowed_origins) {
        return refuse(
            &shared,
            RejectReason::OriginNotAllowed,
            StatusCode::FORBIDDEN,
        );
    }
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
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client = forwarded_client(peer.ip(), &shared.config.trusted_proxies, forwarded);
    let Some(address_slot) = shared
        .player_addresses
        .take(client, shared.config.max_players_per_ip)
    else {
        return refuse(
            &shared,
            RejectReason::TooManyFromAddress,
            StatusCode::TOO_MANY_REQUESTS,
        );
    };
    let cap = shared.config.limits.max_player_message_bytes * 2;
    upgrade
        .max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| async move {
            serve_socket(shared, socket, Role::Player { bound_streamer }).await;
            drop(address_slot);
        })
}

async fn streamer_entry(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(credentials): Query<Credentials>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // The secret is checked first: a caller without it learns nothing about the endpoint.
    if let Some(expected) = &shared.config.streamer_secret {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // A URL is logged by whatever forwards it; from a public address only the header counts.
        if credentials.secret.is_some() && bearer.is_none() && !is_private(peer.ip()) {
            return refuse(
                &shared,
                RejectReason::SecretInQuery,
                StatusCode::UNAUTHORIZED,
            );
        }
        let presented = bearer.or(credentials.secret.as_deref()).unwrap_or("");
        if !secrets_match(expected.expose(), presented) {
            return refuse(
                &shared,
                RejectReason::BadStreamerSecret,
                StatusCode::UNAUTHORIZED,
            );
        }
    }
    let Ok(upgrade) = upgrade else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "streamer WebSocket endpoint\n",
        )
            .into_response();
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::server::frontend::Frontend;
    use crate::server::metrics::Metrics;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    const SECRET: &str = "streamer-secret-0123456789";

    /// The streamer port's answer to a plain GET from `peer` (no WebSocket: a request that
    /// passes the secret check gets 426).
    async fn streamer_get(peer: &str, query: &str, bearer: bool) -> (StatusCode, String) {
        let config =
            Config::from_lookup(|k| (k == "PS_STREAMER_SECRET").then(|| SECRET.into())).unwrap();
        let shared = Arc::new(Shared::new(config, Frontend::empty(), Metrics::new()));
        let mut request = Request::get(format!("/{query}"));
        if bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {SECRET}"));
        }
        let mut request = request.body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        let response = streamer_router(shared).oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_streamer_secret_in_the_url_counts_only_from_a_private_address() {
        let in_url = format!("?secret={SECRET}");
        let (status, body) = streamer_get("203.0.113.5:4000", &in_url, false).await;
        assert_eq!(
            (status, body.trim()),
            (StatusCode::UNAUTHORIZED, "secret_in_query")
        );
        for private in ["127.0.0.1:4000", "10.0.0.5:4000", "[fd00::5]:4000"] {
            let (status, _) = streamer_get(private, &in_url, false).await;
            assert_eq!(
                status,
                StatusCode::UPGRADE_REQUIRED,
                "{private}: secret accepted"
            );
        }
        let (status, _) = streamer_get("203.0.113.5:4000", "", true).await;
        assert_eq!(
            status,
            StatusCode::UPGRADE_REQUIRED,
            "the header works from anywhere"
        );
        let (status, body) = streamer_get("10.0.0.5:4000", "?secret=wrong", false).await;
        assert_eq!(
            (status, body.trim()),
            (StatusCode::UNAUTHORIZED, "bad_streamer_secret")
        );
    }
}
