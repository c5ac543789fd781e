//! The per-session conversation state machine: turn-taking, barge-in, epochs, history.
//!
//! Sans-IO (the str0m pattern): it never reads a clock, touches a socket or runs a model. The
//! session driver feeds it [`Input`]s with the current time, then drains [`Command`]s with
//! [`Conversation::poll`] and carries them out; [`Conversation::poll_timeout`] says when to call
//! [`Conversation::handle_timeout`]. Tests drive it in virtual time.
//!
//! Barge-in in two steps, so a cough never cuts the assistant off and a real interruption stops
//! it within one packet: the first voiced VAD frame while the assistant speaks *pauses* its
//! audio (nothing is dropped); if the speech is confirmed (it lasts `BARGE_IN_MIN_SPEECH_MS`)
//! the turn is interrupted: a new epoch, queues cleared, LLM cancelled, and the assistant's
//! message in the history cut to the text whose audio was sent. If it is not confirmed in time
//! the audio resumes where it paused.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::clause::{ClauseSplitter, SplitterConfig};
use goassist_protocol::events::{ServerEvent, TurnState};

/// Who said a line of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The person.
    User,
    /// The assistant.
    Assistant,
}

/// One line of the conversation history (the system prompt is added by the LLM service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTurn {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said (for the assistant: what was heard).
    pub text: String,
}

/// Latencies the machine measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// End-of-turn decision → first assistant audio packet sent.
    Ttfa,
    /// Last user speech sample → first assistant audio packet sent.
    VoiceToVoice,
    /// User speech onset → assistant audio stopped.
    BargeIn,
}

/// Something that happened, fed to the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A voiced VAD frame after silence, not yet confirmed as speech.
    VoiceOnset {
        /// When the voiced audio arrived.
        at: Instant,
    },
    /// Speech confirmed (it lasted the minimum speech duration).
    SpeechStart {
        /// When its first voiced audio arrived.
        onset_at: Instant,
    },
    /// The user's turn ended after enough silence.
    SpeechEnd {
        /// When the last voiced audio arrived.
        last_speech_at: Instant,
    },
    /// A hypothesis of what the user is saying.
    PartialTranscript(String),
    /// The end-of-turn transcript of the last utterance.
    FinalTranscript(String),
    /// Typed user input (data channel): a whole user turn at once.
    UserText(String),
    /// Text streamed by the LLM.
    LlmToken {
        /// The turn it belongs to.
        epoch: u32,
        /// The text.
        text: String,
    },
    /// The LLM finished the answer.
    LlmDone {
        /// The turn.
        epoch: u32,
    },
    /// The LLM could not answer (down, crashed, timed out).
    LlmFailed {
        /// The turn.
        epoch: u32,
        /// Why, in words for the user's client: the error event's message (the server's own
        /// detail stays in the log).
        reason: String,
    },
    /// A clause's audio was synthesized and queued for sending.
    ClauseQueued {
        /// The turn.
        epoch: u32,
        /// Index of the clause within the turn.
        clause: usize,
        /// Its length in 48 kHz samples.
        samples: usize,
        /// Where it starts on the outgoing audio clock.
        start_pos: u64,
    },
    /// A clause could not be synthesized; it is skipped.
    ClauseFailed {
        /// The turn.
        epoch: u32,
        /// Index of the clause.
        clause: usize,
    },
    /// An audio packet of a clause left the server.
    AudioSent {
        /// The turn.
        epoch: u32,
        /// Index of the clause.
        clause: usize,
        /// Samples in the packet.
        samples: usize,
        /// When it was sent.
        at: Instant,
    },
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send an event on the data channel.
    Event(ServerEvent),
    /// Hold the assistant's audio where it is (possible barge-in).
    PauseAudio,
    /// Continue the held audio (it was not a barge-in).
    ResumeAudio,
    /// Drop all queued audio and work of older epochs; nothing older than `new_epoch` may be sent.
    Interrupt {
        /// The epoch from now on.
        new_epoch: u32,
    },
    /// Transcribe the utterance that just ended and feed back `FinalTranscript`.
    RunFinalAsr,
    /// Ask the LLM for an answer to the history; feed back `LlmToken`/`LlmDone`/`LlmFailed`.
    StartLlm {
        /// The turn.
        epoch: u32,
        /// The conversation so far, ending with the user's line.
        history: Vec<ChatTurn>,
    },
    /// Stop the LLM generation in flight.
    CancelLlm,
    /// Synthesize a clause and queue its audio; feed back `ClauseQueued` or `ClauseFailed`.
    Synthesize {
        /// The turn.
        epoch: u32,
        /// Index of the clause within the turn (the audio marker).
        clause: usize,
        /// The text to speak.
        text: String,
    },
    /// Record a latency.
    Observe {
        /// Which latency.
        metric: Metric,
        /// Seconds.
        seconds: f64,
    },
}

/// What the machine needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a paused assistant waits for speech to be confirmed before resuming. Should be
    /// a little above BARGE_IN_MIN_SPEECH_MS, since confirmation needs that much speech.
    pub pause_confirm_window: Duration,
    /// Spoken when the LLM is unavailable.
    pub unavailable_line: String,
    /// Where clauses end.
    pub splitter: SplitterConfig,
}

impl Settings {
    /// Settings for a minimum barge-in speech duration.
    pub fn new(barge_in_min_speech: Duration) -> Self {
        Settings {
            pause_confirm_window: barge_in_min_speech + Duration::from_millis(150),
            unavailable_line: UNAVAILABLE_LINE.to_string(),
            splitter: SplitterConfig::default(),
        }
    }
}

/// The explicit line spoken when the language model is down.
pub const UNAVAILABLE_LINE: &str =
    "Sorry, the service is unavailable right now. Please try again in a moment.";

#[derive(Debug)]
struct Clause {
    text: String,
    /// Samples queued; `None` until synthesized.
    total: Option<usize>,
    sent: usize,
    start_pos: u64,
    announced: bool,
}

/// Ends the transcript of an answer that broke off mid-sentence with "…", so that the line
/// spoken after it does not read as its continuation ("…a young man Sorry, the service…").
fn mark_broken_off(text: &mut String) {
    let cut = text
        .trim_end()
        .trim_end_matches([',', ';', ':', '-', '\u{2014}'])
        .trim_end();
    if !cut.ends_with(['.', '!', '?', '\u{2026}']) {
        *text = format!("{cut}\u{2026}");
    }
}

#[derive(Debug)]
struct AssistantTurn {
    epoch: u32,
    clauses: Vec<Clause>,
    llm_done: bool,
    audio_started: bool,
    /// The answer is the "service unavailable" line: it is not added to the history.
    unavailable: bool,
}

impl AssistantTurn {
    /// The text whose audio was sent: whole clauses, then the share of words of a clause that
    /// was cut, rounded down.
    fn heard_text(&self) -> String {
        let mut heard: Vec<&str> = Vec::new();
        for clause in &self.clauses {
            let Some(total) = clause.total.filter(|t| *t > 0) else {
                break;
            };
            let words: Vec<&str> = clause.text.split_whitespace().collect();
            if clause.sent >= total {
                heard.extend(words);
            } else {
                let n = words.len() * clause.sent / total;
                heard.extend(&words[..n]);
                break;
            }
        }
        heard.join(" ")
    }

    fn spoken_text(&self) -> String {
        self.clauses
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn finished(&self) -> bool {
        self.llm_done
            && self
                .clauses
                .iter()
                .all(|c| c.total.is_some_and(|t| c.sent >= t))
    }
}

/// One session's conversation.
#[derive(Debug)]
pub struct Conversation {
    settings: Settings,
    state: TurnState,
    epoch: u32,
    history: Vec<ChatTurn>,
    splitter: ClauseSplitter,
    turn: Option<AssistantTurn>,
    /// User text of this turn not answered yet (several utterances can make one turn).
    pending_user: String,
    end_of_turn_at: Option<Instant>,
    last_speech_at: Option<Instant>,
    /// (onset of the voice that paused the audio, when it paused).
    paused: Option<(Instant, Instant)>,
    out: VecDeque<Command>,
}

impl Conversation {
    /// A new conversation, listening.
    pub fn new(settings: Settings) -> Self {
        Conversation {
            splitter: ClauseSplitter::new(settings.splitter),
            settings,
            state: TurnState::Listening,
            epoch: 0,
            history: Vec::new(),
            turn: None,
            pending_user: String::new(),
            end_of_turn_at: None,
            last_speech_at: None,
            paused: None,
            out: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> TurnState {
        self.state
    }

    /// The current epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The conversation history as the LLM sees it.
    pub fn history(&self) -> &[ChatTurn] {
        &self.history
    }

    /// How answers are cut into clauses.
    pub fn splitter_config(&self) -> SplitterConfig {
        self.settings.splitter
    }

    /// What the next [`Command::StartLlm`] will carry if the user's turn ends with `words`
    /// and nothing else happens first: its epoch and history. A preemptive answer is asked
    /// with exactly these, so it can stand in for that request.
    pub fn next_turn(&self, words: &str) -> (u32, Vec<ChatTurn>) {
        let mut user = self.pending_user.clone();
        append_words(&mut user, words.trim());
        let mut history = self.history.clone();
        add_user_line(&mut history, user);
        (self.epoch + 1, history)
    }

    /// The next command to carry out.
    pub fn poll(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    /// When [`Conversation::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.paused
            .map(|(_, paused_at)| paused_at + self.settings.pause_confirm_window)
    }

    /// Time passed: resume audio paused by a voice that was never confirmed as speech.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, paused_at)) = self.paused
            && now >= paused_at + self.settings.pause_confirm_window
        {
            self.paused = None;
            self.out.push_back(Command::ResumeAudio);
        }
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::VoiceOnset { at } => {
                if self.state == TurnState::Speaking && self.paused.is_none() {
                    self.paused = Some((at, now));
                    self.out.push_back(Command::PauseAudio);
                }
            }
            Input::SpeechStart { onset_at } => match self.state {
                TurnState::Speaking | TurnState::Thinking => self.barge_in(now, Some(onset_at)),
                TurnState::Listening => self.set_state(TurnState::UserSpeaking),
                TurnState::UserSpeaking => {}
            },
            Input::SpeechEnd { last_speech_at } => {
                if self.state == TurnState::UserSpeaking {
                    self.end_of_turn_at = Some(now);
                    self.last_speech_at = Some(last_speech_at);
                    self.set_state(TurnState::Thinking);
                    self.out.push_back(Command::RunFinalAsr);
                }
            }
            Input::PartialTranscript(text) => {
                if self.state == TurnState::UserSpeaking && !text.trim().is_empty() {
                    self.event(ServerEvent::UserTranscript {
                        text,
                        is_final: false,
                    });
                }
            }
            Input::FinalTranscript(text) => {
                let text = text.trim().to_string();
                if !text.is_empty() {
                    self.event(ServerEvent::UserTranscript {
                        text: text.clone(),
                        is_final: true,
                    });
                    append_words(&mut self.pending_user, &text);
                }
                // Another utterance may already have begun; then the turn ends with it.
                if self.state == TurnState::Thinking && self.turn.is_none() {
                    if self.pending_user.is_empty() {
                        self.set_state(TurnState::Listening);
                    } else {
                        self.start_turn();
                    }
                }
            }
            Input::UserText(text) => {
                let text = text.trim().to_string();
                if text.is_empty() {
                    return;
                }
                if self.turn.is_some() {
                    self.barge_in(now, None);
                }
                self.event(ServerEvent::UserTranscript {
                    text: text.clone(),
                    is_final: true,
                });
                append_words(&mut self.pending_user, &text);
                self.end_of_turn_at = Some(now);
                self.last_speech_at = Some(now);
                self.set_state(TurnState::Thinking);
                self.start_turn();
            }
            Input::LlmToken { epoch, text } => {
                if self.is_current(epoch) {
                    let clauses = self
                        .splitter
                        .push(&text)
                        .into_iter()
                        .map(|c| c.text)
                        .collect();
                    self.add_clauses(clauses);
                }
            }
            Input::LlmDone { epoch } => {
                if self.is_current(epoch) {
                    let clauses = self.splitter.finish().into_iter().map(|c| c.text).collect();
                    self.add_clauses(clauses);
                    if let Some(turn) = &mut self.turn {
                        turn.llm_done = true;
                    }
                    self.finish_if_done();
                }
            }
            Input::LlmFailed { epoch, reason } => {
                if self.is_current(epoch) {
                    self.splitter.reset();
                    self.event(ServerEvent::Error {
                        code: "llm_unavailable".into(),
                        message: reason,
                    });
                    let line = self.settings.unavailable_line.clone();
                    if let Some(turn) = &mut self.turn {
                        turn.unavailable = true;
                        turn.llm_done = true;
                        if let Some(last) = turn.clauses.last_mut() {
                            mark_broken_off(&mut last.text);
                        }
                    }
                    self.add_clauses(vec![line]);
                }
            }
            Input::ClauseQueued {
                epoch,
                clause,
                samples,
                start_pos,
            } => {
                if let Some(c) = self.current_clause(epoch, clause) {
                    c.total = Some(samples);
                    c.start_pos = start_pos;
                }
                self.finish_if_done();
            }
            Input::ClauseFailed { epoch, clause } => {
                if let Some(c) = self.current_clause(epoch, clause) {
                    c.total = Some(0);
                }
                self.finish_if_done();
            }
            Input::AudioSent {
                epoch,
                clause,
                samples,
                at,
            } => self.audio_sent(epoch, clause, samples, at),
        }
    }

    fn audio_sent(&mut self, epoch: u32, clause: usize, samples: usize, at: Instant) {
        if !self.is_current(epoch) {
            return;
        }
        let first_packet = self.turn.as_ref().is_some_and(|t| !t.audio_started);
        if first_packet {
            if let Some(end) = self.end_of_turn_at {
                self.observe(Metric::Ttfa, at.saturating_duration_since(end));
            }
            if let Some(last) = self.last_speech_at {
                self.observe(Metric::VoiceToVoice, at.saturating_duration_since(last));
            }
            if let Some(turn) = &mut self.turn {
                turn.audio_started = true;
            }
            self.set_state(TurnState::Speaking);
        }
        let mut announce = None;
        if let Some(c) = self.current_clause(epoch, clause) {
            c.sent += samples;
            if !c.announced {
                c.announced = true;
                announce = Some(ServerEvent::AssistantText {
                    text: c.text.clone(),
                    epoch,
                    sample_pos: c.start_pos,
                });
            }
        }
        if let Some(event) = announce {
            self.event(event);
        }
        self.finish_if_done();
    }

    fn start_turn(&mut self) {
        self.epoch += 1;
        let text = std::mem::take(&mut self.pending_user);
        add_user_line(&mut self.history, text);
        self.splitter.reset();
        self.turn = Some(AssistantTurn {
            epoch: self.epoch,
            clauses: Vec::new(),
            llm_done: false,
            audio_started: false,
            unavailable: false,
        });
        self.out.push_back(Command::StartLlm {
            epoch: self.epoch,
            history: self.history.clone(),
        });
    }

    fn barge_in(&mut self, now: Instant, onset_at: Option<Instant>) {
        let Some(turn) = self.turn.take() else { return };
        let stopped_at = self.paused.take().map_or(now, |(_, paused_at)| paused_at);
        if let (Some(onset), true) = (onset_at, turn.audio_started) {
            self.observe(Metric::BargeIn, stopped_at.saturating_duration_since(onset));
        }
        let heard = turn.heard_text();
        self.epoch += 1;
        self.out.push_back(Command::Interrupt {
            new_epoch: self.epoch,
        });
        if !turn.llm_done {
            self.out.push_back(Command::CancelLlm);
        }
        self.splitter.reset();
        self.event(ServerEvent::Interrupted {
            epoch: turn.epoch,
            heard_text: heard.clone(),
        });
        if !heard.is_empty() && !turn.unavailable {
            self.history.push(ChatTurn {
                speaker: Speaker::Assistant,
                text: heard,
            });
        }
        self.set_state(if onset_at.is_some() {
            TurnState::UserSpeaking
        } else {
            TurnState::Thinking
        });
    }

    fn add_clauses(&mut self, clauses: Vec<String>) {
        let Some(turn) = &mut self.turn else { return };
        for text in clauses {
            let clause = turn.clauses.len();
            turn.clauses.push(Clause {
                text: text.clone(),
                total: None,
                sent: 0,
                start_pos: 0,
                announced: false,
            });
            self.out.push_back(Command::Synthesize {
                epoch: turn.epoch,
                clause,
                text,
            });
        }
    }

    fn finish_if_done(&mut self) {
        if !self.turn.as_ref().is_some_and(AssistantTurn::finished) {
            return;
        }
        let Some(turn) = self.turn.take() else { return };
        self.paused = None;
        let text = turn.spoken_text();
        if !turn.unavailable && !text.is_empty() {
            self.history.push(ChatTurn {
                speaker: Speaker::Assistant,
                text: text.clone(),
            });
        }
        self.event(ServerEvent::AssistantDone {
            text,
            epoch: turn.epoch,
        });
        if self.state != TurnState::UserSpeaking {
            self.set_state(TurnState::Listening);
        }
    }

    fn is_current(&self, epoch: u32) -> bool {
        self.turn.as_ref().is_some_and(|t| t.epoch == epoch)
    }

    fn current_clause(&mut self, epoch: u32, clause: usize) -> Option<&mut Clause> {
        self.turn
            .as_mut()
            .filter(|t| t.epoch == epoch)
            .and_then(|t| t.clauses.get_mut(clause))
    }

    fn set_state(&mut self, state: TurnState) {
        if self.state != state {
            self.state = state;
            self.event(ServerEvent::State {
                state,
                epoch: self.epoch,
            });
        }
    }

    fn event(&mut self, event: ServerEvent) {
        self.out.push_back(Command::Event(event));
    }

    fn observe(&mut self, metric: Metric, elapsed: Duration) {
        self.out.push_back(Command::Observe {
            metric,
            seconds: elapsed.as_secs_f64(),
        });
    }
}

/// Adds the user's line to the history.
fn add_user_line(history: &mut Vec<ChatTurn>, text: String) {
    match history.last_mut() {
        // Two user lines in a row (the previous answer was cut before any audio): one turn.
        Some(last) if last.speaker == Speaker::User => append_words(&mut last.text, &text),
        _ => history.push(ChatTurn {
            speaker: Speaker::User,
            text,
        }),
    }
}

fn append_words(into: &mut String, text: &str) {
    if !into.is_empty() && !text.is_empty() {
        into.push(' ');
    }
    into.push_str(text);
}
