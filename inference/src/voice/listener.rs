//! The listening side of a session, on its own thread: the user's 48 kHz audio is resampled to
//! 16 kHz, run through the VAD and segmenter, and the current utterance is captured for the ASR.
//!
//! Per-packet work never runs on the async reactor. The thread reports what it hears as
//! [`Heard`] events with wall-clock instants (mapped from sample positions through the arrival
//! times of the packets), which the session feeds to its conversation machine.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;

use crate::media::StreamResampler;
use goassist_engines::vad::{CaptureConfig, SegmentEvent, SpeechDetector, UtteranceCapture};
use tokio::sync::mpsc as async_mpsc;

/// A packet of the user's audio.
pub struct AudioChunk {
    /// Mono 48 kHz samples.
    pub samples_48k: Vec<f32>,
    /// When the packet arrived.
    pub at: Instant,
}

/// What the listener heard.
#[derive(Debug)]
pub enum Heard {
    /// A voiced frame after silence (not yet confirmed as speech).
    VoiceOnset {
        /// When that audio arrived.
        at: Instant,
    },
    /// Speech confirmed.
    SpeechStart {
        /// When its first voiced audio arrived.
        onset_at: Instant,
    },
    /// The utterance so far, for a streaming partial transcript.
    Partial(Vec<f32>),
    /// The turn ended; the whole utterance (16 kHz) for the final transcript.
    SpeechEnd {
        /// When the last voiced audio arrived.
        last_speech_at: Instant,
        /// The utterance, 16 kHz mono.
        utterance: Vec<f32>,
    },
    /// The VAD failed; the session reports it and keeps going without speech input.
    Failed(String),
}

/// Starts the listener thread; it ends when the sender is dropped.
pub fn spawn(
    mut detector: SpeechDetector,
    capture: CaptureConfig,
    session_label: String,
) -> (
    mpsc::Sender<AudioChunk>,
    async_mpsc::UnboundedReceiver<Heard>,
) {
    let (audio_tx, audio_rx) = mpsc::channel::<AudioChunk>();
    let (heard_tx, heard_rx) = async_mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name(format!("listen-{session_label}"))
        .spawn(move || {
            let mut resampler = match StreamResampler::new(48_000, 16_000) {
                Ok(r) => r,
                Err(e) => {
                    let _ = heard_tx.send(Heard::Failed(e.to_string()));
                    return;
                }
            };
            let threshold = detector.config().threshold;
            let mut capture = UtteranceCapture::new(capture);
            let mut clock = ArrivalClock::default();
            let mut was_voiced = false;
            while let Ok(chunk) = audio_rx.recv() {
                let audio = resampler.process(&chunk.samples_48k);
                if audio.is_empty() {
                    continue;
                }
                clock.record(detector.samples_processed() + audio.len() as u64, chunk.at);
                capture.push(&audio);
                let events = match detector.push(&audio) {
                    Ok(events) => events,
                    Err(e) => {
                        let _ = heard_tx.send(Heard::Failed(e.to_string()));
                        return;
                    }
                };
                let voiced = detector.last_probability() >= threshold;
                if voiced && !was_voiced && !detector.in_speech() {
                    let _ = heard_tx.send(Heard::VoiceOnset { at: chunk.at });
                }
                was_voiced = voiced;
                for event in events {
                    let heard = match event {
                        SegmentEvent::SpeechStart { at_sample } => {
                            capture.on_event(event);
                            Heard::SpeechStart {
                                onset_at: clock.instant_of(at_sample),
                            }
                        }
                        SegmentEvent::SpeechEnd { at_sample } => {
                            let utterance = capture.on_event(event).unwrap_or_default();
                            Heard::SpeechEnd {
                                last_speech_at: clock.instant_of(at_sample),
                                utterance,
                            }
                        }
                    };
                    if heard_tx.send(heard).is_err() {
                        return;
                    }
                }
                if let Some(partial) = capture.partial_due() {
                    let _ = heard_tx.send(Heard::Partial(partial.to_vec()));
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the listener thread");
    }
    (audio_tx, heard_rx)
}

/// Maps 16 kHz sample positions back to the arrival time of the packet that carried them.
#[derive(Default)]
struct ArrivalClock {
    /// (first sample after the packet, arrival time), oldest first; about 10 s kept.
    marks: VecDeque<(u64, Instant)>,
}

impl ArrivalClock {
    fn record(&mut self, end_sample: u64, at: Instant) {
        self.marks.push_back((end_sample, at));
        while self.marks.len() > 500 {
            self.marks.pop_front();
        }
    }

    fn instant_of(&self, sample: u64) -> Instant {
        self.marks
            .iter()
            .find(|(end, _)| *end > sample)
            .or(self.marks.back())
            .map_or_else(Instant::now, |(_, at)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sample_positions_map_to_the_packet_that_carried_them() {
        let t0 = Instant::now();
        let mut clock = ArrivalClock::default();
        for i in 0..10u64 {
            clock.record((i + 1) * 320, t0 + Duration::from_millis(20 * i));
        }
        assert_eq!(clock.instant_of(0), t0);
        assert_eq!(clock.instant_of(319), t0);
        assert_eq!(clock.instant_of(320), t0 + Duration::from_millis(20));
        assert_eq!(clock.instant_of(100_000), t0 + Duration::from_millis(180));
    }
}
