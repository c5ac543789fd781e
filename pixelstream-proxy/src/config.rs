//! Typed configuration read from `PS_*` environment variables and validated before any socket
//! opens. Every error names the variable, the rejected value and the valid range, so a bad
//! deployment fails at start-up instead of at the first viewer.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Why the configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is invalid: {expected}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// The value it held.
    pub value: String,
    /// What a valid value looks like.
    pub expected: String,
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
    pub turn_secret: Option<String>,
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
    fn default() -> Self {
        Self {
            max_player_message_bytes: 16 * 1024,
            max_streamer_message_bytes: 256 * 1024,
            player_messages_per_second: 50,
            player_message_burst: 200,
            streamer_messages_per_second: 2000,
            streamer_message_burst: 4000,
            send_queue_len: 256,
            idle_timeout: Duration::from_secs(120),
            ping_interval: Duration::from_secs(15),
            ping_timeout: Duration::from_secs(45),
            write_timeout: Duration::from_secs(10),
            max_players: 2000,
            max_streamers: 64,
        }
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
    pub player_token_secret: Option<String>,
    /// Shared secret streamers must present; when set it is enforced.
    pub streamer_secret: Option<String>,
    /// Most players subscribed to one streamer (8 = GeForce NVENC session limit).
    pub max_players_per_streamer: usize,
    /// ICE servers sent to peers.
    pub ice: IceConfig,
    /// Directory holding the bundled player page (`index.html`, `player.js`).
    pub frontend_dir: PathBuf,
    /// Abuse and liveness limits.
    pub limits: Limits,
}

/// Documentation of one variable: name, default, meaning. Printed by `--help` and checked by a
/// test against the deploy snippet so the two never drift apart.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "PS_PLAYER_BIND",
        "0.0.0.0",
        "address of the player page + player WebSocket",
    ),
    (
        "PS_PLAYER_PORT",
        "8080",
        "port of the player page + player WebSocket (1-65535)",
    ),
    (
        "PS_STREAMER_BIND",
        "127.0.0.1",
        "address Unreal connects to (keep on loopback or a private network)",
    ),
    (
        "PS_STREAMER_PORT",
        "8888",
        "port Unreal connects to (-PixelStreamingSignallingURL)",
    ),
    (
        "PS_ADMIN_BIND",
        "127.0.0.1",
        "address of /healthz, /readyz, /metrics",
    ),
    (
        "PS_ADMIN_PORT",
        "9466",
        "port of /healthz, /readyz, /metrics",
    ),
    (
        "PS_PLAYER_TOKEN_SECRET",
        "(unset)",
        "HMAC secret of player tokens; when set every player needs ?token= (min 16 bytes)",
    ),
    (
        "PS_STREAMER_SECRET",
        "(unset)",
        "secret streamers must send as ?secret= or Authorization: Bearer (min 16 bytes)",
    ),
    (
        "PS_MAX_PLAYERS_PER_STREAMER",
        "8",
        "players per streamer (1-1000; 8 = GeForce NVENC limit, more with an SFU or datacenter GPUs)",
    ),
    (
        "PS_MAX_PLAYERS",
        "2000",
        "simultaneous player connections (1-100000)",
    ),
    (
        "PS_MAX_STREAMERS",
        "64",
        "simultaneous streamer connections (1-1024)",
    ),
    (
        "PS_STUN_SERVER",
        "(unset)",
        "comma-separated stun: URLs sent to peers",
    ),
    (
        "PS_TURN_SERVER",
        "(unset)",
        "comma-separated turn:/turns: URLs sent to peers",
    ),
    (
        "PS_TURN_SECRET",
        "(unset)",
        "TURN REST shared secret; per-player credentials (needs PS_TURN_SERVER)",
    ),
    (
        "PS_TURN_CREDENTIAL_TTL_S",
        "3600",
        "lifetime of per-player TURN credentials (60-86400 s)",
    ),
    (
        "PS_FRONTEND_DIR",
        "pixelstream-proxy/frontend/dist",
        "bundled player page (scripts/setup_pixelstream_frontend.sh)",
    ),
    (
        "PS_MAX_PLAYER_MESSAGE_BYTES",
        "16384",
        "largest player message (256-1048576)",
    ),
    (
        "PS_MAX_STREAMER_MESSAGE_BYTES",
        "262144",
        "largest streamer message (1024-4194304)",
    ),
    (
        "PS_PLAYER_RATE",
        "50",
        "player messages per second, sustained (1-100000)",
    ),
    ("PS_PLAYER_BURST", "200", "player message burst (1-100000)"),
    (
        "PS_STREAMER_RATE",
        "2000",
        "streamer messages per second, sustained (1-1000000)",
    ),
    (
        "PS_STREAMER_BURST",
        "4000",
        "streamer message burst (1-1000000)",
    ),
    (
        "PS_SEND_QUEUE",
        "256",
        "outbound messages queued per connection before it is stuck (8-65536)",
    ),
    (
        "PS_IDLE_TIMEOUT_S",
        "120",
        "close unsubscribed players / unidentified streamers after (5-86400 s)",
    ),
    (
        "PS_PING_INTERVAL_S",
        "15",
        "WebSocket ping interval (1-3600 s)",
    ),
    (
        "PS_PING_TIMEOUT_S",
        "45",
        "close a peer silent this long, pongs included (> interval, <= 7200 s)",
    ),
    (
        "PS_WRITE_TIMEOUT_S",
        "10",
        "close a peer whose socket write blocks this long (1-600 s)",
    ),
    (
        "RUST_LOG",
        "info",
        "log filter (logs are JSON lines on stdout)",
    ),
];

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map instead of the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env { lookup: &lookup };
        let defaults = Limits::default();
        let ping_interval = env.seconds("PS_PING_INTERVAL_S", 15, 1, 3600)?;
        let ping_timeout = env.seconds("PS_PING_TIMEOUT_S", 45, 2, 7200)?;
        if ping_timeout <= ping_interval {
            return Err(ConfigError {
                variable: "PS_PING_TIMEOUT_S",
                value: ping_timeout.as_secs().to_string(),
                expected: format!(
                    "must exceed PS_PING_INTERVAL_S ({} s)",
                    ping_interval.as_secs()
                ),
            });
        }
        let limits = Limits {
            max_player_message_bytes: env.number(
                "PS_MAX_PLAYER_MESSAGE_BYTES",
                defaults.max_player_message_bytes,
                256,
                1 << 20,
            )?,
            max_streamer_message_bytes: env.number(
                "PS_MAX_STREAMER_MESSAGE_BYTES",
                defaults.max_streamer_message_bytes,
                1024,
                4 << 20,
            )?,
            player_messages_per_second: env.number("PS_PLAYER_RATE", 50, 1, 100_000)?,
            player_message_burst: env.number("PS_PLAYER_BURST", 200, 1, 100_000)?,
            streamer_messages_per_second: env.number("PS_STREAMER_RATE", 2000, 1, 1_000_000)?,
            streamer_message_burst: env.number("PS_STREAMER_BURST", 4000, 1, 1_000_000)?,
            send_queue_len: env.number("PS_SEND_QUEUE", defaults.send_queue_len, 8, 65_536)?,
            idle_timeout: env.seconds("PS_IDLE_TIMEOUT_S", 120, 5, 86_400)?,
            ping_interval,
            ping_timeout,
            write_timeout: env.seconds("PS_WRITE_TIMEOUT_S", 10, 1, 600)?,
            max_players: env.number("PS_MAX_PLAYERS", defaults.max_players, 1, 100_000)?,
            max_streamers: env.number("PS_MAX_STREAMERS", defaults.max_streamers, 1, 1024)?,
        };
        let turn_urls = env.urls("PS_TURN_SERVER", &["turn:", "turns:"])?;
        let turn_secret = env.secret("PS_TURN_SECRET", 8)?;
        if turn_secret.is_some() && turn_urls.is_empty() {
            return Err(ConfigError {
                variable: "PS_TURN_SERVER",
                value: String::new(),
                expected: "at least one turn: URL when PS_TURN_SECRET is set".into(),
            });
        }
        Ok(Self {
            player_bind: env.address("PS_PLAYER_BIND", "0.0.0.0")?,
            player_port: env.number("PS_PLAYER_PORT", 8080u16, 1, u16::MAX)?,
            streamer_bind: env.address("PS_STREAMER_BIND", "127.0.0.1")?,
            streamer_port: env.number("PS_STREAMER_PORT", 8888u16, 1, u16::MAX)?,
            admin_bind: env.address("PS_ADMIN_BIND", "127.0.0.1")?,
            admin_port: env.number("PS_ADMIN_PORT", 9466u16, 1, u16::MAX)?,
            player_token_secret: env.secret("PS_PLAYER_TOKEN_SECRET", 16)?,
            streamer_secret: env.secret("PS_STREAMER_SECRET", 16)?,
            max_players_per_streamer: env.number("PS_MAX_PLAYERS_PER_STREAMER", 8, 1, 1000)?,
            ice: IceConfig {
                stun_urls: env.urls("PS_STUN_SERVER", &["stun:", "stuns:"])?,
                turn_urls,
                turn_secret,
                turn_credential_ttl: env.seconds("PS_TURN_CREDENTIAL_TTL_S", 3600, 60, 86_400)?,
            },
            frontend_dir: PathBuf::from(
                env.get("PS_FRONTEND_DIR")
                    .unwrap_or_else(|| "pixelstream-proxy/frontend/dist".into()),
            ),
            limits,
        })
    }
}

/// A view of the environment with typed, range-checked getters.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    /// The trimmed value, or `None` when unset or empty.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn number<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(ConfigError {
                variable: name,
                value: raw,
                expected: format!("an integer from {min} to {max}"),
            }),
        }
    }

    fn seconds(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, min, max)
            .map(Duration::from_secs)
    }

    fn address(&self, name: &'static str, default: &str) -> Result<IpAddr, ConfigError> {
        let raw = self.get(name).unwrap_or_else(|| default.to_owned());
        raw.parse().map_err(|_| ConfigError {
            variable: name,
            value: raw,
            expected: "an IPv4 or IPv6 address such as 127.0.0.1 or 0.0.0.0".into(),
        })
    }

    fn secret(&self, name: &'static str, min_len: usize) -> Result<Option<String>, ConfigError> {
        match self.get(name) {
            Some(s) if s.len() < min_len => Err(ConfigError {
                variable: name,
                value: "<redacted>".into(),
                expected: format!("at least {min_len} bytes (or unset to disable)"),
            }),
            other => Ok(other),
        }
    }

    fn urls(&self, name: &'static str, schemes: &[&str]) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(Vec::new());
        };
        let urls: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        for url in &urls {
            let scheme_ok = schemes.iter().any(|s| url.starts_with(s));
            if !scheme_ok || url.len() > 512 || url.chars().any(char::is_whitespace) {
                return Err(ConfigError {
                    variable: name,
                    value: raw.clone(),
                    expected: format!(
                        "comma-separated URLs starting with {}",
                        schemes.join(" or ")
                    ),
                });
            }
        }
        Ok(urls)
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
    }

    #[test]
    fn out_of_range_values_name_variable_value_and_range() {
        let err = config(&[("PS_MAX_PLAYERS_PER_STREAMER", "0")]).unwrap_err();
        assert_eq!(err.variable, "PS_MAX_PLAYERS_PER_STREAMER");
        assert_eq!(err.value, "0");
        assert!(err.to_string().contains("from 1 to 1000"), "{err}");

        let err = config(&[("PS_PLAYER_PORT", "70000")]).unwrap_err();
        assert_eq!(err.variable, "PS_PLAYER_PORT");
        let err = config(&[("PS_STREAMER_BIND", "localhost")]).unwrap_err();
        assert_eq!(err.variable, "PS_STREAMER_BIND");
        let err = config(&[("PS_PING_INTERVAL_S", "30"), ("PS_PING_TIMEOUT_S", "30")]).unwrap_err();
        assert_eq!(err.variable, "PS_PING_TIMEOUT_S");
    }

    #[test]
    fn secrets_are_length_checked_and_redacted() {
        let err = config(&[("PS_PLAYER_TOKEN_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variable, "PS_PLAYER_TOKEN_SECRET");
        assert!(!err.to_string().contains("short"));
    }

    #[test]
    fn turn_secret_requires_turn_urls_with_turn_scheme() {
        let err = config(&[("PS_TURN_SECRET", "0123456789")]).unwrap_err();
        assert_eq!(err.variable, "PS_TURN_SERVER");
        let err = config(&[("PS_TURN_SERVER", "http://x")]).unwrap_err();
        assert_eq!(err.variable, "PS_TURN_SERVER");
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
}
