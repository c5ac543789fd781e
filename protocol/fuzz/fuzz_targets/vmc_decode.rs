//! VMC/OSC decoding never panics on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = goassist_protocol::vmc::decode(data);
});
