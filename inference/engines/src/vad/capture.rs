//! Keeps the audio of the current utterance for the recognizer, in sync with the segmenter.
//!
//! `SpeechStart` is only known `min_speech_ms` after the speech began, and it points back to
//! the onset: the capture therefore keeps a short history of recent audio so the utterance
//! handed to the ASR starts at the onset (plus a small pad), not where speech was confirmed.
//! While speech lasts it says when a streaming partial is due; at `SpeechEnd` it returns the
//! final utterance, cut after the last voiced sample (plus the pad).
//!
//! Sans-IO and clock-free: positions are sample counts from the start of the stream, the same
//! counts the [`super::Segmenter`] uses. Push each chunk here and to the detector, then hand
//! the detector's events to [`UtteranceCapture::on_event`].

use super::{SAMPLE_RATE, SegmentEvent};

/// How much audio is kept and how often partials are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Audio kept before the reported onset and after the last voiced sample: VAD frames are
    /// 16-32 ms and the weakest edges of words fall just outside them.
    pub pad_ms: u32,
    /// Audio between two streaming partials.
    pub partial_every_ms: u32,
    /// Audio an utterance needs before its first partial (at least `partial_every_ms`): a
    /// recognizer that identifies the language from the audio needs more than half a second.
    pub first_partial_ms: u32,
    /// Recent audio kept while no speech is active. Must cover `min_speech_ms` + one VAD frame
    /// + `pad_ms`, or the start of the utterance is lost.
    pub history_ms: u32,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            pad_ms: 100,
            partial_every_ms: 500,
            first_partial_ms: 500,
            history_ms: 2_000,
        }
    }
}

fn ms_to_samples(ms: u32) -> usize {
    (u64::from(ms) * u64::from(SAMPLE_RATE) / 1000) as usize
}

/// The current utterance's audio, and the recent past.
#[derive(Debug, Clone)]
pub struct UtteranceCapture {
    pad: usize,
    partial_every: usize,
    first_partial: usize,
    history_len: usize,
    /// Recent audio; `history[0]` is sample `history_start` of the stream.
    history: Vec<f32>,
    history_start: u64,
    /// The utterance being captured, from `utterance_start`.
    utterance: Option<Vec<f32>>,
    utterance_start: u64,
    /// Utterance length when the last partial was handed out.
    last_partial_len: usize,
}

impl UtteranceCapture {
    /// An idle capture at sample 0.
    pub fn new(config: CaptureConfig) -> Self {
        Self {
            pad: ms_to_samples(config.pad_ms),
            partial_every: ms_to_samples(config.partial_every_ms).max(1),
            first_partial: ms_to_samples(config.first_partial_ms),
            history_len: ms_to_samples(config.history_ms),
            history: Vec::new(),
            history_start: 0,
            utterance: None,
            utterance_start: 0,
            last_partial_len: 0,
        }
    }

    /// Appends the next audio of the stream (the same chunk given to the detector).
    pub fn push(&mut self, audio: &[f32]) {
        self.history.extend_from_slice(audio);
        if let Some(utterance) = &mut self.utterance {
            utterance.extend_from_slice(audio);
        }
        // Trim in batches so the copy cost stays amortized O(1) per sample.
        if self.history.len() > 2 * self.history_len.max(1) {
            let excess = self.history.len() - self.history_len;
            self.history.drain(..excess);
            self.history_start += excess as u64;
        }
    }

    /// Applies a segmenter event. Returns the final utterance audio on `SpeechEnd`: exactly
    /// what [`UtteranceCapture::audio_until`] gave for the same last voiced sample.
    pub fn on_event(&mut self, event: SegmentEvent) -> Option<Vec<f32>> {
        match event {
            SegmentEvent::SpeechStart { at_sample } => {
                let wanted = at_sample.saturating_sub(self.pad as u64);
                let start = wanted.max(self.history_start);
                let offset = ((start - self.history_start) as usize).min(self.history.len());
                self.utterance = Some(self.history[offset..].to_vec());
                self.utterance_start = self.history_start + offset as u64;
                self.last_partial_len = 0;
                None
            }
            SegmentEvent::SpeechEnd { at_sample } => {
                let end = self.cut_after(at_sample);
                let mut utterance = self.utterance.take()?;
                utterance.truncate(end);
                Some(utterance)
            }
        }
    }

    /// Utterance length if its last voiced sample is `last_voiced` (plus the pad).
    fn cut_after(&self, last_voiced: u64) -> usize {
        let end = last_voiced
            .saturating_add(1 + self.pad as u64)
            .saturating_sub(self.utterance_start);
        usize::try_from(end).unwrap_or(usize::MAX)
    }

    /// The utterance as the final one would be if the turn ended with `last_voiced` as its
    /// last speech sample (for an early, speculative final transcript; see
    /// [`super::SpeechDetector::trailing_silence_start`]). `None` outside speech, and until the
    /// pad after `last_voiced` has been pushed (ask again after the next chunk).
    pub fn audio_until(&self, last_voiced: u64) -> Option<&[f32]> {
        let utterance = self.utterance.as_deref()?;
        utterance.get(..self.cut_after(last_voiced))
    }

    /// The utterance so far, if a partial is due (`partial_every_ms` of new audio since the
    /// last one, and at least `first_partial_ms` in all). Marks it handed out.
    ///
    /// `in_pause`: the speech is in a trailing silence now. Nothing is due then: silence adds
    /// no words, and on a small machine a recognition of the whole utterance every interval of
    /// a pause takes the CPU the end-of-turn models need just then. The partial comes with the
    /// first voiced chunk after the pause.
    pub fn partial_due(&mut self, in_pause: bool) -> Option<&[f32]> {
        let utterance = self.utterance.as_ref()?;
        let due = (self.last_partial_len + self.partial_every).max(self.first_partial);
        if !in_pause && utterance.len() >= due {
            self.last_partial_len = utterance.len();
            return Some(utterance);
        }
        None
    }

    /// The utterance captured so far (None outside speech).
    pub fn current(&self) -> Option<&[f32]> {
        self.utterance.as_deref()
    }

    /// Stream position of the first sample of the current utterance.
    pub fn utterance_start(&self) -> Option<u64> {
        self.utterance.as_ref().map(|_| self.utterance_start)
    }

    /// Drops the current utterance (barge-in handled elsewhere, a reset stream...).
    pub fn cancel(&mut self) {
        self.utterance = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Audio whose sample `i` has the value `i`, so positions can be read back.
    fn ramp(from: u64, len: usize) -> Vec<f32> {
        (from..from + len as u64).map(|i| i as f32).collect()
    }

    fn config() -> CaptureConfig {
        CaptureConfig {
            pad_ms: 10,            // 160 samples
            partial_every_ms: 100, // 1600 samples
            first_partial_ms: 100,
            history_ms: 500, // 8000 samples
        }
    }

    #[test]
    fn utterance_runs_from_onset_minus_pad_to_last_voiced_plus_pad() {
        let mut capture = UtteranceCapture::new(config());
        capture.push(&ramp(0, 20_000));
        assert_eq!(
            capture.on_event(SegmentEvent::SpeechStart { at_sample: 16_000 }),
            None
        );
        assert_eq!(capture.utterance_start(), Some(16_000 - 160));
        capture.push(&ramp(20_000, 10_000));
        let utterance = capture
            .on_event(SegmentEvent::SpeechEnd { at_sample: 25_000 })
            .expect("final utterance");
        assert_eq!(utterance.first(), Some(&(16_000.0 - 160.0)));
        assert_eq!(utterance.last(), Some(&(25_000.0 + 160.0)));
        assert_eq!(utterance.len(), 25_000 + 160 + 1 - (16_000 - 160));
        assert!(capture.current().is_none());
    }

    #[test]
    fn audio_until_is_exactly_the_final_that_the_same_end_gives() {
        let mut capture = UtteranceCapture::new(config());
        capture.push(&ramp(0, 20_000));
        capture.on_event(SegmentEvent::SpeechStart { at_sample: 16_000 });
        capture.push(&ramp(20_000, 5_100));
        assert_eq!(capture.audio_until(25_000), None, "pad not pushed yet");
        capture.push(&ramp(25_100, 4_900));
        let early = capture.audio_until(25_000).unwrap().to_vec();
        // Silence continues before the segmenter decides.
        capture.push(&ramp(30_000, 9_600));
        let last = capture
            .on_event(SegmentEvent::SpeechEnd { at_sample: 25_000 })
            .unwrap();
        assert_eq!(early, last);
        assert_eq!(capture.audio_until(25_000), None);
        assert!(capture.current().is_none());
    }

    #[test]
    fn partials_come_every_interval_with_the_whole_utterance_so_far() {
        let mut capture = UtteranceCapture::new(config());
        assert!(
            capture.partial_due(false).is_none(),
            "no partial outside speech"
        );
        capture.push(&ramp(0, 5_000));
        capture.on_event(SegmentEvent::SpeechStart { at_sample: 1_000 });
        let mut lengths = Vec::new();
        let mut at = 5_000;
        for _ in 0..40 {
            capture.push(&ramp(at, 320));
            at += 320;
            if let Some(partial) = capture.partial_due(false) {
                assert_eq!(partial[0], 840.0);
                lengths.push(partial.len());
            }
        }
        // 4160 samples at the start, then a partial each 1600 new samples.
        assert_eq!(lengths[0], 4_160 + 320);
        assert!(
            lengths
                .windows(2)
                .all(|w| w[1] - w[0] >= 1_600 && w[1] - w[0] < 1_600 + 320)
        );
        assert_eq!(lengths.len(), 1 + (40 * 320 - 320) / 1_600);
    }

    #[test]
    fn the_first_partial_waits_for_first_partial_ms_of_speech() {
        let mut capture = UtteranceCapture::new(CaptureConfig {
            first_partial_ms: 500, // 8000 samples
            ..config()
        });
        capture.push(&ramp(0, 1_000));
        capture.on_event(SegmentEvent::SpeechStart { at_sample: 1_000 });
        let mut lengths = Vec::new();
        for chunk in 0..40 {
            capture.push(&ramp(1_000 + chunk * 320, 320));
            if let Some(partial) = capture.partial_due(false) {
                lengths.push(partial.len());
            }
        }
        // Not before 8000 samples of utterance; then every 1600 new ones as before.
        assert!(
            lengths[0] >= 8_000 && lengths[0] < 8_000 + 320,
            "{lengths:?}"
        );
        assert!(
            lengths.windows(2).all(|w| w[1] - w[0] >= 1_600),
            "{lengths:?}"
        );
        assert!(lengths.len() >= 2, "{lengths:?}");
    }

    #[test]
    fn a_pause_holds_the_partials_back_until_the_voice_returns() {
        let mut capture = UtteranceCapture::new(config());
        capture.push(&ramp(0, 5_000));
        capture.on_event(SegmentEvent::SpeechStart { at_sample: 1_000 });
        let before = capture.partial_due(false).map(<[f32]>::len).unwrap();
        // 10 intervals of pause: nothing due.
        for k in 0..50 {
            capture.push(&ramp(5_000 + k * 320, 320));
            assert!(
                capture.partial_due(true).is_none(),
                "chunk {k} of the pause"
            );
        }
        // The first voiced chunk after it gets the whole utterance, pause included.
        capture.push(&ramp(21_000, 320));
        assert_eq!(
            capture.partial_due(false).map(<[f32]>::len),
            Some(before + 50 * 320 + 320)
        );
        assert!(capture.partial_due(false).is_none(), "handed out");
    }

    #[test]
    fn an_onset_older_than_the_history_starts_at_the_oldest_sample_kept() {
        let mut capture = UtteranceCapture::new(config());
        for i in 0..100 {
            capture.push(&ramp(i * 320, 320));
        }
        capture.on_event(SegmentEvent::SpeechStart { at_sample: 0 });
        let start = capture.utterance_start().unwrap();
        assert!(start > 0 && 32_000 - start >= 8_000, "kept {start}..32000");
        assert_eq!(capture.current().unwrap()[0], start as f32);
    }

    #[test]
    fn end_without_start_and_cancel_are_harmless() {
        let mut capture = UtteranceCapture::new(config());
        capture.push(&ramp(0, 1_000));
        assert_eq!(
            capture.on_event(SegmentEvent::SpeechEnd { at_sample: 500 }),
            None
        );
        capture.on_event(SegmentEvent::SpeechStart { at_sample: 900 });
        capture.cancel();
        assert_eq!(
            capture.on_event(SegmentEvent::SpeechEnd { at_sample: 999 }),
            None
        );
        // Positions beyond anything pushed do not panic.
        capture.on_event(SegmentEvent::SpeechStart {
            at_sample: u64::MAX,
        });
        capture.push(&ramp(1_000, 10));
        let _ = capture.on_event(SegmentEvent::SpeechEnd {
            at_sample: u64::MAX,
        });
    }
}
