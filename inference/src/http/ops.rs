//! `/healthz`, `/readyz` and `/metrics`: what probes and Prometheus call.

use axum::Router;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use goassist_config::Reach;
use serde_json::json;

use super::{AppError, AppState};
use crate::config::ApiMetrics;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(api_metrics))
}

pub(super) fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Liveness: the process runs and serves HTTP. Nothing more: this port is public, and uptime
/// or counters would help guess at sessions (Prometheus has `process_start_time_seconds`).
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "alive" }))
}

/// Readiness: 200 only when models are loaded and warmed, the LLM is healthy, the server is
/// not draining and it can take one more session (a free session slot, room in the LLM's
/// queue); the body shows each component and what is saturated either way. A router sends new
/// sessions only to ready pods; a session's own later requests follow `/healthz`.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let models_ready = state.readiness.models_ready();
    let draining = state.sessions.is_draining();
    let sessions_full = state.sessions.count() >= state.config.max_concurrent_sessions;
    let llm_full = state
        .voice
        .get()
        .is_some_and(|voice| voice.llm.is_saturated());
    let ready = models_ready && !draining && !sessions_full && !llm_full;
    let body = json!({
        "ready": ready,
        "draining": draining,
        "saturated": { "sessions": sessions_full, "llm": llm_full },
        "sessions": { "active": state.sessions.count(), "max": state.config.max_concurrent_sessions },
        "animation_enabled": state.animation.enabled(),
        "components": state.readiness.snapshot(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

/// `/metrics` on the public API port, for the clients `API_METRICS` admits. Counters of
/// sessions and requests tell an outsider about traffic; the rest get the unknown path's 404.
async fn api_metrics(State(state): State<AppState>, request: Request) -> Response {
    let admitted = match state.config.api_metrics {
        ApiMetrics::Public => true,
        ApiMetrics::Off => false,
        ApiMetrics::Private => {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr);
            state
                .create_limit
                .client_address(peer, request.headers())
                .is_some_and(|client| Reach::of(client) != Reach::Open)
        }
    };
    if admitted {
        metrics(State(state)).await.into_response()
    } else {
        AppError::NotFound("no such endpoint".into()).into_response()
    }
}

/// Prometheus text exposition format.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
