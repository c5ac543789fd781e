//! Typed configuration read from `PS_*` environment variables and validated before any socket
//! opens.
//!
//! [`table`] declares every variable the proxy reads (deploy/config.yaml `pixelstream_proxy:`
//! documents the same, checked by `tests/config_docs.rs`); the shared `goassist-config` reader
//! validates them all at once and [`Config::from_values`] builds the typed config. Every invalid
//! value stops start-up (exit 78) with a message naming the variable, the value (secrets
//! `<redacted>`) and the valid range, so a bad deployment fails at start-up instead of at the
//! first viewer.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use goassist_config::{Check, IpNet, Kind, Table, Values, Var, kinds};

pub use goassist_config::{ConfigError, Secret};

/// Every variable the proxy reads: the source of truth for validation, `--help`,
/// `--check-config` and the deploy/config.yaml test.
pub fn table() -> Table {
    Table::new("goassist-pixelstream-proxy")
        .group("listeners", [
            Var::new("PS_PLAYER_BIND", kinds::ip()).default("127.0.0.1")
                .doc("address of the player page + player WebSocket (loopback: behind a TLS reverse proxy on this host; any other address needs PS_PLAYER_TOKEN_SECRET)"),
            Var::new("PS_PLAYER_PORT", kinds::int::<u16>(1, 65535)).default("8080")
                .doc("port of the player page + player WebSocket"),
            Var::new("PS_STREAMER_BIND", kinds::ip()).default("127.0.0.1")
                .doc("address Unreal connects to (keep on loopback or a private network; any other than loopback needs PS_STREAMER_SECRET)"),
            Var::new("PS_STREAMER_PORT", kinds::int::<u16>(1, 65535)).default("8888")
                .doc("port Unreal connects to (-PixelStreamingSignallingURL)"),
            Var::new("PS_ADMIN_BIND", kinds::ip()).default("127.0.0.1")
                .doc("address of /healthz, /readyz, /metrics"),
            Var::new("PS_ADMIN_PORT", kinds::int::<u16>(1, 65535)).default("9466")
                .doc("port of /healthz, /readyz, /metrics"),
            Var::new("PS_FRONTEND_DIR", kinds::path()).default("pixelstream-proxy/frontend/dist")
                .doc("bundled player page (scripts/setup_pixelstream_frontend.sh)"),
        ])
        .group("access", [
            Var::new("PS_PLAYER_TOKEN_SECRET", kinds::secret(16))
                .doc("HMAC secret of player tokens; when set every player needs ?token="),
            Var::new("PS_ALLOW_ANONYMOUS_PLAYERS", kinds::boolean()).default("false")
                .doc("serve players without tokens on a non-loopback PS_PLAYER_BIND (only when a reverse proxy in front authenticates them)"),
            Var::new("PS_ALLOWED_ORIGINS", origins())
                .doc("origins of other sites' pages allowed to open the player WebSocket, e.g. https://app.example.com; unset = this host's own pages only"),
            Var::new("PS_MAX_PLAYERS_PER_IP", kinds::int::<usize>(1, 100_000)).default("16")
                .doc("simultaneous player connections from one client address"),
            Var::new("PS_TRUSTED_PROXIES", kinds::ip_nets())
                .doc("comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For names the player for PS_MAX_PLAYERS_PER_IP; unset = the TCP peer is the player"),
            Var::new("PS_STREAMER_SECRET", kinds::secret(16))
                .doc("secret streamers must send as Authorization: Bearer, or as ?secret= from a loopback or private address (Unreal's plugin can only send a URL)"),
            Var::new("PS_MAX_PLAYERS_PER_STREAMER", kinds::int::<usize>(1, 1000)).default("8")
                .doc("players per streamer (8 = GeForce NVENC limit; more with an SFU or datacenter GPUs)"),
            Var::new("PS_MAX_PLAYERS", kinds::int::<usize>(1, 100_000)).default("2000")
                .doc("simultaneous player connections"),
            Var::new("PS_MAX_STREAMERS", kinds::int::<usize>(1, 1024)).default("64")
                .doc("simultaneous streamer connections"),
        ])
        .group("ICE", [
            Var::new("PS_STUN_SERVER", urls(&["stun:", "stuns:"]))
                .doc("STUN URLs sent to peers, e.g. stun:stun.example.com:3478"),
            Var::new("PS_TURN_SECRET", kinds::secret(8))
                .doc("TURN REST shared secret (coturn static-auth-secret): per-player credentials"),
            Var::new("PS_TURN_SERVER", urls(&["turn:", "turns:"])).required_when_set("PS_TURN_SECRET")
                .doc("TURN URLs sent to peers"),
            Var::new("PS_TURN_CREDENTIAL_TTL_S", kinds::int::<u64>(60, 86_400)).default("3600")
                .doc("lifetime of per-player TURN credentials"),
        ])
        .group("limits", [
            Var::new("PS_MAX_PLAYER_MESSAGE_BYTES", kinds::int::<usize>(256, 1 << 20)).default("16384")
                .doc("largest player message"),
            Var::new("PS_MAX_STREAMER_MESSAGE_BYTES", kinds::int::<usize>(1024, 4 << 20)).default("262144")
                .doc("largest streamer message (SDP offers)"),
            Var::new("PS_PLAYER_RATE", kinds::int::<u32>(1, 100_000)).default("50")
                .doc("player messages per second, sustained"),
            Var::new("PS_PLAYER_BURST", kinds::int::<u32>(1, 100_000)).default("200")
                .doc("player message burst"),
            Var::new("PS_STREAMER_RATE", kinds::int::<u32>(1, 1_000_000)).default("2000")
                .doc("streamer messages per second, sustained"),
            Var::new("PS_STREAMER_BURST", kinds::int::<u32>(1, 1_000_000)).default("4000")
                .doc("streamer message burst"),
            Var::new("PS_SEND_QUEUE", kinds::int::<usize>(8, 65_536)).default("256")
                .doc("outbound messages queued per connection before it counts as stuck"),
            Var::new("PS_IDLE_TIMEOUT_S", kinds::int::<u64>(5, 86_400)).default("120")
                .doc("close unsubscribed players / unidentified streamers after this long"),
            Var::new("PS_PING_INTERVAL_S", kinds::int::<u64>(1, 3600)).default("15")
                .doc("WebSocket ping interval"),
            Var::new("PS_PING_TIMEOUT_S", kinds::int::<u64>(2, 7200)).default("45")
                .doc("close a peer silent this long, pongs included (must exceed the interval)"),
            Var::new("PS_WRITE_TIMEOUT_S", kinds::int::<u64>(1, 600)).default("10")
                .doc("close a peer whose socket write blocks this long"),
        ])
        .group("process", [
            Var::new("RUST_LOG", kinds::text()).default("info")
                .doc("log filter (JSON lines on stdout)"),
            Var::new("LOG_DIR", kinds::path())
                .doc("also write the JSON logs to LOG_DIR, a file a day (goassist-pixelstream-proxy.YYYY-MM-DD.log, the last 7 kept; goassist-pixelstream-proxy.log links to today's), e.g. /workspace/logs"),
        ])
        .rule(ping_timeout_exceeds_the_interval)
        .rule(listeners_beyond_loopback_need_secrets)
}

/// ICE servers handed to every peer in `config.peerConnectionOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceConfig {
    /// STUN URLs (`stun:host:port`), comma separated in `PS_STUN_SERVER`.
    pub stun_urls: Vec<String>,
    /// TURN URLs (`turn:host:port?transport=udp`), comma separated in `PS_TURN_SERVER`.
    pub turn_urls: Vec<String>,
    /// Shared secret of the TURN server's REST API (coturn `static-auth-secret`); when set every
    /// player gets its own short-lived username/credential pair.
    pub turn_secret: Option<Secret>,
    /// Lifetime of the per-player TURN credentials.
    pub turn_credential_ttl: Duration,
}

/// Limits that protect the server from misbehaving peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest signalling message accepted from a player, in bytes.
    pub max_player_message_bytes: usize,
    /// Largest signalling message accepted from a streamer, in bytes (SDP offers are larger).
    pub max_streamer_message_bytes: usize,
    /// Sustained messages per second a player may send.
    pub player_messages_per_second: u32,
    /// Burst of messages a player may send above the sustained rate.
    pub player_message_burst: u32,
    /// Sustained messages per second a streamer may send.
    pub streamer_messages_per_second: u32,
    /// Burst of messages a streamer may send above the sustained rate.
    pub streamer_message_burst: u32,
    /// Outbound messages queued per connection before it counts as stuck.
    pub send_queue_len: usize,
    /// A player that stays unsubscribed (or a streamer that never identifies) this long is closed.
    pub idle_timeout: Duration,
    /// Interval of WebSocket pings sent to every peer.
    pub ping_interval: Duration,
    /// A peer that sends nothing (not even a pong) for this long is closed.
    pub ping_timeout: Duration,
    /// A single WebSocket write that takes longer than this closes the connection.
    pub write_timeout: Duration,
    /// Most simultaneous player connections.
    pub max_players: usize,
    /// Most simultaneous streamer connections.
    pub max_streamers: usize,
}

impl Default for Limits {
    /// The table's defaults.
    fn default() -> Self {
        Config::from_lookup(|_| None)
            .expect("the table's defaults are valid (tested)")
            .limits
    }
}

/// Everything the proxy needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address players connect to (page and WebSocket); `PS_PLAYER_BIND`.
    pub player_bind: IpAddr,
    /// Port of the player page and player WebSocket; `PS_PLAYER_PORT`.
    pub player_port: u16,
    /// Address streamers connect to; loopback by default so Unreal is never exposed.
    pub streamer_bind: IpAddr,
    /// Port of the streamer WebSocket (Epic's default 8888); `PS_STREAMER_PORT`.
    pub streamer_port: u16,
    /// Address of `/healthz`, `/readyz`, `/metrics`; `PS_ADMIN_BIND`.
    pub admin_bind: IpAddr,
    /// Port of the admin endpoints; `PS_ADMIN_PORT`.
    pub admin_port: u16,
    /// HMAC secret of player access tokens; when set, tokens are enforced.
    pub player_token_secret: Option<Secret>,
    /// Shared secret streamers must present; when set it is enforced.
    pub streamer_secret: Option<Secret>,
    /// Origins (`scheme://host[:port]`, lowercase) of other sites' pages allowed to open the
    /// player WebSocket, besides the proxy's own; `PS_ALLOWED_ORIGINS`.
    pub allowed_origins: Vec<String>,
    /// Most player connections from one client address; `PS_MAX_PLAYERS_PER_IP`.
    pub max_players_per_ip: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the player; `PS_TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpNet>,
    /// Most players subscribed to one streamer (8 = GeForce NVENC session limit).
    pub max_players_per_streamer: usize,
    /// ICE servers sent to peers.
    pub ice: IceConfig,
    /// Directory holding the bundled player page (`index.html`, `player.js`).
    pub frontend_dir: PathBuf,
    /// Abuse and liveness limits.
    pub limits: Limits,
    /// Most players watching at once across every streamer: the GPU's concurrent NVENC
    /// session cap, set at start from the NVENC probe (not an environment variable); `None`
    /// when the driver has no cap or there is no encoder to ask.
    pub encoder_sessions: Option<usize>,
    /// `LOG_DIR`: also write the logs there, a file a day.
    pub log_dir: Option<PathBuf>,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map instead of the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        table().validate(lookup, Self::from_values).into_result()
    }

    /// The typed configuration from the table's values (only called when there is no error).
    pub fn from_values(v: &Values) -> Self {
        let seconds = |name| Duration::from_secs(v.get(name));
        Self {
            player_bind: v.get("PS_PLAYER_BIND"),
            player_port: v.get("PS_PLAYER_PORT"),
            streamer_bind: v.get("PS_STREAMER_BIND"),
            streamer_port: v.get("PS_STREAMER_PORT"),
            admin_bind: v.get("PS_ADMIN_BIND"),
            admin_port: v.get("PS_ADMIN_PORT"),
            player_token_secret: v.opt("PS_PLAYER_TOKEN_SECRET"),
            streamer_secret: v.opt("PS_STREAMER_SECRET"),
            allowed_origins: v.opt("PS_ALLOWED_ORIGINS").unwrap_or_default(),
            max_players_per_ip: v.get("PS_MAX_PLAYERS_PER_IP"),
            trusted_proxies: v.opt("PS_TRUSTED_PROXIES").unwrap_or_default(),
            max_players_per_streamer: v.get("PS_MAX_PLAYERS_PER_STREAMER"),
            ice: IceConfig {
                stun_urls: v.opt("PS_STUN_SERVER").unwrap_or_default(),
                turn_urls: v.opt("PS_TURN_SERVER").unwrap_or_default(),
                turn_secret: v.opt("PS_TURN_SECRET"),
                turn_credential_ttl: seconds("PS_TURN_CREDENTIAL_TTL_S"),
            },
            frontend_dir: v.get("PS_FRONTEND_DIR"),
            limits: Limits {
                max_player_message_bytes: v.get("PS_MAX_PLAYER_MESSAGE_BYTES"),
                max_streamer_message_bytes: v.get("PS_MAX_STREAMER_MESSAGE_BYTES"),
                player_messages_per_second: v.get("PS_PLAYER_RATE"),
                player_message_burst: v.get("PS_PLAYER_BURST"),
                streamer_messages_per_second: v.get("PS_STREAMER_RATE"),
                streamer_message_burst: v.get("PS_STREAMER_BURST"),
                send_queue_len: v.get("PS_SEND_QUEUE"),
                idle_timeout: seconds("PS_IDLE_TIMEOUT_S"),
                ping_interval: seconds("PS_PING_INTERVAL_S"),
                ping_timeout: seconds("PS_PING_TIMEOUT_S"),
                write_timeout: seconds("PS_WRITE_TIMEOUT_S"),
                max_players: v.get("PS_MAX_PLAYERS"),
                max_streamers: v.get("PS_MAX_STREAMERS"),
            },
            encoder_sessions: None,
            log_dir: v.opt("LOG_DIR"),
        }
    }
}

/// Comma-separated URLs with one of `schemes`, as a list.
fn urls(schemes: &'static [&'static str]) -> Kind {
    Kind::new(
        format!(
            "comma-separated URLs starting with {}",
            schemes.join(" or ")
        ),
        move |text, _| {
            let urls: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            let valid = |url: &String| {
                schemes.iter().any(|s| url.starts_with(s))
                    && url.len() <= 512
                    && !url.chars().any(char::is_whitespace)
            };
            if !urls.is_empty() && urls.iter().all(valid) {
                Ok(urls)
            } else {
                Err(String::new())
            }
        },
    )
}

/// Comma-separated page origins (`https://host[:port]`), lowercased, as a list.
fn origins() -> Kind {
    Kind::new(
        "comma-separated origins like https://app.example.com (scheme, host, optional port; no path)",
        |text, _| {
            let origins: Vec<String> = text
                .split(',')
                .map(|o| o.trim().to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect();
            let valid = |origin: &String| {
                let host = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                host.is_some_and(|h| {
                    !h.is_empty()
                        && !h.contains(['/', '?', '#', '@'])
                        && !h.contains(char::is_whitespace)
                })
            };
            if !origins.is_empty() && origins.iter().all(valid) {
                Ok(origins)
            } else {
                Err(String::new())
            }
        },
    )
}

/// A listener reachable from beyond this host takes no anonymous peers: players need tokens
/// (unless the operator says a reverse proxy authenticates them) and streamers the secret.
fn listeners_beyond_loopback_need_secrets(check: &mut Check<'_>) {
    let v = check.values();
    let player_bind = v.opt::<IpAddr>("PS_PLAYER_BIND");
    let streamer_bind = v.opt::<IpAddr>("PS_STREAMER_BIND");
    let has = |name| !v.is_unset(name);
    let anonymous_players = v.opt::<bool>("PS_ALLOW_ANONYMOUS_PLAYERS") == Some(true);
    let player_tokens = has("PS_PLAYER_TOKEN_SECRET");
    let streamer_secret = has("PS_STREAMER_SECRET");
    if let Some(ip) = player_bind.filter(|ip| !ip.is_loopback()) {
        if !player_tokens && !anonymous_players {
            check.error(
                "PS_PLAYER_TOKEN_SECRET",
                format!(
                    "PS_PLAYER_BIND={ip} serves players beyond this host: set \
                     PS_PLAYER_TOKEN_SECRET (each player then needs a token), or \
                     PS_ALLOW_ANONYMOUS_PLAYERS=true if a reverse proxy in front authenticates \
                     them"
                ),
            );
        } else if !player_tokens {
            check.warn(
                "PS_ALLOW_ANONYMOUS_PLAYERS",
                format!(
                    "players on PS_PLAYER_BIND={ip} need no token: anyone who reaches it can \
                     watch and send input to the avatar"
                ),
            );
        }
    }
    if let Some(ip) = streamer_bind.filter(|ip| !ip.is_loopback())
        && !streamer_secret
    {
        check.error(
            "PS_STREAMER_SECRET",
            format!(
                "PS_STREAMER_BIND={ip} lets streamers connect from beyond this host: set \
                 PS_STREAMER_SECRET (Unreal sends it in -PixelStreamingSignallingURL)"
            ),
        );
    }
}

fn ping_timeout_exceeds_the_interval(check: &mut Check<'_>) {
    let v = check.values();
    if let (Some(interval), Some(timeout)) = (
        v.opt::<u64>("PS_PING_INTERVAL_S"),
        v.opt::<u64>("PS_PING_TIMEOUT_S"),
    ) && timeout <= interval
    {
        check.error(
            "PS_PING_TIMEOUT_S",
            format!("PS_PING_TIMEOUT_S={timeout} must exceed PS_PING_INTERVAL_S={interval}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_epic_ports_and_nvenc_limit() {
        let c = config(&[]).unwrap();
        assert_eq!(c.player_port, 8080);
        assert_eq!(c.streamer_port, 8888);
        assert_eq!(c.streamer_bind.to_string(), "127.0.0.1");
        assert_eq!(c.admin_port, 9466);
        assert_eq!(c.max_players_per_streamer, 8);
        assert!(c.player_token_secret.is_none());
        assert_eq!(c.limits.max_player_message_bytes, 16 * 1024);
        assert_eq!(c.limits.ping_timeout, Duration::from_secs(45));
    }

    #[test]
    fn out_of_range_values_name_variable_value_and_range() {
        let err = config(&[("PS_MAX_PLAYERS_PER_STREAMER", "0")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_MAX_PLAYERS_PER_STREAMER"]);
        assert_eq!(
            err.to_string(),
            "PS_MAX_PLAYERS_PER_STREAMER='0' is invalid (valid: 1–1000)"
        );

        let err = config(&[("PS_PLAYER_PORT", "70000")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_PLAYER_PORT"]);
        let err = config(&[("PS_STREAMER_BIND", "localhost")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_STREAMER_BIND"]);
        let err = config(&[("PS_PING_INTERVAL_S", "30"), ("PS_PING_TIMEOUT_S", "30")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_PING_TIMEOUT_S"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = config(&[("PS_PLAYER_PORT", "0"), ("PS_SEND_QUEUE", "1")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_PLAYER_PORT", "PS_SEND_QUEUE"]);
    }

    #[test]
    fn listeners_beyond_loopback_take_no_anonymous_peers() {
        assert!(config(&[]).is_ok(), "the defaults are loopback");
        let err = config(&[("PS_PLAYER_BIND", "0.0.0.0")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_PLAYER_TOKEN_SECRET"]);
        assert!(
            err.to_string()
                .contains("PS_PLAYER_BIND=0.0.0.0 serves players beyond this host"),
            "{err}"
        );
        let token = ("PS_PLAYER_TOKEN_SECRET", "player-token-secret-0123");
        assert!(config(&[("PS_PLAYER_BIND", "0.0.0.0"), token]).is_ok());
        let anonymous = config(&[
            ("PS_PLAYER_BIND", "0.0.0.0"),
            ("PS_ALLOW_ANONYMOUS_PLAYERS", "true"),
        ]);
        assert!(anonymous.is_ok(), "an explicit opt-out (warned) starts");
        // A secret given but too short is reported once, as too short.
        let err = config(&[
            ("PS_PLAYER_BIND", "0.0.0.0"),
            ("PS_PLAYER_TOKEN_SECRET", "short"),
        ])
        .unwrap_err();
        assert_eq!(err.variables(), ["PS_PLAYER_TOKEN_SECRET"]);
        assert!(!err.to_string().contains("beyond this host"), "{err}");

        let err = config(&[("PS_STREAMER_BIND", "10.0.0.2")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_STREAMER_SECRET"]);
        let secret = ("PS_STREAMER_SECRET", "streamer-secret-0123456789");
        assert!(config(&[("PS_STREAMER_BIND", "10.0.0.2"), secret]).is_ok());
    }

    #[test]
    fn allowed_origins_are_scheme_host_and_port() {
        let c = config(&[(
            "PS_ALLOWED_ORIGINS",
            "https://App.example.com, http://10.0.0.5:8080",
        )])
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            ["https://app.example.com", "http://10.0.0.5:8080"]
        );
        for bad in ["app.example.com", "https://app.example.com/talk", "ftp://x"] {
            let err = config(&[("PS_ALLOWED_ORIGINS", bad)]).unwrap_err();
            assert_eq!(err.variables(), ["PS_ALLOWED_ORIGINS"], "{bad}");
        }
    }

    #[test]
    fn secrets_are_length_checked_and_redacted() {
        let err = config(&[("PS_PLAYER_TOKEN_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_PLAYER_TOKEN_SECRET"]);
        assert!(!err.to_string().contains("short"), "{err}");
        let c = config(&[("PS_STREAMER_SECRET", "streamer-secret-0123456789")]).unwrap();
        assert!(!format!("{c:?}").contains("streamer-secret"));
    }

    #[test]
    fn turn_secret_requires_turn_urls_with_turn_scheme() {
        let err = config(&[("PS_TURN_SECRET", "0123456789")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_TURN_SERVER"]);
        let err = config(&[("PS_TURN_SERVER", "http://x")]).unwrap_err();
        assert_eq!(err.variables(), ["PS_TURN_SERVER"]);
        let c = config(&[
            ("PS_TURN_SECRET", "0123456789"),
            (
                "PS_TURN_SERVER",
                "turn:turn.example:3478?transport=udp, turns:turn.example:5349",
            ),
            ("PS_STUN_SERVER", "stun:stun.example:3478"),
        ])
        .unwrap();
        assert_eq!(c.ice.turn_urls.len(), 2);
        assert_eq!(c.ice.stun_urls, vec!["stun:stun.example:3478".to_string()]);
    }

    #[test]
    fn limits_default_to_the_table() {
        assert_eq!(Limits::default(), config(&[]).unwrap().limits);
    }
}
