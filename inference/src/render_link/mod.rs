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
//!
//! With a key (`RENDER_BRIDGE_KEY`, the bridge's `BRIDGE_KEY`) the sender thread seals every
//! datagram just before it goes out ([`goassist_protocol::bridge_auth`]): a random sender id
//! picked when the link starts, a counter in send order, the wall clock, and an HMAC-SHA256 tag.
//! Sealing happens off the audio path, on the link's own thread, so the counter follows the
//! order in which datagrams leave.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use goassist_protocol::FaceFrame;
use goassist_protocol::bridge_auth::{BridgeKey, Sealer};

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

/// The draining half of a [`RenderLink`]: owns the socket, seals (with a key) and sends what is
/// queued.
#[derive(Debug)]
pub struct RenderLinkDrain {
    queue: Receiver<Vec<u8>>,
    target: SocketAddr,
    counters: Arc<Counters>,
    sealer: Option<Sealer>,
}

impl RenderLink {
    /// Starts a link to the bridge at `addr` with room for `queue_capacity` datagrams (at 60
    /// frames/s per session, 64 is about a second for one session). Spawns the sender thread.
    pub fn new(addr: SocketAddr, queue_capacity: usize) -> RenderLink {
        RenderLink::new_with_key(addr, queue_capacity, None)
    }

    /// [`RenderLink::new`], sealing every datagram with `key` when given (`RENDER_BRIDGE_KEY`).
    pub fn new_with_key(
        addr: SocketAddr,
        queue_capacity: usize,
        key: Option<BridgeKey>,
    ) -> RenderLink {
        let (link, drain) = RenderLink::detached_with_key(addr, queue_capacity, key);
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
        RenderLink::detached_with_key(addr, queue_capacity, None)
    }

    /// [`RenderLink::detached`], sealing with `key` when given. The sender id is random (from
    /// the OS), so a restarted server is a new sender to the bridge.
    pub fn detached_with_key(
        addr: SocketAddr,
        queue_capacity: usize,
        key: Option<BridgeKey>,
    ) -> (RenderLink, RenderLinkDrain) {
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
            sealer: key.map(|key| Sealer::new(key, sender_id())),
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
    /// The sender id this link's sealed datagrams carry (None without a key).
    pub fn sender_id(&self) -> Option<u64> {
        self.sealer.as_ref().map(Sealer::sender)
    }

    /// Sends queued datagrams until every [`RenderLink`] handle is gone.
    pub fn run(mut self) {
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
        tracing::debug!(
            target_addr = %self.target,
            sealed = self.sealer.is_some(),
            "render link sending"
        );
        while let Ok(datagram) = self.queue.recv() {
            self.send(&socket, datagram);
        }
        tracing::debug!("render link closed");
    }

    /// Sends whatever is queued now without waiting; returns how many were taken (tests).
    pub fn drain_now(&mut self, socket: &UdpSocket) -> usize {
        let mut n = 0;
        while let Ok(datagram) = self.queue.try_recv() {
            self.send(socket, datagram);
            n += 1;
        }
        n
    }

    fn send(&mut self, socket: &UdpSocket, mut datagram: Vec<u8>) {
        if let Some(sealer) = &mut self.sealer {
            sealer.seal(&mut datagram, unix_ms_now());
        }
        match socket.send_to(&datagram, self.target) {
            Ok(_) => self.counters.sent.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::trace!(error = %e, "render link send failed");
                self.counters.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// A random sender id for a new link; without an OS RNG, one from the clock and the process
/// (distinct across restarts, which is what the bridge's counters need).
fn sender_id() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "render link: no OS randomness; sender id from the clock");
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32)
        }
    }
}

/// The wall clock in ms since the Unix epoch, as sealed datagrams carry it.
fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
        let (link, mut drain) = RenderLink::detached(rx.local_addr().unwrap(), 4);
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

    const KEY: [u8; 32] = [0x5A; 32];

    /// With a key, every datagram leaves sealed: one sender id, counters in send order, the
    /// original datagram inside; the bridge's opener accepts each once.
    #[test]
    fn with_a_key_every_datagram_is_sealed_in_send_order() {
        use goassist_protocol::bridge_auth::{Opener, TRAILER_LEN};
        let rx = receiver();
        let key = BridgeKey::from_bytes(&KEY).unwrap();
        let (link, mut drain) =
            RenderLink::detached_with_key(rx.local_addr().unwrap(), 8, Some(key.clone()));
        let sender = drain.sender_id().expect("a sealed link has a sender id");
        let audio: Vec<i16> = (0..960).map(|i| i as i16).collect();
        link.try_send(&frame(1), None).unwrap();
        link.try_send(&frame(2), Some(&audio)).unwrap();
        link.try_send(&frame(3), None).unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(drain.drain_now(&socket), 3);
        let mut opener = Opener::new(key, None, 60_000);
        let mut buf = [0u8; 4096];
        for (counter, seq) in [(0u64, 1u32), (1, 2), (2, 3)] {
            let n = rx.recv(&mut buf).unwrap();
            let plain = goassist_protocol::bridge_stream::encode(
                0,
                &frame(seq),
                (seq == 2).then_some(&audio[..]),
            )
            .unwrap();
            assert_eq!(n, plain.len() + TRAILER_LEN);
            let now = unix_ms_now();
            let opened = opener.open(&buf[..n], now).expect("sealed with the key");
            assert_eq!(opened.payload, &plain[..]);
            assert_eq!(
                (opened.stamp.sender, opened.stamp.counter),
                (sender, counter)
            );
            assert!(opened.stamp.unix_ms.abs_diff(now) < 10_000);
            assert!(opener.open(&buf[..n], now).is_err(), "a replay is refused");
        }
        // Another link is another sender.
        let other = RenderLink::detached_with_key(
            rx.local_addr().unwrap(),
            1,
            Some(BridgeKey::from_bytes(&KEY).unwrap()),
        )
        .1;
        assert_ne!(other.sender_id(), Some(sender));
        // Without a key, nothing is appended.
        let (_, plain) = RenderLink::detached(rx.local_addr().unwrap(), 1);
        assert_eq!(plain.sender_id(), None);
    }
}
