//! `goassist-pixelstream-proxy` binary.
fn main() {}
