//! Prometheus metrics of the bridge. Label values are known up front, so the hot path holds
//! pre-resolved counter handles and never hashes label sets per packet.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use goassist_protocol::bridge_auth::OpenError;

use crate::world::admission::DropReason;

/// The labels of [`OpenError::reason`], in the order of [`BridgeMetrics`]' counters.
const UNSEALED_REASONS: [&str; 3] = ["bad_mac", "stale", "replayed"];

/// Kinds of output the bridge writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Live Link Face v6.
    LiveLink,
    /// Native stream to the GoAssist plugin.
    Plugin,
    /// VMC over OSC.
    Vmc,
}

impl Output {
    const ALL: [Output; 3] = [Output::LiveLink, Output::Plugin, Output::Vmc];

    fn label(self) -> &'static str {
        match self {
            Output::LiveLink => "livelink",
            Output::Plugin => "plugin",
            Output::Vmc => "vmc",
        }
    }
}

/// All bridge metrics, registered in their own registry.
#[derive(Clone)]
pub struct BridgeMetrics {
    registry: Registry,
    /// Datagrams received (well-formed or not).
    pub frames_in: IntCounter,
    frames_out: [IntCounter; 3],
    send_errors: [IntCounter; 3],
    dropped: [IntCounter; DropReason::ALL.len()],
    /// Datagrams that did not decode.
    pub malformed: IntCounter,
    /// Datagrams dropped undecoded: their sender is not allowed.
    pub refused_sender: IntCounter,
    /// Datagrams dropped undecoded with `BRIDGE_KEY` set: no valid tag, stale, replayed.
    refused_unsealed: [IntCounter; 3],
    /// Receive time to the last output send, per emitted live frame.
    pub ingest_to_emit: Histogram,
    /// Subjects live or easing.
    pub active_subjects: IntGauge,
    /// Avatars held (quiet ones included).
    pub avatars: IntGauge,
    /// Avatars created.
    pub avatars_created: IntCounter,
    /// Avatars forgotten (idle, or detached and neutral).
    pub avatars_forgotten: IntCounter,
    /// Slow-freezes started.
    pub slow_freezes: IntCounter,
}

impl BridgeMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let frames_in = IntCounter::new(
            "goassist_bridge_frames_in_total",
            "Datagrams received on the ingest socket from allowed senders",
        )?;
        let out = IntCounterVec::new(
            Opts::new("goassist_bridge_frames_out_total", "Frames sent, by output"),
            &["output"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "goassist_bridge_send_errors_total",
                "Sends the socket refused, by output",
            ),
            &["output"],
        )?;
        let dropped = IntCounterVec::new(
            Opts::new(
                "goassist_bridge_frames_dropped_total",
                "Well-formed frames not emitted, by reason",
            ),
            &["reason"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "goassist_bridge_datagrams_refused_total",
                "Datagrams dropped before decoding, by reason (sender_not_allowed: not in \
                 BRIDGE_ALLOWED_SENDERS; with BRIDGE_KEY, bad_mac: no valid tag, stale: sealed \
                 too far from this clock, replayed: its counter was seen)",
            ),
            &["reason"],
        )?;
        let malformed = IntCounter::new(
            "goassist_bridge_malformed_packets_total",
            "Datagrams that are not valid bridge-stream frames",
        )?;
        let ingest_to_emit = Histogram::with_opts(
            HistogramOpts::new(
                "goassist_bridge_ingest_to_emit_seconds",
                "From a datagram's receipt to the end of its last output send",
            )
            // The target is p99 <= 1 ms: resolve 5 us .. 50 ms.
            .buckets(vec![
                5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3,
            ]),
        )?;
        let active_subjects = IntGauge::new(
            "goassist_bridge_active_subjects",
            "Live Link subjects that are live or easing to neutral",
        )?;
        let avatars = IntGauge::new(
            "goassist_bridge_avatars",
            "Avatars held: live, easing or quiet (BRIDGE_MAX_AVATARS caps it)",
        )?;
        let avatars_created = IntCounter::new(
            "goassist_bridge_avatars_created_total",
            "Avatars created for new streams",
        )?;
        let avatars_forgotten = IntCounter::new(
            "goassist_bridge_avatars_forgotten_total",
            "Avatars forgotten after idling (or once neutral after being routed elsewhere)",
        )?;
        let slow_freezes = IntCounter::new(
            "goassist_animation_slow_freeze_total",
            "Subjects whose frames stopped and that were eased to neutral",
        )?;
        registry.register(Box::new(frames_in.clone()))?;
        registry.register(Box::new(out.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        registry.register(Box::new(malformed.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(ingest_to_emit.clone()))?;
        registry.register(Box::new(active_subjects.clone()))?;
        registry.register(Box::new(avatars.clone()))?;
        registry.register(Box::new(avatars_created.clone()))?;
        registry.register(Box::new(avatars_forgotten.clone()))?;
        registry.register(Box::new(slow_freezes.clone()))?;
        // Process metrics (start time for the crash-loop alert, memory, fds) and the build, as
        // every GoAssist service exports them (deploy/monitoring/alerts.yml).
        goassist_telemetry::register_process_and_build_info(&registry, "goassist-render-bridge")?;
        Ok(BridgeMetrics {
            registry,
            frames_in,
            frames_out: Output::ALL.map(|o| out.with_label_values(&[o.label()])),
            send_errors: Output::ALL.map(|o| errors.with_label_values(&[o.label()])),
            dropped: DropReason::ALL.map(|r| dropped.with_label_values(&[r.as_str()])),
            malformed,
            refused_sender: refused.with_label_values(&["sender_not_allowed"]),
            refused_unsealed: UNSEALED_REASONS.map(|r| refused.with_label_values(&[r])),
            ingest_to_emit,
            active_subjects,
            avatars,
            avatars_created,
            avatars_forgotten,
            slow_freezes,
        })
    }

    /// Counter of frames sent to an output.
    pub fn frames_out(&self, output: Output) -> &IntCounter {
        &self.frames_out[output as usize]
    }

    /// Counter of failed sends to an output.
    pub fn send_errors(&self, output: Output) -> &IntCounter {
        &self.send_errors[output as usize]
    }

    /// Counter of datagrams refused by the key check, for `error`'s reason.
    pub fn refused_unsealed(&self, error: &OpenError) -> &IntCounter {
        let i = UNSEALED_REASONS
            .iter()
            .position(|r| *r == error.reason())
            .unwrap_or(0);
        &self.refused_unsealed[i]
    }

    /// Counter of frames dropped for a reason.
    pub fn dropped(&self, reason: DropReason) -> &IntCounter {
        &self.dropped[reason.index()]
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for these metric types.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lists_every_family_with_labels() {
        let m = BridgeMetrics::new().unwrap();
        m.frames_in.inc();
        m.frames_out(Output::Vmc).inc();
        m.dropped(DropReason::Lag).inc_by(2);
        m.ingest_to_emit.observe(0.0002);
        m.refused_unsealed(&OpenError::Replayed {
            sender: 1,
            counter: 2,
        })
        .inc();
        let text = m.render();
        for needle in [
            "goassist_bridge_frames_in_total 1",
            "goassist_bridge_frames_out_total{output=\"vmc\"} 1",
            "goassist_bridge_frames_out_total{output=\"livelink\"} 0",
            "goassist_bridge_frames_dropped_total{reason=\"lag\"} 2",
            "goassist_bridge_frames_dropped_total{reason=\"stale_epoch\"} 0",
            "goassist_bridge_frames_dropped_total{reason=\"no_free_subject\"} 0",
            "goassist_bridge_frames_dropped_total{reason=\"sender_limit\"} 0",
            "goassist_bridge_datagrams_refused_total{reason=\"sender_not_allowed\"} 0",
            "goassist_bridge_datagrams_refused_total{reason=\"bad_mac\"} 0",
            "goassist_bridge_datagrams_refused_total{reason=\"stale\"} 0",
            "goassist_bridge_datagrams_refused_total{reason=\"replayed\"} 1",
            "goassist_bridge_avatars 0",
            "goassist_bridge_avatars_created_total 0",
            "goassist_bridge_avatars_forgotten_total 0",
            "goassist_bridge_malformed_packets_total 0",
            "goassist_bridge_ingest_to_emit_seconds_bucket{le=\"0.00025\"} 1",
            "goassist_bridge_active_subjects 0",
            "goassist_animation_slow_freeze_total 0",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
