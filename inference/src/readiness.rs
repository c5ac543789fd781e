//! Readiness of the server's components, for `/readyz` and the `goassist_component_ready` gauge.
//!
//! The server is ready when every *required* component (VAD, ASR, LLM, TTS) is `Ready` and it is
//! not draining. Animation is never required: when it fails the face degrades and voice goes on,
//! so `/readyz` stays 200 and reports animation as `degraded`.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::Serialize;

use crate::metrics::Metrics;

/// The state of one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum ComponentState {
    /// Loading or warming up.
    Loading,
    /// Loaded, warmed and healthy.
    Ready,
    /// Working with reduced function (e.g. animation on its fallback engine).
    Degraded(String),
    /// Not working; the server restarts it where it can.
    Failed(String),
    /// Switched off by configuration or an operator.
    Disabled,
}

/// Components whose failure makes the server unready.
pub const REQUIRED: &[&str] = &["vad", "asr", "llm", "tts"];

/// The readiness table.
pub struct Readiness {
    components: RwLock<BTreeMap<&'static str, ComponentState>>,
    metrics: Metrics,
}

impl Readiness {
    /// All required components start as `Loading`.
    pub fn new(metrics: Metrics) -> Self {
        let readiness = Readiness {
            components: RwLock::new(BTreeMap::new()),
            metrics,
        };
        for name in REQUIRED {
            readiness.set(name, ComponentState::Loading);
        }
        readiness
    }

    /// Records a component's state (and logs changes).
    pub fn set(&self, component: &'static str, state: ComponentState) {
        let ready = matches!(state, ComponentState::Ready | ComponentState::Degraded(_));
        self.metrics
            .component_ready
            .with_label_values(&[component])
            .set(if ready { 1.0 } else { 0.0 });
        let mut components = self.components.write().unwrap_or_else(|e| e.into_inner());
        if components.get(component) != Some(&state) {
            tracing::info!(component, state = ?state, "component state");
            components.insert(component, state);
        }
    }

    /// The state of one component.
    pub fn get(&self, component: &str) -> Option<ComponentState> {
        self.components
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(component)
            .cloned()
    }

    /// A copy of the whole table.
    pub fn snapshot(&self) -> BTreeMap<&'static str, ComponentState> {
        self.components
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True when every required component is ready.
    pub fn models_ready(&self) -> bool {
        let components = self.components.read().unwrap_or_else(|e| e.into_inner());
        REQUIRED
            .iter()
            .all(|name| components.get(name) == Some(&ComponentState::Ready))
    }
}
