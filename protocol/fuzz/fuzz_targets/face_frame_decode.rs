//! Face-frame decoding (the `face` data channel, the render-bridge's input) never panics, and
//! a frame that decodes re-encodes to a frame that decodes to the same values.
#![no_main]

use goassist_protocol::FaceFrame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = FaceFrame::decode(data) {
        let again = FaceFrame::decode(&frame.encode()).expect("an encoded frame decodes");
        assert_eq!(again.encode(), frame.encode());
    }
});
