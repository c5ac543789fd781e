//! Typed, validated configuration from environment variables, read once before any socket
//! opens.
//!
//! [`table`] declares every variable the bridge reads (deploy/config.yaml `render_bridge:`
//! documents the same, checked by `tests/config_yaml.rs`); the shared `goassist-config` reader
//! validates them all at once and [`BridgeConfig::from_values`] builds the typed config. Every
//! invalid value stops start-up (exit 78) with a message naming the variable, the value and the
//! valid range.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use goassist_config::{Check, IpNet, Kind, Secret, Table, Values, Var, kinds};
use goassist_protocol::bridge_auth::BridgeKey;
use goassist_protocol::livelink::MAX_ID_LEN;
use goassist_protocol::vmc::VmcNaming;

use crate::routing::{RouteTable, Target, TargetKind, Targets};
use crate::senders::Senders;
use goassist_config::Reach;

pub use goassist_config::ConfigError;

/// The three variables that name output targets, in the order their targets are numbered.
const TARGET_VARS: [(&str, TargetKind); 3] = [
    ("BRIDGE_LIVELINK_ADDRS", TargetKind::LiveLink),
    ("BRIDGE_PLUGIN_ADDR", TargetKind::Plugin),
    ("BRIDGE_VMC_ADDR", TargetKind::Vmc),
];

/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Every variable the bridge reads: the source of truth for validation, `--help`,
/// `--check-config` and the deploy/config.yaml test.
pub fn table() -> Table {
    Table::new("goassist-render-bridge")
        .group("network", [
            Var::new("BRIDGE_INGEST_ADDR", kinds::socket_addr()).default("127.0.0.1:11112")
                .doc("UDP address the inference pods send face frames to; an address that is neither loopback nor private (0.0.0.0 included) needs BRIDGE_ALLOWED_SENDERS, BRIDGE_KEY or BRIDGE_ALLOW_ANY_SENDER=true"),
            Var::new("BRIDGE_LIVELINK_ADDRS", targets_or_off(TargetKind::LiveLink)).default("127.0.0.1:11111")
                .doc("Live Link Face v6 targets (Unreal's ARKit source); unnamed: livelink0, livelink1, ..."),
            Var::new("BRIDGE_PLUGIN_ADDR", targets_or_off(TargetKind::Plugin)).default("off")
                .doc("native-stream targets (GoAssistLiveLink plugin, face + audio), e.g. 127.0.0.1:11113; unnamed: plugin0, ..."),
            Var::new("BRIDGE_VMC_ADDR", targets_or_off(TargetKind::Vmc)).default("off")
                .doc("VMC/OSC marionette targets, e.g. 127.0.0.1:39539; unnamed: vmc0, ..."),
            Var::new("BRIDGE_HTTP_ADDR", kinds::socket_addr()).default("0.0.0.0:9465")
                .doc("/healthz, /readyz, /metrics (Prometheus text), admin API /admin/routes"),
        ])
        .group("senders", [
            Var::new("BRIDGE_ALLOWED_SENDERS", kinds::ip_nets())
                .doc("addresses or CIDR networks of the inference pods allowed to send; others' datagrams are dropped undecoded and counted; unset = loopback senders on a loopback BRIDGE_INGEST_ADDR, loopback and private ones on a private address"),
            Var::new("BRIDGE_ALLOW_ANY_SENDER", kinds::boolean()).default("false")
                .doc("true = accept datagrams from any address, whatever BRIDGE_INGEST_ADDR (warned at start-up unless BRIDGE_KEY is set; for a network that is private by other means)"),
            Var::new("BRIDGE_KEY", kinds::bridge_key()).required_when_set("BRIDGE_KEY_PREVIOUS")
                .doc("shared key every datagram must be sealed with (HMAC-SHA256 tag, counter and time; the inference servers' RENDER_BRIDGE_KEY holds the same key): 64+ hex digits or base64 of 32+ bytes, e.g. `openssl rand -hex 32`; others are dropped undecoded and counted (bad_mac, replayed, stale); with it, an ingest address beyond loopback and private ranges may start without an allow-list; unset = datagrams are trusted by sender address"),
            Var::new("BRIDGE_KEY_PREVIOUS", kinds::bridge_key())
                .doc("while rotating the key: the previous key, still accepted beside BRIDGE_KEY until every inference server sends with the new one; then unset it"),
            Var::new("BRIDGE_KEY_WINDOW_S", kinds::int::<u64>(1, 3_600)).default("30")
                .doc("with BRIDGE_KEY: a datagram sealed more than this many seconds away from the bridge's clock is refused (stale); covers the clock difference between hosts (keep them NTP-synced) and is how long a bridge restart leaves captured datagrams replayable"),
        ])
        .group("live link", [
            Var::new("BRIDGE_SUBJECT_PATTERN", subject_pattern()).default("GoAssist_{avatar}")
                .doc("Live Link subject name per stream; placeholders {avatar} and {session}"),
            Var::new("BRIDGE_DEVICE_ID", device_id()).default("GoAssist")
                .doc("Live Link device id (keep short, Unreal's buffer is small)"),
            Var::new("BRIDGE_LIVELINK_FPS", kinds::int::<u32>(1, 240)).default("60")
                .doc("frame rate written into Live Link frame times"),
            Var::new("BRIDGE_VMC_NAMING", kinds::one_of(&[
                ("pascal", VmcNaming::PascalCase), ("camel", VmcNaming::CamelCase),
            ])).default("pascal")
                .doc("VMC blendshape names: pascal (JawOpen, perfect sync) or camel (jawOpen)"),
        ])
        .group("timing", [
            Var::new("ANIMATION_SLOW_FREEZE_MS", kinds::int::<u64>(0, 10_000)).default("300")
                .doc("when a subject's frames stop, ease it to neutral over this long (0 = snap)"),
            Var::new("ANIMATION_DROP_IF_LAG_MS", kinds::int::<u64>(1, 10_000)).default("150")
                .doc("drop frames arriving this much later than their audio clock says"),
            Var::new("BRIDGE_STALL_MS", kinds::int::<u64>(10, 10_000)).default("100")
                .doc("silence after which a subject counts as stopped and starts freezing"),
            Var::new("BRIDGE_SUBJECT_IDLE_S", kinds::int::<u64>(1, 86_400)).default("60")
                .doc("forget a neutral, silent subject (and its epoch) after this many seconds; a pool subject is given back then"),
        ])
        // After the targets and the pattern: routes are checked against them.
        .group("avatars and routing", [
            Var::new("BRIDGE_MAX_AVATARS", kinds::int::<usize>(1, 4_096)).default("64")
                .doc("most avatars held at once; frames of new ones beyond it are refused, counted and logged once per sender"),
            Var::new("BRIDGE_MAX_AVATARS_PER_SENDER", kinds::int::<usize>(1, 4_096)).default("16")
                .doc("most avatars one sender address holds at once (above BRIDGE_MAX_AVATARS it is BRIDGE_MAX_AVATARS); its new ones beyond it are refused, counted and logged once, while other senders' avatars go on"),
            Var::new("BRIDGE_ROUTES", routes())
                .doc("fixed routes: session:ID=Subject[@target+target] (ID: inference session id, hex) or avatar:N=Subject[@...]; no @ = every target"),
            Var::new("BRIDGE_SUBJECT_POOL", subject_pool())
                .doc("subjects handed to new sessions in turn (one Unreal, several MetaHumans); when all are held, new sessions are refused"),
            Var::new("BRIDGE_ADMIN_TOKEN", admin_token())
                .doc("bearer token of the admin API on the HTTP port (/admin/routes); unset = every admin call is refused"),
        ])
        .group("process", [
            Var::new("RUST_LOG", kinds::text()).default("info")
                .doc("log filter (JSON lines on stderr)"),
            Var::new("LOG_DIR", kinds::path())
                .doc("also write the JSON logs to LOG_DIR, a file a day (goassist-render-bridge.YYYY-MM-DD.log, the last 7 kept; goassist-render-bridge.log links to today's), e.g. /workspace/logs"),
        ])
        .rule(target_names_are_unique)
        .rule(ingest_is_guarded)
}

/// The keys that authenticate ingest datagrams (`BRIDGE_KEY`, docs/render-bridge.md, "Sealed
/// datagrams"). `Debug` shows key ids, never keys.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestKeys {
    /// `BRIDGE_KEY`.
    pub current: BridgeKey,
    /// `BRIDGE_KEY_PREVIOUS`, accepted too while the key is rotated.
    pub previous: Option<BridgeKey>,
    /// `BRIDGE_KEY_WINDOW_S`: how far a datagram's time may be from the bridge's clock.
    pub window: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// Where face frames arrive.
    pub ingest_addr: SocketAddr,
    /// Who may send them (see [`crate::senders`]).
    pub senders: Senders,
    /// The keys every datagram must be sealed with (`BRIDGE_KEY`), when set.
    pub keys: Option<IngestKeys>,
    /// Output targets: Live Link Face v6, the plugin's native stream, VMC/OSC (may be empty).
    pub targets: Targets,
    /// VMC blendshape spelling.
    pub vmc_naming: VmcNaming,
    /// Health and metrics listener.
    pub http_addr: SocketAddr,
    /// Subject name pattern.
    pub subject_pattern: String,
    /// Live Link device id.
    pub device_id: String,
    /// Live Link frame rate.
    pub livelink_fps: u32,
    /// Ease-to-neutral time.
    pub slow_freeze: Duration,
    /// Lateness beyond which frames are dropped.
    pub drop_if_lag: Duration,
    /// Silence that starts the freeze.
    pub stall: Duration,
    /// Silence after which a subject is forgotten.
    pub subject_idle: Duration,
    /// Most avatars held at once.
    pub max_avatars: usize,
    /// Most avatars one sender address holds at once (at most `max_avatars`).
    pub max_avatars_per_sender: usize,
    /// Fixed routes, the subject pool and the pattern, checked against the targets.
    pub routes: RouteTable,
    /// The admin API's bearer token (None: every admin call is refused).
    pub admin_token: Option<Secret>,
    /// `LOG_DIR`: also write the logs there, a file a day.
    pub log_dir: Option<PathBuf>,
}

impl BridgeConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        table().validate(lookup, Self::from_values).into_result()
    }

    /// The typed configuration from the table's values (only called when there is no error).
    pub fn from_values(v: &Values) -> Self {
        let targets = known_targets(v).expect("targets are checked by the table's rule");
        let subject_pattern: String = v.get("BRIDGE_SUBJECT_PATTERN");
        let routes = route_table(
            targets.clone(),
            &subject_pattern,
            v.opt::<String>("BRIDGE_ROUTES").as_deref().unwrap_or(""),
            v.opt::<String>("BRIDGE_SUBJECT_POOL")
                .as_deref()
                .unwrap_or(""),
        )
        .expect("routes and pool are checked by their kinds");
        let ingest_addr: SocketAddr = v.get("BRIDGE_INGEST_ADDR");
        let senders = allowed_senders(v, ingest_addr)
            .expect("an unguarded ingest address is refused by the table's rule");
        let max_avatars: usize = v.get("BRIDGE_MAX_AVATARS");
        let keys = v.opt::<BridgeKey>("BRIDGE_KEY").map(|current| IngestKeys {
            current,
            previous: v.opt("BRIDGE_KEY_PREVIOUS"),
            window: Duration::from_secs(v.get("BRIDGE_KEY_WINDOW_S")),
        });
        BridgeConfig {
            ingest_addr,
            senders,
            keys,
            targets,
            vmc_naming: v.get("BRIDGE_VMC_NAMING"),
            http_addr: v.get("BRIDGE_HTTP_ADDR"),
            subject_pattern,
            device_id: v.get("BRIDGE_DEVICE_ID"),
            livelink_fps: v.get("BRIDGE_LIVELINK_FPS"),
            slow_freeze: Duration::from_millis(v.get("ANIMATION_SLOW_FREEZE_MS")),
            drop_if_lag: Duration::from_millis(v.get("ANIMATION_DROP_IF_LAG_MS")),
            stall: Duration::from_millis(v.get("BRIDGE_STALL_MS")),
            subject_idle: Duration::from_secs(v.get("BRIDGE_SUBJECT_IDLE_S")),
            max_avatars,
            max_avatars_per_sender: v
                .get::<usize>("BRIDGE_MAX_AVATARS_PER_SENDER")
                .min(max_avatars),
            routes,
            admin_token: v.opt("BRIDGE_ADMIN_TOKEN"),
            log_dir: v.opt("LOG_DIR"),
        }
    }

    /// Defaults only (what an empty environment gives).
    pub fn defaults() -> Self {
        Self::from_lookup(|_| None).expect("built-in defaults are valid (checked by a test)")
    }

    /// The Live Link subject name for a stream.
    pub fn subject_name(&self, avatar_id: u32, session_id: u64) -> String {
        subject_name(&self.subject_pattern, avatar_id, session_id)
    }

    /// Whether the subject pattern distinguishes sessions (then each session is its own
    /// subject; otherwise sessions on one avatar share it).
    pub fn subject_per_session(&self) -> bool {
        self.subject_pattern.contains("{session}")
    }
}

/// Expands `{avatar}` and `{session}` in a subject pattern.
pub fn subject_name(pattern: &str, avatar_id: u32, session_id: u64) -> String {
    pattern
        .replace("{avatar}", &avatar_id.to_string())
        .replace("{session}", &format!("{session_id:x}"))
}

fn is_off(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "off" | "none" | "0")
}

/// `off`, or comma-separated `[name=]IP:port`; unnamed targets are numbered per kind
/// (`livelink0`, `livelink1`, ...). Names are checked here; that they are unique across the
/// three variables is the rule [`target_names_are_unique`].
fn targets_or_off(kind: TargetKind) -> Kind {
    Kind::new(
        format!("comma-separated [name=]{}, or off", kinds::SOCKET_ADDR),
        move |text, _| {
            if is_off(text) {
                return Ok(Vec::new());
            }
            let list = text
                .split(',')
                .enumerate()
                .map(|(i, entry)| {
                    let entry = entry.trim();
                    let (name, addr) = match entry.split_once('=') {
                        Some((name, addr)) => (name.trim().to_string(), addr.trim()),
                        None => (format!("{}{i}", kind.prefix()), entry),
                    };
                    let addr = kinds::parse_socket_addr(addr)
                        .map_err(|_| format!("{addr:?} is not IP:port"))?;
                    Ok(Target { name, kind, addr })
                })
                .collect::<Result<Vec<Target>, String>>()?;
            Targets::new(list.clone()).map_err(|e| e.to_string())?;
            Ok(list)
        },
    )
}

/// Every configured target, when the three target variables are valid and their names
/// unique (`None` otherwise: that error is reported already).
fn known_targets(values: &Values) -> Option<Targets> {
    let mut all = Vec::new();
    for (var, _) in TARGET_VARS {
        all.extend(values.opt::<Vec<Target>>(var)?);
    }
    Targets::new(all).ok()
}

/// Target names are shared by the three target variables, so they must be unique across them.
fn target_names_are_unique(check: &mut Check<'_>) {
    let mut all = Vec::new();
    for (var, _) in TARGET_VARS {
        let Some(list) = check.values().opt::<Vec<Target>>(var) else {
            return;
        };
        all.extend(list);
        if let Err(e) = Targets::new(all.clone()) {
            check.error(
                var,
                format!(
                    "{var}: {e} (names are shared by BRIDGE_LIVELINK_ADDRS, BRIDGE_PLUGIN_ADDR \
                     and BRIDGE_VMC_ADDR)"
                ),
            );
            return;
        }
    }
}

/// Who may send (see [`crate::senders`] for the rule); `None` for an ingest address that is
/// neither loopback nor private with neither sender variable nor a key set.
fn allowed_senders(values: &Values, ingest: SocketAddr) -> Option<Senders> {
    if values.opt::<bool>("BRIDGE_ALLOW_ANY_SENDER") == Some(true) {
        return Some(Senders::Any);
    }
    match values.opt::<Vec<IpNet>>("BRIDGE_ALLOWED_SENDERS") {
        Some(nets) => Some(Senders::Only(nets)),
        // With a key, a forged datagram is refused whatever its source address.
        None if values.opt::<BridgeKey>("BRIDGE_KEY").is_some() => {
            Senders::implied_by(ingest.ip()).or(Some(Senders::Any))
        }
        None => Senders::implied_by(ingest.ip()),
    }
}

/// An ingest address that is neither loopback nor private must say who may send (or require a
/// key); both sender variables at once are contradictory; accepting anyone without a key is
/// warned about, and so is an ingest address other hosts reach without a key.
fn ingest_is_guarded(check: &mut Check<'_>) {
    let v = check.values();
    let Some(ingest) = v.opt::<SocketAddr>("BRIDGE_INGEST_ADDR") else {
        return;
    };
    let any = v.opt::<bool>("BRIDGE_ALLOW_ANY_SENDER") == Some(true);
    let list = v.opt::<Vec<IpNet>>("BRIDGE_ALLOWED_SENDERS").is_some();
    let keyed = v.opt::<BridgeKey>("BRIDGE_KEY").is_some();
    let reach = Reach::of(ingest.ip());
    if any && list {
        check.error(
            "BRIDGE_ALLOW_ANY_SENDER",
            "BRIDGE_ALLOW_ANY_SENDER=true and BRIDGE_ALLOWED_SENDERS are both set: \
             set only one (the allow-list, unless every address may really send)",
        );
    } else if any && !keyed {
        check.warn(
            "BRIDGE_ALLOW_ANY_SENDER",
            format!(
                "BRIDGE_ALLOW_ANY_SENDER=true: face frames are accepted from any address that \
                 reaches {ingest}; whoever can reach it can drive the avatars (prefer \
                 BRIDGE_KEY, or BRIDGE_ALLOWED_SENDERS)"
            ),
        );
    } else if !list && !keyed && !any && reach == Reach::Open {
        check.error(
            "BRIDGE_INGEST_ADDR",
            format!(
                "BRIDGE_INGEST_ADDR={ingest} is neither a loopback nor a private address, so \
                 anyone who reaches it could drive the avatars: set BRIDGE_KEY (and the same \
                 key as RENDER_BRIDGE_KEY on the inference servers), set \
                 BRIDGE_ALLOWED_SENDERS to the inference pods' addresses or networks (e.g. \
                 10.0.0.0/8), bind a private address, or set BRIDGE_ALLOW_ANY_SENDER=true to \
                 accept every sender"
            ),
        );
    } else if !keyed && !any && reach != Reach::Loopback {
        check.warn(
            "BRIDGE_KEY",
            format!(
                "BRIDGE_KEY is unset and BRIDGE_INGEST_ADDR={ingest} is reachable from other \
                 hosts: datagrams are trusted by their source address, which can be forged; set \
                 BRIDGE_KEY here and the same key as RENDER_BRIDGE_KEY on the inference servers"
            ),
        );
    }
}

/// The routing table from the routes and pool text (`""` for none).
fn route_table(
    targets: Targets,
    pattern: &str,
    routes: &str,
    pool: &str,
) -> Result<RouteTable, crate::routing::RouteError> {
    let mut table = RouteTable::new(targets, pattern);
    table.configure(routes, pool)?;
    Ok(table)
}

/// `BRIDGE_ROUTES`, checked against the targets (kept as text; [`BridgeConfig::from_values`]
/// builds the table).
fn routes() -> Kind {
    Kind::new(
        "comma-separated session:HEX=Subject[@t1+t2] or avatar:N=Subject[@t1+t2], or none",
        |text, values| {
            if let Some(targets) = known_targets(values) {
                let pattern = values
                    .opt::<String>("BRIDGE_SUBJECT_PATTERN")
                    .unwrap_or_default();
                route_table(targets, &pattern, text, "").map_err(|e| e.to_string())?;
            }
            Ok(text.to_string())
        },
    )
}

/// `BRIDGE_SUBJECT_POOL`, checked against the targets and the fixed routes.
fn subject_pool() -> Kind {
    Kind::new(
        "comma-separated Subject[@t1+t2], or none",
        |text, values| {
            if let Some(targets) = known_targets(values) {
                let pattern = values
                    .opt::<String>("BRIDGE_SUBJECT_PATTERN")
                    .unwrap_or_default();
                // Invalid routes are reported on BRIDGE_ROUTES; the pool is checked without them.
                let routes = values.opt::<String>("BRIDGE_ROUTES").unwrap_or_default();
                route_table(targets, &pattern, &routes, text).map_err(|e| e.to_string())?;
            }
            Ok(text.to_string())
        },
    )
}

/// The admin token: a secret of at least [`MIN_ADMIN_TOKEN_LEN`] bytes with no spaces (it
/// travels in an `Authorization` header).
fn admin_token() -> Kind {
    Kind::new(
        format!("at least {MIN_ADMIN_TOKEN_LEN} bytes, no spaces (e.g. `openssl rand -hex 24`)"),
        |text, _| {
            if text.len() >= MIN_ADMIN_TOKEN_LEN
                && !text.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                Ok(Secret::new(text))
            } else {
                Err(String::new())
            }
        },
    )
    .redacted()
}

/// Live Link ids are at most [`MAX_ID_LEN`] bytes.
fn device_id() -> Kind {
    Kind::new(format!("1–{MAX_ID_LEN} bytes"), |text, _| {
        if text.len() <= MAX_ID_LEN {
            Ok(text.to_string())
        } else {
            Err(String::new())
        }
    })
}

/// A subject name pattern whose every expansion is a valid Live Link id.
fn subject_pattern() -> Kind {
    Kind::new(
        format!(
            "text with {{avatar}} and {{session}} placeholders, expanding to 1–{MAX_ID_LEN} bytes"
        ),
        |text, _| {
            // A constant name is allowed: every stream then animates the one subject.
            let rest = text.replace("{avatar}", "").replace("{session}", "");
            if rest.contains('{') || rest.contains('}') {
                return Err("only {avatar} and {session} placeholders are known".into());
            }
            // Longest expansion: u32 avatar (10 digits), u64 session in hex (16).
            let longest = subject_name(text, u32::MAX, u64::MAX);
            if longest.is_empty() || longest.len() > MAX_ID_LEN {
                return Err(format!("it expands to {} bytes", longest.len()));
            }
            Ok(text.to_string())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(pairs: &[(&str, &str)]) -> Result<BridgeConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BridgeConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let c = BridgeConfig::defaults();
        assert_eq!(c.ingest_addr, "127.0.0.1:11112".parse().unwrap());
        assert!(c.senders.allows("127.0.0.1".parse().unwrap()));
        assert!(!c.senders.allows("10.0.0.1".parse().unwrap()));
        assert_eq!(c.max_avatars_per_sender, 16);
        let target = &c.targets.list()[0];
        assert_eq!(c.targets.list().len(), 1);
        assert_eq!(
            (target.name.as_str(), target.kind, target.addr),
            (
                "livelink0",
                TargetKind::LiveLink,
                "127.0.0.1:11111".parse().unwrap()
            )
        );
        assert_eq!(c.http_addr.port(), 9465);
        assert_eq!(c.slow_freeze, Duration::from_millis(300));
        assert_eq!(c.max_avatars, 64);
        assert!(c.routes.routes().is_empty() && c.routes.pool().is_empty());
        assert_eq!(c.admin_token, None);
        assert_eq!(c.subject_name(3, 0xAB), "GoAssist_3");
        assert!(!c.subject_per_session());
    }

    #[test]
    fn values_are_read_and_trimmed() {
        let c = with(&[
            ("BRIDGE_LIVELINK_ADDRS", " 127.0.0.1:1, 10.0.0.2:2 "),
            ("BRIDGE_VMC_ADDR", "127.0.0.1:39539"),
            ("BRIDGE_SUBJECT_PATTERN", "S{avatar}_{session}"),
            ("ANIMATION_SLOW_FREEZE_MS", "0"),
            ("BRIDGE_VMC_NAMING", "Camel"),
        ])
        .unwrap();
        let names: Vec<_> = c.targets.list().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["livelink0", "livelink1", "vmc0"]);
        assert_eq!(c.vmc_naming, VmcNaming::CamelCase);
        assert_eq!(c.subject_name(1, 255), "S1_ff");
        assert!(c.subject_per_session());
        assert_eq!(c.slow_freeze, Duration::ZERO);
        let off = with(&[("BRIDGE_LIVELINK_ADDRS", "off")]).unwrap();
        assert!(off.targets.list().is_empty());
    }

    #[test]
    fn named_targets_routes_pool_and_token() {
        let c = with(&[
            (
                "BRIDGE_LIVELINK_ADDRS",
                "ue1=127.0.0.1:11111, ue2 = 10.0.0.2:11111",
            ),
            ("BRIDGE_PLUGIN_ADDR", "127.0.0.1:11113"),
            (
                "BRIDGE_ROUTES",
                "session:1a2b=Ada@ue1+plugin0, avatar:2=Bob@ue2",
            ),
            ("BRIDGE_SUBJECT_POOL", "Cleo@ue1,Dan@ue1"),
            ("BRIDGE_ADMIN_TOKEN", "0123456789abcdef"),
            ("BRIDGE_MAX_AVATARS", "8"),
        ])
        .unwrap();
        let names: Vec<_> = c.targets.list().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ue1", "ue2", "plugin0"]);
        assert_eq!(c.routes.routes().len(), 2);
        assert_eq!(c.routes.pool().len(), 2);
        assert_eq!(c.max_avatars, 8);
        let token = c.admin_token.as_ref().unwrap();
        assert_eq!(token.expose(), "0123456789abcdef");
        assert!(
            !format!("{c:?}").contains("0123456789abcdef"),
            "the token never reaches Debug output"
        );
    }

    #[test]
    fn routing_errors_name_the_variable() {
        let e = with(&[("BRIDGE_ROUTES", "avatar:1=Ada@ue7")]).unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_ROUTES"]);
        assert!(e.to_string().contains("ue7"), "{e}");
        let e = with(&[("BRIDGE_SUBJECT_POOL", "Ada,Ada")]).unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_SUBJECT_POOL"]);
        assert!(e.to_string().contains("already routed"), "{e}");
        let e = with(&[
            ("BRIDGE_LIVELINK_ADDRS", "a=127.0.0.1:1"),
            ("BRIDGE_VMC_ADDR", "a=127.0.0.1:2"),
        ])
        .unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_VMC_ADDR"]);
        assert!(e.to_string().contains("used twice"), "{e}");
        let e = with(&[("BRIDGE_LIVELINK_ADDRS", "my ue=127.0.0.1:1")]).unwrap_err();
        assert!(e.to_string().contains("target name"), "{e}");
        let e = with(&[("BRIDGE_MAX_AVATARS", "0")]).unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_MAX_AVATARS"]);
        let e = with(&[("BRIDGE_ADMIN_TOKEN", "short secret")]).unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_ADMIN_TOKEN"]);
        assert!(!e.to_string().contains("short secret"), "{e}");
    }

    #[test]
    fn errors_name_the_variable_and_the_range() {
        let e = with(&[("ANIMATION_DROP_IF_LAG_MS", "0")]).unwrap_err();
        assert_eq!(e.variables(), ["ANIMATION_DROP_IF_LAG_MS"]);
        assert!(e.to_string().contains("(valid: 1–10000)"), "{e}");
        for (var, value) in [
            ("BRIDGE_INGEST_ADDR", "localhost"),
            ("BRIDGE_DEVICE_ID", &"d".repeat(65)),
            ("BRIDGE_SUBJECT_PATTERN", "{user}"),
            ("BRIDGE_LIVELINK_FPS", "-3"),
            ("BRIDGE_VMC_NAMING", "snake"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.variables(), [var], "{e}");
        }
        let long = format!("{}{{avatar}}", "x".repeat(60));
        let e = with(&[("BRIDGE_SUBJECT_PATTERN", &long)]).unwrap_err();
        assert!(e.to_string().contains("1–64 bytes"), "{e}");
    }

    #[test]
    fn an_open_ingest_address_needs_an_allow_list_or_an_explicit_opt_out() {
        for open in ["0.0.0.0:11112", "[::]:11112", "203.0.113.5:11112"] {
            let e = with(&[("BRIDGE_INGEST_ADDR", open)]).unwrap_err();
            assert_eq!(e.variables(), ["BRIDGE_INGEST_ADDR"], "{open}");
            let text = e.to_string();
            for named in [
                "BRIDGE_INGEST_ADDR",
                "BRIDGE_ALLOWED_SENDERS",
                "BRIDGE_ALLOW_ANY_SENDER=true",
            ] {
                assert!(text.contains(named), "{named} missing from: {text}");
            }
        }
        // With an allow-list, every interface is fine (containers, Kubernetes).
        let c = with(&[
            ("BRIDGE_INGEST_ADDR", "0.0.0.0:11112"),
            ("BRIDGE_ALLOWED_SENDERS", "10.244.0.0/16, 192.0.2.7"),
        ])
        .unwrap();
        assert!(c.senders.allows("10.244.3.9".parse().unwrap()));
        assert!(c.senders.allows("192.0.2.7".parse().unwrap()));
        assert!(!c.senders.allows("192.0.2.8".parse().unwrap()));
        assert!(
            !c.senders.allows("127.0.0.1".parse().unwrap()),
            "only what is listed"
        );
        // A private address implies private senders.
        let c = with(&[("BRIDGE_INGEST_ADDR", "10.0.0.5:11112")]).unwrap();
        assert!(c.senders.allows("10.1.2.3".parse().unwrap()));
        assert!(!c.senders.allows("203.0.113.5".parse().unwrap()));
        // The explicit opt-out starts, with a warning naming it.
        let validated = table().validate(
            |k| match k {
                "BRIDGE_INGEST_ADDR" => Some("0.0.0.0:11112".into()),
                "BRIDGE_ALLOW_ANY_SENDER" => Some("true".into()),
                _ => None,
            },
            BridgeConfig::from_values,
        );
        let warnings: Vec<_> = validated.warnings().map(|w| w.variable).collect();
        assert_eq!(warnings, ["BRIDGE_ALLOW_ANY_SENDER"]);
        let c = validated.into_result().unwrap();
        assert_eq!(c.senders, Senders::Any);
        // Both at once is contradictory.
        let e = with(&[
            ("BRIDGE_ALLOW_ANY_SENDER", "true"),
            ("BRIDGE_ALLOWED_SENDERS", "10.0.0.0/8"),
        ])
        .unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_ALLOW_ANY_SENDER"]);
    }

    const KEY_HEX: &str = "8f3c2a1b9d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef";

    #[test]
    fn the_key_is_read_redacted_and_a_short_one_is_refused_by_name() {
        let c = with(&[("BRIDGE_KEY", KEY_HEX)]).unwrap();
        let keys = c.keys.as_ref().unwrap();
        assert_eq!(keys.current, BridgeKey::parse(KEY_HEX).unwrap());
        assert_eq!(
            (keys.previous.as_ref(), keys.window),
            (None, Duration::from_secs(30))
        );
        assert!(
            !format!("{c:?}").contains("8f3c2a"),
            "never in Debug output"
        );
        assert_eq!(BridgeConfig::defaults().keys, None);
        let b64 = "jzwqG51OX2BxgpOktcbX6PkBEiM0RVVmd4iZqrvM3e8=";
        let c = with(&[
            ("BRIDGE_KEY", b64),
            ("BRIDGE_KEY_PREVIOUS", KEY_HEX),
            ("BRIDGE_KEY_WINDOW_S", "5"),
        ])
        .unwrap();
        let keys = c.keys.unwrap();
        assert_eq!(keys.previous, Some(BridgeKey::parse(KEY_HEX).unwrap()));
        assert_eq!(keys.window, Duration::from_secs(5));
        for short in [
            "0123456789abcdef0123456789abcdef",
            "c2hvcnQ=",
            "a secret phrase",
        ] {
            for var in ["BRIDGE_KEY", "BRIDGE_KEY_PREVIOUS"] {
                let mut pairs = vec![(var, short)];
                if var == "BRIDGE_KEY_PREVIOUS" {
                    pairs.push(("BRIDGE_KEY", KEY_HEX));
                }
                let e = with(&pairs).unwrap_err();
                assert_eq!(e.variables(), [var], "{e}");
                let text = e.to_string();
                assert!(
                    text.contains(var) && text.contains("64 or more hex digits"),
                    "{text}"
                );
                assert!(!text.contains(short), "the value is never printed: {text}");
                assert!(!text.contains(KEY_HEX), "{text}");
            }
        }
        let e = with(&[("BRIDGE_KEY", "00ff")]).unwrap_err();
        assert!(
            e.to_string().contains("decodes to 2 bytes; at least 32"),
            "{e}"
        );
        let e = with(&[("BRIDGE_KEY_PREVIOUS", KEY_HEX)]).unwrap_err();
        assert_eq!(
            e.variables(),
            ["BRIDGE_KEY"],
            "the previous key needs a current one"
        );
        let e = with(&[("BRIDGE_KEY", KEY_HEX), ("BRIDGE_KEY_WINDOW_S", "0")]).unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_KEY_WINDOW_S"]);
    }

    /// A key replaces the allow-list as the guard of an open address; without one, an address
    /// other hosts reach is warned about.
    #[test]
    fn a_key_guards_an_open_ingest_address_and_its_absence_is_warned_about() {
        let warnings = |pairs: &[(&str, &str)]| -> Vec<&'static str> {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let validated = table().validate(|k| map.get(k).cloned(), BridgeConfig::from_values);
            assert!(validated.errors().next().is_none(), "{pairs:?}");
            validated.warnings().map(|w| w.variable).collect()
        };
        let c = with(&[
            ("BRIDGE_INGEST_ADDR", "0.0.0.0:11112"),
            ("BRIDGE_KEY", KEY_HEX),
        ])
        .unwrap();
        assert_eq!(c.senders, Senders::Any, "any address, each datagram sealed");
        assert!(c.keys.is_some());
        assert!(
            warnings(&[
                ("BRIDGE_INGEST_ADDR", "0.0.0.0:11112"),
                ("BRIDGE_KEY", KEY_HEX)
            ])
            .is_empty()
        );
        // An allow-list still applies with a key.
        let c = with(&[
            ("BRIDGE_INGEST_ADDR", "0.0.0.0:11112"),
            ("BRIDGE_KEY", KEY_HEX),
            ("BRIDGE_ALLOWED_SENDERS", "10.0.0.0/8"),
        ])
        .unwrap();
        assert!(!c.senders.allows("192.0.2.1".parse().unwrap()));
        // A private bind with a key keeps the senders it implies.
        let c = with(&[
            ("BRIDGE_INGEST_ADDR", "10.0.0.5:11112"),
            ("BRIDGE_KEY", KEY_HEX),
        ])
        .unwrap();
        assert!(!c.senders.allows("203.0.113.5".parse().unwrap()));
        // Without a key: loopback is quiet, anything other hosts reach is warned about once.
        assert!(warnings(&[]).is_empty());
        assert_eq!(
            warnings(&[("BRIDGE_INGEST_ADDR", "10.0.0.5:11112")]),
            ["BRIDGE_KEY"]
        );
        assert_eq!(
            warnings(&[
                ("BRIDGE_INGEST_ADDR", "0.0.0.0:11112"),
                ("BRIDGE_ALLOWED_SENDERS", "10.0.0.0/8")
            ]),
            ["BRIDGE_KEY"]
        );
        assert_eq!(
            warnings(&[
                ("BRIDGE_INGEST_ADDR", "0.0.0.0:11112"),
                ("BRIDGE_ALLOW_ANY_SENDER", "true")
            ]),
            ["BRIDGE_ALLOW_ANY_SENDER"]
        );
        assert!(
            warnings(&[
                ("BRIDGE_INGEST_ADDR", "0.0.0.0:11112"),
                ("BRIDGE_ALLOW_ANY_SENDER", "true"),
                ("BRIDGE_KEY", KEY_HEX)
            ])
            .is_empty()
        );
        let e = with(&[("BRIDGE_INGEST_ADDR", "0.0.0.0:11112")]).unwrap_err();
        assert!(e.to_string().contains("set BRIDGE_KEY"), "{e}");
    }

    #[test]
    fn allow_list_errors_name_the_variable_and_the_entry() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1,pods.local",
            "10.0.0.0/8,",
            "fd00::/129",
        ] {
            let e = with(&[("BRIDGE_ALLOWED_SENDERS", bad)]).unwrap_err();
            assert_eq!(e.variables(), ["BRIDGE_ALLOWED_SENDERS"], "{bad}: {e}");
            assert!(e.to_string().contains("CIDR"), "{e}");
        }
        let e = with(&[("BRIDGE_ALLOWED_SENDERS", "10.0.0.1,pods.local")]).unwrap_err();
        assert!(e.to_string().contains("\"pods.local\""), "{e}");
        let e = with(&[("BRIDGE_ALLOW_ANY_SENDER", "yes")]).unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_ALLOW_ANY_SENDER"]);
    }

    #[test]
    fn the_per_sender_cap_is_checked_and_never_above_the_global_one() {
        let c = with(&[("BRIDGE_MAX_AVATARS_PER_SENDER", "4")]).unwrap();
        assert_eq!(c.max_avatars_per_sender, 4);
        let c = with(&[("BRIDGE_MAX_AVATARS", "8")]).unwrap();
        assert_eq!(c.max_avatars_per_sender, 8, "the default 16 is capped by 8");
        for bad in ["0", "4097", "many"] {
            let e = with(&[("BRIDGE_MAX_AVATARS_PER_SENDER", bad)]).unwrap_err();
            assert_eq!(e.variables(), ["BRIDGE_MAX_AVATARS_PER_SENDER"]);
            assert!(e.to_string().contains("1–4096"), "{e}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = with(&[
            ("BRIDGE_INGEST_ADDR", "localhost"),
            ("BRIDGE_STALL_MS", "1"),
        ])
        .unwrap_err();
        assert_eq!(e.variables(), ["BRIDGE_INGEST_ADDR", "BRIDGE_STALL_MS"]);
    }
}
