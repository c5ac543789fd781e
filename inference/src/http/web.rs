//! The voice page served by the inference server (`/`): plain HTML, CSS and ES modules compiled
//! into the binary, so it works wherever the server runs with no build step.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async {
                page(
                    "text/html; charset=utf-8",
                    include_str!("../../web/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("../../web/app.js"),
                )
            }),
        )
        .route(
            "/app.css",
            get(|| async { page("text/css; charset=utf-8", include_str!("../../web/app.css")) }),
        )
        // The face renderer the page imports (Profile B), and its stand-alone demo.
        .route(
            "/face/face.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("../../web/face/face.js"),
                )
            }),
        )
        .route(
            "/face/demo.html",
            get(|| async {
                page(
                    "text/html; charset=utf-8",
                    include_str!("../../web/face/demo.html"),
                )
            }),
        )
}

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
