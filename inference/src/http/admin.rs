//! Admin endpoints behind a bearer token (ADMIN_TOKEN): drain, animation switch, sessions.
//!
//! One middleware checks the token for every route here, in constant time; a missing or wrong
//! token gets the same 401 with no hint. Without ADMIN_TOKEN every admin call is refused.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;

use super::{AppError, AppState};
use crate::readiness::ComponentState;
use crate::sessions::{EndReason, parse_id};

pub(super) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/drain", post(start_drain).get(drain_status))
        .route("/resume", post(resume))
        .route("/animation", post(set_animation).get(animation_status))
        .route("/sessions", get(list_sessions))
        .route("/sessions/{id}", delete(end_session))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let authorized = match (&state.config.admin_token, presented) {
        (Some(expected), Some(given)) => {
            constant_time_eq(expected.expose().as_bytes(), given.as_bytes())
        }
        _ => false,
    };
    if authorized {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "admin request refused: bad or missing token");
        AppError::Unauthorized.into_response()
    }
}

/// Compares without an early exit, so timing does not reveal how much of the token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

/// Parses an optional JSON body: empty means all defaults.
fn optional_json<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DrainRequest {
    /// Overrides DRAIN_TIMEOUT_S for this drain.
    deadline_s: Option<u64>,
    /// Exit the process (code 0) once drained, so the supervisor restarts it.
    #[serde(default)]
    exit_when_drained: bool,
}

async fn start_drain(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let request: DrainRequest = optional_json(&body)?;
    let deadline = Duration::from_secs(request.deadline_s.unwrap_or(state.config.drain_timeout_s));
    let status = state.sessions.start_drain(deadline);
    if request.exit_when_drained {
        let sessions = state.sessions.clone();
        let shutdown = state.shutdown.clone();
        tokio::spawn(async move {
            sessions.wait_empty().await;
            tracing::info!("drained; exiting as requested");
            shutdown.cancel();
        });
    }
    Ok((StatusCode::ACCEPTED, axum::Json(status)))
}

async fn drain_status(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(state.sessions.drain_status())
}

async fn resume(State(state): State<AppState>) -> impl IntoResponse {
    state.sessions.resume();
    axum::Json(state.sessions.drain_status())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnimationRequest {
    enabled: bool,
}

async fn set_animation(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let request: AnimationRequest = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("expected {{\"enabled\": true|false}}: {e}")))?;
    state.animation.set(request.enabled);
    if request.enabled {
        if state.readiness.get("animation") == Some(ComponentState::Disabled) {
            state.readiness.set("animation", ComponentState::Ready);
        }
    } else {
        state.readiness.set("animation", ComponentState::Disabled);
    }
    tracing::warn!(enabled = request.enabled, "animation switched by operator");
    Ok(axum::Json(json!({ "animation_enabled": request.enabled })))
}

async fn animation_status(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(
        json!({ "animation_enabled": state.animation.enabled(), "state": state.readiness.get("animation") }),
    )
}

async fn list_sessions(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(json!({ "sessions": state.sessions.list() }))
}

async fn end_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let parsed = parse_id(&id).ok_or_else(|| {
        AppError::BadRequest(format!("'{id}' is not a session id (16 hex digits)"))
    })?;
    if state.sessions.end(parsed, EndReason::Admin) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("no session {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokeN"));
        assert!(!constant_time_eq(b"secret-token", b"secret"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
    }
}
