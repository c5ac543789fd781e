//! The GoAssist inference server.
pub mod client;
pub mod webrtc;
