//! Audio plumbing between the WebRTC edge and the models: sample-rate conversion and the
//! outgoing packetizer.
//!
//! Both parts are sans-IO: they take samples (and, for the packetizer, nothing but calls in the
//! order packets are due) and return samples. The WebRTC peer decides *when* a packet is due on
//! the real-time clock; tests drive the same code faster than real time.
//!
//! Rates used in the server: WebRTC Opus runs at 48 kHz, the VAD and ASR models at 16 kHz, and
//! Piper TTS produces 22 050 Hz.

mod error;
mod fade;
mod packetizer;
mod resample;

pub use error::AudioError;
pub use fade::{fade_in_gain, fade_out_gain};
pub use packetizer::{Packet, PacketSpan, Packetizer, PacketizerConfig};
pub use resample::{StreamResampler, resample_all};

/// The WebRTC (Opus) sample rate.
pub const WEBRTC_RATE: u32 = 48_000;
/// The sample rate of the VAD and ASR models.
pub const MODEL_RATE: u32 = 16_000;
/// The sample rate of the Piper voices the server ships with.
pub const PIPER_RATE: u32 = 22_050;
