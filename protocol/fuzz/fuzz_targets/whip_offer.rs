//! The body of a WHIP `POST /v1/sessions` takes the inference server's whole path up to the
//! peer task (goassist_protocol::whip, as `WebRtcEndpoint::accept_offer` calls it): the size and
//! UTF-8 checks, str0m's SDP parser and our audio check, then the answer from an `Rtc`
//! configured as the server's, with host candidates as a bound peer has. Nothing panics, and
//! every answer we would send is SDP that parses again.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use goassist_protocol::whip::{self, SdpAnswer};
use libfuzzer_sys::fuzz_target;
use str0m::config::DtlsCert;

/// One DTLS certificate for every run: the server makes one per peer, which here would only
/// spend the fuzzer's time on key generation.
fn cert() -> DtlsCert {
    static CERT: OnceLock<DtlsCert> = OnceLock::new();
    CERT.get_or_init(|| {
        str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
            .expect("a DTLS certificate")
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = whip::offer_text(data) else {
        return;
    };
    let Ok(offer) = whip::parse_offer(text) else {
        return;
    };
    let candidates: [SocketAddr; 2] = [
        "192.0.2.10:40000".parse().unwrap(),
        "[2001:db8::10]:40000".parse().unwrap(),
    ];
    let config = whip::answerer().set_dtls_cert(cert());
    if let Ok((_rtc, answer)) = whip::answer_offer(config, offer, &candidates, Instant::now()) {
        let sdp = answer.to_sdp_string();
        if let Err(e) = SdpAnswer::from_sdp_string(&sdp) {
            panic!("the answer to an accepted offer does not parse ({e}):\n{sdp}");
        }
    }
});
