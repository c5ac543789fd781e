//! An answer started while the turn detector is still judging a pause (preemptive generation,
//! as LiveKit Agents calls it), sans-IO.
//!
//! When the models doubt that the user has finished, the turn stays open until the longest
//! pause (`TURN_MAX_SILENCE_MS`). Most of those turns do end there, so the session asks the LLM
//! for the answer at once, with exactly the epoch and history the conversation will ask with
//! if the turn ends with the words heard so far. What the LLM sends is held here, unheard, and
//! its first clause (split as the conversation will split it) is synthesized ahead. When the
//! conversation then asks for that very request, the held answer stands in for it: its tokens
//! are replayed, the first clause's audio is already there or on its way, and the rest streams
//! on, so the user waits neither for the first clause to be generated nor for its speech.
//! Anything else (the voice comes back, other words, a barge-in, a failure) throws it away, and
//! the session counts what was wasted.

use crate::conversation::{ChatTurn, ClauseSplitter, SplitterConfig};
use crate::engine_pool::SynthesizedClause;
use crate::llm::LlmEvent;

/// The answer's first clause, synthesized ahead.
#[derive(Debug)]
pub struct FirstClause {
    /// Its text, as the conversation's splitter will cut it.
    pub text: String,
    /// Its speech, once synthesized.
    pub audio: Option<Result<SynthesizedClause, String>>,
}

/// What holding an event came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Held {
    /// Kept.
    Kept,
    /// Kept, and it completed the first clause: synthesize this text now.
    FirstClause(String),
    /// The request failed or ended without finishing: the answer is worthless, and the real
    /// turn must ask again.
    Worthless,
}

/// An answer asked for before the user's turn ended.
#[derive(Debug)]
pub struct PreemptiveAnswer {
    /// The epoch the conversation's own request would carry (the LLM events' tag).
    epoch: u32,
    /// The history that request would carry.
    history: Vec<ChatTurn>,
    /// The LLM's events so far, in order, held until the answer is used.
    held: Vec<LlmEvent>,
    /// Its LLM stream has ended (done, failed or gone).
    ended: bool,
    /// Finds the first clause in the held text.
    splitter: ClauseSplitter,
    /// The first clause, once the held text completes one.
    first_clause: Option<FirstClause>,
}

impl PreemptiveAnswer {
    /// An answer to `history`, asked with the LLM epoch `epoch`; its text is cut into clauses
    /// by `splitter`, the conversation's.
    pub fn new(epoch: u32, history: Vec<ChatTurn>, splitter: SplitterConfig) -> Self {
        Self {
            epoch,
            history,
            held: Vec::new(),
            ended: false,
            splitter: ClauseSplitter::new(splitter),
            first_clause: None,
        }
    }

    /// Whether LLM events tagged `epoch` are this answer's.
    pub fn is_for(&self, epoch: u32) -> bool {
        self.epoch == epoch
    }

    /// Holds the next event of its LLM stream (`None`: the stream ended).
    pub fn hold(&mut self, event: Option<LlmEvent>) -> Held {
        let clauses = match event {
            Some(LlmEvent::Token(text)) => {
                let clauses = match self.first_clause {
                    None => self.splitter.push(&text),
                    Some(_) => Vec::new(),
                };
                self.held.push(LlmEvent::Token(text));
                clauses
            }
            Some(LlmEvent::Done(stats)) => {
                self.held.push(LlmEvent::Done(stats));
                self.ended = true;
                match self.first_clause {
                    None => self.splitter.finish(),
                    Some(_) => Vec::new(),
                }
            }
            Some(LlmEvent::Error(_)) | None => {
                self.ended = true;
                return Held::Worthless;
            }
        };
        match clauses.into_iter().next() {
            Some(clause) => {
                self.first_clause = Some(FirstClause {
                    text: clause.text.clone(),
                    audio: None,
                });
                Held::FirstClause(clause.text)
            }
            None => Held::Kept,
        }
    }

    /// The first clause's speech came back.
    pub fn synthesized(&mut self, audio: Result<SynthesizedClause, String>) {
        if let Some(first) = &mut self.first_clause {
            first.audio = Some(audio);
        }
    }

    /// Whether a synthesis of its first clause is still on its way (throwing the answer away
    /// must drop it, or its audio could pass for the next answer's first clause).
    pub fn synthesizing(&self) -> bool {
        self.first_clause
            .as_ref()
            .is_some_and(|f| f.audio.is_none())
    }

    /// Whether it is the answer to a request for `history` tagged `epoch`: the same words,
    /// the same conversation. Nothing else may stand in for a request.
    pub fn answers(&self, epoch: u32, history: &[ChatTurn]) -> bool {
        self.epoch == epoch && self.history == history
    }

    /// Whether its LLM request is still running (throwing it away must stop it).
    pub fn running(&self) -> bool {
        !self.ended
    }

    /// Tokens received so far (the work thrown away if it is discarded).
    pub fn tokens(&self) -> usize {
        self.held
            .iter()
            .filter(|e| matches!(e, LlmEvent::Token(_)))
            .count()
    }

    /// The events received so far, in order, to replay as the real request's, and the first
    /// clause if one was synthesized ahead.
    pub fn into_parts(self) -> (Vec<LlmEvent>, Option<FirstClause>) {
        (self.held, self.first_clause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Speaker;
    use crate::llm::{LlmError, LlmStats};
    use std::time::Duration;

    fn answer(epoch: u32, text: &str) -> PreemptiveAnswer {
        let history = vec![ChatTurn {
            speaker: Speaker::User,
            text: text.into(),
        }];
        PreemptiveAnswer::new(epoch, history, SplitterConfig::default())
    }

    fn token(text: &str) -> Option<LlmEvent> {
        Some(LlmEvent::Token(text.into()))
    }

    #[test]
    fn it_answers_only_the_same_epoch_and_the_same_words() {
        let held = answer(3, "what time is it");
        assert!(held.answers(3, &answer(3, "what time is it").history));
        assert!(!held.answers(3, &answer(3, "what time is it in Paris").history));
        assert!(!held.answers(4, &answer(4, "what time is it").history));
    }

    #[test]
    fn it_holds_tokens_in_order_and_a_failure_makes_it_worthless() {
        let mut held = answer(1, "hi");
        assert_eq!(held.hold(token("Hello")), Held::Kept);
        assert_eq!(held.hold(token(" there")), Held::Kept);
        assert_eq!(held.tokens(), 2);
        assert!(held.running());
        let texts: Vec<String> = held
            .into_parts()
            .0
            .into_iter()
            .map(|e| match e {
                LlmEvent::Token(t) => t,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(texts, ["Hello", " there"]);

        let mut failed = answer(1, "hi");
        let error = LlmEvent::Error(LlmError::Failed("refused".into()));
        assert_eq!(failed.hold(Some(error)), Held::Worthless);
        assert!(!failed.running(), "nothing left to stop");
        let mut cut = answer(1, "hi");
        assert_eq!(
            cut.hold(None),
            Held::Worthless,
            "a stream that ends without Done is no answer"
        );
    }

    #[test]
    fn the_first_clause_is_found_once_as_the_conversation_will_cut_it() {
        let mut held = answer(1, "he was not an ill disposed young man");
        assert_eq!(held.hold(token("Then what")), Held::Kept);
        assert_eq!(
            held.hold(token(" was he, in")),
            Held::FirstClause("Then what was he,".into())
        );
        assert!(held.synthesizing());
        assert_eq!(
            held.hold(token(" your view? Tell")),
            Held::Kept,
            "only the first clause is synthesized ahead"
        );
        held.synthesized(Ok(SynthesizedClause {
            samples_48k: vec![0.5; 960],
            phonemes: vec![],
        }));
        assert!(!held.synthesizing());
        let (events, first) = held.into_parts();
        assert_eq!(events.len(), 3);
        let first = first.expect("a first clause");
        assert_eq!(first.text, "Then what was he,");
        assert!(matches!(first.audio, Some(Ok(_))));
    }

    #[test]
    fn a_short_answer_is_its_own_first_clause_when_it_finishes() {
        let mut held = answer(1, "hi");
        assert_eq!(held.hold(token("Hello!")), Held::Kept);
        let done = LlmEvent::Done(LlmStats {
            prompt_tokens: 10,
            reused_prompt_tokens: 0,
            generated_tokens: 1,
            queue_wait: Duration::ZERO,
            time_to_first_token: Duration::ZERO,
            total: Duration::ZERO,
        });
        assert_eq!(held.hold(Some(done)), Held::FirstClause("Hello!".into()));
        assert!(!held.running());
    }
}
