//! The LLM service's Prometheus handles. The server registers the metrics once
//! (`crate::metrics::Metrics`) and passes these handles in; alone (tests) they are
//! unregistered stand-ins that count all the same.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge};

/// What the LLM service reports.
#[derive(Clone)]
pub struct LlmMetrics {
    /// `goassist_llm_queue_depth`: requests admitted and not finished (waiting or answering).
    pub requests: IntGauge,
    /// `goassist_engine_queue_depth{engine="llm"}`: requests waiting for a slot.
    pub waiting: IntGauge,
    /// `goassist_engine_slots_active{engine="llm"}`: slots holding a sequence.
    pub slots_active: IntGauge,
    /// `goassist_engine_step_seconds{engine="llm"}`: one prefill chunk or one batched decode
    /// step.
    pub step_seconds: Histogram,
    /// `goassist_llm_prefill_reused_tokens_total`: prompt tokens of answers not computed again
    /// (kept from the session's previous turn or its speculative prefill, or found in the
    /// shared prefix cache).
    pub prefill_reused_tokens: IntCounter,
    /// `goassist_llm_wasted_tokens_total`: computed tokens thrown away because the prompt
    /// changed under them (a partial transcript that the final one contradicts).
    pub wasted_tokens: IntCounter,
    /// `goassist_llm_generated_tokens_total`: tokens of the answers that finished (with the
    /// time the LLM had requests in hand, aggregate decode speed under load).
    pub generated_tokens: IntCounter,
    /// `goassist_llm_sessions_kept`: conversations whose computed sequence is kept for their
    /// next turn (the local engine; at most one per open session).
    pub sessions_kept: IntGauge,
}

impl LlmMetrics {
    /// Handles registered nowhere (a service started without the server's registry).
    pub fn unregistered() -> Self {
        let gauge = |name: &str| IntGauge::new(name, name).expect("valid gauge");
        let counter = |name: &str| IntCounter::new(name, name).expect("valid counter");
        Self {
            requests: gauge("llm_requests"),
            waiting: gauge("llm_waiting"),
            slots_active: gauge("llm_slots_active"),
            step_seconds: Histogram::with_opts(HistogramOpts::new(
                "llm_step_seconds",
                "llm_step_seconds",
            ))
            .expect("valid histogram"),
            prefill_reused_tokens: counter("llm_prefill_reused_tokens"),
            wasted_tokens: counter("llm_wasted_tokens"),
            generated_tokens: counter("llm_generated_tokens"),
            sessions_kept: gauge("llm_sessions_kept"),
        }
    }
}

impl std::fmt::Debug for LlmMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmMetrics")
            .field("requests", &self.requests.get())
            .field("waiting", &self.waiting.get())
            .field("slots_active", &self.slots_active.get())
            .finish()
    }
}
