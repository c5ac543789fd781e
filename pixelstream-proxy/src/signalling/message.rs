//! The signalling wire format: JSON text messages with a `type` field (protocol 1.3.0,
//! Epic's `Common/protobuf/signalling_messages.proto`). Parsing is check-then-parse: size is
//! checked by the caller, then JSON, then the `type`; per-type fields are checked by the hub,
//! which knows the direction. Every failure is a [`RejectReason`], never a panic.

use serde_json::{Map, Value};

/// The signalling protocol version this server speaks (Wilbur, UE 5.5–5.8).
pub const PROTOCOL_VERSION: &str = "1.3.0";

macro_rules! message_types {
    ($($variant:ident => $wire:literal),* $(,)?) => {
        /// Every message type of protocol 1.3.0 (including SFU plumbing and deprecated ones,
        /// so they are recognised rather than reported as unknown).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum MessageType { $($variant),* }

        impl MessageType {
            /// All types, for metrics pre-registration and tests.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$variant),*];

            /// Looks up a wire name (`"iceCandidate"`).
            pub fn from_wire(name: &str) -> Option<Self> {
                match name { $($wire => Some(MessageType::$variant),)* _ => None }
            }

            /// The wire name, also the metrics label.
            pub fn as_str(self) -> &'static str {
                match self { $(MessageType::$variant => $wire),* }
            }
        }
    };
}

message_types! {
    Config => "config",
    Identify => "identify",
    EndpointId => "endpointId",
    EndpointIdConfirm => "endpointIdConfirm",
    ListStreamers => "listStreamers",
    StreamerList => "streamerList",
    Subscribe => "subscribe",
    Unsubscribe => "unsubscribe",
    SubscribeFailed => "subscribeFailed",
    PlayerConnected => "playerConnected",
    PlayerDisconnected => "playerDisconnected",
    Offer => "offer",
    Answer => "answer",
    IceCandidate => "iceCandidate",
    Ping => "ping",
    Pong => "pong",
    DisconnectPlayer => "disconnectPlayer",
    StreamerDisconnected => "streamerDisconnected",
    StreamerIdChanged => "streamerIdChanged",
    LayerPreference => "layerPreference",
    DataChannelRequest => "dataChannelRequest",
    PeerDataChannelsReady => "peerDataChannelsReady",
    PeerDataChannels => "peerDataChannels",
    StreamerDataChannels => "streamerDataChannels",
    StartStreaming => "startStreaming",
    StopStreaming => "stopStreaming",
    PlayerCount => "playerCount",
    Stats => "stats",
}

/// Why a message or connection was refused; the string form is the metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Larger than the configured limit.
    TooLarge,
    /// Over the connection's message rate.
    RateLimited,
    /// Not valid JSON.
    NotJson,
    /// Valid JSON but not an object.
    NotObject,
    /// No string `type` field.
    MissingType,
    /// A `type` this protocol does not define.
    UnknownType,
    /// A known type that this peer may not send (wrong role or SFU-only).
    UnexpectedType,
    /// A required field is missing or has the wrong JSON type, or an id is invalid.
    BadField,
    /// A streamer sent something other than `endpointId`/`ping` before identifying.
    NotIdentified,
    /// A player relayed a message without being subscribed.
    NotSubscribed,
    /// A streamer addressed a player that is not subscribed to it.
    UnknownPlayer,
    /// A player subscribed to a streamer that does not exist.
    UnknownStreamer,
    /// A player subscribed to a streamer that has its maximum of players.
    StreamerFull,
    /// A player subscribed while every NVENC session the GPU allows is in use (one per
    /// watching player).
    EncoderFull,
    /// A player's token is bound to another streamer.
    TokenStreamerMismatch,
    /// A WebSocket binary frame (the protocol is text only).
    BinaryFrame,
    /// A player's outbound queue was full: it was disconnected.
    SlowConsumer,
    /// A streamer's outbound queue was full: the message to it was dropped.
    StreamerQueueFull,
    /// Unsubscribed player or unidentified streamer for too long.
    IdleTimeout,
    /// Nothing received (not even a pong) for too long.
    PingTimeout,
    /// A socket write blocked for too long.
    WriteTimeout,
    /// The WebSocket failed to read (protocol error, reset, frame over the size cap).
    TransportError,
    /// Upgrade refused: no token though tokens are enforced.
    TokenMissing,
    /// Upgrade refused: token not well formed.
    TokenMalformed,
    /// Upgrade refused: token signature invalid.
    TokenBadSignature,
    /// Upgrade refused: token expired.
    TokenExpired,
    /// Upgrade refused: streamer secret missing or wrong.
    BadStreamerSecret,
    /// Upgrade refused: connection limit reached.
    TooManyConnections,
    /// Upgrade refused: this client address holds its maximum of player connections.
    TooManyFromAddress,
    /// Upgrade refused: a browser page of another origin opened the player WebSocket.
    OriginNotAllowed,
    /// Upgrade refused: the streamer secret came in the URL from a public address (only the
    /// `Authorization` header is accepted there).
    SecretInQuery,
}

impl RejectReason {
    /// All reasons, for metrics pre-registration.
    pub const ALL: &'static [RejectReason] = &[
        RejectReason::TooLarge,
        RejectReason::RateLimited,
        RejectReason::NotJson,
        RejectReason::NotObject,
        RejectReason::MissingType,
        RejectReason::UnknownType,
        RejectReason::UnexpectedType,
        RejectReason::BadField,
        RejectReason::NotIdentified,
        RejectReason::NotSubscribed,
        RejectReason::UnknownPlayer,
        RejectReason::UnknownStreamer,
        RejectReason::StreamerFull,
        RejectReason::EncoderFull,
        RejectReason::TokenStreamerMismatch,
        RejectReason::BinaryFrame,
        RejectReason::SlowConsumer,
        RejectReason::StreamerQueueFull,
        RejectReason::IdleTimeout,
        RejectReason::PingTimeout,
        RejectReason::WriteTimeout,
        RejectReason::TransportError,
        RejectReason::TokenMissing,
        RejectReason::TokenMalformed,
        RejectReason::TokenBadSignature,
        RejectReason::TokenExpired,
        RejectReason::BadStreamerSecret,
        RejectReason::TooManyConnections,
        RejectReason::TooManyFromAddress,
        RejectReason::OriginNotAllowed,
        RejectReason::SecretInQuery,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::NotJson => "not_json",
            RejectReason::NotObject => "not_object",
            RejectReason::MissingType => "missing_type",
            RejectReason::UnknownType => "unknown_type",
            RejectReason::UnexpectedType => "unexpected_type",
            RejectReason::BadField => "bad_field",
            RejectReason::NotIdentified => "not_identified",
            RejectReason::NotSubscribed => "not_subscribed",
            RejectReason::UnknownPlayer => "unknown_player",
            RejectReason::UnknownStreamer => "unknown_streamer",
            RejectReason::StreamerFull => "streamer_full",
            RejectReason::EncoderFull => "encoder_full",
            RejectReason::TokenStreamerMismatch => "token_streamer_mismatch",
            RejectReason::BinaryFrame => "binary_frame",
            RejectReason::SlowConsumer => "slow_consumer",
            RejectReason::StreamerQueueFull => "streamer_queue_full",
            RejectReason::IdleTimeout => "idle_timeout",
            RejectReason::PingTimeout => "ping_timeout",
            RejectReason::WriteTimeout => "write_timeout",
            RejectReason::TransportError => "transport_error",
            RejectReason::TokenMissing => "token_missing",
            RejectReason::TokenMalformed => "token_malformed",
            RejectReason::TokenBadSignature => "token_bad_signature",
            RejectReason::TokenExpired => "token_expired",
            RejectReason::BadStreamerSecret => "bad_streamer_secret",
            RejectReason::TooManyConnections => "too_many_connections",
            RejectReason::TooManyFromAddress => "too_many_from_address",
            RejectReason::OriginNotAllowed => "origin_not_allowed",
            RejectReason::SecretInQuery => "secret_in_query",
        }
    }
}

/// A parsed message: its type and the whole JSON object (relays forward unknown fields intact).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The `type` field.
    pub kind: MessageType,
    /// All fields, `type` included.
    pub fields: Map<String, Value>,
}

impl Message {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Self, RejectReason> {
        let value: Value = serde_json::from_str(text).map_err(|_| RejectReason::NotJson)?;
        let Value::Object(fields) = value else {
            return Err(RejectReason::NotObject);
        };
        let name = fields
            .get("type")
            .and_then(Value::as_str)
            .ok_or(RejectReason::MissingType)?;
        let kind = MessageType::from_wire(name).ok_or(RejectReason::UnknownType)?;
        Ok(Self { kind, fields })
    }

    /// A string field, if present and a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// A player id field: Wilbur sends strings, older plugins numbers; both are accepted.
    pub fn player_id(&self) -> Option<String> {
        match self.fields.get("playerId")? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Checks the fields a relayed WebRTC message must carry, so a peer never receives a
    /// message it cannot use.
    pub fn has_relay_fields(&self) -> bool {
        match self.kind {
            MessageType::Offer | MessageType::Answer => self.str_field("sdp").is_some(),
            MessageType::IceCandidate => self
                .fields
                .get("candidate")
                .and_then(Value::as_object)
                .is_some_and(|c| c.get("candidate").is_some_and(Value::is_string)),
            _ => true,
        }
    }

    /// Serialises the message back to text.
    pub fn to_text(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }
}

/// Builds an outgoing message of `kind` with `fields`.
pub fn outgoing(kind: MessageType, fields: Value) -> String {
    let mut object = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    object.insert("type".into(), Value::String(kind.as_str().into()));
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_its_wire_name() {
        for kind in MessageType::ALL {
            assert_eq!(MessageType::from_wire(kind.as_str()), Some(*kind));
        }
        assert_eq!(MessageType::from_wire("Offer"), None);
    }

    #[test]
    fn parse_classifies_malformed_input() {
        assert_eq!(Message::parse("{"), Err(RejectReason::NotJson));
        assert_eq!(Message::parse("[1]"), Err(RejectReason::NotObject));
        assert_eq!(Message::parse("{}"), Err(RejectReason::MissingType));
        assert_eq!(
            Message::parse(r#"{"type":7}"#),
            Err(RejectReason::MissingType)
        );
        assert_eq!(
            Message::parse(r#"{"type":"nope"}"#),
            Err(RejectReason::UnknownType)
        );
        let m = Message::parse(r#"{"type":"offer","sdp":"v=0"}"#).unwrap();
        assert_eq!(m.kind, MessageType::Offer);
        assert!(m.has_relay_fields());
        let m = Message::parse(r#"{"type":"iceCandidate","candidate":{"sdpMid":"0"}}"#).unwrap();
        assert!(!m.has_relay_fields());
    }

    #[test]
    fn reason_labels_are_unique() {
        let mut labels: Vec<_> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RejectReason::ALL.len());
    }
}
