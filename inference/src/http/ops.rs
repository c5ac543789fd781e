//! `/healthz`, `/readyz` and `/metrics`: what probes and Prometheus call.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(metrics_routes())
}

pub(super) fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Liveness: the process runs and serves HTTP. Nothing more: this port is public, and uptime
/// or counters would help guess at sessions (Prometheus has `process_start_time_seconds`).
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "alive" }))
}

/// Readiness: 200 only when models are loaded and warmed, the LLM is healthy and the server is
/// not draining; the body shows each component either way.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let models_ready = state.readiness.models_ready();
    let draining = state.sessions.is_draining();
    let ready = models_ready && !draining;
    let body = json!({
        "ready": ready,
        "draining": draining,
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
