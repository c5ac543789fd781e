//! The GoAssist render-bridge.
