//! WHIP-shaped session signalling (RFC 9725): `POST /v1/sessions` with an SDP offer creates a
//! session and answers `201 Created` with the SDP answer and its `Location`; `DELETE` on that
//! location ends it. All ICE candidates are in the answer, so trickle `PATCH` is refused (405),
//! as the RFC allows. The routes answer cross-origin requests and `OPTIONS` preflights
//! ([`super::cors`]): the Profile C page calls them from the render pod's origin.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{AppError, AppState, cors};
use crate::sessions::{AdmitError, EndReason, format_id, parse_id};
use crate::webrtc::WebRtcError;

/// Largest SDP offer accepted.
const MAX_OFFER_BYTES: usize = 64 * 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(create_session))
        .route(
            "/v1/sessions/{id}",
            axum::routing::delete(delete_session).patch(trickle),
        )
        .route("/v1/ice-servers", get(ice_servers))
        .layer(cors::layer())
        .layer(axum::middleware::from_fn(cors::describe_options))
}

async fn create_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/sdp") {
        return Err(AppError::UnsupportedMediaType(format!(
            "expected Content-Type application/sdp, got '{content_type}'"
        )));
    }
    if body.len() > MAX_OFFER_BYTES {
        state
            .metrics
            .malformed_input_total
            .with_label_values(&["sdp"])
            .inc();
        return Err(AppError::BadRequest(format!(
            "SDP offer of {} bytes is over the {MAX_OFFER_BYTES}-byte limit",
            body.len()
        )));
    }
    let offer = std::str::from_utf8(&body).map_err(|_| {
        state
            .metrics
            .malformed_input_total
            .with_label_values(&["sdp"])
            .inc();
        AppError::BadRequest("SDP offer is not UTF-8".into())
    })?;
    let engines = match state.voice.get() {
        Some(engines) if state.readiness.models_ready() => Arc::clone(engines),
        _ => {
            state
                .metrics
                .sessions_rejected_total
                .with_label_values(&["not_ready"])
                .inc();
            return Err(AppError::Unavailable {
                code: "not_ready",
                message: "models are loading or the LLM is unavailable; see /readyz".into(),
                retry_after_s: 5,
            });
        }
    };
    let ticket = state.sessions.admit().map_err(|e| match e {
        AdmitError::Capacity => AppError::Unavailable {
            code: "capacity",
            message: format!(
                "all {} sessions are in use",
                state.config.max_concurrent_sessions
            ),
            retry_after_s: 2,
        },
        AdmitError::Draining => AppError::Unavailable {
            code: "draining",
            message: "the server is draining for a restart".into(),
            retry_after_s: 10,
        },
    })?;
    let (answer, peer) = engines
        .webrtc
        .accept_offer(offer)
        .await
        .map_err(|e| match e {
            WebRtcError::PortsExhausted { .. } => {
                state
                    .metrics
                    .sessions_rejected_total
                    .with_label_values(&["ports"])
                    .inc();
                AppError::Unavailable {
                    code: "capacity",
                    message: e.to_string(),
                    retry_after_s: 2,
                }
            }
            WebRtcError::InvalidSdp(_) | WebRtcError::NoAudioInOffer => {
                state
                    .metrics
                    .malformed_input_total
                    .with_label_values(&["sdp"])
                    .inc();
                state
                    .metrics
                    .sessions_rejected_total
                    .with_label_values(&["bad_offer"])
                    .inc();
                AppError::BadRequest(e.to_string())
            }
            other => AppError::Internal(other.to_string()),
        })?;
    let id = format_id(ticket.id());
    let location = format!("/v1/sessions/{id}");
    tokio::spawn(crate::voice::session::run(
        state.clone(),
        engines,
        ticket,
        peer,
    ));

    let mut response = (StatusCode::CREATED, answer).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    for server in state.config.ice_servers() {
        let mut link = format!("<{}>; rel=\"ice-server\"", server.url);
        if let (Some(user), Some(credential)) = (&server.username, &server.credential) {
            link.push_str(&format!(
                "; username=\"{user}\"; credential=\"{}\"; credential-type=\"password\"",
                credential.expose()
            ));
        }
        if let Ok(v) = HeaderValue::from_str(&link) {
            h.append(header::LINK, v);
        }
    }
    Ok(response)
}

async fn delete_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let parsed =
        parse_id(&id).ok_or_else(|| AppError::BadRequest(format!("'{id}' is not a session id")))?;
    if state.sessions.end(parsed, EndReason::Client) {
        Ok(StatusCode::OK)
    } else {
        Err(AppError::NotFound(format!("no session {id}")))
    }
}

async fn trickle() -> Response {
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({ "error": { "code": "method_not_allowed", "message": "trickle ICE is not supported: every candidate is in the answer" } }))).into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE"));
    response
}

/// ICE servers for browser clients (the page builds its RTCPeerConnection with them).
async fn ice_servers(State(state): State<AppState>) -> impl IntoResponse {
    let servers: Vec<_> = state
        .config
        .ice_servers()
        .into_iter()
        .map(|s| match (&s.username, &s.credential) {
            (Some(user), Some(credential)) => {
                json!({ "urls": s.url, "username": user, "credential": credential.expose() })
            }
            _ => json!({ "urls": s.url }),
        })
        .collect();
    axum::Json(json!({ "iceServers": servers }))
}
