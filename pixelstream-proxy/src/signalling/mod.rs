//! Pixel Streaming signalling, protocol 1.3.0, without any I/O: the wire format
//! ([`message`]), per-connection rate limiting ([`rate`]) and the routing state machine
//! ([`hub`]).

pub mod hub;
pub mod message;
pub mod rate;

pub use hub::{ConnId, Hub, HubSettings, Output, Role};
pub use message::{Message, MessageType, PROTOCOL_VERSION, RejectReason};
