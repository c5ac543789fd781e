//! The ingest loop: one thread, one UDP socket, many inference pods. Each datagram is decoded,
//! judged by the [`BridgeCore`] and, if emitted, sent to every output before the next
//! datagram is read: emission happens on arrival, never on a tick. Between datagrams (or at
//! least every poll interval, via the socket's read timeout) the core advances slow-freezes.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use goassist_protocol::bridge_stream::{self, MAX_DATAGRAM_LEN};

use crate::core::{BridgeCore, EmissionKind};
use crate::metrics::BridgeMetrics;
use crate::outputs::Outputs;

/// Liveness shared with the HTTP side.
#[derive(Debug, Default)]
pub struct Health {
    /// Set once the loop runs with its sockets bound.
    pub ready: AtomicBool,
    /// Milliseconds since `started` at the loop's last turn.
    pub heartbeat_ms: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

impl Health {
    /// Records that the loop is alive now.
    pub fn beat(&self, now: Instant) {
        let started = *self.started.get_or_init(|| now);
        let ms = now.saturating_duration_since(started).as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    /// How long since the loop last turned (None before it first ran).
    pub fn since_last_beat(&self, now: Instant) -> Option<std::time::Duration> {
        let started = *self.started.get()?;
        let last =
            started + std::time::Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        Some(now.saturating_duration_since(last))
    }
}

/// Runs until `shutdown` is set. Never returns early on bad input: malformed datagrams are
/// counted and skipped, socket errors are counted and the loop goes on.
pub fn run(
    socket: &UdpSocket,
    core: &mut BridgeCore,
    outputs: &mut Outputs,
    metrics: &BridgeMetrics,
    health: &Health,
    shutdown: &AtomicBool,
) {
    let interval = core.poll_interval();
    if let Err(e) = socket.set_read_timeout(Some(interval)) {
        tracing::warn!(error = %e, "cannot set ingest read timeout");
    }
    // One byte more than the largest valid datagram, so oversize ones are seen as such.
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
    let mut audio = Vec::with_capacity(bridge_stream::MAX_AUDIO_SAMPLES);
    let mut next_poll = Instant::now();
    health.beat(next_poll);
    health.ready.store(true, Ordering::Release);
    while !shutdown.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, _from)) => {
                let received = Instant::now();
                handle(&buf[..n], received, core, outputs, metrics, &mut audio);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // ICMP errors surface on some platforms; nothing a peer sends stops the loop.
                tracing::debug!(error = %e, "ingest receive error");
            }
        }
        let now = Instant::now();
        if now >= next_poll {
            core.poll(now, |e| outputs.emit(&e, None, metrics));
            let stats = core.stats();
            metrics
                .slow_freezes
                .inc_by(stats.freezes - metrics.slow_freezes.get());
            metrics.active_subjects.set(core.active_subjects() as i64);
            health.beat(now);
            next_poll = now + interval;
        }
    }
    health.ready.store(false, Ordering::Release);
}

/// Decodes, judges and emits one datagram.
pub fn handle(
    datagram: &[u8],
    received: Instant,
    core: &mut BridgeCore,
    outputs: &mut Outputs,
    metrics: &BridgeMetrics,
    audio: &mut Vec<i16>,
) {
    metrics.frames_in.inc();
    let (avatar, frame, has_audio) = match bridge_stream::decode_face(datagram) {
        Ok(d) => d,
        Err(e) => {
            tracing::trace!(error = %e, "malformed datagram");
            metrics.malformed.inc();
            return;
        }
    };
    match core.ingest(received, avatar, &frame) {
        Ok(emission) => {
            debug_assert_eq!(emission.kind, EmissionKind::Live);
            let chunk = if has_audio
                && outputs.wants_audio()
                && bridge_stream::audio_into(datagram, audio).unwrap_or(false)
            {
                Some(&audio[..])
            } else {
                None
            };
            outputs.emit(&emission, chunk, metrics);
            metrics
                .ingest_to_emit
                .observe(received.elapsed().as_secs_f64());
        }
        Err(reason) => metrics.dropped(reason).inc(),
    }
}

/// A shared stop flag, set by signal handlers or tests.
pub type Shutdown = Arc<AtomicBool>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BridgeConfig;
    use crate::core::CoreSettings;
    use goassist_protocol::FaceFrame;

    /// Every truncation and byte corruption of valid datagrams goes through the real handler:
    /// nothing panics and every datagram is accounted for.
    #[test]
    fn malformed_datagram_sweep_is_counted_never_fatal() {
        let config = BridgeConfig::from_lookup(|k| match k {
            "BRIDGE_LIVELINK_ADDRS" => Some("off".into()),
            _ => None,
        })
        .unwrap();
        let mut outputs = Outputs::open(&config).unwrap();
        let mut core = BridgeCore::new(CoreSettings::from(&config));
        let metrics = BridgeMetrics::new().unwrap();
        let mut audio = Vec::new();
        let mut f = FaceFrame::neutral(1, 1, 1, 800);
        f.values[17] = 0.5;
        let with_audio = bridge_stream::encode(2, &f, Some(&[1, 2, 3])).unwrap();
        let now = Instant::now();
        let mut fed = 0u64;
        for n in 0..with_audio.len() {
            handle(
                &with_audio[..n],
                now,
                &mut core,
                &mut outputs,
                &metrics,
                &mut audio,
            );
            fed += 1;
        }
        for i in 0..with_audio.len() {
            for b in [0x00, 0x01, 0x80, 0xFF] {
                let mut bad = with_audio.clone();
                bad[i] = b;
                handle(&bad, now, &mut core, &mut outputs, &metrics, &mut audio);
                fed += 1;
            }
        }
        assert_eq!(metrics.frames_in.get(), fed);
        let dropped: u64 = crate::core::DropReason::ALL
            .iter()
            .map(|r| metrics.dropped(*r).get())
            .sum();
        let emitted = metrics.ingest_to_emit.get_sample_count();
        assert_eq!(metrics.malformed.get() + dropped + emitted, fed);
        assert!(
            metrics.malformed.get() >= with_audio.len() as u64,
            "every truncation"
        );
        assert!(emitted >= 1, "corruptions of value bytes still decode");
    }
}
