//! The listening side of a session, on its own thread: the user's 48 kHz audio is resampled to
//! 16 kHz, run through the VAD and segmenter, and the current utterance is captured for the ASR.
//!
//! Per-packet work never runs on the async reactor. The thread reports what it hears as
//! [`Heard`] events with wall-clock instants (mapped from sample positions through the arrival
//! times of the packets), which the session feeds to its conversation machine.
//!
//! Each stretch of speech is a numbered *segment*. With a turn detector (`probe_after` set),
//! the thread also reports each pause in a segment once it has lasted `probe_after`, with the
//! audio so far ([`Heard::Pause`]), and voice coming back ([`Heard::Resumed`]); the session
//! decides whether the pause ends the turn and, if so, tells the thread to end the segment
//! ([`ListenerInput::EndTurn`]). The VAD's own end of speech stays as the backstop.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// What the session sends the listener thread.
pub enum ListenerInput {
    /// A packet of the user's audio.
    Audio(AudioChunk),
    /// The session ended the user's turn at a pause of `segment`: end that speech now, so the
    /// next voice starts a new segment (ignored if the segment is already over).
    EndTurn {
        /// The segment the pause belongs to.
        segment: u32,
    },
}

/// What the listener heard.
#[derive(Debug)]
pub enum Heard {
    /// A voiced frame after silence (not yet confirmed as speech).
    VoiceOnset {
        /// When that audio arrived.
        at: Instant,
    },
    /// Speech confirmed: a new segment.
    SpeechStart {
        /// The segment's number.
        segment: u32,
        /// When its first voiced audio arrived.
        onset_at: Instant,
    },
    /// A pause in the speech has lasted `probe_after` (reported once per pause).
    Pause {
        /// The segment.
        segment: u32,
        /// When the last voiced audio arrived: the pause's identity.
        since: Instant,
        /// The segment's audio so far (16 kHz mono), the pause included.
        audio: Vec<f32>,
        /// How much of `audio` is the utterance if the turn ends here (cut after the last
        /// voiced sample plus a pad, exactly as the final utterance would be).
        voiced_len: usize,
    },
    /// Voice came back after a reported pause.
    Resumed {
        /// The segment.
        segment: u32,
    },
    /// The utterance so far, for a streaming partial transcript.
    Partial(Vec<f32>),
    /// The VAD's end of speech (its silence rule); the whole utterance (16 kHz) for the final
    /// transcript.
    SpeechEnd {
        /// The segment.
        segment: u32,
        /// When the last voiced audio arrived.
        last_speech_at: Instant,
        /// The utterance, 16 kHz mono.
        utterance: Vec<f32>,
    },
    /// The VAD failed; the session reports it and keeps going without speech input.
    Failed(String),
}

/// Starts the listener thread; it ends when the sender is dropped. With `probe_after`, pauses
/// that last that long are reported ([`Heard::Pause`]).
pub fn spawn(
    detector: SpeechDetector,
    capture: CaptureConfig,
    probe_after: Option<Duration>,
    session_label: String,
) -> (
    mpsc::Sender<ListenerInput>,
    async_mpsc::UnboundedReceiver<Heard>,
) {
    let (input_tx, input_rx) = mpsc::channel::<ListenerInput>();
    let (heard_tx, heard_rx) = async_mpsc::unbounded_channel();
    let spawned = std::thread::Builder::new()
        .name(format!("listen-{session_label}"))
        .spawn(move || {
            let resampler = match StreamResampler::new(48_000, 16_000) {
                Ok(r) => r,
                Err(e) => {
                    let _ = heard_tx.send(Heard::Failed(e.to_string()));
                    return;
                }
            };
            let probe_samples = probe_after.map(|d| d.as_millis() as u64 * 16);
            let mut listener = Listener {
                threshold: detector.config().threshold,
                detector,
                capture: UtteranceCapture::new(capture),
                resampler,
                clock: ArrivalClock::default(),
                was_voiced: false,
                segment: 0,
                reported_pause: None,
                probe_samples,
                heard: heard_tx,
            };
            while let Ok(input) = input_rx.recv() {
                let going_on = match input {
                    ListenerInput::Audio(chunk) => listener.audio(chunk),
                    ListenerInput::EndTurn { segment } => {
                        listener.end_turn(segment);
                        true
                    }
                };
                if !going_on {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the listener thread");
    }
    (input_tx, heard_rx)
}

/// The listener thread's state.
struct Listener {
    detector: SpeechDetector,
    threshold: f32,
    capture: UtteranceCapture,
    resampler: StreamResampler,
    clock: ArrivalClock,
    was_voiced: bool,
    /// The current (or last) segment's number.
    segment: u32,
    /// The pause reported in the current segment: the sample just after its last voice.
    reported_pause: Option<u64>,
    /// Pause length that gets reported, in 16 kHz samples; `None`: pauses are not reported.
    probe_samples: Option<u64>,
    heard: async_mpsc::UnboundedSender<Heard>,
}

impl Listener {
    /// Takes a packet; false when the session is gone or the VAD failed.
    fn audio(&mut self, chunk: AudioChunk) -> bool {
        let audio = self.resampler.process(&chunk.samples_48k);
        if audio.is_empty() {
            return true;
        }
        let detector = &mut self.detector;
        self.clock
            .record(detector.samples_processed() + audio.len() as u64, chunk.at);
        self.capture.push(&audio);
        let events = match detector.push(&audio) {
            Ok(events) => events,
            Err(e) => {
                let _ = self.heard.send(Heard::Failed(e.to_string()));
                return false;
            }
        };
        let voiced = detector.last_probability() >= self.threshold;
        if voiced && !self.was_voiced && !detector.in_speech() {
            let _ = self.heard.send(Heard::VoiceOnset { at: chunk.at });
        }
        self.was_voiced = voiced;
        for event in events {
            let heard = match event {
                SegmentEvent::SpeechStart { at_sample } => {
                    self.capture.on_event(event);
                    self.segment += 1;
                    self.reported_pause = None;
                    Heard::SpeechStart {
                        segment: self.segment,
                        onset_at: self.clock.instant_of(at_sample),
                    }
                }
                SegmentEvent::SpeechEnd { at_sample } => {
                    self.reported_pause = None;
                    Heard::SpeechEnd {
                        segment: self.segment,
                        last_speech_at: self.clock.instant_of(at_sample),
                        utterance: self.capture.on_event(event).unwrap_or_default(),
                    }
                }
            };
            if self.heard.send(heard).is_err() {
                return false;
            }
        }
        self.report_pause();
        let in_pause = self.detector.trailing_silence_start().is_some();
        if let Some(partial) = self.capture.partial_due(in_pause) {
            let _ = self.heard.send(Heard::Partial(partial.to_vec()));
        }
        true
    }

    /// Reports a pause once it has lasted the probe length, and voice coming back after one.
    fn report_pause(&mut self) {
        let Some(probe) = self.probe_samples else {
            return;
        };
        let pause = self.detector.trailing_silence_start();
        if let Some(reported) = self.reported_pause
            && pause != Some(reported)
        {
            self.reported_pause = None;
            let _ = self.heard.send(Heard::Resumed {
                segment: self.segment,
            });
        }
        let Some(start) = pause else { return };
        if self.reported_pause.is_some()
            || self.detector.samples_processed().saturating_sub(start) < probe
        {
            return;
        }
        // The last voiced sample is the one before the pause (as in the VAD's `SpeechEnd`).
        let last_voiced = start.saturating_sub(1);
        let (Some(voiced), Some(audio)) = (
            self.capture.audio_until(last_voiced),
            self.capture.current(),
        ) else {
            return; // the pad after the voice is not in yet: next packet
        };
        self.reported_pause = Some(start);
        let _ = self.heard.send(Heard::Pause {
            segment: self.segment,
            since: self.clock.instant_of(last_voiced),
            voiced_len: voiced.len(),
            audio: audio.to_vec(),
        });
    }

    /// The session ended the turn at a pause of `segment`.
    fn end_turn(&mut self, segment: u32) {
        if segment == self.segment && self.detector.end_speech().is_some() {
            self.capture.cancel();
            self.reported_pause = None;
        }
    }
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
