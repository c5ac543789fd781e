//! The session's end-of-turn bookkeeping around [`TurnDetector`] (the rule itself, in the
//! engines crate): which listener segment is current, the pause being judged with its audio
//! and transcript, and which segment the detector has already ended (the VAD's own, later end
//! of it is then ignored).
//!
//! Sans-IO like the core that owns it: `now` comes in, nothing is run here.

use std::time::Instant;

use goassist_engines::turn::{
    TurnAction, TurnDetector, TurnDetectorKind, TurnInput, TurnRuleConfig,
};

/// The audio Smart Turn looks at: the last 8 s at 16 kHz.
const JUDGED_SAMPLES: usize = 8 * 16_000;

/// The transcript of the pause a turn ended at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseTranscript {
    /// Still being recognized (the pause's instant identifies it).
    Pending(Instant),
    /// Recognized.
    Done(String),
}

/// The pause being judged.
#[derive(Debug)]
struct Pause {
    since: Instant,
    /// The segment's audio up to the report, the pause included.
    audio: Vec<f32>,
    /// How much of `audio` is the utterance if the turn ends here.
    voiced_len: usize,
    transcript: Option<String>,
}

/// A turn the detector ended.
#[derive(Debug)]
pub struct EndedTurn {
    /// The listener segment to end.
    pub segment: u32,
    /// The utterance (16 kHz).
    pub utterance: Vec<f32>,
    /// Its transcript, or the pause to wait for it by.
    pub transcript: PauseTranscript,
}

/// One session's end-of-turn state.
#[derive(Debug)]
pub struct Turns {
    detector: TurnDetector,
    /// The listener's current segment.
    segment: u32,
    /// The segment the detector ended (its speech is over for the session).
    ended: Option<u32>,
    pause: Option<Pause>,
}

impl Turns {
    /// No speech yet.
    pub fn new(rule: TurnRuleConfig) -> Self {
        Self {
            detector: TurnDetector::new(rule),
            segment: 0,
            ended: None,
            pause: None,
        }
    }

    /// The listener confirmed speech: `segment` is current.
    pub fn speech_started(&mut self, now: Instant, segment: u32) {
        self.segment = segment;
        self.pause = None;
        self.detector.handle(now, TurnInput::Voice);
    }

    /// A pause of `segment` was reported; true when it is now being judged (the caller asks
    /// for its transcript). Pauses are judged only by the `smart_turn` rule.
    pub fn paused(
        &mut self,
        now: Instant,
        segment: u32,
        since: Instant,
        audio: Vec<f32>,
        voiced_len: usize,
    ) -> bool {
        if self.detector.config().detector != TurnDetectorKind::SmartTurn
            || segment != self.segment
            || self.ended == Some(segment)
        {
            return false;
        }
        self.detector.handle(now, TurnInput::Silence { since });
        if self.detector.pause_since() != Some(since) {
            return false;
        }
        self.pause = Some(Pause {
            since,
            voiced_len: voiced_len.min(audio.len()),
            audio,
            transcript: None,
        });
        true
    }

    /// The utterance if the turn ends at the pause being judged.
    pub fn utterance(&self) -> Option<&[f32]> {
        self.pause.as_ref().map(|p| &p.audio[..p.voiced_len])
    }

    /// What Smart Turn judges the pause by: the segment's last 8 s, the pause included.
    pub fn judged_audio(&self) -> Option<Vec<f32>> {
        let audio = &self.pause.as_ref()?.audio;
        Some(audio[audio.len().saturating_sub(JUDGED_SAMPLES)..].to_vec())
    }

    /// Voice came back in `segment`: the pause and its verdicts are forgotten. True when that
    /// was the current segment.
    pub fn resumed(&mut self, now: Instant, segment: u32) -> bool {
        if segment != self.segment {
            return false;
        }
        self.pause = None;
        self.detector.handle(now, TurnInput::Voice);
        true
    }

    /// The transcript of the pause that began at `pause`, while that pause is still being
    /// judged.
    pub fn judged_transcript(&self, pause: Instant) -> Option<&str> {
        self.pause
            .as_ref()
            .filter(|p| p.since == pause)
            .and_then(|p| p.transcript.as_deref())
    }

    /// The transcript of the pause that began at `pause`; false if that pause is no longer
    /// being judged.
    pub fn transcribed(&mut self, pause: Instant, text: String) -> bool {
        match &mut self.pause {
            Some(p) if p.since == pause => {
                p.transcript = Some(text);
                true
            }
            _ => false,
        }
    }

    /// Feeds a model's verdict (see [`TurnDetector::handle`]).
    pub fn handle(&mut self, now: Instant, input: TurnInput) {
        self.detector.handle(now, input);
    }

    /// The rule's next action (see [`TurnDetector::poll`]).
    pub fn poll(&mut self, now: Instant) -> Option<TurnAction> {
        self.detector.poll(now)
    }

    /// When [`Turns::poll`] is due without new input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.detector.poll_timeout()
    }

    /// The detector ended the turn at the pause being judged: what ends with it.
    pub fn end(&mut self) -> Option<EndedTurn> {
        let pause = self.pause.take()?;
        self.ended = Some(self.segment);
        let transcript = match pause.transcript {
            Some(text) => PauseTranscript::Done(text),
            None => PauseTranscript::Pending(pause.since),
        };
        let mut utterance = pause.audio;
        utterance.truncate(pause.voiced_len);
        Some(EndedTurn {
            segment: self.segment,
            utterance,
            transcript,
        })
    }

    /// The VAD ended `segment` on its own silence rule; true when that ends the turn (the
    /// detector did not end this segment already).
    pub fn vad_ended(&mut self, segment: u32) -> bool {
        if self.ended == Some(segment) {
            return false;
        }
        self.pause = None;
        self.detector.reset();
        true
    }
}
