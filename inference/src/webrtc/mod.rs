//! WebRTC media transport for voice sessions, on str0m (sans-IO).
//!
//! Shape: the HTTP layer hands an SDP offer to [`WebRtcEndpoint::accept_offer`], which binds a
//! UDP port from the configured range, answers with Opus audio and the SCTP data channels the
//! browser offered ("events" reliable, "face" unordered without retransmits), and spawns one
//! task per peer. The session talks to the peer through a [`PeerHandle`] (send an audio packet,
//! events and face frames) and reads [`PeerEvent`]s (decoded microphone audio, data channel
//! text, RTCP statistics, connection state).
//!
//! Isolation: each peer owns its socket(s) and its str0m `Rtc` inside its own task; malformed
//! SDP, RTP, STUN or SCTP from one peer is logged and dropped inside that task, and a panic there
//! is caught by a supervisor that reports [`PeerEvent::Disconnected`]. Nothing is shared between
//! peers except the port cursor.
//!
//! Timing: the peer keeps no clock for outgoing audio. Its owner (the session core's
//! [`crate::media::PacedAudio`]) cuts one packet every `packet_ms`, silence included, and hands
//! it over when due, so the Opus RTP timestamp of every packet equals its sample position on the
//! outgoing 48 kHz timeline (RTP timestamp = position mod 2³²).

mod endpoint;
mod error;
mod opus_codec;
mod peer;
mod settings;
mod sockets;

pub use endpoint::{WebRtcEndpoint, parse_offer};
pub use error::WebRtcError;
pub use opus_codec::{OpusDecoder, OpusEncoder};
pub use peer::{
    EVENTS_CHANNEL, FACE_CHANNEL, Peer, PeerEvent, PeerHandle, PeerOptions, StatsDirection,
    spawn_peer,
};
pub use settings::WebRtcSettings;
pub use sockets::{PeerSockets, interface_ips};
