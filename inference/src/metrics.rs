//! The Prometheus metrics of the inference server: the names the runbook, dashboards and alerts
//! read (docs/runbook.md).
//!
//! Every metric is registered at start-up, also those that later stages feed, so dashboards and
//! alerts can be written against a stable set of names. Latency histograms use buckets from
//! 10 ms up to 60 s: a GPU answers in a few hundred ms, but a loaded CPU host reaches tens of
//! seconds (the concurrency sweep in docs/benchmarks/voice.md measured 34 s), and a p95 that falls
//! into `+Inf` cannot be read. Process metrics (`process_start_time_seconds`, memory, fds,
//! threads, CPU) come from the prometheus crate's process collector; `goassist_build_info` names
//! the version that is running.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Buckets for the pacing of sent audio packets, in seconds (around 10–40 ms packets).
const SEND_INTERVAL_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.06, 0.08, 0.1, 0.25,
];

/// Buckets for turn-level latencies (TTFA, voice-to-voice, barge-in, stages), in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
    7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// Buckets for one engine step (a transcription, a clause's synthesis), in seconds: from the
/// pool's own overhead (well under a millisecond) to a long clause on a busy CPU.
const ENGINE_STEP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets for one session's RTCP loss fraction: exact zero, then the steps where Opus starts
/// to sound worse (1–5 %) and where a call is unusable (20 % and more).
const LOSS_BUCKETS: &[f64] = &[0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

/// Buckets for one session's RTCP interarrival jitter, in seconds.
const JITTER_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5];

/// The admin procedures of the runbook's recovery matrix (§11), pre-created as label values of
/// `goassist_admin_actions_total` so an alert sees zeros before the first incident.
pub const ADMIN_ACTIONS: &[&str] = &["drain", "resume", "animation", "end_session", "llm_restart"];

/// Outcomes of an admin procedure: done, refused (no valid token; the token's scope is too
/// low), or failed (bad body, unknown session).
pub const ADMIN_OUTCOMES: &[&str] = &["ok", "unauthorized", "forbidden", "failed"];

/// The service name in `goassist_build_info` and the scrape job of the inference server.
pub const SERVICE: &str = "goassist-inference";

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
    /// `send_first` (first clause queued → its first packet sent); before the end of the turn
    /// `endpoint` (last voiced audio → end of turn decided) and the models judging a pause,
    /// `turn_audio`, `turn_asr`, `turn_text` (see `voice/stages.rs`).
    pub stage_seconds: HistogramVec,
    /// Sessions currently open.
    pub sessions_active: IntGauge,
    /// Open connections to API_PORT (at most HTTP_MAX_CONNECTIONS).
    pub http_connections: IntGauge,
    /// Sessions ended, by how they ended (`client`, `idle_timeout`, `max_duration`, `admin`,
    /// `drain`, `error`).
    pub sessions_ended_total: IntCounterVec,
    /// Session offers refused, by reason (`capacity`, `draining`, `not_ready`, `bad_offer`).
    pub sessions_rejected_total: IntCounterVec,
    /// LLM requests waiting for or in the shared engine.
    pub llm_queue_depth: IntGauge,
    /// The engine pools' gauges and step times (`goassist_engine_*{engine}`).
    pub engines: EngineMetrics,
    /// LLM prompt tokens not computed again (session cache, speculative prefill, prefix cache).
    pub llm_prefill_reused_tokens_total: IntCounter,
    /// LLM tokens computed and then thrown away (a partial transcript contradicted later).
    pub llm_wasted_tokens_total: IntCounter,
    /// Tokens of the LLM answers that finished.
    pub llm_generated_tokens_total: IntCounter,
    /// Conversations whose computed sequence the local LLM keeps between turns (at most one
    /// per open session: a leak check for the soak).
    pub llm_sessions_kept: IntGauge,
    /// GPU memory in use per GPU (`gpu` = CUDA index), by every process on the device,
    /// refreshed by [`crate::gpu`]. Absent on hosts without an NVIDIA GPU.
    pub vram_bytes: IntGaugeVec,
    /// GPU memory per GPU (`gpu` = CUDA index). Absent on hosts without an NVIDIA GPU.
    pub vram_total_bytes: IntGaugeVec,
    /// Fraction of the user's audio packets lost, one observation per RTCP report of each
    /// session: the distribution over sessions (a gauge would only hold the last reporter).
    pub webrtc_packet_loss_ratio: Histogram,
    /// Interarrival jitter of the user's audio, one observation per RTCP report of each session.
    pub webrtc_jitter_seconds: Histogram,
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
    /// Log lines dropped because stdout's reader or the log disk fell behind (the audio path
    /// never waits for a log line); brought up to date at every scrape.
    pub log_lines_dropped_total: IntCounter,
    /// User turns ended, by what ended them (`complete`, `audio_only`, `max_silence`: the
    /// Smart Turn rule at a pause; `silence`: the VAD's fixed silence).
    pub turn_ends_total: IntCounterVec,
    /// Answers started at a pause still being judged, by `outcome`: `used` (the turn ended
    /// with those words) or `discarded` (the user went on, said something else, barged in).
    pub preemptive_answers_total: IntCounterVec,
    /// Tokens of preemptive answers that were thrown away.
    pub preemptive_discarded_tokens_total: IntCounter,
    /// Admin procedures run, by `action` (see [`ADMIN_ACTIONS`]) and `outcome`
    /// ([`ADMIN_OUTCOMES`]): the audit trail's counter, for "executed more than twice in 24 h".
    pub admin_actions_total: IntCounterVec,
    /// Alert thresholds the operator set in the server's configuration, exported so the
    /// Prometheus rules read them instead of a copy (`crash_loop`: ALERT_CRASH_LOOP_THRESHOLD,
    /// `vram_cap_bytes`: LLM_VRAM_CAP_GB in bytes).
    pub alert_threshold: IntGaugeVec,
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
        let int_gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric name");
            g
        };
        let distribution = |name: &str, help: &str, buckets: &[f64]| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
                .expect("valid histogram");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric name");
            h
        };
        goassist_telemetry::register_process_and_build_info(&registry, SERVICE)
            .expect("one process collector and build info per registry");
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("goassist_stage_seconds", "Latency of each pipeline stage")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["stage"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(stage_seconds.clone()))
            .expect("unique metric name");
        let component_ready = GaugeVec::new(
            Opts::new("goassist_component_ready", "1 when the component is ready"),
            &["component"],
        )
        .expect("valid gauge");
        registry
            .register(Box::new(component_ready.clone()))
            .expect("unique metric name");

        let metrics = Metrics {
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
            http_connections: int_gauge(
                "goassist_http_connections",
                "Open connections to the API port (at most HTTP_MAX_CONNECTIONS)",
            ),
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
            engines: {
                let engines = EngineMetrics::new();
                engines.register(&registry).expect("unique metric names");
                engines
            },
            llm_prefill_reused_tokens_total: counter(
                "goassist_llm_prefill_reused_tokens_total",
                "LLM prompt tokens reused instead of computed",
            ),
            llm_wasted_tokens_total: counter(
                "goassist_llm_wasted_tokens_total",
                "LLM tokens computed and then thrown away",
            ),
            llm_generated_tokens_total: counter(
                "goassist_llm_generated_tokens_total",
                "Tokens of the LLM answers that finished",
            ),
            vram_bytes: int_gauge_vec(
                "goassist_vram_bytes",
                "GPU memory in use by every process, per GPU (GPU hosts only)",
                &["gpu"],
            ),
            vram_total_bytes: int_gauge_vec(
                "goassist_vram_total_bytes",
                "GPU memory, per GPU (GPU hosts only)",
                &["gpu"],
            ),
            webrtc_packet_loss_ratio: distribution(
                "goassist_webrtc_packet_loss_ratio",
                "Fraction of user audio packets lost, per RTCP report of each session",
                LOSS_BUCKETS,
            ),
            webrtc_jitter_seconds: distribution(
                "goassist_webrtc_jitter_seconds",
                "Interarrival jitter of user audio, per RTCP report of each session",
                JITTER_BUCKETS,
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
            llm_sessions_kept: int_gauge(
                "goassist_llm_sessions_kept",
                "Conversations whose computed LLM sequence is kept between turns",
            ),
            log_lines_dropped_total: counter(
                "goassist_log_lines_dropped_total",
                "Log lines dropped because their writer fell behind",
            ),
            turn_ends_total: counter_vec(
                "goassist_turn_ends_total",
                "User turns ended, by what ended them",
                &["reason"],
            ),
            preemptive_answers_total: counter_vec(
                "goassist_preemptive_answers_total",
                "Answers started at a pause still being judged, by outcome (used, discarded)",
                &["outcome"],
            ),
            preemptive_discarded_tokens_total: counter(
                "goassist_preemptive_discarded_tokens_total",
                "Tokens of preemptive answers thrown away",
            ),
            admin_actions_total: {
                let c = counter_vec(
                    "goassist_admin_actions_total",
                    "Admin procedures run, by action and outcome (audit trail)",
                    &["action", "outcome"],
                );
                for action in ADMIN_ACTIONS {
                    for outcome in ADMIN_OUTCOMES {
                        c.with_label_values(&[action, outcome]);
                    }
                }
                c
            },
            alert_threshold: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "goassist_alert_threshold",
                        "Alert thresholds set in the server's configuration",
                    ),
                    &["threshold"],
                )
                .expect("valid gauge");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric name");
                g
            },
            registry,
        };
        // Label values at zero from the start, so every dashboard query and alert finds its
        // series before the first event (a counter family with no child is not exported).
        let zeroed: [(&IntCounterVec, &[&str]); 7] = [
            (
                &metrics.sessions_rejected_total,
                &["capacity", "draining", "not_ready", "bad_offer", "ports"],
            ),
            (
                &metrics.sessions_ended_total,
                &[
                    "client",
                    "idle_timeout",
                    "max_duration",
                    "admin",
                    "drain",
                    "error",
                ],
            ),
            (&metrics.restarts_total, &["llm"]),
            (
                &metrics.malformed_input_total,
                &["sdp", "data_channel", "http"],
            ),
            (&metrics.render_bridge_frames_total, &["sent", "dropped"]),
            (
                &metrics.turn_ends_total,
                &["complete", "audio_only", "max_silence", "silence"],
            ),
            (&metrics.preemptive_answers_total, &["used", "discarded"]),
        ];
        for (family, values) in zeroed {
            for value in values {
                family.with_label_values(&[value]);
            }
        }
        metrics
    }

    /// Exports the thresholds the alert rules compare against: ALERT_CRASH_LOOP_THRESHOLD
    /// (`crash_loop`, restarts per hour) and LLM_VRAM_CAP_GB (`vram_cap_bytes`).
    pub fn set_alert_thresholds(&self, crash_loop_per_hour: u32, vram_cap_gb: u32) {
        self.alert_threshold
            .with_label_values(&["crash_loop"])
            .set(i64::from(crash_loop_per_hour));
        self.alert_threshold
            .with_label_values(&["vram_cap_bytes"])
            .set(i64::from(vram_cap_gb) << 30);
    }

    /// The LLM service's handles on these metrics.
    pub fn llm(&self) -> crate::llm::LlmMetrics {
        let llm = self.engines.for_engine("llm");
        crate::llm::LlmMetrics {
            requests: self.llm_queue_depth.clone(),
            waiting: llm.queue_depth,
            slots_active: llm.slots_active,
            step_seconds: llm.step_seconds,
            prefill_reused_tokens: self.llm_prefill_reused_tokens_total.clone(),
            wasted_tokens: self.llm_wasted_tokens_total.clone(),
            generated_tokens: self.llm_generated_tokens_total.clone(),
            sessions_kept: self.llm_sessions_kept.clone(),
        }
    }

    /// The registry, for code that registers its own collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let dropped = goassist_telemetry::logging::dropped_lines();
        let counted = self.log_lines_dropped_total.get();
        if dropped > counted {
            self.log_lines_dropped_total.inc_by(dropped - counted);
        }
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

/// The metrics of every engine pool (ASR, TTS), labelled by engine.
#[derive(Clone)]
pub struct EngineMetrics {
    queue_depth: IntGaugeVec,
    slots_active: IntGaugeVec,
    step_seconds: HistogramVec,
    requests_total: IntCounterVec,
}

impl EngineMetrics {
    /// The metrics, not registered yet (see [`EngineMetrics::register`]).
    pub fn new() -> Self {
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["engine"]).expect("valid gauge")
        };
        EngineMetrics {
            queue_depth: gauge(
                "goassist_engine_queue_depth",
                "Engine requests admitted and not started yet",
            ),
            slots_active: gauge(
                "goassist_engine_slots_active",
                "Engine slots held by a request (ready or running)",
            ),
            step_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "goassist_engine_step_seconds",
                    "Time the engine spent on one request",
                )
                .buckets(ENGINE_STEP_BUCKETS.to_vec()),
                &["engine"],
            )
            .expect("valid histogram"),
            requests_total: IntCounterVec::new(
                Opts::new(
                    "goassist_engine_requests_total",
                    "Engine requests by outcome (ok, error, panic, cancelled, refused)",
                ),
                &["engine", "outcome"],
            )
            .expect("valid counter"),
        }
    }

    /// Registers every metric on `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.queue_depth.clone()))?;
        registry.register(Box::new(self.slots_active.clone()))?;
        registry.register(Box::new(self.step_seconds.clone()))?;
        registry.register(Box::new(self.requests_total.clone()))
    }

    /// The series of one engine (`asr`, `tts`), resolved once so the pool's hot path does no
    /// label lookups.
    pub fn for_engine(&self, engine: &str) -> PoolMetrics {
        let outcome = |o: &str| self.requests_total.with_label_values(&[engine, o]);
        PoolMetrics {
            queue_depth: self.queue_depth.with_label_values(&[engine]),
            slots_active: self.slots_active.with_label_values(&[engine]),
            step_seconds: self.step_seconds.with_label_values(&[engine]),
            ok: outcome("ok"),
            error: outcome("error"),
            panic: outcome("panic"),
            cancelled: outcome("cancelled"),
            refused: outcome("refused"),
        }
    }
}

impl Default for EngineMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One engine pool's series.
#[derive(Clone)]
pub struct PoolMetrics {
    /// `goassist_engine_queue_depth{engine}`: admitted, not started.
    pub queue_depth: IntGauge,
    /// `goassist_engine_slots_active{engine}`: slots held.
    pub slots_active: IntGauge,
    /// `goassist_engine_step_seconds{engine}`: engine time per request.
    pub step_seconds: Histogram,
    /// Requests answered with a result.
    pub ok: IntCounter,
    /// Requests the engine failed.
    pub error: IntCounter,
    /// Requests during which the engine panicked.
    pub panic: IntCounter,
    /// Requests their caller gave up on (skipped, or their result discarded).
    pub cancelled: IntCounter,
    /// Requests refused: no free slot and the wait queue full.
    pub refused: IntCounter,
}

impl PoolMetrics {
    /// Series that no registry exports: for tests and benchmarks.
    pub fn unregistered(engine: &str) -> Self {
        EngineMetrics::new().for_engine(engine)
    }
}
