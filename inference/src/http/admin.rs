//! Admin endpoints behind bearer tokens: drain, animation switch, sessions.
//!
//! One middleware identifies the token for every route here, in constant time; a missing or
//! wrong token gets the same 401 with no hint. Without ADMIN_TOKEN or ADMIN_TOKENS every admin
//! call is refused. Tokens have a name and a scope ([`AdminScope`]): force-terminating a user's
//! session needs `lead`, everything else `oncall` (runbook §11). With `ADMIN_FAULT_DRILLS` on,
//! the recovery drills' fault switch (`POST /admin/faults/llm-crash`, `lead`) is served too;
//! off, its path is not routed at all and answers 404 like any unknown path.
//!
//! Every procedure (a call that changes something) leaves an audit event, refused ones included:
//! a JSON log line with target `goassist::audit` naming the token (never its value), the
//! action, the outcome and a detail, and a count in `goassist_admin_actions_total{action,
//! outcome}` for the alert on procedures repeated within 24 h. Reads (GET) are not audited.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use goassist_protocol::auth::secrets_match;
use serde::Deserialize;
use serde_json::json;

use super::{AppError, AppState};
use crate::admin_tokens::AdminScope;
use crate::config::Config;
use crate::readiness::ComponentState;
use crate::sessions::{EndReason, MAX_DRAIN_DEADLINE, SessionId};

pub(super) fn routes(state: AppState) -> Router<AppState> {
    let mut routes = Router::new()
        .route("/drain", post(start_drain).get(drain_status))
        .route("/resume", post(resume))
        .route("/animation", post(set_animation).get(animation_status))
        .route("/sessions", get(list_sessions))
        .route("/sessions/{id}", delete(end_session))
        .route("/llm/restart", post(restart_llm));
    if state.config.admin_fault_drills {
        tracing::warn!(
            "ADMIN_FAULT_DRILLS is on: POST /admin/faults/llm-crash (lead scope) crashes the LLM engine"
        );
        routes = routes.route("/faults/llm-crash", post(crash_llm));
    }
    routes.route_layer(middleware::from_fn_with_state(state, authorize_and_audit))
}

/// The token that called: its name (for the audit trail) and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Caller {
    name: String,
    scope: AdminScope,
}

/// A handler's note for the audit event (what exactly it did), carried on the response.
#[derive(Debug, Clone)]
struct AuditDetail(String);

/// The procedure a request runs (the `action` label), or `None` for a read.
fn procedure(method: &Method, path: &str) -> Option<&'static str> {
    let path = path.strip_prefix("/admin").unwrap_or(path);
    match (method, path) {
        (&Method::POST, "/drain") => Some("drain"),
        (&Method::POST, "/resume") => Some("resume"),
        (&Method::POST, "/animation") => Some("animation"),
        (&Method::DELETE, p) if p.starts_with("/sessions/") => Some("end_session"),
        (&Method::POST, "/llm/restart") => Some("llm_restart"),
        (&Method::POST, "/faults/llm-crash") => Some("fault_llm_crash"),
        _ => None,
    }
}

/// The scope a procedure needs: ending a user's session and injecting a fault are the SRE
/// lead's call.
fn required_scope(action: Option<&str>) -> AdminScope {
    match action {
        Some("end_session" | "fault_llm_crash") => AdminScope::Lead,
        _ => AdminScope::Oncall,
    }
}

/// Finds the token presented, comparing against every configured token in constant time (no
/// early exit, so timing tells neither which token nor how much of it matched).
fn identify(config: &Config, presented: Option<&str>) -> Option<Caller> {
    let presented = presented?;
    let mut found = None;
    let legacy = config
        .admin_token
        .iter()
        .map(|secret| ("admin", AdminScope::Lead, secret));
    let named = config
        .admin_tokens
        .iter()
        .map(|t| (t.name.as_str(), t.scope, &t.secret));
    for (name, scope, secret) in legacy.chain(named) {
        if secrets_match(secret.expose(), presented) {
            found = Some(Caller {
                name: name.to_string(),
                scope,
            });
        }
    }
    found
}

/// Writes one audit event and counts it.
fn audit(state: &AppState, token: &str, action: &str, outcome: &str, detail: &str) {
    state
        .metrics
        .admin_actions_total
        .with_label_values(&[action, outcome])
        .inc();
    tracing::warn!(
        target: "goassist::audit",
        audit = true,
        token,
        action,
        outcome,
        detail,
        "admin procedure"
    );
}

async fn authorize_and_audit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let action = procedure(request.method(), request.uri().path());
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(caller) = identify(&state.config, presented) else {
        tracing::warn!(path = %request.uri().path(), "admin request refused: bad or missing token");
        if let Some(action) = action {
            audit(&state, "-", action, "unauthorized", "bad or missing token");
        }
        return AppError::Unauthorized.into_response();
    };
    let needed = required_scope(action);
    if caller.scope < needed {
        if let Some(action) = action {
            audit(
                &state,
                &caller.name,
                action,
                "forbidden",
                &format!(
                    "scope {} may not; needs {}",
                    caller.scope.as_str(),
                    needed.as_str()
                ),
            );
        }
        return AppError::Forbidden(format!(
            "this token's scope may not do this; it needs scope {}",
            needed.as_str()
        ))
        .into_response();
    }
    let response = next.run(request).await;
    if let Some(action) = action {
        let outcome = if response.status().is_success() {
            "ok"
        } else {
            "failed"
        };
        let detail = response
            .extensions()
            .get::<AuditDetail>()
            .map_or_else(|| response.status().to_string(), |d| d.0.clone());
        audit(&state, &caller.name, action, outcome, &detail);
    }
    response
}

/// A response with the audit detail attached.
fn with_detail(response: impl IntoResponse, detail: String) -> Response {
    let mut response = response.into_response();
    response.extensions_mut().insert(AuditDetail(detail));
    response
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
    let deadline_s = request.deadline_s.unwrap_or(state.config.drain_timeout_s);
    if deadline_s > MAX_DRAIN_DEADLINE.as_secs() {
        return Err(AppError::BadRequest(format!(
            "deadline_s must be 0..={} (seconds)",
            MAX_DRAIN_DEADLINE.as_secs()
        )));
    }
    let deadline = Duration::from_secs(deadline_s);
    let status = state.sessions.start_drain(deadline);
    let detail = format!(
        "deadline {}s, exit_when_drained {}",
        deadline.as_secs(),
        request.exit_when_drained
    );
    if request.exit_when_drained {
        let sessions = state.sessions.clone();
        let shutdown = state.shutdown.clone();
        tokio::spawn(async move {
            sessions.wait_empty().await;
            tracing::info!("drained; exiting as requested");
            shutdown.cancel();
        });
    }
    Ok(with_detail(
        (StatusCode::ACCEPTED, axum::Json(status)),
        detail,
    ))
}

async fn drain_status(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(state.sessions.drain_status())
}

async fn resume(State(state): State<AppState>) -> impl IntoResponse {
    let was_draining = state.sessions.is_draining();
    state.sessions.resume();
    with_detail(
        axum::Json(state.sessions.drain_status()),
        format!("was draining: {was_draining}"),
    )
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
    Ok(with_detail(
        axum::Json(json!({ "animation_enabled": request.enabled })),
        format!("enabled {}", request.enabled),
    ))
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
    let parsed = SessionId::parse(&id).ok_or_else(|| {
        AppError::BadRequest(
            "not a session id (32 hex digits, as GET /admin/sessions lists)".into(),
        )
    })?;
    if state.sessions.end_public(parsed, EndReason::Admin) {
        Ok(with_detail(StatusCode::NO_CONTENT, format!("session {id}")))
    } else {
        Err(AppError::NotFound(format!("no session {id}")))
    }
}

/// Restarts the LLM engine (runbook: the LLM is stuck or leaking and will not recover alone).
async fn restart_llm(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let Some(voice) = state.voice.get() else {
        return Err(AppError::Unavailable {
            code: "not_ready",
            message: "the models are still loading; nothing to restart yet".into(),
            retry_after_s: 5,
        });
    };
    let in_flight = voice.llm.in_flight();
    voice.llm.restart().map_err(AppError::Conflict)?;
    tracing::warn!(in_flight, "LLM restart requested by an operator");
    Ok(with_detail(
        (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "llm": "restarting", "answers_cancelled": in_flight })),
        ),
        format!("{in_flight} answers in flight cancelled"),
    ))
}

/// The recovery drills' fault switch (ADMIN_FAULT_DRILLS): crashes the local LLM engine for
/// real, so the drill can watch what users and operators see and the recovery that follows.
async fn crash_llm(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let Some(voice) = state.voice.get() else {
        return Err(AppError::Unavailable {
            code: "not_ready",
            message: "the models are still loading; nothing to crash yet".into(),
            retry_after_s: 5,
        });
    };
    let in_flight = voice.llm.in_flight();
    voice.llm.inject_crash().map_err(AppError::Conflict)?;
    tracing::warn!(
        in_flight,
        "LLM engine crash injected by an operator (fault drill)"
    );
    Ok(with_detail(
        (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "llm": "crashing", "answers_in_flight": in_flight })),
        ),
        format!("LLM engine crash injected; {in_flight} answers in flight"),
    ))
}

#[cfg(test)]
mod tests {
    use super::{Method, procedure, required_scope};
    use crate::admin_tokens::AdminScope;

    #[test]
    fn procedures_and_their_scopes() {
        assert_eq!(procedure(&Method::POST, "/admin/drain"), Some("drain"));
        assert_eq!(procedure(&Method::GET, "/admin/drain"), None);
        assert_eq!(procedure(&Method::POST, "/resume"), Some("resume"));
        assert_eq!(
            procedure(&Method::POST, "/admin/animation"),
            Some("animation")
        );
        assert_eq!(
            procedure(&Method::DELETE, "/admin/sessions/00ff"),
            Some("end_session")
        );
        assert_eq!(procedure(&Method::GET, "/admin/sessions"), None);
        assert_eq!(
            procedure(&Method::POST, "/admin/llm/restart"),
            Some("llm_restart")
        );
        assert_eq!(
            procedure(&Method::POST, "/admin/faults/llm-crash"),
            Some("fault_llm_crash")
        );
        assert_eq!(required_scope(Some("fault_llm_crash")), AdminScope::Lead);
        assert_eq!(required_scope(Some("llm_restart")), AdminScope::Oncall);
        assert_eq!(required_scope(Some("end_session")), AdminScope::Lead);
        assert_eq!(required_scope(Some("drain")), AdminScope::Oncall);
        assert_eq!(required_scope(None), AdminScope::Oncall);
    }
}
