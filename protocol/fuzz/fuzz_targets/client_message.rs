//! The `events` data channel's client messages (JSON from the browser) never panic the parser,
//! whatever the bytes.
#![no_main]

use goassist_protocol::events::ClientMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ClientMessage::parse(&String::from_utf8_lossy(data));
});
