//! Face counters, as Prometheus metrics (registered by the server on its registry) with a
//! plain snapshot for tests, logs and `/readyz` details.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// Why a frame was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDrop {
    /// It would reach the client more than `ANIMATION_DROP_IF_LAG_MS` after its audio.
    Late,
    /// It belongs to a turn that was interrupted (an older epoch).
    StaleEpoch,
    /// The session's outgoing frame queue was full.
    QueueFull,
    /// Animation is disabled by the admin kill-switch.
    Disabled,
}

impl FrameDrop {
    fn label(self) -> &'static str {
        match self {
            FrameDrop::Late => "late",
            FrameDrop::StaleEpoch => "stale_epoch",
            FrameDrop::QueueFull => "queue_full",
            FrameDrop::Disabled => "disabled",
        }
    }
}

/// How an engine failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// It panicked (caught; the engine thread is discarded).
    Panic,
    /// It did not answer within the deadline.
    Timeout,
    /// It returned an error (including failing to start or connect).
    Error,
}

impl FailureKind {
    fn label(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Timeout => "timeout",
            FailureKind::Error => "error",
        }
    }
}

/// The face service's Prometheus metrics.
#[derive(Clone)]
pub struct FaceMetrics {
    frames: IntCounter,
    dropped: IntCounterVec,
    segments_dropped: IntCounterVec,
    failures: IntCounterVec,
    fallback_switches: IntCounter,
    slow_freezes: IntCounter,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FaceCounters {
    /// Frames handed to sessions' outgoing queues.
    pub frames_produced: u64,
    /// Frames dropped because they were late.
    pub dropped_late: u64,
    /// Frames dropped because their turn was interrupted.
    pub dropped_stale_epoch: u64,
    /// Frames dropped because a session's queue was full.
    pub dropped_queue_full: u64,
    /// Frames dropped because animation is disabled.
    pub dropped_disabled: u64,
    /// Audio segments not animated (input queue full, stale epoch or disabled).
    pub segments_dropped: u64,
    /// Engine panics.
    pub engine_panics: u64,
    /// Engine deadline misses.
    pub engine_timeouts: u64,
    /// Engine errors (including connection failures).
    pub engine_errors: u64,
    /// Sessions switched from the primary engine to the fallback.
    pub fallback_switches: u64,
    /// Eases to neutral started.
    pub slow_freezes: u64,
}

impl Default for FaceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl FaceMetrics {
    /// Fresh, unregistered metrics.
    pub fn new() -> Self {
        let vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| unreachable!("static metric definition {name} is valid: {e}"))
        };
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help)
                .unwrap_or_else(|e| unreachable!("static metric definition {name} is valid: {e}"))
        };
        let metrics = FaceMetrics {
            frames: counter(
                "goassist_animation_frames_total",
                "Face frames produced for delivery",
            ),
            dropped: vec(
                "goassist_animation_frames_dropped_total",
                "Face frames dropped, by reason",
                &["reason"],
            ),
            segments_dropped: vec(
                "goassist_animation_segments_dropped_total",
                "Audio segments not animated, by reason",
                &["reason"],
            ),
            failures: vec(
                "goassist_animation_engine_failures_total",
                "Animation engine failures, by engine and kind",
                &["engine", "kind"],
            ),
            fallback_switches: counter(
                "goassist_animation_fallback_switches_total",
                "Sessions switched to the fallback animation engine",
            ),
            slow_freezes: counter(
                "goassist_animation_slow_freeze_total",
                "Eases of the face to neutral after frames stopped",
            ),
        };
        // Every drop reason at zero from the start: dashboards and alerts see the series
        // before the first drop.
        for why in [
            FrameDrop::Late,
            FrameDrop::StaleEpoch,
            FrameDrop::QueueFull,
            FrameDrop::Disabled,
        ] {
            metrics.dropped.with_label_values(&[why.label()]);
        }
        metrics
    }

    /// Registers every metric on `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.frames.clone()))?;
        registry.register(Box::new(self.dropped.clone()))?;
        registry.register(Box::new(self.segments_dropped.clone()))?;
        registry.register(Box::new(self.failures.clone()))?;
        registry.register(Box::new(self.fallback_switches.clone()))?;
        registry.register(Box::new(self.slow_freezes.clone()))?;
        Ok(())
    }

    pub(crate) fn frame_produced(&self) {
        self.frames.inc();
    }

    pub(crate) fn frame_dropped(&self, why: FrameDrop) {
        self.dropped.with_label_values(&[why.label()]).inc();
    }

    pub(crate) fn segment_dropped(&self, reason: &str) {
        self.segments_dropped.with_label_values(&[reason]).inc();
    }

    pub(crate) fn engine_failed(&self, engine: &str, kind: FailureKind) {
        self.failures
            .with_label_values(&[engine, kind.label()])
            .inc();
    }

    pub(crate) fn fallback_switched(&self) {
        self.fallback_switches.inc();
    }

    pub(crate) fn slow_freeze(&self) {
        self.slow_freezes.inc();
    }

    /// The counters now.
    pub fn snapshot(&self) -> FaceCounters {
        let dropped = |why: FrameDrop| self.dropped.with_label_values(&[why.label()]).get();
        let failures = |kind: FailureKind| {
            self.failures
                .collect()
                .iter()
                .flat_map(|family| family.get_metric())
                .filter(|m| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == "kind" && l.value() == kind.label())
                })
                .map(|m| m.get_counter().get_value() as u64)
                .sum()
        };
        let segments = self
            .segments_dropped
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum();
        FaceCounters {
            frames_produced: self.frames.get(),
            dropped_late: dropped(FrameDrop::Late),
            dropped_stale_epoch: dropped(FrameDrop::StaleEpoch),
            dropped_queue_full: dropped(FrameDrop::QueueFull),
            dropped_disabled: dropped(FrameDrop::Disabled),
            segments_dropped: segments,
            engine_panics: failures(FailureKind::Panic),
            engine_timeouts: failures(FailureKind::Timeout),
            engine_errors: failures(FailureKind::Error),
            fallback_switches: self.fallback_switches.get(),
            slow_freezes: self.slow_freezes.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_snapshot_and_prometheus_text() {
        let m = FaceMetrics::new();
        m.frame_produced();
        m.frame_dropped(FrameDrop::Late);
        m.frame_dropped(FrameDrop::Late);
        m.engine_failed("audio2face", FailureKind::Timeout);
        m.engine_failed("lam", FailureKind::Panic);
        m.segment_dropped("input_full");
        m.slow_freeze();
        let s = m.snapshot();
        assert_eq!(s.frames_produced, 1);
        assert_eq!(s.dropped_late, 2);
        assert_eq!(
            (s.engine_timeouts, s.engine_panics, s.engine_errors),
            (1, 1, 0)
        );
        assert_eq!((s.segments_dropped, s.slow_freezes), (1, 1));
        let registry = Registry::new();
        m.register(&registry).unwrap();
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&registry.gather(), &mut text)
            .unwrap();
        assert!(
            text.contains("goassist_animation_frames_dropped_total{reason=\"late\"} 2"),
            "{text}"
        );
        assert!(text.contains("goassist_animation_slow_freeze_total 1"));
    }
}
