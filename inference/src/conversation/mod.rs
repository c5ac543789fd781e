//! The conversation: the sans-IO turn machine and the session that drives it.

pub mod clause;
pub mod machine;

pub use clause::{Clause, ClauseSplitter, SplitterConfig};
pub use machine::{ChatTurn, Command, Conversation, Input, Metric, Settings, Speaker};
