//! The outgoing audio clock: a [`Packetizer`] cut on a fixed packet grid (sans-IO).
//!
//! A receiver plays packets by their RTP timestamps, so the sender must keep cutting one packet
//! per packet duration, silence included: the sample position then equals the RTP clock, and
//! face frames stamped with it stay on the audio. [`PacedAudio`] owns that grid: the caller asks
//! [`PacedAudio::next_due`] when to wake and calls [`PacedAudio::poll_due`] with `now`; tests
//! drive it in virtual time.
//!
//! Two rules beyond "one packet per slot":
//! - **The first packet of speech leaves at once.** When audio is queued on an idle timeline,
//!   the packet of the next grid slot is cut immediately instead of up to one packet later.
//!   Only that packet is early: the grid does not move, so the sender's clock never drifts
//!   ahead of the RTP clock (an early packet waits in the receiver's jitter buffer; the next
//!   one is on time).
//! - **A stall is not replayed as a burst.** After a wake-up that came late, at most
//!   [`MAX_CATCH_UP_PACKETS`] overdue packets go out back to back; beyond [`MAX_PACKET_LAG`]
//!   behind, the grid restarts from now.

use std::time::{Duration, Instant};

use super::{AudioError, Packet, Packetizer, PacketizerConfig};

/// After a stall longer than this the packet grid restarts from now instead of bursting.
pub const MAX_PACKET_LAG: Duration = Duration::from_millis(200);
/// At most this many overdue packets are cut back to back in one wake-up.
pub const MAX_CATCH_UP_PACKETS: usize = 10;

/// A packetizer on the real-time packet grid.
#[derive(Debug)]
pub struct PacedAudio {
    packetizer: Packetizer,
    packet: Duration,
    /// When the next grid slot is due; `None` until [`PacedAudio::start`].
    grid: Option<Instant>,
    /// The next slot's packet may leave at this earlier time (first speech on an idle line).
    early: Option<Instant>,
}

impl PacedAudio {
    /// A stopped clock at position 0.
    pub fn new(config: PacketizerConfig) -> Result<Self, AudioError> {
        Ok(Self {
            packetizer: Packetizer::new(config)?,
            packet: Duration::from_millis(u64::from(config.packet_ms)),
            grid: None,
            early: None,
        })
    }

    /// Starts the grid: the first packet is due at `now`. Does nothing when already running.
    pub fn start(&mut self, now: Instant) {
        if self.grid.is_none() {
            self.grid = Some(now);
        }
    }

    /// Whether the grid runs.
    pub fn is_started(&self) -> bool {
        self.grid.is_some()
    }

    /// When the next packet is due; `None` while stopped.
    pub fn next_due(&self) -> Option<Instant> {
        match (self.early, self.grid) {
            (Some(early), Some(grid)) => Some(early.min(grid)),
            (_, grid) => grid,
        }
    }

    /// Cuts every packet due by `now` (bounded), oldest first.
    pub fn poll_due(&mut self, now: Instant) -> Vec<Packet> {
        let mut packets = Vec::new();
        while let Some(due) = self.next_due() {
            if due > now || packets.len() == MAX_CATCH_UP_PACKETS {
                break;
            }
            self.early = None;
            packets.push(self.packetizer.next_packet());
            self.grid = self.grid.map(|grid| grid + self.packet);
        }
        if let Some(grid) = self.grid
            && now.saturating_duration_since(grid) > MAX_PACKET_LAG
        {
            tracing::debug!(
                lag_ms = now.duration_since(grid).as_millis() as u64,
                "packet clock stalled; resyncing"
            );
            self.grid = Some(now + self.packet);
        }
        packets
    }

    /// Queues audio (see [`Packetizer::push`]) and returns where it starts. Queued on an idle
    /// timeline, its first packet may leave at `now` rather than at the next grid slot.
    pub fn push(&mut self, now: Instant, epoch: u32, marker: u64, samples: Vec<f32>) -> u64 {
        let was_idle = self.packetizer.is_idle() && !self.packetizer.is_paused();
        let start = self.packetizer.push(epoch, marker, samples);
        let queued = !self.packetizer.is_idle();
        if was_idle && queued && self.grid.is_some_and(|grid| grid > now) {
            self.early = Some(now);
        }
        start
    }

    /// Barge-in: see [`Packetizer::interrupt`].
    pub fn interrupt(&mut self, new_epoch: u32) {
        self.early = None;
        self.packetizer.interrupt(new_epoch);
    }

    /// Holds the queued audio: see [`Packetizer::pause`].
    pub fn pause(&mut self) {
        self.early = None;
        self.packetizer.pause();
    }

    /// Continues held audio: see [`Packetizer::resume`].
    pub fn resume(&mut self) {
        self.packetizer.resume();
    }

    /// Whether the audio is held.
    pub fn is_paused(&self) -> bool {
        self.packetizer.is_paused()
    }

    /// Position of the next packet's first sample.
    pub fn send_position(&self) -> u64 {
        self.packetizer.send_position()
    }

    /// Position where queued audio ends.
    pub fn queued_until(&self) -> u64 {
        self.packetizer.queued_until()
    }

    /// Whether no audio is queued.
    pub fn is_idle(&self) -> bool {
        self.packetizer.is_idle()
    }

    /// Samples per packet.
    pub fn packet_samples(&self) -> usize {
        self.packetizer.packet_samples()
    }

    /// Duration of one packet.
    pub fn packet_duration(&self) -> Duration {
        self.packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn paced() -> PacedAudio {
        PacedAudio::new(PacketizerConfig {
            sample_rate: 48_000,
            packet_ms: 20,
            overlap_ms: 0,
        })
        .unwrap()
    }

    #[test]
    fn one_packet_per_slot_silence_included() {
        let t0 = Instant::now();
        let mut p = paced();
        assert_eq!(p.next_due(), None, "stopped until started");
        p.start(t0);
        assert_eq!(p.poll_due(t0).len(), 1);
        assert_eq!(p.next_due(), Some(t0 + 20 * MS));
        assert!(p.poll_due(t0 + 19 * MS).is_empty());
        let packets = p.poll_due(t0 + 60 * MS);
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[2].sample_pos, 3 * 960);
        assert!(packets.iter().all(Packet::is_silence));
    }

    #[test]
    fn first_speech_on_an_idle_line_leaves_at_once_without_moving_the_grid() {
        let t0 = Instant::now();
        let mut p = paced();
        p.start(t0);
        p.poll_due(t0);
        // Speech queued 7 ms after a silent packet went out: the next slot's packet goes now.
        let start = p.push(t0 + 7 * MS, 1, 0, vec![0.5; 960 * 3]);
        assert_eq!(start, 960);
        assert_eq!(p.next_due(), Some(t0 + 7 * MS));
        let first = p.poll_due(t0 + 7 * MS);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].sample_pos, 960);
        assert!(!first[0].is_silence());
        // The one after is on the original grid (t0 + 40 ms), not 20 ms after the early one.
        assert_eq!(p.next_due(), Some(t0 + 40 * MS));
        // Audio queued behind queued audio does not jump the grid.
        p.push(t0 + 30 * MS, 1, 1, vec![0.5; 960]);
        assert_eq!(p.next_due(), Some(t0 + 40 * MS));
    }

    #[test]
    fn a_late_wake_up_catches_up_in_a_bounded_burst_then_resyncs() {
        let t0 = Instant::now();
        let mut p = paced();
        p.start(t0);
        // 100 ms late: five slots are due, all go out (under the catch-up bound).
        assert_eq!(p.poll_due(t0 + 80 * MS).len(), 5);
        // A 1 s stall: ten packets at most, then the grid restarts from now.
        let late = t0 + 1_100 * MS;
        assert_eq!(p.poll_due(late).len(), MAX_CATCH_UP_PACKETS);
        assert_eq!(p.next_due(), Some(late + 20 * MS));
    }

    #[test]
    fn a_paused_line_does_not_send_early() {
        let t0 = Instant::now();
        let mut p = paced();
        p.start(t0);
        p.poll_due(t0);
        p.pause();
        p.push(t0 + 5 * MS, 1, 0, vec![0.5; 960]);
        assert_eq!(p.next_due(), Some(t0 + 20 * MS));
    }
}
