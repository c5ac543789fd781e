//! The admin API on the operations port (9465): which session or avatar drives which subject
//! on which targets, changed while the bridge runs.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /admin/routes` | — | 200: targets, routes, pool, avatars held |
//! | `PUT /admin/routes/sessions/{id}` | `{"subject":"Ada","targets":["ue1"]}` (`targets` optional: all) | 200, 400, 409 (subject taken) |
//! | `DELETE /admin/routes/sessions/{id}` | — | 204, 404 |
//! | `PUT`/`DELETE /admin/routes/avatars/{n}` | as above | as above |
//!
//! `{id}` is the inference session id (1..=16 hex digits, as the inference server logs it).
//! Every call needs `Authorization: Bearer $BRIDGE_ADMIN_TOKEN`, compared in constant time
//! (`subtle`); a missing or wrong token, or no token configured, gets the same 401. The world
//! belongs to the ingest thread, so requests travel to it over a bounded channel and it
//! answers between two turns of its loop (within one output frame).

use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::routing::{Route, RouteError, RouteKey, Targets, parse_session_id};
use crate::world::RoutingView;
use goassist_config::Secret;

/// How long a request waits for the ingest loop before answering 503.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Requests queued for the ingest loop at most.
pub const ADMIN_QUEUE: usize = 16;
/// Largest request body.
const MAX_BODY: usize = 4 * 1024;

/// What the ingest loop is asked to do.
#[derive(Debug)]
pub enum AdminCommand {
    /// Describe the routing state.
    View,
    /// Set a route.
    Set(RouteKey, Route),
    /// Remove a route.
    Remove(RouteKey),
}

/// A command and where to answer it.
#[derive(Debug)]
pub struct AdminRequest {
    /// The command.
    pub command: AdminCommand,
    /// The answer goes here.
    pub reply: tokio::sync::oneshot::Sender<AdminReply>,
}

/// The ingest loop's answer.
#[derive(Debug)]
pub enum AdminReply {
    /// The routing state.
    View(Box<RoutingView>),
    /// Done.
    Done,
    /// There was no such route.
    NotFound,
    /// The route cannot be set.
    Refused(RouteError),
}

/// What the admin routes need.
#[derive(Clone)]
pub struct AdminState {
    token: Option<Secret>,
    queue: SyncSender<AdminRequest>,
    targets: Targets,
}

impl AdminState {
    /// Admin over `queue` (drained by the ingest loop), checking `token`, naming `targets`.
    pub fn new(
        token: Option<Secret>,
        queue: SyncSender<AdminRequest>,
        targets: Targets,
    ) -> AdminState {
        AdminState {
            token,
            queue,
            targets,
        }
    }
}

/// The `/admin` routes (to nest under `/admin`).
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/routes", get(view))
        .route(
            "/routes/sessions/{id}",
            axum::routing::put(put_session).delete(delete_session),
        )
        .route(
            "/routes/avatars/{n}",
            axum::routing::put(put_avatar).delete(delete_avatar),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let authorized = match (&state.token, presented) {
        // Lengths may differ; subtle compares the bytes without an early exit.
        (Some(expected), Some(given)) => {
            bool::from(expected.expose().as_bytes().ct_eq(given.as_bytes()))
        }
        _ => false,
    };
    if authorized {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "admin request refused: bad or missing token");
        AdminError::Unauthorized.into_response()
    }
}

/// An error answered to an admin client (never an internal detail).
#[derive(Debug)]
enum AdminError {
    BadRequest(String),
    Unauthorized,
    NotFound(String),
    Conflict(String),
    Unavailable(String),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            AdminError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            AdminError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or invalid bearer token".to_string(),
            ),
            AdminError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            AdminError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            AdminError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
        };
        let mut response = (
            status,
            axum::Json(json!({ "error": { "code": code, "message": message } })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Sends a command to the ingest loop and waits for its answer.
async fn ask(state: &AdminState, command: AdminCommand) -> Result<AdminReply, AdminError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    match state.queue.try_send(AdminRequest { command, reply }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Err(AdminError::Unavailable(
                "too many admin requests in flight; retry".into(),
            ));
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(AdminError::Unavailable("the bridge is stopping".into()));
        }
    }
    match tokio::time::timeout(ADMIN_TIMEOUT, answer).await {
        Ok(Ok(reply)) => Ok(reply),
        _ => Err(AdminError::Unavailable(
            "the ingest loop did not answer in time".into(),
        )),
    }
}

async fn view(State(state): State<AdminState>) -> Result<Response, AdminError> {
    match ask(&state, AdminCommand::View).await? {
        AdminReply::View(view) => Ok(axum::Json(view).into_response()),
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteBody {
    subject: String,
    #[serde(default)]
    targets: Vec<String>,
}

fn parse_body(state: &AdminState, body: &Bytes) -> Result<Route, AdminError> {
    let body: RouteBody = serde_json::from_slice(body).map_err(|e| {
        AdminError::BadRequest(format!(
            "expected {{\"subject\": \"Name\", \"targets\": [\"name\", ...]}}: {e}"
        ))
    })?;
    let targets = state
        .targets
        .select(&body.targets)
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    Route::new(&body.subject, targets).map_err(|e| AdminError::BadRequest(e.to_string()))
}

fn session_key(id: &str) -> Result<RouteKey, AdminError> {
    parse_session_id(id)
        .map(RouteKey::Session)
        .ok_or_else(|| AdminError::BadRequest("the session id must be 1..=16 hex digits".into()))
}

fn avatar_key(n: &str) -> Result<RouteKey, AdminError> {
    n.parse()
        .map(RouteKey::Avatar)
        .map_err(|_| AdminError::BadRequest("the avatar id must be a number 0..=4294967295".into()))
}

async fn put_session(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let key = session_key(&id)?;
    put(&state, key, &body).await
}

async fn put_avatar(
    State(state): State<AdminState>,
    Path(n): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let key = avatar_key(&n)?;
    put(&state, key, &body).await
}

async fn delete_session(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let key = session_key(&id)?;
    delete(&state, key).await
}

async fn delete_avatar(
    State(state): State<AdminState>,
    Path(n): Path<String>,
) -> Result<Response, AdminError> {
    let key = avatar_key(&n)?;
    delete(&state, key).await
}

async fn put(state: &AdminState, key: RouteKey, body: &Bytes) -> Result<Response, AdminError> {
    let route = parse_body(state, body)?;
    let answer = json!({
        "match": key.to_string(),
        "subject": route.subject,
        "targets": state.targets.names(route.targets),
    });
    match ask(state, AdminCommand::Set(key, route)).await? {
        AdminReply::Done => {
            tracing::info!(route = %key, "route set through the admin API");
            Ok(axum::Json(answer).into_response())
        }
        AdminReply::Refused(e @ RouteError::Conflict { .. }) => {
            Err(AdminError::Conflict(e.to_string()))
        }
        AdminReply::Refused(e) => Err(AdminError::BadRequest(e.to_string())),
        other => Err(unexpected(other)),
    }
}

async fn delete(state: &AdminState, key: RouteKey) -> Result<Response, AdminError> {
    match ask(state, AdminCommand::Remove(key)).await? {
        AdminReply::Done => {
            tracing::info!(route = %key, "route removed through the admin API");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        AdminReply::NotFound => Err(AdminError::NotFound(format!("no route for {key}"))),
        other => Err(unexpected(other)),
    }
}

fn unexpected(reply: AdminReply) -> AdminError {
    tracing::error!(?reply, "admin: unexpected answer from the ingest loop");
    AdminError::Unavailable("the bridge could not answer".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BridgeConfig;
    use crate::world::BridgeWorld;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use std::sync::mpsc::sync_channel;
    use std::time::Instant;
    use tower::ServiceExt;

    const TOKEN: &str = "test-token-0123456789";

    /// An admin router whose requests a real world answers on a thread of its own.
    fn app(token: Option<&str>) -> Router {
        let config = BridgeConfig::from_lookup(|k| match k {
            "BRIDGE_LIVELINK_ADDRS" => Some("ue1=127.0.0.1:1,ue2=127.0.0.1:2".into()),
            "BRIDGE_ROUTES" => Some("avatar:1=Ada@ue1".into()),
            "BRIDGE_ADMIN_TOKEN" => token.map(str::to_string),
            _ => None,
        })
        .unwrap();
        let (queue, requests) = sync_channel::<AdminRequest>(ADMIN_QUEUE);
        let mut world = BridgeWorld::new(&config, Instant::now());
        std::thread::spawn(move || {
            while let Ok(request) = requests.recv() {
                let reply = match request.command {
                    AdminCommand::View => AdminReply::View(Box::new(world.view())),
                    AdminCommand::Set(key, route) => match world.set_route(key, route) {
                        Ok(()) => AdminReply::Done,
                        Err(e) => AdminReply::Refused(e),
                    },
                    AdminCommand::Remove(key) => {
                        if world.remove_route(key) {
                            AdminReply::Done
                        } else {
                            AdminReply::NotFound
                        }
                    }
                };
                let _ = request.reply.send(reply);
            }
        });
        router(AdminState::new(
            config.admin_token.clone(),
            queue,
            config.targets.clone(),
        ))
    }

    async fn call(
        app: &Router,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    #[tokio::test]
    async fn every_call_needs_the_token() {
        let open = app(Some(TOKEN));
        for (method, path) in [
            ("GET", "/routes"),
            ("PUT", "/routes/sessions/ab"),
            ("DELETE", "/routes/avatars/1"),
        ] {
            for token in [None, Some("wrong"), Some("test-token-012345678"), Some("")] {
                let (status, body) = call(&open, method, path, token, "{}").await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} {token:?}"
                );
                assert_eq!(body["error"]["code"], "unauthorized");
            }
        }
        // Without a configured token nothing gets in, whatever is presented.
        let closed = app(None);
        let (status, _) = call(&closed, "GET", "/routes", Some(TOKEN), "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn routes_are_set_listed_and_removed() {
        let app = app(Some(TOKEN));
        let t = Some(TOKEN);
        let (status, body) = call(&app, "GET", "/routes", t, "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["routes"][0]["match"], "avatar:1");
        assert_eq!(body["targets"][1]["name"], "ue2");
        let put = r#"{"subject":"Bob","targets":["ue2"]}"#;
        let (status, body) = call(&app, "PUT", "/routes/sessions/00000000000000ab", t, put).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["match"], "session:00000000000000ab");
        assert_eq!(body["targets"], json!(["ue2"]));
        let (_, body) = call(&app, "GET", "/routes", t, "").await;
        assert_eq!(body["routes"][0]["subject"], "Bob");
        assert_eq!(body["routes"][0]["origin"], "admin");
        // No targets: every target.
        let (status, body) = call(&app, "PUT", "/routes/avatars/9", t, r#"{"subject":"Cy"}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["targets"], json!(["ue1", "ue2"]));
        let (status, _) = call(&app, "DELETE", "/routes/sessions/ab", t, "").await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = call(&app, "DELETE", "/routes/sessions/ab", t, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn bad_requests_and_conflicts_are_clear() {
        let app = app(Some(TOKEN));
        let t = Some(TOKEN);
        for (path, body, status, needle) in [
            ("/routes/sessions/xyz", r#"{"subject":"A"}"#, 400, "hex"),
            ("/routes/avatars/-1", r#"{"subject":"A"}"#, 400, "avatar id"),
            ("/routes/sessions/1", "not json", 400, "expected"),
            (
                "/routes/sessions/1",
                r#"{"subject":"A","x":1}"#,
                400,
                "unknown field",
            ),
            (
                "/routes/sessions/1",
                r#"{"subject":"A","targets":["ue9"]}"#,
                400,
                "ue9",
            ),
            ("/routes/sessions/1", r#"{"subject":""}"#, 400, "subject"),
            (
                "/routes/sessions/1",
                r#"{"subject":"Ada","targets":["ue1"]}"#,
                409,
                "avatar:1",
            ),
        ] {
            let (got, json) = call(&app, "PUT", path, t, body).await;
            assert_eq!(got.as_u16(), status, "{path} {body}: {json}");
            let message = json["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(needle), "{path} {body}: {message}");
        }
        let huge = format!(r#"{{"subject":"{}"}}"#, "x".repeat(MAX_BODY));
        let (got, _) = call(&app, "PUT", "/routes/sessions/1", t, &huge).await;
        assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
