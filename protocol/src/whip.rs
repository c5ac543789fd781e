//! WHIP offer bodies (RFC 9725): what the inference server does with the body of a
//! `POST /v1/sessions` before a port is bound, an engine is touched or a peer task starts.
//!
//! The path an offer takes, in order (the inference server's `http::whip` and
//! `webrtc::WebRtcEndpoint::accept_offer` call these, and `protocol/fuzz`'s `whip_offer` target
//! runs the same sequence):
//!
//! 1. [`offer_text`]: at most [`MAX_OFFER_BYTES`], UTF-8 (the HTTP layer also refuses a larger
//!    `Content-Length` before reading, and cuts a streamed body off at the limit);
//! 2. [`parse_offer`]: SDP as str0m parses it, and at least one audio m-line (the voice);
//! 3. [`answer_offer`]: an [`Rtc`] configured by [`answerer`] (Opus only) with the peer's local
//!    candidates accepts the offer; str0m checks the rest here (m-lines, fingerprints, ICE
//!    credentials) and writes the answer.
//!
//! Everything here is sans-IO: no socket, no clock read (the caller passes `now`). Malformed
//! input is an [`OfferError`], never a panic. Compiled with the `whip` feature (it pulls in
//! str0m); nothing else in this crate needs it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::{Candidate, Rtc, RtcConfig};

pub use str0m::change::{SdpAnswer, SdpOffer};

/// Largest SDP offer accepted, in bytes.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// How often an answering peer's str0m reports RTCP-derived statistics.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Why an offer body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// More than [`MAX_OFFER_BYTES`].
    #[error("the SDP offer is larger than {MAX_OFFER_BYTES} bytes")]
    TooLarge,
    /// The body is not UTF-8.
    #[error("the SDP offer is not UTF-8")]
    NotUtf8,
    /// Not SDP as str0m reads it, or str0m cannot answer it (the parser's words: they may hold
    /// parts of the offer, so they go to logs, not to the client).
    #[error("invalid SDP offer: {0}")]
    InvalidSdp(String),
    /// No audio m-line to carry the voice.
    #[error("the SDP offer has no audio m-line")]
    NoAudio,
    /// One of the peer's own addresses could not be made a host candidate.
    #[error("candidate {0}")]
    Candidate(String),
}

/// The text of an offer body: at most [`MAX_OFFER_BYTES`] of UTF-8.
pub fn offer_text(body: &[u8]) -> Result<&str, OfferError> {
    if body.len() > MAX_OFFER_BYTES {
        return Err(OfferError::TooLarge);
    }
    std::str::from_utf8(body).map_err(|_| OfferError::NotUtf8)
}

/// Parses an SDP offer and checks it offers audio: what can be said of an offer before any
/// port or engine is involved (so a malformed one is refused before any work is done).
pub fn parse_offer(offer_sdp: &str) -> Result<SdpOffer, OfferError> {
    let offer =
        SdpOffer::from_sdp_string(offer_sdp).map_err(|e| OfferError::InvalidSdp(e.to_string()))?;
    if !offer_sdp
        .lines()
        .any(|l| l.trim_start().starts_with("m=audio"))
    {
        return Err(OfferError::NoAudio);
    }
    Ok(offer)
}

/// The configuration of an answering peer: Opus audio only (no RED), RTCP statistics every
/// [`STATS_INTERVAL`]. A fresh DTLS certificate is made per peer unless the caller sets one.
pub fn answerer() -> RtcConfig {
    Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .set_stats_interval(Some(STATS_INTERVAL))
}

/// Builds the answering [`Rtc`] from `config` at `now`, adds a host candidate for each of
/// `candidates` (the addresses the peer's sockets advertise), and accepts `offer`: the
/// negotiated `Rtc`, ready to be driven by a peer task, and the answer to send back.
pub fn answer_offer(
    config: RtcConfig,
    offer: SdpOffer,
    candidates: &[SocketAddr],
    now: Instant,
) -> Result<(Rtc, SdpAnswer), OfferError> {
    let mut rtc = config.build(now);
    for addr in candidates {
        let candidate = Candidate::host(*addr, "udp")
            .map_err(|e| OfferError::Candidate(format!("{addr}: {e}")))?;
        rtc.add_local_candidate(candidate);
    }
    // str0m validates the offer fully only here (m-lines, fingerprints, ICE credentials).
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| OfferError::InvalidSdp(e.to_string()))?;
    Ok((rtc, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offer as Chromium writes it for an audio track and the `events` data channel.
    const CHROMIUM_OFFER: &str = "v=0\r\n\
o=- 3946226531213617043 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS 4d6c2f0e-8b1a-4c39-9a55-0f3e8d2b7c61\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:uX6z\r\n\
a=ice-pwd:0uPJXMuN4w0a1wRJl6o0pSft\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 5D:2E:91:0C:7A:44:B8:13:6F:E2:09:C5:3B:7D:A1:58:E4:0F:92:6B:C3:1D:84:57:AA:29:F6:0E:B3:72:D5:18\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=sendrecv\r\n\
a=msid:4d6c2f0e-8b1a-4c39-9a55-0f3e8d2b7c61 9e0b7a34-2d5c-4f81-b6e3-71c2a8d05f49\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=fmtp:63 111/111\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:110 telephone-event/48000\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
a=ssrc:2843713906 cname:q8ZmVq0nUuUn4w3c\r\n\
a=ssrc:2843713906 msid:4d6c2f0e-8b1a-4c39-9a55-0f3e8d2b7c61 9e0b7a34-2d5c-4f81-b6e3-71c2a8d05f49\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:uX6z\r\n\
a=ice-pwd:0uPJXMuN4w0a1wRJl6o0pSft\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 5D:2E:91:0C:7A:44:B8:13:6F:E2:09:C5:3B:7D:A1:58:E4:0F:92:6B:C3:1D:84:57:AA:29:F6:0E:B3:72:D5:18\r\n\
a=setup:actpass\r\n\
a=mid:1\r\n\
a=sctp-port:5000\r\n\
a=max-message-size:262144\r\n";

    fn host() -> SocketAddr {
        "192.0.2.10:40000".parse().unwrap()
    }

    #[test]
    fn a_browser_offer_is_answered_with_opus_and_the_data_channel() {
        let text = offer_text(CHROMIUM_OFFER.as_bytes()).unwrap();
        let offer = parse_offer(text).unwrap();
        let (_rtc, answer) = answer_offer(answerer(), offer, &[host()], Instant::now()).unwrap();
        let answer = answer.to_sdp_string();
        assert!(answer.contains("m=audio"), "{answer}");
        assert!(answer.contains("opus/48000/2"), "{answer}");
        assert!(!answer.contains("PCMU"), "only Opus is answered: {answer}");
        assert!(answer.contains("m=application"), "{answer}");
        assert!(answer.contains("192.0.2.10 40000 typ host"), "{answer}");
        // What we send back is SDP a peer can read.
        SdpAnswer::from_sdp_string(&answer).unwrap();
    }

    #[test]
    fn bodies_are_held_to_size_and_utf8() {
        assert_eq!(
            offer_text(&vec![b'a'; MAX_OFFER_BYTES + 1]),
            Err(OfferError::TooLarge)
        );
        assert!(offer_text(&vec![b'a'; MAX_OFFER_BYTES]).is_ok());
        assert_eq!(offer_text(b"v=0\r\n\xff\r\n"), Err(OfferError::NotUtf8));
    }

    #[test]
    fn malformed_offers_are_typed_errors() {
        for bad in [
            "",
            "hello",
            "v=0\r\n",
            "\u{0}\u{ffff}garbage\r\nm=audio x y z\r\n",
        ] {
            assert!(
                matches!(parse_offer(bad), Err(OfferError::InvalidSdp(_))),
                "{bad:?}"
            );
        }
        let video = CHROMIUM_OFFER.replace("m=audio", "m=video");
        assert!(matches!(
            parse_offer(&video),
            Err(OfferError::NoAudio | OfferError::InvalidSdp(_))
        ));
        // Parses, but str0m refuses to answer without ICE credentials.
        let no_ice = CHROMIUM_OFFER.replace("a=ice-ufrag", "a=ice-xfrag");
        let refused = parse_offer(&no_ice)
            .and_then(|offer| answer_offer(answerer(), offer, &[host()], Instant::now()));
        assert!(
            matches!(refused, Err(OfferError::InvalidSdp(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn every_line_prefix_of_an_offer_is_an_answer_or_an_error() {
        let lines: Vec<&str> = CHROMIUM_OFFER.split_inclusive("\r\n").collect();
        for n in 0..=lines.len() {
            let prefix = lines[..n].concat();
            if let Ok(offer) = parse_offer(&prefix) {
                let _ = answer_offer(answerer(), offer, &[host()], Instant::now());
            }
        }
    }
}
