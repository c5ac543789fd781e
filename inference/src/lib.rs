//! The GoAssist inference server.
