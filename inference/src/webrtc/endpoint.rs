//! The answering side: turns an SDP offer into a running peer on a port of the range.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use goassist_protocol::whip::{self, SdpOffer};

use super::peer::{Peer, PeerOptions, spawn_peer};
use super::sockets::{PeerSockets, interface_ips};
use super::{WebRtcError, WebRtcSettings};

/// Accepts offers and runs their peers. Shared and cheap to clone.
#[derive(Debug, Clone)]
pub struct WebRtcEndpoint {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: WebRtcSettings,
    /// Addresses every peer binds (the interfaces when `bind_ip` is unspecified).
    bind_ips: Vec<IpAddr>,
    /// Next port to try, so consecutive peers spread over the range instead of all probing
    /// from its start.
    cursor: Mutex<u16>,
    peers_started: AtomicU64,
}

/// Parses an SDP offer and checks it offers audio: what can be said of an offer before any
/// port or engine is involved (so a malformed one is refused before any work is done). The
/// checks live in [`goassist_protocol::whip`], where they are fuzzed.
pub fn parse_offer(offer_sdp: &str) -> Result<SdpOffer, WebRtcError> {
    Ok(whip::parse_offer(offer_sdp)?)
}

impl WebRtcEndpoint {
    /// An endpoint for `settings` (validate them first with [`WebRtcSettings::validate`]).
    pub fn new(settings: WebRtcSettings) -> Self {
        let bind_ips = if settings.bind_ip.is_unspecified() {
            interface_ips(settings.bind_ip)
        } else {
            vec![settings.bind_ip]
        };
        tracing::info!(?bind_ips, "webrtc endpoint addresses");
        let cursor = Mutex::new(settings.udp_port_min);
        Self {
            inner: Arc::new(Inner {
                settings,
                bind_ips,
                cursor,
                peers_started: AtomicU64::new(0),
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &WebRtcSettings {
        &self.inner.settings
    }

    /// The addresses each peer binds.
    pub fn bind_ips(&self) -> &[IpAddr] {
        &self.inner.bind_ips
    }

    /// Parses the offer (typed error on malformed SDP, never a panic), binds a free UDP port
    /// of the range (typed error when exhausted), negotiates Opus audio and the offered data
    /// channels, starts the peer's task and returns the answer SDP and the peer.
    pub async fn accept_offer(&self, offer_sdp: &str) -> Result<(String, Peer), WebRtcError> {
        let settings = &self.inner.settings;
        settings.validate()?;
        let offer = parse_offer(offer_sdp)?;
        let sockets = self.bind_free_port()?;
        let (rtc, answer) = whip::answer_offer(
            whip::answerer(),
            offer,
            sockets.candidates(),
            Instant::now(),
        )?;
        let n = self.inner.peers_started.fetch_add(1, Ordering::Relaxed);
        let port = sockets.local_addrs().first().map(|a| a.port()).unwrap_or(0);
        let peer = spawn_peer(
            rtc,
            sockets,
            PeerOptions {
                packet_ms: settings.packet_ms,
                connect_timeout: settings.connect_timeout,
                audio_mid: None,
                label: format!("{n}@{port}"),
            },
        )?;
        Ok((answer.to_sdp_string(), peer))
    }

    /// Binds the next port of the range that is free on every bind address.
    fn bind_free_port(&self) -> Result<PeerSockets, WebRtcError> {
        let settings = &self.inner.settings;
        let (min, max) = (settings.udp_port_min, settings.udp_port_max);
        let span = u32::from(max - min) + 1;
        let mut cursor = self
            .inner
            .cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for step in 0..span {
            let offset = (u32::from(cursor.saturating_sub(min)) + step) % span;
            let port = min + offset as u16;
            match PeerSockets::bind(&self.inner.bind_ips, port, &settings.advertised_ips) {
                Ok(sockets) => {
                    *cursor = if port == max { min } else { port + 1 };
                    return Ok(sockets);
                }
                Err(e) => tracing::trace!(port, error = %e, "port busy"),
            }
        }
        Err(WebRtcError::PortsExhausted { min, max })
    }
}
