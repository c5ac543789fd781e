//! Helpers shared by the WebRTC integration tests: loopback endpoints on free port ranges,
//! an in-process client connection, and signal measurements.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use goassist_client::{ClientError, PacedSender, SentSpan, VoiceClient};
use goassist_inference::media::PacketizerConfig;
use goassist_inference::webrtc::{Peer, PeerEvent, WebRtcEndpoint, WebRtcSettings};
use tokio::sync::mpsc;

pub const RATE: f32 = 48_000.0;

/// `len` consecutive UDP ports on 127.0.0.1 that are free right now (spread by process id so
/// parallel test binaries rarely probe the same ports; a port taken later is skipped by the
/// endpoint anyway).
pub fn free_port_range(len: u16) -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 100;
    for _ in 0..2000 {
        let start = base + NEXT.fetch_add(len, Ordering::Relaxed) % 30_000;
        let all_free =
            (start..start + len).all(|p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok());
        if all_free {
            return (start, start + len - 1);
        }
    }
    panic!("no free UDP port range of {len} on 127.0.0.1");
}

pub fn loopback_settings(ports: u16) -> WebRtcSettings {
    let (min, max) = free_port_range(ports);
    WebRtcSettings {
        udp_port_min: min,
        udp_port_max: max,
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        advertised_ips: Vec::new(),
        packet_ms: 20,
        overlap_ms: 5,
        connect_timeout: Duration::from_secs(10),
    }
}

/// Connects a client to `endpoint` in-process (offer/answer by function call, media over real
/// UDP on 127.0.0.1). Returns the client and the server-side peer.
pub async fn connect(endpoint: &WebRtcEndpoint) -> (VoiceClient, Peer) {
    let (peer_tx, mut peer_rx) = mpsc::channel(1);
    let ep = endpoint.clone();
    let client = VoiceClient::connect_with(move |offer| async move {
        let (answer, peer) = ep
            .accept_offer(&offer)
            .await
            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        peer_tx.send(peer).await.expect("test keeps the receiver");
        Ok(answer)
    })
    .await
    .expect("client connects over loopback");
    let peer = peer_rx.recv().await.expect("server peer");
    (client, peer)
}

/// Starts the outgoing clock of a connected server peer (in the server, the session core's
/// job), 20 ms packets with `overlap_ms` crossfades; each span that goes out is reported on
/// the returned channel.
pub fn pace(peer: &Peer, overlap_ms: u32) -> (PacedSender, mpsc::UnboundedReceiver<SentSpan>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let config = PacketizerConfig {
        sample_rate: 48_000,
        packet_ms: 20,
        overlap_ms,
    };
    let sender = PacedSender::spawn(peer.handle.clone(), config, move |span| {
        let _ = tx.send(span);
    })
    .expect("valid packetizer settings");
    (sender, rx)
}

/// Waits for the server peer's `Connected` event, passing over others.
pub async fn wait_connected(peer: &mut Peer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, peer.events.recv()).await {
            Ok(Some(PeerEvent::Connected)) => return,
            Ok(Some(PeerEvent::Disconnected { reason })) => {
                panic!("server peer disconnected: {reason}")
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("server peer never connected"),
        }
    }
}

pub fn tone(freq: f32, amplitude: f32, len: usize, phase_samples: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            amplitude
                * (2.0 * std::f32::consts::PI * freq * (i + phase_samples) as f32 / RATE).sin()
        })
        .collect()
}

/// Frequency from upward zero crossings (robust enough for a clean tone through Opus).
pub fn zero_crossing_freq(x: &[f32]) -> f32 {
    let crossings = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    crossings as f32 * RATE / x.len() as f32
}

pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
}

/// The span of `x` whose 10 ms windows are louder than `threshold` (first..last loud sample).
pub fn loud_span(x: &[f32], threshold: f32) -> Option<(usize, usize)> {
    let win = 480;
    let loud: Vec<usize> = (0..x.len() / win)
        .filter(|k| rms(&x[k * win..(k + 1) * win]) > threshold)
        .collect();
    Some((*loud.first()? * win, (*loud.last()? + 1) * win))
}
