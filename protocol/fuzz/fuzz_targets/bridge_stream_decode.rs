//! Bridge-stream decoding never panics; the face-only fast path agrees with the full decoder.
#![no_main]

use goassist_protocol::bridge_stream::{BridgeDatagram, decode_face};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let full = BridgeDatagram::decode(data);
    let face = decode_face(data);
    assert_eq!(full.is_ok(), face.is_ok());
    if let (Ok(d), Ok((avatar, frame, has_audio))) = (full, face) {
        assert_eq!(d.avatar_id, avatar);
        assert_eq!(d.frame, frame);
        assert_eq!(d.audio.is_some(), has_audio);
        // What decodes re-encodes and decodes again to the same avatar, audio and subject.
        let again = BridgeDatagram::decode(&d.encode().expect("re-encodable")).expect("valid");
        assert_eq!(
            (again.avatar_id, &again.audio, &again.subject),
            (d.avatar_id, &d.audio, &d.subject)
        );
    }
});
