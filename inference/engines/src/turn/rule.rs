//! The end-of-turn decision: when a pause means the user has finished, and when it is only a
//! breath in the middle of a sentence.
//!
//! Sans-IO (the str0m pattern): the detector never reads a clock or runs a model. The caller
//! feeds it [`TurnInput`]s with `now`, drains [`TurnAction`]s with [`TurnDetector::poll`] and
//! calls `poll` again at [`TurnDetector::poll_timeout`]. Tests and the evaluation example drive
//! it in virtual time.
//!
//! # The rule (`TURN_DETECTOR=smart_turn`, the default)
//!
//! A pause starts at the end of the last voiced audio (`since`). Two signals judge it:
//!
//! - **audio**: Smart Turn's P(complete) for the turn's audio up to now, asked for once the
//!   pause has lasted `probe_after`;
//! - **text**: the LLM's probability that the user's message ends after the transcript so far
//!   (P(`<|im_end|>`) right after the user's text), which the caller computes from a transcript
//!   of the audio up to `since`.
//!
//! With both in hand the turn ends at once when `text_weight · text + (1 − text_weight) · audio
//! ≥ complete_threshold`. Audio alone cannot end the turn while the text signal is still
//! expected: it sounds finished at commas too ("And so my fellow Americans, …" gets 0.97). If
//! the text has not come `text_wait` after the audio verdict (a remote LLM, a slow machine),
//! the audio decides alone against the stricter `audio_only_threshold`. Whatever the models
//! say, the turn ends after `max_silence`: a user who stops mid-sentence is answered anyway.
//! Voice coming back cancels the pause and everything judged about it.
//!
//! # `TURN_DETECTOR=silence`
//!
//! Today's fixed rule: the turn ends after `silence` of silence; no model is asked.

use std::time::{Duration, Instant};

/// Which rule ends the user's turn (`TURN_DETECTOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TurnDetectorKind {
    /// Smart Turn (audio) combined with the LLM's end-of-turn probability (text).
    #[default]
    SmartTurn,
    /// A fixed silence (`VAD_END_OF_TURN_SILENCE_MS`).
    Silence,
}

impl TurnDetectorKind {
    /// The configuration spelling: `smart_turn` or `silence`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SmartTurn => "smart_turn",
            Self::Silence => "silence",
        }
    }
}

impl std::fmt::Display for TurnDetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TurnDetectorKind {
    type Err = String;

    /// Parses `smart_turn` or `silence` (case-insensitive, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "smart_turn" => Ok(Self::SmartTurn),
            "silence" => Ok(Self::Silence),
            other => Err(format!(
                "unknown turn detector {other:?}: expected \"smart_turn\" or \"silence\""
            )),
        }
    }
}

/// The rule's settings (see the module docs for how they combine).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnRuleConfig {
    /// Which rule (`TURN_DETECTOR`).
    pub detector: TurnDetectorKind,
    /// `silence` rule: the pause that ends the turn (`VAD_END_OF_TURN_SILENCE_MS`).
    pub silence: Duration,
    /// Pause before Smart Turn runs (`TURN_PROBE_SILENCE_MS`).
    pub probe_after: Duration,
    /// Weight of the text signal in the combined probability, `0..=1` (`TURN_TEXT_WEIGHT`).
    pub text_weight: f32,
    /// Combined probability that ends the turn (`TURN_COMPLETE_THRESHOLD`).
    pub complete_threshold: f32,
    /// How long after the audio verdict the text signal is waited for (`TURN_TEXT_WAIT_MS`).
    pub text_wait: Duration,
    /// Smart Turn's probability that ends the turn when no text signal came
    /// (`TURN_AUDIO_ONLY_THRESHOLD`).
    pub audio_only_threshold: f32,
    /// The longest pause before the turn ends whatever the models say (`TURN_MAX_SILENCE_MS`).
    pub max_silence: Duration,
}

impl Default for TurnRuleConfig {
    /// Starting values; `turn_eval` (inference/engines/examples) measures them on recorded speech
    /// and writes docs/benchmarks/turn.md.
    fn default() -> Self {
        Self {
            detector: TurnDetectorKind::SmartTurn,
            silence: Duration::from_millis(600),
            probe_after: Duration::from_millis(200),
            text_weight: 0.5,
            complete_threshold: 0.5,
            text_wait: Duration::from_millis(1000),
            audio_only_threshold: 0.9,
            max_silence: Duration::from_millis(2000),
        }
    }
}

impl TurnRuleConfig {
    /// The fixed-silence rule with `silence` (today's behaviour).
    pub fn silence(silence: Duration) -> Self {
        Self {
            detector: TurnDetectorKind::Silence,
            silence,
            ..Self::default()
        }
    }

    /// Checks the values: probabilities and the weight in `0..=1`, `probe_after` shorter than
    /// `max_silence`.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("text weight", self.text_weight),
            ("complete threshold", self.complete_threshold),
            ("audio-only threshold", self.audio_only_threshold),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("turn {name} must be in 0..=1, got {value}"));
            }
        }
        if self.probe_after >= self.max_silence {
            return Err(format!(
                "turn probe silence ({} ms) must be shorter than the maximum silence ({} ms)",
                self.probe_after.as_millis(),
                self.max_silence.as_millis()
            ));
        }
        Ok(())
    }

    /// The combined probability of the two signals.
    pub fn combined(&self, audio: f32, text: f32) -> f32 {
        self.text_weight * text + (1.0 - self.text_weight) * audio
    }
}

/// Something the caller observed, fed to [`TurnDetector::handle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TurnInput {
    /// The user is speaking (a voiced VAD frame): any pause is over.
    Voice,
    /// The VAD sees silence after speech; the last voiced audio ended at `since`. Repeating it
    /// for the same pause changes nothing.
    Silence {
        /// End of the last voiced audio: the pause's identity in the other inputs.
        since: Instant,
    },
    /// Smart Turn's P(complete), asked for by [`TurnAction::RunAudioModel`].
    AudioProbability {
        /// The pause it was asked for.
        pause: Instant,
        /// P(complete), `0..=1`.
        probability: f32,
    },
    /// The LLM's P(end of the user's message) after the transcript of the audio up to `pause`.
    TextProbability {
        /// The pause the transcript ends at.
        pause: Instant,
        /// P(end of turn), `0..=1`.
        probability: f32,
    },
    /// No text signal will come for this pause (a remote LLM computes none, or the LLM was
    /// busy): the audio decides alone at once, against the stricter threshold.
    NoText {
        /// The pause it was asked for.
        pause: Instant,
    },
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Audio and text together said complete.
    Complete,
    /// Smart Turn was sure and the text signal did not come in time.
    AudioOnly,
    /// The pause reached `max_silence`.
    MaxSilence,
    /// The `silence` rule's fixed pause.
    Silence,
}

impl EndReason {
    /// A label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::AudioOnly => "audio_only",
            Self::MaxSilence => "max_silence",
            Self::Silence => "silence",
        }
    }
}

/// What the caller must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnAction {
    /// Run Smart Turn on the turn's audio up to now (trailing silence included) and report
    /// [`TurnInput::AudioProbability`] for `pause`.
    RunAudioModel {
        /// The pause to report it for.
        pause: Instant,
    },
    /// The user's turn is over.
    EndOfTurn {
        /// End of the last voiced audio (the pause's start).
        last_voice: Instant,
        /// Which part of the rule ended it.
        reason: EndReason,
    },
}

/// What is known about the current pause.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pause {
    since: Instant,
    audio_requested: bool,
    /// Smart Turn's answer and when it arrived.
    audio: Option<(f32, Instant)>,
    text: Option<f32>,
    /// The text signal will not come.
    no_text: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// No pause to judge: the user is speaking, or has not spoken since the last turn ended.
    Quiet,
    /// Speech was heard since the last end of turn.
    Speaking,
    /// A pause after speech.
    Paused(Pause),
}

/// One session's end-of-turn detector.
#[derive(Debug, Clone)]
pub struct TurnDetector {
    config: TurnRuleConfig,
    state: State,
}

impl TurnDetector {
    /// A detector waiting for speech.
    pub fn new(config: TurnRuleConfig) -> Self {
        Self {
            config,
            state: State::Quiet,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &TurnRuleConfig {
        &self.config
    }

    /// When the current pause began, if one is being judged.
    pub fn pause_since(&self) -> Option<Instant> {
        match self.state {
            State::Paused(pause) => Some(pause.since),
            _ => None,
        }
    }

    /// Applies an observation. Results for another pause than the current one are ignored.
    pub fn handle(&mut self, now: Instant, input: TurnInput) {
        match (input, &mut self.state) {
            (TurnInput::Voice, _) => self.state = State::Speaking,
            (TurnInput::Silence { since }, State::Speaking) => {
                self.state = State::Paused(Pause {
                    since,
                    audio_requested: false,
                    audio: None,
                    text: None,
                    no_text: false,
                });
            }
            (TurnInput::Silence { since }, State::Paused(pause)) if pause.since != since => {
                // A new pause without the voice in between being reported: judge it afresh.
                *pause = Pause {
                    since,
                    audio_requested: false,
                    audio: None,
                    text: None,
                    no_text: false,
                };
            }
            (
                TurnInput::AudioProbability {
                    pause: at,
                    probability,
                },
                State::Paused(pause),
            ) if pause.since == at => pause.audio = Some((clamp(probability), now)),
            (
                TurnInput::TextProbability {
                    pause: at,
                    probability,
                },
                State::Paused(pause),
            ) if pause.since == at => pause.text = Some(clamp(probability)),
            (TurnInput::NoText { pause: at }, State::Paused(pause)) if pause.since == at => {
                pause.no_text = true;
            }
            _ => {}
        }
    }

    /// The next action due at `now`, if any. Call until it returns `None`.
    pub fn poll(&mut self, now: Instant) -> Option<TurnAction> {
        let State::Paused(pause) = &mut self.state else {
            return None;
        };
        let config = &self.config;
        let since = pause.since;
        let elapsed = now.saturating_duration_since(since);
        let reason = match config.detector {
            TurnDetectorKind::Silence => (elapsed >= config.silence).then_some(EndReason::Silence),
            TurnDetectorKind::SmartTurn => {
                if !pause.audio_requested && elapsed >= config.probe_after {
                    pause.audio_requested = true;
                    return Some(TurnAction::RunAudioModel { pause: since });
                }
                if elapsed >= config.max_silence {
                    Some(EndReason::MaxSilence)
                } else {
                    match (pause.audio, pause.text) {
                        (Some((audio, _)), Some(text)) => (config.combined(audio, text)
                            >= config.complete_threshold)
                            .then_some(EndReason::Complete),
                        (Some((audio, arrived)), None) => ((pause.no_text
                            || now >= arrived + config.text_wait)
                            && audio >= config.audio_only_threshold)
                            .then_some(EndReason::AudioOnly),
                        _ => None,
                    }
                }
            }
        };
        let reason = reason?;
        self.state = State::Quiet;
        Some(TurnAction::EndOfTurn {
            last_voice: since,
            reason,
        })
    }

    /// When [`TurnDetector::poll`] should be called next even if nothing is fed in: `None`
    /// while no pause is being judged (or while waiting only for a model's answer).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let State::Paused(pause) = &self.state else {
            return None;
        };
        let config = &self.config;
        match config.detector {
            TurnDetectorKind::Silence => Some(pause.since + config.silence),
            TurnDetectorKind::SmartTurn => {
                let mut next = pause.since + config.max_silence;
                if !pause.audio_requested {
                    next = next.min(pause.since + config.probe_after);
                }
                // The end of the text wait matters only to a verdict sure enough to end the turn
                // alone; for any other it would be a deadline left in the past, polled in a loop.
                if let (Some((audio, arrived)), None, false) =
                    (pause.audio, pause.text, pause.no_text)
                    && audio >= config.audio_only_threshold
                {
                    next = next.min(arrived + config.text_wait);
                }
                Some(next)
            }
        }
    }

    /// Forgets the current pause and speech (a barge-in handled elsewhere, a new stream).
    pub fn reset(&mut self) {
        self.state = State::Quiet;
    }
}

/// Probabilities outside `0..=1` (or NaN) from a misbehaving model count as "not sure".
fn clamp(probability: f32) -> f32 {
    if probability.is_nan() {
        0.0
    } else {
        probability.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_unsure_verdict_waiting_for_the_text_is_next_polled_at_the_longest_pause() {
        let config = TurnRuleConfig::default();
        let (mut detector, _, since) = paused(config);
        let probed = since + config.probe_after;
        assert_eq!(
            detector.poll(probed),
            Some(TurnAction::RunAudioModel { pause: since })
        );
        let arrived = probed + ms(40);
        detector.handle(
            arrived,
            TurnInput::AudioProbability {
                pause: since,
                probability: 0.3,
            },
        );
        // The text wait ends and changes nothing for an unsure verdict, so it is no deadline:
        // one left in the past would have the caller poll in a busy loop.
        let after_wait = arrived + config.text_wait + ms(10);
        assert_eq!(detector.poll(after_wait), None);
        assert_eq!(detector.poll_timeout(), Some(since + config.max_silence));

        // A sure verdict does end the turn at the end of the text wait.
        let (mut detector, _, since) = paused(config);
        let probed = since + config.probe_after;
        let arrived = probed + ms(40);
        detector.poll(probed);
        detector.handle(
            arrived,
            TurnInput::AudioProbability {
                pause: since,
                probability: 0.95,
            },
        );
        assert_eq!(detector.poll_timeout(), Some(arrived + config.text_wait));
        assert_eq!(
            detector.poll(arrived + config.text_wait),
            Some(TurnAction::EndOfTurn {
                last_voice: since,
                reason: EndReason::AudioOnly
            })
        );
    }

    /// A detector with speech heard and a pause starting at `t0 + 1 s`.
    fn paused(config: TurnRuleConfig) -> (TurnDetector, Instant, Instant) {
        let t0 = Instant::now();
        let since = t0 + ms(1000);
        let mut detector = TurnDetector::new(config);
        detector.handle(t0, TurnInput::Voice);
        detector.handle(since + ms(32), TurnInput::Silence { since });
        (detector, t0, since)
    }

    /// Polls every 10 ms of virtual time from `from` to `until`, collecting actions with the
    /// time they came out; stops after an end of turn.
    fn run(
        detector: &mut TurnDetector,
        from: Instant,
        until: Instant,
        mut feed: impl FnMut(&mut TurnDetector, Instant, &TurnAction),
    ) -> Vec<(Duration, TurnAction)> {
        let mut out = Vec::new();
        let mut now = from;
        while now <= until {
            while let Some(action) = detector.poll(now) {
                out.push((now - from, action));
                feed(detector, now, &action);
                if matches!(action, TurnAction::EndOfTurn { .. }) {
                    return out;
                }
            }
            now += ms(10);
        }
        out
    }

    fn end_reason(actions: &[(Duration, TurnAction)]) -> Option<(Duration, EndReason)> {
        actions.iter().find_map(|(at, a)| match a {
            TurnAction::EndOfTurn { reason, .. } => Some((*at, *reason)),
            _ => None,
        })
    }

    #[test]
    fn silence_rule_ends_after_the_fixed_pause_without_models() {
        let (mut detector, _, since) = paused(TurnRuleConfig::silence(ms(600)));
        assert_eq!(detector.poll_timeout(), Some(since + ms(600)));
        let actions = run(&mut detector, since, since + ms(3000), |_, _, _| {});
        assert_eq!(actions.len(), 1, "no model run: {actions:?}");
        assert_eq!(end_reason(&actions), Some((ms(600), EndReason::Silence)));
        assert_eq!(
            actions[0].1,
            TurnAction::EndOfTurn {
                last_voice: since,
                reason: EndReason::Silence
            }
        );
        assert_eq!(detector.poll_timeout(), None, "turn over");
    }

    #[test]
    fn both_signals_complete_end_the_turn_as_soon_as_the_text_arrives() {
        let (mut detector, _, since) = paused(TurnRuleConfig::default());
        assert_eq!(detector.poll_timeout(), Some(since + ms(200)));
        let actions = run(&mut detector, since, since + ms(3000), |d, now, action| {
            if let TurnAction::RunAudioModel { pause } = *action {
                // The model answers 50 ms later, the text signal 250 ms after that.
                d.handle(
                    now + ms(50),
                    TurnInput::AudioProbability {
                        pause,
                        probability: 0.9,
                    },
                );
                d.handle(
                    now + ms(300),
                    TurnInput::TextProbability {
                        pause,
                        probability: 0.8,
                    },
                );
            }
        });
        assert_eq!(
            actions[0],
            (ms(200), TurnAction::RunAudioModel { pause: since })
        );
        // Both were fed at the probe in this harness, so the end comes at the same poll.
        assert_eq!(end_reason(&actions), Some((ms(200), EndReason::Complete)));
    }

    #[test]
    fn audio_that_sounds_finished_does_not_end_a_sentence_the_text_says_goes_on() {
        // JFK after "And so my fellow Americans,": Smart Turn 0.97, the words are unfinished.
        let (mut detector, _, since) = paused(TurnRuleConfig::default());
        let actions = run(&mut detector, since, since + ms(5000), |d, now, action| {
            if let TurnAction::RunAudioModel { pause } = *action {
                d.handle(
                    now,
                    TurnInput::AudioProbability {
                        pause,
                        probability: 0.97,
                    },
                );
                d.handle(
                    now,
                    TurnInput::TextProbability {
                        pause,
                        probability: 0.01,
                    },
                );
            }
        });
        assert_eq!(
            end_reason(&actions),
            Some((ms(2000), EndReason::MaxSilence))
        );
    }

    #[test]
    fn voice_coming_back_cancels_the_pause_and_its_verdicts() {
        let (mut detector, _, since) = paused(TurnRuleConfig::default());
        assert_eq!(
            detector.poll(since + ms(200)),
            Some(TurnAction::RunAudioModel { pause: since })
        );
        detector.handle(since + ms(400), TurnInput::Voice);
        // A verdict for the old pause arriving late is ignored...
        detector.handle(
            since + ms(450),
            TurnInput::AudioProbability {
                pause: since,
                probability: 1.0,
            },
        );
        detector.handle(
            since + ms(450),
            TurnInput::TextProbability {
                pause: since,
                probability: 1.0,
            },
        );
        assert_eq!(detector.poll(since + ms(500)), None);
        assert_eq!(detector.poll_timeout(), None, "speaking: nothing to time");
        // ...and a new pause is judged from its own start.
        let second = since + ms(1500);
        detector.handle(second, TurnInput::Silence { since: second });
        assert_eq!(detector.poll(second + ms(199)), None);
        assert_eq!(
            detector.poll(second + ms(200)),
            Some(TurnAction::RunAudioModel { pause: second })
        );
        assert_eq!(detector.poll(second + ms(1999)), None);
        assert_eq!(
            detector.poll(second + ms(2000)),
            Some(TurnAction::EndOfTurn {
                last_voice: second,
                reason: EndReason::MaxSilence
            })
        );
    }

    #[test]
    fn sure_audio_decides_alone_when_the_text_does_not_come() {
        let config = TurnRuleConfig::default();
        let (mut detector, _, since) = paused(config);
        let actions = run(&mut detector, since, since + ms(5000), |d, now, action| {
            if let TurnAction::RunAudioModel { pause } = *action {
                d.handle(
                    now,
                    TurnInput::AudioProbability {
                        pause,
                        probability: 0.95,
                    },
                );
            }
        });
        assert_eq!(
            end_reason(&actions),
            Some((config.probe_after + config.text_wait, EndReason::AudioOnly))
        );
        // Unsure audio without text waits for the maximum.
        let (mut detector, _, since) = paused(config);
        let actions = run(&mut detector, since, since + ms(5000), |d, now, action| {
            if let TurnAction::RunAudioModel { pause } = *action {
                d.handle(
                    now,
                    TurnInput::AudioProbability {
                        pause,
                        probability: 0.6,
                    },
                );
            }
        });
        assert_eq!(
            end_reason(&actions),
            Some((config.max_silence, EndReason::MaxSilence))
        );
    }

    #[test]
    fn when_no_text_will_come_sure_audio_decides_without_waiting() {
        let config = TurnRuleConfig::default();
        let (mut detector, _, since) = paused(config);
        let actions = run(&mut detector, since, since + ms(5000), |d, now, action| {
            if let TurnAction::RunAudioModel { pause } = *action {
                d.handle(now, TurnInput::NoText { pause });
                d.handle(
                    now,
                    TurnInput::AudioProbability {
                        pause,
                        probability: 0.95,
                    },
                );
            }
        });
        assert_eq!(
            end_reason(&actions),
            Some((config.probe_after, EndReason::AudioOnly))
        );
        assert_eq!(detector.poll_timeout(), None);
    }

    #[test]
    fn the_turn_always_ends_even_when_no_model_answers() {
        let (mut detector, _, since) = paused(TurnRuleConfig::default());
        let actions = run(&mut detector, since, since + ms(10_000), |_, _, _| {});
        assert_eq!(
            end_reason(&actions),
            Some((ms(2000), EndReason::MaxSilence))
        );
        let requests = actions
            .iter()
            .filter(|(_, a)| matches!(a, TurnAction::RunAudioModel { .. }))
            .count();
        assert_eq!(requests, 1, "the model is asked once per pause");
    }

    #[test]
    fn poll_timeout_names_each_deadline_in_turn() {
        let config = TurnRuleConfig::default();
        let (mut detector, _, since) = paused(config);
        assert_eq!(detector.poll_timeout(), Some(since + config.probe_after));
        let probe = since + config.probe_after;
        assert!(matches!(
            detector.poll(probe),
            Some(TurnAction::RunAudioModel { .. })
        ));
        assert_eq!(detector.poll_timeout(), Some(since + config.max_silence));
        let answered = probe + ms(40);
        detector.handle(
            answered,
            TurnInput::AudioProbability {
                pause: since,
                probability: 0.95,
            },
        );
        assert_eq!(
            detector.poll_timeout(),
            Some((answered + config.text_wait).min(since + config.max_silence))
        );
    }

    #[test]
    fn nothing_happens_before_speech_or_after_the_turn_ended() {
        let t0 = Instant::now();
        let mut detector = TurnDetector::new(TurnRuleConfig::default());
        detector.handle(t0, TurnInput::Silence { since: t0 });
        assert_eq!(detector.poll(t0 + ms(10_000)), None, "no speech yet");
        detector.handle(t0, TurnInput::Voice);
        detector.handle(
            t0 + ms(100),
            TurnInput::Silence {
                since: t0 + ms(100),
            },
        );
        detector.handle(
            t0 + ms(100),
            TurnInput::Silence {
                since: t0 + ms(100),
            },
        );
        let actions = run(&mut detector, t0, t0 + ms(10_000), |_, _, _| {});
        assert_eq!(actions.len(), 2, "{actions:?}");
        // The same silence reported again after the end does not start another turn.
        detector.handle(
            t0 + ms(3000),
            TurnInput::Silence {
                since: t0 + ms(100),
            },
        );
        assert_eq!(detector.poll(t0 + ms(20_000)), None);
    }

    #[test]
    fn out_of_range_probabilities_are_clamped() {
        let (mut detector, _, since) = paused(TurnRuleConfig::default());
        detector.poll(since + ms(200));
        detector.handle(
            since + ms(200),
            TurnInput::AudioProbability {
                pause: since,
                probability: f32::NAN,
            },
        );
        detector.handle(
            since + ms(200),
            TurnInput::TextProbability {
                pause: since,
                probability: 7.0,
            },
        );
        // combined = 0.5 * 1.0 + 0.5 * 0.0 = 0.5: at the threshold.
        assert!(matches!(
            detector.poll(since + ms(210)),
            Some(TurnAction::EndOfTurn {
                reason: EndReason::Complete,
                ..
            })
        ));
    }

    #[test]
    fn config_validation_and_names() {
        assert!(TurnRuleConfig::default().validate().is_ok());
        let bad = TurnRuleConfig {
            text_weight: 1.5,
            ..TurnRuleConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("1.5"));
        let bad = TurnRuleConfig {
            probe_after: ms(3000),
            ..TurnRuleConfig::default()
        };
        assert!(bad.validate().is_err());
        for kind in [TurnDetectorKind::SmartTurn, TurnDetectorKind::Silence] {
            assert_eq!(kind.to_string().parse::<TurnDetectorKind>(), Ok(kind));
        }
        assert_eq!(
            " Smart_Turn ".parse::<TurnDetectorKind>(),
            Ok(TurnDetectorKind::SmartTurn)
        );
        assert!("livekit".parse::<TurnDetectorKind>().is_err());
    }
}
