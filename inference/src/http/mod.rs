//! The HTTP API on API_PORT: health, readiness, metrics, admin, session signalling.
//!
//! `router(state)` builds the whole API so tests drive it with `tower::ServiceExt::oneshot`
//! exactly as the server serves it. Errors leave through one [`AppError`] type that renders as
//! a JSON body `{"error": {"code", "message"}}` with the right status.

mod admin;
mod cors;
mod ops;
mod web;
mod whip;

pub use web::VENDOR_DIR;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::readiness::{ComponentState, Readiness};
use crate::sessions::SessionRegistry;

/// The operator's animation kill-switch (admin API), read by the face pipeline.
#[derive(Debug)]
pub struct AnimationSwitch(AtomicBool);

impl AnimationSwitch {
    /// A switch in the given position.
    pub fn new(enabled: bool) -> Self {
        AnimationSwitch(AtomicBool::new(enabled))
    }
    /// True while animation is on.
    pub fn enabled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Turns animation on or off.
    pub fn set(&self, enabled: bool) {
        self.0.store(enabled, Ordering::SeqCst);
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Component readiness.
    pub readiness: Arc<Readiness>,
    /// Live sessions and the drain.
    pub sessions: Arc<SessionRegistry>,
    /// Animation on/off.
    pub animation: Arc<AnimationSwitch>,
    /// Cancelled when the process should exit (drain finished with exit requested).
    pub shutdown: CancellationToken,
    /// When the process started.
    pub started: Instant,
    /// The speech engines, once loaded.
    pub voice: Arc<OnceLock<Arc<crate::voice::VoiceEngines>>>,
}

impl AppState {
    /// Fresh state for a configuration.
    pub fn new(config: Config) -> Self {
        let metrics = Metrics::new();
        let readiness = Arc::new(Readiness::new(metrics.clone()));
        readiness.set(
            "animation",
            if config.animation_enabled {
                ComponentState::Loading
            } else {
                ComponentState::Disabled
            },
        );
        metrics.set_alert_thresholds(config.alert_crash_loop_threshold, config.llm_vram_cap_gb);
        let sessions = SessionRegistry::new(config.max_concurrent_sessions, metrics.clone());
        AppState {
            animation: Arc::new(AnimationSwitch::new(config.animation_enabled)),
            config: Arc::new(config),
            metrics,
            readiness,
            sessions,
            shutdown: CancellationToken::new(),
            started: Instant::now(),
            voice: Arc::new(OnceLock::new()),
        }
    }
}

/// The full API router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ops::routes())
        .merge(whip::routes())
        .merge(web::routes(&state.config.models_dir))
        .nest("/admin", admin::routes(state.clone()))
        .fallback(|| async { AppError::NotFound("no such endpoint".into()) })
        .with_state(state)
}

/// The router of the separate Prometheus listener (METRICS_PORT): `/metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    ops::metrics_routes().with_state(state)
}

/// An error answered to an HTTP client.
#[derive(Debug)]
pub enum AppError {
    /// 400: the request is malformed.
    BadRequest(String),
    /// 401: missing or wrong bearer token (never says which, never hints the secret).
    Unauthorized,
    /// 403: the admin token is valid but its scope may not do this.
    Forbidden(String),
    /// 404
    NotFound(String),
    /// 415: wrong content type.
    UnsupportedMediaType(String),
    /// 503 with `Retry-After`: at capacity, draining or not ready.
    Unavailable {
        /// Machine-readable reason (`capacity`, `draining`, `not_ready`).
        code: &'static str,
        /// What the client should know.
        message: String,
        /// Seconds to wait before trying again.
        retry_after_s: u32,
    },
    /// 500: something failed inside the server.
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or invalid bearer token".to_string(),
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            AppError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m.clone(),
            ),
            AppError::Unavailable { code, message, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, *code, message.clone())
            }
            AppError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", m.clone()),
        };
        let mut response = (
            status,
            axum::Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response();
        match self {
            AppError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::Unavailable { retry_after_s, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            _ => {}
        }
        response
    }
}
