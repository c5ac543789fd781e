//! The UDP sockets of one peer: binding, reading into the peer task, and mapping between the
//! addresses str0m knows (candidates) and the sockets that carry them.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Largest datagram we read (WebRTC keeps under the ~1200-byte MTU; leave room for oddities).
const MAX_DATAGRAM: usize = 2048;
/// Datagrams buffered between a socket reader and its peer task; beyond this they are dropped
/// like any UDP overflow.
const DATAGRAM_QUEUE: usize = 512;

/// One datagram received on one of the peer's sockets.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) data: Vec<u8>,
    pub(crate) source: SocketAddr,
    pub(crate) local: SocketAddr,
}

/// The sockets of one peer and the host candidates they stand for.
#[derive(Debug)]
pub struct PeerSockets {
    sockets: Vec<Arc<UdpSocket>>,
    candidates: Vec<SocketAddr>,
}

impl PeerSockets {
    /// Binds `port` (0: any) on every address of `ips` and offers `advertised` as candidates
    /// (the bound addresses when empty). Fails if any address cannot be bound. Must be called
    /// inside a tokio runtime.
    pub fn bind(ips: &[IpAddr], port: u16, advertised: &[IpAddr]) -> io::Result<Self> {
        if ips.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to bind",
            ));
        }
        let mut sockets = Vec::with_capacity(ips.len());
        for ip in ips {
            let std_socket = StdUdpSocket::bind(SocketAddr::new(*ip, port))?;
            std_socket.set_nonblocking(true)?;
            sockets.push(Arc::new(UdpSocket::from_std(std_socket)?));
        }
        let locals: Vec<SocketAddr> = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<io::Result<_>>()?;
        let candidates = if advertised.is_empty() {
            locals
        } else {
            advertised
                .iter()
                .map(|ip| SocketAddr::new(*ip, locals[0].port()))
                .collect()
        };
        Ok(Self {
            sockets,
            candidates,
        })
    }

    /// The addresses to offer as host candidates.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// The addresses actually bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// The candidate a datagram that arrived on `local` was addressed to: the socket's own
    /// address when it is a candidate, else (1:1 NAT) the first advertised one.
    pub(crate) fn destination_for(&self, local: SocketAddr) -> SocketAddr {
        if self.candidates.contains(&local) {
            local
        } else {
            self.candidates.first().copied().unwrap_or(local)
        }
    }

    /// Sends from the socket behind candidate `source`; UDP semantics, so a full send buffer
    /// drops the datagram.
    pub(crate) fn send(&self, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        let socket = self
            .sockets
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a == source))
            .or_else(|| {
                self.sockets.iter().find(|s| {
                    s.local_addr()
                        .is_ok_and(|a| a.is_ipv4() == destination.is_ipv4())
                })
            })
            .or(self.sockets.first());
        if let Some(socket) = socket {
            if let Err(e) = socket.try_send_to(data, destination) {
                tracing::trace!(error = %e, "dropping an outgoing datagram");
            }
        }
    }

    /// Starts one reader per socket feeding `tx`; the readers stop when the guard drops.
    pub(crate) fn spawn_readers(&self, tx: mpsc::Sender<Datagram>) -> ReaderGuard {
        let handles = self
            .sockets
            .iter()
            .map(|socket| tokio::spawn(read_loop(socket.clone(), tx.clone())))
            .collect();
        ReaderGuard { handles }
    }
}

/// Stops the socket readers of a peer when dropped (the peer ended, or panicked).
#[derive(Debug)]
pub(crate) struct ReaderGuard {
    handles: Vec<JoinHandle<()>>,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// The channel size for [`PeerSockets::spawn_readers`].
pub(crate) fn datagram_channel() -> (mpsc::Sender<Datagram>, mpsc::Receiver<Datagram>) {
    mpsc::channel(DATAGRAM_QUEUE)
}

async fn read_loop(socket: Arc<UdpSocket>, tx: mpsc::Sender<Datagram>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, source)) => {
                let datagram = Datagram {
                    data: buf[..n].to_vec(),
                    source,
                    local,
                };
                match tx.try_send(datagram) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!("peer is behind; dropping an incoming datagram");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here on some systems; they say
                // nothing about this socket's health. Back off briefly to never spin.
                tracing::trace!(error = %e, "udp receive error");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// The interface addresses to bind when the configured address is unspecified: IPv4 ones for
/// `0.0.0.0`, all but link-local IPv6 (which need a scope) for `::`. Loopback included, so
/// local clients and tests connect.
pub fn interface_ips(unspecified: IpAddr) -> Vec<IpAddr> {
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return vec![loopback_like(unspecified)];
    };
    let mut ips: Vec<IpAddr> = interfaces
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| match ip {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => unspecified.is_ipv6() && (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect();
    ips.sort();
    ips.dedup();
    if ips.is_empty() {
        ips.push(loopback_like(unspecified));
    }
    ips
}

fn loopback_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn interface_ips_include_loopback() {
        let ips = interface_ips(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{ips:?}");
        assert!(ips.iter().all(|ip| ip.is_ipv4()));
    }

    #[tokio::test]
    async fn advertised_address_maps_incoming_traffic() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let s = PeerSockets::bind(&[lo], 0, &[public]).unwrap();
        let local = s.local_addrs()[0];
        assert_eq!(s.candidates(), &[SocketAddr::new(public, local.port())]);
        assert_eq!(
            s.destination_for(local),
            SocketAddr::new(public, local.port())
        );
        let plain = PeerSockets::bind(&[lo], 0, &[]).unwrap();
        let local = plain.local_addrs()[0];
        assert_eq!(plain.candidates(), &[local]);
        assert_eq!(plain.destination_for(local), local);
    }
}
