//! Errors of the audio layer.

/// Why an audio component could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AudioError {
    /// The resampler rejected the rate pair (zero or absurd rates).
    #[error("cannot resample {from} Hz to {to} Hz: {reason}")]
    Resampler {
        /// Input rate in Hz.
        from: u32,
        /// Output rate in Hz.
        to: u32,
        /// The resampler's message.
        reason: String,
    },
    /// A packetizer setting is out of its valid range.
    #[error("invalid packetizer setting: {0}")]
    InvalidPacketizer(String),
}
