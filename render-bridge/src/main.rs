//! `goassist-render-bridge` binary.
fn main() {}
