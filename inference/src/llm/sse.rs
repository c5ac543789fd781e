//! Server-sent events and the OpenAI streaming chunk format, as pure codecs.
//!
//! `SseDecoder` turns arbitrary byte chunks (split anywhere, even inside a UTF-8 character)
//! into complete events; `parse_chunk` reads one `data:` payload of `/v1/chat/completions`
//! with `stream: true`. Neither panics on malformed input: bad payloads are typed errors.

use serde::Deserialize;

/// Longest event accepted; a peer that never ends an event cannot grow memory without bound.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// One event's `data` (multi-line data joined with `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The payload.
    pub data: String,
}

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// An event grew past the size limit without ending.
    #[error("server-sent event longer than {MAX_EVENT_BYTES} bytes")]
    EventTooLong,
    /// A `data:` payload was not a chat completion chunk.
    #[error("malformed completion chunk: {0}")]
    BadChunk(String),
}

/// Incremental SSE parser (the `text/event-stream` format of the HTML standard).
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: Option<String>,
    after_cr: bool,
}

impl SseDecoder {
    /// Feeds bytes; returns the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        for &b in bytes {
            // A CR LF pair is one line break.
            if self.after_cr && b == b'\n' {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                if let Some(event) = self.end_line() {
                    events.push(event);
                }
            } else {
                self.line.push(b);
                let pending = self.line.len() + self.data.as_ref().map_or(0, String::len);
                if pending > MAX_EVENT_BYTES {
                    self.line.clear();
                    self.data = None;
                    return Err(SseError::EventTooLong);
                }
            }
        }
        Ok(events)
    }

    fn end_line(&mut self) -> Option<SseEvent> {
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
        if line.is_empty() {
            return self.data.take().map(|data| SseEvent { data });
        }
        if line.starts_with(':') {
            return None; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
        // `event`, `id`, `retry` carry nothing the chat stream needs.
        None
    }
}

/// What one streamed chunk contributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkContent {
    /// New answer text (possibly empty: role-only or final chunks).
    pub text: String,
    /// Whether a choice reported a finish reason.
    pub finished: bool,
    /// Token counts when the server sent usage (`stream_options.include_usage`).
    pub usage: Option<(usize, usize)>,
}

/// A chunk payload: `[DONE]` ends the stream, anything else must be a completion chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Content of one chunk.
    Content(ChunkContent),
    /// The `[DONE]` sentinel.
    Done,
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: usize,
    #[serde(default)]
    completion_tokens: usize,
}

/// Parses one `data:` payload of a streamed chat completion.
pub fn parse_chunk(data: &str) -> Result<Chunk, SseError> {
    if data.trim() == "[DONE]" {
        return Ok(Chunk::Done);
    }
    let chunk: WireChunk =
        serde_json::from_str(data).map_err(|e| SseError::BadChunk(e.to_string()))?;
    if let Some(error) = chunk.error {
        return Err(SseError::BadChunk(format!("server error: {error}")));
    }
    let mut content = ChunkContent::default();
    for choice in chunk.choices {
        if let Some(text) = choice.delta.and_then(|d| d.content) {
            content.text.push_str(&text);
        }
        content.finished |= choice.finish_reason.is_some();
    }
    content.usage = chunk.usage.map(|u| (u.prompt_tokens, u.completion_tokens));
    Ok(Chunk::Content(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_arbitrary_splits_and_line_endings() {
        let stream = "data: {\"a\":1}\n\n: keep-alive\r\n\r\nevent: x\ndata: one\ndata: two\r\n\r\ndata: [DONE]\n\n";
        let whole = SseDecoder::default().push(stream.as_bytes()).unwrap();
        assert_eq!(
            whole.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
            ["{\"a\":1}", "one\ntwo", "[DONE]"]
        );
        for split in 1..stream.len() {
            let mut dec = SseDecoder::default();
            let mut events = dec.push(&stream.as_bytes()[..split]).unwrap();
            events.extend(dec.push(&stream.as_bytes()[split..]).unwrap());
            assert_eq!(events, whole, "split at {split}");
        }
    }

    #[test]
    fn chunks_carry_text_finish_and_usage() {
        let c = parse_chunk(r#"{"id":"x","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#);
        assert_eq!(
            c,
            Ok(Chunk::Content(ChunkContent {
                text: "Hel".into(),
                ..Default::default()
            }))
        );
        let c = parse_chunk(
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(
            c,
            Chunk::Content(ChunkContent {
                text: String::new(),
                finished: true,
                usage: Some((9, 3))
            })
        );
        assert_eq!(parse_chunk(" [DONE]"), Ok(Chunk::Done));
        assert!(parse_chunk(r#"{"error":{"message":"overloaded"}}"#).is_err());
    }

    #[test]
    fn malformed_input_never_panics() {
        // Deterministic pseudo-random byte soup, plus known nasty shapes.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..2000 {
            let len = (next() % 200) as usize;
            let alphabet = b"data: {}[]\"\r\n:choices delta content\xff\xfe\x00DONE";
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        alphabet[(r as usize) % alphabet.len()]
                    } else {
                        r as u8
                    }
                })
                .collect();
            let mut dec = SseDecoder::default();
            if let Ok(events) = dec.push(&bytes) {
                for e in events {
                    let _ = parse_chunk(&e.data);
                }
            }
        }
        for payload in [
            "",
            "{",
            "null",
            "\"text\"",
            r#"{"choices":7}"#,
            r#"{"choices":[{"delta":5}]}"#,
            r#"{"choices":[{"delta":{"content":3}}]}"#,
        ] {
            assert!(parse_chunk(payload).is_err(), "{payload:?} accepted");
        }
        let mut dec = SseDecoder::default();
        let huge = vec![b'a'; MAX_EVENT_BYTES + 10];
        assert_eq!(dec.push(&huge), Err(SseError::EventTooLong));
    }
}
