//! The inference side of Profile C: sends each session's face frames (and, if asked, the
//! matching audio chunks) to a render-bridge over UDP.
//!
//! The hard rule is that a dead, slow or restarting render pod never blocks, slows or stops the
//! audio. So [`RenderLink::try_send`] only encodes into a small buffer and offers it to a
//! bounded queue; when the queue is full the datagram is dropped and counted, never waited
//! for. One thread of its own drains the queue into an unconnected UDP socket (`send_to`, so an
//! ICMP "port unreachable" from a dead bridge cannot turn into errors on later sends), and
//! exits when the last handle is dropped.
//!
//! What a session feeds it is decided in [`feed`] (frames held until their audio goes out, sans-IO,
//! part of the session core) with [`audio`] (the audio chunks attached to each frame).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use goassist_protocol::FaceFrame;

pub mod audio;
pub mod feed;

pub use feed::{BridgeFeed, BridgeOut};
use goassist_protocol::bridge_stream::{self, BridgeStreamError};

/// Why a frame was not queued. Callers in the audio path may ignore it: it is already counted.
#[derive(Debug, thiserror::Error)]
pub enum RenderLinkError {
    /// The queue is full (the bridge or the network is slower than the frames); dropped.
    #[error("render link queue full; frame dropped")]
    QueueFull,
    /// The sender thread has ended (its socket could not be opened); dropped.
    #[error("render link sender has stopped; frame dropped")]
    Closed,
    /// The frame could not be encoded (an audio chunk of a bad length); dropped.
    #[error("render link: {0}")]
    Encode(#[from] BridgeStreamError),
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// A non-blocking, lossy sender of face frames to one render-bridge. Cheap to clone: clones
/// share the queue, the sender thread and the counters.
#[derive(Debug, Clone)]
pub struct RenderLink {
    queue: SyncSender<Vec<u8>>,
    counters: Arc<Counters>,
    default_avatar: u32,
}

/// The draining half of a [`RenderLink`]: owns the socket, sends what is queued.
#[derive(Debug)]
pub struct RenderLinkDrain {
    queue: Receiver<Vec<u8>>,
    target: SocketAddr,
    counters: Arc<Counters>,
}

impl RenderLink {
    /// Starts a link to the bridge at `addr` with room for `queue_capacity` datagrams (at 60
    /// frames/s per session, 64 is about a second for one session). Spawns the sender thread.
    pub fn new(addr: SocketAddr, queue_capacity: usize) -> RenderLink {
        let (link, drain) = RenderLink::detached(addr, queue_capacity);
        let spawned = std::thread::Builder::new()
            .name("render-link".into())
            .spawn(move || drain.run());
        if let Err(e) = spawned {
            // Without a thread the queue fills and every frame is dropped and counted.
            tracing::error!(error = %e, "render link: cannot spawn sender thread");
        }
        link
    }

    /// A link whose drain the caller runs (on a thread of its choosing, or step by step in
    /// tests).
    pub fn detached(addr: SocketAddr, queue_capacity: usize) -> (RenderLink, RenderLinkDrain) {
        let (tx, rx) = sync_channel(queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let link = RenderLink {
            queue: tx,
            counters: counters.clone(),
            default_avatar: 0,
        };
        let drain = RenderLinkDrain {
            queue: rx,
            target: addr,
            counters,
        };
        (link, drain)
    }

    /// The same link, sending as avatar `avatar_id` from [`RenderLink::try_send`].
    pub fn with_avatar(mut self, avatar_id: u32) -> RenderLink {
        self.default_avatar = avatar_id;
        self
    }

    /// Offers a frame (and optionally its mono 48 kHz audio chunk, first sample at
    /// `frame.sample_pos`) for sending. Never blocks; drops and counts when the queue is full.
    pub fn try_send(
        &self,
        frame: &FaceFrame,
        audio: Option<&[i16]>,
    ) -> Result<(), RenderLinkError> {
        self.try_send_for(self.default_avatar, frame, audio)
    }

    /// [`RenderLink::try_send`] for a given avatar id.
    pub fn try_send_for(
        &self,
        avatar_id: u32,
        frame: &FaceFrame,
        audio: Option<&[i16]>,
    ) -> Result<(), RenderLinkError> {
        let datagram = match bridge_stream::encode(avatar_id, frame, audio) {
            Ok(d) => d,
            Err(e) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        };
        match self.queue.try_send(datagram) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                Err(RenderLinkError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                Err(RenderLinkError::Closed)
            }
        }
    }

    /// Datagrams handed to the socket.
    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Relaxed)
    }

    /// Frames dropped before the socket: queue full, sender gone, or unencodable.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Datagrams the socket refused (network down, no route); the link keeps going.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Frames accepted into the queue.
    pub fn queued(&self) -> u64 {
        self.counters.queued.load(Ordering::Relaxed)
    }
}

impl RenderLinkDrain {
    /// Sends queued datagrams until every [`RenderLink`] handle is gone.
    pub fn run(self) {
        let bind: SocketAddr = if self.target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = match UdpSocket::bind(bind) {
            Ok(s) => s,
            Err(e) => {
                // Dropping the receiver makes every later try_send fail fast as Closed.
                tracing::error!(error = %e, "render link: cannot open UDP socket");
                return;
            }
        };
        tracing::debug!(target_addr = %self.target, "render link sending");
        while let Ok(datagram) = self.queue.recv() {
            self.send(&socket, &datagram);
        }
        tracing::debug!("render link closed");
    }

    /// Sends whatever is queued now without waiting; returns how many were taken (tests).
    pub fn drain_now(&self, socket: &UdpSocket) -> usize {
        let mut n = 0;
        while let Ok(datagram) = self.queue.try_recv() {
            self.send(socket, &datagram);
            n += 1;
        }
        n
    }

    fn send(&self, socket: &UdpSocket, datagram: &[u8]) {
        match socket.send_to(datagram, self.target) {
            Ok(_) => self.counters.sent.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::trace!(error = %e, "render link send failed");
                self.counters.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goassist_protocol::bridge_stream::BridgeDatagram;
    use std::time::Duration;

    fn frame(seq: u32) -> FaceFrame {
        let mut f = FaceFrame::neutral(77, 2, seq, u64::from(seq) * 800);
        f.values[17] = 0.5;
        f
    }

    fn receiver() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    #[test]
    fn frames_and_audio_arrive_as_bridge_datagrams() {
        let rx = receiver();
        let link = RenderLink::new(rx.local_addr().unwrap(), 16).with_avatar(4);
        let audio: Vec<i16> = (0..960).map(|i| i as i16).collect();
        link.try_send(&frame(1), None).unwrap();
        link.try_send(&frame(2), Some(&audio)).unwrap();
        let mut buf = [0u8; 4096];
        let n = rx.recv(&mut buf).unwrap();
        let d = BridgeDatagram::decode(&buf[..n]).unwrap();
        assert_eq!((d.avatar_id, d.frame.session_id, d.frame.seq), (4, 77, 1));
        assert!(d.audio.is_none());
        let n = rx.recv(&mut buf).unwrap();
        let d = BridgeDatagram::decode(&buf[..n]).unwrap();
        assert_eq!(d.frame.seq, 2);
        assert_eq!(d.audio.as_deref(), Some(&audio[..]));
        // `sent` is counted after the socket returns; give the thread a moment.
        for _ in 0..100 {
            if link.sent() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!((link.sent(), link.dropped()), (2, 0));
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let rx = receiver();
        let (link, drain) = RenderLink::detached(rx.local_addr().unwrap(), 4);
        for seq in 0..10 {
            let r = link.try_send(&frame(seq), None);
            assert_eq!(r.is_ok(), seq < 4, "seq {seq}: {r:?}");
        }
        assert_eq!((link.queued(), link.dropped(), link.sent()), (4, 6, 0));
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(drain.drain_now(&socket), 4);
        assert_eq!(link.sent(), 4);
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(BridgeDatagram::decode(&buf[..n]).unwrap().frame.seq, 0);
        // Room again after draining.
        link.try_send(&frame(11), None).unwrap();
    }

    #[test]
    fn a_dead_bridge_is_not_an_error_for_the_caller() {
        // Nobody listens on this port: sends still succeed (UDP, unconnected socket).
        let port = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let link = RenderLink::new(port, 8);
        for seq in 0..50 {
            let _ = link.try_send(&frame(seq), None);
            std::thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..200 {
            if link.sent() + link.dropped() + link.failed() == 50 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(link.sent() + link.dropped() + link.failed(), 50);
        assert_eq!(link.failed(), 0, "unconnected UDP ignores port-unreachable");
    }

    #[test]
    fn bad_audio_is_refused_and_counted() {
        let (link, _drain) = RenderLink::detached("127.0.0.1:9".parse().unwrap(), 4);
        assert!(matches!(
            link.try_send(&frame(0), Some(&[])),
            Err(RenderLinkError::Encode(_))
        ));
        assert_eq!(link.dropped(), 1);
    }

    #[test]
    fn dropping_the_drain_closes_the_link() {
        let (link, drain) = RenderLink::detached("127.0.0.1:9".parse().unwrap(), 4);
        drop(drain);
        assert!(matches!(
            link.try_send(&frame(0), None),
            Err(RenderLinkError::Closed)
        ));
    }
}
