//! `goassist-inference`: parses configuration and runs the server.
fn main() {}
