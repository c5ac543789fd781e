//! WHIP-shaped session signalling (RFC 9725): `POST /v1/sessions` with an SDP offer creates a
//! session and answers `201 Created` with the SDP answer and its `Location`; `DELETE` on that
//! location ends it. All ICE candidates are in the answer, so trickle `PATCH` is refused (405),
//! as the RFC allows. The routes answer cross-origin requests and `OPTIONS` preflights
//! ([`super::cors`]): the Profile C page calls them from the render pod's origin.
//!
//! The WHIP resource is guarded by a per-session secret (docs/security.md). The `Location` is a
//! capability URL, `/v1/sessions/{id}/{secret}`, so that any WHIP client that follows `Location`
//! works unchanged; a client that would rather keep the secret out of URLs calls
//! `/v1/sessions/{id}` with `Authorization: Bearer {secret}`. No secret: 401; a wrong secret or
//! an unknown session: the same 404, so neither says whether a session exists.
//!
//! Before any work is done for it, a creation is counted against its client's address
//! ([`super::rate_limit`], 429), must carry a join token when `SESSION_TOKEN_SECRET` is set
//! (401), and its body is held to [`MAX_OFFER_BYTES`] (413 from `Content-Length` at once, or as
//! soon as a streamed body passes the limit). `/v1/ice-servers` needs the same join token, since
//! it hands out TURN credentials; with `WEBRTC_TURN_SECRET` each hand-out gets its own, expiring.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use goassist_protocol::auth::{Audience, TokenError, unix_now, verify_token};
use goassist_protocol::whip::{self, OfferError};

use super::{AppError, AppState, cors};
use crate::config::IceServer;
use crate::sessions::{AdmitError, EndReason, SessionId, unguessable_label};
use crate::webrtc::WebRtcError;

/// Largest SDP offer accepted.
pub use goassist_protocol::whip::MAX_OFFER_BYTES;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(create_session))
        .route(
            "/v1/sessions/{id}",
            axum::routing::delete(delete_with_bearer).patch(trickle_with_bearer),
        )
        .route(
            "/v1/sessions/{id}/{secret}",
            axum::routing::delete(delete_with_capability).patch(trickle_with_capability),
        )
        .route("/v1/ice-servers", get(ice_servers))
        .layer(cors::layer())
        .layer(axum::middleware::from_fn(cors::describe_options))
}

fn count_bad_offer(state: &AppState) {
    state
        .metrics
        .malformed_input_total
        .with_label_values(&["sdp"])
        .inc();
}

/// Reads the offer, never more than [`MAX_OFFER_BYTES`]: a declared `Content-Length` over the
/// limit is refused before a byte of the body is read; a body without one (chunked) is cut off
/// as soon as it passes the limit.
async fn read_offer(state: &AppState, headers: &HeaderMap, body: Body) -> Result<String, AppError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_OFFER_BYTES as u64) {
        count_bad_offer(state);
        return Err(AppError::PayloadTooLarge(MAX_OFFER_BYTES));
    }
    let bytes = match Limited::new(body, MAX_OFFER_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            count_bad_offer(state);
            return Err(AppError::PayloadTooLarge(MAX_OFFER_BYTES));
        }
        Err(e) => {
            tracing::debug!(error = %e, "SDP offer body could not be read");
            return Err(AppError::BadRequest(
                "the request body could not be read".into(),
            ));
        }
    };
    match whip::offer_text(&bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => {
            count_bad_offer(state);
            Err(match e {
                OfferError::TooLarge => AppError::PayloadTooLarge(MAX_OFFER_BYTES),
                _ => AppError::BadRequest("SDP offer is not UTF-8".into()),
            })
        }
    }
}

/// A refused offer: the parser's words (which may hold internal detail) go to the log, the
/// client gets one generic line.
fn offer_refused(state: &AppState, e: WebRtcError) -> AppError {
    tracing::info!(error = %e, "SDP offer refused");
    count_bad_offer(state);
    state
        .metrics
        .sessions_rejected_total
        .with_label_values(&["bad_offer"])
        .inc();
    AppError::BadRequest(match e {
        WebRtcError::NoAudioInOffer => "the SDP offer has no audio section".into(),
        _ => "the SDP offer could not be parsed".into(),
    })
}

async fn create_session(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, AppError> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let client = state.create_limit.client_address(peer, &parts.headers);
    if let Some(client) = client
        && let Err(wait) = state.create_limit.check(client)
    {
        state
            .metrics
            .sessions_rejected_total
            .with_label_values(&["rate_limited"])
            .inc();
        tracing::info!(%client, "session creation refused: over the per-address limit");
        return Err(AppError::TooManyRequests {
            retry_after_s: u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX),
        });
    }
    let subject = check_join_token(&state, &parts.headers)?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/sdp") {
        return Err(AppError::UnsupportedMediaType(
            "expected Content-Type application/sdp".into(),
        ));
    }
    let offer = read_offer(&state, &parts.headers, body).await?;
    crate::webrtc::parse_offer(&offer).map_err(|e| offer_refused(&state, e))?;
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
        AdmitError::NoRandomness => AppError::Internal("no session id could be drawn".into()),
    })?;
    let (answer, peer) = engines
        .webrtc
        .accept_offer(&offer)
        .await
        .map_err(|e| match e {
            WebRtcError::PortsExhausted { .. } => {
                tracing::warn!(error = %e, "session refused");
                state
                    .metrics
                    .sessions_rejected_total
                    .with_label_values(&["ports"])
                    .inc();
                AppError::Unavailable {
                    code: "capacity",
                    message: "no media port is free".into(),
                    retry_after_s: 2,
                }
            }
            e @ (WebRtcError::InvalidSdp(_) | WebRtcError::NoAudioInOffer) => {
                offer_refused(&state, e)
            }
            other => AppError::Internal(other.to_string()),
        })?;
    let location = format!(
        "/v1/sessions/{}/{}",
        ticket.public_id(),
        ticket.secret().expose()
    );
    let ice_servers = state
        .config
        .ice_servers(&ticket.public_id().to_string(), unix_now());
    if let Some(subject) = subject {
        tracing::info!(session = %ticket.public_id(), %subject, "session admitted by join token");
    }
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
    // The Location holds a secret: no cache along the way may keep the answer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for server in ice_servers {
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

/// With `SESSION_TOKEN_SECRET` set, the request's bearer must be a valid join token: `Ok` with
/// its subject (for the log), or 401 (the reason is logged and counted, never told). Without
/// the setting every request passes with no subject.
fn check_join_token(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(secret) = &state.config.session_token_secret else {
        return Ok(None);
    };
    let token = bearer(headers).unwrap_or("");
    match verify_token(Audience::VoiceSession, secret.expose(), token, unix_now()) {
        Ok(claims) => Ok(Some(claims.subject)),
        Err(e) => {
            let reason = match e {
                TokenError::Missing => "token_missing",
                TokenError::Expired => "token_expired",
                TokenError::Malformed | TokenError::BadSignature => "token_invalid",
            };
            state
                .metrics
                .sessions_rejected_total
                .with_label_values(&[reason])
                .inc();
            tracing::info!(reason = e.reason(), "join token refused");
            Err(AppError::Unauthorized)
        }
    }
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Checks a call on the WHIP resource of session `id`: `Ok` with the id when `secret` is its
/// resource secret, the same 404 for a wrong secret, an unknown or a malformed id.
fn authorize(state: &AppState, id: &str, secret: Option<&str>) -> Result<SessionId, AppError> {
    let secret = secret.ok_or(AppError::Unauthorized)?;
    let not_found = || AppError::NotFound("no such session".into());
    let id = SessionId::parse(id).ok_or_else(not_found)?;
    if state.sessions.authorize(id, secret) {
        Ok(id)
    } else {
        Err(not_found())
    }
}

fn end_session(state: &AppState, id: &str, secret: Option<&str>) -> Result<StatusCode, AppError> {
    let id = authorize(state, id, secret)?;
    if state.sessions.end_public(id, EndReason::Client) {
        Ok(StatusCode::OK)
    } else {
        // It ended between the check and now.
        Err(AppError::NotFound("no such session".into()))
    }
}

async fn delete_with_bearer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    end_session(&state, &id, bearer(&headers))
}

async fn delete_with_capability(
    State(state): State<AppState>,
    Path((id, secret)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    end_session(&state, &id, Some(&secret))
}

async fn trickle_with_bearer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    authorize(&state, &id, bearer(&headers))?;
    Ok(trickle())
}

async fn trickle_with_capability(
    State(state): State<AppState>,
    Path((id, secret)): Path<(String, String)>,
) -> Result<Response, AppError> {
    authorize(&state, &id, Some(&secret))?;
    Ok(trickle())
}

fn trickle() -> Response {
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({ "error": { "code": "method_not_allowed", "message": "trickle ICE is not supported: every candidate is in the answer" } }))).into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE"));
    response
}

/// ICE servers for browser clients (the page builds its RTCPeerConnection with them). The
/// TURN credentials are this hand-out's own when `WEBRTC_TURN_SECRET` is set.
async fn ice_servers(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    check_join_token(&state, &headers)?;
    let servers: Vec<_> = state
        .config
        .ice_servers(&unguessable_label(), unix_now())
        .iter()
        .map(ice_server_json)
        .collect();
    let mut response = axum::Json(json!({ "iceServers": servers })).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn ice_server_json(server: &IceServer) -> serde_json::Value {
    match (&server.username, &server.credential) {
        (Some(user), Some(credential)) => {
            json!({ "urls": server.url, "username": user, "credential": credential.expose() })
        }
        _ => json!({ "urls": server.url }),
    }
}
