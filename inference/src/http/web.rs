//! The voice page served by the inference server (`/`): plain HTML, CSS and ES modules compiled
//! into the binary, so it works wherever the server runs with no build step.
//!
//! The optional 3D head is not compiled in (its asset has no stated licence, so it is never
//! bundled): `/face/vendor/` serves `MODELS_DIR/face/vendor/` (three.js and `facecap.glb`, put
//! there by `scripts/download_models.sh --with-optional`). When that folder is absent every
//! request there is a 404 and the page keeps its built-in face.

use std::path::Path;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

/// Where the optional 3D head's files live, relative to `MODELS_DIR`.
pub const VENDOR_DIR: &str = "face/vendor";

pub(super) fn routes(models_dir: &Path) -> Router<AppState> {
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
        // What the page says when the network is in the way (the Profile C page bundles it too).
        .route(
            "/network_help.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("../../web/network_help.js"),
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
        // ServeDir resolves paths inside the folder only (no `..`), answers HEAD and ranges,
        // and types .js/.wasm/.glb so the browser accepts them as modules, wasm and glTF.
        // Cross-origin readable: the Profile C page (another origin) loads the 3D head from here.
        .nest_service(
            "/face/vendor",
            tower::ServiceBuilder::new()
                .layer(super::cors::layer())
                .service(tower_http::services::ServeDir::new(
                    models_dir.join(VENDOR_DIR),
                )),
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
