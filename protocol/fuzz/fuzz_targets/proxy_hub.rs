//! The Pixel Streaming proxy's signalling hub driven by a script of connections, messages,
//! disconnections and clock steps: whatever streamers and players send, the hub never panics,
//! only ever sends messages a peer can parse, never relays between a player and a streamer it
//! is not subscribed to, never leaks routing ids to players, keeps its player and encoder
//! limits, and agrees with the socket layer on which connections are open.
//!
//! The input is lines (`\n`); a line's first byte says what happens:
//!
//! | line | step |
//! |---|---|
//! | `S` | a streamer connects |
//! | `P` or `P<id>` | a player connects (with a token bound to streamer `<id>`) |
//! | `<digit><text>` | connection number `<digit>` (in connection order, modulo their count) sends `<text>` |
//! | `X<digit>` | that connection's socket ends |
//! | `T<ms>` | the clock moves on `<ms>` milliseconds, then the idle sweep runs |
//!
//! Any other line is ignored. Seeds are in corpus/proxy_hub/.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use goassist_pixelstream_proxy::Config;
use goassist_pixelstream_proxy::signalling::{
    ConnId, Hub, HubSettings, Message, MessageType, Output, Role,
};
use libfuzzer_sys::fuzz_target;

const MAX_PLAYERS_PER_STREAMER: usize = 2;
const MAX_ENCODED_PLAYERS: usize = 3;
/// Connections one script may open (the hub itself has no such cap: the socket layer does).
const MAX_CONNECTIONS: usize = 16;

/// Small limits, so that short scripts reach every refusal: sizes, rates, idle time, full
/// streamers, the encoder cap. TURN and STUN are set, so every `config` carries credentials.
/// Validated once (through the proxy's own configuration table), cloned for every run.
fn settings() -> HubSettings {
    static SETTINGS: OnceLock<HubSettings> = OnceLock::new();
    SETTINGS.get_or_init(make_settings).clone()
}

fn make_settings() -> HubSettings {
    let config = Config::from_lookup(|name| {
        let value = match name {
            "PS_MAX_PLAYERS_PER_STREAMER" => "2",
            "PS_MAX_PLAYER_MESSAGE_BYTES" => "512",
            "PS_MAX_STREAMER_MESSAGE_BYTES" => "2048",
            "PS_PLAYER_RATE" => "5",
            "PS_PLAYER_BURST" => "8",
            "PS_STREAMER_RATE" => "10",
            "PS_STREAMER_BURST" => "16",
            "PS_IDLE_TIMEOUT_S" => "5",
            "PS_STUN_SERVER" => "stun:stun.example.com:3478",
            "PS_TURN_SERVER" => "turn:turn.example.com:3478?transport=udp",
            "PS_TURN_SECRET" => "fuzz-turn-secret",
            _ => return None,
        };
        Some(value.to_owned())
    })
    .expect("valid fuzz settings");
    let mut settings = HubSettings::from_config(&config);
    assert_eq!(settings.max_players_per_streamer, MAX_PLAYERS_PER_STREAMER);
    settings.max_encoded_players = Some(MAX_ENCODED_PLAYERS);
    settings
}

/// What the socket layer knows, rebuilt from the hub's outputs alone.
struct World {
    hub: Hub,
    now: Instant,
    /// Every connection opened, in order (index = the script's digit).
    opened: Vec<(ConnId, bool)>,
    open: BTreeSet<ConnId>,
    /// Player id → the streamer connection it is subscribed to (from playerConnected and
    /// playerDisconnected to streamers, streamerDisconnected to players).
    subscribed: BTreeMap<String, ConnId>,
}

impl World {
    fn is_streamer(&self, conn: ConnId) -> bool {
        self.opened.iter().any(|&(c, s)| c == conn && s)
    }

    fn connect(&mut self, role: Role) {
        if self.opened.len() >= MAX_CONNECTIONS {
            return;
        }
        let conn = ConnId(self.opened.len() as u64 + 1);
        let streamer = matches!(role, Role::Streamer);
        self.opened.push((conn, streamer));
        self.open.insert(conn);
        let mut out = Vec::new();
        self.hub
            .connect(self.now, 1_700_000_000, conn, role, &mut out);
        self.check(None, out);
    }

    fn receive(&mut self, index: u8, text: &str) {
        let Some(&(conn, _)) = self.pick(index) else {
            return;
        };
        let mut out = Vec::new();
        self.hub.receive(self.now, conn, text, &mut out);
        self.check(Some(conn), out);
    }

    fn disconnect(&mut self, index: u8) {
        let Some(&(conn, _)) = self.pick(index) else {
            return;
        };
        let mut out = Vec::new();
        self.hub.disconnect(self.now, conn, &mut out);
        self.open.remove(&conn);
        self.check(None, out);
        self.forget(conn);
    }

    fn tick(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms.min(600_000));
        let mut out = Vec::new();
        self.hub.tick(self.now, &mut out);
        self.check(None, out);
    }

    fn pick(&self, index: u8) -> Option<&(ConnId, bool)> {
        if self.opened.is_empty() {
            return None;
        }
        self.opened.get(usize::from(index) % self.opened.len())
    }

    /// A connection is gone: players it had are no longer subscribed to it, and it is no longer
    /// subscribed to anything.
    fn forget(&mut self, conn: ConnId) {
        self.subscribed
            .retain(|player, streamer| *streamer != conn && player.as_str() != conn.0.to_string());
    }

    /// Checks one step's outputs; `from` is the connection whose message caused them.
    fn check(&mut self, from: Option<ConnId>, out: Vec<Output>) {
        for output in out {
            match output {
                Output::Send { to, text, relayed } => {
                    assert!(self.open.contains(&to), "send to {to:?}, not open: {text}");
                    let message = Message::parse(&text).unwrap_or_else(|e| {
                        panic!("the hub sent what does not parse ({e:?}): {text}")
                    });
                    if let Some(kind) = relayed {
                        assert_eq!(kind, message.kind, "{text}");
                        assert!(
                            message.has_relay_fields(),
                            "relayed without its fields: {text}"
                        );
                        let from = from.expect("a relay answers a message");
                        self.check_relay(from, to, &message);
                    } else {
                        self.follow(to, &message);
                    }
                }
                Output::Close { conn, reason, .. } => {
                    assert!(
                        reason.len() <= 123,
                        "close reason of {} bytes",
                        reason.len()
                    );
                    assert!(
                        self.open.remove(&conn),
                        "closed twice or never open: {conn:?}"
                    );
                    self.forget(conn);
                }
                Output::Rejected { conn, .. } => {
                    assert!(
                        self.opened.iter().any(|&(c, _)| c == conn),
                        "rejection for an unknown connection {conn:?}"
                    );
                }
            }
        }
        assert_eq!(
            self.hub.player_count() + self.hub.streamer_count(),
            self.open.len(),
            "the hub and the socket layer disagree on what is open"
        );
        let mut per_streamer: BTreeMap<ConnId, usize> = BTreeMap::new();
        for streamer in self.subscribed.values() {
            *per_streamer.entry(*streamer).or_default() += 1;
        }
        assert!(
            per_streamer
                .values()
                .all(|&n| n <= MAX_PLAYERS_PER_STREAMER)
        );
        assert!(self.subscribed.len() <= MAX_ENCODED_PLAYERS);
    }

    fn check_relay(&self, from: ConnId, to: ConnId, message: &Message) {
        if self.is_streamer(to) {
            // Player → streamer: stamped with the sender's own id, only to its streamer.
            let player = from.0.to_string();
            assert_eq!(message.player_id().as_deref(), Some(player.as_str()));
            assert_eq!(
                self.subscribed.get(&player),
                Some(&to),
                "relay to a foreign streamer"
            );
        } else {
            // Streamer → player: no routing id, only from the player's streamer.
            assert!(
                message.fields.get("playerId").is_none(),
                "a player saw a playerId"
            );
            assert_eq!(
                self.subscribed.get(&to.0.to_string()),
                Some(&from),
                "relay from a foreign streamer"
            );
        }
    }

    /// Tracks subscriptions from what the hub tells peers.
    fn follow(&mut self, to: ConnId, message: &Message) {
        match message.kind {
            MessageType::PlayerConnected => {
                let player = message
                    .player_id()
                    .expect("playerConnected names the player");
                let before = self.subscribed.insert(player, to);
                assert!(before.is_none(), "subscribed twice without leaving");
            }
            MessageType::PlayerDisconnected => {
                let player = message
                    .player_id()
                    .expect("playerDisconnected names the player");
                assert_eq!(self.subscribed.remove(&player), Some(to));
            }
            MessageType::StreamerDisconnected => {
                self.subscribed.remove(&to.0.to_string());
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut world = World {
        hub: Hub::new(settings()),
        now: Instant::now(),
        opened: Vec::new(),
        open: BTreeSet::new(),
        subscribed: BTreeMap::new(),
    };
    for line in data.split(|&b| b == b'\n') {
        let Some((&op, rest)) = line.split_first() else {
            continue;
        };
        match op {
            b'S' => world.connect(Role::Streamer),
            b'P' => world.connect(Role::Player {
                bound_streamer: (!rest.is_empty())
                    .then(|| String::from_utf8_lossy(rest).into_owned()),
            }),
            b'0'..=b'9' => world.receive(op - b'0', &String::from_utf8_lossy(rest)),
            b'X' => {
                if let Some(&digit) = rest.first() {
                    world.disconnect(digit.wrapping_sub(b'0'));
                }
            }
            b'T' => {
                let ms = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(1000);
                world.tick(ms);
            }
            _ => {}
        }
    }
});
