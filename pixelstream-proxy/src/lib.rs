//! The GoAssist Pixel Streaming proxy: the signalling server Unreal's Pixel Streaming plugin
//! connects to (streamer port, Epic's 8888, loopback by default) and the web server browsers
//! load the player page from (player port 8080, page and player WebSocket on one origin).
//!
//! Design: the protocol lives in [`signalling`], a sans-IO state machine fed text messages
//! and emitting sends, closes and rejections, so every message and error path is tested
//! without sockets. [`server`] is the thin socket shell: axum routes that authenticate before
//! the WebSocket upgrade (player tokens from [`auth`], a streamer shared secret), one task per
//! connection with a bounded outbound queue (a stuck peer is dropped, never waited for), and
//! Prometheus metrics on a separate admin port. [`config`] validates every `PS_*` variable
//! before any socket opens.
//!
//! The `server` feature (on by default) is the socket shell and the binary; without it the crate
//! is [`config`], [`auth`] and [`signalling`] alone, which is what the fuzz targets of
//! `protocol/fuzz` build.

/// Tokens, TURN credentials and secret comparison, shared with the inference server.
pub use goassist_protocol::auth;
pub mod config;
#[cfg(feature = "server")]
pub mod server;
pub mod signalling;

pub use config::{Config, ConfigError};
#[cfg(feature = "server")]
pub use server::frontend::Frontend;
#[cfg(feature = "server")]
pub use server::{Listeners, serve};
