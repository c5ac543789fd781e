//! An answer started while the turn detector is still judging a pause (preemptive generation,
//! as LiveKit Agents calls it), sans-IO.
//!
//! When the models doubt that the user has finished, the turn stays open until the longest
//! pause (`TURN_MAX_SILENCE_MS`). Most of those turns do end there, so the session asks the LLM
//! for the answer at once, with exactly the epoch and history the conversation will ask with
//! if the turn ends with the words heard so far. What the LLM sends is held here, unheard. When
//! the conversation then asks for that very request, the held answer stands in for it: its
//! tokens are replayed and the rest streams on, so the user does not wait for the first clause
//! to be generated. Anything else (the voice comes back, other words, a barge-in, a failure)
//! throws it away, and the session counts what was wasted.

use crate::conversation::ChatTurn;
use crate::llm::LlmEvent;

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
}

impl PreemptiveAnswer {
    /// An answer to `history`, asked with the LLM epoch `epoch`.
    pub fn new(epoch: u32, history: Vec<ChatTurn>) -> Self {
        Self {
            epoch,
            history,
            held: Vec::new(),
            ended: false,
        }
    }

    /// Whether LLM events tagged `epoch` are this answer's.
    pub fn is_for(&self, epoch: u32) -> bool {
        self.epoch == epoch
    }

    /// Holds the next event of its LLM stream (`None`: the stream ended). Returns false when
    /// the answer is worthless (the request failed or ended without finishing): the real turn
    /// must ask again.
    pub fn hold(&mut self, event: Option<LlmEvent>) -> bool {
        match event {
            Some(LlmEvent::Token(text)) => self.held.push(LlmEvent::Token(text)),
            Some(LlmEvent::Done(stats)) => {
                self.held.push(LlmEvent::Done(stats));
                self.ended = true;
            }
            Some(LlmEvent::Error(_)) | None => {
                self.ended = true;
                return false;
            }
        }
        true
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

    /// The events received so far, in order, to replay as the real request's.
    pub fn into_events(self) -> Vec<LlmEvent> {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Speaker;
    use crate::llm::LlmError;

    fn history(text: &str) -> Vec<ChatTurn> {
        vec![ChatTurn {
            speaker: Speaker::User,
            text: text.into(),
        }]
    }

    #[test]
    fn it_answers_only_the_same_epoch_and_the_same_words() {
        let answer = PreemptiveAnswer::new(3, history("what time is it"));
        assert!(answer.answers(3, &history("what time is it")));
        assert!(!answer.answers(3, &history("what time is it in Paris")));
        assert!(!answer.answers(4, &history("what time is it")));
    }

    #[test]
    fn it_holds_tokens_in_order_and_a_failure_makes_it_worthless() {
        let mut answer = PreemptiveAnswer::new(1, history("hi"));
        assert!(answer.hold(Some(LlmEvent::Token("Hello".into()))));
        assert!(answer.hold(Some(LlmEvent::Token(" there".into()))));
        assert_eq!(answer.tokens(), 2);
        assert!(answer.running());
        let texts: Vec<String> = answer
            .into_events()
            .into_iter()
            .map(|e| match e {
                LlmEvent::Token(t) => t,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(texts, ["Hello", " there"]);

        let mut failed = PreemptiveAnswer::new(1, history("hi"));
        assert!(!failed.hold(Some(LlmEvent::Error(LlmError::Failed("refused".into())))));
        assert!(!failed.running(), "nothing left to stop");
        let mut cut = PreemptiveAnswer::new(1, history("hi"));
        assert!(
            !cut.hold(None),
            "a stream that ends without Done is no answer"
        );
    }
}
