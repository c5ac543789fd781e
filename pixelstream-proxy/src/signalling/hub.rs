//! The signalling hub: a sans-IO state machine holding every streamer and player, fed
//! connection events and text messages, emitting [`Output`]s (messages to send, connections to
//! close, rejections to count). It never reads a clock or touches a socket: callers pass `now`,
//! so tests drive it faster than real time and the socket layer stays a thin shell.
//!
//! Run loop, as the socket layer uses it:
//! 1. `connect` when a WebSocket is accepted, `receive` for each text frame, `disconnect` when a
//!    socket ends, `tick` whenever `next_timeout` passes;
//! 2. after each call, perform every `Output` in order.
//!
//! A connection the hub closes (`Output::Close`) is already forgotten by the hub; the later
//! `disconnect` for it is a no-op.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::message::{Message, MessageType, PROTOCOL_VERSION, RejectReason, outgoing};
use super::rate::TokenBucket;
use crate::auth::turn_credentials;
use crate::config::{Config, IceConfig};

/// Identifies one WebSocket connection for the lifetime of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Which side of the protocol a connection speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Unreal (or a test streamer).
    Streamer,
    /// A browser. `bound_streamer` is the streamer its access token admits it to.
    Player {
        /// `Some(id)` when tokens are enforced: the player may only see and join `id`.
        bound_streamer: Option<String>,
    },
}

/// WebSocket close codes the hub uses.
pub mod close_code {
    /// Policy violation (rate limit, idle).
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
    /// Streamer asked to disconnect the player (Wilbur uses 1011).
    pub const STREAMER_REQUEST: u16 = 1011;
}

/// Something the socket layer must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `text` to `to`. `relayed` names the type when this forwards a peer's message.
    Send {
        /// Destination connection.
        to: ConnId,
        /// The JSON text frame.
        text: String,
        /// `Some(type)` when relaying a message from another peer (counted as relayed).
        relayed: Option<MessageType>,
    },
    /// Close `conn` with a WebSocket close code and reason.
    Close {
        /// Connection to close.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Human-readable reason (at most 123 bytes, the WebSocket limit).
        reason: String,
    },
    /// A message or connection was refused (log and count it).
    Rejected {
        /// Connection at fault.
        conn: ConnId,
        /// Why.
        reason: RejectReason,
    },
}

/// Hub settings, derived from [`Config`].
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Most players subscribed to one streamer.
    pub max_players_per_streamer: usize,
    /// Most players subscribed across every streamer: the GPU's NVENC session cap (Pixel
    /// Streaming encodes once per player); `None` when no cap is known.
    pub max_encoded_players: Option<usize>,
    /// Largest player message, bytes.
    pub max_player_message_bytes: usize,
    /// Largest streamer message, bytes.
    pub max_streamer_message_bytes: usize,
    /// Player sustained rate and burst.
    pub player_rate: (u32, u32),
    /// Streamer sustained rate and burst.
    pub streamer_rate: (u32, u32),
    /// Unsubscribed players and unidentified streamers are closed after this.
    pub idle_timeout: Duration,
    /// ICE servers for `config.peerConnectionOptions`.
    pub ice: IceConfig,
}

impl HubSettings {
    /// Settings from the validated configuration.
    pub fn from_config(config: &Config) -> Self {
        let l = &config.limits;
        Self {
            max_players_per_streamer: config.max_players_per_streamer,
            max_encoded_players: config.encoder_sessions,
            max_player_message_bytes: l.max_player_message_bytes,
            max_streamer_message_bytes: l.max_streamer_message_bytes,
            player_rate: (l.player_messages_per_second, l.player_message_burst),
            streamer_rate: (l.streamer_messages_per_second, l.streamer_message_burst),
            idle_timeout: l.idle_timeout,
            ice: config.ice.clone(),
        }
    }
}

/// Default streamer id when `endpointId` carries none (Unreal's own default).
const DEFAULT_STREAMER_ID: &str = "DefaultStreamer";
/// Longest streamer id accepted.
const MAX_STREAMER_ID_BYTES: usize = 128;
/// WebSocket close reasons are limited to 123 bytes.
const MAX_CLOSE_REASON_BYTES: usize = 123;

#[derive(Debug)]
struct Streamer {
    /// Committed id; `None` until `endpointId`.
    id: Option<String>,
    subscribers: BTreeSet<ConnId>,
}

#[derive(Debug)]
struct Player {
    id: String,
    bound_streamer: Option<String>,
    subscribed_to: Option<ConnId>,
}

#[derive(Debug)]
enum Peer {
    Streamer(Streamer),
    Player(Player),
}

#[derive(Debug)]
struct Connection {
    peer: Peer,
    bucket: TokenBucket,
    /// Messages dropped by the rate limiter since the last accepted one.
    rate_limited: u32,
    /// Since when the connection has been idle (unsubscribed player, unidentified streamer).
    idle_since: Option<Instant>,
}

/// The signalling state machine. See the module docs for the run loop.
#[derive(Debug)]
pub struct Hub {
    settings: HubSettings,
    connections: HashMap<ConnId, Connection>,
    /// Committed streamer ids (ordered, so `streamerList` is stable).
    streamer_ids: BTreeMap<String, ConnId>,
    /// Player ids to connections.
    player_ids: HashMap<String, ConnId>,
}

impl Hub {
    /// An empty hub.
    pub fn new(settings: HubSettings) -> Self {
        Self {
            settings,
            connections: HashMap::new(),
            streamer_ids: BTreeMap::new(),
            player_ids: HashMap::new(),
        }
    }

    /// Connected streamers (identified or not).
    pub fn streamer_count(&self) -> usize {
        // Every connection is a player or a streamer.
        self.connections.len() - self.player_ids.len()
    }

    /// Connected players.
    pub fn player_count(&self) -> usize {
        self.player_ids.len()
    }

    /// Committed streamer ids, sorted.
    pub fn streamer_ids(&self) -> Vec<String> {
        self.streamer_ids.keys().cloned().collect()
    }

    /// The player id the hub gave `conn`, if it is a player.
    pub fn player_id(&self, conn: ConnId) -> Option<&str> {
        match &self.connections.get(&conn)?.peer {
            Peer::Player(p) => Some(&p.id),
            Peer::Streamer(_) => None,
        }
    }

    /// A new WebSocket was accepted. `unix_now` (wall clock) dates TURN credentials.
    pub fn connect(
        &mut self,
        now: Instant,
        unix_now: u64,
        conn: ConnId,
        role: Role,
        out: &mut Vec<Output>,
    ) {
        if self.connections.contains_key(&conn) {
            return;
        }
        let (peer, bucket, ice_user) = match role {
            Role::Streamer => (
                Peer::Streamer(Streamer {
                    id: None,
                    subscribers: BTreeSet::new(),
                }),
                TokenBucket::new(
                    self.settings.streamer_rate.0,
                    self.settings.streamer_rate.1,
                    now,
                ),
                format!("streamer-{}", conn.0),
            ),
            Role::Player { bound_streamer } => {
                let id = conn.0.to_string();
                self.player_ids.insert(id.clone(), conn);
                (
                    Peer::Player(Player {
                        id: id.clone(),
                        bound_streamer,
                        subscribed_to: None,
                    }),
                    TokenBucket::new(
                        self.settings.player_rate.0,
                        self.settings.player_rate.1,
                        now,
                    ),
                    id,
                )
            }
        };
        let is_streamer = matches!(peer, Peer::Streamer(_));
        self.connections.insert(
            conn,
            Connection {
                peer,
                bucket,
                rate_limited: 0,
                idle_since: Some(now),
            },
        );
        let options = self.peer_connection_options(&ice_user, unix_now);
        send(
            out,
            conn,
            outgoing(
                MessageType::Config,
                json!({"peerConnectionOptions": options, "protocolVersion": PROTOCOL_VERSION}),
            ),
        );
        if is_streamer {
            send(out, conn, outgoing(MessageType::Identify, json!({})));
        }
    }

    /// A text frame arrived from `conn`.
    pub fn receive(&mut self, now: Instant, conn: ConnId, text: &str, out: &mut Vec<Output>) {
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        let (max_bytes, is_streamer) = match connection.peer {
            Peer::Streamer(_) => (self.settings.max_streamer_message_bytes, true),
            Peer::Player(_) => (self.settings.max_player_message_bytes, false),
        };
        if text.len() > max_bytes {
            reject(out, conn, RejectReason::TooLarge);
            self.close(now, conn, close_code::TOO_BIG, "message too large", out);
            return;
        }
        if !connection.bucket.try_take(now) {
            connection.rate_limited += 1;
            reject(out, conn, RejectReason::RateLimited);
            // A peer that keeps flooding through a whole burst's worth of consecutive drops is dropped.
            let burst = if is_streamer {
                self.settings.streamer_rate.1
            } else {
                self.settings.player_rate.1
            };
            if connection.rate_limited > burst {
                self.close(now, conn, close_code::POLICY, "rate limit exceeded", out);
            }
            return;
        }
        // An occasional burst over the limit is forgiven once the peer slows down.
        connection.rate_limited = 0;
        let message = match Message::parse(text) {
            Ok(m) => m,
            Err(reason) => return reject(out, conn, reason),
        };
        if is_streamer {
            self.handle_streamer_message(now, conn, message, out);
        } else {
            self.handle_player_message(now, conn, message, out);
        }
    }

    /// The socket of `conn` ended (or the socket layer dropped it).
    pub fn disconnect(&mut self, now: Instant, conn: ConnId, out: &mut Vec<Output>) {
        let Some(connection) = self.connections.remove(&conn) else {
            return;
        };
        match connection.peer {
            Peer::Streamer(streamer) => {
                if let Some(id) = &streamer.id {
                    self.streamer_ids.remove(id);
                }
                for player_conn in streamer.subscribers {
                    if let Some(c) = self.connections.get_mut(&player_conn)
                        && let Peer::Player(p) = &mut c.peer
                    {
                        p.subscribed_to = None;
                        c.idle_since = Some(now);
                        send(
                            out,
                            player_conn,
                            outgoing(MessageType::StreamerDisconnected, json!({})),
                        );
                    }
                }
            }
            Peer::Player(player) => {
                self.player_ids.remove(&player.id);
                if let Some(streamer_conn) = player.subscribed_to {
                    self.detach_player(streamer_conn, conn, &player.id, out);
                }
            }
        }
    }

    /// Closes `conn` on the hub's own initiative (slow consumer, timeouts), as `disconnect`
    /// does, and tells the socket layer to close it.
    pub fn close(
        &mut self,
        now: Instant,
        conn: ConnId,
        code: u16,
        reason: &str,
        out: &mut Vec<Output>,
    ) {
        if !self.connections.contains_key(&conn) {
            return;
        }
        self.disconnect(now, conn, out);
        out.push(Output::Close {
            conn,
            code,
            reason: truncate_reason(reason),
        });
    }

    /// Closes connections idle for longer than the idle timeout.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        let timeout = self.settings.idle_timeout;
        let expired: Vec<ConnId> = self
            .connections
            .iter()
            .filter(|(_, c)| {
                c.idle_since
                    .is_some_and(|since| now.saturating_duration_since(since) >= timeout)
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in expired {
            reject(out, conn, RejectReason::IdleTimeout);
            self.close(now, conn, close_code::POLICY, "idle timeout", out);
        }
    }

    /// When `tick` next has work to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.connections
            .values()
            .filter_map(|c| c.idle_since)
            .min()
            .map(|since| since + self.settings.idle_timeout)
    }

    fn handle_streamer_message(
        &mut self,
        now: Instant,
        conn: ConnId,
        m: Message,
        out: &mut Vec<Output>,
    ) {
        let identified = matches!(
            self.connections.get(&conn).map(|c| &c.peer),
            Some(Peer::Streamer(Streamer { id: Some(_), .. }))
        );
        match m.kind {
            MessageType::EndpointId => self.identify_streamer(conn, &m, out),
            MessageType::Ping => pong(conn, &m, out),
            _ if !identified => reject(out, conn, RejectReason::NotIdentified),
            MessageType::Offer | MessageType::Answer | MessageType::IceCandidate => {
                self.relay_to_player(conn, m, out)
            }
            MessageType::DisconnectPlayer => {
                let Some(player_conn) = self.subscribed_player(conn, &m) else {
                    return reject(out, conn, RejectReason::UnknownPlayer);
                };
                let reason = m.str_field("reason").unwrap_or("disconnected by streamer");
                let reason = reason.to_owned();
                self.close(now, player_conn, close_code::STREAMER_REQUEST, &reason, out);
            }
            // Deprecated statistics: accepted and ignored, as Wilbur does.
            MessageType::Stats | MessageType::PlayerCount | MessageType::Pong => {}
            _ => reject(out, conn, RejectReason::UnexpectedType),
        }
    }

    fn identify_streamer(&mut self, conn: ConnId, m: &Message, out: &mut Vec<Output>) {
        let requested = match m.fields.get("id") {
            None | Some(Value::Null) => DEFAULT_STREAMER_ID.to_owned(),
            Some(Value::String(s)) if s.is_empty() => DEFAULT_STREAMER_ID.to_owned(),
            Some(Value::String(s)) if valid_streamer_id(s) => s.clone(),
            Some(_) => return reject(out, conn, RejectReason::BadField),
        };
        let previous = match self.connections.get(&conn).map(|c| &c.peer) {
            Some(Peer::Streamer(s)) => s.id.clone(),
            _ => return,
        };
        if previous.as_deref() == Some(requested.as_str()) {
            send(out, conn, confirm(&requested));
            return;
        }
        if let Some(old) = &previous {
            self.streamer_ids.remove(old);
        }
        let committed = self.unique_streamer_id(&requested);
        self.streamer_ids.insert(committed.clone(), conn);
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        connection.idle_since = None;
        let Peer::Streamer(streamer) = &mut connection.peer else {
            return;
        };
        streamer.id = Some(committed.clone());
        send(out, conn, confirm(&committed));
        if previous.is_some() {
            let renamed = outgoing(MessageType::StreamerIdChanged, json!({"newID": committed}));
            for player_conn in &streamer.subscribers {
                send(out, *player_conn, renamed.clone());
            }
        }
    }

    fn unique_streamer_id(&self, requested: &str) -> String {
        if !self.streamer_ids.contains_key(requested) {
            return requested.to_owned();
        }
        (2u64..)
            .map(|n| format!("{requested}-{n}"))
            .find(|candidate| !self.streamer_ids.contains_key(candidate))
            .unwrap_or_else(|| requested.to_owned())
    }

    /// The player named by `m.playerId`, if it is subscribed to `streamer_conn`.
    fn subscribed_player(&self, streamer_conn: ConnId, m: &Message) -> Option<ConnId> {
        let player_conn = *self.player_ids.get(&m.player_id()?)?;
        match &self.connections.get(&player_conn)?.peer {
            Peer::Player(p) if p.subscribed_to == Some(streamer_conn) => Some(player_conn),
            _ => None,
        }
    }

    fn relay_to_player(&mut self, conn: ConnId, mut m: Message, out: &mut Vec<Output>) {
        if !m.has_relay_fields() {
            return reject(out, conn, RejectReason::BadField);
        }
        let Some(player_conn) = self.subscribed_player(conn, &m) else {
            return reject(out, conn, RejectReason::UnknownPlayer);
        };
        // Players never see routing ids.
        m.fields.remove("playerId");
        out.push(Output::Send {
            to: player_conn,
            text: m.to_text(),
            relayed: Some(m.kind),
        });
    }

    fn handle_player_message(
        &mut self,
        now: Instant,
        conn: ConnId,
        m: Message,
        out: &mut Vec<Output>,
    ) {
        match m.kind {
            MessageType::ListStreamers => {
                let bound = match self.connections.get(&conn).map(|c| &c.peer) {
                    Some(Peer::Player(p)) => p.bound_streamer.clone(),
                    _ => return,
                };
                let ids: Vec<&String> = self
                    .streamer_ids
                    .keys()
                    .filter(|id| bound.as_ref().is_none_or(|b| b == *id))
                    .collect();
                send(
                    out,
                    conn,
                    outgoing(MessageType::StreamerList, json!({"ids": ids})),
                );
            }
            MessageType::Subscribe => match m.str_field("streamerId") {
                Some(id) => {
                    let id = id.to_owned();
                    self.subscribe(now, conn, &id, out)
                }
                None => reject(out, conn, RejectReason::BadField),
            },
            MessageType::Unsubscribe => {
                if !self.unsubscribe(now, conn, out) {
                    reject(out, conn, RejectReason::NotSubscribed);
                }
            }
            MessageType::Ping => pong(conn, &m, out),
            MessageType::Offer
            | MessageType::Answer
            | MessageType::IceCandidate
            | MessageType::DataChannelRequest
            | MessageType::PeerDataChannelsReady
            | MessageType::LayerPreference => self.relay_to_streamer(conn, m, out),
            MessageType::Stats | MessageType::PlayerCount | MessageType::Pong => {}
            _ => reject(out, conn, RejectReason::UnexpectedType),
        }
    }

    fn subscribe(&mut self, now: Instant, conn: ConnId, streamer_id: &str, out: &mut Vec<Output>) {
        let (player_id, bound) = match self.connections.get(&conn).map(|c| &c.peer) {
            Some(Peer::Player(p)) => (p.id.clone(), p.bound_streamer.clone()),
            _ => return,
        };
        if bound.as_deref().is_some_and(|b| b != streamer_id) {
            reject(out, conn, RejectReason::TokenStreamerMismatch);
            return subscribe_failed(out, conn, "Not authorised for this streamer.");
        }
        let Some(&streamer_conn) = self.streamer_ids.get(streamer_id) else {
            reject(out, conn, RejectReason::UnknownStreamer);
            return subscribe_failed(
                out,
                conn,
                &format!("Streamer {streamer_id} does not exist."),
            );
        };
        // Re-subscribing first leaves the current streamer, as Wilbur does.
        self.unsubscribe(now, conn, out);
        if let Some(encoders) = self.settings.max_encoded_players
            && self.subscribed_players() >= encoders
        {
            reject(out, conn, RejectReason::EncoderFull);
            return subscribe_failed(
                out,
                conn,
                &format!("No free video encoder on this render pod. Max players = {encoders}."),
            );
        }
        let max = self.settings.max_players_per_streamer;
        let Some(Connection {
            peer: Peer::Streamer(streamer),
            ..
        }) = self.connections.get_mut(&streamer_conn)
        else {
            return;
        };
        if streamer.subscribers.len() >= max {
            reject(out, conn, RejectReason::StreamerFull);
            return subscribe_failed(
                out,
                conn,
                &format!("Streamer {streamer_id} is full. Max players = {max}."),
            );
        }
        streamer.subscribers.insert(conn);
        if let Some(c) = self.connections.get_mut(&conn)
            && let Peer::Player(p) = &mut c.peer
        {
            p.subscribed_to = Some(streamer_conn);
            c.idle_since = None;
        }
        // `sendOffer` is what UE 5.4 (protocol 1.1) reads; 5.5+ ignore it.
        let connected =
            json!({"playerId": player_id, "dataChannel": true, "sfu": false, "sendOffer": true});
        send(
            out,
            streamer_conn,
            outgoing(MessageType::PlayerConnected, connected),
        );
    }

    /// Players subscribed to any streamer (each holds one encode session on the render pod).
    fn subscribed_players(&self) -> usize {
        self.connections
            .values()
            .map(|c| match &c.peer {
                Peer::Streamer(s) => s.subscribers.len(),
                _ => 0,
            })
            .sum()
    }

    /// Leaves the current streamer; false when not subscribed.
    fn unsubscribe(&mut self, now: Instant, conn: ConnId, out: &mut Vec<Output>) -> bool {
        let Some(c) = self.connections.get_mut(&conn) else {
            return false;
        };
        let Peer::Player(p) = &mut c.peer else {
            return false;
        };
        let Some(streamer_conn) = p.subscribed_to.take() else {
            return false;
        };
        c.idle_since = Some(now);
        let player_id = p.id.clone();
        self.detach_player(streamer_conn, conn, &player_id, out);
        true
    }

    fn detach_player(
        &mut self,
        streamer_conn: ConnId,
        player_conn: ConnId,
        player_id: &str,
        out: &mut Vec<Output>,
    ) {
        if let Some(Connection {
            peer: Peer::Streamer(s),
            ..
        }) = self.connections.get_mut(&streamer_conn)
            && s.subscribers.remove(&player_conn)
        {
            send(
                out,
                streamer_conn,
                outgoing(
                    MessageType::PlayerDisconnected,
                    json!({"playerId": player_id}),
                ),
            );
        }
    }

    fn relay_to_streamer(&mut self, conn: ConnId, mut m: Message, out: &mut Vec<Output>) {
        let Some(Peer::Player(p)) = self.connections.get(&conn).map(|c| &c.peer) else {
            return;
        };
        let Some(streamer_conn) = p.subscribed_to else {
            return reject(out, conn, RejectReason::NotSubscribed);
        };
        if !m.has_relay_fields() {
            return reject(out, conn, RejectReason::BadField);
        }
        // The server, not the browser, says who is talking: a forged playerId is overwritten.
        m.fields
            .insert("playerId".into(), Value::String(p.id.clone()));
        out.push(Output::Send {
            to: streamer_conn,
            text: m.to_text(),
            relayed: Some(m.kind),
        });
    }

    fn peer_connection_options(&self, ice_user: &str, unix_now: u64) -> Value {
        let ice = &self.settings.ice;
        let mut servers = Vec::new();
        if !ice.stun_urls.is_empty() {
            servers.push(json!({"urls": ice.stun_urls}));
        }
        if !ice.turn_urls.is_empty() {
            match &ice.turn_secret {
                Some(secret) => {
                    let creds = turn_credentials(
                        secret.expose(),
                        ice_user,
                        unix_now,
                        ice.turn_credential_ttl.as_secs(),
                    );
                    servers.push(json!({
                        "urls": ice.turn_urls,
                        "username": creds.username,
                        "credential": creds.credential,
                    }));
                }
                None => servers.push(json!({"urls": ice.turn_urls})),
            }
        }
        if servers.is_empty() {
            json!({})
        } else {
            json!({"iceServers": servers})
        }
    }
}

fn valid_streamer_id(id: &str) -> bool {
    id.len() <= MAX_STREAMER_ID_BYTES && !id.chars().any(char::is_control)
}

fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

fn send(out: &mut Vec<Output>, to: ConnId, text: String) {
    out.push(Output::Send {
        to,
        text,
        relayed: None,
    });
}

fn reject(out: &mut Vec<Output>, conn: ConnId, reason: RejectReason) {
    out.push(Output::Rejected { conn, reason });
}

fn confirm(id: &str) -> String {
    outgoing(MessageType::EndpointIdConfirm, json!({"committedId": id}))
}

fn subscribe_failed(out: &mut Vec<Output>, conn: ConnId, message: &str) {
    send(
        out,
        conn,
        outgoing(MessageType::SubscribeFailed, json!({"message": message})),
    );
}

fn pong(conn: ConnId, m: &Message, out: &mut Vec<Output>) {
    let time = m.fields.get("time").cloned().unwrap_or(Value::Null);
    send(
        out,
        conn,
        outgoing(MessageType::Pong, json!({"time": time})),
    );
}
