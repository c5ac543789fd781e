//! `/healthz`, `/readyz` and `/metrics` (Prometheus text) on the operations port (9465).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::ingest::Health;
use crate::metrics::BridgeMetrics;

/// A loop silent for longer than this is reported unhealthy (it turns at least every frame
/// interval, so this means it is stuck).
pub const HEARTBEAT_LIMIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: BridgeMetrics,
}

/// The operations router.
pub fn router(health: Arc<Health>, metrics: BridgeMetrics) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { health, metrics })
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    match s.health.since_last_beat(Instant::now()) {
        Some(d) if d <= HEARTBEAT_LIMIT => (StatusCode::OK, "ok\n".to_string()),
        Some(d) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ingest loop silent for {} ms\n", d.as_millis()),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ingest loop not started\n".to_string(),
        ),
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics_text(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}
