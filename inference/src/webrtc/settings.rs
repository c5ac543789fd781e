//! Media settings of the WebRTC endpoint.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::media::{PacketizerConfig, WEBRTC_RATE};

use super::WebRtcError;

/// Where peers bind and what they advertise, and how outgoing audio is packetized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcSettings {
    /// First UDP port peers may bind.
    pub udp_port_min: u16,
    /// Last UDP port peers may bind (inclusive).
    pub udp_port_max: u16,
    /// Address to bind. When unspecified (`0.0.0.0` / `::`), each peer binds its port on every
    /// interface address (loopback included) so str0m knows which address a packet came in on.
    pub bind_ip: IpAddr,
    /// Addresses offered as host candidates. Empty: the bound addresses. An address that is not
    /// local (a 1:1 NAT's public address) is offered as-is and traffic arriving on the bound
    /// socket is attributed to it.
    pub advertised_ips: Vec<IpAddr>,
    /// Outgoing packet duration in ms (`AUDIO_PACKET_MS`): 10, 20 or 40 (Opus frame sizes).
    pub packet_ms: u32,
    /// Crossfade where queued chunks join, in ms (`AUDIO_OVERLAP_MS`, 0..=20).
    pub overlap_ms: u32,
    /// A peer whose ICE + DTLS is not up after this long is dropped.
    pub connect_timeout: Duration,
}

impl Default for WebRtcSettings {
    fn default() -> Self {
        Self {
            udp_port_min: 9000,
            udp_port_max: 9200,
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            advertised_ips: Vec::new(),
            packet_ms: 20,
            overlap_ms: 5,
            connect_timeout: Duration::from_secs(15),
        }
    }
}

impl WebRtcSettings {
    /// Checks every range; call at start-up, before any socket opens.
    pub fn validate(&self) -> Result<(), WebRtcError> {
        if self.udp_port_min == 0 || self.udp_port_min > self.udp_port_max {
            return Err(WebRtcError::InvalidSettings(format!(
                "UDP port range {}..={} is empty or starts at 0",
                self.udp_port_min, self.udp_port_max
            )));
        }
        if ![10, 20, 40].contains(&self.packet_ms) {
            return Err(WebRtcError::InvalidSettings(format!(
                "AUDIO_PACKET_MS={} is not an Opus frame duration (10, 20 or 40)",
                self.packet_ms
            )));
        }
        self.packetizer_config()
            .validate()
            .map_err(|e| WebRtcError::InvalidSettings(e.to_string()))?;
        if self.connect_timeout.is_zero() {
            return Err(WebRtcError::InvalidSettings(
                "connect timeout is zero".into(),
            ));
        }
        Ok(())
    }

    /// The packetizer configuration these settings imply (48 kHz).
    pub fn packetizer_config(&self) -> PacketizerConfig {
        PacketizerConfig {
            sample_rate: WEBRTC_RATE,
            packet_ms: self.packet_ms,
            overlap_ms: self.overlap_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        WebRtcSettings::default().validate().unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let bad = [
            WebRtcSettings {
                udp_port_min: 0,
                ..Default::default()
            },
            WebRtcSettings {
                udp_port_min: 10,
                udp_port_max: 9,
                ..Default::default()
            },
            WebRtcSettings {
                packet_ms: 30,
                ..Default::default()
            },
            WebRtcSettings {
                packet_ms: 50,
                ..Default::default()
            },
            WebRtcSettings {
                overlap_ms: 25,
                ..Default::default()
            },
            WebRtcSettings {
                connect_timeout: Duration::ZERO,
                ..Default::default()
            },
        ];
        for s in bad {
            assert!(
                matches!(s.validate(), Err(WebRtcError::InvalidSettings(_))),
                "{s:?}"
            );
        }
    }
}
