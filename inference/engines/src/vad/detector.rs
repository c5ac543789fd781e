//! A [`Vad`] and a [`Segmenter`] behind one call that takes audio of any length.
//!
//! Network audio arrives in 20 ms packets (320 samples at 16 kHz) while Silero wants 512-sample
//! frames and earshot 256: the detector buffers the remainder between calls and counts samples
//! from the start of the stream, so event positions are exact whatever the packet size.

use super::{SegmentEvent, Segmenter, SegmenterConfig, Vad};
use crate::EngineError;

/// Streaming speech detection for one audio stream.
pub struct SpeechDetector {
    vad: Box<dyn Vad>,
    segmenter: Segmenter,
    /// Samples received but not yet a whole frame.
    pending: Vec<f32>,
    /// Samples already run through the VAD (the end of the last frame).
    processed: u64,
    last_probability: f32,
}

impl std::fmt::Debug for SpeechDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechDetector")
            .field("segmenter", &self.segmenter)
            .field("processed", &self.processed)
            .finish_non_exhaustive()
    }
}

impl SpeechDetector {
    /// Wraps a detector and a segmenter configuration.
    pub fn new(vad: Box<dyn Vad>, config: SegmenterConfig) -> Self {
        let frame_len = vad.frame_len();
        Self {
            vad,
            segmenter: Segmenter::new(config),
            pending: Vec::with_capacity(frame_len),
            processed: 0,
            last_probability: 0.0,
        }
    }

    /// Feeds the next audio (16 kHz mono) and returns the events it completes, in order.
    ///
    /// Audio with a non-finite sample is rejected whole ([`EngineError::InvalidInput`]) and
    /// changes nothing, so the caller can drop the packet and go on. If the model itself fails,
    /// the error is returned and the frame it failed on counts as consumed.
    pub fn push(&mut self, audio: &[f32]) -> Result<Vec<SegmentEvent>, EngineError> {
        if let Some(position) = audio.iter().position(|s| !s.is_finite()) {
            return Err(EngineError::InvalidInput(format!(
                "audio has a non-finite sample at {position}"
            )));
        }
        let frame_len = self.vad.frame_len();
        let mut events = Vec::new();
        let mut rest = audio;
        while !rest.is_empty() {
            let take = (frame_len - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == frame_len {
                let outcome = self.vad.speech_probability(&self.pending);
                // The frame is consumed either way, so a runtime failure cannot wedge the
                // buffer; the sample count stays true to the stream.
                self.pending.clear();
                self.processed += frame_len as u64;
                let probability = outcome?;
                self.last_probability = probability;
                events.extend(self.segmenter.push(probability, self.processed));
            }
        }
        Ok(events)
    }

    /// Ends the stream: the `SpeechEnd` of speech still active, if any (the partial frame left
    /// over is dropped).
    pub fn finish(&mut self) -> Option<SegmentEvent> {
        self.pending.clear();
        self.segmenter.finish()
    }

    /// Ends the current speech now (the caller decided the turn is over): its `SpeechEnd`, if
    /// speech was active. Unlike [`SpeechDetector::finish`] the stream goes on: buffered audio
    /// and the sample count are kept, and the next voice starts new speech.
    pub fn end_speech(&mut self) -> Option<SegmentEvent> {
        self.segmenter.finish()
    }

    /// A new stream: forgets model state, buffered audio and the sample count.
    pub fn reset(&mut self) {
        self.vad.reset();
        self.segmenter.reset();
        self.pending.clear();
        self.processed = 0;
        self.last_probability = 0.0;
    }

    /// True between `SpeechStart` and `SpeechEnd`.
    pub fn in_speech(&self) -> bool {
        self.segmenter.in_speech()
    }

    /// See [`Segmenter::trailing_silence_start`]: where the turn ends if no voice comes back.
    pub fn trailing_silence_start(&self) -> Option<u64> {
        self.segmenter.trailing_silence_start()
    }

    /// Samples run through the VAD so far (the end of the last whole frame).
    pub fn samples_processed(&self) -> u64 {
        self.processed
    }

    /// The probability of the last whole frame (0 before the first).
    pub fn last_probability(&self) -> f32 {
        self.last_probability
    }

    /// The segmentation settings in use.
    pub fn config(&self) -> &SegmenterConfig {
        self.segmenter.config()
    }
}
