//! The GoAssist Pixel Streaming proxy.
