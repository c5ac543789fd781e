//! `/healthz`, `/readyz`, `/metrics` (Prometheus text) and the admin API ([`crate::admin`])
//! on the operations port (9465).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::admin::{self, AdminState};
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
pub fn router(health: Arc<Health>, metrics: BridgeMetrics, admin: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { health, metrics })
        .nest("/admin", admin::router(admin))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn status(app: Router, path: &str) -> StatusCode {
        let request = Request::get(path).body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn not_ready_and_unhealthy_until_the_loop_runs() {
        let health = Arc::new(Health::default());
        let (queue, _requests) = std::sync::mpsc::sync_channel(1);
        let admin = AdminState::new(None, queue, Default::default());
        let app = router(health.clone(), BridgeMetrics::new().unwrap(), admin);
        assert_eq!(
            status(app.clone(), "/readyz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(app.clone(), "/healthz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.beat(Instant::now());
        health.ready.store(true, Ordering::Release);
        assert_eq!(status(app.clone(), "/readyz").await, StatusCode::OK);
        assert_eq!(status(app.clone(), "/healthz").await, StatusCode::OK);
        assert_eq!(status(app.clone(), "/metrics").await, StatusCode::OK);
        assert_eq!(
            status(app, "/admin/routes").await,
            StatusCode::UNAUTHORIZED,
            "admin without a token"
        );
    }

    #[test]
    fn a_stuck_loop_is_unhealthy() {
        let health = Health::default();
        let t0 = Instant::now();
        health.beat(t0);
        assert!(health.since_last_beat(t0 + HEARTBEAT_LIMIT * 2).unwrap() > HEARTBEAT_LIMIT);
    }
}
