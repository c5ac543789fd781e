//! Where a turn's time goes: the stage timestamps of one answer, from the end of the user's
//! turn to the first packet of speech (sans-IO; the session core passes `now`).
//!
//! Stages (`goassist_stage_seconds{stage}`): `asr` (end of turn → final transcript),
//! `llm_ttft` (LLM request → first token), `llm_total` (the LLM's own total), `tts_first`
//! (end of turn → first clause synthesized and queued), `send_first` (first clause queued →
//! first packet of it sent).
//!
//! Before the end of the turn, the pause being judged ([`PauseClock`]): `endpoint` (end of the
//! last voiced audio → end of the turn decided), `turn_audio` (Smart Turn asked → its
//! verdict), `turn_asr` (the transcript up to the pause asked → returned), `turn_text` (the
//! LLM's end-of-turn probability asked → returned).

use std::time::{Duration, Instant};

/// Stage timestamps of the answer in progress.
#[derive(Debug, Default)]
pub struct StageClock {
    turn_ended: Option<Instant>,
    llm_started: Option<Instant>,
    first_token_seen: bool,
    first_clause_pending: bool,
    first_clause_queued: Option<Instant>,
}

impl StageClock {
    /// The user's turn ended (end of speech, or typed text) at `now`.
    pub fn turn_ended(&mut self, now: Instant) {
        self.turn_ended = Some(now);
    }

    /// The final transcript arrived: the `asr` stage.
    pub fn transcribed(&self, now: Instant) -> Option<Duration> {
        self.since_turn_end(now)
    }

    /// An answer was requested from the LLM.
    pub fn llm_started(&mut self, now: Instant) {
        self.llm_started = Some(now);
        self.first_token_seen = false;
        self.first_clause_pending = true;
        self.first_clause_queued = None;
    }

    /// A token arrived: the `llm_ttft` stage for the first one.
    pub fn token(&mut self, now: Instant) -> Option<Duration> {
        if self.first_token_seen {
            return None;
        }
        self.first_token_seen = true;
        self.llm_started.map(|at| now.saturating_duration_since(at))
    }

    /// A clause was queued for sending: the `tts_first` stage for the answer's first.
    pub fn clause_queued(&mut self, now: Instant) -> Option<Duration> {
        if !std::mem::take(&mut self.first_clause_pending) {
            return None;
        }
        self.first_clause_queued = Some(now);
        self.since_turn_end(now)
    }

    /// The answer's first packet went out: the `send_first` stage.
    pub fn first_packet_sent(&mut self, now: Instant) -> Option<Duration> {
        self.first_clause_queued
            .take()
            .map(|at| now.saturating_duration_since(at))
    }

    fn since_turn_end(&self, now: Instant) -> Option<Duration> {
        self.turn_ended.map(|at| now.saturating_duration_since(at))
    }
}

/// A model asked about a pause, timed by [`PauseClock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseModel {
    /// Smart Turn (`turn_audio`).
    Audio,
    /// The transcript up to the pause (`turn_asr`).
    Transcript,
    /// The LLM's end-of-turn probability (`turn_text`).
    Text,
}

impl PauseModel {
    /// The stage label.
    pub fn stage(self) -> &'static str {
        match self {
            Self::Audio => "turn_audio",
            Self::Transcript => "turn_asr",
            Self::Text => "turn_text",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// When each model was asked about the latest judged pause. A reply is timed even after the
/// turn has ended or the voice came back: a late reply is exactly what the stage should show.
#[derive(Debug, Default)]
pub struct PauseClock {
    pause: Option<Instant>,
    asked: [Option<Instant>; 3],
}

impl PauseClock {
    /// `model` was asked about `pause` at `now` (a new pause forgets the previous one).
    pub fn asked(&mut self, pause: Instant, model: PauseModel, now: Instant) {
        if self.pause != Some(pause) {
            self.pause = Some(pause);
            self.asked = [None; 3];
        }
        self.asked[model.index()] = Some(now);
    }

    /// `model`'s reply about `pause` came at `now`: how long it took, once.
    pub fn answered(
        &mut self,
        pause: Instant,
        model: PauseModel,
        now: Instant,
    ) -> Option<Duration> {
        if self.pause != Some(pause) {
            return None;
        }
        self.asked[model.index()]
            .take()
            .map(|at| now.saturating_duration_since(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_model_is_timed_once_for_the_pause_it_was_asked_about() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut clock = PauseClock::default();
        clock.asked(ms(0), PauseModel::Audio, ms(200));
        clock.asked(ms(0), PauseModel::Transcript, ms(200));
        assert_eq!(
            clock.answered(ms(0), PauseModel::Audio, ms(240)),
            Some(Duration::from_millis(40))
        );
        assert_eq!(clock.answered(ms(0), PauseModel::Audio, ms(250)), None);
        assert_eq!(
            clock.answered(ms(0), PauseModel::Text, ms(250)),
            None,
            "never asked"
        );
        // A newer pause: replies about the older one are not timed.
        clock.asked(ms(900), PauseModel::Audio, ms(1100));
        assert_eq!(
            clock.answered(ms(0), PauseModel::Transcript, ms(1200)),
            None
        );
        assert_eq!(
            clock.answered(ms(900), PauseModel::Audio, ms(1150)),
            Some(Duration::from_millis(50))
        );
    }
}
