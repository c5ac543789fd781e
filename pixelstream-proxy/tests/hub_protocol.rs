//! Protocol tests of the sans-IO hub: every message and error path of signalling 1.3.0,
//! driven with virtual time and no sockets.

use std::time::{Duration, Instant};

use goassist_pixelstream_proxy::config::{Config, IceConfig};
use goassist_pixelstream_proxy::signalling::hub::close_code;
use goassist_pixelstream_proxy::signalling::{
    ConnId, Hub, HubSettings, MessageType, Output, RejectReason, Role,
};
use serde_json::{Value, json};

const STREAMER: ConnId = ConnId(1);
const STREAMER_2: ConnId = ConnId(2);
const PLAYER: ConnId = ConnId(10);
const PLAYER_2: ConnId = ConnId(11);

fn settings() -> HubSettings {
    let config = Config::from_lookup(|_| None).expect("defaults are valid");
    HubSettings::from_config(&config)
}

/// A hub plus virtual clock and the outputs of the last step.
struct Harness {
    hub: Hub,
    now: Instant,
    out: Vec<Output>,
}

impl Harness {
    fn new(settings: HubSettings) -> Self {
        Self {
            hub: Hub::new(settings),
            now: Instant::now(),
            out: Vec::new(),
        }
    }

    fn connect(&mut self, conn: ConnId, role: Role) -> &mut Self {
        self.out.clear();
        self.hub
            .connect(self.now, 1_700_000_000, conn, role, &mut self.out);
        self
    }

    fn player(&mut self, conn: ConnId) -> &mut Self {
        self.connect(
            conn,
            Role::Player {
                bound_streamer: None,
            },
        )
    }

    fn send(&mut self, conn: ConnId, message: Value) -> &mut Self {
        self.send_text(conn, &message.to_string())
    }

    fn send_text(&mut self, conn: ConnId, text: &str) -> &mut Self {
        self.out.clear();
        self.hub.receive(self.now, conn, text, &mut self.out);
        self
    }

    fn disconnect(&mut self, conn: ConnId) -> &mut Self {
        self.out.clear();
        self.hub.disconnect(self.now, conn, &mut self.out);
        self
    }

    fn advance(&mut self, by: Duration) -> &mut Self {
        self.now += by;
        self.out.clear();
        self.hub.tick(self.now, &mut self.out);
        self
    }

    /// Messages sent to `conn` in the last step, parsed.
    fn sent_to(&self, conn: ConnId) -> Vec<Value> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Send { to, text, .. } if *to == conn => {
                    Some(serde_json::from_str(text).expect("hub emits JSON"))
                }
                _ => None,
            })
            .collect()
    }

    fn types_to(&self, conn: ConnId) -> Vec<String> {
        self.sent_to(conn)
            .iter()
            .map(|m| m["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn rejections(&self) -> Vec<RejectReason> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Rejected { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    }

    fn closes(&self) -> Vec<(ConnId, u16)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Close { conn, code, .. } => Some((*conn, *code)),
                _ => None,
            })
            .collect()
    }

    /// A streamer connected and identified as `id`.
    fn streamer(&mut self, conn: ConnId, id: &str) -> &mut Self {
        self.connect(conn, Role::Streamer);
        self.send(conn, json!({"type": "endpointId", "id": id}))
    }

    /// A player subscribed to `id`; returns the playerId the streamer saw.
    fn subscribed(&mut self, player: ConnId, streamer: ConnId, id: &str) -> String {
        self.player(player);
        self.send(player, json!({"type": "subscribe", "streamerId": id}));
        let connected = self.sent_to(streamer);
        assert_eq!(connected.len(), 1, "{connected:?}");
        connected[0]["playerId"]
            .as_str()
            .expect("string id")
            .to_owned()
    }
}

#[test]
fn streamer_handshake_config_identify_endpoint_confirm() {
    let mut h = Harness::new(settings());
    h.connect(STREAMER, Role::Streamer);
    assert_eq!(h.types_to(STREAMER), ["config", "identify"]);
    let config = &h.sent_to(STREAMER)[0];
    assert_eq!(config["protocolVersion"], "1.3.0");
    assert!(config["peerConnectionOptions"].is_object());

    h.send(
        STREAMER,
        json!({"type": "endpointId", "id": "Avatar", "protocolVersion": "1.3.0"}),
    );
    assert_eq!(
        h.sent_to(STREAMER),
        [json!({"type": "endpointIdConfirm", "committedId": "Avatar"})]
    );
    assert_eq!(h.hub.streamer_ids(), ["Avatar"]);
}

#[test]
fn streamer_ids_are_made_unique_and_default() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    h.streamer(STREAMER_2, "Avatar");
    assert_eq!(h.sent_to(STREAMER_2)[0]["committedId"], "Avatar-2");
    h.connect(ConnId(3), Role::Streamer)
        .send(ConnId(3), json!({"type": "endpointId"}));
    assert_eq!(h.sent_to(ConnId(3))[0]["committedId"], "DefaultStreamer");
    assert_eq!(
        h.hub.streamer_ids(),
        ["Avatar", "Avatar-2", "DefaultStreamer"]
    );
    // A departed streamer frees its id.
    h.disconnect(STREAMER);
    h.streamer(ConnId(4), "Avatar");
    assert_eq!(h.sent_to(ConnId(4))[0]["committedId"], "Avatar");
}

#[test]
fn streamer_rename_notifies_subscribers() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Old");
    h.subscribed(PLAYER, STREAMER, "Old");
    h.send(STREAMER, json!({"type": "endpointId", "id": "New"}));
    assert_eq!(h.sent_to(STREAMER)[0]["committedId"], "New");
    assert_eq!(
        h.sent_to(PLAYER),
        [json!({"type": "streamerIdChanged", "newID": "New"})]
    );
    assert_eq!(h.hub.streamer_ids(), ["New"]);
}

#[test]
fn bad_streamer_ids_are_rejected() {
    let mut h = Harness::new(settings());
    h.connect(STREAMER, Role::Streamer);
    for bad in [json!(7), json!("a\nb"), json!("x".repeat(129))] {
        h.send(STREAMER, json!({"type": "endpointId", "id": bad}));
        assert_eq!(h.rejections(), [RejectReason::BadField]);
    }
    assert!(h.hub.streamer_ids().is_empty());
}

#[test]
fn player_lists_subscribes_and_gets_relayed_offer_answer_ice() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    h.player(PLAYER);
    assert_eq!(h.types_to(PLAYER), ["config"]);
    h.send(PLAYER, json!({"type": "listStreamers"}));
    assert_eq!(
        h.sent_to(PLAYER),
        [json!({"type": "streamerList", "ids": ["Avatar"]})]
    );

    h.send(PLAYER, json!({"type": "subscribe", "streamerId": "Avatar"}));
    let connected = h.sent_to(STREAMER);
    assert_eq!(connected[0]["type"], "playerConnected");
    assert_eq!(connected[0]["dataChannel"], true);
    assert_eq!(connected[0]["sfu"], false);
    let player_id = connected[0]["playerId"].as_str().unwrap().to_owned();

    // Streamer -> player: playerId routes and is stripped; other fields pass intact.
    h.send(
        STREAMER,
        json!({"type": "offer", "playerId": player_id, "sdp": "v=0 offer", "multiplex": true}),
    );
    assert_eq!(
        h.sent_to(PLAYER),
        [json!({"type": "offer", "sdp": "v=0 offer", "multiplex": true})]
    );
    assert!(matches!(
        h.out[0],
        Output::Send {
            relayed: Some(MessageType::Offer),
            ..
        }
    ));

    // Player -> streamer: the server stamps the playerId (overwriting a forged one).
    h.send(
        PLAYER,
        json!({"type": "answer", "sdp": "v=0 answer", "playerId": "forged", "maxBitrateBps": 1}),
    );
    assert_eq!(
        h.sent_to(STREAMER),
        [json!({"type": "answer", "sdp": "v=0 answer", "playerId": player_id, "maxBitrateBps": 1})]
    );

    let candidate = json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    h.send(
        PLAYER,
        json!({"type": "iceCandidate", "candidate": candidate}),
    );
    assert_eq!(h.sent_to(STREAMER)[0]["candidate"], candidate);
    assert_eq!(h.sent_to(STREAMER)[0]["playerId"], player_id);
    h.send(
        STREAMER,
        json!({"type": "iceCandidate", "playerId": player_id, "candidate": candidate}),
    );
    assert_eq!(
        h.sent_to(PLAYER),
        [json!({"type": "iceCandidate", "candidate": candidate})]
    );

    // Browser-sends-offer direction and data channel plumbing relay too.
    for kind in [
        "offer",
        "dataChannelRequest",
        "peerDataChannelsReady",
        "layerPreference",
    ] {
        h.send(PLAYER, json!({"type": kind, "sdp": "v=0"}));
        assert_eq!(h.types_to(STREAMER), [kind]);
    }
}

#[test]
fn numeric_player_ids_from_older_plugins_route() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    let id = h.subscribed(PLAYER, STREAMER, "Avatar");
    let numeric: u64 = id.parse().unwrap();
    h.send(
        STREAMER,
        json!({"type": "offer", "playerId": numeric, "sdp": "v=0"}),
    );
    assert_eq!(h.types_to(PLAYER), ["offer"]);
}

#[test]
fn relays_need_their_fields_and_a_route() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    h.player(PLAYER);
    // Not subscribed yet.
    h.send(PLAYER, json!({"type": "answer", "sdp": "v=0"}));
    assert_eq!(h.rejections(), [RejectReason::NotSubscribed]);
    let id = h.subscribed(PLAYER, STREAMER, "Avatar");
    h.send(PLAYER, json!({"type": "answer"}));
    assert_eq!(h.rejections(), [RejectReason::BadField]);
    h.send(
        PLAYER,
        json!({"type": "iceCandidate", "candidate": "just a string"}),
    );
    assert_eq!(h.rejections(), [RejectReason::BadField]);
    h.send(STREAMER, json!({"type": "offer", "sdp": "v=0"}));
    assert_eq!(h.rejections(), [RejectReason::UnknownPlayer]);
    h.send(
        STREAMER,
        json!({"type": "offer", "playerId": "nobody", "sdp": "v=0"}),
    );
    assert_eq!(h.rejections(), [RejectReason::UnknownPlayer]);
    h.send(STREAMER, json!({"type": "offer", "playerId": id}));
    assert_eq!(h.rejections(), [RejectReason::BadField]);
    // A streamer cannot reach a player subscribed to another streamer.
    h.streamer(STREAMER_2, "Other");
    h.send(
        STREAMER_2,
        json!({"type": "offer", "playerId": id, "sdp": "v=0"}),
    );
    assert_eq!(h.rejections(), [RejectReason::UnknownPlayer]);
    assert!(h.sent_to(PLAYER).is_empty());
}

#[test]
fn subscribe_failures() {
    let mut h = Harness::new(settings());
    h.player(PLAYER);
    h.send(PLAYER, json!({"type": "subscribe", "streamerId": "Ghost"}));
    assert_eq!(h.rejections(), [RejectReason::UnknownStreamer]);
    assert_eq!(h.sent_to(PLAYER)[0]["type"], "subscribeFailed");
    assert!(
        h.sent_to(PLAYER)[0]["message"]
            .as_str()
            .unwrap()
            .contains("Ghost")
    );
    h.send(PLAYER, json!({"type": "subscribe"}));
    assert_eq!(h.rejections(), [RejectReason::BadField]);
}

#[test]
fn max_players_per_streamer_is_enforced() {
    let mut s = settings();
    s.max_players_per_streamer = 2;
    let mut h = Harness::new(s);
    h.streamer(STREAMER, "Avatar");
    h.subscribed(ConnId(10), STREAMER, "Avatar");
    h.subscribed(ConnId(11), STREAMER, "Avatar");
    h.player(ConnId(12));
    h.send(
        ConnId(12),
        json!({"type": "subscribe", "streamerId": "Avatar"}),
    );
    assert_eq!(h.rejections(), [RejectReason::StreamerFull]);
    assert_eq!(h.types_to(ConnId(12)), ["subscribeFailed"]);
    assert!(h.sent_to(STREAMER).is_empty());
    // A seat frees up when a player leaves.
    h.disconnect(ConnId(10));
    h.send(
        ConnId(12),
        json!({"type": "subscribe", "streamerId": "Avatar"}),
    );
    assert_eq!(h.types_to(STREAMER), ["playerConnected"]);
}

#[test]
fn the_gpu_encoder_cap_counts_players_across_every_streamer() {
    // A GeForce render pod: 3 encode sessions for the test (8 on real cards), two streamers.
    let mut s = settings();
    s.max_encoded_players = Some(3);
    let mut h = Harness::new(s);
    h.streamer(STREAMER, "Avatar");
    h.streamer(STREAMER_2, "Other");
    h.subscribed(ConnId(10), STREAMER, "Avatar");
    h.subscribed(ConnId(11), STREAMER, "Avatar");
    h.subscribed(ConnId(12), STREAMER_2, "Other");
    h.player(ConnId(13));
    h.send(
        ConnId(13),
        json!({"type": "subscribe", "streamerId": "Avatar"}),
    );
    assert_eq!(h.rejections(), [RejectReason::EncoderFull]);
    assert_eq!(h.types_to(ConnId(13)), ["subscribeFailed"]);
    assert_eq!(
        h.sent_to(ConnId(13))[0]["message"],
        "No free video encoder on this render pod. Max players = 3."
    );
    assert!(h.sent_to(STREAMER).is_empty());
    // Switching streamers at the cap frees the old session first.
    h.send(
        ConnId(10),
        json!({"type": "subscribe", "streamerId": "Other"}),
    );
    assert!(h.rejections().is_empty());
    assert_eq!(h.types_to(STREAMER_2), ["playerConnected"]);
    // A session frees up when a player leaves.
    h.disconnect(ConnId(12));
    h.send(
        ConnId(13),
        json!({"type": "subscribe", "streamerId": "Avatar"}),
    );
    assert_eq!(h.types_to(STREAMER), ["playerConnected"]);
}

#[test]
fn default_limit_is_eight_players() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    for n in 0..8 {
        h.subscribed(ConnId(100 + n), STREAMER, "Avatar");
    }
    h.player(ConnId(200));
    h.send(
        ConnId(200),
        json!({"type": "subscribe", "streamerId": "Avatar"}),
    );
    assert_eq!(h.rejections(), [RejectReason::StreamerFull]);
}

#[test]
fn unsubscribe_resubscribe_and_player_disconnect_tell_the_streamer() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "A");
    h.streamer(STREAMER_2, "B");
    let id = h.subscribed(PLAYER, STREAMER, "A");
    h.send(PLAYER, json!({"type": "unsubscribe"}));
    assert_eq!(
        h.sent_to(STREAMER),
        [json!({"type": "playerDisconnected", "playerId": id})]
    );
    h.send(PLAYER, json!({"type": "unsubscribe"}));
    assert_eq!(h.rejections(), [RejectReason::NotSubscribed]);

    h.send(PLAYER, json!({"type": "subscribe", "streamerId": "A"}));
    // Switching streamers leaves the first one.
    h.send(PLAYER, json!({"type": "subscribe", "streamerId": "B"}));
    assert_eq!(h.types_to(STREAMER), ["playerDisconnected"]);
    assert_eq!(h.types_to(STREAMER_2), ["playerConnected"]);
    h.disconnect(PLAYER);
    assert_eq!(
        h.sent_to(STREAMER_2),
        [json!({"type": "playerDisconnected", "playerId": id})]
    );
    assert_eq!(h.hub.player_count(), 0);
}

#[test]
fn streamer_disconnect_tells_players_and_frees_them() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    h.subscribed(PLAYER, STREAMER, "Avatar");
    h.subscribed(PLAYER_2, STREAMER, "Avatar");
    h.disconnect(STREAMER);
    assert_eq!(h.sent_to(PLAYER), [json!({"type": "streamerDisconnected"})]);
    assert_eq!(
        h.sent_to(PLAYER_2),
        [json!({"type": "streamerDisconnected"})]
    );
    assert!(h.hub.streamer_ids().is_empty());
    // Players stay connected and can list again.
    h.send(PLAYER, json!({"type": "listStreamers"}));
    assert_eq!(
        h.sent_to(PLAYER),
        [json!({"type": "streamerList", "ids": []})]
    );
}

#[test]
fn disconnect_player_closes_it_with_1011() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    let id = h.subscribed(PLAYER, STREAMER, "Avatar");
    h.send(
        STREAMER,
        json!({"type": "disconnectPlayer", "playerId": id, "reason": "kicked"}),
    );
    assert_eq!(h.closes(), [(PLAYER, close_code::STREAMER_REQUEST)]);
    assert!(
        h.out
            .iter()
            .any(|o| matches!(o, Output::Close { reason, .. } if reason == "kicked"))
    );
    assert_eq!(h.types_to(STREAMER), ["playerDisconnected"]);
    assert_eq!(h.hub.player_count(), 0);
    // Unknown player.
    h.send(
        STREAMER,
        json!({"type": "disconnectPlayer", "playerId": id}),
    );
    assert_eq!(h.rejections(), [RejectReason::UnknownPlayer]);
    // The socket layer's later disconnect is a no-op.
    h.disconnect(PLAYER);
    assert!(h.out.is_empty());
}

#[test]
fn ping_gets_pong_with_the_same_time() {
    let mut h = Harness::new(settings());
    h.connect(STREAMER, Role::Streamer);
    h.send(STREAMER, json!({"type": "ping", "time": 1234.5}));
    assert_eq!(
        h.sent_to(STREAMER),
        [json!({"type": "pong", "time": 1234.5})]
    );
    h.player(PLAYER);
    h.send(PLAYER, json!({"type": "ping", "time": 99}));
    assert_eq!(h.sent_to(PLAYER), [json!({"type": "pong", "time": 99})]);
}

#[test]
fn wrong_role_unknown_and_unidentified_messages_are_rejected() {
    let mut h = Harness::new(settings());
    h.connect(STREAMER, Role::Streamer);
    h.send(
        STREAMER,
        json!({"type": "offer", "playerId": "1", "sdp": "v=0"}),
    );
    assert_eq!(h.rejections(), [RejectReason::NotIdentified]);
    h.send(STREAMER, json!({"type": "endpointId", "id": "Avatar"}));
    h.send(
        STREAMER,
        json!({"type": "subscribe", "streamerId": "Avatar"}),
    );
    assert_eq!(h.rejections(), [RejectReason::UnexpectedType]);
    h.player(PLAYER);
    for kind in [
        "endpointId",
        "disconnectPlayer",
        "config",
        "streamerList",
        "playerConnected",
    ] {
        h.send(PLAYER, json!({"type": kind}));
        assert_eq!(h.rejections(), [RejectReason::UnexpectedType], "{kind}");
    }
    h.send(PLAYER, json!({"type": "hack"}));
    assert_eq!(h.rejections(), [RejectReason::UnknownType]);
    // Deprecated statistics are tolerated silently.
    h.send(PLAYER, json!({"type": "stats", "data": {}}));
    assert!(h.out.is_empty());
}

#[test]
fn malformed_input_sweep_never_panics_and_is_counted() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Avatar");
    h.subscribed(PLAYER, STREAMER, "Avatar");
    let inputs = [
        "",
        " ",
        "{",
        "}",
        "null",
        "true",
        "1e999",
        "\"str\"",
        "[]",
        "{\"type\":null}",
        "{\"type\":[]}",
        "{\"type\":\"offer\",\"sdp\":5}",
        "{\"type\":\"iceCandidate\",\"candidate\":null}",
        "{\"type\":\"subscribe\",\"streamerId\":{}}",
        "{\"type\":\"ping\"}",
        "\u{0}\u{1}",
        "{\"type\":\"endpointId\",\"id\":\"\u{7}\"}",
        "{\"a\":{\"b\":{\"c\":[[[[[[]]]]]]}}}",
        "{\"type\":\"offer\",\"playerId\":[1],\"sdp\":\"x\"}",
        "\u{feff}{}",
        "{\"type\":\"answer\"",
    ];
    // Deeply nested (past serde_json's recursion limit) yet under the 16 KiB player limit.
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    for conn in [STREAMER, PLAYER] {
        for input in inputs.iter().copied().chain([deep.as_str()]) {
            h.send_text(conn, input);
            for o in &h.out {
                if let Output::Send { text, .. } = o {
                    serde_json::from_str::<Value>(text).expect("every output is JSON");
                }
            }
        }
    }
    // Still serving both.
    h.send(PLAYER, json!({"type": "answer", "sdp": "v=0"}));
    assert_eq!(h.types_to(STREAMER), ["answer"]);
}

#[test]
fn oversized_messages_close_with_1009() {
    let mut h = Harness::new(settings());
    h.player(PLAYER);
    let big = json!({"type": "ping", "pad": "x".repeat(20_000)});
    h.send(PLAYER, big);
    assert_eq!(h.rejections(), [RejectReason::TooLarge]);
    assert_eq!(h.closes(), [(PLAYER, close_code::TOO_BIG)]);
    // Streamers get a larger limit (SDP offers).
    h.connect(STREAMER, Role::Streamer);
    h.send(
        STREAMER,
        json!({"type": "ping", "pad": "x".repeat(100_000)}),
    );
    assert_eq!(h.types_to(STREAMER), ["pong"]);
}

#[test]
fn rate_limit_drops_then_disconnects_flooders() {
    let mut s = settings();
    s.player_rate = (10, 5);
    let mut h = Harness::new(s);
    h.player(PLAYER);
    let mut answered = 0;
    let mut limited = 0;
    for _ in 0..11 {
        h.send(PLAYER, json!({"type": "ping", "time": 1}));
        answered += h.types_to(PLAYER).len();
        limited += h
            .rejections()
            .iter()
            .filter(|r| **r == RejectReason::RateLimited)
            .count();
    }
    assert_eq!((answered, limited), (5, 6));
    assert_eq!(h.closes(), [(PLAYER, close_code::POLICY)]);
    // Drops are forgiven once a message is accepted again: only consecutive drops count.
    h.player(ConnId(12));
    for _ in 0..3 {
        for _ in 0..10 {
            h.send(ConnId(12), json!({"type": "ping", "time": 1}));
        }
        assert!(h.closes().is_empty());
        h.now += Duration::from_secs(1);
    }
    // Within the rate, a well-behaved player is never limited.
    h.player(PLAYER_2);
    for _ in 0..50 {
        h.now += Duration::from_millis(100);
        h.send(PLAYER_2, json!({"type": "ping", "time": 1}));
        assert_eq!(h.types_to(PLAYER_2), ["pong"]);
    }
}

#[test]
fn idle_players_and_unidentified_streamers_time_out() {
    let mut s = settings();
    s.idle_timeout = Duration::from_secs(30);
    let mut h = Harness::new(s);
    h.streamer(STREAMER, "Avatar");
    h.connect(STREAMER_2, Role::Streamer); // never identifies
    h.player(PLAYER); // never subscribes
    h.subscribed(PLAYER_2, STREAMER, "Avatar");
    assert_eq!(h.hub.next_timeout(), Some(h.now + Duration::from_secs(30)));
    h.advance(Duration::from_secs(29));
    assert!(h.closes().is_empty());
    h.advance(Duration::from_secs(1));
    let mut closed = h.closes();
    closed.sort();
    assert_eq!(
        closed,
        [
            (STREAMER_2, close_code::POLICY),
            (PLAYER, close_code::POLICY)
        ]
    );
    assert_eq!(
        h.rejections(),
        [RejectReason::IdleTimeout, RejectReason::IdleTimeout]
    );
    // Subscribed players and identified streamers are not idle.
    h.advance(Duration::from_secs(3600));
    assert!(h.closes().is_empty());
    // Unsubscribing restarts the idle clock.
    h.send(PLAYER_2, json!({"type": "unsubscribe"}));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.closes(), [(PLAYER_2, close_code::POLICY)]);
}

#[test]
fn token_bound_players_only_see_and_join_their_streamer() {
    let mut h = Harness::new(settings());
    h.streamer(STREAMER, "Mine");
    h.streamer(STREAMER_2, "Theirs");
    h.connect(
        PLAYER,
        Role::Player {
            bound_streamer: Some("Mine".into()),
        },
    );
    h.send(PLAYER, json!({"type": "listStreamers"}));
    assert_eq!(h.sent_to(PLAYER)[0]["ids"], json!(["Mine"]));
    h.send(PLAYER, json!({"type": "subscribe", "streamerId": "Theirs"}));
    assert_eq!(h.rejections(), [RejectReason::TokenStreamerMismatch]);
    assert_eq!(h.types_to(PLAYER), ["subscribeFailed"]);
    assert!(h.sent_to(STREAMER_2).is_empty());
    h.send(PLAYER, json!({"type": "subscribe", "streamerId": "Mine"}));
    assert_eq!(h.types_to(STREAMER), ["playerConnected"]);
}

#[test]
fn config_carries_ice_servers_with_per_player_turn_credentials() {
    let mut s = settings();
    s.ice = IceConfig {
        stun_urls: vec!["stun:stun.example:3478".into()],
        turn_urls: vec!["turn:turn.example:3478".into()],
        turn_secret: Some("turn-secret".into()),
        turn_credential_ttl: Duration::from_secs(600),
    };
    let mut h = Harness::new(s);
    h.player(PLAYER);
    let a = h.sent_to(PLAYER)[0]["peerConnectionOptions"]["iceServers"].clone();
    h.player(PLAYER_2);
    let b = h.sent_to(PLAYER_2)[0]["peerConnectionOptions"]["iceServers"].clone();
    assert_eq!(a[0], json!({"urls": ["stun:stun.example:3478"]}));
    assert_eq!(a[1]["urls"], json!(["turn:turn.example:3478"]));
    assert_eq!(a[1]["username"], format!("1700000600:{}", PLAYER.0));
    assert_ne!(
        a[1]["credential"], b[1]["credential"],
        "credentials are per player"
    );
    // Without ICE configuration the options are an empty object, as Wilbur sends.
    let mut plain = Harness::new(settings());
    plain.player(PLAYER);
    assert_eq!(plain.sent_to(PLAYER)[0]["peerConnectionOptions"], json!({}));
}

/// A cheap fuzz pass: thousands of random mutations of valid messages, from both roles, in
/// every state. The hub must never panic and must only ever emit JSON.
#[test]
fn random_mutations_of_valid_messages_never_panic() {
    // xorshift64*: deterministic, no dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let seeds = [
        json!({"type": "endpointId", "id": "Avatar"}),
        json!({"type": "subscribe", "streamerId": "Avatar"}),
        json!({"type": "offer", "playerId": "10", "sdp": "v=0"}),
        json!({"type": "answer", "sdp": "v=0"}),
        json!({"type": "iceCandidate", "playerId": "10", "candidate": {"candidate": "c", "sdpMid": "0"}}),
        json!({"type": "disconnectPlayer", "playerId": "10", "reason": "r"}),
        json!({"type": "listStreamers"}),
        json!({"type": "unsubscribe"}),
        json!({"type": "ping", "time": 1}),
    ]
    .map(|v| v.to_string().into_bytes());
    let mut settings = settings();
    settings.player_rate = (1_000_000, 1_000_000);
    settings.streamer_rate = (1_000_000, 1_000_000);
    let mut h = Harness::new(settings);
    h.streamer(STREAMER, "Avatar");
    h.subscribed(PLAYER, STREAMER, "Avatar");
    for round in 0..20_000u32 {
        let mut bytes = seeds[(next() % seeds.len() as u64) as usize].clone();
        for _ in 0..(next() % 4) {
            let at = (next() % bytes.len() as u64) as usize;
            match next() % 3 {
                0 => bytes[at] = next() as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b"{}[]\",:0\\"[(next() % 9) as usize]),
            }
            if bytes.is_empty() {
                break;
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let conn = if round % 2 == 0 { STREAMER } else { PLAYER };
        h.send_text(conn, &text);
        for o in &h.out {
            if let Output::Send { text, .. } = o {
                serde_json::from_str::<Value>(text).expect("every output is JSON");
            }
        }
        // Keep both peers alive and connected so every state keeps being exercised.
        if !h.hub.streamer_ids().contains(&"Avatar".to_owned()) {
            h.disconnect(STREAMER);
            h.streamer(STREAMER, "Avatar");
        }
        if h.hub.player_id(PLAYER).is_none() {
            h.player(PLAYER);
            h.send(PLAYER, json!({"type": "subscribe", "streamerId": "Avatar"}));
        }
    }
}
