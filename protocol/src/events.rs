//! JSON events on the WebRTC data channel labelled `events` (reliable, ordered).
//!
//! Server → client: [`ServerEvent`], one JSON object per message with a `type` field.
//! Client → server: [`ClientMessage`]. Documented for client authors in docs/events.md.
//! Every event that belongs to an assistant turn carries its `epoch`: after an `interrupted`
//! event nothing of an older epoch follows.

use serde::{Deserialize, Serialize};

/// What the conversation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnState {
    /// Waiting for the user.
    Listening,
    /// The user is speaking.
    UserSpeaking,
    /// The user's turn ended; the assistant prepares its answer.
    Thinking,
    /// The assistant's audio is playing.
    Speaking,
}

/// An event sent to the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// First message of a session.
    Session {
        /// The session id (as in the WHIP `Location`).
        session_id: String,
        /// Sample rate of the assistant's audio clock (face frames' `sample_pos`).
        audio_clock_hz: u32,
        /// Face frames per second on the `face` channel (0 when animation is off).
        face_fps: u32,
    },
    /// The conversation changed state.
    State {
        /// The new state.
        state: TurnState,
        /// The current assistant turn epoch.
        epoch: u32,
    },
    /// What the user said: partial hypotheses while speaking, then one final text.
    UserTranscript {
        /// The recognized text.
        text: String,
        /// True for the end-of-turn transcript.
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// A piece of the assistant's answer, sent when its audio starts playing.
    AssistantText {
        /// The clause being spoken.
        text: String,
        /// The turn it belongs to.
        epoch: u32,
        /// Where its audio starts on the 48 kHz clock.
        sample_pos: u64,
    },
    /// The assistant finished its answer.
    AssistantDone {
        /// The whole answer as spoken.
        text: String,
        /// The turn.
        epoch: u32,
    },
    /// The user interrupted the assistant.
    Interrupted {
        /// The turn that was cut.
        epoch: u32,
        /// The text whose audio was actually sent before the cut (what the user heard).
        heard_text: String,
    },
    /// Something went wrong; the session goes on when it can.
    Error {
        /// Machine-readable code, e.g. `llm_unavailable`, `bad_message`.
        code: String,
        /// Human-readable detail.
        message: String,
    },
}

/// A message the client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Liveness probe; answered with nothing. It does not keep an idle session open: only the
    /// user's voice and typed text count as activity.
    Ping,
    /// Typed input instead of speech: handled like a final user transcript.
    UserText {
        /// What the user typed.
        text: String,
    },
}

/// Why a client message was rejected.
#[derive(Debug, thiserror::Error)]
#[error("bad data-channel message: {0}")]
pub struct BadMessage(String);

/// Largest client message accepted, in bytes.
pub const MAX_CLIENT_MESSAGE: usize = 4096;

impl ServerEvent {
    /// The JSON text sent on the channel.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"type\":\"error\"}"))
    }
}

impl ClientMessage {
    /// Parses a client message; never panics.
    pub fn parse(text: &str) -> Result<Self, BadMessage> {
        if text.len() > MAX_CLIENT_MESSAGE {
            return Err(BadMessage(format!(
                "{} bytes is over the {MAX_CLIENT_MESSAGE}-byte limit",
                text.len()
            )));
        }
        serde_json::from_str(text).map_err(|e| BadMessage(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_documented_json_shape() {
        let e = ServerEvent::UserTranscript {
            text: "hi there".into(),
            is_final: true,
        };
        assert_eq!(
            e.to_json(),
            r#"{"type":"user_transcript","text":"hi there","final":true}"#
        );
        let e = ServerEvent::Interrupted {
            epoch: 3,
            heard_text: "Well,".into(),
        };
        assert_eq!(
            e.to_json(),
            r#"{"type":"interrupted","epoch":3,"heard_text":"Well,"}"#
        );
        let e = ServerEvent::State {
            state: TurnState::UserSpeaking,
            epoch: 1,
        };
        assert_eq!(
            e.to_json(),
            r#"{"type":"state","state":"user_speaking","epoch":1}"#
        );
    }

    #[test]
    fn client_messages_parse_and_bad_ones_are_errors() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"ping"}"#).unwrap(),
            ClientMessage::Ping
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"user_text","text":"hello"}"#).unwrap(),
            ClientMessage::UserText {
                text: "hello".into()
            }
        );
        for bad in [
            "",
            "{",
            "null",
            "[]",
            r#"{"type":"nope"}"#,
            r#"{"type":"user_text"}"#,
            "\u{0}",
        ] {
            assert!(ClientMessage::parse(bad).is_err(), "{bad:?}");
        }
        let huge = format!(
            r#"{{"type":"user_text","text":"{}"}}"#,
            "a".repeat(MAX_CLIENT_MESSAGE)
        );
        assert!(
            ClientMessage::parse(&huge)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
    }
}
