//! The conversation: the sans-IO turn machine and the session that drives it.

pub mod machine;

pub use machine::{ChatTurn, Command, Conversation, Input, Metric, Settings, Speaker};
