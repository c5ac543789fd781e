//! The GoAssist inference server.

pub mod render_link;
