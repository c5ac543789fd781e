//! The transports an emission goes out on: Live Link Face v6 to each configured target, the
//! native bridge stream (face + audio) to the GoAssist plugin, and VMC/OSC. Sends are
//! non-blocking UDP `send_to` from one unconnected socket; a failed send is counted and never
//! retried (the next frame supersedes it).

use std::io;
use std::net::{SocketAddr, UdpSocket};

use goassist_protocol::FaceFrame;
use goassist_protocol::bridge_stream;
use goassist_protocol::livelink::{FrameTime, LiveLinkPacket, MAX_PACKET_LEN};
use goassist_protocol::vmc::{self, VmcNaming};

use crate::config::BridgeConfig;
use crate::core::Emission;
use crate::metrics::{BridgeMetrics, Output};

/// Where and how emissions are sent.
#[derive(Debug)]
pub struct Outputs {
    socket: UdpSocket,
    livelink: Vec<SocketAddr>,
    plugin: Option<SocketAddr>,
    vmc: Option<SocketAddr>,
    vmc_naming: VmcNaming,
    device_id: String,
    fps: u32,
    livelink_buf: Box<[u8; MAX_PACKET_LEN]>,
    native_buf: Vec<u8>,
}

impl Outputs {
    /// Opens the sending socket for the configured targets.
    pub fn open(config: &BridgeConfig) -> io::Result<Self> {
        let any_v6 = config
            .livelink_addrs
            .iter()
            .chain(config.plugin_addr.iter())
            .chain(config.vmc_addr.iter())
            .any(SocketAddr::is_ipv6);
        let bind: SocketAddr = if any_v6 {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            ([0, 0, 0, 0], 0).into()
        };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        Ok(Outputs {
            socket,
            livelink: config.livelink_addrs.clone(),
            plugin: config.plugin_addr,
            vmc: config.vmc_addr,
            vmc_naming: config.vmc_naming,
            device_id: config.device_id.clone(),
            fps: config.livelink_fps,
            livelink_buf: Box::new([0u8; MAX_PACKET_LEN]),
            native_buf: Vec::with_capacity(bridge_stream::MAX_DATAGRAM_LEN),
        })
    }

    /// Whether any output forwards audio (only the plugin stream does).
    pub fn wants_audio(&self) -> bool {
        self.plugin.is_some()
    }

    /// Sends one emission everywhere; `audio` is the chunk that arrived with it (live frames
    /// only), forwarded to the plugin.
    pub fn emit(&mut self, e: &Emission<'_>, audio: Option<&[i16]>, metrics: &BridgeMetrics) {
        if !self.livelink.is_empty() {
            let packet = LiveLinkPacket {
                device_id: &self.device_id,
                subject: e.subject,
                time: FrameTime::from_sample_pos(e.sample_pos, self.fps),
                values: *e.values,
            };
            // Lengths were validated with the configuration, so encoding cannot fail; count it
            // as a send error if it ever does.
            match packet.encode_into(&mut self.livelink_buf[..]) {
                Ok(n) => {
                    for i in 0..self.livelink.len() {
                        let target = self.livelink[i];
                        send(
                            &self.socket,
                            &self.livelink_buf[..n],
                            target,
                            Output::LiveLink,
                            metrics,
                        );
                    }
                }
                Err(_) => metrics.send_errors(Output::LiveLink).inc(),
            }
        }
        if let Some(target) = self.plugin {
            let frame = FaceFrame {
                session_id: e.session_id,
                epoch: e.epoch,
                seq: e.out_seq,
                sample_pos: e.sample_pos,
                values: *e.values,
            };
            match bridge_stream::encode_into(e.avatar_id, &frame, audio, &mut self.native_buf) {
                Ok(()) => send(
                    &self.socket,
                    &self.native_buf,
                    target,
                    Output::Plugin,
                    metrics,
                ),
                Err(_) => metrics.send_errors(Output::Plugin).inc(),
            }
        }
        if let Some(target) = self.vmc {
            let time = e.sample_pos as f32 / bridge_stream::AUDIO_SAMPLE_RATE as f32;
            match vmc::encode_frame(e.values, time, self.vmc_naming) {
                Ok(bytes) => send(&self.socket, &bytes, target, Output::Vmc, metrics),
                Err(_) => metrics.send_errors(Output::Vmc).inc(),
            }
        }
    }
}

fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr, output: Output, m: &BridgeMetrics) {
    match socket.send_to(bytes, to) {
        Ok(_) => m.frames_out(output).inc(),
        Err(e) => {
            // WouldBlock included: a full socket buffer means the receiver is behind; the next
            // frame supersedes this one.
            tracing::trace!(error = %e, %to, "send failed");
            m.send_errors(output).inc();
        }
    }
}
