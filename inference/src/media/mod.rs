//! Media timing between the WebRTC edge and the models: sample-rate conversion, the outgoing
//! packetizer and the packet clock.
//!
//! All of it is sans-IO: it takes samples (and, for the clock, `now`) and returns samples or
//! packets. The session core owns the outgoing clock ([`PacedAudio`]) and hands each packet to
//! the WebRTC peer, which only encodes and writes it; tests drive the same code faster than
//! real time.
//!
//! Rates used in the server: WebRTC Opus runs at 48 kHz, the VAD and ASR models at 16 kHz, and
//! Piper TTS produces 22 050 Hz.

mod error;
mod fade;
mod pacing;
mod packetizer;
mod resample;

pub use error::AudioError;
pub use fade::{fade_in_gain, fade_out_gain};
pub use pacing::{MAX_CATCH_UP_PACKETS, MAX_PACKET_LAG, PacedAudio};
pub use packetizer::{Packet, PacketSpan, Packetizer, PacketizerConfig};
pub use resample::{StreamResampler, resample_all};

/// The WebRTC (Opus) sample rate.
pub const WEBRTC_RATE: u32 = 48_000;
/// The sample rate of the VAD and ASR models.
pub const MODEL_RATE: u32 = 16_000;
/// The sample rate of the Piper voices the server ships with.
pub const PIPER_RATE: u32 = 22_050;
