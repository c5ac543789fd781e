//! The HTTP API on API_PORT: health, readiness, metrics, admin, session signalling.
//!
//! `router(state)` builds the whole API so tests drive it with `tower::ServiceExt::oneshot`
//! exactly as the server serves it. Errors leave through one [`AppError`] type that renders as
//! a JSON body `{"error": {"code", "message"}}` with the right status.

mod admin;
mod cors;
mod ops;
pub mod rate_limit;
mod web;
mod whip;

pub use web::VENDOR_DIR;
pub use whip::MAX_OFFER_BYTES;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::readiness::{ComponentState, Readiness};
use crate::sessions::SessionRegistry;
use rate_limit::CreateLimit;

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
    /// Session creations per client address (SESSIONS_PER_IP_PER_MINUTE).
    pub create_limit: Arc<CreateLimit>,
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
        let create_limit = Arc::new(CreateLimit::new(
            config.sessions_per_ip_per_minute,
            config.trusted_proxies.clone(),
        ));
        AppState {
            create_limit,
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_timeout,
        ))
        .with_state(state)
}

/// Answers 408 when a request (reading its body included) is not answered within
/// HTTP_REQUEST_TIMEOUT_S, so a client trickling a body cannot hold a task and its memory.
async fn request_timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = Duration::from_secs(state.config.http_request_timeout_s);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::RequestTimeout.into_response(),
    }
}

/// The router of the separate Prometheus listener (METRICS_PORT): `/metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    ops::metrics_routes().with_state(state)
}

/// An error answered to an HTTP client. Bodies say what the client can act on, never internal
/// detail: a 500's own words go to the log, the client gets a generic line.
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
    /// 409: the request cannot apply to the server as it is (an LLM restart with a remote LLM).
    Conflict(String),
    /// 408: the request took longer than HTTP_REQUEST_TIMEOUT_S.
    RequestTimeout,
    /// 413: the body is over this many bytes.
    PayloadTooLarge(usize),
    /// 415: wrong content type.
    UnsupportedMediaType(String),
    /// 429 with `Retry-After`: this client opened too many sessions lately.
    TooManyRequests {
        /// Seconds to wait before trying again.
        retry_after_s: u32,
    },
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
            AppError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            AppError::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request took too long".to_string(),
            ),
            AppError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is over the {limit}-byte limit"),
            ),
            AppError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many sessions opened from this address; try again later".to_string(),
            ),
            AppError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m.clone(),
            ),
            AppError::Unavailable { code, message, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, *code, message.clone())
            }
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed inside the server");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".to_string(),
                )
            }
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
            AppError::Unavailable { retry_after_s, .. }
            | AppError::TooManyRequests { retry_after_s } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            _ => {}
        }
        response
    }
}
