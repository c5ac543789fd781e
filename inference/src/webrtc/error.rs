//! Errors of the WebRTC media layer.

/// Why a peer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    /// The offer is not valid SDP, or str0m cannot answer it.
    #[error("invalid SDP offer: {0}")]
    InvalidSdp(String),
    /// The offer has no audio section to carry the voice.
    #[error("the SDP offer has no audio m-line")]
    NoAudioInOffer,
    /// Every port of the UDP range is in use.
    #[error("no free UDP port in {min}..={max}")]
    PortsExhausted {
        /// First port of the range.
        min: u16,
        /// Last port of the range.
        max: u16,
    },
    /// The settings are out of range (reported before any socket opens).
    #[error("invalid WebRTC settings: {0}")]
    InvalidSettings(String),
    /// A socket could not be opened or configured.
    #[error("socket error: {0}")]
    Socket(#[from] std::io::Error),
    /// The Opus codec refused its configuration or a frame.
    #[error("opus: {0}")]
    Codec(String),
    /// str0m refused an operation.
    #[error("webrtc: {0}")]
    Rtc(String),
}

impl From<goassist_protocol::whip::OfferError> for WebRtcError {
    fn from(e: goassist_protocol::whip::OfferError) -> Self {
        use goassist_protocol::whip::OfferError;
        match e {
            OfferError::InvalidSdp(detail) => WebRtcError::InvalidSdp(detail),
            OfferError::NoAudio => WebRtcError::NoAudioInOffer,
            OfferError::Candidate(detail) => WebRtcError::Rtc(format!("candidate {detail}")),
            // The HTTP layer checks the body before the endpoint sees it; kept for completeness.
            e @ (OfferError::TooLarge | OfferError::NotUtf8) => {
                WebRtcError::InvalidSdp(e.to_string())
            }
        }
    }
}
