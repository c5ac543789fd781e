//! Where a turn's time goes: the stage timestamps of one answer, from the end of the user's
//! turn to the first packet of speech (sans-IO; the session core passes `now`).
//!
//! Stages (`goassist_stage_seconds{stage}`): `asr` (end of turn → final transcript),
//! `llm_ttft` (LLM request → first token), `llm_total` (the LLM's own total), `tts_first`
//! (end of turn → first clause synthesized and queued), `send_first` (first clause queued →
//! first packet of it sent).

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
