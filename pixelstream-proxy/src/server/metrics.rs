//! Prometheus metrics of the proxy, served on the admin port. The `goassist_` prefix is shared
//! with the other two services; process metrics and `goassist_build_info` are exported as they
//! are by the inference server (deploy/monitoring/alerts.yml reads them).

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::signalling::{MessageType, RejectReason};

/// The proxy's metrics and the registry that renders them.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Connected streamers.
    pub streamers: IntGauge,
    /// Connected players.
    pub players: IntGauge,
    /// Messages relayed between peers, by `type`.
    pub relayed: IntCounterVec,
    /// Time from reading a message off one socket to queueing it for the other peer.
    pub relay_latency: Histogram,
    /// Refused messages and connections, by reason.
    pub rejections: IntCounterVec,
}

impl Metrics {
    /// Registers every metric, with all label values pre-created so dashboards see zeros.
    pub fn new() -> Self {
        let registry = Registry::new();
        let streamers = IntGauge::new("goassist_pixelstream_streamers", "Connected streamers")
            .expect("metric definitions are constant and valid");
        let players = IntGauge::new("goassist_pixelstream_players", "Connected players")
            .expect("metric definitions are constant and valid");
        let relayed = IntCounterVec::new(
            Opts::new(
                "goassist_pixelstream_messages_relayed_total",
                "Signalling messages relayed between peers",
            ),
            &["type"],
        )
        .expect("metric definitions are constant and valid");
        // Relay is in-process routing: microseconds normally, milliseconds under stress.
        let relay_latency = Histogram::with_opts(
            HistogramOpts::new(
                "goassist_pixelstream_relay_latency_seconds",
                "Time from reading a message to queueing it for its destination",
            )
            .buckets(vec![
                10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3,
                250e-3,
            ]),
        )
        .expect("metric definitions are constant and valid");
        let rejections = IntCounterVec::new(
            Opts::new(
                "goassist_pixelstream_rejections_total",
                "Refused messages and connections",
            ),
            &["reason"],
        )
        .expect("metric definitions are constant and valid");
        for kind in MessageType::ALL {
            relayed.with_label_values(&[kind.as_str()]);
        }
        for reason in RejectReason::ALL {
            rejections.with_label_values(&[reason.as_str()]);
        }
        // Process metrics (start time for the crash-loop alert, memory, fds) and the build, as
        // every GoAssist service exports them (deploy/monitoring/alerts.yml).
        goassist_telemetry::register_process_and_build_info(
            &registry,
            "goassist-pixelstream-proxy",
        )
        .expect("registered once per registry");
        for collector in [
            Box::new(streamers.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(players.clone()),
            Box::new(relayed.clone()),
            Box::new(relay_latency.clone()),
            Box::new(rejections.clone()),
        ] {
            // Names are constants and registered once per registry: a clash is a coding error.
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            streamers,
            players,
            relayed,
            relay_latency,
            rejections,
        }
    }

    /// Counts one rejection.
    pub fn reject(&self, reason: RejectReason) {
        self.rejections.with_label_values(&[reason.as_str()]).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
