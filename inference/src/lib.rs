//! The GoAssist inference server.
pub mod face;
