//! The client's outgoing clock: a task that cuts packets from a [`PacedAudio`] when they are
//! due and hands them to a WebRTC peer.
//!
//! The server's session core owns its clock in its own loop; a test client has no such loop, so
//! this task plays that part: callers queue audio and barge in through [`PacedSender`], the task
//! wakes on the packet grid (or at once for the first packet of new audio), and every queued
//! chunk that goes out is reported as a [`SentSpan`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use goassist_inference::media::{AudioError, PacedAudio, PacketizerConfig};
use goassist_inference::webrtc::PeerHandle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Part of a queued chunk that went out in one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentSpan {
    /// Epoch the chunk was queued for.
    pub epoch: u32,
    /// The chunk's marker (given to [`PacedSender::push_audio`]).
    pub marker: u64,
    /// Position of its first sample in this packet on the outgoing clock.
    pub sample_pos: u64,
    /// Samples of the chunk in this packet.
    pub samples: usize,
    /// When the packet was handed to the peer.
    pub at: Instant,
}

/// Queues audio on a peer's outgoing clock; the packets go out from a task of its own.
#[derive(Debug)]
pub struct PacedSender {
    audio: Arc<Mutex<PacedAudio>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl PacedSender {
    /// Starts the clock now on a connected `peer`; `on_sent` sees every span that goes out.
    pub fn spawn(
        peer: PeerHandle,
        config: PacketizerConfig,
        mut on_sent: impl FnMut(SentSpan) + Send + 'static,
    ) -> Result<Self, AudioError> {
        let mut paced = PacedAudio::new(config)?;
        paced.start(Instant::now());
        let audio = Arc::new(Mutex::new(paced));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn({
            let (audio, wake) = (audio.clone(), wake.clone());
            async move {
                while !peer.is_closed() {
                    let due = lock(&audio).next_due();
                    if let Some(due) = due {
                        tokio::select! {
                            () = tokio::time::sleep_until(due.into()) => {}
                            () = wake.notified() => continue,
                        }
                    }
                    let now = Instant::now();
                    let packets = lock(&audio).poll_due(now);
                    for packet in packets {
                        for span in &packet.spans {
                            on_sent(SentSpan {
                                epoch: span.epoch,
                                marker: span.marker,
                                sample_pos: span.sample_pos,
                                samples: span.samples,
                                at: now,
                            });
                        }
                        peer.send_audio(packet.sample_pos, packet.samples);
                    }
                }
            }
        });
        Ok(Self { audio, wake, task })
    }

    /// Queues mono 48 kHz audio for `epoch` after what is queued; returns where it starts.
    pub fn push_audio(&self, epoch: u32, marker: u64, samples: Vec<f32>) -> u64 {
        let start = lock(&self.audio).push(Instant::now(), epoch, marker, samples);
        self.wake.notify_one();
        start
    }

    /// Drops what is queued for epochs below `new_epoch` (a barge-in).
    pub fn interrupt(&self, new_epoch: u32) {
        lock(&self.audio).interrupt(new_epoch);
    }

    /// Position of the next packet to be cut.
    pub fn send_position(&self) -> u64 {
        lock(&self.audio).send_position()
    }

    /// Position where the queued audio ends.
    pub fn queued_until(&self) -> u64 {
        lock(&self.audio).queued_until()
    }
}

impl Drop for PacedSender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(audio: &Mutex<PacedAudio>) -> MutexGuard<'_, PacedAudio> {
    // The clock's state is consistent between calls; a panic elsewhere must not wedge it.
    audio
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
