//! Chat messages and the ChatML prompt format, with history trimmed to the context budget.
//!
//! Both embedded models (Qwen2.5 and SmolLM2) declare ChatML in `tokenizer.chat_template`:
//! `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then `<|im_start|>assistant\n`.
//! Prompts are assembled as token ids: each text segment between control tokens is encoded on
//! its own, which is exactly how the reference tokenizer splits the rendered template.

use serde::{Deserialize, Serialize};

use super::tokenizer::{TokenId, Tokenizer};
use crate::EngineError;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name in chat templates and the OpenAI API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// The ChatML control tokens of a vocabulary.
#[derive(Debug, Clone)]
pub(crate) struct ChatMl {
    im_start: TokenId,
    im_end: TokenId,
}

/// A prompt ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Prompt {
    /// Token ids, ending with the assistant header.
    pub(crate) tokens: Vec<TokenId>,
    /// Oldest messages left out to fit the context budget.
    pub(crate) dropped_messages: usize,
}

impl ChatMl {
    /// Checks that the model's template is ChatML and finds its control tokens.
    pub(crate) fn new(tokenizer: &Tokenizer, template: Option<&str>) -> Result<Self, String> {
        if let Some(template) = template
            && !template.contains("<|im_start|>")
        {
            return Err("the model's chat template is not ChatML (no <|im_start|>)".into());
        }
        let find = |t: &str| {
            tokenizer
                .token_id(t)
                .ok_or_else(|| format!("the vocabulary has no {t} token"))
        };
        Ok(Self {
            im_start: find("<|im_start|>")?,
            im_end: find("<|im_end|>")?,
        })
    }

    /// `<|im_start|>role\ncontent<|im_end|>\n`
    pub(crate) fn message(
        &self,
        tokenizer: &Tokenizer,
        message: &ChatMessage,
    ) -> Result<Vec<TokenId>, EngineError> {
        let mut tokens = vec![self.im_start];
        tokens.extend(tokenizer.encode(&format!(
            "{}\n{}",
            message.role.as_str(),
            message.content
        ))?);
        tokens.push(self.im_end);
        tokens.extend(tokenizer.encode("\n")?);
        Ok(tokens)
    }

    /// `<|im_start|>assistant\n`: where the model starts answering.
    pub(crate) fn assistant_header(
        &self,
        tokenizer: &Tokenizer,
    ) -> Result<Vec<TokenId>, EngineError> {
        let mut tokens = vec![self.im_start];
        tokens.extend(tokenizer.encode("assistant\n")?);
        Ok(tokens)
    }

    /// Renders a conversation into at most `budget` tokens, ending with the assistant header.
    /// The system message (the request's own leading one, else `default_system`) is always
    /// kept; the oldest turns are dropped first, and the kept history always starts with a user
    /// message.
    pub(crate) fn prompt(
        &self,
        tokenizer: &Tokenizer,
        default_system: &str,
        messages: &[ChatMessage],
        budget: usize,
    ) -> Result<Prompt, EngineError> {
        self.render(
            tokenizer,
            default_system,
            messages,
            budget,
            Ending::AssistantHeader,
        )
    }

    /// Renders a conversation whose last message is the user's turn still in progress: that
    /// message is left open (no `<|im_end|>`, no assistant header), so the model's next token
    /// says whether the turn ends there. Its tokens are a prefix of [`ChatMl::prompt`]'s for the
    /// same words (up to how the last word is split), so the computed cache is reused when the
    /// turn ends. Trimmed to `budget` like `prompt`.
    pub(crate) fn open_turn_prompt(
        &self,
        tokenizer: &Tokenizer,
        default_system: &str,
        messages: &[ChatMessage],
        budget: usize,
    ) -> Result<Prompt, EngineError> {
        match messages.last() {
            Some(last) if last.role == Role::User => {}
            _ => {
                return Err(EngineError::InvalidInput(
                    "an open turn must end with the user's message".into(),
                ));
            }
        }
        self.render(
            tokenizer,
            default_system,
            messages,
            budget,
            Ending::OpenLastMessage,
        )
    }

    /// The end-of-message token (`<|im_end|>`): the model's "the turn ends here".
    pub(crate) fn end_of_message(&self) -> TokenId {
        self.im_end
    }

    fn render(
        &self,
        tokenizer: &Tokenizer,
        default_system: &str,
        messages: &[ChatMessage],
        budget: usize,
        ending: Ending,
    ) -> Result<Prompt, EngineError> {
        let (system, turns) = match messages.split_first() {
            Some((first, rest)) if first.role == Role::System => (Some(first.clone()), rest),
            _ => (
                (!default_system.is_empty()).then(|| ChatMessage::system(default_system)),
                messages,
            ),
        };
        let system_tokens = match &system {
            Some(m) => self.message(tokenizer, m)?,
            None => Vec::new(),
        };
        let header = match ending {
            Ending::AssistantHeader => self.assistant_header(tokenizer)?,
            Ending::OpenLastMessage => Vec::new(),
        };
        let mut turn_tokens = turns
            .iter()
            .map(|m| self.message(tokenizer, m))
            .collect::<Result<Vec<_>, _>>()?;
        if ending == Ending::OpenLastMessage
            && let (Some(open), Some(last)) = (turn_tokens.last_mut(), turns.last())
        {
            *open = self.open_message(tokenizer, last)?;
        }

        let fixed = system_tokens.len() + header.len();
        let mut total: usize = fixed + turn_tokens.iter().map(Vec::len).sum::<usize>();
        let mut first = 0;
        while total > budget && first + 1 < turns.len() {
            total -= turn_tokens[first].len();
            first += 1;
            // Never open the kept history with an orphaned assistant reply.
            while first + 1 < turns.len() && turns[first].role != Role::User {
                total -= turn_tokens[first].len();
                first += 1;
            }
        }
        if total > budget {
            return Err(EngineError::InvalidInput(format!(
                "prompt needs {total} tokens but the context budget is {budget}"
            )));
        }
        let mut tokens = Vec::with_capacity(total);
        tokens.extend(system_tokens);
        for t in &turn_tokens[first..] {
            tokens.extend_from_slice(t);
        }
        tokens.extend(header);
        Ok(Prompt {
            tokens,
            dropped_messages: first,
        })
    }

    /// `<|im_start|>role\ncontent`: a message still being said.
    fn open_message(
        &self,
        tokenizer: &Tokenizer,
        message: &ChatMessage,
    ) -> Result<Vec<TokenId>, EngineError> {
        let mut tokens = vec![self.im_start];
        tokens.extend(tokenizer.encode(&format!(
            "{}\n{}",
            message.role.as_str(),
            message.content
        ))?);
        Ok(tokens)
    }
}

/// How a rendered conversation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// `<|im_start|>assistant\n`: the model answers next.
    AssistantHeader,
    /// The last message stays open: the model continues (or ends) the user's turn.
    OpenLastMessage,
}
