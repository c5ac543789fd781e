//! Speech segmentation with hysteresis: turns per-frame speech probabilities into
//! `SpeechStart` / `SpeechEnd` events.
//!
//! Sans-IO: the segmenter never reads a clock or an audio device. It is fed one
//! `(probability, frame_end_sample)` pair per VAD frame and answers with at most one event, so
//! tests drive it in virtual time (sample counts) as fast as they like.
//!
//! The rules, in samples of 16 kHz audio:
//! - A frame is *voiced* when its probability is at least `threshold`; once speech has begun it
//!   stays voiced down to the lower `release_threshold` (hysteresis, so a word whose probability
//!   wobbles around the threshold does not flicker).
//! - `SpeechStart` is emitted once voiced frames have run without a break for `min_speech_ms`;
//!   a shorter burst (a cough, a click) is forgotten and never starts speech. The event carries
//!   the first sample of that run, not the moment it was confirmed.
//! - `SpeechEnd` is emitted once `end_of_turn_silence_ms` of unvoiced frames follow speech. It
//!   carries the last voiced sample, so "voice-to-voice" latency can be measured from it.

/// Sample rate the segmenter counts in (all VAD engines here run at 16 kHz).
pub const SAMPLE_RATE: u32 = 16_000;

/// Thresholds and durations of the segmenter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmenterConfig {
    /// Probability at or above which a frame counts as speech when no speech is active.
    pub threshold: f32,
    /// Probability below which a frame counts as silence once speech is active (or is being
    /// confirmed). At most `threshold`.
    pub release_threshold: f32,
    /// Voiced audio needed, without a break, before speech starts. Shorter bursts are ignored.
    pub min_speech_ms: u32,
    /// Silence after speech that ends the turn.
    pub end_of_turn_silence_ms: u32,
}

impl Default for SegmenterConfig {
    /// Silero's own defaults for threshold and hysteresis (0.5 / 0.35) and a 250 ms minimum
    /// speech run; 600 ms of silence ends a turn, a common voice-agent setting that waits out
    /// the pause between two sentences without feeling slow.
    fn default() -> Self {
        Self {
            threshold: 0.5,
            release_threshold: 0.35,
            min_speech_ms: 250,
            end_of_turn_silence_ms: 600,
        }
    }
}

impl SegmenterConfig {
    /// Checks the values: thresholds in `(0, 1]`, `release_threshold <= threshold`.
    pub fn validate(&self) -> Result<(), String> {
        let in_unit = |v: f32| v > 0.0 && v <= 1.0;
        if !in_unit(self.threshold) {
            return Err(format!(
                "VAD threshold must be in (0, 1], got {}",
                self.threshold
            ));
        }
        if !in_unit(self.release_threshold) || self.release_threshold > self.threshold {
            return Err(format!(
                "VAD release threshold must be in (0, threshold = {}], got {}",
                self.threshold, self.release_threshold
            ));
        }
        Ok(())
    }

    fn min_speech_samples(&self) -> u64 {
        ms_to_samples(self.min_speech_ms)
    }

    fn end_of_turn_samples(&self) -> u64 {
        ms_to_samples(self.end_of_turn_silence_ms)
    }
}

fn ms_to_samples(ms: u32) -> u64 {
    u64::from(ms) * u64::from(SAMPLE_RATE) / 1000
}

/// A change in speech activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEvent {
    /// Speech began; `at_sample` is the first sample of the voiced run that confirmed it.
    SpeechStart {
        /// Index (from the start of the stream) of the first speech sample.
        at_sample: u64,
    },
    /// Speech ended after enough silence; `at_sample` is the last voiced sample.
    SpeechEnd {
        /// Index (from the start of the stream) of the last speech sample (inclusive).
        at_sample: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No speech.
    Silence,
    /// Voiced frames since `since`, not yet long enough to count as speech.
    Candidate { since: u64 },
    /// Speech is active; the last voiced frame ended at `last_voiced_end` (exclusive).
    Speech { last_voiced_end: u64 },
}

/// The speech segmentation state machine. One per audio stream.
#[derive(Debug, Clone)]
pub struct Segmenter {
    config: SegmenterConfig,
    state: State,
    /// End of the previous frame fed: the start of the next one.
    previous_frame_end: u64,
}

impl Segmenter {
    /// A segmenter in the silent state at sample 0.
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            config,
            state: State::Silence,
            previous_frame_end: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    /// True between `SpeechStart` and `SpeechEnd`.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// Feeds the speech probability of the frame that ends (exclusive) at `frame_end_sample`.
    /// Frames are assumed contiguous: this frame starts where the previous one ended (at 0 for
    /// the first). A frame end that goes backwards is treated as an empty frame.
    pub fn push(&mut self, probability: f32, frame_end_sample: u64) -> Option<SegmentEvent> {
        let frame_start = self.previous_frame_end;
        let frame_end = frame_end_sample.max(frame_start);
        self.previous_frame_end = frame_end;
        // NaN compares false everywhere, so it counts as silence: never as speech.
        let voiced_when_idle = probability >= self.config.threshold;
        let voiced_when_active = probability >= self.config.release_threshold;

        match self.state {
            State::Silence => {
                if voiced_when_idle {
                    self.state = State::Candidate { since: frame_start };
                    return self.confirm_if_long_enough(frame_start, frame_end);
                }
                None
            }
            State::Candidate { since } => {
                if voiced_when_active {
                    self.confirm_if_long_enough(since, frame_end)
                } else {
                    self.state = State::Silence;
                    None
                }
            }
            State::Speech { last_voiced_end } => {
                if voiced_when_active {
                    self.state = State::Speech {
                        last_voiced_end: frame_end,
                    };
                    None
                } else if frame_end - last_voiced_end >= self.config.end_of_turn_samples() {
                    self.state = State::Silence;
                    Some(SegmentEvent::SpeechEnd {
                        at_sample: last_voiced_end.saturating_sub(1),
                    })
                } else {
                    None
                }
            }
        }
    }

    fn confirm_if_long_enough(&mut self, since: u64, frame_end: u64) -> Option<SegmentEvent> {
        if frame_end - since >= self.config.min_speech_samples() {
            self.state = State::Speech {
                last_voiced_end: frame_end,
            };
            Some(SegmentEvent::SpeechStart { at_sample: since })
        } else {
            None
        }
    }

    /// While speech is active but the latest frames were silent: the sample just after the
    /// last voiced frame (so the last voiced sample is one before it). `None` otherwise.
    ///
    /// The turn may be ending: a caller can transcribe the utterance up to here right away and,
    /// if the `SpeechEnd` that follows reports this same point, use that result as the final
    /// transcript instead of waiting for a new run.
    pub fn trailing_silence_start(&self) -> Option<u64> {
        match self.state {
            State::Speech { last_voiced_end } if self.previous_frame_end > last_voiced_end => {
                Some(last_voiced_end)
            }
            _ => None,
        }
    }

    /// Ends the stream: if speech is active, returns its `SpeechEnd` now without waiting for
    /// the silence. The segmenter is then silent (and keeps counting samples from where it is).
    pub fn finish(&mut self) -> Option<SegmentEvent> {
        let event = match self.state {
            State::Speech { last_voiced_end } => Some(SegmentEvent::SpeechEnd {
                at_sample: last_voiced_end.saturating_sub(1),
            }),
            _ => None,
        };
        self.state = State::Silence;
        event
    }

    /// Back to silence at sample 0 (a new stream).
    pub fn reset(&mut self) {
        self.state = State::Silence;
        self.previous_frame_end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 ms frames, as Silero uses.
    const FRAME: u64 = 512;

    /// Feeds probabilities as consecutive frames and returns `(frame index, event)` pairs.
    fn drive(seg: &mut Segmenter, probabilities: &[f32]) -> Vec<(usize, SegmentEvent)> {
        probabilities
            .iter()
            .enumerate()
            .filter_map(|(i, &p)| seg.push(p, (i as u64 + 1) * FRAME).map(|e| (i, e)))
            .collect()
    }

    fn frames(p: f32, n: usize) -> Vec<f32> {
        vec![p; n]
    }

    #[test]
    fn silence_never_starts_speech() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        assert!(drive(&mut seg, &frames(0.1, 1000)).is_empty());
        assert!(!seg.in_speech());
    }

    #[test]
    fn speech_starts_after_min_speech_at_its_first_sample() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        let mut probs = frames(0.0, 10);
        probs.extend(frames(0.9, 20));
        let events = drive(&mut seg, &probs);
        // 250 ms = 4000 samples = 7.8 frames, so the 8th voiced frame (index 17) confirms it.
        assert_eq!(
            events,
            vec![(
                17,
                SegmentEvent::SpeechStart {
                    at_sample: 10 * FRAME
                }
            )]
        );
        assert!(seg.in_speech());
    }

    #[test]
    fn a_cough_shorter_than_min_speech_never_starts_speech() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        // 7 voiced frames = 224 ms < 250 ms, repeated with gaps.
        let mut probs = Vec::new();
        for _ in 0..5 {
            probs.extend(frames(0.99, 7));
            probs.extend(frames(0.05, 5));
        }
        assert!(drive(&mut seg, &probs).is_empty());
    }

    #[test]
    fn speech_ends_after_the_configured_silence_at_the_last_voiced_sample() {
        let config = SegmenterConfig {
            end_of_turn_silence_ms: 480, // 15 frames
            ..SegmenterConfig::default()
        };
        let mut seg = Segmenter::new(config);
        let mut probs = frames(0.9, 20);
        probs.extend(frames(0.1, 30));
        let events = drive(&mut seg, &probs);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1].0, 19 + 15);
        assert_eq!(
            events[1].1,
            SegmentEvent::SpeechEnd {
                at_sample: 20 * FRAME - 1
            }
        );
        assert!(!seg.in_speech());
    }

    #[test]
    fn a_pause_shorter_than_end_of_turn_keeps_the_turn() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        let mut probs = frames(0.9, 20);
        probs.extend(frames(0.1, 15)); // 480 ms < 600 ms
        probs.extend(frames(0.9, 20));
        let events = drive(&mut seg, &probs);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(seg.in_speech());
    }

    #[test]
    fn hysteresis_keeps_speech_between_the_two_thresholds() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        let mut probs = frames(0.9, 10);
        probs.extend(frames(0.4, 100)); // below 0.5 but above 0.35
        let events = drive(&mut seg, &probs);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(seg.in_speech());
        // ...but 0.4 alone never starts speech.
        let mut fresh = Segmenter::new(SegmenterConfig::default());
        assert!(drive(&mut fresh, &frames(0.4, 100)).is_empty());
    }

    #[test]
    fn trailing_silence_start_marks_where_the_end_of_turn_would_be() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        assert_eq!(seg.trailing_silence_start(), None);
        drive(&mut seg, &frames(0.9, 20));
        assert_eq!(seg.trailing_silence_start(), None, "still voiced");
        let mut end = None;
        for i in 20..60u64 {
            if let Some(event) = seg.push(0.1, (i + 1) * FRAME) {
                end = Some(event);
                break;
            }
            assert_eq!(seg.trailing_silence_start(), Some(20 * FRAME));
        }
        assert_eq!(
            end,
            Some(SegmentEvent::SpeechEnd {
                at_sample: 20 * FRAME - 1
            })
        );
        assert_eq!(seg.trailing_silence_start(), None, "turn over");
        // Voice coming back clears it.
        let mut seg = Segmenter::new(SegmenterConfig::default());
        drive(&mut seg, &frames(0.9, 20));
        seg.push(0.1, 21 * FRAME);
        assert!(seg.trailing_silence_start().is_some());
        seg.push(0.9, 22 * FRAME);
        assert_eq!(seg.trailing_silence_start(), None);
    }

    #[test]
    fn nan_probability_counts_as_silence() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        assert!(drive(&mut seg, &frames(f32::NAN, 50)).is_empty());
    }

    #[test]
    fn finish_ends_active_speech_and_reset_restarts_counting() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        drive(&mut seg, &frames(0.9, 10));
        assert_eq!(
            seg.finish(),
            Some(SegmentEvent::SpeechEnd {
                at_sample: 10 * FRAME - 1
            })
        );
        assert_eq!(seg.finish(), None);
        seg.reset();
        let events = drive(&mut seg, &frames(0.9, 10));
        assert_eq!(events[0].1, SegmentEvent::SpeechStart { at_sample: 0 });
    }

    #[test]
    fn frame_ends_going_backwards_do_not_panic() {
        let mut seg = Segmenter::new(SegmenterConfig::default());
        for i in 0..100u64 {
            let end = if i % 3 == 0 { 0 } else { i * FRAME };
            let _ = seg.push(if i % 2 == 0 { 0.9 } else { 0.2 }, end);
        }
        let _ = seg.push(0.9, u64::MAX);
        let _ = seg.push(0.1, u64::MAX);
    }

    #[test]
    fn config_validation_names_the_bad_value() {
        assert!(SegmenterConfig::default().validate().is_ok());
        let bad = SegmenterConfig {
            release_threshold: 0.8,
            ..SegmenterConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("0.8"));
        let bad = SegmenterConfig {
            threshold: 0.0,
            ..SegmenterConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
