//! Live Link Face v6 decoding never panics, and what decodes re-encodes to the same bytes.
#![no_main]

use goassist_protocol::livelink::LiveLinkPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = LiveLinkPacket::decode(data) {
        // NaN values are written as 0, so only compare when none were NaN.
        if packet.values.iter().all(|v| !v.is_nan()) {
            let again = packet.encode().expect("a decoded packet re-encodes");
            assert_eq!(again, data);
        }
    }
});
