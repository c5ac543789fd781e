//! The Prometheus metrics of the inference server, with the names of ARCHITECTURE.md.
//!
//! Every metric is registered at start-up, also those that later stages feed, so dashboards and
//! alerts can be written against a stable set of names. Latency histograms use buckets chosen for
//! conversational latency (10 ms – 5 s).

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Buckets for the pacing of sent audio packets, in seconds (around 10–40 ms packets).
const SEND_INTERVAL_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.06, 0.08, 0.1, 0.25,
];

/// Buckets for turn-level latencies (TTFA, voice-to-voice, barge-in, stages), in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
];

/// All metrics, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// End-of-turn decision → first assistant audio packet sent.
    pub ttfa_seconds: Histogram,
    /// Last user speech sample → first assistant audio packet sent.
    pub voice_to_voice_seconds: Histogram,
    /// User speech onset (during assistant speech) → assistant audio stopped.
    pub barge_in_seconds: Histogram,
    /// Per-stage latency: `vad`, `asr`, `llm_ttft`, `tts_first`, `asr_partial`, `llm_total`,
    /// `send_first` (first clause queued → its first packet sent).
    pub stage_seconds: HistogramVec,
    /// Sessions currently open.
    pub sessions_active: IntGauge,
    /// Sessions ended, by how they ended (`client`, `idle_timeout`, `admin`, `drain`, `error`).
    pub sessions_ended_total: IntCounterVec,
    /// Session offers refused, by reason (`capacity`, `draining`, `not_ready`, `bad_offer`).
    pub sessions_rejected_total: IntCounterVec,
    /// LLM requests waiting for or in the shared engine.
    pub llm_queue_depth: IntGauge,
    /// Requests waiting for a slot, per engine (`llm`, ...).
    pub engine_queue_depth: IntGaugeVec,
    /// Slots holding a request, per engine.
    pub engine_slots_active: IntGaugeVec,
    /// Duration of one engine step (LLM: a prefill chunk or a batched decode step).
    pub engine_step_seconds: HistogramVec,
    /// LLM prompt tokens not computed again (session cache, speculative prefill, prefix cache).
    pub llm_prefill_reused_tokens_total: IntCounter,
    /// LLM tokens computed and then thrown away (a partial transcript contradicted later).
    pub llm_wasted_tokens_total: IntCounter,
    /// GPU memory in use (on GPU hosts).
    pub vram_bytes: IntGauge,
    /// Fraction of the user's audio packets lost, from RTCP (last report of any session).
    pub webrtc_packet_loss_ratio: Gauge,
    /// Interarrival jitter of the user's audio, from RTCP.
    pub webrtc_jitter_seconds: Gauge,
    /// Assistant audio packets sent.
    pub audio_packets_sent_total: IntCounter,
    /// Time between consecutive packets of the assistant's speech: the pacing of the audio
    /// path (20 ms at AUDIO_PACKET_MS=20; anything past 2× the packet time is an audible gap).
    pub audio_send_interval_seconds: Histogram,
    /// Turns interrupted by the user.
    pub barge_ins_total: IntCounter,
    /// Face frames sent to clients.
    pub animation_frames_sent_total: IntCounter,
    /// The face service's counters (`goassist_animation_*`: frames, drops by reason, engine
    /// failures, fallback switches, slow freezes), registered here at start-up.
    pub face: crate::face::FaceMetrics,
    /// Component restarts (`llm`, `animation`, ...).
    pub restarts_total: IntCounterVec,
    /// 1 when a component is ready, 0 otherwise.
    pub component_ready: GaugeVec,
    /// Face frames sent to the render-bridge, and dropped on a full queue.
    pub render_bridge_frames_total: IntCounterVec,
    /// Malformed input from peers, by kind (`sdp`, `data_channel`, `http`).
    pub malformed_input_total: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let latency = |name: &str, help: &str| {
            let h = Histogram::with_opts(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("valid histogram");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric name");
            h
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric name");
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid counter");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric name");
            c
        };
        let int_gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric name");
            g
        };
        let gauge = |name: &str, help: &str| {
            let g = Gauge::new(name, help).expect("valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric name");
            g
        };
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("goassist_stage_seconds", "Latency of each pipeline stage")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["stage"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(stage_seconds.clone()))
            .expect("unique metric name");
        let int_gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric name");
            g
        };
        let engine_step_seconds = HistogramVec::new(
            HistogramOpts::new(
                "goassist_engine_step_seconds",
                "Duration of one engine step, per engine",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["engine"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(engine_step_seconds.clone()))
            .expect("unique metric name");
        let component_ready = GaugeVec::new(
            Opts::new("goassist_component_ready", "1 when the component is ready"),
            &["component"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(component_ready.clone()))
            .expect("unique metric name");

        Metrics {
            ttfa_seconds: latency(
                "goassist_ttfa_seconds",
                "End-of-turn decision to first assistant audio packet sent",
            ),
            voice_to_voice_seconds: latency(
                "goassist_voice_to_voice_seconds",
                "Last user speech sample to first assistant audio packet sent",
            ),
            barge_in_seconds: latency(
                "goassist_barge_in_seconds",
                "User speech onset to assistant audio stopped",
            ),
            stage_seconds,
            sessions_active: int_gauge("goassist_sessions_active", "Sessions currently open"),
            sessions_ended_total: counter_vec(
                "goassist_sessions_ended_total",
                "Sessions ended, by how they ended",
                &["reason"],
            ),
            sessions_rejected_total: counter_vec(
                "goassist_sessions_rejected_total",
                "Session offers refused, by reason",
                &["reason"],
            ),
            llm_queue_depth: int_gauge(
                "goassist_llm_queue_depth",
                "LLM requests queued or running in the shared engine",
            ),
            engine_queue_depth: int_gauge_vec(
                "goassist_engine_queue_depth",
                "Requests waiting for an engine slot",
                &["engine"],
            ),
            engine_slots_active: int_gauge_vec(
                "goassist_engine_slots_active",
                "Engine slots holding a request",
                &["engine"],
            ),
            engine_step_seconds,
            llm_prefill_reused_tokens_total: counter(
                "goassist_llm_prefill_reused_tokens_total",
                "LLM prompt tokens reused instead of computed",
            ),
            llm_wasted_tokens_total: counter(
                "goassist_llm_wasted_tokens_total",
                "LLM tokens computed and then thrown away",
            ),
            vram_bytes: int_gauge("goassist_vram_bytes", "GPU memory in use (GPU hosts only)"),
            webrtc_packet_loss_ratio: gauge(
                "goassist_webrtc_packet_loss_ratio",
                "Fraction of user audio packets lost (RTCP)",
            ),
            webrtc_jitter_seconds: gauge(
                "goassist_webrtc_jitter_seconds",
                "Interarrival jitter of user audio (RTCP)",
            ),
            audio_packets_sent_total: counter(
                "goassist_audio_packets_sent_total",
                "Assistant audio packets sent",
            ),
            audio_send_interval_seconds: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        "goassist_audio_send_interval_seconds",
                        "Time between consecutive packets of assistant speech",
                    )
                    .buckets(SEND_INTERVAL_BUCKETS.to_vec()),
                )
                .expect("valid histogram");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric name");
                h
            },
            barge_ins_total: counter(
                "goassist_barge_ins_total",
                "Assistant turns interrupted by the user",
            ),
            animation_frames_sent_total: counter(
                "goassist_animation_frames_sent_total",
                "Face frames sent to clients",
            ),
            face: {
                let face = crate::face::FaceMetrics::new();
                face.register(&registry).expect("unique metric names");
                face
            },
            restarts_total: counter_vec(
                "goassist_restarts_total",
                "Component restarts",
                &["component"],
            ),
            component_ready,
            render_bridge_frames_total: counter_vec(
                "goassist_render_bridge_frames_total",
                "Face frames for the render-bridge, by outcome",
                &["outcome"],
            ),
            malformed_input_total: counter_vec(
                "goassist_malformed_input_total",
                "Malformed input from peers, by kind",
                &["kind"],
            ),
            registry,
        }
    }

    /// The LLM service's handles on these metrics.
    pub fn llm(&self) -> crate::llm::LlmMetrics {
        crate::llm::LlmMetrics {
            requests: self.llm_queue_depth.clone(),
            waiting: self.engine_queue_depth.with_label_values(&["llm"]),
            slots_active: self.engine_slots_active.with_label_values(&["llm"]),
            step_seconds: self.engine_step_seconds.with_label_values(&["llm"]),
            prefill_reused_tokens: self.llm_prefill_reused_tokens_total.clone(),
            wasted_tokens: self.llm_wasted_tokens_total.clone(),
        }
    }

    /// The registry, for code that registers its own collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = encoder.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
