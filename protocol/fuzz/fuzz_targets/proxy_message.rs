//! A Pixel Streaming signalling text frame (from a browser or from Unreal) as the proxy's hub
//! parses it first: never a panic, and what parses survives the proxy's re-serialisation (a
//! relay) as the same message type with the same fields.
#![no_main]

use goassist_pixelstream_proxy::signalling::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(message) = Message::parse(&text) else {
        return;
    };
    let _ = message.player_id();
    let relayable = message.has_relay_fields();
    let again = Message::parse(&message.to_text()).expect("a relayed message parses");
    assert_eq!(again.kind, message.kind);
    assert!(again.fields.keys().eq(message.fields.keys()));
    assert_eq!(again.has_relay_fields(), relayable);
});
