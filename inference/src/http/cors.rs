//! Cross-origin access to the session routes, for pages served from another origin (Profile C:
//! the talk page comes from the render pod's Pixel Streaming proxy and opens its voice session
//! here, on the inference pod).
//!
//! Policy: any origin may call the session API (`Access-Control-Allow-Origin: *`), as WHIP
//! endpoints usually allow. Nothing here rides on cookies or other ambient credentials, so a
//! foreign page gains nothing a plain HTTP client could not do; admission control and the
//! bearer-guarded admin API (never given CORS headers) stay the protection. tower-http's layer
//! answers every `OPTIONS` on these routes (preflight or not) with `200`; each answer also says
//! `Allow`, and on the WHIP endpoint `Accept-Post: application/sdp` (RFC 9725).

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// `Accept-Post` (RFC 9725 / LDP): the media type the WHIP endpoint accepts.
pub(super) const ACCEPT_POST: HeaderName = HeaderName::from_static("accept-post");

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer of the session routes and the face files.
pub(super) fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_MATCH,
        ])
        // A page reads Location to end its session, Link for ICE servers, Retry-After on 503.
        .expose_headers([
            header::LOCATION,
            header::LINK,
            header::RETRY_AFTER,
            ACCEPT_POST,
        ])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Describes the resource on every `OPTIONS` answer, preflights included (tower-http's layer
/// answers every `OPTIONS` itself, so this sits outside [`layer`]): `Allow`, and on the WHIP
/// endpoint `/v1/sessions` also `Accept-Post: application/sdp`.
pub(super) async fn describe_options(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let allow = (request.method() == Method::OPTIONS)
        .then(|| allowed_methods(path))
        .flatten();
    let whip = path == "/v1/sessions";
    let mut response = next.run(request).await;
    if let Some(allow) = allow {
        let headers = response.headers_mut();
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        if whip {
            headers.insert(ACCEPT_POST, HeaderValue::from_static("application/sdp"));
        }
    }
    response
}

/// The methods each session route answers.
fn allowed_methods(path: &str) -> Option<&'static str> {
    match path {
        "/v1/sessions" => Some("POST, OPTIONS"),
        "/v1/ice-servers" => Some("GET, HEAD, OPTIONS"),
        p if p.starts_with("/v1/sessions/") => Some("DELETE, OPTIONS"),
        _ => None,
    }
}
