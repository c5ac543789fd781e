//! The GoAssist inference server.

pub mod llm;
